"""Paper forms (issue 14): the printed sheet's code round-trips through the import; every
refusal is reported at its cell, all at once; a dry run stores nothing; the same file twice
stores each response once; a conflict is reported, never applied; a file without codes is
withdrawn whole; one stored paper response is corrected or withdrawn; the command line
does what the API does. Expected figures are worked out by hand in each test."""

import asyncio
import functools
import io
import os
import re
import signal
import time
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pypdf
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text, update

from app.cli import main
from app.config import get_settings
from app.imports import codes, jobs, template
from app.imports.reading import FileProblem, FileRow, reading_process
from app.models import Import
from tests.factories import off_the_event_loop

TODAY = datetime.now(UTC).date()
DAY = (TODAY - timedelta(days=3)).isoformat()
HEADER = [
    "sheet_code", "date", "service",
    "persyaratan", "prosedur", "waktu", "biaya", "produk",
    "kompetensi", "perilaku", "sarana", "pengaduan",
    "gender", "age_band", "education", "occupation", "suggestion",
]  # fmt: skip
NINE_FOURS = [4] * 9


def row(
    code: str | None, day: Any, service: str | None, scores: list[Any], *rest: Any
) -> list[Any]:
    return [code, day, service, *scores, *rest, *([None] * (5 - len(rest)))]


def workbook(
    rows: list[list[Any]], client: TestClient | None = None, saved: datetime | None = None
) -> bytes:
    """The unit's template (when a client is given) or a plain workbook, filled in; `saved`
    sets the time stamps a spreadsheet program writes when it saves the file again."""
    if client is not None:
        template = client.get("/v1/units/capil/import-template")
        assert template.status_code == 200, template.text
        book = openpyxl.load_workbook(io.BytesIO(template.content))
        sheet = book["Responses"]
    else:
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = "Responses"
        sheet.append(HEADER)
    for number, values in enumerate(rows, start=2):
        for column, value in enumerate(values, start=1):
            sheet.cell(number, column, value)
    if saved is not None:
        book.properties.created = book.properties.modified = saved
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def wait(client: TestClient, import_id: int) -> dict[str, Any]:
    for _ in range(2400):  # a bound, not a timing: two minutes on a loaded machine
        status: dict[str, Any] = client.get(f"/v1/imports/{import_id}").json()
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"import {import_id} did not end")


def upload(client: TestClient, content: bytes, **params: Any) -> dict[str, Any]:
    answer = client.post("/v1/units/capil/imports", content=content, params=params)
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == f"/v1/imports/{answer.json()['id']}"
    return wait(client, answer.json()["id"])


def counts(status: dict[str, Any]) -> tuple[int, int, int, int]:
    return status["stored"], status["refused"], status["present"], status["conflicts"]


def printed_codes(client: TestClient, sheets: int) -> list[str]:
    answer = client.post("/v1/units/capil/sheets", json={"sheets": sheets})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    pages = pypdf.PdfReader(io.BytesIO(answer.content)).pages
    assert len(pages) == sheets
    found = []
    for page in pages:
        words = page.extract_text().split()
        found.append(next(w for w in words if len(w) == 11 and w.count("-") == 2))
    return found


def paper_responses(client: TestClient) -> list[dict[str, Any]]:
    answer = client.get("/v1/responses", params={"unit": "capil", "limit": 500})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def index_count(client: TestClient) -> int:
    answer = client.get(
        "/v1/indices/capil", params={"from": f"{TODAY.year - 5}-01-01", "to": TODAY.isoformat()}
    )
    assert answer.status_code == 200, answer.text
    responses: int = answer.json()["pooled"]["responses"]
    return responses


# --- sheet codes ---------------------------------------------------------------------------


def test_a_sheet_code_carries_a_check_character_worked_out_by_hand() -> None:
    # Luhn mod 32: all zeros check to "0"; "00000001": the last digit doubled is 2, and
    # (32 - 2) mod 32 = 30, the 31st character of 0-9A-Z without I, L, O, U: "Y".
    assert codes.normalised("0000-0000-0") == "000000000"
    assert codes.normalised("0000-0001-y") == "00000001Y"
    assert codes.normalised("OOOO-OOO1-Y") == "00000001Y"  # O read as zero
    assert codes.normalised("0000-0001-X") is None
    assert codes.normalised("0000-0001") is None


def test_every_single_mistyped_character_and_neighbour_swap_is_caught() -> None:
    code = "K7M2Q9XB"
    full = code + codes.check_character(code)
    assert codes.normalised(full) == full
    for position in range(len(full)):
        for other in codes.ALPHABET:
            if other != full[position]:
                typo = full[:position] + other + full[position + 1 :]
                assert codes.normalised(typo) is None, typo
    for position in range(len(full) - 1):
        a, b = full[position], full[position + 1]
        if a != b:
            swapped = full[:position] + b + a + full[position + 2 :]
            assert codes.normalised(swapped) is None, swapped


# --- the printed sheet and its round trip -----------------------------------------------------


def test_a_printed_sheets_code_round_trips_through_the_import(units: TestClient) -> None:
    first, second = printed_codes(units, 2)
    assert first != second
    content = workbook(
        [row(first, DAY, "ktp", [4, 3, 3, 4, 3, 4, 4, 3, None], "P", "30-39", "SMA", "PNS")],
        units,
    )
    status = upload(units, content, file_name="sheets.xlsx")
    assert (status["state"], *counts(status)) == ("done", 1, 0, 0, 0)
    [stored] = paper_responses(units)
    assert stored["channel"] == "paper"
    assert stored["flag"] is None
    assert stored["local_date"] == DAY
    assert stored["answers"] == {
        "persyaratan": 4, "prosedur": 3, "waktu": 3, "biaya": 4, "produk": 3,
        "kompetensi": 4, "perilaku": 4, "sarana": 3, "pengaduan": None,
    }  # fmt: skip
    assert stored["profile"] == {
        "gender": "P",
        "age_band": "30-39",
        "education": "SMA",
        "occupation": "PNS",
    }
    # The same file again, and the same sheet in another file: present, not stored again.
    again = upload(units, content)
    assert counts(again) == (0, 0, 1, 0)
    other_file = workbook(
        [row(first.lower(), DAY, "ktp", [4, 3, 3, 4, 3, 4, 4, 3, None], "P", "30-39", "SMA", "PNS")]
    )
    assert counts(upload(units, other_file)) == (0, 0, 1, 0)
    assert len(paper_responses(units)) == 1


def test_the_sheet_is_indonesian_by_default_and_english_on_request(units: TestClient) -> None:
    def page_text(language: str | None) -> str:
        body: dict[str, Any] = {"sheets": 1}
        if language:
            body["language"] = language
        answer = units.post("/v1/units/capil/sheets", json=body)
        assert answer.status_code == 200, answer.text
        return pypdf.PdfReader(io.BytesIO(answer.content)).pages[0].extract_text()

    indonesian, english = page_text(None), page_text("en")
    assert "SURVEI KEPUASAN MASYARAKAT" in indonesian
    assert "Bagaimana pendapat Saudara tentang kewajaran biaya/tarif" in indonesian
    assert "Gratis" in indonesian
    assert "PUBLIC SATISFACTION SURVEY" in english
    # Babel's long dates: "30 November 2026" in both, month names differing in other months.
    assert "Dicetak " in indonesian
    assert "Printed " in english


# --- refusals, each at its cell ---------------------------------------------------------------


def test_a_workbook_with_every_kind_of_error_reports_each_at_its_cell(units: TestClient) -> None:
    [code, repeated] = printed_codes(units, 2)
    tomorrow = (TODAY + timedelta(days=2)).isoformat()
    rows = [
        row(None, DAY, "ktp", NINE_FOURS),  # 2: valid
        row(None, DAY, "ktp", [5, 4, 4, 4, 4, 4, 4, 4, 4]),  # 3: D3 score 5
        row(None, DAY, "ktp", [4, "baik", 4, 4, 4, 4, 4, 4, 4]),  # 4: E4 not a number
        row(None, DAY, "ktp", [4, 4, 2.5, 4, 4, 4, 4, 4, 4]),  # 5: F5 not whole
        row(None, "31/02/2026", "ktp", NINE_FOURS),  # 6: B6 not a date
        row(None, None, "ktp", NINE_FOURS),  # 7: B7 missing
        row(None, DAY, "sim", NINE_FOURS),  # 8: C8 unknown service
        row(None, DAY, None, NINE_FOURS),  # 9: C9 missing
        row(None, DAY, "ktp", NINE_FOURS, "X"),  # 10: M10 gender
        row(None, DAY, "ktp", NINE_FOURS, None, "17"),  # 11: N11 age band
        row("0000-0001-X", DAY, "ktp", NINE_FOURS),  # 12: A12 mistyped code
        row("0000-0001-Y", DAY, "ktp", NINE_FOURS),  # 13: A13 never printed here
        row(None, DAY, "ktp", [None] * 9, None, None, None, None, "kosong"),  # 14: D14:L14
        row(None, tomorrow, "ktp", NINE_FOURS),  # 15: B15 in the future
        row(None, DAY, "ktp", NINE_FOURS, None, None, None, None, "x" * 1001),  # 16: Q16
        row(repeated, DAY, "ktp", [3] * 9),  # 17: valid, with a code
        row(repeated, DAY, "ktp", [3] * 9),  # 18: A18 the same code again
        row(code, DAY, "ktp", [2] * 9),  # 19: valid
    ]
    status = upload(units, workbook(rows, units))
    assert (status["state"], *counts(status)) == ("done", 3, 15, 0, 0)
    assert status["rows_read"] == 18
    cells = [(p["cell"], p["code"]) for p in status["problems"]]
    assert cells == [
        ("Responses!D3", "bad_score"),
        ("Responses!E4", "bad_score"),
        ("Responses!F5", "bad_score"),
        ("Responses!B6", "bad_date"),
        ("Responses!B7", "missing"),
        ("Responses!C8", "unknown_service"),
        ("Responses!C9", "missing"),
        ("Responses!M10", "unknown_option"),
        ("Responses!N11", "unknown_option"),
        ("Responses!A12", "bad_sheet_code"),
        ("Responses!A13", "unknown_sheet_code"),
        ("Responses!D14:L14", "no_answers"),
        ("Responses!B15", "collected_in_future"),
        ("Responses!Q16", "too_long"),
        ("Responses!A18", "repeated_sheet_code"),
    ]
    reasons = {p["cell"]: p["reason"] for p in status["problems"]}
    assert reasons["Responses!D3"] == "score 5 is not between 1 and 4"
    assert reasons["Responses!A18"] == "the same sheet code is on row 17"
    assert len(paper_responses(units)) == 3
    # The report: the fifteen rows, their cells as given and every reason, to correct.
    report = units.get(f"/v1/imports/{status['id']}/refused.xlsx")
    assert report.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(report.content))["Responses"]
    lines = list(sheet.iter_rows(values_only=True))
    assert lines[0][:3] == ("sheet_code", "date", "service")
    assert lines[0][-2:] == ("reason", "row")
    assert [line[-1] for line in lines[1:]] == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18]
    assert (lines[1][3], lines[1][-2]) == (5, "Responses!D3: score 5 is not between 1 and 4")


def test_a_file_the_import_cannot_read_is_refused_at_once(units: TestClient) -> None:
    answer = units.post("/v1/units/capil/imports", content=b"tanggal,layanan\n2026-01-01,ktp\n")
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["code"] == "unreadable_file"
    assert "CSV!A1: unknown column 'tanggal'" in error["detail"]


def test_a_dry_run_stores_nothing_and_says_what_would_happen(units: TestClient) -> None:
    content = workbook([row(None, DAY, "ktp", NINE_FOURS), row(None, DAY, "ktp", [9] * 9)])
    status = upload(units, content, dry_run="true")
    assert (status["dry_run"], *counts(status)) == (True, 1, 1, 0, 0)
    assert paper_responses(units) == []
    assert counts(upload(units, content)) == (1, 1, 0, 0)
    assert counts(upload(units, content, dry_run="true")) == (0, 1, 1, 0)


def test_all_or_nothing_stores_nothing_unless_every_row_can_be(units: TestClient) -> None:
    bad = workbook([row(None, DAY, "ktp", NINE_FOURS), row(None, DAY, "ktp", [9] * 9)])
    status = upload(units, bad, all_or_nothing="true")
    assert counts(status) == (0, 1, 0, 0)
    assert status["error"] is not None
    assert paper_responses(units) == []
    good = workbook([row(None, DAY, "ktp", NINE_FOURS), row(None, DAY, "ktp", [3] * 9)])
    assert counts(upload(units, good, all_or_nothing="true")) == (2, 0, 0, 0)


def test_a_sheet_stored_with_other_content_is_a_conflict_never_applied(units: TestClient) -> None:
    [code] = printed_codes(units, 1)
    assert counts(upload(units, workbook([row(code, DAY, "ktp", NINE_FOURS)]))) == (1, 0, 0, 0)
    changed = upload(units, workbook([row(code, DAY, "ktp", [1] * 9)]))
    assert counts(changed) == (0, 0, 0, 1)
    assert [(p["cell"], p["code"]) for p in changed["problems"]] == [("Responses!A2", "conflict")]
    [stored] = paper_responses(units)
    assert set(stored["answers"].values()) == {4}


def test_a_file_without_codes_is_withdrawn_whole_then_corrected(units: TestClient) -> None:
    rows = [row(None, DAY, "ktp", NINE_FOURS), row(None, DAY, "ktp", [2] * 9)]
    content = workbook(rows)
    first = upload(units, content)
    assert counts(first) == (2, 0, 0, 0)
    assert counts(upload(units, content)) == (0, 0, 2, 0)  # the same file: nothing new
    # Saved again without a change (other bytes: the workbook's time stamps): the same
    # cells, the same file.
    resaved = workbook(rows, saved=datetime(2026, 1, 2, 3, 4, 5))  # noqa: DTZ001 (as openpyxl keeps it)
    assert resaved != content
    assert counts(upload(units, resaved)) == (0, 0, 2, 0)
    assert index_count(units) == 2
    withdrawn = units.post(f"/v1/imports/{first['id']}/withdraw")
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["withdrawn_at"] is not None
    assert index_count(units) == 0  # the aggregates followed
    assert paper_responses(units) == []
    again = units.post(f"/v1/imports/{first['id']}/withdraw")
    assert again.status_code == 409
    refused = units.post("/v1/units/capil/imports", content=content)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("import-withdrawn")
    # Other bytes (other time stamps): its rows are known withdrawn.
    again_saved = upload(units, workbook(rows, saved=datetime(2026, 2, 3, 4, 5, 6)))  # noqa: DTZ001
    assert (again_saved["withdrawn_rows"], again_saved["stored"]) == (2, 0)
    corrected = [row(None, DAY, "ktp", NINE_FOURS), row(None, DAY, "ktp", [3] * 9)]
    assert counts(upload(units, workbook(corrected))) == (2, 0, 0, 0)
    # IKM of (all 4s, all 3s): NRR 3.5 each, IKM 87.50.
    answer = units.get("/v1/indices/capil", params={"from": DAY, "to": DAY}).json()
    assert (answer["pooled"]["responses"], answer["ikm"]) == (2, 87.5)
    audit = units.get("/v1/audit", params={"action": "withdraw-import"}).json()["items"]
    assert audit[0]["details"]["withdrawn"] == 2


def test_a_manager_corrects_or_withdraws_one_paper_response(units: TestClient) -> None:
    [code, other] = printed_codes(units, 2)
    rows = [row(code, DAY, "ktp", NINE_FOURS), row(other, DAY, "ktp", [2] * 9)]
    assert counts(upload(units, workbook(rows))) == (2, 0, 0, 0)
    by_answer = {r["answers"]["persyaratan"]: r["id"] for r in paper_responses(units)}
    # Correct the all-2s sheet to all 3s: IKM of (4s, 3s) = 87.50, was (4s, 2s) = 75.00.
    assert units.get("/v1/indices/capil", params={"from": DAY, "to": DAY}).json()["ikm"] == 75.0
    body = {"service": "ktp", "date": DAY, "answers": dict.fromkeys(HEADER[3:12], 3)}
    corrected = units.patch(f"/v1/responses/{by_answer[2]}", json=body)
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["answers"]["waktu"] == 3
    assert units.get("/v1/indices/capil", params={"from": DAY, "to": DAY}).json()["ikm"] == 87.5
    # Importing the sheet as first transcribed is now a conflict, not a correction back.
    assert counts(upload(units, workbook(rows))) == (0, 0, 1, 1)
    deleted = units.delete(f"/v1/responses/{by_answer[4]}")
    assert deleted.status_code == 204
    assert index_count(units) == 1
    again = upload(units, workbook(rows))
    assert (again["withdrawn_rows"], again["stored"]) == (1, 0)
    actions = [e["action"] for e in units.get("/v1/audit").json()["items"]]
    assert {"correct-paper-response", "withdraw-paper-response"} <= set(actions)


def test_only_paper_responses_are_corrected(units: TestClient) -> None:
    item = {
        "id": str(uuid.uuid4()), "unit": "capil", "service": "ktp", "survey_version_id": 1,
        "channel": "kiosk", "collected_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "answers": dict.fromkeys(HEADER[3:12], 4),
    }  # fmt: skip
    assert units.post("/v1/responses", json=item).status_code == 201
    assert units.delete(f"/v1/responses/{item['id']}").status_code == 409


def test_last_years_paper_is_stored_and_counted_late(units: TestClient) -> None:
    old = (TODAY - timedelta(days=400)).isoformat()
    status = upload(units, workbook([row(None, old, "ktp", NINE_FOURS)]))
    assert (status["stored"], status["late"]) == (1, 1)
    [stored] = paper_responses(units)
    assert stored["local_date"] == old


def test_a_csv_file_imports_like_a_workbook(units: TestClient) -> None:
    template = units.get("/v1/units/capil/import-template", params={"format": "csv"})
    assert template.text.strip() == ",".join(HEADER)
    content = f"date;service;persyaratan;waktu\n{DAY};ktp;4;\n{DAY};ktp;5;3\n".encode()
    status = upload(units, content)
    assert counts(status) == (1, 1, 0, 0)
    assert [(p["cell"], p["reason"]) for p in status["problems"]] == [
        ("CSV!C3", "score 5 is not between 1 and 4")
    ]


# --- progress, and a job interrupted by a restart -----------------------------------------


def test_progress_is_kept_batch_by_batch_and_an_interrupted_job_resumes(
    units: TestClient, reset_engine: Engine
) -> None:
    rows = [row(None, DAY, "ktp", [1 + n % 4] * 9) for n in range(1200)]
    content = workbook(rows)
    # An import that a process took up, committed its first batch (500 rows) of, and lost:
    # made by hand, its heartbeat ten minutes old.
    answer = units.post("/v1/units/capil/imports", content=content, params={"dry_run": "true"})
    dry = wait(units, answer.json()["id"])
    assert (dry["rows_read"], dry["percent"]) == (1200, 100.0)
    with reset_engine.begin() as conn:
        import_id = conn.execute(text("SELECT max(id) FROM imports")).scalar_one()
        conn.execute(
            update(Import)
            .where(Import.id == import_id)
            .values(
                state="running",
                dry_run=False,
                rows_read=500,
                stored=500,
                content=content,
                finished_at=None,
                updated_at=datetime.now(UTC) - timedelta(minutes=10),
            )
        )
    status = units.get(f"/v1/imports/{import_id}").json()
    assert (status["state"], status["percent"]) == ("lost", 41.7)  # 500 of 1200
    runner = units.app.state.imports  # type: ignore[attr-defined]
    units.portal.call(runner.resume_stale)  # type: ignore[union-attr]
    resumed = wait(units, import_id)
    # The 700 rows after the first 500 are stored now; the first 500 never were (by hand).
    assert (resumed["state"], resumed["rows_read"], resumed["stored"]) == ("done", 1200, 1200)
    assert len(paper_responses(units)) == 500  # one page: 700 are stored
    assert index_count(units) == 700
    with reset_engine.connect() as conn:
        kept = conn.execute(select(Import.content).where(Import.id == import_id)).scalar_one()
    assert kept is None  # the file is not kept once the job ends


def test_an_uploaded_file_is_not_read_back_from_the_database_by_its_job(
    units: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The job of an upload is given the file the request received (written to a temporary
    # file, removed when the job ends); only a resumed job copies it out of the database.
    copied: list[int] = []
    written: list[str] = []

    async def copy_out(database: Any, import_id: int, out: Any) -> None:
        copied.append(import_id)

    def kept_file(content: bytes) -> Any:
        copy = original(content)
        written.append(copy.name)
        return copy

    original = jobs.kept_file
    monkeypatch.setattr(jobs, "_copy_out", copy_out)
    monkeypatch.setattr(jobs, "kept_file", kept_file)
    status = upload(units, workbook([row(None, DAY, "ktp", [3] * 9) for _ in range(3)]))
    assert (status["state"], counts(status)) == ("done", (3, 0, 0, 0))
    assert copied == []
    assert len(written) == 1
    assert not os.path.exists(written[0])


# --- the command line -------------------------------------------------------------------------


def test_skm_import_reports_every_refusal_and_stores_once(
    units: TestClient,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "lembar.xlsx"
    path.write_bytes(
        workbook([row(None, DAY, "ktp", NINE_FOURS), row(None, DAY, "sim", [7] + [4] * 8)])
    )
    for name in list(os.environ):
        if name.startswith("SKM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SKM_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        for expected in (
            "1 stored, 1 refused, 0 already present",
            "0 stored, 1 refused, 1 already",
        ):
            with pytest.raises(SystemExit) as ended:
                main(["import", str(path), "--unit", "capil"])
            assert ended.value.code == 1
            output = capsys.readouterr()
            # Both refusals of the row, at once.
            assert output.out.splitlines()[:2] == [
                "Responses!D3: score 7 is not between 1 and 4",
                "Responses!C3: service 'sim': the unit does not offer this service",
            ]
            assert expected in output.out
            assert "100.0%" in output.err  # the progress bar
        with pytest.raises(SystemExit) as ended:
            main(["import", str(path), "--unit", "tidak-ada"])
        assert ended.value.code == 2
    finally:
        get_settings.cache_clear()
    assert len(paper_responses(units)) == 1
    entries = units.get("/v1/audit", params={"action": "import"}).json()["items"]
    assert [e["details"]["stored"] for e in entries] == [0, 1]
    assert {e["key_name"] for e in entries} == {"skm import (command line)"}


# --- the reading process ----------------------------------------------------------------------


def reader_children() -> list[int]:
    """The ids of this process's children that are reading a file (the reader script), as
    the system lists them."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:  # ended meanwhile
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"sheet_reader" in command:
            found.append(int(entry.name))
    return found


def broken_after(content: bytes, last_good_row: int) -> bytes:
    """The workbook with its sheet's XML damaged after the given row (a file that breaks off
    part way: the archive is sound, the sheet is not)."""
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                text = data.decode()
                cut = text.index(f'<row r="{last_good_row + 1}"')
                end = text.index("</sheetData>")
                data = (text[:cut] + '<row r="x"><c></row>' + text[end:]).encode()
            target.writestr(item, data)
    return out.getvalue()


async def read_all(content: bytes, size: int) -> tuple[list[list[FileRow]], list[int]]:
    """Every batch, and the reading children seen while the file was read."""
    seen: list[int] = []
    batches = []
    async with reading_process(content, "xlsx", size) as (_, rows):
        async for batch in rows:
            seen += reader_children()
            batches.append(batch)
    return batches, seen


def test_a_child_process_reads_the_rows_in_batches_and_is_gone_after() -> None:
    rows = [row(None, DAY, "ktp", [1 + n % 4] * 9, "L" if n % 2 else None) for n in range(25)]
    batches, _ = asyncio.run(read_all(workbook(rows), 10))
    assert [len(b) for b in batches] == [10, 10, 5]
    assert reader_children() == []
    flat = [r for b in batches for r in b]
    assert [r.number for r in flat] == list(range(2, 27))
    # Row 3 (n = 1): all 2s, gender L; row 2 (n = 0): all 1s, no gender (an empty cell).
    assert flat[1].cells["waktu"] == 2
    assert flat[1].cells["gender"] == "L"
    assert "gender" not in flat[0].cells
    assert flat[0].cells["service"] == "ktp"


def test_a_file_breaking_off_part_way_raises_after_the_rows_before_it() -> None:
    rows = [row(None, DAY, "ktp", NINE_FOURS) for _ in range(30)]
    content = broken_after(workbook(rows), 21)  # rows 2 to 21 are sound: 20 rows

    numbers: list[int] = []

    async def scenario() -> None:
        async with reading_process(content, "xlsx", 8) as (_, batches):
            async for batch in batches:
                numbers.extend(r.number for r in batch)

    with pytest.raises(FileProblem, match=r"cannot be read after row 21 "):
        asyncio.run(scenario())
    assert numbers == list(range(2, 22))
    assert reader_children() == []


@functools.cache
def long_workbook() -> bytes:
    """More rows than the pipe holds in batches of 10: the child is still there, waiting to
    send, when the first batch arrives."""
    return workbook([row(None, DAY, "ktp", NINE_FOURS) for _ in range(3000)])


def test_the_child_reads_while_the_job_runs_and_is_gone_after() -> None:
    _, seen = asyncio.run(read_all(long_workbook(), 10))
    assert seen  # read by another process ...
    assert os.getpid() not in seen
    assert reader_children() == []  # ... which is gone


def test_the_child_is_ended_when_the_reading_is_left_early_or_cancelled() -> None:
    content = long_workbook()

    async def left_early() -> list[int]:
        seen: list[int] = []
        left = False
        try:
            async with reading_process(content, "xlsx", 10) as (_, batches):
                async for _batch in batches:
                    seen.extend(reader_children())
                    raise LookupError("the job failed")
        except LookupError:
            left = True
        assert left
        return seen

    async def cancelled() -> list[int]:
        seen: list[int] = []
        first = asyncio.Event()

        async def job() -> None:
            async with reading_process(content, "xlsx", 10) as (_, batches):
                async for _batch in batches:
                    seen.extend(reader_children())
                    first.set()
                    await asyncio.sleep(60)  # a slow store: the child waits, blocked

        task = asyncio.create_task(job())
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return seen

    for scenario in (left_early, cancelled):
        assert len(asyncio.run(scenario())) == 1
        assert reader_children() == []


def test_a_reading_child_that_dies_fails_the_reading() -> None:
    content = long_workbook()

    got: list[int] = []

    async def scenario() -> None:
        async with reading_process(content, "xlsx", 10) as (_, batches):
            async for batch in batches:
                if not got:
                    [child] = reader_children()
                    os.kill(child, signal.SIGKILL)
                got.extend(r.number for r in batch)

    with pytest.raises(FileProblem, match="stopped before its end"):
        asyncio.run(scenario())
    assert 10 <= len(got) < 3000
    assert reader_children() == []


def test_an_import_whose_file_breaks_off_fails_keeping_whole_batches(
    units: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1,500 rows, the sheet damaged after row 1,201: rows 2 to 1,201 (1,200) are read, in a
    # batch of 1,000 and one of 200, each stored whole with its counts; then the job fails.
    monkeypatch.setattr(jobs, "BATCH_ROWS", 1000)
    rows = [row(None, DAY, "ktp", [1 + n % 4] * 9) for n in range(1500)]
    content = broken_after(workbook(rows), 1201)
    answer = units.post("/v1/units/capil/imports", content=content)
    assert answer.status_code == 202, answer.text  # the header reads: the damage is further
    status = wait(units, answer.json()["id"])
    assert status["state"] == "failed"
    assert re.search(r"cannot be read after row 1201\b", status["error"])
    assert (status["rows_read"], *counts(status)) == (1200, 1200, 0, 0, 0)
    assert index_count(units) == 1200
    assert reader_children() == []
    # A failed import is withdrawn whole: everything it stored leaves the indices.
    withdrawn = units.post(f"/v1/imports/{status['id']}/withdraw")
    assert withdrawn.status_code == 200, withdrawn.text
    assert index_count(units) == 0


def test_sheets_and_the_template_are_made_off_the_event_loop(
    units: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A print run of many pages, or the template, is made in the thread pool: the event
    loop goes on serving the worker's other requests meanwhile."""
    from app.documents import sheet

    made_in: list[bool] = []
    monkeypatch.setattr(sheet, "render", off_the_event_loop(sheet.render, made_in))
    monkeypatch.setattr(template, "workbook", off_the_event_loop(template.workbook, made_in))
    printed = units.post("/v1/units/capil/sheets", json={"sheets": 2})
    assert printed.status_code == 200, printed.text
    assert printed.content.startswith(b"%PDF")
    blank = units.get("/v1/units/capil/import-template")
    assert blank.status_code == 200, blank.text
    assert made_in == [True, True]
