"""app.db's column types on SQLite: what they write."""

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy.dialects.sqlite import DATETIME, aiosqlite

from app.db import UTCDateTime

SQLITE = aiosqlite.dialect(paramstyle="qmark")
FIRST = datetime(2, 1, 1, tzinfo=UTC).replace(tzinfo=None)
LAST = datetime(9998, 12, 31, tzinfo=UTC).replace(tzinfo=None)


@given(
    # Naive: the offset is drawn apart (years 2-9998, so that every UTC instant exists).
    moment=st.datetimes(min_value=FIRST, max_value=LAST),
    offset=st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)),
)
# Whole seconds, but not in UTC (an offset may have microseconds), and the other way round.
@example(moment=FIRST.replace(year=2026), offset=timedelta(hours=8, microseconds=1))
@example(moment=FIRST.replace(year=2026, microsecond=1), offset=timedelta(microseconds=1))
def test_an_instant_is_written_as_sqlalchemys_datetime_text_of_it_in_utc(
    moment: datetime, offset: timedelta
) -> None:
    aware = moment.replace(tzinfo=timezone(offset))
    # The reference: SQLAlchemy's SQLite DATETIME text of the naive UTC instant.
    reference = DATETIME().bind_processor(SQLITE)  # type: ignore[no-untyped-call]
    written = UTCDateTime()._cached_bind_processor(SQLITE)
    assert reference is not None
    assert written is not None
    assert written(aware) == reference(aware.astimezone(UTC).replace(tzinfo=None))
    assert written(None) is None
