"""The compliance overview as documents: an XLSX workbook (XlsxWriter) and a PDF table
(ReportLab), from the same `ComplianceOut` the JSON answer carries — no number is computed
here. Indonesian by default (`88,31`, `30 November 2026`, through Babel), English on request.

The PDF embeds Bitstream Vera (shipped inside ReportLab) and fixes its creation date, so
the same data gives the same bytes.
"""

import io
from datetime import date, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import reportlab
import xlsxwriter
from babel.dates import format_date
from babel.numbers import format_decimal
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from app.followup_schemas import ComplianceOut, ComplianceRow, PeriodCompliance
from app.vocabulary import Language

Lang = Language
LOCALES = {"id": "id_ID", "en": "en_GB"}

TEXTS: dict[str, dict[Lang, str]] = {
    "title": {"id": "Kepatuhan SKM", "en": "SKM compliance"},
    "year": {"id": "Tahun", "en": "Year"},
    "as_of": {"id": "Per tanggal", "en": "As of"},
    "grace": {"id": "Masa tenggang (hari)", "en": "Grace period (days)"},
    "summary": {"id": "Ringkasan", "en": "Summary"},
    "units": {"id": "Unit", "en": "Units"},
    "surveyed": {"id": "Melaksanakan survei", "en": "Surveyed"},
    "sample_met": {"id": "Sampel minimum terpenuhi", "en": "Minimum sample met"},
    "published": {"id": "Hasil dipublikasikan", "en": "Result published"},
    "followed_up": {"id": "Tindak lanjut", "en": "Followed up"},
    "complied": {"id": "Patuh", "en": "Complied"},
    "code": {"id": "Kode", "en": "Code"},
    "name": {"id": "Nama unit", "en": "Unit name"},
    "kind": {"id": "Jenis", "en": "Kind"},
    "parent": {"id": "Induk", "en": "Parent"},
    "required": {"id": "Periode wajib", "en": "Required periods"},
    "period": {"id": "Periode", "en": "Period"},
    "responses": {"id": "Responden", "en": "Responses"},
    "population": {"id": "Populasi", "en": "Population"},
    "minimum": {"id": "Sampel minimum", "en": "Minimum sample"},
    "publication": {"id": "Publikasi", "en": "Publication"},
    "published_at": {"id": "Tanggal publikasi", "en": "Published on"},
    "overdue": {"id": "Terlambat", "en": "Overdue"},
    "plans": {"id": "Rencana tindak lanjut", "en": "Follow-up plans"},
    "items": {"id": "Butir", "en": "Items"},
    "done": {"id": "Selesai", "en": "Done"},
    "due": {"id": "Berjalan", "en": "Due"},
    "items_overdue": {"id": "Lewat target", "en": "Overdue"},
    "ikm": {"id": "IKM", "en": "IKM"},
    "grade": {"id": "Mutu", "en": "Grade"},
    "previous_ikm": {"id": "IKM tahun lalu", "en": "Previous year's IKM"},
    "change": {"id": "Perubahan", "en": "Change"},
    "yes": {"id": "ya", "en": "yes"},
    "no": {"id": "tidak", "en": "no"},
    "unknown": {"id": "–", "en": "–"},
    "year_p": {"id": "tahunan", "en": "yearly"},
    "semester_p": {"id": "semesteran", "en": "half-yearly"},
    "quarter_p": {"id": "triwulanan", "en": "quarterly"},
    "method": {"id": "Metode", "en": "Method"},
    "ended_periods": {"id": "Periode berakhir", "en": "Ended periods"},
}


def text(key: str, lang: Lang) -> str:
    return TEXTS[key][lang]


def number(value: float | int | None, lang: Lang, places: int = 0) -> str:
    if value is None:
        return "–"
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return format_decimal(value, format=pattern, locale=LOCALES[lang])


def signed_number(value: float | None, lang: Lang, places: int) -> str:
    if value is None:
        return "–"
    shown = number(abs(value), lang, places)
    return ("+" if value > 0 else "−" if value < 0 else "") + shown


def day(value: date | datetime | None, lang: Lang) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        value = value.date()
    return format_date(value, format="d MMMM y", locale=LOCALES[lang])


def yes_no(value: bool | None, lang: Lang) -> str:
    return text("unknown", lang) if value is None else text("yes" if value else "no", lang)


def _ended(row: ComplianceRow) -> list[PeriodCompliance]:
    return [p for p in row.periods if p.ended]


# --- the workbook ----------------------------------------------------------------------------


def workbook(data: ComplianceOut, lang: Lang = "id") -> bytes:
    """Three sheets: the summary, one row per unit, one row per unit and required period."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    book.set_properties(
        {"title": f"{text('title', lang)} {data.unit.name} {data.year}", "created": _epoch()}
    )
    bold = book.add_format({"bold": True})
    ikm_format = book.add_format({"num_format": "0.00"})

    summary = book.add_worksheet(text("summary", lang))
    facts: list[tuple[str, object]] = [
        (text("title", lang), f"{data.unit.name} ({data.unit.code})"),
        (text("year", lang), data.year),
        (text("as_of", lang), data.as_of),
        (text("grace", lang), data.grace_days),
        (text("units", lang), data.summary.units),
        (text("surveyed", lang), data.summary.surveyed),
        (text("sample_met", lang), data.summary.sample_met),
        (text("published", lang), data.summary.published),
        (text("followed_up", lang), data.summary.followed_up),
        (text("complied", lang), data.summary.complied),
        (text("method", lang), data.method),
    ]
    for r, (label, value) in enumerate(facts):
        summary.write_string(r, 0, label, bold)
        if isinstance(value, date):
            summary.write_string(r, 1, value.isoformat())
        elif isinstance(value, int):
            summary.write_number(r, 1, value)
        else:
            summary.write_string(r, 1, str(value))
    summary.set_column(0, 0, 28)
    summary.set_column(1, 1, 60)

    units = book.add_worksheet(text("units", lang))
    headers = [
        "code",
        "name",
        "kind",
        "parent",
        "required",
        "ended_periods",
        "responses",
        "surveyed",
        "sample_met",
        "published",
        "overdue",
        "plans",
        "items",
        "done",
        "due",
        "items_overdue",
        "followed_up",
        "ikm",
        "grade",
        "previous_ikm",
        "change",
        "complied",
    ]
    units.write_row(0, 0, [text(h, lang) for h in headers], bold)
    for r, row in enumerate(data.rows, start=1):
        ended = _ended(row)
        cells: list[object] = [
            row.unit.code,
            row.unit.name,
            row.kind,
            row.parent or "",
            text(f"{row.required_periods}_p", lang),
            len(ended),
            sum(p.responses for p in row.periods),
            yes_no(row.surveyed, lang),
            yes_no(row.sample_met, lang),
            yes_no(row.published, lang),
            sum(p.overdue for p in row.periods),
            ", ".join(row.plans),
            row.plan_items.items,
            row.plan_items.done,
            row.plan_items.due,
            row.plan_items.overdue,
            yes_no(row.followed_up, lang),
            row.ikm,
            row.grade.mutu if row.grade else "",
            row.previous_ikm,
            row.change,
            yes_no(row.complied, lang),
        ]
        for c, value in enumerate(cells):
            if value is None:
                units.write_blank(r, c, None)
            elif isinstance(value, bool):
                units.write_string(r, c, yes_no(value, lang))
            elif isinstance(value, float):
                units.write_number(r, c, value, ikm_format)
            elif isinstance(value, int):
                units.write_number(r, c, value)
            else:
                units.write_string(r, c, str(value))
    units.freeze_panes(1, 2)
    units.autofilter(0, 0, max(len(data.rows), 1), len(headers) - 1)

    periods = book.add_worksheet(text("period", lang))
    period_headers = [
        "code",
        "name",
        "period",
        "responses",
        "population",
        "minimum",
        "sample_met",
        "publication",
        "published_at",
        "overdue",
    ]
    periods.write_row(0, 0, [text(h, lang) for h in period_headers], bold)
    r = 1
    for row in data.rows:
        for p in row.periods:
            periods.write_string(r, 0, row.unit.code)
            periods.write_string(r, 1, row.unit.name)
            periods.write_string(r, 2, p.period.label or "")
            periods.write_number(r, 3, p.responses)
            _number_or_blank(periods, r, 4, p.population)
            _number_or_blank(periods, r, 5, p.minimum_sample)
            periods.write_string(r, 6, yes_no(p.sample_met, lang))
            _number_or_blank(periods, r, 7, p.publication_id)
            if p.published_at is not None:
                periods.write_string(r, 8, p.published_at.isoformat())
            else:
                periods.write_blank(r, 8, None)
            periods.write_string(r, 9, yes_no(p.overdue, lang))
            r += 1
    periods.freeze_panes(1, 3)
    book.close()
    return buffer.getvalue()


def _number_or_blank(
    sheet: "xlsxwriter.worksheet.Worksheet", r: int, c: int, value: int | None
) -> None:
    if value is None:
        sheet.write_blank(r, c, None)
    else:
        sheet.write_number(r, c, value)


def _epoch() -> datetime:
    """A fixed creation date: the same data gives the same workbook."""
    return datetime(2000, 1, 1)  # noqa: DTZ001 — XLSX document properties are naive


# --- the PDF table ---------------------------------------------------------------------------

FONT = "SKMVera"
FONT_BOLD = "SKMVera-Bold"


def _fonts() -> None:
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    shipped = Path(reportlab.__file__).parent / "fonts"
    pdfmetrics.registerFont(TTFont(FONT, str(shipped / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(shipped / "VeraBd.ttf")))


def pdf_table(data: ComplianceOut, lang: Lang = "id") -> bytes:
    """A landscape A4 table: one row per unit, the summary above it."""
    _fonts()
    buffer = io.BytesIO()
    title = f"{text('title', lang)} {data.year}: {data.unit.name}"
    document = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=title,
        author="SKM service",
        invariant=1,
    )
    heading = ParagraphStyle("heading", fontName=FONT_BOLD, fontSize=14, leading=18)
    body = ParagraphStyle("body", fontName=FONT, fontSize=8, leading=10)
    cell = ParagraphStyle("cell", fontName=FONT, fontSize=7, leading=8.5)
    s = data.summary
    story: list[Flowable] = [
        Paragraph(escape(title), heading),
        Paragraph(
            f"{text('as_of', lang)} {day(data.as_of, lang)} · {text('grace', lang)}: "
            f"{data.grace_days}",
            body,
        ),
        Spacer(1, 3 * mm),
        Paragraph(
            f"{text('units', lang)}: {s.units} · {text('surveyed', lang)}: {s.surveyed} · "
            f"{text('sample_met', lang)}: {s.sample_met} · {text('published', lang)}: "
            f"{s.published} · {text('followed_up', lang)}: {s.followed_up} · "
            f"{text('complied', lang)}: {s.complied}",
            body,
        ),
        Spacer(1, 3 * mm),
    ]
    columns = [
        "code",
        "name",
        "required",
        "responses",
        "surveyed",
        "sample_met",
        "published",
        "items",
        "done",
        "due",
        "items_overdue",
        "followed_up",
        "ikm",
        "grade",
        "change",
        "complied",
    ]
    table: list[list[object]] = [[Paragraph(text(c, lang), cell) for c in columns]]
    for row in data.rows:
        table.append(
            [
                row.unit.code,
                # A Paragraph (wrapped) only where a name needs it: laying out 600 of them
                # costs most of a city's table.
                Paragraph(escape(row.unit.name), cell)
                if len(row.unit.name) > 34
                else row.unit.name,
                text(f"{row.required_periods}_p", lang),
                number(sum(p.responses for p in row.periods), lang),
                yes_no(row.surveyed, lang),
                yes_no(row.sample_met, lang),
                yes_no(row.published, lang),
                number(row.plan_items.items, lang),
                number(row.plan_items.done, lang),
                number(row.plan_items.due, lang),
                number(row.plan_items.overdue, lang),
                yes_no(row.followed_up, lang),
                number(row.ikm, lang, 2),
                row.grade.mutu if row.grade else "–",
                signed_number(row.change, lang, 2),
                yes_no(row.complied, lang),
            ]
        )
    widths = [24, 52, 20, 17, 15, 15, 15, 11, 11, 11, 13, 15, 14, 10, 15, 13]
    grid = Table(table, colWidths=[w * mm for w in widths], repeatRows=1)
    grid.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("FONTSIZE", (0, 0), (-1, -1), 7),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde4ee")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (3, 1), (-1, -1), "RIGHT"),
            ]
        )
    )
    story.append(grid)
    story += [Spacer(1, 3 * mm), Paragraph(f"{text('method', lang)}: {data.method}", cell)]
    document.build(story)
    return buffer.getvalue()
