"""The processing workbook's annex sheets, from the API's figures: the respondent profile,
per service, per channel, the method, and the heading of the suggestions."""

from xlsxwriter.worksheet import Worksheet

from app.documents.workbook_data import WorkbookData
from app.documents.workbook_style import Formats, Language, text
from app.method import ELEMENTS, GRADES, METHOD_ID
from app.standard_survey import PROFILE_LABELS, PROFILE_OPTIONS
from app.vocabulary import CHANNEL_LABELS, PROFILE_FIELDS


def write_profile(sheet: Worksheet, fmt: Formats, d: WorkbookData) -> None:
    """Counts and shares of respondents by gender, age band, education, occupation."""
    lang = d.lang
    total = d.source.report.pooled.responses
    sheet.set_column(0, 0, 28)
    sheet.set_column(1, 2, 12)
    sheet.write_string(0, 0, text("profile", lang), fmt.title)
    sheet.write_string(1, 0, text("respondents", lang), fmt.bold)
    sheet.write_number(1, 1, total, fmt.int)
    r = 3
    for name in PROFILE_FIELDS:
        sheet.write_string(r, 0, PROFILE_LABELS[name][0 if lang == "id" else 1], fmt.head)
        sheet.write_string(r, 1, text("responses", lang), fmt.head)
        sheet.write_string(r, 2, text("share", lang), fmt.head)
        counted = {g.key: g.value.responses for g in d.breakdowns[name].groups}
        options = PROFILE_OPTIONS[name]
        for key in (*options, None):
            if key is None and key not in counted:
                continue
            r += 1
            label = options[key][0 if lang == "id" else 1] if key else text("blank", lang)
            count = counted.get(key, 0)
            sheet.write_string(r, 0, label)
            sheet.write_number(r, 1, count, fmt.int)
            sheet.write_formula(
                r, 2, f'=IF($B$2>0,B{r + 1}/$B$2,"")', fmt.share, count / total if total else ""
            )
        r += 2


def write_groups(sheet: Worksheet, fmt: Formats, d: WorkbookData, by: str) -> None:
    """One row per group of a breakdown: respondents, IKM, grade, each element's NRR."""
    lang = d.lang
    sheet.set_column(0, 0, 30)
    title = text("services" if by == "service" else "channels", lang)
    sheet.write_string(0, 0, title, fmt.title)
    headings = [
        text(by if by != "service" else "service", lang),
        text("responses", lang),
        "IKM",
        text("grade", lang),
        *(f"NRR U{i + 1}" for i in range(len(ELEMENTS))),
    ]
    sheet.set_column(1, 3, 12)
    sheet.set_row(2, 30)
    for column, heading in enumerate(headings):
        sheet.write_string(2, column, heading, fmt.head)
    for r, group in enumerate(d.breakdowns[by].groups, start=3):
        label = group.label or text("blank", lang)
        if by == "channel" and group.key is not None:
            label = CHANNEL_LABELS.get(group.key, group.key)
        name = f"{label} ({group.key})" if by == "service" else label
        value = group.value
        sheet.write_string(r, 0, name)
        sheet.write_number(r, 1, value.responses, fmt.int)
        if value.ikm is not None and value.grade is not None:
            sheet.write_number(r, 2, value.ikm, fmt.ikm)
            sheet.write_string(r, 3, value.grade.mutu)
        nrr = {e.key: e.nrr for e in value.elements}
        for i, key in enumerate(ELEMENTS):
            if key in nrr:
                sheet.write_number(r, 4 + i, nrr[key], fmt.nrr)


def write_method(
    sheet: Worksheet, fmt: Formats, d: WorkbookData, written_rows: int, split: bool
) -> None:
    """The method: weights, rounding, grade table, sample size against the population."""
    lang, report = d.lang, d.source.report
    method = report.method
    sheet.set_column(0, 0, 34)
    sheet.set_column(1, 1, 90)
    sheet.write_string(0, 0, text("methodology", lang), fmt.title)
    lines = [
        (text("method", lang), METHOD_ID),
        (text("regulation", lang), method.regulation),
        (text("source", lang), d.source.label(lang)),
        ("NRR", method.nrr),
        (text("weighting", lang), method.weighting),
        ("IKM", method.ikm),
        (text("rounding", lang), method.rounding),
        (text("excluded", lang), method.excluded),
        (text("period", lang), method.period_cut),
        (text("data", lang), text("order", lang)),
    ]
    for r, (label, value) in enumerate(lines, start=2):
        sheet.write_string(r, 0, label, fmt.bold)
        sheet.write_string(r, 1, value)
    r = 2 + len(lines) + 1
    sheet.write_string(r, 0, text("grades", lang), fmt.head)
    sheet.write_string(r, 1, f"{text('ikm_from', lang)} / {text('kinerja', lang)}", fmt.head)
    for lower, grade in GRADES:
        r += 1
        kinerja = grade.kinerja if lang == "id" else grade.kinerja_en
        sheet.write_string(r, 0, grade.mutu)
        sheet.write_string(r, 1, f"{lower} — {kinerja}")
    r += 2
    sheet.write_string(r, 0, text("sample", lang), fmt.head)
    sheet.write_string(r, 1, method.sample_size, fmt.head)
    sample = report.sample
    population = r + 1
    sheet.write_string(population, 0, text("population", lang), fmt.bold)
    if sample.population is not None and sample.minimum is not None:
        sheet.write_number(population, 1, sample.population, fmt.int)
        p = f"B{population + 1}"
        sheet.write_string(population + 1, 0, text("minimum", lang), fmt.bold)
        sheet.write_formula(
            population + 1,
            1,
            f"=INT(3.841*{p}*0.25/(0.0025*({p}-1)+3.841*0.25)+0.5)",
            fmt.int,
            sample.minimum,
        )
    else:
        sheet.write_string(population, 1, text("unknown", lang))
    sheet.write_string(population + 2, 0, text("obtained", lang), fmt.bold)
    sheet.write_number(population + 2, 1, written_rows, fmt.int)
    if sample.adequate is not None:
        sheet.write_string(population + 3, 0, text("adequate", lang), fmt.bold)
        sheet.write_formula(
            population + 3,
            1,
            f'=IF(B{population + 3}>=B{population + 2},"{text("yes", lang)}",'
            f'"{text("not_yet", lang)}")',
            None,
            text("yes", lang) if sample.adequate else text("not_yet", lang),
        )
    if split:
        sheet.write_string(population + 5, 0, text("split", lang), fmt.note)


def start_suggestions(sheet: Worksheet, fmt: Formats, lang: Language) -> None:
    for column, key in enumerate(("no", "date", "service", "suggestion")):
        sheet.write_string(0, column, text(key, lang), fmt.head)
    sheet.set_column(2, 2, 24)
    sheet.set_column(3, 3, 100)
