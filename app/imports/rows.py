"""Checking an imported row: its cells parsed into a response (`ResponseIn`, channel
`paper`), and every problem named by its cell (`Responses!E7: score 5 is not between 1 and
4`). The submission checks themselves are the API's (`app.response_checks`, run by
`app.ingest`); what they refuse comes back as a JSON pointer, turned here into a cell."""

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from app.errors import FieldProblem
from app.imports import codes
from app.imports.columns import PROFILE_COLUMNS
from app.imports.reading import FileRow, Layout
from app.method import ELEMENTS
from app.schemas import MAX_SUGGESTION_LENGTH, ResponseIn
from app.standard_survey import PROFILE_OPTIONS


@dataclass(frozen=True)
class CellProblem:
    cell: str
    code: str
    reason: str

    def __str__(self) -> str:
        return f"{self.cell}: {self.reason}"

    def as_json(self) -> dict[str, str]:
        return {"cell": self.cell, "code": self.code, "reason": self.reason}


@dataclass(frozen=True)
class Target:
    """What every row of an import is for: the unit, its zone and its survey version."""

    unit_code: str
    unit_id: int
    time_zone: str
    survey_version_id: int
    content_sha256: str  # the file's cells (`reading.content_digest`)


@dataclass
class ParsedRow:
    number: int
    response_id: uuid.UUID
    code: str | None  # the sheet code, normalised
    item: ResponseIn | None  # None when a cell could not be read
    problems: list[CellProblem]
    # With problems: the cells that could be read, as a response that is checked (never
    # stored), so that a row's other refusals are reported with them.
    probe: ResponseIn | None = None


_DAY_FIRST = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_PROFILE_VALUES = {
    field: {option.upper(): option for option in options}
    for field, options in PROFILE_OPTIONS.items()
}


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 30 else text[:27] + "..."


def _date(value: Any) -> date | str:
    """The day, or the reason it is not one."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 and text[4] == "-" else _dmy(text)
    except ValueError:
        return f"date '{_shown(text)}' is not a date (write 2026-11-30 or 30/11/2026)"


def _dmy(text: str) -> date:
    match = _DAY_FIRST.match(text)
    if match is None:
        raise ValueError(text)
    day, month, year = (int(g) for g in match.groups())
    return date(year, month, day)


def _score(value: Any) -> int | str:
    """The score, or the reason it is not one."""
    if type(value) is int and 1 <= value <= 4:  # nearly every cell: checked at once
        return value
    number: float
    if isinstance(value, bool):
        return f"score '{value}' is not a number from 1 to 4"
    if isinstance(value, int | float):
        number = value
    else:
        try:
            number = float(str(value).strip().replace(",", "."))
        except ValueError:
            return f"score '{_shown(value)}' is not a number from 1 to 4"
    if number != int(number):
        return f"score {_shown(value)} is not a whole number"
    if not 1 <= number <= 4:
        return f"score {int(number)} is not between 1 and 4"
    return int(number)


def parse(row: FileRow, layout: Layout, target: Target) -> ParsedRow:
    """The row as a response, or the problems of its cells (all of them)."""
    cells = row.cells
    problems: list[CellProblem] = []

    def problem(key: str, code: str, reason: str) -> None:
        problems.append(CellProblem(layout.cell(key, row.number), code, reason))

    sheet_code: str | None = None
    if "sheet_code" in cells:
        sheet_code = codes.normalised(str(cells["sheet_code"]))
        if sheet_code is None:
            problem(
                "sheet_code",
                "bad_sheet_code",
                f"sheet code '{_shown(cells['sheet_code'])}' is not a valid code "
                "(mistyped: its check character does not match)",
            )
    response_id = (
        codes.response_id(target.unit_id, sheet_code)
        if sheet_code is not None
        else codes.row_response_id(target.unit_id, target.content_sha256, row.number)
    )
    collected: datetime | None = None
    if "date" not in cells:
        problem("date", "missing", "the date of collection is missing")
    else:
        day = _date(cells["date"])
        if isinstance(day, str):
            problem("date", "bad_date", day)
        else:
            collected = datetime.combine(day, time(0), ZoneInfo(target.time_zone))
    service = str(cells.get("service", "")).strip().lower()
    if not service:
        problem("service", "missing", "the service is missing")
    answers: dict[str, int] = {}
    for element in ELEMENTS:
        if element in cells:
            score = _score(cells[element])
            if isinstance(score, str):
                problem(element, "bad_score", score)
            else:
                answers[element] = score
    profile: dict[str, str] = {}
    for field in PROFILE_COLUMNS:
        if field in cells:
            text = str(cells[field]).strip()
            found = _PROFILE_VALUES[field].get(text.upper())
            if found is None:
                allowed = ", ".join(PROFILE_OPTIONS[field])
                problem(
                    field, "unknown_option", f"{field} '{_shown(text)}' is not one of {allowed}"
                )
            else:
                profile[field] = found
    suggestion = str(cells["suggestion"]).strip() if "suggestion" in cells else None
    if suggestion is not None and len(suggestion) > MAX_SUGGESTION_LENGTH:
        problem("suggestion", "too_long", f"longer than {MAX_SUGGESTION_LENGTH} characters")
        suggestion = None
    content = {
        "id": response_id,
        "unit": target.unit_code,
        "service": service,
        "survey_version_id": target.survey_version_id,
        "channel": "paper",
        "collected_at": collected,
        "answers": answers,
        "profile": profile,
        "suggestion": suggestion or None,
    }
    if problems or collected is None:
        probe = None
        if collected is not None and service:
            try:
                probe = ResponseIn.model_validate({**content, "answers": answers or {"waktu": 1}})
            except ValidationError:
                probe = None
        return ParsedRow(row.number, response_id, sheet_code, None, problems, probe)
    try:
        item = ResponseIn.model_validate(content)
    except ValidationError as error:
        for detail in error.errors(include_input=False):
            pointer = "/" + "/".join(str(p) for p in detail["loc"])
            problems.append(
                CellProblem(cell_of(pointer, layout, row.number), "invalid", detail["msg"])
            )
        return ParsedRow(row.number, response_id, sheet_code, None, problems)
    return ParsedRow(row.number, response_id, sheet_code, item, [])


_POINTED = {"/collected_at": "date", "/service": "service", "/suggestion": "suggestion"}


def cell_of(pointer: str, layout: Layout, row_number: int) -> str:
    """The cell a JSON pointer of the submission checks names (the whole row when it names
    no one column, e.g. `/answers` with nothing answered: the score columns)."""
    parts = pointer.strip("/").split("/")
    key = _POINTED.get(pointer) or (parts[1] if len(parts) > 1 else None)
    if key is not None and key in layout.letters:
        return layout.cell(key, row_number)
    if pointer == "/answers":
        present = [layout.letters[e] for e in ELEMENTS if e in layout.letters]
        if present:
            return f"{layout.sheet}!{present[0]}{row_number}:{present[-1]}{row_number}"
    return f"{layout.sheet}!{row_number}:{row_number}"


def from_field_problems(
    found: list[FieldProblem], layout: Layout, row: ParsedRow, cells: dict[str, Any]
) -> list[CellProblem]:
    """The submission checks' refusals of a row, each at its cell, with the value named."""
    problems = []
    for f in found:
        pointer = f.pointer or ""
        reason = f.detail
        if pointer == "/service":
            reason = f"service '{_shown(cells.get('service', ''))}': {f.detail}"
        elif pointer == "/collected_at":
            reason = f"date '{_shown(cells.get('date', ''))}': {f.detail}"
        elif pointer == "/answers":
            reason = "no element was answered (at least one score is needed)"
        problems.append(CellProblem(cell_of(pointer, layout, row.number), f.code, reason))
    return problems
