"""The public page of a public unit (/publik/{unit}): server-rendered HTML that needs no
JavaScript, from the same public records the keyless API serves (publications.py) and the
unit's follow-up plan (followup.py). Nothing beyond what the public answers allow: its own
responses' figures as each period's newest public record froze them, suppressed groups
never shown (only how many there are), no per-element counts, no free text of citizens.

Of a follow-up plan it shows what the unit wrote for the public to follow: the element or
service, the action, the target date and the status; not who is responsible (often a
person's name), nor the evidence notes, nor why an item was proposed (the subtree's grades,
which are not public figures)."""

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Final
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app import followup, publications
from app.documents.texts import STATUS_NAMES, Lang, Words
from app.errors import ProblemError
from app.followup_schemas import ItemOut
from app.method import METHOD_ID
from app.schemas import PeriodOut, PublicPublication, PublicValue
from app.units import find_unit

TEXTS: Final[dict[str, dict[Lang, str]]] = {
    "title": {"id": "Hasil Survei Kepuasan Masyarakat", "en": "Public Satisfaction Survey results"},
    "other_lang": {"id": "English", "en": "Bahasa Indonesia"},
    "periods": {"id": "Periode yang dipublikasikan", "en": "Published periods"},
    "result": {"id": "Hasil", "en": "Result"},
    "ikm": {"id": "Indeks Kepuasan Masyarakat (IKM)", "en": "Satisfaction index (IKM)"},
    "grade": {"id": "Mutu pelayanan", "en": "Service grade"},
    "respondents": {"id": "Responden", "en": "Respondents"},
    "published_on": {"id": "Dipublikasikan {d}", "en": "Published {d}"},
    "revises": {
        "id": "Revisi atas publikasi sebelumnya untuk periode ini.",
        "en": "A revision of an earlier publication for this period.",
    },
    "small_sample": {
        "id": "Kurang dari 30 responden: tafsirkan dengan hati-hati.",
        "en": "Fewer than 30 respondents: read with care.",
    },
    "suppressed": {
        "id": "Hasil periode ini tidak ditampilkan: kurang dari {n} responden, sehingga "
        "responden dapat dikenali.",
        "en": "This period's result is not shown: fewer than {n} respondents, who could be "
        "identified.",
    },
    "elements": {"id": "Nilai per unsur pelayanan", "en": "Score per service element"},
    "element": {"id": "Unsur", "en": "Element"},
    "nrr": {"id": "Nilai rata-rata (1–4)", "en": "Mean score (1–4)"},
    "element_ikm": {"id": "Nilai (25–100)", "en": "Score (25–100)"},
    "weakest": {"id": "Unsur terlemah", "en": "Weakest element"},
    "weakest_mark": {"id": "terlemah", "en": "weakest"},
    "chart_elements": {
        "id": "Grafik batang nilai rata-rata tiap unsur, skala 1 sampai 4",
        "en": "Bar chart of each element's mean score, scale 1 to 4",
    },
    "services": {"id": "Per layanan", "en": "By service"},
    "service": {"id": "Layanan", "en": "Service"},
    "services_withheld": {
        "id": "{n} layanan tidak ditampilkan karena respondennya terlalu sedikit.",
        "en": "{n} service(s) not shown: too few respondents.",
    },
    "trend": {"id": "Perkembangan dari periode ke periode", "en": "Trend over the periods"},
    "period": {"id": "Periode", "en": "Period"},
    "not_shown": {"id": "tidak ditampilkan", "en": "not shown"},
    "chart_trend": {
        "id": "Grafik batang IKM per periode yang dipublikasikan, skala 25 sampai 100",
        "en": "Bar chart of the IKM of each published period, scale 25 to 100",
    },
    "plan": {"id": "Rencana tindak lanjut", "en": "Follow-up plan"},
    "plan_none": {
        "id": "Belum ada rencana tindak lanjut untuk periode ini.",
        "en": "No follow-up plan for this period yet.",
    },
    "action": {"id": "Tindak lanjut", "en": "Action"},
    "target": {"id": "Target", "en": "Target date"},
    "status": {"id": "Status", "en": "Status"},
    "nothing": {
        "id": "Belum ada hasil survei yang dipublikasikan untuk unit ini.",
        "en": "No survey result has been published for this unit yet.",
    },
    "give_feedback": {"id": "Isi survei kepuasan", "en": "Take the satisfaction survey"},
    "documents": {"id": "Dokumen", "en": "Documents"},
    "report": {"id": "Laporan Hasil SKM (PDF)", "en": "SKM report (PDF)"},
    "poster": {"id": "Infografis (PDF)", "en": "Infographic (PDF)"},
    "method": {
        "id": "Metode: {m} (PermenPAN-RB 14/2017). Angka hanya dari respons unit ini sendiri; "
        "tidak ada angka yang mewakili kurang dari {n} responden.",
        "en": "Method: {m} (PermenPAN-RB 14/2017). Figures from this unit's own responses "
        "only; no figure stands for fewer than {n} respondents.",
    },
}


@dataclass(frozen=True)
class PublicPage:
    code: str
    name: str
    time_zone: str
    records: list[PublicPublication]  # each period's newest public record, oldest first
    shown: PublicPublication | None  # the period on the page
    plan_items: list[ItemOut] | None  # None: no plan for the shown period


async def gather(session: AsyncSession, code: str, period: str | None) -> PublicPage:
    """What the page shows; 404 (a problem) for a unit that is not public, or a period
    with no public record when one is asked for."""
    conn = await session.connection()
    newest_first = await publications.public_unit_publications(conn, code)
    newest: dict[str, PublicPublication] = {}
    for record in newest_first:
        newest.setdefault(str(record.period.label), record)
    records = sorted(newest.values(), key=lambda r: (r.period.start, r.period.end))
    if period is not None and period not in newest:
        raise publications._not_published(period)
    shown = newest[period] if period is not None else (records[-1] if records else None)
    unit = await find_unit(session, code)
    assert unit is not None  # public_unit_publications found it public
    plan_items = None
    if shown is not None and not shown.figures.index.suppressed:
        try:
            plan = await followup.find_plan(session, unit, str(shown.period.label))
        except ProblemError:
            plan = None
        if plan is not None:
            today = datetime.now(ZoneInfo(unit.time_zone)).date()
            plan_items = (await followup.plan_out(session, unit, plan, today)).items
    return PublicPage(unit.code, unit.name, unit.time_zone, records, shown, plan_items)


# --- HTML ----------------------------------------------------------------------------------


def _t(key: str, lang: Lang, **values: object) -> str:
    text = TEXTS[key][lang]
    return escape(text.format(**values) if values else text)


def _link(code: str, lang: Lang, period: str | None) -> str:
    query: dict[str, str] = {"lang": lang} if lang != "id" else {}
    if period is not None:
        query["period"] = period
    return f"/publik/{quote(code)}" + ("?" + urlencode(query) if query else "")


def _period(period: PeriodOut, words: Words) -> str:
    """A published period's name ('Triwulan II Tahun 2025'); public records are periods."""
    assert period.start is not None
    assert period.end is not None
    return escape(words.period(period.label, period.start, period.end))


def _grade(value: PublicValue, words: Words) -> str:
    if value.grade is None:
        return "–"
    return f"{escape(value.grade.mutu)} ({escape(words.grade_label(value.grade.mutu))})"


def _element_chart(value: PublicValue, words: Words, lang: Lang) -> str:
    """Horizontal bars of each element's NRR on 1–4 (text beside every bar)."""
    row, left, width = 30, 370, 300
    bars = []
    for i, element in enumerate(value.elements):
        y = i * row
        length = max(0.0, (element.nrr - 1) / 3 * width)
        bars.append(
            f'<text x="{left - 8}" y="{y + 19}" text-anchor="end">'
            f"{escape(words.element(element.key))}</text>"
            f'<rect x="{left}" y="{y + 6}" width="{length:.1f}" height="18" class="bar"/>'
            f'<text x="{left + length + 6:.1f}" y="{y + 19}">{words.number(element.nrr, 3)}</text>'
        )
    height = row * len(value.elements)
    return (
        f'<svg viewBox="0 0 {left + width + 60} {height}" width="{left + width + 60}" '
        f'height="{height}" role="img" '
        f'aria-label="{_t("chart_elements", lang)}" class="chart">{"".join(bars)}</svg>'
    )


def _trend_chart(records: list[PublicPublication], words: Words, lang: Lang) -> str:
    """Vertical bars of each published period's IKM on 25–100, labelled."""
    column, height, top = 90, 160, 20
    bars = []
    for i, record in enumerate(records):
        x = i * column + 10
        value = record.figures.index.value
        label = escape(str(record.period.label))
        if value is None or value.ikm is None:
            bars.append(f'<text x="{x + 35}" y="{top + height - 4}" text-anchor="middle">–</text>')
        else:
            size = (value.ikm - 25) / 75 * height
            bars.append(
                f'<rect x="{x + 15}" y="{top + height - size:.1f}" width="40" '
                f'height="{size:.1f}" class="bar"/>'
                f'<text x="{x + 35}" y="{top + height - size - 5:.1f}" text-anchor="middle">'
                f"{words.number(value.ikm, 2)}</text>"
            )
        bars.append(
            f'<text x="{x + 35}" y="{top + height + 18}" text-anchor="middle">{label}</text>'
        )
    box_width, box_height = max(1, len(records)) * column + 20, top + height + 28
    return (
        f'<svg viewBox="0 0 {box_width} {box_height}" width="{box_width}" height="{box_height}" '
        f'role="img" aria-label="{_t("chart_trend", lang)}" class="chart">{"".join(bars)}</svg>'
    )


def _result(page: PublicPage, shown: PublicPublication, words: Words, lang: Lang) -> str:
    index = shown.figures.index
    published_on = words.day(shown.published_at.astimezone(ZoneInfo(page.time_zone)).date())
    parts = [
        f'<section aria-labelledby="result-title"><h2 id="result-title">'
        f"{_t('result', lang)}: {_period(index.period, words)}"
        "</h2>",
        f'<p class="muted">{_t("published_on", lang, d=published_on)}'
        + (f" {_t('revises', lang)}" if shown.supersedes is not None else "")
        + "</p>",
    ]
    value = index.value
    if index.suppressed or value is None:
        parts.append(f'<p class="notice">{_t("suppressed", lang, n=index.min_group)}</p></section>')
        return "".join(parts)
    parts.append(
        '<dl class="figures">'
        f'<div><dt>{_t("ikm", lang)}</dt><dd class="big" id="ikm">{words.number(value.ikm, 2)}</dd></div>'  # noqa: E501
        f'<div><dt>{_t("grade", lang)}</dt><dd class="big" id="grade">{_grade(value, words)}</dd></div>'  # noqa: E501
        f'<div><dt>{_t("respondents", lang)}</dt><dd class="big" id="respondents">'
        f"{words.count(value.responses)}</dd></div></dl>"
    )
    if value.small_sample:
        parts.append(f'<p class="notice">{_t("small_sample", lang)}</p>')
    weakest = set(value.weakest)
    rows = "".join(
        f'<tr><th scope="row">{escape(words.element(e.key))}'
        + (f' <span class="tag">{_t("weakest_mark", lang)}</span>' if e.key in weakest else "")
        + f"</th><td>{words.number(e.nrr, 3)}</td><td>{words.number(e.ikm, 2)}</td>"
        f"<td>{escape(e.grade.mutu)} ({escape(words.grade_label(e.grade.mutu))})</td></tr>"
        for e in value.elements
    )
    parts.append(
        f'</section><section aria-labelledby="elements-title"><h2 id="elements-title">'
        f"{_t('elements', lang)}</h2>{_element_chart(value, words, lang)}"
        f'<table id="elements"><thead><tr>'
        f'<th scope="col">{_t("element", lang)}</th><th scope="col">{_t("nrr", lang)}</th>'
        f'<th scope="col">{_t("element_ikm", lang)}</th><th scope="col">{_t("grade", lang)}</th>'
        f"</tr></thead><tbody>{rows}</tbody></table></section>"
    )
    breakdown = shown.figures.breakdown
    if breakdown.groups or breakdown.suppressed_groups:
        rows = "".join(
            f'<tr><th scope="row">{escape(g.label or g.key)}</th>'
            f"<td>{words.number(g.value.ikm, 2)}</td><td>{_grade(g.value, words)}</td>"
            f"<td>{words.count(g.value.responses)}</td></tr>"
            for g in breakdown.groups
        )
        withheld = (
            f'<p class="muted">{_t("services_withheld", lang, n=breakdown.suppressed_groups)}</p>'
            if breakdown.suppressed_groups
            else ""
        )
        parts.append(
            f'<section aria-labelledby="services-title"><h2 id="services-title">'
            f"{_t('services', lang)}</h2>"
            + (
                f'<table id="services"><thead><tr><th scope="col">{_t("service", lang)}</th>'
                f'<th scope="col">IKM</th><th scope="col">{_t("grade", lang)}</th>'
                f'<th scope="col">{_t("respondents", lang)}</th></tr></thead>'
                f"<tbody>{rows}</tbody></table>"
                if rows
                else ""
            )
            + f"{withheld}</section>"
        )
    return "".join(parts)


def _plan(page: PublicPage, words: Words, lang: Lang) -> str:
    head = f'<section aria-labelledby="plan-title"><h2 id="plan-title">{_t("plan", lang)}</h2>'
    if not page.plan_items:
        return head + f"<p>{_t('plan_none', lang)}</p></section>"
    rows = "".join(
        '<tr><th scope="row">'
        + escape(words.element(item.element) if item.element else str(item.service))
        + f"</th><td>{escape(followup.without_figures(item.action))}</td>"
        f"<td>{words.day(item.target_date) if item.target_date else '–'}</td>"
        f"<td>{escape(STATUS_NAMES[item.status][lang])}</td></tr>"
        for item in page.plan_items
    )
    return (
        head + f'<table id="plan"><thead><tr><th scope="col">{_t("element", lang)}</th>'
        f'<th scope="col">{_t("action", lang)}</th><th scope="col">{_t("target", lang)}</th>'
        f'<th scope="col">{_t("status", lang)}</th></tr></thead><tbody>{rows}</tbody></table>'
        "</section>"
    )


def _trend(page: PublicPage, words: Words, lang: Lang) -> str:
    if len(page.records) < 2:
        return ""
    rows = "".join(
        f'<tr><th scope="row">{_period(r.period, words)}'
        "</th>"
        + (
            f"<td>{words.number(r.figures.index.value.ikm, 2)}</td>"
            f"<td>{_grade(r.figures.index.value, words)}</td>"
            f"<td>{words.count(r.figures.index.value.responses)}</td>"
            if r.figures.index.value is not None
            else f'<td colspan="3">{_t("not_shown", lang)}</td>'
        )
        + "</tr>"
        for r in page.records
    )
    return (
        f'<section aria-labelledby="trend-title"><h2 id="trend-title">{_t("trend", lang)}</h2>'
        f"{_trend_chart(page.records, words, lang)}"
        f'<table id="trend"><thead><tr><th scope="col">{_t("period", lang)}</th>'
        f'<th scope="col">IKM</th><th scope="col">{_t("grade", lang)}</th>'
        f'<th scope="col">{_t("respondents", lang)}</th></tr></thead><tbody>{rows}</tbody>'
        "</table></section>"
    )


def render(page: PublicPage, lang: Lang) -> str:
    words = Words(lang)
    other: Lang = "en" if lang == "id" else "id"
    period = str(page.shown.period.label) if page.shown is not None else None
    body: list[str] = []
    if page.records:
        links = "".join(
            f'<li><a href="{escape(_link(page.code, lang, str(r.period.label)))}"'
            + (' aria-current="page"' if r is page.shown else "")
            + f">{_period(r.period, words)}</a></li>"
            for r in reversed(page.records)
        )
        body.append(
            f'<nav aria-label="{_t("periods", lang)}"><ul class="periods">{links}</ul></nav>'
        )
    if page.shown is None:
        body.append(f'<p class="notice">{_t("nothing", lang)}</p>')
    else:
        body.append(_result(page, page.shown, words, lang))
        body.append(_trend(page, words, lang))
        if not page.shown.figures.index.suppressed:
            body.append(_plan(page, words, lang))
            documents = f"/v1/public/units/{quote(page.code)}/documents"
            query = escape(urlencode({"period": period, "lang": lang}))
            body.append(
                f'<section aria-labelledby="documents-title"><h2 id="documents-title">'
                f"{_t('documents', lang)}</h2><ul>"
                f'<li><a href="{documents}/report.pdf?{query}">{_t("report", lang)}</a></li>'
                f'<li><a href="{documents}/poster.pdf?{query}">{_t("poster", lang)}</a></li>'
                "</ul></section>"
            )
    min_group = page.shown.figures.index.min_group if page.shown is not None else None
    footer = (
        f"<p>{_t('method', lang, m=METHOD_ID, n=min_group)}</p>" if min_group is not None else ""
    )
    return (
        f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_t('title', lang)} — {escape(page.name)}</title>"
        '<link rel="stylesheet" href="/publik/style.css"></head><body>'
        f'<header><p class="kicker">{_t("title", lang)}</p><h1>{escape(page.name)}</h1>'
        f'<p><a href="{escape(_link(page.code, other, period))}" hreflang="{other}" '
        f'lang="{other}">{_t("other_lang", lang)}</a> · '
        f'<a href="/s/{quote(page.code)}">{_t("give_feedback", lang)}</a></p></header>'
        f"<main>{''.join(body)}</main><footer>{footer}</footer></body></html>"
    )
