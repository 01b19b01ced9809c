"""What the PDF documents share: the embedded fonts, colours, grade bands, styles, the
metadata and the footer that name the method and the source of the figures."""

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from app.documents.figures import Figures
from app.documents.texts import Words
from app.method import GRADES, IKM_FACTOR

FONTS: Final = Path(__file__).resolve().parent / "fonts"
SANS: Final = "SKMSans"
BOLD: Final = "SKMSans-Bold"

GRADE_COLOURS: Final = {
    "A": colors.HexColor("#1a7f37"),
    "B": colors.HexColor("#2f6fb3"),
    "C": colors.HexColor("#c27c0e"),
    "D": colors.HexColor("#b42318"),
}
GRADE_TINTS: Final = {
    "A": colors.HexColor("#dcf1e2"),
    "B": colors.HexColor("#dce8f6"),
    "C": colors.HexColor("#f8ebd3"),
    "D": colors.HexColor("#f7dcda"),
}
INK: Final = colors.HexColor("#1f2933")
MUTED: Final = colors.HexColor("#5f6b7a")
RULE: Final = colors.HexColor("#c9d1db")
ACCENT: Final = colors.HexColor("#0b4f71")


@cache
def register_fonts() -> None:
    """DejaVu Sans (shipped with the package, full Latin coverage), embedded in every PDF."""
    pdfmetrics.registerFont(TTFont(SANS, str(FONTS / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(FONTS / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(SANS, normal=SANS, bold=BOLD, italic=SANS, boldItalic=BOLD)


def grade_bands() -> list[tuple[str, Decimal, Decimal]]:
    """(mutu, lower, upper) of each grade on the 1–4 NRR scale, lowest first: the method's
    own table (IKM floors ÷ 25)."""
    bands = []
    upper = Decimal(4)
    for lower, grade in GRADES:
        floor = max(lower / IKM_FACTOR, Decimal(1))
        bands.append((grade.mutu, floor, upper))
        upper = floor
    return list(reversed(bands))


@dataclass(frozen=True)
class Styles:
    body: ParagraphStyle
    small: ParagraphStyle
    cell: ParagraphStyle
    cell_bold: ParagraphStyle
    h1: ParagraphStyle
    h2: ParagraphStyle
    title: ParagraphStyle
    centre: ParagraphStyle
    caption: ParagraphStyle


@cache
def styles() -> Styles:
    register_fonts()
    body = ParagraphStyle(
        "body", fontName=SANS, fontSize=10, leading=14.5, textColor=INK, alignment=TA_JUSTIFY
    )
    return Styles(
        body=body,
        small=ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=MUTED),
        cell=ParagraphStyle("cell", parent=body, fontSize=8.5, leading=10.5, alignment=0),
        cell_bold=ParagraphStyle("cellb", parent=body, fontName=BOLD, fontSize=8.5, leading=10.5),
        h1=ParagraphStyle(
            "h1",
            parent=body,
            fontName=BOLD,
            fontSize=14,
            leading=18,
            alignment=TA_CENTER,
            spaceAfter=12,
            textColor=ACCENT,
        ),
        h2=ParagraphStyle(
            "h2", parent=body, fontName=BOLD, fontSize=11, leading=15, spaceBefore=8, spaceAfter=4
        ),
        title=ParagraphStyle(
            "title", parent=body, fontName=BOLD, fontSize=20, leading=26, alignment=TA_CENTER
        ),
        centre=ParagraphStyle("centre", parent=body, alignment=TA_CENTER),
        caption=ParagraphStyle(
            "caption", parent=body, fontSize=8.5, leading=11, alignment=TA_CENTER, textColor=MUTED
        ),
    )


def text(value: str) -> str:
    """Text for a Paragraph: markup characters escaped (a unit's own texts are not markup)."""
    return escape(value)


def source_line(figures: Figures, words: Words) -> str:
    source = figures.source
    if source.publication_id is None:
        return words("source_live")
    published = source.published_at
    day = words.day(published.date()) if published is not None else ""
    return words("source_published", id=source.publication_id, date=day)


def set_metadata(canvas: Canvas, figures: Figures, words: Words, title: str) -> None:
    """Title, author, subject and keywords naming the method and the source; the dates are
    fixed by the canvas's invariant mode, so the same figures give the same bytes."""
    canvas.setTitle(title)
    canvas.setAuthor(figures.unit.name)
    canvas.setCreator("skm-service")
    canvas.setSubject(
        f"{figures.window.label or ''} · method {figures.method_id} · {figures.source.metadata()}"
    )
    canvas.setKeywords(
        ", ".join(
            [
                f"method:{figures.method_id}",
                f"source:{figures.source.metadata()}",
                f"unit:{figures.unit.code}",
                f"period:{figures.window.label or f'{figures.window.start}..{figures.window.end}'}",
                f"lang:{words.lang}",
            ]
        )
    )


def footer(canvas: Canvas, figures: Figures, words: Words, page: int | None, width: float) -> None:
    canvas.saveState()
    canvas.setFont(SANS, 7)
    canvas.setFillColor(MUTED)
    window = figures.window
    period = words.period(window.label, window.start, window.end)
    left = (
        f"{figures.unit.name} · {period} · {words('method')}: {figures.method_id}"
        f" · {source_line(figures, words)}"
    )
    canvas.drawString(56, 28, left)
    if page is not None:
        canvas.drawRightString(width - 56, 28, f"{words('page')} {page}")
    canvas.restoreState()
