"""Reading an import file as a stream of rows (`app.imports.sheet_reader`: XLSX streamed
through expat, never the whole sheet at once; CSV through the csv module), and the rows'
cells by column key.

An import job reads its file in a child process (`reading_process`): parsing a workbook is
the slowest step of an import, and in a thread it competes with the job for the GIL. The
child, a script of the standard library alone, sends the layout, then the rows in batches
through a pipe, and is ended on every path out of the job (its end, an error, a
cancellation)."""

import asyncio
import contextlib
import hashlib
import io
import itertools
import marshal
import sys
import tempfile
import zipfile
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from app.imports import sheet_reader
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


def _cells(values: list[Any], keys: list[str | None]) -> dict[str, Any]:
    """A row's cells by key, without the empty ones (a date as a datetime)."""
    cells: dict[str, Any] = {}
    for key, value in zip(keys, values, strict=False):
        if key is not None and value is not None and value != "":
            cells[key] = datetime(*value) if type(value) is tuple else value  # noqa: DTZ001
    return cells


def _rows(values: Iterator[sheet_reader.Row], keys: list[str | None]) -> Iterator[FileRow]:
    for number, row in values:
        cells = _cells(row, keys)
        if cells:  # an empty row is no respondent
            yield FileRow(number, cells)


Source = bytes | Path


def _opened(source: Source) -> str | IO[bytes]:
    return io.BytesIO(source) if isinstance(source, bytes) else str(source)


def _sheet(source: Source, file_format: str) -> tuple[Layout, list[str | None], Iterator[Any]]:
    try:
        sheet = sheet_reader.read_sheet(_opened(source), file_format, SHEET_NAME)
        first = next(sheet.rows, None)
    except sheet_reader.Unreadable as problem:
        raise FileProblem(str(problem)) from None
    except Exception as error:  # a file that breaks off in its first rows
        raise FileProblem(sheet_reader.unreadable(file_format, error)) from None
    if first is None and file_format == "csv":
        raise FileProblem("CSV: the file is empty (no header row)")
    if first is None:
        raise FileProblem(f"{sheet.title}: the sheet is empty (no header row)")
    rows = sheet.rows
    if first[0] != 1:  # no header row: its columns are reported missing
        header: list[Any] = []
        rows = itertools.chain([first], rows)
    else:
        header = first[1]
    layout, keys = _layout(sheet.title, header)
    layout.rows_total = sheet.rows_total
    return layout, keys, rows


def read(source: Source, file_format: str) -> tuple[Layout, Iterator[FileRow]]:
    """The file's layout and its rows, read in this process (streamed): for the bench and
    the tests; an import reads in a child process (`reading_process`)."""
    layout, keys, rows = _sheet(source, file_format)

    def checked() -> Iterator[FileRow]:
        last = 1
        try:
            for row in _rows(rows, keys):
                last = row.number
                yield row
        except Exception as error:
            raise FileProblem(
                f"{layout.sheet}: the file cannot be read after row {last} ({type(error).__name__})"
            ) from None

    return layout, checked()


def header(source: Source, file_format: str) -> Layout:
    """The file's layout from its header row alone (the upload's early check): raises
    FileProblem for a file that cannot be imported at all."""
    layout, _, rows = _sheet(source, file_format)
    close = getattr(rows, "close", None)
    if close is not None:
        close()
    return layout


def format_of(content: bytes) -> str:
    """An XLSX workbook is a ZIP archive; anything else is read as CSV."""
    return "xlsx" if content[:4] == b"PK\x03\x04" else "csv"


def content_digest(source: Source, file_format: str) -> str:
    """sha256 of what a file holds, not of its bytes: of a workbook, its sheets and shared
    strings (the cells), not its metadata, so that a workbook saved again without a change
    (new time stamps) is the same file; of a CSV file, its text without a byte-order mark
    and with one kind of line ending. Costs a read of the archive, not a parse; the file is
    read 1 MB at a time."""
    digest = hashlib.sha256()
    if file_format == "csv":
        with contextlib.closing(_binary(source)) as stream:
            carry = b""
            first = True
            while block := stream.read(1 << 20):
                block = carry + block
                if first:
                    block, first = block.removeprefix(b"\xef\xbb\xbf"), False
                carry = b"\r" if block.endswith(b"\r") else b""
                digest.update(block[: len(block) - len(carry)].replace(b"\r\n", b"\n"))
            digest.update(carry)
        return digest.hexdigest()
    with zipfile.ZipFile(_opened(source)) as archive:
        for name in sorted(archive.namelist()):
            if name.startswith("xl/worksheets/") or name == "xl/sharedStrings.xml":
                digest.update(name.encode() + b"\0")
                with archive.open(name) as part:
                    while block := part.read(1 << 20):
                        digest.update(block)
    return digest.hexdigest()


def _binary(source: Source) -> IO[bytes]:
    return io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")


# --- reading in a child process ------------------------------------------------------------

# The reader is a script of the standard library alone, run isolated (-I: no environment,
# no user site, not the current directory; -S: no site packages): it starts in tens of
# milliseconds in a few MB, and shares nothing with the job (no event loop, no threads, no
# connections) but its stdout.
READER_SCRIPT = str(Path(sheet_reader.__file__).resolve())
STOP_SECONDS = 5.0  # a child asked to stop is killed after this long


async def _message(stream: asyncio.StreamReader) -> Any:
    try:
        size = int.from_bytes(await stream.readexactly(4), "little")
        return marshal.loads(await stream.readexactly(size))  # from our own child
    except (asyncio.IncompleteReadError, EOFError, ValueError):
        raise FileProblem("the process reading the file stopped before its end") from None


@asynccontextmanager
async def reading_process(
    source: Source, file_format: str, size: int
) -> AsyncIterator[tuple[Layout, AsyncIterator[list[FileRow]]]]:
    """The file's layout and its rows in batches of `size` (the first one of at most
    `sheet_reader.FIRST_BATCH`, so that the job starts sooner), read by a child process (the
    file at a path; content given as bytes is written to a temporary file first), which is
    gone when the block is left, however it is left. A file that cannot be read, at its
    start or part way, raises FileProblem. The child reads ahead while a batch is stored,
    as far as the pipe and the stream's buffer hold (a batch or two): the rows are
    streamed, never held."""
    with contextlib.ExitStack() as files:
        if isinstance(source, bytes):
            temporary = files.enter_context(tempfile.NamedTemporaryFile(suffix=".import"))
            temporary.write(source)
            temporary.flush()
            path = temporary.name
        else:
            path = str(source)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-S",
            READER_SCRIPT,
            file_format,
            path,
            str(size),
            SHEET_NAME,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,  # a traceback could quote a cell
        )
        assert process.stdout is not None
        stdout = process.stdout
        keys: list[str | None] = []

        async def batches() -> AsyncGenerator[list[FileRow], None]:
            while True:
                message = await _message(stdout)
                if message[0] == "rows":
                    found = [
                        FileRow(number, cells)
                        for number, values in message[1]
                        if (cells := _cells(values, keys))
                    ]
                    if found:
                        yield found
                elif message[0] == "problem":
                    raise FileProblem(message[1])
                else:
                    return

        rows = batches()
        try:
            first = await _message(stdout)
            if first[0] == "problem":
                raise FileProblem(first[1])
            layout, keys = _layout(first[1], list(first[2]))
            layout.rows_total = first[3]
            yield layout, rows
        finally:
            await rows.aclose()
            await _end(process)


async def _end(process: asyncio.subprocess.Process) -> None:
    """The child ended: asked (SIGTERM), then killed if it does not stop in time; waited
    for even when the wait is cancelled."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    waiting = asyncio.ensure_future(process.wait())
    try:
        await asyncio.wait_for(asyncio.shield(waiting), STOP_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await asyncio.shield(waiting)
