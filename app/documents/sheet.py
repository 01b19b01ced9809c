"""The printable questionnaire (PDF, A4, one page per sheet) for a unit and its survey
version: the unit's services to tick, the nine elements with the version's wording and
options, the profile bands, a suggestion box, and the sheet's code written out and as a QR
code. Indonesian by default, English on request; dates through Babel. The data object is
the unit's form (`app.forms.unit_form`, what a kiosk gets), so a sheet asks what a kiosk
asks. Fonts are shipped (DejaVu Sans) and embedded; the same data gives the same bytes."""

import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from babel.dates import format_date
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from app.imports.codes import printed
from app.schemas import FormOut, LocalizedText
from app.standard_survey import PROFILE_LABELS, PROFILE_OPTIONS

FONTS = Path(__file__).parent / "fonts"
REGULAR, BOLD = "DejaVuSans", "DejaVuSans-Bold"
MARGIN = 36
QR_SIZE = 74

# Texts of each language, in one place.
TEXTS: dict[str, dict[str, str]] = {
    "id": {
        "title": "SURVEI KEPUASAN MASYARAKAT",
        "code": "Kode lembar",
        "date": "Tanggal pengisian: ____ / ____ / ________",
        "services": "Layanan yang diterima (centang satu):",
        "elements": "Beri tanda centang (✓) pada satu jawaban untuk setiap pertanyaan.",
        "profile": "Profil responden (tidak wajib):",
        "suggestion": "Saran dan masukan:",
        "printed": "Dicetak {date} · lembar {n} dari {total} · tanpa nama, NIK atau nomor telepon",
    },
    "en": {
        "title": "PUBLIC SATISFACTION SURVEY",
        "code": "Sheet code",
        "date": "Date: ____ / ____ / ________",
        "services": "Service received (tick one):",
        "elements": "Tick (✓) one answer for each question.",
        "profile": "About you (optional):",
        "suggestion": "Suggestions:",
        "printed": "Printed {date} · sheet {n} of {total} · no name, ID number or phone number",
    },
}


@dataclass(frozen=True)
class SheetRun:
    """What a print run prints: the unit's form, its codes, the language and the day."""

    form: FormOut
    codes: list[str]
    language: str
    printed_on: date


def _register_fonts() -> None:
    if REGULAR not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(REGULAR, str(FONTS / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(BOLD, str(FONTS / "DejaVuSans-Bold.ttf")))


def _text(label: LocalizedText, language: str) -> str:
    return (label.en if language == "en" else None) or label.id


class _Page:
    """One sheet drawn top-down: `y` is where the next line goes."""

    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas
        self.width, self.height = A4
        self.y = self.height - MARGIN

    def lines(
        self,
        text: str,
        size: float,
        bold: bool = False,
        indent: float = 0,
        width: float | None = None,
    ) -> None:
        font = BOLD if bold else REGULAR
        usable = (width or self.width - 2 * MARGIN) - indent
        for line in simpleSplit(text, font, size, usable):
            self.y -= size * 1.25
            self.canvas.setFont(font, size)
            self.canvas.drawString(MARGIN + indent, self.y, line)

    def boxes(self, labels: list[str], size: float, indent: float = 0, columns: int = 4) -> None:
        """Tick boxes with their labels, `columns` to a line."""
        usable = self.width - 2 * MARGIN - indent
        step = usable / columns
        for start in range(0, len(labels), columns):
            row = labels[start : start + columns]
            wrapped = [simpleSplit(label, REGULAR, size, step - size - 8) for label in row]
            height = max(len(w) for w in wrapped) * size * 1.2
            self.y -= size * 1.35
            for column, lines in enumerate(wrapped):
                x = MARGIN + indent + column * step
                self.canvas.rect(x, self.y - 1, size, size)
                self.canvas.setFont(REGULAR, size)
                for i, line in enumerate(lines):
                    self.canvas.drawString(x + size + 4, self.y - i * size * 1.2, line)
            self.y -= height - size * 1.2


def _draw_sheet(canvas: Canvas, run: SheetRun, code: str, number: int) -> None:
    texts = TEXTS[run.language]
    form = run.form
    language = run.language
    page = _Page(canvas)
    canvas.setLineWidth(0.6)
    # The code, written out and as a QR code, in the top right corner.
    widget = QrCodeWidget(printed(code), barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(
        QR_SIZE, QR_SIZE, transform=[QR_SIZE / (x1 - x0), 0, 0, QR_SIZE / (y1 - y0), 0, 0]
    )
    drawing.add(widget)
    qr_x = page.width - MARGIN - QR_SIZE
    renderPDF.draw(drawing, canvas, qr_x, page.height - MARGIN - QR_SIZE)
    canvas.setFont(BOLD, 10)
    canvas.drawCentredString(qr_x + QR_SIZE / 2, page.height - MARGIN - QR_SIZE - 10, printed(code))
    canvas.setFont(REGULAR, 6.5)
    canvas.drawCentredString(qr_x + QR_SIZE / 2, page.height - MARGIN - QR_SIZE - 18, texts["code"])
    head_width = page.width - 2 * MARGIN - QR_SIZE - 12
    page.lines(texts["title"], 13, bold=True, width=head_width)
    page.lines(form.unit.name, 11, bold=True, width=head_width)
    page.lines(_text(form.survey_version.definition.title, language), 8.5, width=head_width)
    page.y -= 6
    page.lines(texts["date"], 9, width=head_width)
    page.y = min(page.y, page.height - MARGIN - QR_SIZE - 22)
    page.lines(texts["services"], 9, bold=True)
    page.boxes([f"{s.name}" for s in form.services], 8.5, columns=3)
    page.y -= 4
    page.lines(texts["elements"], 8.5)
    definition = form.survey_version.definition
    for position, question in enumerate(definition.questions, start=1):
        page.y -= 3
        page.lines(f"{position}. {_text(question.text, language)}", 8.5, bold=True)
        options = sorted(question.options, key=lambda o: o.score)
        page.boxes([f"{_text(o.label, language)}" for o in options], 8, indent=12)
    if form.profile_fields:
        page.y -= 6
        page.lines(texts["profile"], 9, bold=True)
        for profile in form.profile_fields:
            label_id, label_en = PROFILE_LABELS[profile.field]
            page.lines(label_en if language == "en" else label_id, 8)
            names = [
                (en if language == "en" else id_)
                for id_, en in PROFILE_OPTIONS[profile.field].values()
            ]
            page.y += 8 * 1.25
            page.boxes(names, 7.5, indent=92, columns=4)
    page.y -= 6
    page.lines(
        _text(definition.suggestion_prompt, language)
        if definition.suggestion_prompt
        else texts["suggestion"],
        9,
        bold=True,
    )
    box_top = page.y - 4
    box_bottom = MARGIN + 16
    if box_top - box_bottom > 20:
        canvas.rect(MARGIN, box_bottom, page.width - 2 * MARGIN, box_top - box_bottom)
    canvas.setFont(REGULAR, 6.5)
    day = format_date(run.printed_on, format="long", locale="en" if language == "en" else "id")
    footer = texts["printed"].format(date=day, n=number, total=len(run.codes))
    canvas.drawString(MARGIN, MARGIN, f"{printed(code)} · {footer}")


def render(run: SheetRun) -> bytes:
    """The print run's sheets as one PDF, one A4 page per code."""
    _register_fonts()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=True, pageCompression=1)
    title = "Kuesioner SKM" if run.language == "id" else "SKM questionnaire"
    canvas.setTitle(f"{title}: {run.form.unit.name}")
    canvas.setCreator("SKM service")
    for number, code in enumerate(run.codes, start=1):
        _draw_sheet(canvas, run, code, number)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()
