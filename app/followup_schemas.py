"""Request and response models of follow-up plans, their evaluation, the compliance overview
and the reminders (issue 12): a section of `app/schemas.py` kept in a module of its own, as
that module's header asks of a section past ~300 lines. Input types come from there.
"""

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from app.models import ACTION_LENGTH, LINK_LENGTH, MAX_LINKS, NAME_LENGTH, REASON_LENGTH
from app.schemas import Clean, Closed, Code, Day, Flag, GradeOut, PeriodOut, UnitRef
from app.vocabulary import Element, ItemStatus, PlanState, RequiredPeriods, Verdict

Action = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=ACTION_LENGTH), Clean
]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=ACTION_LENGTH), Clean]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=REASON_LENGTH), Clean
]
Responsible = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_LENGTH), Clean
]


def _web_link(link: str) -> str:
    if not link.startswith(("https://", "http://")):
        raise ValueError("an evidence link is an http(s) URL")
    return link


Link = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=8, max_length=LINK_LENGTH),
    Clean,
    AfterValidator(_web_link),
]
Links = Annotated[list[Link], Field(max_length=MAX_LINKS)]


# --- plans and items ---------------------------------------------------------------------


class PlanIn(Closed):
    period: str = Field(
        max_length=10, description="The period whose result the plan answers: 2026, 2026-Q1 …"
    )
    propose: Flag = Field(
        default=True,
        description="Start with items proposed for the weakest elements and every element "
        "graded C or D in the period's result (the published record where there is one)",
    )


class ItemIn(Closed):
    """A new item: tied to one element, or to one service of the unit."""

    element: Element | None = None
    service: Code | None = None
    action: Action
    responsible: Responsible | None = None
    target_date: Day | None = None
    status: ItemStatus = "planned"
    status_reason: Reason | None = None
    evidence_note: Note | None = None
    evidence_links: Links = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_target(self) -> "ItemIn":
        if (self.element is None) == (self.service is None):
            raise ValueError("name one element or one service")
        if self.status == "dropped" and self.status_reason is None:
            raise ValueError("a dropped item needs a status_reason")
        return self


class ItemPatch(Closed):
    """Fields to change. Once the plan is closed, only `status`, `status_reason`,
    `evidence_note` and `evidence_links`."""

    action: Action | None = None
    responsible: Responsible | None = None
    target_date: Day | None = None
    status: ItemStatus | None = None
    status_reason: Reason | None = None
    evidence_note: Note | None = None
    evidence_links: Links | None = None


class ItemOut(BaseModel):
    id: int
    element: str | None
    unsur: str | None = Field(description="The element's name, for an element's item")
    service: str | None
    action: str
    responsible: str | None
    target_date: date | None
    status: ItemStatus
    status_reason: str | None
    evidence_note: str | None
    evidence_links: list[str]
    proposed: bool = Field(description="Proposed by the service from the period's result")
    proposed_because: list[str] = Field(
        description="Why it was proposed: 'weakest', 'grade_C', 'grade_D' (empty otherwise)"
    )
    overdue: bool = Field(description="Past its target date, neither done nor dropped")
    updated_at: datetime


class PlanOut(BaseModel):
    unit: UnitRef
    period: PeriodOut
    state: PlanState
    source: str = Field(
        description="What the proposal was read from: 'publication' or 'live' (the index)"
    )
    source_publication_id: int | None
    items: list[ItemOut]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class PlanSummary(BaseModel):
    period: PeriodOut
    state: PlanState
    items: int
    done: int
    overdue: int
    updated_at: datetime


class PlanList(BaseModel):
    unit: UnitRef
    plans: list[PlanSummary]


# --- evaluation ----------------------------------------------------------------------------


class MeasureOut(BaseModel):
    """An element's NRR (1–4) or a unit's or service's IKM (25–100) in one period."""

    period: PeriodOut
    answers: int = Field(description="Answers to the element (responses, for an IKM)")
    value: float | None = Field(description="Rounded half-up: NRR 3 decimals, IKM 2")
    value_exact: str | None
    grade: GradeOut | None


class ChangeOut(BaseModel):
    what: str = Field(description="'element:<key>', 'service:<code>' or 'unit'")
    scale: str = Field(description="'nrr' (1–4) or 'ikm' (25–100)")
    before: MeasureOut
    after: MeasureOut
    difference: float | None = Field(description="after − before, rounded half away from zero")
    interval_low: float | None = Field(description="95% interval for the difference")
    interval_high: float | None
    degrees_of_freedom: int | None = Field(description="Welch–Satterthwaite, rounded down")
    verdict: Verdict


class ItemEvaluation(BaseModel):
    item_id: int
    status: ItemStatus
    change: ChangeOut


class EvaluationOut(BaseModel):
    unit: UnitRef
    plan_period: PeriodOut
    next_period: PeriodOut
    unit_change: ChangeOut
    items: list[ItemEvaluation]
    method: str


class ReportFollowup(BaseModel):
    """Follow-up as a period's Laporan SKM shows it (Bab IV): the previous period's plan
    and its evaluation against this period, and this period's own plan."""

    previous_plan: PlanOut | None
    previous_evaluation: EvaluationOut | None
    current_plan: PlanOut | None


# --- compliance ----------------------------------------------------------------------------


class RequiredPeriodsIn(Closed):
    required_periods: RequiredPeriods | None = Field(
        description="null: follow the parent (the root's default is 'year')"
    )


class RequiredPeriodsOut(BaseModel):
    unit: str
    required_periods: RequiredPeriods
    own: RequiredPeriods | None = Field(description="Set on this unit itself; null: inherited")
    inherited_from: str | None = Field(
        description="The ancestor it is inherited from; null when own or the default"
    )


class PeriodCompliance(BaseModel):
    period: PeriodOut
    ended: bool = Field(description="The period ended before `as_of`")
    responses: int
    population: int | None
    minimum_sample: int | None
    sample_met: bool | None = Field(description="null without a recorded population")
    publication_id: int | None
    published_at: datetime | None
    overdue: bool = Field(description="Ended more than the grace period ago, not published")


class ItemCounts(BaseModel):
    items: int
    done: int
    dropped: int
    due: int = Field(description="Neither done nor dropped, target date today or later or none")
    overdue: int = Field(description="Neither done nor dropped, past the target date")


class ComplianceRow(BaseModel):
    unit: UnitRef
    kind: str
    parent: str | None
    required_periods: RequiredPeriods
    periods: list[PeriodCompliance]
    plans: list[str] = Field(description="Periods of the year with a follow-up plan")
    plan_items: ItemCounts
    ikm: float | None = Field(description="The year's IKM, live, pooled over the subtree")
    grade: GradeOut | None
    previous_ikm: float | None
    change: float | None = Field(description="ikm − previous_ikm, rounded half away from zero")
    surveyed: bool = Field(description="Responses in every ended required period")
    sample_met: bool = Field(description="Minimum sample met in every ended required period")
    published: bool = Field(description="No required period overdue")
    followed_up: bool = Field(description="A plan in the year, and none of its items overdue")
    complied: bool = Field(description="All four")


class ComplianceSummary(BaseModel):
    units: int
    surveyed: int
    sample_met: int
    published: int
    followed_up: int
    complied: int


class ComplianceOut(BaseModel):
    unit: UnitRef
    year: int
    as_of: date
    grace_days: int
    summary: ComplianceSummary = Field(description="Over the rows listed (after filters)")
    rows: list[ComplianceRow]
    method: str


# --- reminders -----------------------------------------------------------------------------


class OverdueItem(BaseModel):
    unit: UnitRef
    plan_period: str
    item_id: int
    element: str | None
    service: str | None
    action: str
    responsible: str | None
    target_date: date
    days_overdue: int


class MissingResult(BaseModel):
    unit: UnitRef
    period: PeriodOut
    responses: int
    days_overdue: int = Field(description="Days since the grace period ended")


class RemindersOut(BaseModel):
    unit: UnitRef
    as_of: date
    grace_days: int
    overdue_items: list[OverdueItem]
    missing_results: list[MissingResult]
