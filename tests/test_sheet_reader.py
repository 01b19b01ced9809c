"""The import's spreadsheet reader (app/imports/sheet_reader.py, standard library only):
workbooks written by hand, part by part, as spreadsheet programs write them (shared strings
with rich-text and phonetic runs, inline strings, cells left out, dates in either date
system, a namespace prefix), and files that cannot be read, whole or part way. Expected
values are worked out by hand in each test."""

import asyncio
import io
import re
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from app.imports import sheet_reader
from app.imports.reading import (
    READER_SCRIPT,
    FileProblem,
    content_digest,
    header,
    read,
    reading_process,
)

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"

STYLES = f"""<styleSheet xmlns="{MAIN}">
<numFmts count="2"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/>
<numFmt numFmtId="165" formatCode="&quot;day&quot;\\ 0"/></numFmts>
<cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs>
<cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/><xf numFmtId="165"/>
</cellXfs></styleSheet>"""


def xlsx(
    sheet_data: str,
    strings: list[str] | None = None,
    date1904: bool = False,
    prefix: str = "",
    dimension: str | None = None,
    sheets: tuple[str, ...] = ("Responses",),
) -> bytes:
    """A workbook written part by part; `sheet_data` is the <sheetData> of the sheet named
    `Responses` (the other sheets are empty); `strings` are <si> elements' contents."""
    out = io.BytesIO()
    p = f"{prefix}:" if prefix else ""
    ns = f'xmlns:{prefix}="{MAIN}"' if prefix else f'xmlns="{MAIN}"'
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{PKG}"><Relationship Id="rId1" Type="{REL}/officeDocument"'
            ' Target="xl/workbook.xml"/></Relationships>',
        )
        listed = "".join(
            f'<sheet name="{name}" sheetId="{n}" r:id="rIdS{n}"/>'
            for n, name in enumerate(sheets, start=1)
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{MAIN}" xmlns:r="{REL}">'
            f'<workbookPr date1904="{int(date1904)}"/><sheets>{listed}</sheets></workbook>',
        )
        rels = "".join(
            f'<Relationship Id="rIdS{n}" Type="{REL}/worksheet" Target="worksheets/s{n}.xml"/>'
            for n in range(1, len(sheets) + 1)
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{PKG}">{rels}'
            f'<Relationship Id="rIdT" Type="{REL}/sharedStrings" Target="/xl/strings.xml"/>'
            f'<Relationship Id="rIdY" Type="{REL}/styles" Target="styles.xml"/>'
            "</Relationships>",
        )
        archive.writestr("xl/styles.xml", STYLES)
        items = "".join(f"<si>{s}</si>" for s in strings or [])
        archive.writestr("xl/strings.xml", f'<sst xmlns="{MAIN}">{items}</sst>')
        if prefix:  # every tag of the sheet with the prefix
            sheet_data = re.sub(r"<(/?)(\w+)", rf"<\1{p}\2", sheet_data)
        for n, name in enumerate(sheets, start=1):
            data = sheet_data if name == "Responses" else ""
            dim = f'<{p}dimension ref="{dimension}"/>' if dimension else ""
            archive.writestr(
                f"xl/worksheets/s{n}.xml",
                f'<?xml version="1.0"?>\n<{p}worksheet {ns}>{dim}'
                f"<{p}sheetData>{data}</{p}sheetData></{p}worksheet>",
            )
    return out.getvalue()


HEADER_ROW = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>date</t></is></c>'
    '<c r="B1" t="inlineStr"><is><t>service</t></is></c>'
    '<c r="C1" t="inlineStr"><is><t>waktu</t></is></c>'
    '<c r="D1" t="inlineStr"><is><t>suggestion</t></is></c></row>'
)


def rows_of(content: bytes) -> list[tuple[int, dict[str, object]]]:
    _, found = read(content, "xlsx")
    return [(r.number, r.cells) for r in found]


def test_dates_are_read_in_the_workbooks_date_system_by_their_cells_format() -> None:
    # 46000 in the 1900 system: 30 December 1899 + 46000 days = 9 December 2025; with the
    # time .5 (noon). In the 1904 system the same serial is 1 January 1904 + 46000 days =
    # 10 December 2029. Style 2 is the custom "dd/mm/yyyy" (a date), style 3 the custom
    # '"day"\ 0' (quoted text: no date), style 0 General (a number).
    data = (
        HEADER_ROW + '<row r="2"><c r="A2" s="2"><v>46000.5</v></c><c r="C2" s="3"><v>3</v></c>'
        '<c r="D2" s="0"><v>46000</v></c></row>'
        '<row r="3"><c r="A3" s="1"><v>59</v></c><c r="C3"><v>2</v></c></row>'
        '<row r="4"><c r="A4" s="1"><v>61</v></c><c r="C4"><v>1</v></c></row>'
    )
    assert rows_of(xlsx(data)) == [
        (2, {"date": datetime(2025, 12, 9, 12), "waktu": 3, "suggestion": 46000}),  # noqa: DTZ001
        (3, {"date": datetime(1900, 2, 28), "waktu": 2}),  # noqa: DTZ001 (before 29 Feb 1900)
        (4, {"date": datetime(1900, 3, 1), "waktu": 1}),  # noqa: DTZ001
    ]
    assert rows_of(xlsx(data, date1904=True))[0][1]["date"] == datetime(2029, 12, 10, 12)  # noqa: DTZ001


def test_shared_strings_join_their_runs_without_the_phonetic_ones() -> None:
    strings = [
        "<t>ktp</t>",
        '<r><rPr><b/></rPr><t xml:space="preserve">bagus </t></r><r><t>sekali</t></r>'
        "<rPh><t>ignored</t></rPh>",
        "<t>Tidak &amp; &lt;ok&gt;</t>",
    ]
    data = (
        HEADER_ROW + '<row r="2"><c r="B2" t="s"><v>0</v></c><c r="D2" t="s"><v>1</v></c></row>'
        '<row r="3"><c r="B3" t="s"><v>0</v></c><c r="D3" t="s"><v>2</v></c></row>'
    )
    assert rows_of(xlsx(data, strings)) == [
        (2, {"service": "ktp", "suggestion": "bagus sekali"}),
        (3, {"service": "ktp", "suggestion": "Tidak & <ok>"}),
    ]


def test_cells_are_placed_by_their_reference_and_missing_cells_are_empty() -> None:
    # Row 2 has only C and A, in that order; row 3 has no references (each cell the one
    # after the last); rows 4 and 6 are absent, row 5 has only an empty string; a formula's
    # text is not its value, a boolean and an error are values.
    data = (
        HEADER_ROW + '<row r="2"><c r="C2"><v>4</v></c><c r="A2" t="str"><v>2026-11-30</v></c>'
        "</row>"
        '<row r="3"><c t="inlineStr"><is><t>x</t></is></c><c t="inlineStr"><is><t>kk</t></is>'
        '</c><c><f>1+1</f><v>2</v></c><c t="b"><v>1</v></c></row>'
        '<row r="5"><c r="B5" t="inlineStr"><is><t></t></is></c></row>'
        '<row r="7"><c r="D7" t="e"><v>#N/A</v></c><c r="B7" t="inlineStr"><is><t>ktp</t></is>'
        "</c></row>"
    )
    assert rows_of(xlsx(data, prefix="x", dimension="A1:D7")) == [
        (2, {"date": "2026-11-30", "waktu": 4}),
        (3, {"date": "x", "service": "kk", "waktu": 2, "suggestion": True}),
        (7, {"service": "ktp", "suggestion": "#N/A"}),
    ]
    layout = header(xlsx(data, dimension="A1:D7"), "xlsx")
    assert (layout.sheet, layout.rows_total) == ("Responses", 6)
    assert layout.letters == {"date": "A", "service": "B", "waktu": "C", "suggestion": "D"}


def test_the_responses_sheet_is_read_wherever_it_is_else_the_first() -> None:
    data = HEADER_ROW + '<row r="2"><c r="C2"><v>4</v></c></row>'
    assert rows_of(xlsx(data, sheets=("Notes", "Responses"))) == [(2, {"waktu": 4})]
    with pytest.raises(FileProblem, match="Notes: the sheet is empty"):
        header(xlsx(data, sheets=("Notes", "Other")), "xlsx")


def test_a_file_that_is_no_workbook_or_is_cut_short_is_refused_whole() -> None:
    content = xlsx(HEADER_ROW + '<row r="2"><c r="C2"><v>4</v></c></row>')
    for broken in (b"PK\x03\x04not a zip at all", content[: len(content) // 2]):
        with pytest.raises(FileProblem, match=r"not an XLSX workbook \(BadZipFile\)"):
            header(broken, "xlsx")
    # A sound archive whose sheet's compressed data is damaged: its CRC or inflation fails.
    damaged = bytearray(content)
    at = content.index(b"xl/worksheets/s1.xml") + len("xl/worksheets/s1.xml") + 4
    damaged[at : at + 8] = b"\xff" * 8
    with pytest.raises(FileProblem):
        rows_of(bytes(damaged))


def test_a_sheet_that_breaks_off_gives_its_rows_before_the_break() -> None:
    good = "".join(f'<row r="{n}"><c r="C{n}"><v>{1 + n % 4}</v></c></row>' for n in range(2, 9))
    content = xlsx(HEADER_ROW + good + '<row r="9"><c r="C9"><v>1</c></row>')
    _, found = read(content, "xlsx")
    numbers: list[int] = []
    with pytest.raises(FileProblem, match=r"cannot be read after row 8 \(ExpatError\)"):
        numbers.extend(r.number for r in found)
    assert numbers == list(range(2, 9))


def test_the_reading_process_sends_dates_as_dates(tmp_path: Path) -> None:
    data = HEADER_ROW + '<row r="2"><c r="A2" s="1"><v>46000</v></c><c r="C2"><v>4</v></c></row>'
    path = tmp_path / "in.xlsx"
    path.write_bytes(xlsx(data))

    async def scenario() -> list[dict[str, object]]:
        async with reading_process(path, "xlsx", 10) as (layout, batches):
            assert layout.letters["waktu"] == "C"
            return [r.cells for b in [b async for b in batches] for r in b]

    assert asyncio.run(scenario()) == [{"date": datetime(2025, 12, 9), "waktu": 4}]  # noqa: DTZ001


def test_csv_with_a_byte_order_mark_semicolons_and_crlf() -> None:
    content = "\ufeffdate;service;waktu\r\n2026-11-30;ktp;4\r\n;;\r\n30/11/2026;kk;\r\n".encode()
    layout, found = read(content, "csv")
    assert (layout.sheet, layout.rows_total) == ("CSV", 3)
    assert [(r.number, r.cells) for r in found] == [
        (2, {"date": "2026-11-30", "service": "ktp", "waktu": "4"}),
        (4, {"date": "30/11/2026", "service": "kk"}),
    ]
    # The digest is of the text: with or without the mark, CRLF or LF, 1 MB blocks or not.
    plain = content.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n")
    assert content_digest(content, "csv") == content_digest(plain, "csv")


def test_date_formats_are_told_from_other_formats() -> None:
    dates = ("yyyy-mm-dd", "d/m/yy h:mm", "[$-421]dd mmmm yyyy", "[h]:mm:ss", "mmm-yy;@")
    others = ("0.00", '"day" 0', "#,##0_);[Red](#,##0)", "General", "0%", "\\d 0")
    assert all(sheet_reader.is_date_format(code) for code in dates)
    assert not any(sheet_reader.is_date_format(code) for code in others)


def test_the_first_batch_is_small_so_that_the_job_starts_sooner(tmp_path: Path) -> None:
    # 600 rows in batches of 1,000: the first of 250 (FIRST_BATCH), then the other 350.
    data = HEADER_ROW + "".join(
        f'<row r="{n}"><c r="C{n}"><v>4</v></c></row>' for n in range(2, 602)
    )
    path = tmp_path / "in.xlsx"
    path.write_bytes(xlsx(data))

    async def sizes() -> list[int]:
        async with reading_process(path, "xlsx", 1000) as (_, batches):
            return [len(b) async for b in batches]

    assert asyncio.run(sizes()) == [250, 350]


def test_the_reading_process_imports_only_what_it_runs(tmp_path: Path) -> None:
    # Its start is a fixed cost of every import: a workbook's reading imports neither csv
    # nor the modules of annotations and dataclasses (typing, dataclasses and inspect).
    data = HEADER_ROW + '<row r="2"><c r="C2"><v>4</v></c></row>'
    path = tmp_path / "in.xlsx"
    path.write_bytes(xlsx(data))
    done = subprocess.run(  # as the job runs it, each import it makes listed on stderr
        [
            sys.executable,
            "-I",
            "-S",
            "-X",
            "importtime",
            READER_SCRIPT,
            "xlsx",
            str(path),
            "10",
            "x",
        ],
        capture_output=True,
        check=True,
    )
    loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.decode().splitlines()}
    assert "zipfile" in loaded  # it did read the workbook
    assert not loaded & {"csv", "typing", "dataclasses", "inspect"}
