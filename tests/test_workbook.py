"""The processing workbook (XLSX), on both databases: its cells and formulas read back, and
its formulas recalculated by LibreOffice (an engine other than ours, made to recalculate on
load) to the API's figures, a half-up boundary included; an altered formula is caught.

The boundary case is worked out by hand: 625 paper forms with *pengaduan* left blank by
everyone (k = 8 elements), 2,661 answers of 4 and 2,339 of 3 over the 5,000 answers, so
the sum of scores is 17,661, the index 17661 / (625 × 8) = 3.5322 → 3.532, and the IKM
17661 / 200 = 88.305 exactly, which rounds half-up to 88.31: an A (88.30 would be a B).
"""

import io
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from app.documents import workbook as workbook_module
from app.method import ELEMENTS
from tests.factories import create_key, make_unit, response_item, scores

PERIOD = "2025-03"
DAY = "2025-03-10T08:00:00+08:00"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
REQUIRE_LIBREOFFICE = os.environ.get("SKM_TEST_REQUIRE_LIBREOFFICE") == "1"
MARCH_10 = datetime(2025, 3, 10)  # noqa: DTZ001 (a spreadsheet's day, as openpyxl reads it)
RESPONDENTS = 625
FOURS = 2661  # of the 625 × 8 = 5,000 answers; the other 2,339 are 3


def boundary_rows() -> list[dict[str, int | None]]:
    """625 forms, eight answers each (pengaduan blank): the first 2,661 answers, in row
    order, are 4 and the rest 3."""
    rows = []
    for r in range(RESPONDENTS):
        values: list[int | None] = [4 if r * 8 + e < FOURS else 3 for e in range(len(ELEMENTS) - 1)]
        rows.append(scores(*values, None))
    return rows


PROFILES = [
    {"gender": "L", "age_band": "20-29", "education": "SMA", "occupation": "SWASTA"},
    {"gender": "P", "age_band": "30-39", "education": "D4-S1", "occupation": "PNS"},
    {"gender": "P", "age_band": "40-49"},
    {},
]


def post_boundary(client: TestClient) -> None:
    """The 625 forms on two units of a subtree, two services, a minute apart; one in five
    with a suggestion (one that looks like a formula)."""
    make_unit(client, "mpp", kind="service_mall", time_zone="Asia/Makassar")
    make_unit(client, "capil", parent="mpp", services=("ktp", "kk"))
    make_unit(client, "izin", parent="mpp", services=("usaha",))
    start = datetime.fromisoformat(DAY)
    items = []
    for i, answers in enumerate(boundary_rows()):
        unit, service = (("capil", "ktp"), ("capil", "kk"), ("izin", "usaha"))[i % 3]
        item = response_item(
            unit,
            service,
            answers,
            collected_at=start + timedelta(minutes=i),
            channel="paper",
            profile=PROFILES[i % 4],
        )
        if i % 5 == 0:
            item["suggestion"] = "=2+5 antrean lama" if i == 0 else f"Saran nomor {i}"
        items.append(item)
    for first in range(0, len(items), 500):
        answer = client.post("/v1/responses/batch", json={"items": items[first : first + 500]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["created"] == len(items[first : first + 500])


@pytest.fixture
def boundary(history: TestClient) -> TestClient:
    post_boundary(history)
    return history


def download(client: TestClient, tmp_path: Path, **params: str) -> Path:
    answer = client.get(
        "/v1/units/mpp/documents/workbook.xlsx", params={"period": PERIOD, **params}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == XLSX
    path = tmp_path / "olah-data.xlsx"
    path.write_bytes(answer.content)
    return path


def api_index(client: TestClient) -> dict[str, Any]:
    answer = client.get("/v1/indices/mpp", params={"period": PERIOD})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


# --- the figures a workbook shows, as cells at known places ----------------------------------

SUMMARY = "Ringkasan"
ELEMENT_ROWS = range(10, 19)  # 1-based rows of U1..U9 on the summary sheet


def figures(book: Any) -> dict[str, Any]:
    """The figures of the summary sheet (cached or recalculated values; an empty text, as
    LibreOffice saves a formula's "", read as no value)."""
    sheet = book[SUMMARY]
    for row in sheet.iter_rows():
        for cell in row:
            if cell.value == "":
                cell.value = None
    return {
        "respondents": sheet["B7"].value,
        "k": sheet["B19"].value,
        "index": sheet["B21"].value,
        "ikm": sheet["B22"].value,
        "mutu": sheet["B23"].value,
        "kinerja": sheet["B24"].value,
        "elements": [
            (
                sheet[f"D{r}"].value,
                sheet[f"E{r}"].value,
                sheet[f"G{r}"].value,
                sheet[f"J{r}"].value,
                sheet[f"K{r}"].value,
            )
            for r in ELEMENT_ROWS
        ],
    }


def api_figures(index: dict[str, Any]) -> dict[str, Any]:
    """The same figures from the API's answer."""
    pooled = index["pooled"]
    by_key = {e["key"]: e for e in pooled["elements"]}
    return {
        "respondents": pooled["responses"],
        "k": len(pooled["elements"]),
        "index": pooled["index"],
        "ikm": index["ikm"],
        "mutu": index["grade"]["mutu"],
        "kinerja": index["grade"]["kinerja"],
        "elements": [
            (
                by_key[key]["total"],
                by_key[key]["answers"],
                by_key[key]["nrr"],
                by_key[key]["ikm"],
                by_key[key]["grade"]["mutu"],
            )
            if key in by_key
            else (0, 0, None, None, None)
            for key in ELEMENTS
        ],
    }


def test_the_workbook_caches_the_apis_figures_and_shows_how_they_are_made(
    boundary: TestClient, tmp_path: Path
) -> None:
    index = api_index(boundary)
    # Worked out by hand (the module's docstring): the half-up boundary.
    assert (index["ikm"], index["grade"]["mutu"], index["pooled"]["index"]) == (88.31, "A", 3.532)
    book = openpyxl.load_workbook(download(boundary, tmp_path), data_only=True)
    assert figures(book) == api_figures(index)
    assert book.sheetnames == ["Ringkasan", "Data", "Profil", "Layanan", "Kanal", "Metode"]
    summary = book[SUMMARY]
    assert summary["B4"].value == "langsung (live), belum dipublikasikan"
    assert summary["B5"].value == "permenpan-rb-14-2017"
    assert book.properties.keywords == "SKM, permenpan-rb-14-2017"
    data = book["Data"]
    # One row per respondent, as answered: the blank stays blank.
    assert [c.value for c in data[5]][:18] == [
        1, MARCH_10, "capil", "ktp", "paper", 4, 4, 4, 4, 4, 4, 4, 4, None,
        "L", "20-29", "SMA", "SWASTA",
    ]  # fmt: skip
    assert data.cell(5 + RESPONDENTS - 1, 1).value == RESPONDENTS
    assert data.cell(5 + RESPONDENTS, 1).value is None  # then a blank row, then the totals
    totals = [data.cell(5 + RESPONDENTS + 1, 6 + e).value for e in range(9)]
    counts = [data.cell(5 + RESPONDENTS + 2, 6 + e).value for e in range(9)]
    assert sum(totals) == 17661
    assert counts == [625] * 8 + [0]
    # Profile: counts by hand (625 rows cycling through four profiles: 157, 156, 156, 156).
    profile = book["Profil"]
    rows = [[c.value for c in row][:3] for row in profile.iter_rows(min_row=4, max_row=7)]
    assert rows == [
        ["Jenis kelamin", "Responden", "Persentase"],
        ["Laki-laki", 157, 157 / 625],
        ["Perempuan", 312, 312 / 625],
        ["Tidak diisi", 156, 156 / 625],
    ]
    # No suggestions unless asked.
    assert "Saran" not in book.sheetnames


def test_the_formulas_are_integer_arithmetic_before_one_final_rounding(
    boundary: TestClient, tmp_path: Path
) -> None:
    book = openpyxl.load_workbook(download(boundary, tmp_path))
    summary = book[SUMMARY]
    assert summary["D10"].value == "='Data'!F631"
    assert summary["G10"].value == '=IF(E10>0,INT((2000*D10+E10)/(2*E10))/1000,"")'
    assert summary["B22"].value == (
        '=IF($B$19>0,INT((SUM(L10:L18)+$B$19+INT(SUM(M10:M18)+1E-9))/(2*$B$19))/100,"")'
    )
    assert summary["B23"].value == (
        '=IF($B$19>0,IF(B22>=88.31,"A",IF(B22>=76.61,"B",IF(B22>=65.00,"C","D"))),"")'
    )
    assert book["Data"]["F631"].value == "=SUM(F5:F629)"


def test_suggestions_only_when_asked_and_always_as_text(
    boundary: TestClient, tmp_path: Path
) -> None:
    book = openpyxl.load_workbook(download(boundary, tmp_path, include_suggestions="true"))
    sheet = book["Saran"]
    assert sheet.max_row == 1 + 125  # one in five of 625
    first = sheet["D2"]
    assert (sheet["A2"].value, first.value, first.data_type) == (1, "=2+5 antrean lama", "s")


def test_english_on_request(boundary: TestClient, tmp_path: Path) -> None:
    book = openpyxl.load_workbook(download(boundary, tmp_path, lang="en"), data_only=True)
    assert book.sheetnames == ["Summary", "Data", "Profile", "Services", "Channels", "Method"]
    assert book["Summary"]["B24"].value == "Very good"


def test_a_period_over_the_sheets_rows_is_split_by_month_and_says_so(
    history: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_unit(history, "capil", time_zone="Asia/Makassar", services=("ktp",))
    days = ["2025-01-31T23:30:00+08:00", "2025-02-01T00:30:00+08:00", "2025-03-15T09:00:00+08:00"]
    items = [
        response_item("capil", "ktp", scores(4, 3, 3, 4, 3, 4, 4, 3, 3), collected_at=day)
        for day in days
    ]
    assert history.post("/v1/responses/batch", json={"items": items}).status_code == 200
    # A sheet of 12 rows holds two respondents beside its header and footer.
    monkeypatch.setattr(workbook_module, "SHEET_ROWS", 12)
    answer = history.get("/v1/units/capil/documents/workbook.xlsx", params={"period": "2025-Q1"})
    assert answer.status_code == 200, answer.text
    book = openpyxl.load_workbook(io.BytesIO(answer.content), data_only=True)
    assert book.sheetnames[:4] == ["Ringkasan", "Data 2025-01", "Data 2025-02", "Data 2025-03"]
    assert "dibagi per bulan" in book["Ringkasan"]["A8"].value
    assert [book[f"Data 2025-0{m}"]["A5"].value for m in (1, 2, 3)] == [1, 2, 3]
    # 31 per respondent (4+3+3+4+3+4+4+3+3): IKM 25 × 31 / 9 = 86.11 (B), by hand.
    assert (book["Ringkasan"]["B22"].value, book["Ringkasan"]["B23"].value) == (86.11, "B")
    assert book["Ringkasan"]["D10"].value == 12  # U1: 4 × 3 respondents


def test_the_workbook_needs_the_right_to_read_responses(boundary: TestClient) -> None:
    url = "/v1/units/mpp/documents/workbook.xlsx"
    reader = create_key(boundary, "Dasbor", "reader", "mpp")["token"]
    rows = create_key(boundary, "Analis", "reader", "capil", read_responses=True)["token"]
    refused = boundary.get(
        url, params={"period": PERIOD}, headers={"Authorization": f"Bearer {reader}"}
    )
    assert refused.status_code == 403
    out = boundary.get(url, params={"period": PERIOD}, headers={"Authorization": f"Bearer {rows}"})
    assert out.status_code == 404  # mpp is above capil: out of this key's scope
    missing = boundary.get(url)
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["parameter"] == "period"


def test_the_command_line_writes_the_same_workbook_and_shows_progress(
    boundary: TestClient, database_url: str, tmp_path: Path
) -> None:
    target = tmp_path / "cli.xlsx"
    command = [sys.executable, "-m", "app.cli", "report", "workbook", "--unit", "mpp"]
    command += ["--period", PERIOD, "--output", str(target)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SKM_DATABASE_URL": database_url},
    )
    assert done.stdout.strip() == str(target)
    assert "respondents written: 625" in done.stderr
    book = openpyxl.load_workbook(target, data_only=True)
    assert figures(book) == api_figures(api_index(boundary))
    missing = subprocess.run(
        [*command[:6], "tidak-ada", *command[7:]],
        capture_output=True,
        text=True,
        env={**os.environ, "SKM_DATABASE_URL": database_url},
    )
    assert missing.returncode == 2
    assert "No unit 'tidak-ada'" in missing.stderr


# --- a published period --------------------------------------------------------------------


def data_rows(book: Any) -> int:
    """Respondent rows on the Data sheet (numbered 1, 2, … from row 5, then a blank row)."""
    sheet = book["Data"]
    n = 0
    while sheet.cell(5 + n, 1).value == n + 1:
        n += 1
    assert sheet.cell(5 + n, 1).value is None
    return n


def custom(book: Any) -> dict[str, Any]:
    return {p.name: p.value for p in book.custom_doc_props.props}


def publish(client: TestClient) -> dict[str, Any]:
    answer = client.post("/v1/units/mpp/publications", json={"period": PERIOD})
    assert answer.status_code == 201, answer.text
    record: dict[str, Any] = answer.json()
    return record


def post_late(client: TestClient, answers: dict[str, int | None], minute: int = 0) -> None:
    late = response_item(
        "capil",
        "ktp",
        answers,
        collected_at=datetime.fromisoformat("2025-03-28T09:00:00+08:00")
        + timedelta(minutes=minute),
        channel="paper",
    )
    posted = client.post("/v1/responses/batch", json={"items": [late]})
    assert posted.status_code == 200, posted.text
    assert posted.json()["created"] == 1


def test_a_published_period_gives_the_records_workbook_after_a_late_arrival(
    boundary: TestClient, database_url: str, tmp_path: Path
) -> None:
    record = publish(boundary)
    # One late form of eight 1s (pengaduan blank): by hand, 17,661 + 8 = 17,669 over
    # 626 × 8 answers → IKM 17669 × 25 / 5008 = 88.2039… → 88.20, a B; index 3.529.
    post_late(boundary, scores(1, 1, 1, 1, 1, 1, 1, 1, None))
    live_index = api_index(boundary)
    assert (live_index["ikm"], live_index["grade"]["mutu"]) == (88.20, "B")
    assert live_index["pooled"]["responses"] == 626
    book = openpyxl.load_workbook(download(boundary, tmp_path), data_only=True)
    shown = figures(book)
    # The record's figures (the boundary, by hand: 625, 88.31, A, 3.532) ...
    assert (shown["respondents"], shown["ikm"], shown["mutu"], shown["index"]) == (
        625, 88.31, "A", 3.532,
    )  # fmt: skip
    assert shown == api_figures(record["report"]["index"])
    # ... over the 625 rows it counted, the late one left out.
    assert data_rows(book) == 625
    summary = book[SUMMARY]
    assert str(summary["B4"].value).startswith(f"publikasi {record['id']} (")
    assert custom(book)["skm_source"].startswith(f"publication {record['id']} of ")
    assert f"publication {record['id']}" in (book.properties.description or "")
    # live=true: the live rows and index, the late one in.
    live = openpyxl.load_workbook(download(boundary, tmp_path, live="true"), data_only=True)
    assert figures(live) == api_figures(live_index)
    assert data_rows(live) == 626
    differs = f"langsung (live); berbeda dari publikasi {record['id']}"
    assert live[SUMMARY]["B4"].value == differs
    # The command line makes the record's workbook too.
    target = tmp_path / "cli.xlsx"
    command = [sys.executable, "-m", "app.cli", "report", "workbook", "--unit", "mpp"]
    command += ["--period", PERIOD, "--output", str(target)]
    env = {**os.environ, "SKM_DATABASE_URL": database_url}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    assert "respondents written: 625" in done.stderr
    assert figures(openpyxl.load_workbook(target, data_only=True))["ikm"] == 88.31
    done = subprocess.run([*command, "--live"], capture_output=True, text=True, check=True, env=env)
    assert "respondents written: 626" in done.stderr
    # The same days as a from/to range are the same record.
    answer = boundary.get(
        "/v1/units/mpp/documents/workbook.xlsx", params={"from": "2025-03-01", "to": "2025-03-31"}
    )
    assert answer.status_code == 200, answer.text
    ranged = openpyxl.load_workbook(io.BytesIO(answer.content), data_only=True)
    assert (data_rows(ranged), figures(ranged)["ikm"]) == (625, 88.31)
    # A revision takes the late one in: the workbook is the newest revision's.
    revised = boundary.post(
        "/v1/units/mpp/publications", json={"period": PERIOD, "revises": record["id"]}
    )
    assert revised.status_code == 201, revised.text
    revision = revised.json()
    book = openpyxl.load_workbook(download(boundary, tmp_path), data_only=True)
    assert figures(book) == api_figures(live_index)
    assert data_rows(book) == 626
    assert str(book[SUMMARY]["B4"].value).startswith(f"publikasi {revision['id']} (")


def test_flags_reviewed_after_publication_keep_the_record_or_say_it_differs(
    boundary: TestClient, tmp_path: Path
) -> None:
    """A kiosk's identical answers 10 s apart: the second is suspected (out). B is still
    suspected when the period is published, D was cleared before (in); then B is cleared
    (its review is after the record: it was out, the workbook leaves it out) and D confirmed
    (it was in, and nothing says so any more: the workbook is the live one, and says it
    differs from the record)."""
    token = create_key(boundary, "Kiosk", "collector", "capil")["token"]
    kiosk = {"Authorization": f"Bearer {token}"}
    ids = []
    for minute, score in ((0, 4), (0, 2)):
        for seconds in (0, 10):
            when = datetime.fromisoformat("2025-03-25T10:00:00+08:00") + timedelta(
                minutes=minute + (score == 2) * 5, seconds=seconds
            )
            item = response_item("capil", "ktp", scores(*[score] * 9), collected_at=when)
            posted = boundary.post("/v1/responses", json=item, headers=kiosk)
            assert posted.status_code == 201, posted.text
            ids.append((posted.json()["id"], posted.json()["flag"]))
    (_, a_flag), (b, b_flag), (_, c_flag), (d, d_flag) = ids
    assert (a_flag, b_flag, c_flag, d_flag) == (None, "suspected", None, "suspected")

    def review(response: str, decision: str) -> None:
        answer = boundary.post(f"/v1/responses/{response}/review", json={"decision": decision})
        assert answer.status_code == 200, answer.text

    review(d, "clear")
    record = publish(boundary)
    assert record["responses"] == 625 + 3  # A, C and D; B is suspected
    review(b, "clear")
    assert api_index(boundary)["pooled"]["responses"] == 629
    book = openpyxl.load_workbook(download(boundary, tmp_path), data_only=True)
    assert figures(book) == api_figures(record["report"]["index"])
    assert data_rows(book) == 628
    assert str(book[SUMMARY]["B4"].value).startswith(f"publikasi {record['id']} (")
    review(d, "confirm")
    live_index = api_index(boundary)
    assert live_index["pooled"]["responses"] == 628  # B in, D out: as many, other scores
    book = openpyxl.load_workbook(download(boundary, tmp_path), data_only=True)
    assert figures(book) == api_figures(live_index)
    assert data_rows(book) == 628
    statement = f"langsung (live); berbeda dari publikasi {record['id']}"
    assert book[SUMMARY]["B4"].value == statement
    assert custom(book)["skm_source"] == f"live; differs from publication {record['id']}"
    english = download(boundary, tmp_path, lang="en")
    book = openpyxl.load_workbook(english, data_only=True)
    assert book["Summary"]["B4"].value == f"live; differs from publication {record['id']}"


# --- recalculation by LibreOffice --------------------------------------------------------------

# LibreOffice reads an XLSX's cached values unless told to recalculate on load: a test
# reading them back could not fail. This profile setting makes it recalculate every time.
RECALCULATE_ON_LOAD = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
<prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


@pytest.fixture
def libreoffice() -> str:
    if SOFFICE is None:
        if REQUIRE_LIBREOFFICE:
            pytest.fail("LibreOffice (soffice) is required (SKM_TEST_REQUIRE_LIBREOFFICE=1)")
        pytest.skip("LibreOffice is not installed (Debian: libreoffice-calc-nogui)")
    return SOFFICE


def recalculated(soffice: str, path: Path, work: Path) -> Any:
    """The workbook as LibreOffice recalculates it on load and saves it again."""
    profile = work / "profile"
    (profile / "user").mkdir(parents=True, exist_ok=True)
    (profile / "user" / "registrymodifications.xcu").write_text(RECALCULATE_ON_LOAD)
    out = work / "out"
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            "xlsx:Calc MS Excel 2007 XML",
            "--outdir",
            str(out),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return openpyxl.load_workbook(out / path.name, data_only=True)


def altered(path: Path, sheet_xml: str, old: str, new: str) -> Path:
    """A copy of the workbook with one formula's text changed (its cached value kept)."""
    copy = path.with_name("altered.xlsx")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(copy, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == sheet_xml:
                assert old.encode() in content
                content = content.replace(old.encode(), new.encode())
            target.writestr(item, content)
    return copy


def test_libreoffice_recalculates_the_formulas_to_the_apis_figures(
    boundary: TestClient, tmp_path: Path, libreoffice: str
) -> None:
    index = api_index(boundary)
    path = download(boundary, tmp_path)
    assert figures(recalculated(libreoffice, path, tmp_path / "lo")) == api_figures(index)
    # The same engine, one formula altered: the data sheet's U1 total leaves out the last
    # respondent. Recalculated, the figures no longer match — the comparison can fail.
    changed = altered(path, "xl/worksheets/sheet2.xml", "SUM(F5:F629)", "SUM(F5:F628)")
    again = figures(recalculated(libreoffice, changed, tmp_path / "lo2"))
    assert again != api_figures(index)
    assert again["elements"][0][0] == api_figures(index)["elements"][0][0] - 3
