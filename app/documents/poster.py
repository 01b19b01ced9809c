"""The poster (Infografis SKM): one A4 page a service mall prints and hangs at the counter —
the unit, the period, the IKM in large type with its grade letter and label, the nine
elements' values, the number of respondents, and a QR code to the unit's public result
when the unit is public. PDF, and PNG rendered from that PDF (PDFium) for screens."""

import io

import pypdfium2
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import cm
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfgen.canvas import Canvas

from app.documents.figures import Figures
from app.documents.pdf import (
    ACCENT,
    BOLD,
    GRADE_COLOURS,
    GRADE_TINTS,
    INK,
    MUTED,
    RULE,
    SANS,
    footer,
    register_fonts,
    set_metadata,
)
from app.documents.texts import Lang, Words
from app.schemas import ElementOut, PublicElement

WIDTH, HEIGHT = A4
PNG_DPI = 150


def _centred_lines(
    canvas: Canvas, lines: str, font: str, size: float, y: float, width: float, leading: float
) -> float:
    """Draw text centred, wrapped to `width`; the y below the last line."""
    for line in simpleSplit(lines, font, size, width):
        canvas.setFont(font, size)
        canvas.drawCentredString(WIDTH / 2, y, line)
        y -= leading
    return y


def _qr(canvas: Canvas, url: str, x: float, y: float, size: float) -> None:
    widget = QrCodeWidget(url, barLevel="M")
    left, bottom, right, top = widget.getBounds()
    drawing = Drawing(
        size, size, transform=[size / (right - left), 0, 0, size / (top - bottom), 0, 0]
    )
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, y)


def poster_pdf(figures: Figures, lang: Lang = "id", public_url: str | None = None) -> bytes:
    """The poster as PDF bytes. `public_url` (the unit's public result) becomes a QR code;
    give it only for a public unit."""
    register_fonts()
    words = Words(lang)
    value = figures.headline
    period = words.period(figures.window.label, figures.window.start, figures.window.end)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1)
    title = f"{words('poster_title')} — {figures.unit.name} — {period}"
    set_metadata(canvas, figures, words, title)

    # Header band: logo, title, unit, period.
    band = 5.2 * cm
    canvas.setFillColor(ACCENT)
    canvas.rect(0, HEIGHT - band, WIDTH, band, stroke=0, fill=1)
    logo = figures.settings.logo
    if logo is not None:
        reader = ImageReader(io.BytesIO(logo))
        w, h = reader.getSize()
        box = 2.6 * cm
        scale = min(box / w, box / h)
        canvas.setFillColor(colors.white)
        canvas.roundRect(
            1.2 * cm, HEIGHT - band + 1.2 * cm, box + 0.4 * cm, box + 0.4 * cm, 6, stroke=0, fill=1
        )
        canvas.drawImage(
            reader,
            1.4 * cm + (box - w * scale) / 2,
            HEIGHT - band + 1.4 * cm + (box - h * scale) / 2,
            w * scale,
            h * scale,
            mask="auto",
        )
    canvas.setFillColor(colors.white)
    y = _centred_lines(
        canvas, words("poster_title"), BOLD, 22, HEIGHT - 1.9 * cm, WIDTH - 9 * cm, 26
    )
    y = _centred_lines(canvas, figures.unit.name, BOLD, 15, y - 4, WIDTH - 9 * cm, 18)
    _centred_lines(canvas, period, SANS, 12, y - 2, WIDTH - 9 * cm, 15)

    top = HEIGHT - band - 1.2 * cm
    if value.ikm is None or value.grade is None:
        canvas.setFillColor(INK)
        _centred_lines(
            canvas, words("conclusion_empty"), BOLD, 18, top - 4 * cm, WIDTH - 4 * cm, 22
        )
    else:
        mutu = value.grade.mutu
        # The IKM, large, with its grade letter and label.
        canvas.setFillColor(GRADE_TINTS[mutu])
        canvas.roundRect(2 * cm, top - 7.6 * cm, WIDTH - 4 * cm, 7.6 * cm, 14, stroke=0, fill=1)
        canvas.setFillColor(MUTED)
        canvas.setFont(SANS, 12)
        canvas.drawCentredString(WIDTH / 2 - 3 * cm, top - 1.1 * cm, words("ikm_heading"))
        canvas.setFillColor(INK)
        canvas.setFont(BOLD, 78)
        canvas.drawCentredString(WIDTH / 2 - 3 * cm, top - 4.4 * cm, words.number(value.ikm, 2))
        canvas.setFont(SANS, 12)
        canvas.drawCentredString(
            WIDTH / 2 - 3 * cm,
            top - 5.6 * cm,
            words("poster_respondents", n=words.count(value.responses)),
        )
        centre_x, centre_y = WIDTH / 2 + 5.2 * cm, top - 3.4 * cm
        canvas.setFillColor(GRADE_COLOURS[mutu])
        canvas.circle(centre_x, centre_y, 2.1 * cm, stroke=0, fill=1)
        canvas.setFillColor(colors.white)
        canvas.setFont(BOLD, 64)
        canvas.drawCentredString(centre_x, centre_y - 0.8 * cm, mutu)
        canvas.setFillColor(GRADE_COLOURS[mutu])
        canvas.setFont(BOLD, 17)
        canvas.drawCentredString(centre_x, top - 6.6 * cm, words.grade_label(mutu))
        canvas.setFillColor(MUTED)
        canvas.setFont(SANS, 9)
        canvas.drawCentredString(WIDTH / 2 - 3 * cm, top - 6.6 * cm, f"{words('grade')} {mutu}")

        # The nine elements: a 3 × 3 grid of their values (NRR × 25, and the NRR).
        canvas.setFillColor(INK)
        canvas.setFont(BOLD, 12)
        grid_top = top - 8.7 * cm
        canvas.drawCentredString(WIDTH / 2, grid_top, words("poster_elements"))
        cell_w, cell_h = (WIDTH - 4 * cm) / 3, 3.0 * cm
        elements: list[ElementOut | PublicElement] = [*value.elements]
        for i, element in enumerate(elements):
            col, row = i % 3, i // 3
            x = 2 * cm + col * cell_w
            yb = grid_top - 0.5 * cm - (row + 1) * cell_h
            canvas.setStrokeColor(RULE)
            canvas.setFillColor(colors.white)
            canvas.roundRect(x + 3, yb + 3, cell_w - 6, cell_h - 6, 8, stroke=1, fill=1)
            canvas.setFillColor(GRADE_COLOURS[element.grade.mutu])
            canvas.roundRect(x + 3, yb + 3, 6, cell_h - 6, 3, stroke=0, fill=1)
            canvas.setFillColor(INK)
            name_y = yb + cell_h - 0.75 * cm
            for line in simpleSplit(words.element(element.key), SANS, 8.5, cell_w - 0.9 * cm)[:2]:
                canvas.setFont(SANS, 8.5)
                canvas.drawString(x + 0.55 * cm, name_y, line)
                name_y -= 10
            canvas.setFont(BOLD, 20)
            canvas.drawString(x + 0.55 * cm, yb + 0.65 * cm, words.number(element.ikm, 2))
            canvas.setFont(SANS, 8)
            canvas.setFillColor(MUTED)
            canvas.drawRightString(
                x + cell_w - 0.45 * cm,
                yb + 1.5 * cm,
                f"NRR {words.number(element.nrr, 3)} · {element.grade.mutu}",
            )

    # The QR code to the public result, or a thank-you line.
    bottom = 2.4 * cm
    canvas.setFillColor(INK)
    if public_url is not None:
        size = 3.6 * cm
        _qr(canvas, public_url, WIDTH - 2 * cm - size, bottom, size)
        canvas.setFont(BOLD, 12)
        canvas.drawString(2 * cm, bottom + 2.4 * cm, words("poster_scan"))
        canvas.setFont(SANS, 8)
        canvas.setFillColor(MUTED)
        canvas.drawString(2 * cm, bottom + 1.8 * cm, public_url[:90])
        canvas.setFillColor(INK)
        canvas.setFont(SANS, 11)
        canvas.drawString(2 * cm, bottom + 0.6 * cm, words("poster_thanks"))
    else:
        canvas.setFont(BOLD, 14)
        canvas.drawCentredString(WIDTH / 2, bottom + 1.4 * cm, words("poster_thanks"))
    footer(canvas, figures, words, None, WIDTH)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def poster_png(pdf: bytes, dpi: int = PNG_DPI) -> bytes:
    """The poster's PDF rendered to PNG (PDFium), for screens."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        bitmap = document[0].render(scale=dpi / 72)
        image = bitmap.to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG", compress_level=3)  # level 6 takes twice as long
        return out.getvalue()
    finally:
        document.close()
