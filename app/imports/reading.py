"""Reading an import file as a stream of rows: XLSX through openpyxl's read-only mode (rows
are parsed as they are read, never the whole sheet at once), CSV through the csv module
(comma, semicolon or tab, UTF-8 with or without a byte-order mark)."""

import csv
import hashlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from app.imports.columns import COLUMNS, REQUIRED_COLUMNS, SHEET_NAME, letter

FORMATS = ("xlsx", "csv")


class FileProblem(Exception):
    """The file as a whole cannot be read: not a workbook, no header, unknown columns."""


@dataclass
class Layout:
    """Where each column is: the sheet's name and each key's column letter."""

    sheet: str
    letters: dict[str, str] = field(default_factory=dict)
    rows_total: int | None = None  # data rows, as far as the file says before it is read

    def cell(self, key: str, row_number: int) -> str:
        return f"{self.sheet}!{self.letters[key]}{row_number}"


@dataclass
class FileRow:
    number: int  # the row's number in the sheet (the header is row 1)
    cells: dict[str, Any]


def _layout(sheet: str, header: list[Any]) -> tuple[Layout, list[str | None]]:
    """The layout from the header row, and each position's key (None: an empty header)."""
    layout = Layout(sheet)
    keys: list[str | None] = []
    problems: list[str] = []
    for position, value in enumerate(header):
        text = str(value).strip().lower() if value is not None else ""
        if not text:
            keys.append(None)
            continue
        if text not in COLUMNS:
            problems.append(f"{sheet}!{letter(position)}1: unknown column '{text[:40]}'")
            keys.append(None)
        elif text in layout.letters:
            problems.append(f"{sheet}!{letter(position)}1: column '{text}' appears twice")
            keys.append(None)
        else:
            layout.letters[text] = letter(position)
            keys.append(text)
    for key in REQUIRED_COLUMNS:
        if key not in layout.letters:
            problems.append(f"{sheet}!1: the column '{key}' is missing")
    if problems:
        raise FileProblem("; ".join(problems))
    return layout, keys


def _rows(
    values: Iterator[tuple[Any, ...] | list[Any]], keys: list[str | None]
) -> Iterator[FileRow]:
    for number, row in enumerate(values, start=2):
        cells: dict[str, Any] = {}
        for key, value in zip(keys, row, strict=False):
            if key is not None and value is not None and value != "":
                cells[key] = value
        if cells:  # an empty row is no respondent
            yield FileRow(number, cells)


def read_xlsx(content: bytes) -> tuple[Layout, Iterator[FileRow]]:
    from openpyxl import load_workbook  # imported when used: a large module

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise FileProblem(f"not an XLSX workbook ({type(error).__name__})") from None
    sheet = book[SHEET_NAME] if SHEET_NAME in book.sheetnames else book.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    header = next(values, None)
    if header is None:
        raise FileProblem(f"{sheet.title}: the sheet is empty (no header row)")
    layout, keys = _layout(sheet.title, list(header))
    if sheet.max_row is not None:
        layout.rows_total = max(sheet.max_row - 1, 0)
    return layout, _rows(values, keys)


def read_csv(content: bytes) -> tuple[Layout, Iterator[FileRow]]:
    try:
        text = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", newline="")
        first = text.readline()
    except UnicodeDecodeError:
        raise FileProblem("the CSV file is not UTF-8 text") from None
    delimiter = max(",;\t", key=first.count)
    header = next(csv.reader([first], delimiter=delimiter), [])
    if not header:
        raise FileProblem("CSV: the file is empty (no header row)")
    layout, keys = _layout("CSV", list(header))
    layout.rows_total = max(content.count(b"\n") - 1, 0)

    def values() -> Iterator[list[Any]]:
        try:
            yield from csv.reader(text, delimiter=delimiter)
        except UnicodeDecodeError:
            raise FileProblem("the CSV file is not UTF-8 text") from None

    return layout, _rows(values(), keys)


def read(content: bytes, file_format: str) -> tuple[Layout, Iterator[FileRow]]:
    return read_xlsx(content) if file_format == "xlsx" else read_csv(content)


def format_of(content: bytes) -> str:
    """An XLSX workbook is a ZIP archive; anything else is read as CSV."""
    return "xlsx" if content[:4] == b"PK\x03\x04" else "csv"


def content_digest(content: bytes, file_format: str) -> str:
    """sha256 of what a file holds, not of its bytes: of a workbook, its sheets and shared
    strings (the cells), not its metadata, so that a workbook saved again without a change
    (new time stamps) is the same file; of a CSV file, its text without a byte-order mark
    and with one kind of line ending. Costs a read of the archive, not a parse."""
    digest = hashlib.sha256()
    if file_format == "csv":
        text = content.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n")
        digest.update(text)
        return digest.hexdigest()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in sorted(archive.namelist()):
            if name.startswith("xl/worksheets/") or name == "xl/sharedStrings.xml":
                digest.update(name.encode() + b"\0")
                with archive.open(name) as part:
                    while block := part.read(1 << 20):
                        digest.update(block)
    return digest.hexdigest()
