"""Pydantic request and response models: every shape the API reads or writes.

Longer than the ~450 lines a module is held to, on purpose: it is the one place a client's
view of the API is defined (the OpenAPI document's component schemas come from here), read
by section (input types, survey definitions, units and services, forms, responses, indices,
access control), and its input types at the head are the boundary's rules, shared by every
section. A section that grows past ~300 lines moves to a module of its own.
"""

import re
import uuid
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Annotated, Any, Generic, Literal, TypeVar
from zoneinfo import available_timezones

from annotated_types import Interval
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.config import MAX_BATCH_ITEMS_CEILING
from app.errors import Problem
from app.method import ELEMENTS, Mutu
from app.models import CODE_LENGTH, INT32_MAX, KEY_NAME_LENGTH, NAME_LENGTH, ZONE_LENGTH
from app.vocabulary import (
    AgeBand,
    BreakdownBy,
    Channel,
    Education,
    Element,
    FlagDecision,
    FlagState,
    Gender,
    Granularity,
    Occupation,
    PairedRole,
    ProfileField,
    Role,
    Rule,
    SurveyStatus,
    UnitKind,
)

# --- input types: what a field may hold is what its column can store ---------------------
#
# Numbers in JSON bodies are strict (`true` is not 1, "12" is not 12); path and query
# parameters arrive as text and must be plain decimal digits. Instants and days must be
# ISO 8601 text (never a number read as a Unix time) and stay inside the calendar in every
# time zone, so that no conversion or period arithmetic downstream can overflow.

Id = Annotated[int, Field(ge=1, le=INT32_MAX, strict=True)]
"""An id or version number in a JSON body (a 32-bit `integer` column)."""

_DIGITS = re.compile(r"[0-9]+")
_MOST_DIGITS = 20  # past any column's range (2^63 has 19); longer text is not parsed


def _decimal_digits(value: object) -> object:
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise PydanticCustomError("int_parsing", "Input should be an integer in decimal digits")
        if len(value.lstrip("0")) > _MOST_DIGITS:
            raise PydanticCustomError("less_than_equal", "Input is out of range")
        return value.lstrip("0") or "0"
    return value


ParamId = Annotated[int, BeforeValidator(_decimal_digits), Interval(ge=1, le=INT32_MAX)]
"""An id or version number in a path or query parameter."""

ParamInt = Annotated[int, BeforeValidator(_decimal_digits)]
"""A count in a query parameter (bounded where it is declared)."""

_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}.*")
# One day inside the calendar on either side: the instant has a local day in every zone.
EARLIEST_INSTANT = datetime(1, 1, 2, tzinfo=UTC)
LATEST_INSTANT = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
# Period arithmetic looks at the day and the month after a range's last day.
EARLIEST_DAY = date(1, 1, 1)
LATEST_DAY = date(9998, 12, 31)


def _iso_day_text(value: object) -> object:
    if not isinstance(value, date) and not (isinstance(value, str) and _ISO_DAY.fullmatch(value)):
        raise PydanticCustomError("date_parsing", "Input should be an ISO 8601 date, YYYY-MM-DD")
    return value


def _day_in_range(value: date) -> date:
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise ValueError(f"must be between {EARLIEST_DAY} and {LATEST_DAY}")
    return value


def _iso_instant_text(value: object) -> object:
    if not isinstance(value, datetime) and not (
        isinstance(value, str) and _ISO_INSTANT.fullmatch(value)
    ):
        raise PydanticCustomError(
            "datetime_parsing",
            "Input should be an ISO 8601 date and time with its offset, e.g. "
            "2026-03-01T09:30:00+08:00",
        )
    return value


def instant_in_range(value: datetime) -> datetime:
    """An aware instant whose UTC value (and local day in any zone) exists."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_INSTANT <= utc <= LATEST_INSTANT:
        raise ValueError(
            f"must be between {EARLIEST_INSTANT.isoformat()} and {LATEST_INSTANT.isoformat()}"
        )
    return value


Day = Annotated[date, BeforeValidator(_iso_day_text), AfterValidator(_day_in_range)]
"""A calendar day (a query parameter)."""

Instant = Annotated[
    AwareDatetime, BeforeValidator(_iso_instant_text), AfterValidator(instant_in_range)
]
"""An instant with its offset, in a body or a query parameter."""

Flag = Annotated[bool, Field(strict=True)]
"""A JSON `true` or `false` (not 1, "yes" or "true")."""

Code = Annotated[
    str,
    StringConstraints(pattern=rf"^[a-z0-9](?:[a-z0-9-]{{0,{CODE_LENGTH - 2}}}[a-z0-9])?$"),
    Field(
        description="Lower-case slug (a-z, 0-9, '-'), 1–64 characters; used in URLs and QR codes"
    ),
]


def _no_control_characters(text: str) -> str:
    """NUL and other control characters (bar tab and newlines) never reach the database."""
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        raise ValueError("control characters are not allowed")
    return text


Clean = AfterValidator(_no_control_characters)
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_LENGTH), Clean
]
KeyName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=KEY_NAME_LENGTH), Clean
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), Clean]
Score = Annotated[int, Field(ge=1, le=4, strict=True)]

MAX_SUGGESTION_LENGTH = 1000
MAX_EXTRA_QUESTIONS = 20


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_zone(name: str) -> str:
    if name not in _zones():
        raise ValueError("not an IANA time zone name (e.g. Asia/Makassar)")
    return name


TimeZone = Annotated[
    str,
    StringConstraints(max_length=ZONE_LENGTH),
    AfterValidator(_check_zone),
    Field(
        description="IANA time zone: Asia/Jakarta (WIB), Asia/Makassar (WITA), Asia/Jayapura (WIT)"
    ),
]


class Closed(BaseModel):
    """A request body that refuses fields it does not define (a name, a NIK): nothing
    unknown is stored or silently dropped. Not Pydantic's strict mode: strict numbers and
    booleans are asked for per field (`Id`, `Flag`, `Score`)."""

    model_config = ConfigDict(extra="forbid")


# --- survey definitions --------------------------------------------------------------------


class LocalizedText(Closed):
    id: Text = Field(description="Bahasa Indonesia: the text shown")
    en: Text | None = Field(default=None, description="English, alongside")


class OptionDef(Closed):
    score: Score
    label: LocalizedText


class QuestionDef(Closed):
    element: Element
    text: LocalizedText
    required: Flag = True
    options: list[OptionDef] = Field(min_length=4, max_length=4)

    @model_validator(mode="after")
    def _scores_one_to_four(self) -> "QuestionDef":
        if sorted(o.score for o in self.options) != [1, 2, 3, 4]:
            raise ValueError("options must carry the scores 1, 2, 3 and 4, each once")
        if self.element == "biaya":
            for option in self.options:
                label = option.label.id.lower()
                if "gratis" in label and option.score != 4:
                    raise ValueError("biaya is scored toward satisfaction: 'Gratis' must score 4")
                if "sangat mahal" in label and option.score != 1:
                    raise ValueError("biaya is scored toward satisfaction: 'Sangat mahal' scores 1")
        return self


class ExtraOptionDef(Closed):
    value: Code
    label: LocalizedText


class ExtraQuestionDef(Closed):
    """A local question outside the nine elements; answered but never part of the index."""

    key: Code
    text: LocalizedText
    required: Flag = False
    options: list[ExtraOptionDef] = Field(min_length=2, max_length=12)

    @model_validator(mode="after")
    def _unique_values(self) -> "ExtraQuestionDef":
        if len({o.value for o in self.options}) != len(self.options):
            raise ValueError("option values must be unique")
        return self


class SurveyDefinition(Closed):
    title: LocalizedText
    intro: LocalizedText | None = None
    questions: list[QuestionDef] = Field(
        min_length=9, max_length=9, description="The nine SKM elements, in display order"
    )
    extra_questions: list[ExtraQuestionDef] = Field(
        default_factory=list, max_length=MAX_EXTRA_QUESTIONS
    )
    profile_fields: list[ProfileField] = Field(
        default_factory=list, max_length=4, description="Respondent profile fields shown"
    )
    suggestion_prompt: LocalizedText | None = None

    @model_validator(mode="after")
    def _every_element_once(self) -> "SurveyDefinition":
        given = [q.element for q in self.questions]
        if sorted(given) != sorted(ELEMENTS):
            missing = sorted(set(ELEMENTS) - set(given))
            raise ValueError(f"each of the nine elements must appear once; missing: {missing}")
        if len(set(self.profile_fields)) != len(self.profile_fields):
            raise ValueError("profile_fields must not repeat")
        keys = [q.key for q in self.extra_questions]
        if len(set(keys)) != len(keys):
            raise ValueError("extra question keys must be unique")
        return self


class SurveyCreate(Closed):
    code: Code
    title: Name
    owner_unit: Code = Field(
        description="The unit that owns this local variant; its subtree may use it"
    )


class SurveyVersionCreate(Closed):
    definition: SurveyDefinition


class SurveyVersionSummary(BaseModel):
    id: int
    version: int
    status: SurveyStatus
    created_at: datetime
    published_at: datetime | None


class SurveyOut(BaseModel):
    code: str
    title: str
    owner_unit: str | None = Field(
        description="None for the built-in standard questionnaire, and for a variant owned by a "
        "unit above the caller's scope (its units may use it; the owner is not named)"
    )
    builtin: bool
    versions: list[SurveyVersionSummary]


class SurveyVersionOut(SurveyVersionSummary):
    survey: str
    definition: SurveyDefinition


# --- units and services --------------------------------------------------------------------


class UnitCreate(Closed):
    code: Code
    name: Name
    kind: UnitKind
    parent: Code | None = None
    time_zone: TimeZone | None = Field(
        default=None, description="Inherited from the parent when unset"
    )
    survey_version_id: Id | None = Field(
        default=None, description="The version its forms use; inherited when unset"
    )
    public: Flag = Field(
        default=False, description="Form, published indices and submission without a key"
    )
    requires_ticket: Flag = Field(
        default=False, description="Public submission needs a one-time counter ticket"
    )


class UnitUpdate(Closed):
    name: Name | None = None
    kind: UnitKind | None = None
    parent: Code | None = None
    time_zone: TimeZone | None = None
    survey_version_id: Id | None = None
    active: Flag | None = None
    public: Flag | None = None
    requires_ticket: Flag | None = None


class UnitOut(BaseModel):
    code: str
    name: str
    kind: str
    parent: str | None
    ancestors: list[str] = Field(description="Codes from the root down to the parent")
    time_zone: str
    time_zone_inherited: bool
    survey_version_id: int | None = Field(description="Explicitly assigned version, if any")
    public: bool
    requires_ticket: bool
    active: bool
    deactivated_at: datetime | None
    created_at: datetime
    updated_at: datetime


class UnitTree(BaseModel):
    code: str
    name: str
    kind: str
    time_zone: str
    active: bool
    children: list["UnitTree"]


class ServiceCreate(Closed):
    code: Code
    name: Name


class ServiceUpdate(Closed):
    name: Name | None = None
    active: Flag | None = None


class ServiceOut(BaseModel):
    unit: str
    code: str
    name: str
    active: bool
    deactivated_at: datetime | None
    created_at: datetime
    updated_at: datetime


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


# --- forms -----------------------------------------------------------------------------


class FormUnit(BaseModel):
    code: str
    name: str
    time_zone: str
    requires_ticket: bool = Field(description="Public submission needs a counter ticket")


class FormService(BaseModel):
    code: str
    name: str


class ProfileOption(BaseModel):
    code: str
    label: LocalizedText


class FormProfileField(BaseModel):
    field: ProfileField
    label: LocalizedText
    options: list[ProfileOption]


class FormLimits(BaseModel):
    max_batch_items: int
    max_suggestion_length: int
    max_clock_skew_seconds: int
    max_collected_age_days: int


class FormOut(BaseModel):
    """Everything a kiosk or app needs to survey respondents of one unit."""

    unit: FormUnit
    survey_version: SurveyVersionOut
    services: list[FormService]
    profile_fields: list[FormProfileField]
    channels: list[Channel]
    limits: FormLimits


# --- responses -------------------------------------------------------------------------


class Answers(Closed):
    """Element key → score 1–4. An unanswered element is omitted or null, never a score."""

    persyaratan: Score | None = None
    prosedur: Score | None = None
    waktu: Score | None = None
    biaya: Score | None = None
    produk: Score | None = None
    kompetensi: Score | None = None
    perilaku: Score | None = None
    sarana: Score | None = None
    pengaduan: Score | None = None


class Profile(Closed):
    """Coarse respondent profile; every field optional."""

    gender: Gender | None = None
    age_band: AgeBand | None = None
    education: Education | None = None
    occupation: Occupation | None = None


Suggestion = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=MAX_SUGGESTION_LENGTH), Clean
]


class ResponseIn(Closed):
    id: uuid.UUID = Field(description="Chosen by the client; a retry with the same id is safe")
    unit: Code
    service: Code
    survey_version_id: Id = Field(description="The exact survey version the respondent answered")
    channel: Channel
    collected_at: Instant = Field(description="When the respondent answered, with offset")
    answers: Answers
    profile: Profile = Field(default_factory=Profile)
    extra_answers: dict[Code, Code] | None = Field(
        default=None,
        max_length=MAX_EXTRA_QUESTIONS,
        description="Local extra question key → option value",
    )
    suggestion: Suggestion | None = Field(default=None, description="Saran/masukan (free text)")


def batch_items_schema(max_items: int) -> dict[str, Any]:
    """The schema of a batch's items: responses (each validated on its own), at most
    `max_items`."""
    return {
        "title": "Items",
        "type": "array",
        "minItems": 1,
        "maxItems": max_items,
        "items": {"$ref": "#/components/schemas/ResponseIn"},
        "description": "At most SKM_MAX_BATCH_ITEMS responses",
    }


class BatchIn(Closed):
    """A backlog: each item is validated on its own (as a ResponseIn), so that one bad item
    is answered `invalid` while the others are stored."""

    # The model holds the hard ceiling; the endpoint checks the configured bound
    # (SKM_MAX_BATCH_ITEMS), which the app writes into its document (`document_batch_limit`).
    items: Annotated[
        list[Any],
        Field(min_length=1, max_length=MAX_BATCH_ITEMS_CEILING),
        WithJsonSchema(batch_items_schema(MAX_BATCH_ITEMS_CEILING)),
    ]
    _responses: "list[ResponseIn | ValidationError]" = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _validate_items(self) -> "BatchIn":
        # With the body, so before the request takes its connection (on SQLite, its turn
        # to write): the items' validation is pure.
        self._responses = each_response(self.items)
        return self

    @property
    def responses(self) -> "list[ResponseIn | ValidationError]":
        """Each item as a ResponseIn, or what is wrong with it."""
        return self._responses


_RESPONSES = TypeAdapter(list[ResponseIn])


def each_response(items: list[Any]) -> list[ResponseIn | ValidationError]:
    """Each item validated as a ResponseIn, or its error: all in one call when all are
    valid (the usual batch), then one by one so that each item has its own problem."""
    try:
        return list(_RESPONSES.validate_python(items))
    except ValidationError:
        pass
    checked: list[ResponseIn | ValidationError] = []
    for item in items:
        try:
            checked.append(ResponseIn.model_validate(item))
        except ValidationError as error:
            checked.append(error)
    return checked


def document_batch_limit(spec: dict[str, Any], max_items: int) -> dict[str, Any]:
    """An OpenAPI document whose batch body says the configured bound: the schemas are
    built from the models once, at import, before any settings are read."""
    spec["components"]["schemas"]["BatchIn"]["properties"]["items"] = batch_items_schema(max_items)
    return spec


class ResponseOut(BaseModel):
    id: uuid.UUID
    unit: str
    service: str
    survey_version_id: int
    channel: Channel
    collected_at: datetime
    received_at: datetime
    local_date: date = Field(description="Day of collected_at in the unit's time zone")
    answers: Answers
    profile: Profile
    extra_answers: dict[str, str] | None
    suggestion: str | None
    submitted_by_key: int | None = Field(description="The API key that posted it, if any")
    flag: FlagState | None


class BatchItemResult(BaseModel):
    index: int = Field(description="Position of the item in the request")
    id: uuid.UUID | None
    status: Literal["created", "duplicate", "conflict", "invalid"]
    response: ResponseOut | None = Field(
        default=None,
        description="The stored response (for a duplicate: as first stored; none when its "
        "month was archived)",
    )
    problem: Problem | None = None


class BatchOut(BaseModel):
    created: int
    duplicate: int
    conflict: int
    invalid: int
    items: list[BatchItemResult]


# --- indices ---------------------------------------------------------------------------


class GradeOut(BaseModel):
    mutu: Mutu
    kinerja: str = Field(description="Kinerja unit pelayanan, as the regulation words it")
    kinerja_en: str


class ElementOut(BaseModel):
    key: str
    unsur: str
    answers: int = Field(description="Responses that answered this element: its denominator")
    total: int = Field(description="Sum of the scores given")
    nrr: float = Field(description="Mean score 1–4, rounded half-up to 3 decimals")
    nrr_exact: str = Field(description="The exact NRR as a fraction, e.g. '18/5'")
    ikm: float = Field(description="NRR × 25, rounded half-up to 2 decimals")
    grade: GradeOut


class IntervalOut(BaseModel):
    level: float = 0.95
    ikm_low: float
    ikm_high: float
    respondents: int = Field(description="Responses answering all nine elements, behind it")


class IndexValue(BaseModel):
    """The index of one set of responses (pooled)."""

    responses: int
    ikm: float | None = Field(description="25–100, rounded half-up to 2 decimals; null if empty")
    index: float | None = Field(description="1–4, rounded half-up to 3 decimals")
    index_exact: str | None = Field(description="The exact 1–4 index as a fraction")
    grade: GradeOut | None
    weight: str | None = Field(description="The exact weight 1/k of each answered element")
    elements: list[ElementOut]
    weakest: list[str] = Field(description="Element(s) with the lowest NRR, ties together")
    confidence_interval: IntervalOut | None
    confidence_interval_reason: str | None = Field(
        description="Why `confidence_interval` is null (fewer than 2 responses answered all "
        "nine elements); null when there is one"
    )
    small_sample: bool = Field(description="Fewer than 30 responses")


class ChildrenMean(BaseModel):
    """The plain mean of the children's IKMs (each child weighs the same)."""

    ikm: float | None
    ikm_exact: str | None
    grade: GradeOut | None
    children: int = Field(description="Children with responses, averaged")
    children_without_responses: int
    own_responses_counted_as_child: bool = Field(
        description="Responses recorded on the node itself count as one more child"
    )


class SampleOut(BaseModel):
    population: int | None = Field(description="People served in the period, if recorded")
    population_periods: list[str] = Field(
        description="The recorded periods it comes from: the period itself, or (when that is "
        "not recorded) all of its months, else quarters, else semesters, summed"
    )
    minimum: int | None = Field(description="Krejcie–Morgan minimum sample for the population")
    adequate: bool | None = Field(description="responses ≥ minimum; null without a population")


class PeriodOut(BaseModel):
    label: str | None
    start: date | None = Field(alias="from")
    end: date | None = Field(alias="to")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class GradeBand(BaseModel):
    mutu: str
    ikm_from: float
    kinerja: str


class MethodOut(BaseModel):
    """Enough to reproduce the number."""

    id: str
    regulation: str
    elements: list[str]
    nrr: str
    weighting: str
    ikm: str
    rounding: str
    grades: list[GradeBand]
    rule: str
    period_cut: str
    time_zones: list[str]
    survey_versions: list[int]
    excluded: str
    flagged_responses: int = Field(description="Flagged (suspected or confirmed) in scope")
    flagged_counted: bool
    confidence_interval: str
    sample_size: str
    source: str


class UnitRef(BaseModel):
    code: str
    name: str


class FigureChange(BaseModel):
    figure: str = Field(description="`responses`, `ikm`, `<element>.answers`, `<element>.total`")
    before: float | None
    after: float | None


class LivePublication(BaseModel):
    """How the live figures compare with the period's current published record."""

    id: int
    revision: int
    published_at: datetime
    differs: bool = Field(description="Responses or sums have changed since it was published")
    changes: list[FigureChange]


class IndexReport(BaseModel):
    unit: UnitRef
    service: str | None = Field(description="Only this service (`unit/service`)")
    period: PeriodOut
    rule: Rule = Field(description="Which roll-up produced `ikm` and `grade`")
    ikm: float | None
    grade: GradeOut | None
    pooled: IndexValue
    children_mean: ChildrenMean | None = Field(
        description="Given with rule=mean_of_children or include_children_mean=true"
    )
    sample: SampleOut
    publication: LivePublication | None = Field(
        default=None,
        description="The period's current published record and whether these figures differ "
        "from it (given for a whole period, without `service` or `include_flagged`)",
    )
    data_updated_at: datetime | None = Field(
        description="When a response counted here last arrived: a later value means a past "
        "period was revised (e.g. by an offline kiosk's backlog)"
    )
    method: MethodOut


class BreakdownGroup(BaseModel):
    key: str | None = Field(description="The group's value; null = not given by respondents")
    label: str | None
    value: IndexValue


class BreakdownOut(BaseModel):
    unit: UnitRef
    service: str | None = Field(description="Only this service (`unit/service`)")
    period: PeriodOut
    by: BreakdownBy
    groups: list[BreakdownGroup]
    archived_responses: int = Field(
        0,
        description="Responses counted in the index of the period whose rows were archived "
        "(`skm partitions archive`): a breakdown by a respondent's profile, channel or flag "
        "reads rows and leaves them out of its groups; 0 by service or by child, which read "
        "the aggregates",
    )
    data_updated_at: datetime | None
    method: MethodOut


class SeriesPoint(BaseModel):
    period: PeriodOut
    value: IndexValue


class SeriesOut(BaseModel):
    unit: UnitRef
    service: str | None = Field(description="Only this service (`unit/service`)")
    granularity: Granularity
    points: list[SeriesPoint]
    data_updated_at: datetime | None
    method: MethodOut


class RankedUnit(BaseModel):
    rank: int | None = Field(description="1 = highest IKM; ties share a rank; null if no data")
    unit: UnitRef
    value: IndexValue


class RankingOut(BaseModel):
    unit: UnitRef
    service: str | None = Field(description="Only this service (`unit/service`)")
    period: PeriodOut
    items: list[RankedUnit]
    data_updated_at: datetime | None
    method: MethodOut


class PopulationIn(Closed):
    served: int = Field(
        ge=1, le=100_000_000, strict=True, description="People served in the period"
    )


class PopulationOut(BaseModel):
    unit: str
    service: str | None
    period: str
    served: int
    minimum_sample: int
    updated_at: datetime


# --- access control ----------------------------------------------------------------------


class KeyCreate(Closed):
    name: KeyName = Field(description="What the key is for, e.g. 'Kiosk 2, MPP lantai 1'")
    role: Role
    scope: Code | None = Field(
        default=None, description="Unit code: the key reaches this unit's subtree only"
    )
    read_responses: Flag = Field(default=False, description="Readers: may read response rows")
    expires_at: Instant | None = None


class KeyOut(BaseModel):
    id: int
    name: str
    role: Role
    scope: str | None
    read_responses: bool
    prefix: str = Field(description="The first characters of the token, to recognise it")
    created_at: datetime
    created_by: int | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="To the minute")
    active: bool


class KeyCreated(KeyOut):
    token: str = Field(description="Shown once; only its hash is stored")
    services: list[str] | None = Field(
        default=None,
        description="A key paired for some services: those the key may submit for (codes of "
        "its scope's unit); null: any",
    )


class PairingCodeCreate(Closed):
    unit: Code = Field(description="The unit the paired key is scoped to")
    role: PairedRole
    name: KeyName = Field(description="The paired key's name, e.g. 'Kiosk 2, MPP lantai 1'")
    services: list[Code] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Collectors only: the unit's services its submissions may name "
        "(others are refused, 422 naming `service`); absent: any service in its scope",
    )
    expires_in_minutes: int = Field(default=10, ge=1, le=60, strict=True)


class PairingCodeOut(BaseModel):
    id: int
    unit: str
    role: PairedRole
    services: list[str] | None
    name: str
    created_at: datetime
    expires_at: datetime


class PairingCodeCreated(PairingCodeOut):
    code: str = Field(
        description="XXXX-XXXX (Crockford base 32); shown once, only its hash is stored"
    )


class PairingExchange(Closed):
    code: str = Field(
        min_length=1,
        max_length=32,
        description="The code as typed: case, dashes and spaces do not matter",
    )


class AuditOut(BaseModel):
    id: int
    at: datetime
    key_id: int | None
    key_name: str
    action: str
    target: str
    details: dict[str, object] | None


class TicketRequest(Closed):
    count: int = Field(default=1, ge=1, le=200, strict=True)


class TicketsOut(BaseModel):
    unit: str
    expires_at: datetime
    tickets: list[str] = Field(description="One-time codes, e.g. printed as QR codes")


class PublicResponseIn(ResponseIn):
    ticket: Annotated[str, Clean] | None = Field(
        default=None, max_length=64, description="The one-time ticket, when the unit needs one"
    )


class FlagReview(Closed):
    decision: FlagDecision


class FlaggedOut(BaseModel):
    response: ResponseOut
    flag: FlagState
    reason: str | None
    reviewed_at: datetime | None
    reviewed_by: int | None


class PublicElement(BaseModel):
    key: str
    unsur: str
    nrr: float = Field(description="Mean score 1–4, rounded half-up to 3 decimals")
    ikm: float = Field(description="NRR × 25, rounded half-up to 2 decimals")
    grade: GradeOut


class PublicValue(BaseModel):
    """A published index: rounded figures only (no sums, counts per element or fractions)."""

    responses: int = Field(description="Respondents behind it (at least `min_group`)")
    ikm: float | None = Field(description="25–100, rounded half-up to 2 decimals")
    index: float | None = Field(description="1–4, rounded half-up to 3 decimals")
    grade: GradeOut | None
    elements: list[PublicElement]
    weakest: list[str] = Field(description="Element(s) with the lowest NRR, ties together")
    small_sample: bool = Field(description="Fewer than 30 responses")


class PublicIndex(BaseModel):
    """A published index of one unit's own responses over one whole, ended period: nothing
    that, alone or with other public answers, describes fewer than `min_group` respondents."""

    unit: UnitRef
    period: PeriodOut
    suppressed: bool = Field(description="Too few responses to publish without identifying")
    min_group: int
    value: PublicValue | None
    publication_id: int | None = Field(
        default=None, description="The published record these figures come from"
    )
    method: MethodOut


class PublicGroup(BaseModel):
    key: str
    label: str | None
    value: PublicValue


class PublicBreakdown(BaseModel):
    """The unit's own services. A group is shown only when it, and what is left of the total
    once the shown groups are taken away, each count `min_group` or none (so a small group
    suppressed takes at least one more with it)."""

    unit: UnitRef
    period: PeriodOut
    by: Literal["service"]
    min_group: int
    suppressed: bool = Field(description="The total itself is too small: no group is shown")
    groups: list[PublicGroup] = Field(description="The groups shown")
    suppressed_groups: int = Field(description="Groups with responses that are not shown")
    publication_id: int | None = Field(
        default=None, description="The published record these figures come from"
    )
    method: MethodOut


# --- publications ------------------------------------------------------------------------


class PublishIn(Closed):
    period: str = Field(
        max_length=10, description="The period published: YYYY, YYYY-Sn, YYYY-Qn or YYYY-MM"
    )
    revises: Id | None = Field(
        default=None,
        description="To publish a revision: the id of the period's current record (the "
        "newest); required once the period is published and its figures have changed",
    )


class PublicFigures(BaseModel):
    """What is shown without a key, frozen with the record (the suppression rule applied
    with SKM_PUBLIC_MIN_GROUP as it was when published)."""

    index: PublicIndex
    breakdown: PublicBreakdown


class FrozenReport(BaseModel):
    """The full index report as it stood when published."""

    index: IndexReport = Field(description="The unit's subtree, pooled, flagged left out")
    breakdowns: dict[str, BreakdownOut] = Field(
        description="By service, channel and each respondent profile field"
    )
    public: PublicFigures | None = Field(
        description="The public figures (the unit's own responses); null for a period of "
        "another length than SKM_PUBLIC_PERIOD"
    )


class PublicationSummary(BaseModel):
    id: int
    unit: UnitRef
    period: PeriodOut
    revision: int = Field(description="1 for the first record of the period, then 2, 3, …")
    published_at: datetime
    published_by_key: int | None = Field(description="The id of the key that published it")
    supersedes: int | None = Field(description="The record this revision replaces")
    superseded_by: int | None = Field(description="The revision that replaced it, if any")
    public: bool = Field(
        description="Shown without a key when the unit is public (false for another period "
        "length than SKM_PUBLIC_PERIOD, or a revision that differs from the public record "
        "by fewer than SKM_PUBLIC_MIN_GROUP respondents)"
    )
    method_id: str
    responses: int
    ikm: float | None
    difference: list[FigureChange] | None = Field(
        description="What changed from the superseded record; null for a first record"
    )


class PublicationOut(PublicationSummary):
    report: FrozenReport


class PublicPublication(BaseModel):
    """A published record as the public sees it: rounded figures only."""

    id: int
    unit: UnitRef
    period: PeriodOut
    published_at: datetime
    supersedes: int | None = Field(description="The public record it revises, if any")
    method_id: str
    figures: PublicFigures
