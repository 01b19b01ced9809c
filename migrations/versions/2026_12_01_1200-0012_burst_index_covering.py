"""burst detection's index covers its read: the unit and service added to
`ix_responses_device_answers` (device, answers signature, collected_at)

Burst detection groups the device's responses with the same answers by unit and service:
with those in the index it reads the index alone, where each response found was also
looked up in the table (a device sending the same answers again and again had hundreds of
rows looked up per batch). On PostgreSQL the index also carries `local_date` (INCLUDE),
which the read bounds so as to search only the months it can touch.

The index is rebuilt: on PostgreSQL writes to `responses` wait while it is built (every
month's partition), so upgrade between a mall's opening hours.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_responses_device_answers"
COLUMNS = ["device", "answers_signature", "collected_at"]


def upgrade() -> None:
    op.drop_index(NAME, table_name="responses")
    op.create_index(
        NAME, "responses", [*COLUMNS, "unit_id", "service_id"], postgresql_include=["local_date"]
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name="responses")
    op.create_index(NAME, "responses", COLUMNS)
