"""The columns of an import file, shared by the template (`app.imports.template`), the reader
(`app.imports.reading`) and the row checks (`app.imports.rows`): one row per respondent.

The header row holds each column's key (the same in Indonesian and English, so a file
filled in one language imports in the other); the template's header comments carry the
wording. Columns may come in any order; all but `date` and `service` may be left out."""

from typing import Final

from app.method import ELEMENTS
from app.vocabulary import PROFILE_FIELDS

SHEET_NAME: Final = "Responses"  # the template's sheet; a workbook without it: its first
PROFILE_COLUMNS: Final = tuple(PROFILE_FIELDS)
COLUMNS: Final = ("sheet_code", "date", "service", *ELEMENTS, *PROFILE_COLUMNS, "suggestion")
REQUIRED_COLUMNS: Final = ("date", "service")

# Texts of each language, in one place: (Indonesian, English).
TITLES: Final[dict[str, tuple[str, str]]] = {
    "sheet_code": (
        "Kode lembar (tertera di lembar kuesioner; kosongkan bila tidak ada)",
        "Sheet code (printed on the questionnaire; leave blank if none)",
    ),
    "date": ("Tanggal pengisian (mis. 30/11/2026)", "Date of collection (e.g. 2026-11-30)"),
    "service": ("Kode layanan yang diterima", "Code of the service received"),
    "suggestion": ("Saran/masukan", "Suggestion"),
}


def letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    name = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        name = chr(ord("A") + remainder) + name
    return name
