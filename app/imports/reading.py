"""Reading an import file as a stream of rows: XLSX through openpyxl's read-only mode (rows
are parsed as they are read, never the whole sheet at once), CSV through the csv module
(comma, semicolon or tab, UTF-8 with or without a byte-order mark).

An import job reads its file in a child process (`reading_process`): parsing a workbook is
the slowest step of an import, and in a thread it competes with the job for the GIL. The
child sends the layout, then the rows in batches of plain tuples through a pipe (whose
small buffer keeps it at most a batch or two ahead: the rows are streamed, never held),
and is ended on every path out of the job (its end, an error, a cancellation)."""

import asyncio
import csv
import hashlib
import io
import multiprocessing
import pickle
import zipfile
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
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


# --- reading in a child process ------------------------------------------------------------

# Spawned, not forked: a fork of a process running an event loop, threads and database
# connections copies them all in whatever state they are; a spawned child starts clean.
_CONTEXT = multiprocessing.get_context("spawn")
STOP_SECONDS = 5.0  # a child asked to stop is killed after this long


def _read_in_child(content: bytes, file_format: str, size: int, out: Connection) -> None:
    """The child process: ("layout", layout, keys), then ("rows", [(number, *values)]) per
    `size` rows (values in the order of keys, None for an empty cell), then ("end",); or
    ("problem", text) when the file cannot be read (at its start or part way)."""
    try:
        try:
            layout, rows = read(content, file_format)
        except FileProblem as problem:
            out.send(("problem", str(problem)))
            return
        keys = list(layout.letters)
        out.send(("layout", layout, keys))
        batch: list[tuple[Any, ...]] = []
        last = 1
        try:
            for row in rows:
                batch.append((row.number, *(row.cells.get(key) for key in keys)))
                last = row.number
                if len(batch) == size:
                    out.send(("rows", batch))
                    batch = []
        except Exception as error:  # a file that breaks off part way (a damaged sheet)
            # The rows before the break are sent: they were read whole.
            if batch:
                out.send(("rows", batch))
            reason = type(error).__name__
            out.send(
                (
                    "problem",
                    f"{layout.sheet}: the file cannot be read after row {last} ({reason}); "
                    "the rows before it were read and are in the counts",
                )
            )
            return
        if batch:
            out.send(("rows", batch))
        out.send(("end",))
    except (BrokenPipeError, EOFError):  # the job ended first: nobody reads any more
        pass
    finally:
        out.close()


def _receive(connection: Connection) -> bytes:
    """The child's next message as it came (in a thread: the wait releases the GIL)."""
    try:
        return connection.recv_bytes()
    except (EOFError, OSError):
        raise FileProblem("the process reading the file stopped before its end") from None


class _Receiver:
    """The parent's end of the pipe: one message asked for at a time, its bytes received in
    a thread, read here (the rows' objects are made by the job's own thread); a wait that is
    cancelled leaves the thread's read running (shielded), to be awaited on close."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.keys: list[str] = []
        self.pending: asyncio.Task[bytes] | None = None

    def ask(self) -> None:
        self.pending = asyncio.ensure_future(asyncio.to_thread(_receive, self.connection))

    async def answer(self) -> Any:
        assert self.pending is not None
        message = pickle.loads(await asyncio.shield(self.pending))  # from our own child
        if message[0] != "rows":
            return message
        keys = self.keys
        return [
            FileRow(
                values[0], {k: v for k, v in zip(keys, values[1:], strict=True) if v is not None}
            )
            for values in message[1]
        ]

    async def close(self) -> None:
        if self.pending is not None:
            await asyncio.wait([self.pending])  # the child is gone: the read ends (EOF)
            if not self.pending.cancelled():
                self.pending.exception()  # seen: nobody wants it any more
        self.connection.close()


@asynccontextmanager
async def reading_process(
    content: bytes, file_format: str, size: int
) -> AsyncIterator[tuple[Layout, AsyncIterator[list[FileRow]]]]:
    """The file's layout and its rows in batches of `size`, read by a child process, which
    is gone when the block is left, however it is left. A file that cannot be read, at its
    start or part way, raises FileProblem."""
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    process = _CONTEXT.Process(
        target=_read_in_child,
        args=(content, file_format, size, sender),
        name="skm-import-reader",
        daemon=True,
    )
    messages = _Receiver(receiver)

    async def batches() -> AsyncGenerator[list[FileRow], None]:
        messages.ask()
        while True:
            message = await messages.answer()
            if not isinstance(message, list):
                if message[0] == "problem":
                    raise FileProblem(message[1])
                return
            messages.ask()  # the next batch is received while this one is stored
            yield message

    rows = batches()
    started = asyncio.ensure_future(asyncio.to_thread(process.start))
    try:
        await asyncio.shield(started)
        sender.close()  # the child has its copy: when it ends, the pipe says so (EOF)
        messages.ask()
        first = await messages.answer()
        if first[0] == "problem":
            raise FileProblem(first[1])
        layout, messages.keys = first[1], first[2]
        yield layout, rows
    finally:
        await rows.aclose()
        await asyncio.wait([started])  # (a start cancelled part way is finished first)
        sender.close()
        if process.pid is not None:  # it was started
            if process.is_alive():
                process.terminate()
            await asyncio.to_thread(process.join, STOP_SECONDS)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join)
        await messages.close()
        process.close()
