"""Reading responses back: filtered lists, periods cut in each unit's own time zone, keyset
paging, one response, and the CSV export."""

import base64
import csv
import io
import json
import re
import uuid
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import app_settings
from tests.factories import (
    PROBLEM,
    all_answers,
    make_mall,
    only_error,
    response_item,
    scores,
    store,
)

ELEMENT_COLUMNS = [
    "persyaratan",
    "prosedur",
    "waktu",
    "biaya",
    "produk",
    "kompetensi",
    "perilaku",
    "sarana",
    "pengaduan",
]
CSV_HEADER = [
    "id",
    "unit",
    "service",
    "survey_version_id",
    "channel",
    "collected_at",
    "received_at",
    "local_date",
    *ELEMENT_COLUMNS,
    "gender",
    "age_band",
    "education",
    "occupation",
    "flag",
    "submitted_by_key",
]

QUOTED_HEADER = ",".join(f'"{column}"' for column in CSV_HEADER) + "\r\n"


def rid(n: int) -> str:
    """A fixed response id; ids order as their numbers do."""
    return f"00000000-0000-4000-8000-{n:012d}"


# The responses of the `stored` fixture. Balikpapan (kota's subtree) is WITA, +8; papua is
# WIT, +9. MAR and PAPUA are the same instant: 31 March in Balikpapan, 1 April in Jayapura.
DEC, JAN, PAPUA, MAR, APR, JUL = (rid(n) for n in range(1, 7))
ALL = [DEC, JAN, PAPUA, MAR, APR, JUL]  # by collected_at, then id (PAPUA and MAR tie)


@pytest.fixture
def archive(history: TestClient) -> TestClient:
    """`mall` on the app that accepts responses collected long ago."""
    make_mall(history)
    return history


@pytest.fixture
def stored(archive: TestClient) -> dict[str, dict[str, Any]]:
    """Six responses, posted out of order; id → the response as it reads back."""
    items = [
        response_item(
            "disdukcapil",
            "ktp",
            scores(4, 3, None, 4, 3, 4, 4, 3, 1),
            "2026-07-01T08:00:00+08:00",
            id=JUL,
            channel="paper",
        ),
        response_item(
            "disdukcapil",
            "kk",
            all_answers(3),
            "2026-03-31T23:30:00+08:00",
            id=MAR,
            channel="mobile",
            suggestion='Antrian, "lama"\nsekali',
        ),
        response_item(
            "papua",
            "ktp",
            all_answers(2),
            "2026-03-31T15:30:00+00:00",
            id=PAPUA,
            suggestion="@admin tolong",
        ),
        response_item(
            "disdukcapil",
            "ktp",
            all_answers(1),
            "2025-12-31T23:59:00+08:00",
            id=DEC,
            suggestion="-lambat",
        ),
        response_item(
            "dpmptsp",
            "izin-usaha",
            all_answers(4),
            "2026-04-01T00:30:00+08:00",
            id=APR,
            channel="web",
            suggestion="+62 812 555",
        ),
        response_item(
            "disdukcapil",
            "ktp",
            scores(4, 4, 3, 4, 3, 4, 4, 3, 3),
            "2026-01-15T09:00:00+08:00",
            id=JAN,
            profile={
                "gender": "P",
                "age_band": "30-39",
                "education": "D4-S1",
                "occupation": "SWASTA",
            },
            suggestion='=HYPERLINK("http://contoh.test","klik")',
        ),
    ]
    for item in items:
        store(archive, item)
    return {item["id"]: archive.get(f"/v1/responses/{item['id']}").json() for item in items}


def listed(client: TestClient, **params: str) -> list[str]:
    page = client.get("/v1/responses", params={"limit": "500", **params})
    assert page.status_code == 200, page.text
    assert page.json()["next_cursor"] is None
    return [r["id"] for r in page.json()["items"]]


def cursor_of(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def csv_rows(client: TestClient, **params: str) -> list[list[str]]:
    exported = client.get("/v1/responses/export.csv", params=params)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(exported.text, newline="")))


# --- periods in the unit's own time zone ---------------------------------------------------


def test_local_date_is_the_day_in_the_units_zone(
    archive: TestClient, stored: dict[str, dict[str, Any]]
) -> None:
    assert {i: r["local_date"] for i, r in stored.items()} == {
        DEC: "2025-12-31",
        JAN: "2026-01-15",
        MAR: "2026-03-31",  # 23:30 WITA
        PAPUA: "2026-04-01",  # the same instant is 00:30 WIT
        APR: "2026-04-01",
        JUL: "2026-07-01",
    }
    assert archive.get(f"/v1/responses/{MAR}").json()["collected_at"] == "2026-03-31T15:30:00Z"


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        ("2026-Q1", [JAN, MAR]),  # 23:30 WITA on 31 March is still triwulan I
        ("2026-Q2", [PAPUA, APR]),
        ("2026-Q3", [JUL]),
        ("2026-Q4", []),
        ("2026-03", [MAR]),
        ("2026-04", [PAPUA, APR]),
        ("2026-01", [JAN]),
        ("2026-S1", [JAN, PAPUA, MAR, APR]),
        ("2026-S2", [JUL]),
        ("2026", [JAN, PAPUA, MAR, APR, JUL]),
        ("2025", [DEC]),
        ("2025-12", [DEC]),
        ("2025-Q4", [DEC]),
    ],
)
def test_period_is_cut_by_local_date(
    archive: TestClient, stored: dict[str, dict[str, Any]], period: str, expected: list[str]
) -> None:
    assert listed(archive, period=period) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"from": "2026-03-31", "to": "2026-04-01"}, [PAPUA, MAR, APR]),
        ({"from": "2026-03-31", "to": "2026-03-31"}, [MAR]),
        ({"from": "2026-04-01"}, [PAPUA, APR, JUL]),
        ({"to": "2026-01-15"}, [DEC, JAN]),
        ({"to": "2026-01-14"}, [DEC]),
    ],
)
def test_from_and_to_are_inclusive_local_days(
    archive: TestClient,
    stored: dict[str, dict[str, Any]],
    params: dict[str, str],
    expected: list[str],
) -> None:
    assert listed(archive, **params) == expected


# --- filters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ALL),
        ({"unit": "kota"}, [DEC, JAN, MAR, APR, JUL]),  # the subtree, by default
        ({"unit": "mpp"}, [DEC, JAN, MAR, APR, JUL]),
        ({"unit": "kota", "subtree": "false"}, []),
        ({"unit": "disdukcapil", "subtree": "false"}, [DEC, JAN, MAR, JUL]),
        ({"unit": "dpmptsp"}, [APR]),
        ({"unit": "papua"}, [PAPUA]),
        ({"unit": "disdukcapil", "service": "ktp"}, [DEC, JAN, JUL]),
        ({"unit": "disdukcapil", "service": "kk"}, [MAR]),
        ({"channel": "kiosk"}, [DEC, JAN, PAPUA]),
        ({"channel": "mobile"}, [MAR]),
        ({"channel": "web"}, [APR]),
        ({"channel": "paper"}, [JUL]),
        ({"unit": "kota", "period": "2026-Q2"}, [APR]),
        ({"unit": "kota", "channel": "kiosk", "period": "2026"}, [JAN]),
        ({"unit": "disdukcapil", "service": "ktp", "from": "2026-01-01"}, [JAN, JUL]),
    ],
)
def test_responses_are_filtered(
    archive: TestClient,
    stored: dict[str, dict[str, Any]],
    params: dict[str, str],
    expected: list[str],
) -> None:
    assert listed(archive, **params) == expected


def test_listed_responses_are_the_stored_ones(
    archive: TestClient, stored: dict[str, dict[str, Any]]
) -> None:
    page = archive.get("/v1/responses").json()
    assert page["items"] == [stored[i] for i in ALL]
    assert stored[JAN]["profile"] == {
        "gender": "P",
        "age_band": "30-39",
        "education": "D4-S1",
        "occupation": "SWASTA",
    }
    assert stored[JUL]["answers"]["waktu"] is None


@pytest.mark.parametrize(
    ("params", "parameter", "code"),
    [
        ({"period": "2026-Q1", "from": "2026-01-01"}, "period", "bad_period"),
        ({"period": "2026-Q1", "to": "2026-03-31"}, "period", "bad_period"),
        ({"period": "2026-Q5"}, "period", "bad_period"),
        ({"period": "2026-13"}, "period", "bad_period"),
        ({"period": "2026-S3"}, "period", "bad_period"),
        ({"period": "2026-q1"}, "period", "bad_period"),
        ({"period": "2026Q1"}, "period", "bad_period"),
        ({"period": "26"}, "period", "bad_period"),
        ({"period": "1999"}, "period", "bad_period"),
        ({"period": "2026-Q1-Q2-x"}, "period", "string_too_long"),
        ({"from": "2026-04-01", "to": "2026-03-31"}, "from", "bad_period"),
        ({"from": "2026-02-30"}, "from", "date_from_datetime_parsing"),
        ({"service": "ktp"}, "service", "needs_unit"),
        ({"channel": "fax"}, "channel", "literal_error"),
        ({"subtree": "maybe"}, "subtree", "bool_parsing"),
    ],
)
def test_bad_filters_are_refused_naming_the_parameter(
    archive: TestClient,
    stored: dict[str, dict[str, Any]],
    params: dict[str, str],
    parameter: str,
    code: str,
) -> None:
    for path in ("/v1/responses", "/v1/responses/export.csv"):
        refused = archive.get(path, params=params)
        assert refused.status_code == 422, (path, refused.text)
        assert refused.headers["content-type"] == PROBLEM
        assert only_error(refused.json()) == (parameter, code)


@pytest.mark.parametrize(
    ("limit", "code"),
    [("0", "greater_than_equal"), ("501", "less_than_equal"), ("x", "int_parsing")],
)
def test_page_size_out_of_bounds_is_refused(archive: TestClient, limit: str, code: str) -> None:
    refused = archive.get("/v1/responses", params={"limit": limit})
    assert refused.status_code == 422
    assert only_error(refused.json()) == ("limit", code)
    assert archive.get("/v1/responses", params={"limit": "500"}).status_code == 200


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"unit": "nowhere"}, "No unit 'nowhere'."),
        ({"unit": "dpmptsp", "service": "ktp"}, "No service 'dpmptsp/ktp'."),
    ],
)
def test_unknown_unit_or_service_filter_is_404(
    archive: TestClient, params: dict[str, str], detail: str
) -> None:
    for path in ("/v1/responses", "/v1/responses/export.csv"):
        missing = archive.get(path, params=params)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == PROBLEM
        assert missing.json()["detail"] == detail


# --- paging --------------------------------------------------------------------------------


def test_paging_returns_every_response_once_in_collected_at_then_id_order(
    archive: TestClient,
) -> None:
    # 23 responses on three distinct instants (four of the six spellings are 02:00 UTC),
    # written with different offsets.
    instants = [
        "2026-05-01T10:00:00+08:00",
        "2026-05-01T09:00:00+07:00",  # the same instant as the one above
        "2026-05-01T11:00:00+09:00",  # and again
        "2026-04-30T23:59:59+07:00",
        "2026-05-01T02:00:00+00:00",
        "2026-05-02T00:00:00+08:00",
    ]
    items = [
        response_item("disdukcapil", "ktp", collected_at=instants[n % len(instants)])
        for n in range(23)
    ]
    batch = archive.post("/v1/responses/batch", json={"items": items})
    assert batch.json()["created"] == 23, batch.text
    expected = [
        item["id"]
        for item in sorted(
            items, key=lambda i: (datetime.fromisoformat(i["collected_at"]), i["id"])
        )
    ]
    seen: list[str] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        params = {"limit": "5", **({"cursor": cursor} if cursor else {})}
        page = archive.get("/v1/responses", params=params)
        assert page.status_code == 200, page.text
        sizes.append(len(page.json()["items"]))
        seen += [r["id"] for r in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert sizes == [5, 5, 5, 5, 3]
    assert seen == expected
    assert len(set(seen)) == 23


def test_paging_through_a_filter_keeps_the_filter(
    archive: TestClient, stored: dict[str, dict[str, Any]]
) -> None:
    first = archive.get("/v1/responses", params={"unit": "kota", "limit": "2"}).json()
    assert [r["id"] for r in first["items"]] == [DEC, JAN]
    second = archive.get(
        "/v1/responses", params={"unit": "kota", "limit": "2", "cursor": first["next_cursor"]}
    ).json()
    assert [r["id"] for r in second["items"]] == [MAR, APR]
    third = archive.get(
        "/v1/responses", params={"unit": "kota", "limit": "2", "cursor": second["next_cursor"]}
    ).json()
    assert ([r["id"] for r in third["items"]], third["next_cursor"]) == ([JUL], None)


def test_cursor_between_two_responses_of_the_same_instant(
    archive: TestClient, stored: dict[str, dict[str, Any]]
) -> None:
    first = archive.get("/v1/responses", params={"limit": "3"}).json()
    assert [r["id"] for r in first["items"]] == [DEC, JAN, PAPUA]
    rest = archive.get("/v1/responses", params={"cursor": first["next_cursor"]}).json()
    assert [r["id"] for r in rest["items"]] == [MAR, APR, JUL]


def test_cursor_stays_valid_while_responses_arrive(
    archive: TestClient, stored: dict[str, dict[str, Any]]
) -> None:
    first = archive.get("/v1/responses", params={"limit": "3"}).json()
    late_early = response_item("disdukcapil", "ktp", collected_at="2026-02-01T10:00:00+08:00")
    late_later = response_item("disdukcapil", "ktp", collected_at="2026-05-01T10:00:00+08:00")
    store(archive, late_early)
    store(archive, late_later)
    rest = archive.get("/v1/responses", params={"cursor": first["next_cursor"]}).json()
    # The one collected before the cursor is not served again out of order; the later one is.
    assert [r["id"] for r in rest["items"]] == [MAR, APR, late_later["id"], JUL]


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        cursor_of("2026-03-31T15:30:00+00:00"),
        cursor_of("yesterday", rid(1)),
        cursor_of("2026-03-31T15:30:00+00:00", "not-a-uuid"),
        cursor_of(5, rid(1)),
        "x" * 401,
    ],
    ids=[
        "not-base64-json",
        "one-key",
        "not-an-instant",
        "not-a-uuid",
        "numeric-instant",
        "too-long",
    ],
)
def test_bad_cursor_is_refused(archive: TestClient, cursor: str) -> None:
    refused = archive.get("/v1/responses", params={"cursor": cursor})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM
    [error] = refused.json()["errors"]
    assert error["parameter"] == "cursor"


@pytest.mark.parametrize(
    "cursor",
    [
        cursor_of("2026-03-31T15:30:00", rid(1)),
        cursor_of("2026-03-31T15:30:00+00:00", 5),
    ],
    ids=["instant-without-offset", "numeric-id"],
)
def test_cursor_without_offset_or_with_a_numeric_id_is_refused(
    archive: TestClient, cursor: str
) -> None:
    refused = archive.get("/v1/responses", params={"cursor": cursor})
    assert refused.status_code == 422
    assert only_error(refused.json()) == ("cursor", "bad_cursor")


def test_page_size_is_bounded_by_the_max_page_size_setting(
    client: TestClient, database_url: str
) -> None:
    settings = app_settings(database_url, max_page_size=2)
    with TestClient(create_app(settings), headers=dict(client.headers)) as small:
        refused = small.get("/v1/responses", params={"limit": "3"})
        assert refused.status_code == 422
        assert only_error(refused.json()) == ("limit", "less_than_equal")


# --- one response --------------------------------------------------------------------------


def test_one_response_by_id(archive: TestClient, stored: dict[str, dict[str, Any]]) -> None:
    got = archive.get(f"/v1/responses/{JAN}")
    assert got.status_code == 200
    expected: dict[str, Any] = {
        "id": JAN,
        "unit": "disdukcapil",
        "service": "ktp",
        "survey_version_id": 1,
        "channel": "kiosk",
        "collected_at": "2026-01-15T01:00:00Z",
        "local_date": "2026-01-15",
        "answers": scores(4, 4, 3, 4, 3, 4, 4, 3, 3),
        "profile": {
            "gender": "P",
            "age_band": "30-39",
            "education": "D4-S1",
            "occupation": "SWASTA",
        },
        "extra_answers": None,
        "suggestion": '=HYPERLINK("http://contoh.test","klik")',
    }
    assert {k: got.json()[k] for k in expected} == expected
    assert got.json() == stored[JAN]


def test_created_response_body_equals_what_reads_back_for_an_offset_instant(
    archive: TestClient,
) -> None:
    item = response_item("disdukcapil", "ktp", collected_at="2026-03-31T23:30:00+08:00")
    created = store(archive, item)
    assert archive.get(f"/v1/responses/{item['id']}").json() == created


def test_unknown_response_is_404(archive: TestClient) -> None:
    unknown = str(uuid.uuid4())
    missing = archive.get(f"/v1/responses/{unknown}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert missing.json() == {
        "type": "urn:skm:problem:not-found",
        "title": "Not found",
        "status": 404,
        "detail": f"No response '{unknown}'.",
        "request_id": missing.headers["x-request-id"],
    }
    malformed = archive.get("/v1/responses/not-a-uuid")
    assert malformed.status_code == 422
    assert only_error(malformed.json()) == ("response_id", "uuid_parsing")


# --- CSV export ----------------------------------------------------------------------------


def test_csv_has_a_header_and_one_row_per_response_in_order(
    archive: TestClient, stored: dict[str, dict[str, Any]]
) -> None:
    exported = archive.get("/v1/responses/export.csv")
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == 'attachment; filename="skm-responses.csv"'
    assert exported.text.startswith(QUOTED_HEADER)
    rows = csv_rows(archive)
    assert rows[0] == CSV_HEADER
    assert [r[0] for r in rows[1:]] == ALL
    by_id = {r[0]: dict(zip(CSV_HEADER, r, strict=True)) for r in rows[1:]}
    for response_id, row in by_id.items():
        assert datetime.fromisoformat(row["received_at"]) == datetime.fromisoformat(
            stored[response_id]["received_at"]
        )
    assert {k: v for k, v in by_id[JAN].items() if k != "received_at"} == {
        "id": JAN,
        "unit": "disdukcapil",
        "service": "ktp",
        "survey_version_id": "1",
        "channel": "kiosk",
        "collected_at": "2026-01-15T01:00:00+00:00",
        "local_date": "2026-01-15",
        **dict(zip(ELEMENT_COLUMNS, "443434433", strict=True)),
        "gender": "P",
        "age_band": "30-39",
        "education": "D4-S1",
        "occupation": "SWASTA",
        "flag": "",
        "submitted_by_key": str(stored[JAN]["submitted_by_key"]),
    }
    jul = by_id[JUL]
    assert [jul[e] for e in ELEMENT_COLUMNS] == ["4", "3", "", "4", "3", "4", "4", "3", "1"]
    assert (jul["channel"], jul["local_date"], jul["gender"], jul["occupation"]) == (
        "paper",
        "2026-07-01",
        "",
        "",
    )
    assert (by_id[PAPUA]["unit"], by_id[PAPUA]["local_date"]) == ("papua", "2026-04-01")


def test_csv_leaves_suggestions_out_unless_asked(
    archive: TestClient, stored: dict[str, dict[str, Any]]
) -> None:
    for params in ({}, {"suggestions": "false"}):
        exported = archive.get("/v1/responses/export.csv", params=params)
        assert "suggestion" not in exported.text
        assert "HYPERLINK" not in exported.text
        assert "Antrian" not in exported.text
        assert all(len(r) == len(CSV_HEADER) for r in csv_rows(archive, **params))


def test_csv_suggestions_column_neutralises_formulas(
    archive: TestClient, stored: dict[str, dict[str, Any]]
) -> None:
    rows = csv_rows(archive, suggestions="true")
    assert rows[0] == [*CSV_HEADER, "suggestion"]
    assert {r[0]: r[-1] for r in rows[1:]} == {
        DEC: "'-lambat",
        JAN: '\'=HYPERLINK("http://contoh.test","klik")',
        PAPUA: "'@admin tolong",
        MAR: 'Antrian, "lama"\nsekali',  # quoted by the CSV, kept as written
        APR: "'+62 812 555",
        JUL: "",
    }
    # The stored suggestion itself is unchanged.
    assert stored[JAN]["suggestion"] == '=HYPERLINK("http://contoh.test","klik")'


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"unit": "disdukcapil", "period": "2026-Q1"}, [JAN, MAR]),
        ({"unit": "kota", "subtree": "false"}, []),
        ({"unit": "disdukcapil", "service": "kk"}, [MAR]),
        ({"channel": "kiosk", "from": "2026-01-01"}, [JAN, PAPUA]),
        ({"period": "2026-Q2"}, [PAPUA, APR]),
    ],
)
def test_csv_applies_the_filters(
    archive: TestClient,
    stored: dict[str, dict[str, Any]],
    params: dict[str, str],
    expected: list[str],
) -> None:
    rows = csv_rows(archive, **params)
    assert rows[0] == CSV_HEADER
    assert [r[0] for r in rows[1:]] == expected


def test_csv_of_no_responses_is_the_header_alone(client: TestClient) -> None:
    exported = client.get("/v1/responses/export.csv")
    assert exported.status_code == 200
    assert exported.text == QUOTED_HEADER


# What a spreadsheet may split a cell on: the CSV's comma, the list separator of other regional
# settings (`;` in Indonesian Excel), tab, line breaks, and `|`.
SEPARATORS = re.compile(r"[,;\t\r\n|]")
FORMULA_START = ("=", "+", "-", "@")
# What citizens wrote, and what the export must show for it (worked out by hand: a `'` before
# every =, +, - or @ that begins the text or a piece after a separator; a suggestion is
# stored without leading or trailing white space, so none begins with a tab or CR).
WRITTEN_AND_EXPORTED = {
    "Bagus sekali;=2+5": "Bagus sekali;'=2+5",
    "Cepat; +62 812 555": "Cepat; '+62 812 555",
    "Antri\t=1+1": "Antri\t'=1+1",
    "a|@SUM(1)": "a|'@SUM(1)",
    "baris satu\r\n-2 jam": "baris satu\r\n'-2 jam",
    "ok,=cmd|' /C calc'!A0": "ok,'=cmd|' /C calc'!A0",
    "Lama\r=HYPERLINK(1)": "Lama\r'=HYPERLINK(1)",
    "=1;;@2": "'=1;;'@2",
    "Tunggu 5-10 menit; petugas ramah, +1": "Tunggu 5-10 menit; petugas ramah, '+1",
    'Harga "murah", layanan 10/10': 'Harga "murah", layanan 10/10',
}


def test_csv_quotes_text_and_no_piece_of_a_cell_starts_a_formula(client: TestClient) -> None:
    """Excel with Indonesian settings splits on `;` even inside quotes: no cell may hold a
    piece, after any separator, that a spreadsheet would read as a formula."""
    make_mall(client)
    written = {}
    for suggestion in WRITTEN_AND_EXPORTED:
        item = response_item("disdukcapil", "ktp", suggestion=suggestion)
        store(client, item)
        written[item["id"]] = suggestion
    exported = client.get("/v1/responses/export.csv", params={"suggestions": "true"})
    assert exported.status_code == 200, exported.text
    # Read as QUOTE_NONNUMERIC, an unquoted cell must be a number: every text cell is quoted.
    rows = list(csv.reader(io.StringIO(exported.text, newline=""), quoting=csv.QUOTE_NONNUMERIC))
    assert rows[0] == [*CSV_HEADER, "suggestion"]
    bad = [
        (cell, piece)
        for row in rows
        for cell in row
        if isinstance(cell, str)
        for piece in SEPARATORS.split(cell)
        if piece.lstrip().startswith(FORMULA_START)
    ]
    assert bad == []
    assert {row[0]: row[-1] for row in rows[1:]} == {
        response_id: WRITTEN_AND_EXPORTED[suggestion] for response_id, suggestion in written.items()
    }
    numbers = dict(zip(CSV_HEADER, rows[1], strict=False))
    # Numbers come back as numbers (csv's typing says str; QUOTE_NONNUMERIC reads floats).
    scores_read: list[object] = [numbers[e] for e in ELEMENT_COLUMNS]
    assert scores_read == [4.0] * 9
    # The stored words themselves are unchanged.
    for response_id, suggestion in written.items():
        assert client.get(f"/v1/responses/{response_id}").json()["suggestion"] == suggestion
