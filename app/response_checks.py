"""The checks a submitted response must pass before it is stored: the unit and service it
names exist, are in the submitter's scope and were active when it was collected; its
collected_at is plausible; its answers fit its survey version. Pure, but for the statement
that reads the units and services named (run by `app.ingest`)."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, select

from app.config import Settings
from app.errors import FieldProblem
from app.method import ELEMENTS
from app.models import Service, Unit
from app.schemas import ResponseIn
from app.statements import one_of
from app.surveys import VersionRules


@dataclass(frozen=True)
class NamedUnit:
    """A unit a submission names, as the checks need it."""

    id: int
    path: str
    time_zone: str
    deactivated_at: datetime | None


@dataclass(frozen=True)
class NamedService:
    """A service a submission names, as the checks need it."""

    id: int
    deactivated_at: datetime | None


@cache
def references_query(dialect: str, single: bool = False) -> Any:
    """The units the submissions name, each with the named services it offers (one row per
    unit and service; a unit offering none of them comes once, with no service).

    `single`: one submission's, its unit and service bound as `unit_code` and
    `service_code` (`references_params`): equalities, which PostgreSQL's generic plan finds
    by the unique indexes, where the lists' `= ANY(…)` was planned as a scan of both tables
    and a hash join (70 µs of the server's time per statement against 30)."""
    unit_named: Any
    service_named: Any
    if single:
        unit_named = Unit.code == bindparam("unit_code")
        service_named = Service.code == bindparam("service_code")
    else:
        unit_named = one_of(Unit.code, "unit_codes", dialect)
        service_named = one_of(Service.code, "service_codes", dialect)
    return (
        select(
            Unit.id,
            Unit.code,
            Unit.path,
            Unit.time_zone,
            Unit.deactivated_at,
            Service.id.label("service_id"),
            Service.code.label("service_code"),
            Service.deactivated_at.label("service_deactivated_at"),
        )
        .outerjoin(Service, and_(Service.unit_id == Unit.id, service_named))
        .where(unit_named)
    )


def references_params(items: Sequence[ResponseIn], single: bool = False) -> dict[str, Any]:
    """The parameters of `references_query` (`single`: of its one submission's form)."""
    if single:
        [item] = items
        return {"unit_code": item.unit, "service_code": item.service}
    unit_codes, service_codes = set(), set()
    for item in items:
        unit_codes.add(item.unit)
        service_codes.add(item.service)
    return {"unit_codes": sorted(unit_codes), "service_codes": sorted(service_codes)}


def references_found(
    rows: Iterable[Any],
) -> tuple[dict[str, NamedUnit], dict[tuple[int, str], NamedService]]:
    units: dict[str, NamedUnit] = {}
    services: dict[tuple[int, str], NamedService] = {}
    for row in rows:
        units[row.code] = NamedUnit(row.id, row.path, row.time_zone, row.deactivated_at)
        if row.service_id is not None:
            services[(row.id, row.service_code)] = NamedService(
                row.service_id, row.service_deactivated_at
            )
    return units, services


def answered_scores(
    item: ResponseIn, scores: Mapping[str, int | None] | None = None
) -> dict[str, int]:
    """The item's answered elements and their scores (`scores`: its answers dumped, when the
    caller has them)."""
    if scores is None:
        answered: dict[str, int] = item.answers.model_dump(exclude_none=True)
        return answered
    return {key: score for key, score in scores.items() if score is not None}


def _check_version(
    rules: VersionRules | None,
    unit: NamedUnit,
    item: ResponseIn,
    scores: Mapping[str, int | None] | None,
) -> list[FieldProblem]:
    if rules is None:
        return [
            FieldProblem(
                pointer="/survey_version_id",
                detail="no published survey version with this id",
                code="unknown_survey_version",
            )
        ]
    problems = []
    ancestors = {int(p) for p in unit.path.strip("/").split("/")}
    if rules.owner_unit_id is not None and rules.owner_unit_id not in ancestors:
        problems.append(
            FieldProblem(
                pointer="/survey_version_id",
                detail="this survey version belongs to another unit's variant",
                code="survey_version_not_allowed",
            )
        )
    answered = answered_scores(item, scores)
    # A paper form is transcribed as filled in: a blank stays blank (NULL, its own denominator).
    if item.channel != "paper":
        problems.extend(
            FieldProblem(
                pointer=f"/answers/{key}",
                detail="required by this survey version",
                code="missing",
            )
            for key in ELEMENTS
            if key in rules.required_elements and key not in answered
        )
    if not answered:
        problems.append(
            FieldProblem(pointer="/answers", detail="no element was answered", code="no_answers")
        )
    extra = item.extra_answers or {}
    for key, value in extra.items():
        if key not in rules.extra_options:
            problems.append(
                FieldProblem(
                    pointer=f"/extra_answers/{key}",
                    detail="not a question of this survey version",
                    code="unknown_question",
                )
            )
        elif value not in rules.extra_options[key]:
            problems.append(
                FieldProblem(
                    pointer=f"/extra_answers/{key}",
                    detail="not an option of this question",
                    code="unknown_option",
                )
            )
    problems.extend(
        FieldProblem(
            pointer=f"/extra_answers/{key}",
            detail="required by this survey version",
            code="missing",
        )
        for key in rules.required_extra
        if key not in extra
    )
    return problems


def check_item(
    item: ResponseIn,
    units: dict[str, NamedUnit],
    services: dict[tuple[int, str], NamedService],
    rules: VersionRules | None,
    now: datetime,
    settings: Settings,
    scope: str | None,
    only_services: frozenset[int] | None = None,
    scores: Mapping[str, int | None] | None = None,
) -> list[FieldProblem]:
    """Every problem of the item; `only_services`: the ids of the services the submitter's
    key is restricted to (None, the usual case, costs nothing); `scores`: the item's answers
    dumped, when the caller has them."""
    problems: list[FieldProblem] = []
    if item.collected_at > now + timedelta(seconds=settings.max_clock_skew_seconds):
        problems.append(
            FieldProblem(
                pointer="/collected_at",
                detail=f"in the future by more than {settings.max_clock_skew_seconds} s "
                "(check the device clock)",
                code="collected_in_future",
            )
        )
    if item.collected_at < now - timedelta(days=settings.max_collected_age_days):
        problems.append(
            FieldProblem(
                pointer="/collected_at",
                detail=f"older than {settings.max_collected_age_days} days",
                code="collected_too_old",
            )
        )
    unit = units.get(item.unit)
    if unit is None or (scope is not None and not unit.path.startswith(scope)):
        problems.append(FieldProblem(pointer="/unit", detail="unknown unit", code="unknown_unit"))
        return problems
    if unit.deactivated_at is not None and item.collected_at >= unit.deactivated_at:
        problems.append(
            FieldProblem(
                pointer="/unit", detail="the unit was deactivated before then", code="unit_inactive"
            )
        )
    service = services.get((unit.id, item.service))
    if service is None:
        problems.append(
            FieldProblem(
                pointer="/service",
                detail="the unit does not offer this service",
                code="unknown_service",
            )
        )
    elif service.deactivated_at is not None and item.collected_at >= service.deactivated_at:
        problems.append(
            FieldProblem(
                pointer="/service",
                detail="the service was deactivated before then",
                code="service_inactive",
            )
        )
    elif only_services is not None and service.id not in only_services:
        problems.append(
            FieldProblem(
                pointer="/service",
                detail="this key or ticket is not for this service",
                code="service_not_allowed",
            )
        )
    problems.extend(_check_version(rules, unit, item, scores))
    return problems
