"""SQLAlchemy tables."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow
from app.method import ELEMENTS
from app.vocabulary import (
    CHANNELS,
    FLAG_STATES,
    ITEM_STATUSES,
    PLAN_STATES,
    REQUIRED_PERIODS,
    ROLES,
    SURVEY_STATUSES,
)

# Sizes of the columns below, shared with the request schemas (app/schemas.py), so that what
# the API accepts always fits where it is stored.
CODE_LENGTH = 64  # unit, service and survey codes (slugs in URLs and QR codes)
NAME_LENGTH = 200  # names and titles
KEY_NAME_LENGTH = 100  # an API key's name (also copied into the audit log)
ZONE_LENGTH = 64  # an IANA time zone name
INT32_MAX = 2**31 - 1  # every id and version number is a 32-bit `integer` on PostgreSQL


def _one_of(column: str, words: tuple[str, ...]) -> CheckConstraint:
    """A column holds one word of its vocabulary (app/vocabulary.py), or NULL."""
    listed = ", ".join(f"'{word}'" for word in words)
    return CheckConstraint(f"{column} IN ({listed})", name=column)


class Unit(Base):
    """A node of the service hierarchy: a government, a service mall, an agency, a unit."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    kind: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    # Materialised path of ids, "/1/7/12/": the subtree of a node is every path below its own.
    path: Mapped[str] = mapped_column(String(1000), index=True)
    # The effective IANA zone; `time_zone_inherited` says it follows the parent's.
    time_zone: Mapped[str] = mapped_column(String(ZONE_LENGTH))
    time_zone_inherited: Mapped[bool]
    # Explicitly assigned survey version; NULL follows the parent (the root: the standard).
    # use_alter: units and surveys refer to each other (a survey variant is owned by a unit).
    survey_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("survey_versions.id", use_alter=True)
    )
    # Opted in: the form and published indices without a key, and public submission.
    public: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Public submission needs a one-time ticket issued at the counter.
    requires_ticket: Mapped[bool] = mapped_column(default=False, server_default=false())
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Service(Base):
    """A service (jenis layanan) offered by a unit."""

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("unit_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    code: Mapped[str] = mapped_column(String(CODE_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Survey(Base):
    """A questionnaire: the built-in standard (no owner) or a unit's local variant."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    title: Mapped[str] = mapped_column(String(NAME_LENGTH))
    owner_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SurveyVersion(Base):
    """One version of a survey: a draft while edited, immutable once published."""

    __tablename__ = "survey_versions"
    __table_args__ = (
        UniqueConstraint("survey_id", "version"),
        _one_of("status", SURVEY_STATUSES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"))
    version: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def _score_checks() -> list[CheckConstraint]:
    return [CheckConstraint(f"{e} BETWEEN 1 AND 4", name=f"{e}_scale") for e in ELEMENTS]


PROFILE_INDEX_COLUMNS = ("gender", "age_band", "education", "occupation", "channel", "flag")


class Response(Base):
    """One respondent's answers. Anonymous: no name, phone or NIK is ever stored."""

    __tablename__ = "responses"
    __table_args__ = (
        _one_of("channel", CHANNELS),
        *_score_checks(),
        _one_of("flag", FLAG_STATES),
        # PostgreSQL keeps the profile columns, the channel and the flag in the index too, so
        # the documents' respondent counts read it alone (an index-only scan).
        Index(
            "ix_responses_unit_day",
            "unit_id",
            "local_date",
            postgresql_include=[*PROFILE_INDEX_COLUMNS],
        ),
        # The few responses with a suggestion, for the documents' count of them.
        Index(
            "ix_responses_suggestion",
            "unit_id",
            "local_date",
            postgresql_include=["flag", "received_at"],
            postgresql_where=text("suggestion IS NOT NULL"),
            sqlite_where=text("suggestion IS NOT NULL"),
        ),
        Index("ix_responses_collected", "collected_at", "id"),
        # Burst detection's read: a device's responses with the same answers, by time, and
        # their unit and service; on PostgreSQL its local_date too, which bounds the months
        # read (the index covers the read: migration 0012).
        Index(
            "ix_responses_device_answers",
            "device",
            "answers_signature",
            "collected_at",
            "unit_id",
            "service_id",
            postgresql_include=["local_date"],
        ),
        Index("ix_responses_flag", "flag"),
    )

    # Chosen by the client. On PostgreSQL the table is partitioned by month of local_date
    # and its primary key is (id, local_date) (migration 0010): an id is unique across
    # months through `response_ids`.
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    survey_version_id: Mapped[int] = mapped_column(ForeignKey("survey_versions.id"))
    channel: Mapped[str] = mapped_column(String(16))
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The calendar day of collected_at in the unit's own time zone: periods are cut on it.
    local_date: Mapped[date] = mapped_column(Date)
    persyaratan: Mapped[int | None] = mapped_column(SmallInteger)
    prosedur: Mapped[int | None] = mapped_column(SmallInteger)
    waktu: Mapped[int | None] = mapped_column(SmallInteger)
    biaya: Mapped[int | None] = mapped_column(SmallInteger)
    produk: Mapped[int | None] = mapped_column(SmallInteger)
    kompetensi: Mapped[int | None] = mapped_column(SmallInteger)
    perilaku: Mapped[int | None] = mapped_column(SmallInteger)
    sarana: Mapped[int | None] = mapped_column(SmallInteger)
    pengaduan: Mapped[int | None] = mapped_column(SmallInteger)
    gender: Mapped[str | None] = mapped_column(String(8))
    age_band: Mapped[str | None] = mapped_column(String(8))
    education: Mapped[str | None] = mapped_column(String(8))
    occupation: Mapped[str | None] = mapped_column(String(16))
    extra_answers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    suggestion: Mapped[str | None] = mapped_column(Text)
    # sha256 of the canonical submission: tells a retry (same content) from a conflict.
    content_hash: Mapped[str] = mapped_column(String(64))
    # The key that posted it (a kiosk's own key), if any.
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    # Who submitted, for burst detection: 'key:<id>', or 'ip:<keyed hash>' for public
    # submissions (the address itself is never stored).
    device: Mapped[str | None] = mapped_column(String(40))
    # The nine scores as one integer (app.bursts.answers_signature); NULL on paper, which
    # burst detection never compares.
    answers_signature: Mapped[int | None]
    # Suspicious bursts are flagged, never deleted: suspected → confirmed or cleared.
    flag: Mapped[str | None] = mapped_column(String(16))
    flag_reason: Mapped[str | None] = mapped_column(String(200))
    flag_reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    flag_reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))


class ResponseId(Base):
    """Every response id ever stored, with what decides a resubmission (its content's hash)
    and where its row is (unit and local day): on PostgreSQL `responses` is partitioned by
    month and its primary key is (id, local_date), so only this table keeps an id unique
    across months — and it keeps the ids of months archived out of `responses`. Written
    before the response, in the same statement (`app.ingest`); a corrected response's row
    follows it, a withdrawn one's is deleted. No foreign key: the response's own checks its
    unit in the same statement, and a registry row may outlive its response (archived)."""

    __tablename__ = "response_ids"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    unit_id: Mapped[int]
    local_date: Mapped[date] = mapped_column(Date)
    content_hash: Mapped[str] = mapped_column(String(64))


class AggregateCounters:
    """Integer sums and counts of the responses of one unit, service, survey version and
    local time bucket (a day or a month), kept atomically with every insert (same statement or
    same transaction), so that indices never read response rows.

    Per element: answers (n), sum of scores, sum of squared scores. For the responses that
    answered all nine elements (complete): their count, and the sum and the sum of squares of
    each one's total score — the respondent-level spread behind a confidence interval."""

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    survey_version_id: Mapped[int] = mapped_column(ForeignKey("survey_versions.id"))
    # Flagged (suspected or confirmed) responses are summed apart: indices leave them out
    # unless asked, and a review moves a response's counts between the two.
    flagged: Mapped[bool]
    # On PostgreSQL a key's counts are spread over AGGREGATE_SLOTS rows
    # (app.aggregates.slot_of: by the response's id), so that concurrent submissions to one
    # unit and service do not all wait for one row's lock; readers sum the slots. SQLite
    # (one writer at a time) counts in slot 0 (migration 0013), where counts written before
    # slots existed also are.
    slot: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    responses: Mapped[int]
    complete: Mapped[int]
    complete_total: Mapped[int]
    complete_total_sq: Mapped[int]
    persyaratan_n: Mapped[int]
    persyaratan_sum: Mapped[int]
    persyaratan_sq: Mapped[int]
    prosedur_n: Mapped[int]
    prosedur_sum: Mapped[int]
    prosedur_sq: Mapped[int]
    waktu_n: Mapped[int]
    waktu_sum: Mapped[int]
    waktu_sq: Mapped[int]
    biaya_n: Mapped[int]
    biaya_sum: Mapped[int]
    biaya_sq: Mapped[int]
    produk_n: Mapped[int]
    produk_sum: Mapped[int]
    produk_sq: Mapped[int]
    kompetensi_n: Mapped[int]
    kompetensi_sum: Mapped[int]
    kompetensi_sq: Mapped[int]
    perilaku_n: Mapped[int]
    perilaku_sum: Mapped[int]
    perilaku_sq: Mapped[int]
    sarana_n: Mapped[int]
    sarana_sum: Mapped[int]
    sarana_sq: Mapped[int]
    pengaduan_n: Mapped[int]
    pengaduan_sum: Mapped[int]
    pengaduan_sq: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DailyAggregate(AggregateCounters, Base):
    """Per local day: any date range."""

    __tablename__ = "daily_aggregates"
    __table_args__ = (
        PrimaryKeyConstraint(
            "unit_id", "local_date", "service_id", "survey_version_id", "flagged", "slot"
        ),
    )

    local_date: Mapped[date] = mapped_column(Date)


class MonthlyAggregate(AggregateCounters, Base):
    """Per local calendar month (`month` is its first day): whole months, quarters,
    semesters and years read a few rows per unit and service, whatever the volume."""

    __tablename__ = "monthly_aggregates"
    __table_args__ = (
        PrimaryKeyConstraint(
            "unit_id", "month", "service_id", "survey_version_id", "flagged", "slot"
        ),
    )

    month: Mapped[date] = mapped_column(Date)


class YearlyAggregate(AggregateCounters, Base):
    """Per local calendar year (`year` is its first day), kept with the daily and monthly
    ones: whole years over a city or a province read one row per unit and service instead
    of twelve."""

    __tablename__ = "yearly_aggregates"
    __table_args__ = (
        PrimaryKeyConstraint(
            "unit_id", "year", "service_id", "survey_version_id", "flagged", "slot"
        ),
    )

    year: Mapped[date] = mapped_column(Date)


class Population(Base):
    """People served by a unit (or one of its services) in a period: the N of the
    Krejcie–Morgan minimum sample."""

    __tablename__ = "populations"
    __table_args__ = (UniqueConstraint("unit_id", "service_code", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    # A service code of the unit, or '' for the whole unit (codes never change).
    service_code: Mapped[str] = mapped_column(String(CODE_LENGTH))
    period: Mapped[str] = mapped_column(String(10))  # '2026', '2026-S1', '2026-Q1', '2026-03'
    served: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiKey(Base):
    """A bearer token with a role and a scope (a unit's subtree). Only its hash is stored."""

    __tablename__ = "api_keys"
    __table_args__ = (_one_of("role", ROLES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(KEY_NAME_LENGTH))
    role: Mapped[str] = mapped_column(String(16))
    # NULL: the whole hierarchy (administrators only).
    scope_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    # Readers see indices; response rows only when granted.
    read_responses: Mapped[bool] = mapped_column(default=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings to recognise a key
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The ids of the services its submissions may name (a kiosk paired for some services);
    # NULL: any service of its scope.
    services: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True))


class PairingCode(Base):
    """A short code a kiosk or dashboard exchanges once, within minutes, for its own key.
    Only its hash is stored."""

    __tablename__ = "pairing_codes"
    __table_args__ = (_one_of("role", ("collector", "reader")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(KEY_NAME_LENGTH))
    services: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))


class Ticket(Base):
    """A one-time ticket printed at the counter (e.g. a QR code on the queue slip): admits
    exactly one public response for its unit."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    response_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class AuditEntry(Base):
    """An administrative change: who (which key), what, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    key_name: Mapped[str] = mapped_column(String(KEY_NAME_LENGTH))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# Bounds of a unit's report settings (app/documents/settings.py checks them on input).
FOREWORD_LENGTH = 6000  # a Kata Pengantar: about two pages
LOGO_BYTES = 256 * 1024  # a PNG or JPEG logo, at most this large


class ReportSettings(Base):
    """A unit's own texts for its Laporan SKM: Kata Pengantar, who ran the survey, where,
    who signs, and a logo. A NULL field means the document's default text."""

    __tablename__ = "report_settings"
    __table_args__ = (
        CheckConstraint("logo_type IN ('image/png', 'image/jpeg')", name="logo_type"),
    )

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    foreword: Mapped[str | None] = mapped_column(Text)
    foreword_en: Mapped[str | None] = mapped_column(Text)
    surveyor: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    place: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    signatory_name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    signatory_title: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_type: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Publication(Base):
    """A unit's result for a period, frozen when a manager published it: the full index
    report as it stood, under its id, time and key. Never changed afterwards; a revision is
    a new record naming the one it supersedes."""

    __tablename__ = "publications"
    __table_args__ = (
        # One chain of revisions per unit and period: 1, 2, 3, … (two publishers at once
        # cannot both write revision n).
        UniqueConstraint("unit_id", "period", "revision"),
        UniqueConstraint("supersedes_id"),
        CheckConstraint("revision >= 1", name="revision"),
        CheckConstraint("period_start < period_end", name="period_days"),
        Index("ix_publications_unit_days", "unit_id", "period_start", "period_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    period: Mapped[str] = mapped_column(String(10))  # '2026', '2026-S1', '2026-Q3', '2026-03'
    # The local days it covers, half-open: period_start ≤ day < period_end (unit's calendar).
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    revision: Mapped[int]
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("publications.id"))
    # Shown without a key (when the unit is public): false for a period length other than
    # SKM_PUBLIC_PERIOD, and for a revision whose counts differ from the record it
    # supersedes by fewer than SKM_PUBLIC_MIN_GROUP respondents.
    public: Mapped[bool]
    method_id: Mapped[str] = mapped_column(String(64))
    responses: Mapped[int]  # n of the headline (the unit's subtree, flagged left out)
    # sha256 of the counted sums behind every frozen figure: equal fingerprints, equal figures.
    fingerprint: Mapped[str] = mapped_column(String(64))
    report: Mapped[dict[str, Any]] = mapped_column(JSON)  # the frozen figures
    # What changed from the superseded record (NULL for a first publication).
    difference: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# --- follow-up plans (issue 12) ----------------------------------------------------------

ACTION_LENGTH = 2000  # a follow-up item's action, and its evidence note
REASON_LENGTH = 1000  # why an item was dropped
LINK_LENGTH = 500  # one evidence link
MAX_LINKS = 10  # evidence links per item


class FollowupPlan(Base):
    """A unit's follow-up plan (rencana tindak lanjut) for one period's result."""

    __tablename__ = "followup_plans"
    __table_args__ = (UniqueConstraint("unit_id", "period"), _one_of("state", PLAN_STATES))

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    period: Mapped[str] = mapped_column(String(10))  # '2026', '2026-S1', '2026-Q1', '2026-03'
    period_start: Mapped[date] = mapped_column(Date)  # first local day
    period_end: Mapped[date] = mapped_column(Date)  # last local day (inclusive)
    state: Mapped[str] = mapped_column(String(8))
    # What its proposal was read from: a publication's id, or NULL for the live index.
    source_publication_id: Mapped[int | None] = mapped_column(ForeignKey("publications.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FollowupItem(Base):
    """One action of a plan, tied to one element or to one service of the unit."""

    __tablename__ = "followup_items"
    __table_args__ = (
        _one_of("status", ITEM_STATUSES),
        _one_of("element", ELEMENTS),
        CheckConstraint("(element IS NULL) <> (service_id IS NULL)", name="element_or_service"),
        CheckConstraint("status <> 'dropped' OR status_reason IS NOT NULL", name="dropped_reason"),
        Index("ix_followup_items_plan", "plan_id", "id"),
        Index("ix_followup_items_due", "status", "target_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("followup_plans.id"))
    element: Mapped[str | None] = mapped_column(String(16))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    action: Mapped[str] = mapped_column(String(ACTION_LENGTH))
    responsible: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    target_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    evidence_note: Mapped[str | None] = mapped_column(String(ACTION_LENGTH))
    evidence_links: Mapped[list[str]] = mapped_column(JSON)
    # Proposed by the service from the period's result (the weakest, or graded C or D).
    proposed: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ComplianceSetting(Base):
    """Which periods a unit must survey and publish; a unit without a row follows its
    nearest ancestor that has one, and the root without one is yearly."""

    __tablename__ = "compliance_settings"
    __table_args__ = (_one_of("required_periods", REQUIRED_PERIODS),)

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    required_periods: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- paper forms: print runs, their sheet codes, imports (app/documents/sheet.py, app/imports/)
SHEET_CODE_LENGTH = 12  # "ABCD-EFGH-J": eight characters, a check character, two hyphens
IMPORT_STATES = ("queued", "running", "done", "failed")


class PrintRun(Base):
    """A batch of printed questionnaires: each sheet carries a code recorded here, so that a
    sheet entered twice is recognised and a code never printed for the unit is refused."""

    __tablename__ = "print_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    survey_version_id: Mapped[int] = mapped_column(ForeignKey("survey_versions.id"))
    language: Mapped[str] = mapped_column(String(2))
    sheets: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))


class SheetCode(Base):
    """One printed sheet's code (normalised: no hyphens), unique over every unit."""

    __tablename__ = "sheet_codes"

    code: Mapped[str] = mapped_column(String(SHEET_CODE_LENGTH), primary_key=True)
    print_run_id: Mapped[int] = mapped_column(ForeignKey("print_runs.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)


class Import(Base):
    """One imported file (XLSX or CSV) and its job: progress, counts, withdrawal. The file
    is kept until the job ends, so that a job interrupted by a restart can resume."""

    __tablename__ = "imports"
    __table_args__ = (_one_of("state", IMPORT_STATES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    survey_version_id: Mapped[int] = mapped_column(ForeignKey("survey_versions.id"))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    key_name: Mapped[str] = mapped_column(String(KEY_NAME_LENGTH))
    file_name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    file_format: Mapped[str] = mapped_column(String(8))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    file_bytes: Mapped[int]
    # The digest of the cells (not the bytes: a workbook saved again unchanged is the same
    # file): with a row's number, the identity of a row without a sheet code.
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    # Deferred: loaded only when asked for (a job copies it out 1 MB at a time, `jobs`).
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    dry_run: Mapped[bool]
    all_or_nothing: Mapped[bool]
    state: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(200))
    rows_total: Mapped[int | None]
    rows_read: Mapped[int] = mapped_column(default=0)
    stored: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)
    present: Mapped[int] = mapped_column(default=0)
    conflicts: Mapped[int] = mapped_column(default=0)
    withdrawn_rows: Mapped[int] = mapped_column(default=0)
    late: Mapped[int] = mapped_column(default=0)  # stored rows older than the usual window
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the job's heartbeat
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))


class ImportRow(Base):
    """What became of one row of an import that was not simply stored: refused (with its
    cells and every reason, for the report to correct and re-import), a conflict, or
    already present; and the responses it stored, so that an import is withdrawn whole."""

    __tablename__ = "import_rows"
    __table_args__ = (PrimaryKeyConstraint("import_id", "row_number"),)

    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id"))
    row_number: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(16))
    response_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    # none_as_null: a row without problems has SQL NULL there, not JSON null.
    cells: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    problems: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))


class WithdrawnResponse(Base):
    """A paper response taken out of the indices (alone, or with its whole import): its id
    stays here so that importing its sheet again does not bring it back."""

    __tablename__ = "withdrawn_responses"

    response_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))
    withdrawn_at: Mapped[datetime] = mapped_column(UTCDateTime())
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
