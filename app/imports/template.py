"""The import template for a unit and its survey version: an XLSX workbook (XlsxWriter)
with one row per respondent, dropdowns and validation on every column (scores 1–4, the
unit's services, the profile bands), the element wording in the header comments; and the
same columns as CSV."""

import csv
import io
from datetime import datetime

from app.imports.columns import COLUMNS, PROFILE_COLUMNS, SHEET_NAME, TITLES
from app.method import ELEMENTS
from app.schemas import MAX_SUGGESTION_LENGTH, FormOut
from app.standard_survey import PROFILE_LABELS, PROFILE_OPTIONS

TEMPLATE_ROWS = 5000  # rows that carry the validation (Excel applies it to a range)
FIXED_DATE = datetime(2026, 1, 1)  # noqa: DTZ001 (a workbook's dates are naive); in the metadata: the same template for the same data


def _comment(form: FormOut, key: str, language: str) -> str:
    english = language == "en"
    if key in TITLES:
        text = TITLES[key][1 if english else 0]
        if key == "service":
            listed = "\n".join(f"{s.code}: {s.name}" for s in form.services)
            text = f"{text}\n{listed}"
        return text
    if key in ELEMENTS:
        question = next(q for q in form.survey_version.definition.questions if q.element == key)
        wording = (question.text.en if english else None) or question.text.id
        options = "\n".join(
            f"{o.score} = {(o.label.en if english else None) or o.label.id}"
            for o in sorted(question.options, key=lambda o: o.score)
        )
        blank = "Blank: not answered" if english else "Kosong: tidak dijawab"
        return f"{wording}\n{options}\n{blank}"
    label_id, label_en = PROFILE_LABELS[key]
    options = "\n".join(
        f"{code} = {en if english else id_}" for code, (id_, en) in PROFILE_OPTIONS[key].items()
    )
    return f"{label_en if english else label_id}\n{options}"


def workbook(form: FormOut, language: str = "id") -> bytes:
    buffer = io.BytesIO()
    import xlsxwriter  # the document libraries load on first use

    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    book.set_properties(
        {
            "title": f"SKM {form.unit.code}: survey version {form.survey_version.id}",
            "created": FIXED_DATE,
        }
    )
    sheet = book.add_worksheet(SHEET_NAME)
    lists = book.add_worksheet("Lists")
    header = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.freeze_panes(1, 0)
    last = TEMPLATE_ROWS
    services = [s.code for s in form.services]
    for position, code in enumerate(services):
        lists.write(position, 0, code)
    lists.hide()
    for position, key in enumerate(COLUMNS):
        sheet.write(0, position, key, header)
        sheet.write_comment(
            0, position, _comment(form, key, language), {"x_scale": 3, "y_scale": 3}
        )
        if key in ELEMENTS:
            sheet.set_column(position, position, 7)
            sheet.data_validation(
                1,
                position,
                last,
                position,
                {
                    "validate": "integer",
                    "criteria": "between",
                    "minimum": 1,
                    "maximum": 4,
                    "error_message": "1, 2, 3 or 4 (or blank)",
                },
            )
        elif key in PROFILE_COLUMNS:
            sheet.set_column(position, position, 10)
            sheet.data_validation(
                1,
                position,
                last,
                position,
                {"validate": "list", "source": list(PROFILE_OPTIONS[key])},
            )
        elif key == "service" and services:
            sheet.set_column(position, position, 16)
            sheet.data_validation(
                1,
                position,
                last,
                position,
                {"validate": "list", "source": f"=Lists!$A$1:$A${len(services)}"},
            )
        elif key == "date":
            sheet.set_column(position, position, 12, date_format)
            sheet.data_validation(
                1,
                position,
                last,
                position,
                {"validate": "date", "criteria": ">=", "minimum": datetime(2000, 1, 1)},  # noqa: DTZ001,
            )
        elif key == "suggestion":
            sheet.set_column(position, position, 40)
            sheet.data_validation(
                1,
                position,
                last,
                position,
                {"validate": "length", "criteria": "<=", "value": MAX_SUGGESTION_LENGTH},
            )
        else:
            sheet.set_column(position, position, 14)
    book.close()
    return buffer.getvalue()


def csv_text(form: FormOut) -> str:
    """The header row of the same columns (the wording is in the XLSX template)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(COLUMNS)
    return out.getvalue()
