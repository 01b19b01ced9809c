"""Vector charts (reportlab.graphics) for the documents: per-element bars over the grade
bands, the trend line, and profile distributions. Figures are drawn as given (already
rounded by the method); a chart never computes an index."""

from reportlab.graphics.shapes import Circle, Drawing, Line, PolyLine, Rect, String
from reportlab.lib.colors import Color

from app.documents.pdf import BOLD, GRADE_COLOURS, GRADE_TINTS, INK, MUTED, RULE, SANS, grade_bands
from app.documents.texts import Words
from app.schemas import ElementOut, IndexValue, PublicElement, PublicValue, SeriesOut

LABEL_WIDTH = 170.0


def _rect(x: float, y: float, width: float, height: float, fill: Color) -> Rect:
    """A filled rectangle without an outline."""
    rect = Rect(x, y, width, height)
    rect.fillColor = fill
    rect.strokeColor = None
    return rect


def element_bars(value: IndexValue | PublicValue, words: Words, width: float) -> Drawing:
    """One bar per answered element on the 1–4 scale, over the grade bands D, C, B, A."""
    row = 18.0
    top_pad, bottom_pad = 16.0, 22.0
    height = top_pad + bottom_pad + row * len(value.elements)
    drawing = Drawing(width, height)
    x0 = LABEL_WIDTH
    span = width - x0 - 40

    def x(score: float) -> float:
        return x0 + (score - 1) / 3 * span

    plot_top = height - top_pad
    for mutu, lower, upper in grade_bands():
        drawing.add(
            _rect(
                x(float(lower)),
                bottom_pad,
                x(float(upper)) - x(float(lower)),
                plot_top - bottom_pad,
                GRADE_TINTS[mutu],
            )
        )
        drawing.add(
            String(
                (x(float(lower)) + x(float(upper))) / 2,
                plot_top + 4,
                mutu,
                fontName=BOLD,
                fontSize=8,
                fillColor=GRADE_COLOURS[mutu],
                textAnchor="middle",
            )
        )
    for tick in (1, 2, 3, 4):
        drawing.add(Line(x(tick), bottom_pad - 3, x(tick), plot_top, strokeColor=RULE))
        drawing.add(
            String(
                x(tick),
                bottom_pad - 13,
                words.number(tick, 0),
                fontName=SANS,
                fontSize=7,
                fillColor=MUTED,
                textAnchor="middle",
            )
        )
    elements: list[ElementOut | PublicElement] = [*value.elements]
    for i, element in enumerate(elements):
        y = plot_top - (i + 1) * row + 4
        name = words.element(element.key)
        if len(name) > 34:
            name = name[:33] + "…"
        drawing.add(
            String(
                x0 - 6, y + 3, name, fontName=SANS, fontSize=7.5, fillColor=INK, textAnchor="end"
            )
        )
        drawing.add(_rect(x0, y, x(element.nrr) - x0, row - 7, GRADE_COLOURS[element.grade.mutu]))
        drawing.add(
            String(
                x(element.nrr) + 4,
                y + 2.5,
                words.number(element.nrr, 3),
                fontName=SANS,
                fontSize=7,
                fillColor=INK,
            )
        )
    return drawing


def trend_line(series: SeriesOut, words: Words, width: float) -> Drawing:
    """The IKM of each period of the series (gaps where a period had no responses)."""
    height = 150.0
    drawing = Drawing(width, height)
    left, right, bottom, top = 36.0, 16.0, 28.0, 12.0
    values = [p.value.ikm for p in series.points]
    known = [v for v in values if v is not None]
    low = 25.0 if not known else max(25.0, (min(known) // 5) * 5 - 5)
    high = 100.0 if not known else min(100.0, (max(known) // 5) * 5 + 10)
    count = max(len(values), 1)

    def x(i: int) -> float:
        return left + (i + 0.5) * (width - left - right) / count

    def y(v: float) -> float:
        return bottom + (v - low) / (high - low) * (height - bottom - top)

    for mutu, lower, upper in grade_bands():
        lo, hi = max(float(lower) * 25, low), min(float(upper) * 25, high)
        if hi > lo:
            drawing.add(_rect(left, y(lo), width - left - right, y(hi) - y(lo), GRADE_TINTS[mutu]))
    tick = low
    while tick <= high:
        drawing.add(Line(left, y(tick), width - right, y(tick), strokeColor=RULE, strokeWidth=0.4))
        drawing.add(
            String(
                left - 4,
                y(tick) - 2.5,
                words.number(tick, 0),
                fontName=SANS,
                fontSize=7,
                fillColor=MUTED,
                textAnchor="end",
            )
        )
        tick += 5 if high - low <= 40 else 10
    run: list[float] = []
    for i, (point, v) in enumerate(zip(series.points, values, strict=True)):
        label = point.period.label or ""
        drawing.add(
            String(x(i), 10, label, fontName=SANS, fontSize=7, fillColor=INK, textAnchor="middle")
        )
        if v is None:
            if len(run) >= 4:
                drawing.add(PolyLine(run, strokeColor=INK, strokeWidth=1.2))
            run = []
            continue
        run += [x(i), y(v)]
        drawing.add(Circle(x(i), y(v), 2.6, fillColor=INK, strokeColor=None))
        drawing.add(
            String(
                x(i),
                y(v) + 6,
                words.number(v, 2),
                fontName=BOLD,
                fontSize=7,
                fillColor=INK,
                textAnchor="middle",
            )
        )
    if len(run) >= 4:
        drawing.add(PolyLine(run, strokeColor=INK, strokeWidth=1.2))
    return drawing


def distribution(rows: list[tuple[str, int]], words: Words, width: float) -> Drawing:
    """Horizontal bars of counts (a profile field's options)."""
    row = 13.0
    height = row * len(rows) + 4
    drawing = Drawing(width, height)
    x0 = 110.0
    span = width - x0 - 50
    biggest = max((count for _, count in rows), default=0) or 1
    for i, (label, count) in enumerate(rows):
        y = height - (i + 1) * row
        drawing.add(
            String(
                x0 - 5,
                y + 3,
                label[:24],
                fontName=SANS,
                fontSize=7,
                fillColor=INK,
                textAnchor="end",
            )
        )
        drawing.add(_rect(x0, y + 1, span * count / biggest, row - 4, GRADE_COLOURS["B"]))
        drawing.add(
            String(
                x0 + span * count / biggest + 3,
                y + 3,
                words.count(count),
                fontName=SANS,
                fontSize=7,
                fillColor=MUTED,
            )
        )
    return drawing
