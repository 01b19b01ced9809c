"""The Laporan Hasil SKM (PDF) of a unit and period, as units file it: cover, Kata Pengantar,
Bab I–V and annexes, from one `Figures` object. Layout only: every number is one the API
gives (already rounded by the method), written in the document's language."""

import io
from collections.abc import Callable
from datetime import date
from fractions import Fraction
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import cm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    ListFlowable,
    ListItem,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.doctemplate import BaseDocTemplate
from reportlab.platypus.frames import Frame

from app.documents import charts
from app.documents.figures import Figures
from app.documents.pdf import (
    ACCENT,
    BOLD,
    GRADE_COLOURS,
    MUTED,
    RULE,
    SANS,
    footer,
    grade_bands,
    set_metadata,
    source_line,
    styles,
    text,
)
from app.documents.texts import Lang, Words
from app.evaluation import previous_period
from app.followup_schemas import ChangeOut, EvaluationOut, ItemOut, MeasureOut, PlanOut
from app.method import GRADES, round_half_up
from app.schemas import BreakdownOut, IndexValue, PublicIndex, PublicValue

WIDTH, HEIGHT = A4
MARGIN = 2.2 * cm
CONTENT = WIDTH - 2 * MARGIN
CELL_SIZE = 8.5  # the tables' font size (points)
CELL_PADDING = 6  # ReportLab's default left and right padding of a table cell
LOGO_BOX = 3.2 * cm  # the logo is scaled to fit this square


def _table(rows: list[list[Any]], widths: list[float], header: bool = True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style: list[Any] = [
        ("FONT", (0, 0), (-1, -1), SANS, CELL_SIZE),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.3, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]
    if header:
        style += [
            ("FONT", (0, 0), (-1, 0), BOLD, CELL_SIZE),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")),
        ]
    table.setStyle(TableStyle(style))
    return table


def _items(paragraphs: list[Paragraph]) -> list[Any]:
    """Numbered list items."""
    return [ListItem(p) for p in paragraphs]


class Report:
    """Builds the story of one Laporan."""

    def __init__(self, figures: Figures, lang: Lang) -> None:
        self.f = figures
        self.w = Words(lang)
        self.s = styles()
        self.report = figures.report
        self.value: IndexValue = figures.report.pooled
        self.period = self.w.period(figures.window.label, figures.window.start, figures.window.end)

    # --- small helpers -----------------------------------------------------------------------

    def p(self, body: str, style: str = "body") -> Paragraph:
        return Paragraph(body, getattr(self.s, style))

    def cell(self, value: str, width: float) -> Paragraph | str:
        """A table cell's text: a plain string when it fits on one line (far cheaper to lay
        out than a Paragraph, which a long table has hundreds of), wrapped otherwise."""
        if stringWidth(value, SANS, CELL_SIZE) <= width - 2 * CELL_PADDING:
            return value
        return self.p(text(value), "cell")

    def heading(self, chapter: str, title: str) -> list[Flowable]:
        return [PageBreak(), self.p(f"{self.w('chapter')} {chapter}<br/>{self.w(title)}", "h1")]

    def signed_on(self) -> date:
        """The date under the Kata Pengantar: the publication's day, or the day the figures
        last changed, or the period's end — never today, so the output is reproducible."""
        if self.f.source.published_at is not None:
            return self.f.source.published_at.date()
        if self.report.data_updated_at is not None:
            return self.report.data_updated_at.date()
        return self.f.window.end

    def place(self) -> str:
        return self.f.settings.place or self.f.unit.name

    def element_names(self, keys: list[str]) -> str:
        return ", ".join(self.w.element(k) for k in keys)

    def strongest(self) -> tuple[list[str], float]:
        """The element(s) with the highest NRR (compared exactly, ties together)."""
        highest = max(Fraction(e.nrr_exact) for e in self.value.elements)
        top = [e for e in self.value.elements if Fraction(e.nrr_exact) == highest]
        return [e.key for e in top], top[0].nrr

    # --- parts ------------------------------------------------------------------------------

    def cover(self) -> list[Flowable]:
        story: list[Flowable] = [Spacer(1, 2.5 * cm)]
        logo = self.f.settings.logo
        if logo is not None:
            image = Image(io.BytesIO(logo))
            scale = min(LOGO_BOX / image.imageWidth, LOGO_BOX / image.imageHeight)
            image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
            story += [image, Spacer(1, 1 * cm)]
        else:
            story.append(Spacer(1, LOGO_BOX + 1 * cm))
        story += [
            self.p(self.w("report_title"), "title"),
            self.p(self.w("report_title_2"), "title"),
            Spacer(1, 1.2 * cm),
            self.p(f"<b>{text(self.f.unit.name)}</b>", "centre"),
            Spacer(1, 0.3 * cm),
            self.p(f"{self.w('period')}: {self.period}", "centre"),
            Spacer(1, 0.3 * cm),
            self.p(f"{self.w('source')}: {source_line(self.f, self.w)}", "centre"),
            Spacer(1, 5.4 * cm),
            self.p(text(self.place()), "centre"),
            self.p(str(self.f.window.end.year), "centre"),
            NextPageTemplate("body"),
            PageBreak(),
        ]
        return story

    def foreword(self) -> list[Flowable]:
        settings = self.f.settings
        own = settings.foreword if self.w.lang == "id" else settings.foreword_en
        if own is None:
            body = self.w("default_foreword", unit=self.f.unit.name, period=self.period)
        else:
            body = own
        story: list[Flowable] = [self.p(self.w("foreword"), "h1")]
        story += [self.p(text(part.strip())) for part in body.split("\n\n") if part.strip()]
        story.append(Spacer(1, 0.8 * cm))
        signature = [self.w("signed", place=text(self.place()), date=self.w.day(self.signed_on()))]
        if settings.signatory_title:
            signature.append(text(settings.signatory_title))
        signature.append("<br/><br/><br/>")
        signature.append(f"<b>{text(settings.signatory_name or '')}</b>")
        story.append(
            Table(
                [["", self.p("<br/>".join(signature))]],
                colWidths=[CONTENT * 0.5, CONTENT * 0.5],
            )
        )
        return story

    def chapter_1(self) -> list[Flowable]:
        unit = text(self.f.unit.name)
        return [
            *self.heading("I", "ch1"),
            self.p(f"1.1 {self.w('background')}", "h2"),
            self.p(self.w("background_text", unit=unit)),
            self.p(f"1.2 {self.w('legal_basis')}", "h2"),
            ListFlowable(
                _items([self.p(self.w(k)) for k in ("legal_1", "legal_2", "legal_3")]),
                bulletType="1",
                bulletFontName=SANS,
                bulletFontSize=9,
            ),
            self.p(f"1.3 {self.w('purpose')}", "h2"),
            self.p(self.w("purpose_text", unit=unit)),
        ]

    def channel_text(self) -> str:
        channels = self.f.channels
        if not channels:
            return self.w("no_data")
        return "; ".join(f"{self.w.channel(key)} ({self.w.count(n)})" for key, n in channels)

    def chapter_2(self) -> list[Flowable]:
        sample = self.report.sample
        settings = self.f.settings
        w = self.w
        adequate = {True: w("yes"), False: w("no"), None: w("unknown")}[sample.adequate]
        rows = [
            [w("surveyor"), settings.surveyor or w("default_surveyor", unit=self.f.unit.name)],
            [w("place"), self.place()],
            [
                w("dates"),
                w("period_range", a=w.day(self.f.window.start), b=w.day(self.f.window.end)),
            ],
            [w("channels"), self.channel_text()],
            [
                w("population"),
                w.count(sample.population) if sample.population is not None else w("not_recorded"),
            ],
            [
                w("minimum_sample"),
                w.count(sample.minimum) if sample.minimum is not None else "–",
            ],
            [w("respondents"), w.count(self.value.responses)],
            [w("adequate"), adequate],
        ]
        cells = [[self.p(text(a), "cell_bold"), self.p(text(b), "cell")] for a, b in rows]
        story: list[Flowable] = [
            *self.heading("II", "ch2"),
            self.p(w("collection_text")),
            Spacer(1, 0.3 * cm),
            _table(cells, [CONTENT * 0.38, CONTENT * 0.62], header=False),
        ]
        flagged = self.report.method.flagged_responses
        if flagged and not self.report.method.flagged_counted:
            story += [Spacer(1, 0.2 * cm), self.p(w("flagged_note", n=w.count(flagged)), "small")]
        return story

    def profile_tables(self) -> list[Flowable]:
        w = self.w
        story: list[Flowable] = [self.p(f"3.1 {w('profile')}", "h2")]
        total = self.value.responses
        for field, options in self.f.profile.items():
            counts = [(w.profile_option(field, key), n) for key, n in options]
            rows: list[list[Any]] = [[w.profile_field(field), w("count"), w("share")]]
            rows += [[label, w.count(n), w.percent(n, total)] for label, n in counts]
            table = _table(rows, [CONTENT * 0.3, CONTENT * 0.1, CONTENT * 0.12])
            table.setStyle(TableStyle([("ALIGN", (1, 0), (-1, -1), "RIGHT")]))
            chart = charts.distribution(counts, w, CONTENT * 0.46)
            story.append(
                KeepTogether(
                    [
                        Table(
                            [[table, chart]],
                            colWidths=[CONTENT * 0.53, CONTENT * 0.47],
                            style=[("VALIGN", (0, 0), (-1, -1), "TOP")],
                        ),
                        Spacer(1, 0.25 * cm),
                    ]
                )
            )
        return story

    def headline(self, shown: IndexValue | PublicValue | None = None) -> Flowable:
        w = self.w
        value = shown if shown is not None else self.value
        if value.ikm is None or value.grade is None:
            return self.p(w("conclusion_empty"))
        mutu = value.grade.mutu
        kinerja = value.grade.kinerja if w.lang == "id" else value.grade.kinerja_en
        big = Table(
            [
                [w("ikm"), w("grade"), w("performance")],
                [w.number(value.ikm, 2), mutu, kinerja],
            ],
            colWidths=[CONTENT / 3] * 3,
        )
        big.setStyle(
            TableStyle(
                [
                    ("FONT", (0, 0), (-1, 0), SANS, 8.5),
                    ("TEXTCOLOR", (0, 0), (-1, 0), MUTED),
                    ("FONT", (0, 1), (-1, 1), BOLD, 20),
                    ("TEXTCOLOR", (0, 1), (1, 1), GRADE_COLOURS[mutu]),
                    ("FONT", (2, 1), (2, 1), BOLD, 13),
                    ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                    ("BOX", (0, 0), (-1, -1), 0.8, ACCENT),
                    ("TOPPADDING", (0, 1), (-1, 1), 8),
                    ("BOTTOMPADDING", (0, 1), (-1, 1), 10),
                ]
            )
        )
        return big

    def element_table(self) -> Table:
        w = self.w
        rows: list[list[Any]] = [
            [w("no_"), w("element"), w("answers"), w("nrr"), w("nrr_x25"), w("grade")]
        ]
        for i, e in enumerate(self.value.elements, start=1):
            rows.append(
                [
                    str(i),
                    self.p(text(w.element(e.key)), "cell"),
                    w.count(e.answers),
                    w.number(e.nrr, 3),
                    w.number(e.ikm, 2),
                    e.grade.mutu,
                ]
            )
        table = _table(
            rows,
            [
                CONTENT * 0.06,
                CONTENT * 0.44,
                CONTENT * 0.12,
                CONTENT * 0.12,
                CONTENT * 0.14,
                CONTENT * 0.12,
            ],
        )
        table.setStyle(
            TableStyle([("ALIGN", (2, 0), (-1, -1), "RIGHT"), ("ALIGN", (5, 0), (5, -1), "CENTER")])
        )
        return table

    def chapter_3(self) -> list[Flowable]:
        w, value = self.w, self.value
        story: list[Flowable] = [*self.heading("III", "ch3"), *self.profile_tables()]
        story += [self.p(f"3.2 {w('ikm_heading')}", "h2"), self.headline(), Spacer(1, 0.3 * cm)]
        if value.ikm is None:
            return story
        facts = [
            f"{w('respondents')}: <b>{w.count(value.responses)}</b>",
            f"{w('index')}: {w.number(value.index, 3)}",
            f"{w('weight')}: {value.weight}",
        ]
        if value.small_sample:
            facts.append(w("small_sample"))
        story.append(self.p(" · ".join(facts)))
        story += [
            self.p(f"3.3 {w('element_table')}", "h2"),
            self.element_table(),
            Spacer(1, 0.4 * cm),
            KeepTogether(
                [charts.element_bars(value, w, CONTENT), self.p(w("chart_elements"), "caption")]
            ),
            self.p(f"3.4 {w('interval')}", "h2"),
        ]
        ci = value.confidence_interval
        if ci is None:
            story.append(self.p(w("interval_none")))
        else:
            story.append(
                self.p(
                    f"{w.number(ci.ikm_low, 2)} – {w.number(ci.ikm_high, 2)} "
                    f"({w('interval_note', n=w.count(ci.respondents))})"
                )
            )
        return story

    def service_name(self, key: str | None, label: str | None) -> str:
        """A service's name, with the unit it belongs to when that is a unit below this one
        (a mall's tenants offer services of the same name): its code, less this unit's."""
        unit_code, _, _code = (key or "").rpartition("/")
        name = label or key or ""
        if not unit_code or unit_code == self.f.unit.code:
            return name
        prefix = self.f.unit.code + "-"
        return f"{name} ({unit_code.removeprefix(prefix)})"

    def service_table(self, services: BreakdownOut) -> Table:
        w = self.w
        rows: list[list[Any]] = [[w("service"), w("respondents_short"), w("ikm"), w("grade")]]
        for g in services.groups:
            rows.append(
                [
                    self.cell(self.service_name(g.key, g.label), CONTENT * 0.52),
                    w.count(g.value.responses),
                    w.number(g.value.ikm, 2),
                    g.value.grade.mutu if g.value.grade else "–",
                ]
            )
        table = _table(rows, [CONTENT * 0.52, CONTENT * 0.16, CONTENT * 0.16, CONTENT * 0.16])
        table.setStyle(TableStyle([("ALIGN", (1, 0), (-1, -1), "RIGHT")]))
        return table

    def chapter_4(self) -> list[Flowable]:
        w, value = self.w, self.value
        story: list[Flowable] = [*self.heading("IV", "ch4")]
        if value.elements:
            strongest, highest = self.strongest()
            lowest = next(e.nrr for e in value.elements if e.key == value.weakest[0])
            story += [
                self.p(f"4.1 {w('strongest')}", "h2"),
                self.p(f"{self.element_names(strongest)} (NRR {w.number(highest, 3)})"),
                self.p(f"4.2 {w('weakest')}", "h2"),
                self.p(f"{self.element_names(value.weakest)} (NRR {w.number(lowest, 3)})"),
            ]
        trend = self.f.trend
        story.append(self.p(f"4.3 {w('trend')}", "h2"))
        if trend is not None and trend.points:
            rows: list[list[Any]] = [[w("period"), w("respondents_short"), w("ikm"), w("grade")]]
            for point in trend.points:
                v = point.value
                rows.append(
                    [
                        w.period(point.period.label, point.period.start, point.period.end),  # type: ignore[arg-type]
                        w.count(v.responses),
                        w.number(v.ikm, 2) if v.ikm is not None else w("no_data"),
                        v.grade.mutu if v.grade else "–",
                    ]
                )
            table = _table(rows, [CONTENT * 0.4, CONTENT * 0.2, CONTENT * 0.2, CONTENT * 0.2])
            table.setStyle(TableStyle([("ALIGN", (1, 0), (-1, -1), "RIGHT")]))
            story += [
                table,
                Spacer(1, 0.3 * cm),
                KeepTogether(
                    [charts.trend_line(trend, w, CONTENT), self.p(w("chart_trend"), "caption")]
                ),
            ]
        else:
            story.append(self.p(w("no_data")))
        story.append(self.p(f"4.4 {w('by_service')}", "h2"))
        if self.f.services is not None and self.f.services.groups:
            story.append(self.service_table(self.f.services))
        else:
            story.append(self.p(w("no_data")))
        story += [
            self.p(f"4.5 {w('suggestions')}", "h2"),
            self.p(w("suggestions_text", n=w.count(self.f.suggestions or 0))),
        ]
        return [*story, *self.followup()]

    # --- Bab IV: follow-up ------------------------------------------------------------------

    def followup(self) -> list[Flowable]:
        """4.6 the previous period's plan with each item's evaluation against this period;
        4.7 this period's plan; a sentence where there is none."""
        shown = self.f.followup
        window = self.f.window
        if shown is None or window.label is None:
            return []
        w = self.w
        before = previous_period(window)
        before_name = w.period(before.label, before.start, before.end)
        story: list[Flowable] = [self.p(f"4.6 {w('followup_previous', period=before_name)}", "h2")]
        plan, evaluation = shown.previous_plan, shown.previous_evaluation
        if plan is None or evaluation is None:
            story.append(self.p(w("followup_none_previous", period=before_name)))
        else:
            story += self.plan_items(plan)
            story += [
                Spacer(1, 0.3 * cm),
                self.p(f"<b>{w('followup_evaluation', before=before_name, after=self.period)}</b>"),
                self.evaluation_table(plan, evaluation),
                Spacer(1, 0.2 * cm),
                self.p(w("followup_method"), "small"),
            ]
        story.append(self.p(f"4.7 {w('followup_current', period=self.period)}", "h2"))
        if shown.current_plan is None:
            story.append(self.p(w("followup_none_current", period=self.period)))
        else:
            story += self.plan_items(shown.current_plan)
        return story

    def heading_cell(self, value: str, width: float) -> Paragraph | str:
        """A header cell: plain (the table sets it bold) when it fits, wrapped otherwise."""
        if stringWidth(value, BOLD, CELL_SIZE) <= width - 2 * CELL_PADDING:
            return value
        return self.p(f"<b>{text(value)}</b>", "cell")

    def item_subject(self, item: ItemOut) -> str:
        if item.element is not None:
            return self.w.element(item.element)
        return self.w("followup_service", code=item.service or "")

    def plan_items(self, plan: PlanOut) -> list[Flowable]:
        w = self.w
        if not plan.items:
            return [self.p(w("followup_no_items"))]
        widths = [0.06, 0.2, 0.22, 0.18, 0.17, 0.17]
        header = [
            w("no_"),
            w("followup_what"),
            w("followup_action"),
            w("followup_responsible"),
            w("followup_target"),
            w("followup_status"),
        ]
        rows: list[list[Any]] = [
            [self.heading_cell(h, CONTENT * f) for h, f in zip(header, widths, strict=True)]
        ]
        for i, item in enumerate(plan.items, start=1):
            status = w.status(item.status)
            if item.status == "dropped" and item.status_reason:
                status = f"{status}: {item.status_reason}"
            cells = [
                str(i),
                self.item_subject(item),
                item.action,
                item.responsible or "–",
                w.day(item.target_date) if item.target_date is not None else "–",
                status,
            ]
            rows.append([self.cell(c, CONTENT * f) for c, f in zip(cells, widths, strict=True)])
        return [_table(rows, [CONTENT * f for f in widths])]

    def change_cells(self, subject: str, change: ChangeOut) -> list[str]:
        w = self.w
        places = 3 if change.scale == "nrr" else 2

        def measure(m: MeasureOut) -> str:
            return f"{w.number(m.value, places)} (n = {w.count(m.answers)})"

        difference = w.signed(change.difference, places, plus=True)
        if change.interval_low is not None and change.interval_high is not None:
            pair = w(
                "followup_pair",
                a=w.signed(change.interval_low, places),
                b=w.signed(change.interval_high, places),
            )
            difference = f"{difference} {pair}"
        return [
            subject,
            measure(change.before),
            measure(change.after),
            difference,
            w.verdict(change.verdict),
        ]

    def evaluation_table(self, plan: PlanOut, evaluation: EvaluationOut) -> Table:
        w = self.w
        widths = [0.24, 0.16, 0.16, 0.26, 0.18]
        header = [
            w("followup_what"),
            w("followup_before"),
            w("followup_after"),
            w("followup_difference"),
            w("followup_verdict"),
        ]
        rows: list[list[Any]] = [
            [self.heading_cell(h, CONTENT * f) for h, f in zip(header, widths, strict=True)]
        ]
        subjects = {item.id: self.item_subject(item) for item in plan.items}
        lines = [(subjects.get(e.item_id, ""), e.change) for e in evaluation.items]
        lines.append((w("followup_unit"), evaluation.unit_change))
        for subject, change in lines:
            cells = self.change_cells(subject, change)
            rows.append([self.cell(c, CONTENT * f) for c, f in zip(cells, widths, strict=True)])
        return _table(rows, [CONTENT * f for f in widths])

    def chapter_5(self) -> list[Flowable]:
        w, value = self.w, self.value
        story: list[Flowable] = [*self.heading("V", "ch5")]
        if value.ikm is None or value.grade is None:
            return [*story, self.p(w("conclusion_empty"))]
        kinerja = value.grade.kinerja if w.lang == "id" else value.grade.kinerja_en
        items = [
            w(
                "conclusion_text",
                n=w.count(value.responses),
                unit=text(self.f.unit.name),
                period=self.period,
                ikm=w.number(value.ikm, 2),
                mutu=value.grade.mutu,
                kinerja=kinerja,
            ),
        ]
        items.append(w("conclusion_strongest", names=self.element_names(self.strongest()[0])))
        items.append(w("conclusion_weakest", names=self.element_names(value.weakest)))
        sample = self.report.sample
        if sample.adequate is False and sample.minimum is not None:
            items.append(
                w(
                    "conclusion_sample_short",
                    n=w.count(value.responses),
                    minimum=w.count(sample.minimum),
                )
            )
        story.append(
            ListFlowable(
                _items([self.p(item) for item in items]),
                bulletType="1",
                bulletFontName=SANS,
                bulletFontSize=9,
            )
        )
        return story

    def annex_questionnaire(self) -> list[Flowable]:
        w = self.w
        story: list[Flowable] = [
            PageBreak(),
            self.p(w("annexes"), "h1"),
            self.p(w("annex_a"), "h2"),
        ]
        for q in self.f.questionnaires:
            definition = q.definition
            title = definition.get("title", {})
            story.append(
                self.p(
                    f"<b>{text(title.get(w.lang) or title.get('id', ''))}</b> — "
                    f"{w('survey_version')}: {text(q.survey_code)} v{q.version}",
                    "body",
                )
            )
            rows: list[list[Any]] = [
                [w("no_"), w("element"), "1", "2", "3", "4"],
            ]
            for i, question in enumerate(definition.get("questions", []), start=1):
                asked = question["text"].get(w.lang) or question["text"]["id"]
                by_score = {
                    o["score"]: o["label"].get(w.lang) or o["label"]["id"]
                    for o in question["options"]
                }
                rows.append(
                    [
                        str(i),
                        self.p(
                            f"<b>{text(w.element(question['element']))}</b><br/>{text(asked)}",
                            "cell",
                        ),
                        *(self.p(text(by_score[s]), "cell") for s in (1, 2, 3, 4)),
                    ]
                )
            story += [
                _table(rows, [CONTENT * 0.05, CONTENT * 0.43] + [CONTENT * 0.13] * 4),
                Spacer(1, 0.4 * cm),
            ]
        return story

    def annex_processing(self) -> list[Flowable]:
        w, value = self.w, self.value
        story: list[Flowable] = [PageBreak(), self.p(w("annex_b"), "h2")]
        if value.weight is not None:
            weight = Fraction(value.weight)
            rows: list[list[Any]] = [
                [w("element"), w("total"), w("answers"), w("nrr"), w("weighted")]
            ]
            for e in value.elements:
                rows.append(
                    [
                        self.p(text(w.element(e.key)), "cell"),
                        w.count(e.total),
                        w.count(e.answers),
                        w.number(e.nrr, 3),
                        w.number(round_half_up(Fraction(e.nrr_exact) * weight, 3), 3),
                    ]
                )
            rows.append(
                [
                    self.p(f"<b>{w('index')}</b>", "cell"),
                    "",
                    "",
                    "",
                    w.number(value.index, 3),
                ]
            )
            rows.append([self.p(f"<b>{w('ikm')}</b>", "cell"), "", "", "", w.number(value.ikm, 2)])
            table = _table(
                rows,
                [CONTENT * 0.44, CONTENT * 0.14, CONTENT * 0.14, CONTENT * 0.14, CONTENT * 0.14],
            )
            table.setStyle(TableStyle([("ALIGN", (1, 0), (-1, -1), "RIGHT")]))
            k = len(value.elements)
            story += [
                table,
                Spacer(1, 0.2 * cm),
                self.p(w("processing_note", k=k, exact=value.index_exact), "small"),
            ]
        grade_rows: list[list[Any]] = [[w("grade"), w("ikm_range"), w("performance")]]
        upper = "100,00" if w.lang == "id" else "100.00"
        for (lower, grade), (mutu, _, _) in zip(GRADES, reversed(grade_bands()), strict=True):
            assert grade.mutu == mutu
            kinerja = grade.kinerja if w.lang == "id" else grade.kinerja_en
            grade_rows.append([grade.mutu, f"{w.number(lower, 2)} – {upper}", kinerja])
            upper = w.number(lower - lower.__class__("0.01"), 2)
        story += [
            Spacer(1, 0.3 * cm),
            self.p(w("grade_table"), "h2"),
            _table(grade_rows, [CONTENT * 0.15, CONTENT * 0.35, CONTENT * 0.5]),
        ]
        return story

    def story(self) -> list[Flowable]:
        return [
            *self.cover(),
            *self.foreword(),
            *self.chapter_1(),
            *self.chapter_2(),
            *self.chapter_3(),
            *self.chapter_4(),
            *self.chapter_5(),
            *self.annex_questionnaire(),
            *self.annex_processing(),
        ]


class PublicReport(Report):
    """The Laporan of a public record, without a key: made from the record's public figures
    alone (the unit's own responses, suppression applied) — no profile, channel, interval,
    per-element counts, trend or suggestion count, which the public figures do not carry."""

    def __init__(self, figures: Figures, lang: Lang, public: PublicIndex) -> None:
        super().__init__(figures, lang)
        assert public.value is not None
        assert public.publication_id is not None
        self.public = public
        self.shown: PublicValue = public.value

    def public_note(self) -> Paragraph:
        return self.p(
            self.w("public_note", id=self.public.publication_id, min=self.public.min_group),
            "small",
        )

    def chapter_2(self) -> list[Flowable]:
        w, settings = self.w, self.f.settings
        rows = [
            [w("surveyor"), settings.surveyor or w("default_surveyor", unit=self.f.unit.name)],
            [w("place"), self.place()],
            [
                w("dates"),
                w("period_range", a=w.day(self.f.window.start), b=w.day(self.f.window.end)),
            ],
            [w("respondents"), w.count(self.shown.responses)],
        ]
        cells = [[self.p(text(a), "cell_bold"), self.p(text(b), "cell")] for a, b in rows]
        return [
            *self.heading("II", "ch2"),
            self.p(w("collection_text")),
            Spacer(1, 0.3 * cm),
            _table(cells, [CONTENT * 0.38, CONTENT * 0.62], header=False),
            Spacer(1, 0.2 * cm),
            self.public_note(),
        ]

    def chapter_3(self) -> list[Flowable]:
        w, value = self.w, self.shown
        story: list[Flowable] = [*self.heading("III", "ch3")]
        story += [self.p(f"3.1 {w('ikm_heading')}", "h2"), self.headline(value)]
        story += [
            Spacer(1, 0.3 * cm),
            self.p(f"{w('respondents')}: <b>{w.count(value.responses)}</b>"),
        ]
        rows: list[list[Any]] = [[w("no_"), w("element"), w("nrr"), w("nrr_x25"), w("grade")]]
        for i, e in enumerate(value.elements, start=1):
            rows.append(
                [
                    str(i),
                    self.cell(w.element(e.key), CONTENT * 0.5),
                    w.number(e.nrr, 3),
                    w.number(e.ikm, 2),
                    e.grade.mutu,
                ]
            )
        table = _table(
            rows, [CONTENT * 0.06, CONTENT * 0.5, CONTENT * 0.14, CONTENT * 0.16, CONTENT * 0.14]
        )
        table.setStyle(TableStyle([("ALIGN", (2, 0), (-1, -1), "RIGHT")]))
        story += [
            self.p(f"3.2 {w('element_table')}", "h2"),
            table,
            Spacer(1, 0.4 * cm),
            KeepTogether(
                [charts.element_bars(value, w, CONTENT), self.p(w("chart_elements"), "caption")]
            ),
        ]
        return story

    def strongest_public(self) -> list[str]:
        highest = max(e.nrr for e in self.shown.elements)
        return [e.key for e in self.shown.elements if e.nrr == highest]

    def chapter_4(self) -> list[Flowable]:
        w, value = self.w, self.shown
        story: list[Flowable] = [*self.heading("IV", "ch4")]
        if value.elements:
            story += [
                self.p(f"4.1 {w('strongest')}", "h2"),
                self.p(self.element_names(self.strongest_public())),
                self.p(f"4.2 {w('weakest')}", "h2"),
                self.p(self.element_names(value.weakest)),
            ]
        story.append(self.p(f"4.3 {w('by_service')}", "h2"))
        breakdown = self.f.public_services
        if breakdown is not None and breakdown.groups:
            rows: list[list[Any]] = [[w("service"), w("respondents_short"), w("ikm"), w("grade")]]
            for g in breakdown.groups:
                rows.append(
                    [
                        self.cell(g.label or g.key, CONTENT * 0.52),
                        w.count(g.value.responses),
                        w.number(g.value.ikm, 2),
                        g.value.grade.mutu if g.value.grade else "–",
                    ]
                )
            table = _table(rows, [CONTENT * 0.52, CONTENT * 0.16, CONTENT * 0.16, CONTENT * 0.16])
            table.setStyle(TableStyle([("ALIGN", (1, 0), (-1, -1), "RIGHT")]))
            story.append(table)
        else:
            story.append(self.p(w("no_data")))
        if breakdown is not None and breakdown.suppressed_groups:
            story.append(self.p(w("groups_hidden", n=breakdown.suppressed_groups), "small"))
        return story

    def chapter_5(self) -> list[Flowable]:
        w, value = self.w, self.shown
        story: list[Flowable] = [*self.heading("V", "ch5")]
        if value.ikm is None or value.grade is None:
            return [*story, self.p(w("conclusion_empty"))]
        kinerja = value.grade.kinerja if w.lang == "id" else value.grade.kinerja_en
        items = [
            w(
                "conclusion_text",
                n=w.count(value.responses),
                unit=text(self.f.unit.name),
                period=self.period,
                ikm=w.number(value.ikm, 2),
                mutu=value.grade.mutu,
                kinerja=kinerja,
            ),
            w("conclusion_strongest", names=self.element_names(self.strongest_public())),
            w("conclusion_weakest", names=self.element_names(value.weakest)),
        ]
        story.append(
            ListFlowable(
                _items([self.p(item) for item in items]),
                bulletType="1",
                bulletFontName=SANS,
                bulletFontSize=9,
            )
        )
        return story

    def story(self) -> list[Flowable]:
        return [
            *self.cover(),
            *self.foreword(),
            *self.chapter_1(),
            *self.chapter_2(),
            *self.chapter_3(),
            *self.chapter_4(),
            *self.chapter_5(),
            *self.annex_questionnaire(),
        ]


def laporan_pdf(figures: Figures, lang: Lang = "id") -> bytes:
    """The Laporan SKM as PDF bytes (the same figures give the same bytes); the public
    Laporan when `figures` are a public record's."""
    report = (
        PublicReport(figures, lang, figures.public_index)
        if figures.public_index is not None
        else Report(figures, lang)
    )
    words = report.w
    buffer = io.BytesIO()
    frame = Frame(MARGIN, MARGIN + 0.4 * cm, CONTENT, HEIGHT - 2 * MARGIN, id="main")
    title = (
        f"{words('report_title')} {words('report_title_2')} — {figures.unit.name} — {report.period}"
    )

    def page(canvas: Canvas, doc: BaseDocTemplate) -> None:
        if doc.page == 1:
            set_metadata(canvas, figures, words, title)
        footer(canvas, figures, words, doc.page - 1 if doc.page > 1 else None, WIDTH)

    on_page: Callable[[Canvas, BaseDocTemplate], None] = page
    doc = BaseDocTemplate(
        buffer,
        pagesize=A4,
        invariant=1,
        title=title,
        author=figures.unit.name,
        pageTemplates=[
            PageTemplate(id="cover", frames=[frame], onPage=on_page),
            PageTemplate(id="body", frames=[frame], onPage=on_page),
        ],
    )
    doc.build(report.story())
    return buffer.getvalue()
