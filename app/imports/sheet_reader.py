"""Reading a spreadsheet's rows, standard library only: XLSX (zipfile, the sheet's XML and its
shared strings streamed through expat, never a whole part in memory) and CSV.

A module of the service (`read_sheet`, used for the upload's early check) and a script run as
the import's reading process, `python -I -S sheet_reader.py FORMAT PATH SIZE SHEET`: no site
packages and nothing of the service, so it starts in tens of milliseconds in a few MB. It
writes its messages to stdout, each a 4-byte length and a marshal'ed tuple:

    ("layout", sheet title, header values, data rows the file announces or None)
    ("rows", [(row number, [values by column position, None for an empty cell]), ...])
    ("end",)  or  ("problem", text)

Values are str, int, float, bool, or a date as a tuple (year, month, day, hour, minute,
second, microsecond): a number in a cell formatted as a date, read in the workbook's date
system (1900 or 1904). A cell's column is its reference (`C7`), not its position among the
row's cells (a spreadsheet program leaves empty cells out).

The script's start is part of every import's fixed cost: it imports only what it needs to
run (csv for a CSV file alone; typing and dataclasses not at all, about 15 ms of a 45 ms
start)."""

from __future__ import annotations

import io
import marshal
import posixpath
import re
import sys
import zipfile
from datetime import datetime, timedelta
from xml.parsers import expat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import IO, Any

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
CHUNK = 1 << 16  # bytes of a part given to the parser at a time
FIRST_BATCH = 250  # rows of the reading process's first batch, at most

Value = str | int | float | bool | tuple[int, ...] | None
Row = tuple[int, list[Value]]

# The number formats Excel builds in that show a date or a time (ids, ECMA-376 18.8.30,
# with the East Asian ones).
_DATE_FORMAT_IDS = frozenset([*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)])
# What a format code shows apart from its date parts: quoted text, escaped characters,
# colours and conditions in brackets (but not elapsed times: [h], [mm], [ss]).
_NOT_DATE_PARTS = re.compile(r'"[^"]*"|\\.|\[(?![hms]+\])[^\]]*\]|_.|\*.')
_DATE_PARTS = re.compile(r"[dmyhs]", re.IGNORECASE)


class Unreadable(Exception):
    """The file as a whole cannot be read (not a workbook, no sheet)."""


class Sheet:
    __slots__ = ("rows", "rows_total", "title")

    def __init__(self, title: str, rows_total: int | None, rows: Iterator[Row]) -> None:
        self.title = title
        self.rows_total = rows_total  # data rows (the header not counted), as the file says
        self.rows = rows  # every row with a cell, the header (row 1) included


def is_date_format(code: str) -> bool:
    section = _NOT_DATE_PARTS.sub("", code.split(";")[0])
    return _DATE_PARTS.search(section) is not None


def from_serial(serial: float, date1904: bool) -> tuple[int, ...]:
    """A date serial as (year, month, day, hour, minute, second, microsecond)."""
    if date1904:
        base = datetime(1904, 1, 1)  # noqa: DTZ001 (a spreadsheet's day has no zone)
    else:
        base = datetime(1899, 12, 30)  # noqa: DTZ001
        if serial < 60:  # before Excel's 29 February 1900, which never was
            serial += 1
    day = base + timedelta(microseconds=round(serial * 86_400_000_000))
    return (day.year, day.month, day.day, day.hour, day.minute, day.second, day.microsecond)


# --- the workbook's parts ---------------------------------------------------------------------


def _parse_part(archive: zipfile.ZipFile, name: str, parser: Any) -> None:
    with archive.open(name) as part:
        while block := part.read(CHUNK):
            parser.Parse(block, False)
    parser.Parse(b"", True)


def _parser() -> Any:
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    return parser


def _relationships(archive: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """A part's relationships: id → (type, the target part's name)."""
    folder, name = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", name + ".rels")
    found: dict[str, tuple[str, str]] = {}
    if rels not in archive.namelist():
        return found

    def start(name: str, attrs: dict[str, str]) -> None:
        if name == f"{PACKAGE_RELATIONSHIPS} Relationship":
            target = attrs.get("Target", "")
            if attrs.get("TargetMode") == "External":
                return
            path = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
            found[attrs.get("Id", "")] = (attrs.get("Type", ""), _normal(path))

    parser = _parser()
    parser.StartElementHandler = start
    _parse_part(archive, rels, parser)
    return found


def _normal(path: str) -> str:
    parts: list[str] = []
    for piece in path.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece not in ("", "."):
            parts.append(piece)
    return "/".join(parts)


def _workbook(archive: zipfile.ZipFile) -> tuple[str, list[tuple[str, str]], bool]:
    """The workbook part's name, its sheets (name, relationship id), and its date system."""
    found = _relationships(archive, "")
    book = next(
        (t for kind, t in found.values() if kind.endswith("/officeDocument")), "xl/workbook.xml"
    )
    sheets: list[tuple[str, str]] = []
    date1904 = [False]

    def start(name: str, attrs: dict[str, str]) -> None:
        if name == f"{MAIN} sheet":
            sheets.append((attrs.get("name", ""), attrs.get(f"{RELATIONSHIPS} id", "")))
        elif name == f"{MAIN} workbookPr":
            date1904[0] = attrs.get("date1904", "false").lower() in ("1", "true")

    parser = _parser()
    parser.StartElementHandler = start
    _parse_part(archive, book, parser)
    return book, sheets, date1904[0]


def _shared_strings(archive: zipfile.ZipFile, name: str) -> list[str]:
    """Every shared string: its text runs joined (phonetic runs left out)."""
    strings: list[str] = []
    text: list[str] = []
    depth = {"phonetic": 0, "in_t": False}

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == T:
            depth["in_t"] = depth["phonetic"] == 0
        elif tag == SI:
            text.clear()
        elif tag == RPH:
            depth["phonetic"] += 1

    def end(tag: str) -> None:
        if tag == T:
            depth["in_t"] = False
        elif tag == SI:
            strings.append("".join(text))
        elif tag == RPH:
            depth["phonetic"] -= 1

    def data(chunk: str) -> None:
        if depth["in_t"]:
            text.append(chunk)

    T, SI, RPH = f"{MAIN} t", f"{MAIN} si", f"{MAIN} rPh"
    parser = _parser()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    _parse_part(archive, name, parser)
    return strings


def _date_styles(archive: zipfile.ZipFile, name: str) -> set[int]:
    """The cell styles (indexes of cellXfs) whose number format shows a date."""
    custom: dict[int, str] = {}
    styles: list[int] = []
    inside = {"cellXfs": False}

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == f"{MAIN} numFmt":
            custom[int(attrs.get("numFmtId", "0"))] = attrs.get("formatCode", "")
        elif tag == f"{MAIN} cellXfs":
            inside["cellXfs"] = True
        elif tag == f"{MAIN} xf" and inside["cellXfs"]:
            styles.append(int(attrs.get("numFmtId", "0")))

    def end(tag: str) -> None:
        if tag == f"{MAIN} cellXfs":
            inside["cellXfs"] = False

    parser = _parser()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    _parse_part(archive, name, parser)
    return {
        index
        for index, number in enumerate(styles)
        if (is_date_format(custom[number]) if number in custom else number in _DATE_FORMAT_IDS)
    }


# --- the sheet --------------------------------------------------------------------------------


class _SheetParser:
    """The sheet's XML, fed a block at a time; the rows completed so far in `done`.

    The hot path of an import (five callbacks a cell): the handlers are closures over local
    state, and the parser does no namespace processing (the sheet's tags are matched with
    the prefix its root element has, usually none)."""

    def __init__(self, strings: list[str], date_styles: set[int], date1904: bool) -> None:
        self.done: list[Row] = []
        self.rows_total: int | None = None
        styles = {str(s) for s in date_styles}
        done = self.done
        columns: dict[str, int] = {}
        tags: dict[str, str] = {}
        # the current row, cell, and text
        row_number = 0
        cells: dict[int, Value] = {}
        column = -1
        kind: str | None = None
        style: str | None = None
        text: list[str] = []
        collecting = False
        inline = False
        C = V = T = IS = ROW = DIMENSION = "\0"  # set from the root element's prefix

        def root(tag: str, attrs: dict[str, str]) -> None:
            nonlocal C, V, T, IS, ROW, DIMENSION
            prefix = tag[: -len("worksheet")] if tag.endswith("worksheet") else ""
            C, V, T, IS, ROW, DIMENSION = (
                prefix + name for name in ("c", "v", "t", "is", "row", "dimension")
            )
            tags.update(c=C, v=V, t=T)
            self.parser.StartElementHandler = start

        def start(tag: str, attrs: dict[str, str]) -> None:
            nonlocal row_number, cells, column, kind, style, text, collecting, inline
            if tag == C:
                reference = attrs.get("r")
                if reference is None:
                    column += 1
                else:
                    letters = reference.rstrip("0123456789")
                    found = columns.get(letters)
                    column = found if found is not None else _letters(letters, columns)
                kind = attrs.get("t")
                style = attrs.get("s")
                text = []
            elif tag == V:
                collecting = True
            elif tag == ROW:
                number = attrs.get("r")
                row_number = int(number) if number is not None else row_number + 1
                cells = {}
                column = -1
            elif tag == T:
                collecting = inline
            elif tag == IS:
                inline = True
            elif tag == DIMENSION:
                last = attrs.get("ref", "").rpartition(":")[2].lstrip(_LETTERS)
                if last.isdigit():
                    self.rows_total = max(int(last) - 1, 0)

        def data(chunk: str) -> None:
            if collecting:
                text.append(chunk)

        def end(tag: str) -> None:
            nonlocal collecting, inline
            if tag == V:
                collecting = False
            elif tag == C:
                if text:
                    cells[column] = value("".join(text))
                inline = False
            elif tag == ROW:
                if cells:
                    values: list[Value] = [None] * (max(cells) + 1)
                    for position, found in cells.items():
                        values[position] = found
                    done.append((row_number, values))
            elif tag == T:
                collecting = False

        def value(found: str) -> Value:
            if kind is None or kind == "n":
                number: int | float = (
                    float(found) if "." in found or "E" in found or "e" in found else int(found)
                )
                if style is not None and style in styles:
                    return from_serial(number, date1904)
                return number
            if kind == "s":
                return strings[int(found)]
            if kind == "b":
                return found.strip() in ("1", "true")
            if kind == "d":
                day = datetime.fromisoformat(found.strip().removesuffix("Z"))
                return (day.year, day.month, day.day, day.hour, day.minute, day.second, 0)
            return found  # str (a formula's text), inlineStr, e (an error such as #N/A)

        self.parser = expat.ParserCreate()
        self.parser.buffer_text = True
        self.parser.StartElementHandler = root
        self.parser.EndElementHandler = end
        self.parser.CharacterDataHandler = data

    def feed(self, block: bytes, last: bool = False) -> None:
        self.parser.Parse(block, last)

    def take(self) -> list[Row]:
        """The rows completed since the last time."""
        taken = self.done[:]
        self.done.clear()
        return taken


_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ$"


def _letters(letters: str, cache: dict[str, int]) -> int:
    """`C` → 2 (the letters of a cell's reference as a position from 0), remembered."""
    found = 0
    for char in letters.upper():
        found = found * 26 + ord(char) - 64
    cache[letters] = found - 1
    return found - 1


def read_xlsx(source: str | IO[bytes], sheet_name: str) -> Sheet:
    """The sheet named so (or the workbook's first), streamed."""
    try:
        archive = zipfile.ZipFile(source)
        book, sheets, date1904 = _workbook(archive)
        relations = _relationships(archive, book)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, expat.ExpatError) as error:
        raise Unreadable(f"not an XLSX workbook ({type(error).__name__})") from None
    if not sheets:
        raise Unreadable("not an XLSX workbook (no sheet)")
    title, rel = next((s for s in sheets if s[0] == sheet_name), sheets[0])
    names = set(archive.namelist())
    part = relations.get(rel, ("", ""))[1]
    if part not in names:
        raise Unreadable(f"not an XLSX workbook (the sheet '{title[:40]}' is missing)")
    strings: list[str] = []
    date_styles: set[int] = set()
    try:
        for kind, target in relations.values():
            if kind.endswith("/sharedStrings") and target in names:
                strings = _shared_strings(archive, target)
            elif kind.endswith("/styles") and target in names:
                date_styles = _date_styles(archive, target)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, expat.ExpatError) as e:
        raise Unreadable(f"not an XLSX workbook ({type(e).__name__})") from None
    sheet = _SheetParser(strings, date_styles, date1904)
    stream = archive.open(part)
    # The sheet's start, up to its first rows: the dimension (the rows it announces) comes
    # before them.
    # A block's damage is raised by `rows` after the rows before it in the block.
    broken: list[Exception] = []

    def feed() -> bytes:
        try:
            block = stream.read(CHUNK)
            sheet.feed(block, not block)
        except Exception as error:
            broken.append(error)
            return b""
        return block

    more = feed()  # the sheet's start: the rows it announces come before its rows

    def rows() -> Iterator[Row]:
        nonlocal more
        try:
            while True:
                yield from sheet.take()
                if broken:
                    raise broken[0]
                if not more:
                    return
                more = feed()
        finally:
            stream.close()
            archive.close()

    return Sheet(title, sheet.rows_total, rows())


def read_csv(source: str | IO[bytes]) -> Sheet:
    """A CSV file: comma, semicolon or tab (whichever its first line has most of), UTF-8
    with or without a byte-order mark."""
    import csv  # here: not for a workbook (the reading process starts sooner)

    binary = open(source, "rb") if isinstance(source, str) else source  # noqa: SIM115
    newlines = 0
    while block := binary.read(1 << 20):
        newlines += block.count(b"\n")
    binary.seek(0)
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    try:
        first = text.readline()
    except UnicodeDecodeError:
        raise Unreadable("the CSV file is not UTF-8 text") from None
    delimiter = max(",;\t", key=first.count)
    header = next(csv.reader([first], delimiter=delimiter), [])

    def rows() -> Iterator[Row]:
        try:
            if header:
                yield 1, [*header]
            for number, values in enumerate(csv.reader(text, delimiter=delimiter), start=2):
                yield number, [*values]
        finally:
            text.close()

    return Sheet("CSV", max(newlines - 1, 0), rows())


def unreadable(file_format: str, error: Exception) -> str:
    """Why a file that breaks off in its first rows cannot be imported."""
    if isinstance(error, UnicodeDecodeError):
        return "the CSV file is not UTF-8 text"
    kind = "an XLSX workbook" if file_format == "xlsx" else "a readable CSV file"
    return f"not {kind} ({type(error).__name__})"


def read_sheet(source: str | IO[bytes], file_format: str, sheet_name: str) -> Sheet:
    return read_xlsx(source, sheet_name) if file_format == "xlsx" else read_csv(source)


# --- the reading process ----------------------------------------------------------------------


def _send(out: IO[bytes], message: tuple[Any, ...]) -> None:
    data = marshal.dumps(message)
    out.write(len(data).to_bytes(4, "little") + data)
    out.flush()


def main(argv: list[str]) -> int:
    file_format, path, size_text, sheet_name = argv
    size = int(size_text)
    # The first batch is smaller: the job checks and stores it while the next is read, so
    # that it does not wait for a whole batch to start.
    limit = min(size, FIRST_BATCH)
    out = sys.stdout.buffer
    try:
        try:
            sheet = read_sheet(path, file_format, sheet_name)
            rows = sheet.rows
            first = next(rows, None)
        except Unreadable as problem:
            _send(out, ("problem", str(problem)))
            return 0
        except Exception as error:  # a file that breaks off in its first rows
            _send(out, ("problem", unreadable(file_format, error)))
            return 0
        if first is None or first[0] != 1:
            if file_format == "csv":
                _send(out, ("problem", "CSV: the file is empty (no header row)"))
                return 0
            if first is None:
                _send(out, ("problem", f"{sheet.title}: the sheet is empty (no header row)"))
                return 0
            header: list[Value] = []
            pending = [first]
        else:
            header, pending = first[1], []
        _send(out, ("layout", sheet.title, header, sheet.rows_total))
        batch: list[Row] = pending
        last = 1
        try:
            for row in rows:
                batch.append(row)
                last = row[0]
                if len(batch) >= limit:
                    _send(out, ("rows", batch))
                    batch = []
                    limit = size
        except Exception as error:  # a file that breaks off part way
            if batch:  # the rows before the break were read whole
                _send(out, ("rows", batch))
            reason = type(error).__name__
            _send(
                out,
                (
                    "problem",
                    f"{sheet.title}: the file cannot be read after row {last} ({reason}); "
                    "the rows before it were read and are in the counts",
                ),
            )
            return 0
        if batch:
            _send(out, ("rows", batch))
        _send(out, ("end",))
    except BrokenPipeError:  # the job ended first: nobody reads any more
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
