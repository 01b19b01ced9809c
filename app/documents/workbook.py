"""The processing workbook (*olah data*, XLSX): one row per respondent and the live formulas
that turn them into the IKM, each with its value cached, so that a recalculation in Excel or
LibreOffice gives the API's figures at their presented precision.

The figures come from the index report (`app.indices.index_report`), or from the period's
published record with the rows it counted (`FigureSource`, `workbook_data.chosen_source`); the
rows are streamed from the same snapshot, a batch at a time, into
XlsxWriter in `constant_memory` mode (rows go to a temporary file as they are written), so
memory stays flat whatever the number of respondents. A period with more respondents than a
sheet holds gets one data sheet per month, and says so.

Rounding is exact: a half-up rounding written as ROUND() of a floating-point quotient can
tip 88.305 to 88.30, so the rounded NRR, index and IKM are integer quotients, each
respondent-count denominator kept apart (see `_exact_rounding`).

About 500 lines, kept whole: the data sheets and the summary reference each other's cells
by position (a totals row, an element's row), and those positions read best in one place;
the data, the annex sheets and the texts are apart (`workbook_data`, `workbook_annexes`,
`workbook_style`).
"""

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncConnection
from xlsxwriter import Workbook
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from app import indices
from app.auth import Principal
from app.db import Database
from app.documents import workbook_annexes as annexes
from app.documents.workbook_data import (
    FigureSource,
    WorkbookData,
    respondent_batches,
    workbook_data,
)
from app.documents.workbook_style import Formats, Language, day, text
from app.errors import not_found
from app.method import ELEMENT_NAMES, ELEMENTS, GRADES, METHOD_ID
from app.periods import Span, buckets
from app.schemas import IndexReport
from app.standard_survey import PROFILE_LABELS
from app.vocabulary import PROFILE_FIELDS

__all__ = ["FigureSource", "Language", "WorkbookData", "generate_workbook", "write_workbook"]

SHEET_ROWS: Final = 1_048_576  # rows of an XLSX sheet
HEADER_ROWS: Final = 4  # title, unit and period, source, column headings
FOOTER_ROWS: Final = 6  # a blank row; sums, counts, NRR, weighted NRR; a note

FIRST_SCORE: Final = 5  # column F: U1; A No, B date, C unit, D service, E channel
SCORE_COLUMNS: Final = tuple(xl_col_to_name(FIRST_SCORE + i) for i in range(len(ELEMENTS)))
PROFILE_COLUMN: Final = FIRST_SCORE + len(ELEMENTS)


@dataclass
class DataSheet:
    """A data sheet being written: its rows so far and its own sums, for its totals."""

    sheet: Worksheet
    name: str
    rows: int = 0
    totals: list[int] = field(default_factory=lambda: [0] * len(ELEMENTS))
    counts: list[int] = field(default_factory=lambda: [0] * len(ELEMENTS))

    @property
    def totals_row(self) -> int:
        """0-based row of the sum of scores (after a blank row)."""
        return HEADER_ROWS + self.rows + 1


@dataclass(frozen=True)
class Written:
    """What was written: respondents, data sheets, whether the period was split by month."""

    respondents: int
    sheets: tuple[str, ...]
    split_by_month: bool


Progress = Callable[[int, int], None]  # (rows written, rows expected)


class _WorkbookWriter:
    """Lays the workbook out; every method writes rows of one sheet in order (XlsxWriter's
    constant_memory mode needs it)."""

    def __init__(self, book: Workbook, data: WorkbookData, max_rows: int) -> None:
        self.book = book
        self.data = data
        self.lang = data.lang
        self.fmt = Formats(book, data.lang)
        self.capacity = max_rows - HEADER_ROWS - FOOTER_ROWS
        self.split = data.source.report.pooled.responses > self.capacity
        self.summary = book.add_worksheet(self.t("summary_sheet"))
        # One data sheet, or one per month (keyed by the month's first day).
        self.sheets: dict[date | None, DataSheet]
        if self.split:
            months = buckets(data.window.start, data.window.end, "month")
            self.sheets = {
                month.start.replace(day=1): self._data_sheet(f"Data {month.start:%Y-%m}")
                for month in months
            }
        else:
            self.sheets = {None: self._data_sheet("Data")}
        self.profile = book.add_worksheet(self.t("profile_sheet"))
        self.services = book.add_worksheet(self.t("services_sheet"))
        self.channels = book.add_worksheet(self.t("channels_sheet"))
        self.method = book.add_worksheet(self.t("method_sheet"))
        self.suggestions = (
            book.add_worksheet(self.t("suggestions_sheet")) if data.include_suggestions else None
        )
        self.suggestion_row = 1
        for each in book.worksheets():  # printed: A4 landscape, one page wide
            each.set_paper(9)
            each.set_landscape()
            each.fit_to_pages(1, 0)
        self.number = 0

    def t(self, key: str) -> str:
        return text(key, self.lang)

    def _data_sheet(self, name: str) -> DataSheet:
        sheet = self.book.add_worksheet(name)
        d = self.data
        sheet.write_string(0, 0, f"{self.t('title')} — {d.unit.name}", self.fmt.title)
        period = d.window.label or f"{d.window.start.isoformat()} – {d.window.end.isoformat()}"
        sheet.write_string(1, 0, f"{self.t('period')}: {period}   {name}")
        sheet.write_string(2, 0, f"{self.t('source')}: {d.source.label(self.lang)}")
        headings = [
            self.t("no"),
            self.t("date"),
            self.t("unit"),
            self.t("service"),
            self.t("channel"),
            *(f"U{i + 1}" for i in range(len(ELEMENTS))),
            *(PROFILE_LABELS[p][0 if self.lang == "id" else 1] for p in PROFILE_FIELDS),
        ]
        sheet.set_row(3, 30)
        for column, heading in enumerate(headings):
            sheet.write_string(3, column, heading, self.fmt.head)
        sheet.set_column(1, 1, 12)
        sheet.set_column(2, 3, 14)
        sheet.set_column(FIRST_SCORE, FIRST_SCORE + len(ELEMENTS) - 1, 5)
        sheet.set_column(PROFILE_COLUMN, PROFILE_COLUMN + len(PROFILE_FIELDS) - 1, 10)
        sheet.freeze_panes(HEADER_ROWS, 1)
        sheet.repeat_rows(HEADER_ROWS - 1)
        return DataSheet(sheet, name)

    # -- respondent rows (the hot loop) --

    def write_batch(self, batch: Sequence[Any]) -> None:
        number_format, date_format = self.fmt.int, self.fmt.date
        suggestions = self.suggestions
        last = len(ELEMENTS) + 4
        for row in batch:
            target = self.sheets[row[0].replace(day=1) if self.split else None]
            if target.rows >= self.capacity:
                raise ValueError(f"{target.name}: more respondents than a sheet holds")
            r = HEADER_ROWS + target.rows
            sheet = target.sheet
            self.number += 1
            sheet.write_number(r, 0, self.number, number_format)
            sheet.write_number(r, 1, day(row[0]), date_format)
            sheet.write_string(r, 2, row[1])
            sheet.write_string(r, 3, row[2])
            sheet.write_string(r, 4, row[3])
            for i in range(len(ELEMENTS)):
                score = row[4 + i]
                if score is not None:  # a blank stays blank
                    sheet.write_number(r, FIRST_SCORE + i, score)
                    target.totals[i] += score
                    target.counts[i] += 1
            for j in range(len(PROFILE_FIELDS)):
                band = row[last + j]
                if band is not None:
                    sheet.write_string(r, PROFILE_COLUMN + j, band)
            target.rows += 1
            if suggestions is not None and row[-1]:
                suggestions.write_number(self.suggestion_row, 0, self.number)
                suggestions.write_number(self.suggestion_row, 1, day(row[0]), date_format)
                suggestions.write_string(self.suggestion_row, 2, f"{row[1]}/{row[2]}")
                suggestions.write_string(self.suggestion_row, 3, row[-1])  # text, never a formula
                self.suggestion_row += 1

    def finish_data_sheets(self) -> None:
        for target in self.sheets.values():
            self._totals(target)

    def _totals(self, target: DataSheet) -> None:
        """Below the rows: each column's sum, count, NRR and weighted NRR (this sheet's),
        row by row (constant_memory writes each row once)."""
        sheet, t = target.sheet, target.totals_row
        first, last = HEADER_ROWS + 1, HEADER_ROWS + max(target.rows, 1)
        answered = sum(1 for n in target.counts if n)
        counts = f"${SCORE_COLUMNS[0]}${t + 2}:${SCORE_COLUMNS[-1]}${t + 2}"
        cells = [
            [
                (f"=SUM({col}{first}:{col}{last})", self.fmt.int, total),
                (f"=COUNT({col}{first}:{col}{last})", self.fmt.int, n),
                (
                    f'=IF({col}{t + 2}>0,{col}{t + 1}/{col}{t + 2},"")',
                    self.fmt.nrr,
                    total / n if n else "",
                ),
                (
                    f'=IF({col}{t + 2}>0,{col}{t + 3}/COUNTIF({counts},">0"),"")',
                    self.fmt.nrr,
                    total / n / answered if n else "",
                ),
            ]
            for col, total, n in zip(SCORE_COLUMNS, target.totals, target.counts, strict=True)
        ]
        for offset, label in enumerate(("sum_row", "count_row", "nrr_row", "weighted_row")):
            sheet.write_string(t + offset, 1, self.t(label), self.fmt.bold)
            for i, column in enumerate(cells):
                formula, number_format, value = column[offset]
                sheet.write_formula(t + offset, FIRST_SCORE + i, formula, number_format, value)
        sheet.write_string(t + 4, 1, self.t("see_summary"), self.fmt.note)

    # -- the summary: the processing table and the headline --

    def write_summary(self) -> None:
        d, sheet, fmt, t = self.data, self.summary, self.fmt, self.t
        report = d.source.report
        pooled = report.pooled
        sheet.set_column(0, 0, 30)
        sheet.set_column(1, 1, 12)
        sheet.set_column(2, 2, 38)
        sheet.set_column(3, 10, 13)
        sheet.set_column(11, 14, 9, fmt.helper)
        sheet.write_string(0, 0, f"{t('title')} — {d.unit.name}", fmt.title)
        sheet.write_string(1, 0, t("unit"), fmt.bold)
        sheet.write_string(1, 1, f"{d.unit.name} ({d.unit.code})")
        sheet.write_string(2, 0, t("period"), fmt.bold)
        sheet.write_string(2, 1, d.window.label or "")
        sheet.write_number(2, 2, day(d.window.start), fmt.long_date)
        sheet.write_number(2, 3, day(d.window.end), fmt.long_date)
        sheet.write_string(3, 0, t("source"), fmt.bold)
        sheet.write_string(3, 1, d.source.label(self.lang), fmt.bold)
        sheet.write_string(4, 0, t("method"), fmt.bold)
        sheet.write_string(4, 1, METHOD_ID)
        sheet.write_string(5, 0, t("updated"), fmt.bold)
        updated = report.data_updated_at
        sheet.write_string(5, 1, updated.astimezone(UTC).isoformat() if updated else "")
        sheet.write_string(6, 0, t("respondents"), fmt.bold)
        numbers = "+".join(
            f"COUNT('{s.name}'!A{HEADER_ROWS + 1}:A{HEADER_ROWS + max(s.rows, 1)})"
            for s in self.sheets.values()
        )
        sheet.write_formula(6, 1, f"={numbers}", fmt.int, pooled.responses)
        if self.split:
            sheet.write_string(7, 0, t("split"), fmt.note)
        head = 8
        sheet.set_row(head, 30)
        headings = ("no", "key", "element", "total", "count", "nrr", "nrr3", "weight", "weighted")
        for column, key in enumerate((*headings, "x25", "grade")):
            sheet.write_string(head, column, t(key), fmt.head)
        helpers = ("Q (IKM)", "R/n (IKM)", "Q (index)", "R/n (index)")
        for column, helper in enumerate(helpers, start=11):
            sheet.write_string(head, column, f"{t('helper')}: {helper}", fmt.helper)
        by_key = {e.key: e for e in pooled.elements}
        k = len(pooled.elements)
        first, last = head + 2, head + 1 + len(ELEMENTS)  # 1-based rows of the elements
        k_cell = f"$B${last + 1}"
        for i, key in enumerate(ELEMENTS):
            r = head + 1 + i
            x = r + 1  # 1-based
            element = by_key.get(key)
            total, n = (element.total, element.answers) if element else (0, 0)
            sheet.write_number(r, 0, i + 1)
            sheet.write_string(r, 1, f"U{i + 1}")
            sheet.write_string(r, 2, ELEMENT_NAMES[key])
            column = SCORE_COLUMNS[i]
            sums = "+".join(f"'{s.name}'!{column}{s.totals_row + 1}" for s in self.sheets.values())
            counts = "+".join(
                f"'{s.name}'!{column}{s.totals_row + 2}" for s in self.sheets.values()
            )
            sheet.write_formula(r, 3, f"={sums}", fmt.int, total)
            sheet.write_formula(r, 4, f"={counts}", fmt.int, n)
            blank = f'IF(E{x}>0,{{}},"")'
            sheet.write_formula(
                r, 5, "=" + blank.format(f"D{x}/E{x}"), fmt.nrr, total / n if n else ""
            )
            # NRR half-up to 3 decimals: floor((2000·T + n) / 2n) / 1000, in integers.
            sheet.write_formula(
                r,
                6,
                "=" + blank.format(f"INT((2000*D{x}+E{x})/(2*E{x}))/1000"),
                fmt.nrr,
                element.nrr if element else "",
            )
            sheet.write_formula(
                r, 7, "=" + blank.format(f"1/{k_cell}"), fmt.weight, 1 / k if n else ""
            )
            sheet.write_formula(
                r, 8, "=" + blank.format(f"F{x}*H{x}"), fmt.six, total / n / k if n else ""
            )
            # NRR × 25 half-up to 2 decimals: floor((5000·T + n) / 2n) / 100.
            sheet.write_formula(
                r,
                9,
                "=" + blank.format(f"INT((5000*D{x}+E{x})/(2*E{x}))/100"),
                fmt.ikm,
                element.ikm if element else "",
            )
            mutu = element.grade.mutu if element else ""
            sheet.write_formula(r, 10, "=" + blank.format(_grade_formula(f"J{x}")), None, mutu)
            self._exact_rounding(sheet, r, x, total, n)
        self._headline(sheet, last, first, k, k_cell)

    def _exact_rounding(self, sheet: Worksheet, r: int, x: int, total: int, n: int) -> None:
        """Per element, for c = 2500 (IKM × 100) and c = 1000 (index × 1000): 2c·T = Q·n + R
        with Q = INT(2c·T/n) and R/n in [0, 1). Then c·Σ(T/n)/k rounded half-up is
        INT((ΣQ + k + INT(Σ R/n)) / 2k): every step an integer, bar Σ R/n, whose integer
        part alone matters (the 1E-9 keeps a sum that is exactly an integer from landing
        just below it; the fractions R/n of complete questionnaires share one denominator,
        so no other sum comes that close)."""
        for column, doubled in ((11, 5000), (13, 2000)):
            q = xl_col_to_name(column)
            quotient = doubled * total // n if n else 0
            sheet.write_formula(
                r, column, f"=IF(E{x}>0,INT({doubled}*D{x}/E{x}),0)", None, quotient
            )
            sheet.write_formula(
                r,
                column + 1,
                f"=IF(E{x}>0,({doubled}*D{x}-E{x}*{q}{x})/E{x},0)",
                None,
                (doubled * total - n * quotient) / n if n else 0,
            )

    def _headline(self, sheet: Worksheet, last: int, first: int, k: int, k_cell: str) -> None:
        fmt, t, pooled = self.fmt, self.t, self.data.source.report.pooled
        r = last  # 0-based row after the elements
        sheet.write_string(r, 0, t("k"), fmt.bold)
        sheet.write_formula(r, 1, f'=COUNTIF(E{first}:E{last},">0")', fmt.int, k)
        weighted_sum = sum(e.total / e.answers for e in pooled.elements) / k if k else ""
        sheet.write_string(r + 1, 0, t("sum_weighted"), fmt.bold)
        sheet.write_formula(
            r + 1, 1, f'=IF({k_cell}>0,SUM(I{first}:I{last}),"")', fmt.six, weighted_sum
        )

        def rounded(column: str, scale: int) -> str:
            q, f = column, xl_col_to_name(ord(column) - ord("A") + 1)
            return (
                f"=IF({k_cell}>0,INT((SUM({q}{first}:{q}{last})+{k_cell}"
                f'+INT(SUM({f}{first}:{f}{last})+1E-9))/(2*{k_cell}))/{scale},"")'
            )

        sheet.write_string(r + 2, 0, t("index"), fmt.bold)
        index_value = pooled.index if pooled.index is not None else ""
        sheet.write_formula(r + 2, 1, rounded("N", 1000), fmt.nrr, index_value)
        sheet.write_string(r + 3, 0, t("ikm"), fmt.bold)
        ikm_value = pooled.ikm if pooled.ikm is not None else ""
        sheet.write_formula(r + 3, 1, rounded("L", 100), fmt.headline, ikm_value)
        ikm_cell = f"B{r + 4}"
        sheet.write_string(r + 4, 0, t("grade"), fmt.bold)
        sheet.write_formula(
            r + 4,
            1,
            f'=IF({k_cell}>0,{_grade_formula(ikm_cell)},"")',
            fmt.headline_text,
            pooled.grade.mutu if pooled.grade else "",
        )
        sheet.write_string(r + 5, 0, t("kinerja"), fmt.bold)
        labels = [g.kinerja if self.lang == "id" else g.kinerja_en for _, g in GRADES]
        choose = ",".join(f'"{label}"' for label in labels)
        grade_cell = f"B{r + 5}"
        sheet.write_formula(
            r + 5,
            1,
            f'=IF({k_cell}>0,INDEX({{{choose}}},MATCH({grade_cell},{{"A","B","C","D"}},0)),"")',
            None,
            (pooled.grade.kinerja if self.lang == "id" else pooled.grade.kinerja_en)
            if pooled.grade
            else "",
        )
        sheet.write_string(r + 6, 0, t("rounding_note"), fmt.note)


def _grade_formula(cell: str) -> str:
    """The grade of an IKM already rounded to 2 decimals, from the grade table."""
    formula = f'"{GRADES[-1][1].mutu}"'
    for lower, grade in reversed(GRADES[:-1]):
        formula = f'IF({cell}>={lower},"{grade.mutu}",{formula})'
    return formula


def _open(data: WorkbookData, path: Path, max_rows: int | None) -> _WorkbookWriter:
    """The workbook, its properties (method, figures' source) and its sheets, begun."""
    report = data.source.report
    created = report.data_updated_at or datetime.combine(data.window.end, datetime.min.time())
    book = Workbook(
        str(path),
        {"constant_memory": True, "tmpdir": str(path.parent), "strings_to_formulas": False},
    )
    book.set_properties(
        {
            "title": f"{text('title', data.lang)} — {data.unit.name}",
            "subject": f"{data.unit.code} {data.window.label or ''}".strip(),
            "author": "SKM service",
            "keywords": f"SKM, {METHOD_ID}",
            "comments": f"method {METHOD_ID}; figures: {data.source.metadata}",
            "created": created.replace(tzinfo=None),
        }
    )
    book.set_custom_property("skm_method", METHOD_ID)
    book.set_custom_property("skm_source", data.source.metadata)
    book.set_custom_property("skm_unit", data.unit.code)
    book.set_custom_property("skm_period", data.window.label or "")
    writer = _WorkbookWriter(book, data, SHEET_ROWS if max_rows is None else max_rows)
    if writer.suggestions is not None:
        annexes.start_suggestions(writer.suggestions, writer.fmt, data.lang)
    return writer


def _finish(writer: _WorkbookWriter) -> Written:
    """Checked against the figures, then the totals, the summary, the annexes; closed."""
    data = writer.data
    _check(writer, data.source.report)
    writer.finish_data_sheets()
    writer.write_summary()
    annexes.write_profile(writer.profile, writer.fmt, data)
    annexes.write_groups(writer.services, writer.fmt, data, "service")
    annexes.write_groups(writer.channels, writer.fmt, data, "channel")
    annexes.write_method(writer.method, writer.fmt, data, writer.number, writer.split)
    writer.book.close()
    return Written(writer.number, tuple(s.name for s in writer.sheets.values()), writer.split)


async def write_workbook(
    conn: AsyncConnection,
    data: WorkbookData,
    path: Path,
    max_rows: int | None = None,
    progress: Progress | None = None,
) -> Written:
    """Write the workbook to `path` (in a directory the caller removes: XlsxWriter keeps
    its temporary files beside it), streaming the respondents from `conn` (the snapshot the
    figures were read in). XlsxWriter runs in a worker thread, a batch at a time, so that
    the event loop serves other requests meanwhile."""
    writer = await asyncio.to_thread(_open, data, path, max_rows)
    expected = data.source.report.pooled.responses
    rows = respondent_batches(
        conn, data.unit, data.window, data.include_suggestions, data.source.received_by
    )
    async for batch in rows:
        await asyncio.to_thread(writer.write_batch, batch)
        if progress is not None:
            progress(writer.number, expected)
    return await asyncio.to_thread(_finish, writer)


def write_workbook_from_memory(
    data: WorkbookData, path: Path, batches: Iterable[Sequence[Any]]
) -> Written:
    """The same workbook from rows already in memory, in this thread: the library's own
    speed, the ceiling `bench.workbook` compares `write_workbook` with."""
    writer = _open(data, path, None)
    for batch in batches:
        writer.write_batch(batch)
    return _finish(writer)


def _check(writer: _WorkbookWriter, report: IndexReport) -> None:
    """The rows streamed are the ones the figures count (one snapshot): same number, same
    sums and counts per element. A difference is a bug, never written out."""
    totals = [sum(s.totals[i] for s in writer.sheets.values()) for i in range(len(ELEMENTS))]
    counts = [sum(s.counts[i] for s in writer.sheets.values()) for i in range(len(ELEMENTS))]
    by_key = {e.key: (e.total, e.answers) for e in report.pooled.elements}
    expected = [by_key.get(key, (0, 0)) for key in ELEMENTS]
    if writer.number != report.pooled.responses or list(zip(totals, counts, strict=True)) != (
        expected
    ):
        raise RuntimeError("the respondent rows do not add up to the figures they annex")


async def generate_workbook(
    database: Database,
    caller: Principal | None,
    code: str,
    window: Span,
    include_suggestions: bool,
    lang: Language,
    directory: Path,
    progress: Progress | None = None,
    live: bool = False,
) -> tuple[Path, Written]:
    """The workbook of a unit's subtree over a period, written in `directory`: figures and
    rows read in one snapshot, on a connection of its own (a long workbook is not cut by
    the request's database time limit). The period's published record when there is one
    and not `live` (`workbook_data.chosen_source`). `caller` None: the command line, on the
    server."""
    async with database.snapshot_engine.connect() as conn:
        unit = await indices.find_unit(conn, code)
        if unit is None:
            raise not_found("unit", code)
        if caller is not None:
            caller.check(unit)
        data = await workbook_data(conn, unit, window, include_suggestions, lang, live=live)
        path = directory / workbook_filename(unit.code, window)
        written = await write_workbook(conn, data, path, progress=progress)
    return path, written


def workbook_filename(code: str, window: Span) -> str:
    label = window.label or f"{window.start.isoformat()}_{window.end.isoformat()}"
    return f"skm-olah-data-{code}-{label}.xlsx"
