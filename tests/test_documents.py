"""The Laporan SKM and the poster, through HTTP, on both databases: the PDF's text carries
the API's figures written the language's way (worked out by hand below), the poster
renders as PDF and PNG, the unit's report settings, access."""

import base64
import io
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pypdf import PdfReader

from app.cli import main
from app.config import get_settings
from tests.factories import keyless, make_mall, make_unit, response_item, scores
from tests.test_followup import post_all, q1_vectors, q2_vectors

# Five complete responses (docs/method.md §2): element totals 18 15 13 20 16 18 19 16 13,
# NRR 3.6 3.0 2.6 4.0 3.2 3.6 3.8 3.2 2.6 → index 29.6/9 → IKM 82.22, B (Baik);
# weakest waktu and pengaduan (2.6, grade C), strongest biaya (4.0).
FIVE = [
    "4 3 3 4 3 4 4 3 3",
    "3 3 2 4 3 3 4 3 2",
    "4 4 3 4 4 4 4 4 3",
    "3 2 2 4 3 3 3 3 2",
    "4 3 3 4 3 4 4 3 3",
]
NRR_ID = ["3,600", "3,000", "2,600", "4,000", "3,200", "3,600", "3,800", "3,200", "2,600"]
NRR_EN = [n.replace(",", ".") for n in NRR_ID]
ELEMENT_IKM_ID = ["90,00", "75,00", "65,00", "100,00", "80,00", "90,00", "95,00", "80,00"]
PERIOD = "2026-Q3"
SAVE = os.environ.get("SKM_TEST_SAVE_DOCUMENTS")  # a folder: keep the documents to look at


def _scores(text: str) -> dict[str, int | None]:
    return scores(*(int(x) for x in text.split()))


@pytest.fixture
def capil(history: TestClient) -> TestClient:
    """kota (WITA) → capil (ktp, kk) with FIVE in 2026-Q3 (three on ktp by kiosk, two on kk
    on paper; genders L L P P and one blank), and one response in 2026-Q2."""
    make_unit(history, "kota", kind="government", time_zone="Asia/Makassar")
    make_unit(history, "capil", parent="kota", kind="agency", services=("ktp", "kk"))
    start = datetime.fromisoformat("2026-08-03T09:00:00+08:00")
    genders = ["L", "L", "P", "P", None]
    items = []
    for i, row in enumerate(FIVE):
        profile = {"gender": genders[i]} if genders[i] else {}
        items.append(
            response_item(
                "capil",
                "ktp" if i < 3 else "kk",
                _scores(row),
                collected_at=start + timedelta(minutes=i),
                channel="kiosk" if i < 3 else "paper",
                profile=profile,
                suggestion="Antrean lebih cepat" if i == 0 else None,
            )
        )
    items.append(
        response_item(
            "capil",
            "ktp",
            _scores("4 4 4 4 4 4 4 4 4"),
            collected_at=datetime.fromisoformat("2026-05-04T09:00:00+08:00"),
        )
    )
    answer = history.post("/v1/responses/batch", json={"items": items})
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] == 6
    return history


def pdf_text(body: bytes) -> str:
    reader = PdfReader(io.BytesIO(body))
    return "\n".join(page.extract_text() for page in reader.pages)


def save(name: str, body: bytes) -> None:
    if SAVE:
        Path(SAVE).mkdir(parents=True, exist_ok=True)
        (Path(SAVE) / name).write_bytes(body)


def get(client: TestClient, path: str, **params: str) -> Any:
    answer = client.get(path, params={"period": PERIOD, **params})
    assert answer.status_code == 200, answer.text
    return answer


def test_the_report_carries_the_apis_figures_in_indonesian(capil: TestClient) -> None:
    api = capil.get("/v1/indices/capil", params={"period": PERIOD}).json()
    assert api["ikm"] == 82.22  # by hand, above
    answer = get(capil, "/v1/units/capil/documents/report.pdf")
    assert answer.headers["content-type"] == "application/pdf"
    save("report-id.pdf", answer.content)
    text = pdf_text(answer.content)
    assert "82,22" in text
    assert "82.22" not in text
    assert "Baik" in text
    assert "KATA PENGANTAR" in text
    assert "BAB V" in text
    assert "Triwulan III Tahun 2026" in text
    # Every NRR (3 dp) and element value (2 dp), the Indonesian way, in the element table.
    for nrr in NRR_ID:
        assert nrr in text
    for value in ELEMENT_IKM_ID:
        assert value in text
    # n, the respondents: five here, and the weakest elements by name.
    assert "Jumlah responden" in text
    assert "Waktu Penyelesaian" in text
    assert "Penanganan Pengaduan" in text
    # 1 July – 30 September 2026, the Indonesian way.
    assert "1 Juli 2026" in text
    assert "30 September 2026" in text
    # The trend: 2026-Q2 (one response, all 4: 100,00) before this quarter.
    assert "100,00" in text
    # One suggestion counted; its text never printed.
    assert "Antrean" not in text
    # The source and the method, in the footer and the metadata.
    assert "permenpan-rb-14-2017" in text
    assert "belum dipublikasikan" in text
    info = PdfReader(io.BytesIO(answer.content)).metadata
    assert info is not None
    assert "live, not published" in (info.subject or "")
    assert "method:permenpan-rb-14-2017" in str(info.get("/Keywords"))


def test_the_report_in_english(capil: TestClient) -> None:
    answer = get(capil, "/v1/units/capil/documents/report.pdf", lang="en")
    save("report-en.pdf", answer.content)
    text = pdf_text(answer.content)
    assert "82.22" in text
    assert "82,22" not in text
    for nrr in NRR_EN:
        assert nrr in text
    assert "Quarter 3, 2026" in text
    assert "FOREWORD" in text
    assert "July 1, 2026" in text
    assert "September 30, 2026" in text
    assert "live, not published" in text


def test_the_same_figures_give_the_same_bytes(capil: TestClient) -> None:
    first = get(capil, "/v1/units/capil/documents/report.pdf").content
    again = get(capil, "/v1/units/capil/documents/report.pdf").content
    assert first == again
    assert get(capil, "/v1/units/capil/documents/poster.pdf").content == (
        get(capil, "/v1/units/capil/documents/poster.pdf").content
    )


def test_the_poster_renders_as_pdf_and_png(capil: TestClient) -> None:
    pdf = get(capil, "/v1/units/capil/documents/poster.pdf").content
    save("poster-id.pdf", pdf)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4
    text = pdf_text(pdf)
    assert "82,22" in text
    assert "Baik" in text
    assert "5 responden" in text
    for value in ELEMENT_IKM_ID:
        assert value in text
    png = get(capil, "/v1/units/capil/documents/poster.png").content
    save("poster-id.png", png)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (1241, 1754)  # A4 (595.3 × 841.9 pt) at 150 dpi, rounded up
    english = pdf_text(get(capil, "/v1/units/capil/documents/poster.pdf", lang="en").content)
    assert "82.22" in english
    assert "Good" in english
    assert "5 respondents" in english


def test_an_empty_period_still_gives_documents(capil: TestClient) -> None:
    text = pdf_text(get(capil, "/v1/units/capil/documents/report.pdf", period="2025-Q1").content)
    assert "Belum ada jawaban" in text
    assert get(capil, "/v1/units/capil/documents/poster.png", period="2025-Q1").content


def _logo(size: tuple[int, int] = (120, 60), kind: str = "PNG") -> str:
    out = io.BytesIO()
    Image.new("RGB", size, (11, 79, 113)).save(out, format=kind)
    return base64.b64encode(out.getvalue()).decode()


def test_report_settings_shape_the_report(capil: TestClient) -> None:
    empty = capil.get("/v1/units/capil/report-settings")
    assert empty.status_code == 200
    assert empty.json()["foreword"] is None
    assert empty.json()["updated_at"] is None
    body = {
        "foreword": "Kata pengantar kami sendiri.\n\nParagraf kedua <b>tanpa</b> markup.",
        "surveyor": "Bagian Organisasi",
        "place": "Balikpapan",
        "signatory_name": "Dr. Siti Aminah",
        "signatory_title": "Kepala Dinas",
        "logo": {"media_type": "image/png", "data": _logo()},
    }
    put = capil.put("/v1/units/capil/report-settings", json=body)
    assert put.status_code == 200, put.text
    stored = put.json()
    assert stored["logo"]["width"] == 120
    assert stored["logo"]["height"] == 60
    assert capil.get("/v1/units/capil/report-settings").json() == stored
    report = get(capil, "/v1/units/capil/documents/report.pdf").content
    save("report-settings.pdf", report)
    text = pdf_text(report)
    assert "Kata pengantar kami sendiri." in text
    assert "<b>tanpa</b>" in text
    assert "Bagian Organisasi" in text
    assert "Dr. Siti Aminah" in text
    assert "Balikpapan" in text
    page = PdfReader(io.BytesIO(report)).pages[0]
    assert len(page.images) == 1  # the logo on the cover
    audit = capil.get("/v1/audit").json()
    entry = next(e for e in audit["items"] if e["action"] == "report_settings.set")
    assert entry["details"]["foreword"] is True  # that it was set, never its text
    assert "Kata pengantar" not in str(entry)


@pytest.mark.parametrize(
    ("logo", "code"),
    [
        ({"media_type": "image/png", "data": "not base64!"}, "bad_base64"),
        ({"media_type": "image/png", "data": base64.b64encode(b"GIF89a...").decode()}, "bad_image"),
        ({"media_type": "image/png", "data": _logo(kind="JPEG")}, "type_mismatch"),
        ({"media_type": "image/png", "data": _logo(size=(2001, 10))}, "too_large"),
    ],
)
def test_a_bad_logo_is_refused(capil: TestClient, logo: dict[str, str], code: str) -> None:
    answer = capil.put("/v1/units/capil/report-settings", json={"logo": logo})
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert (error["pointer"], error["code"]) == ("/logo/data", code)


def test_bad_document_parameters(capil: TestClient) -> None:
    for params, parameter in (({"period": "2026-Q5"}, "period"), ({"lang": "fr"}, "lang")):
        answer = capil.get(
            "/v1/units/capil/documents/report.pdf", params={"period": PERIOD, **params}
        )
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["parameter"] == parameter
    assert (
        capil.get("/v1/units/nowhere/documents/poster.pdf", params={"period": PERIOD}).status_code
        == 404
    )


def test_the_command_line_makes_the_same_documents(
    capil: TestClient,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SKM_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        laporan = tmp_path / "laporan.pdf"
        main(["report", "laporan", "--unit", "capil", "--period", PERIOD, "-o", str(laporan)])
        poster = tmp_path / "poster.png"
        main(
            [
                "report",
                "poster",
                "--unit",
                "capil",
                "--period",
                PERIOD,
                "--format",
                "png",
                "-o",
                str(poster),
            ]
        )
    finally:
        get_settings.cache_clear()
    assert laporan.read_bytes() == get(capil, "/v1/units/capil/documents/report.pdf").content
    with Image.open(poster) as image:
        assert image.format == "PNG"
    progress = capsys.readouterr().err
    assert "reading the figures of capil for 2026-Q3" in progress
    assert f"wrote {laporan}" in progress
    with pytest.raises(SystemExit) as refused:
        main(["report", "poster", "--unit", "capil", "--period", "2026-Q9"])
    assert refused.value.code == 2


def test_the_respondent_counts_are_the_breakdowns(capil: TestClient) -> None:
    """The Laporan counts respondents by profile and channel in one pass over the rows; the
    counts are the API's breakdowns' (by hand: genders L L P P and a blank; three by kiosk,
    two on paper)."""
    for by, expected in (
        ("gender", [("L", 2), ("P", 2), (None, 1)]),
        ("channel", [("kiosk", 3), ("paper", 2)]),
    ):
        api = capil.get("/v1/indices/capil/breakdown", params={"period": PERIOD, "by": by})
        assert api.status_code == 200, api.text
        assert [(g["key"], g["value"]["responses"]) for g in api.json()["groups"]] == expected
    text = pdf_text(get(capil, "/v1/units/capil/documents/report.pdf").content)
    assert "Kios (layar sentuh) (3); Kuesioner kertas (2)" in text
    # The profile table: count and share of the five.
    assert "Laki-laki\n2\n40,0 %\nPerempuan\n2\n40,0 %\nTidak diisi\n1\n20,0 %" in text


def test_a_published_period_keeps_its_figures_after_a_late_arrival(capil: TestClient) -> None:
    """The documents of a published period come from its record: a late arrival moves the
    live index (and `live=true` documents), never the published ones."""
    answer = capil.post("/v1/units/capil/publications", json={"period": PERIOD})
    assert answer.status_code == 201, answer.text
    record = answer.json()
    late = response_item(
        "capil",
        "ktp",
        _scores("1 1 1 1 1 1 1 1 1"),
        collected_at=datetime.fromisoformat("2026-09-10T09:00:00+08:00"),
        channel="paper",
    )
    posted = capil.post("/v1/responses/batch", json={"items": [late]})
    assert posted.status_code == 200, posted.text
    # By hand: element totals 148 + 9 = 157 over 6 × 9 answers → 157/54 × 25 = 72.685… → 72.69.
    assert capil.get("/v1/indices/capil", params={"period": PERIOD}).json()["ikm"] == 72.69
    published = get(capil, "/v1/units/capil/documents/report.pdf").content
    text = pdf_text(published)
    assert "82,22" in text
    assert "72,69" not in text
    assert f"publikasi no. {record['id']}" in text
    assert "belum dipublikasikan" not in text
    info = PdfReader(io.BytesIO(published)).metadata
    assert info is not None
    assert f"source:publication {record['id']} of " in str(info.get("/Keywords"))
    poster = pdf_text(get(capil, "/v1/units/capil/documents/poster.pdf").content)
    assert "82,22" in poster
    assert f"publikasi no. {record['id']}" in poster
    live = pdf_text(get(capil, "/v1/units/capil/documents/report.pdf", live="true").content)
    assert "72,69" in live
    assert "belum dipublikasikan" in live
    live_poster = get(capil, "/v1/units/capil/documents/poster.pdf", live="true").content
    assert "72,69" in pdf_text(live_poster)


def _post_q3(client: TestClient, unit: str, rows: list[str], day: str) -> None:
    start = datetime.fromisoformat(f"{day}T09:00:00+08:00")
    items = [
        response_item(unit, "ktp", _scores(row), collected_at=start + timedelta(minutes=i))
        for i, row in enumerate(rows)
    ]
    answer = client.post("/v1/responses/batch", json={"items": items})
    assert answer.status_code == 200, answer.text


def test_the_public_poster_comes_from_public_records_only(capil: TestClient) -> None:
    """Without a key: 404 for a unit that is not public and for a period with no public
    record, 409 when the record's public figures are suppressed (capil: 5 respondents, fewer
    than SKM_PUBLIC_MIN_GROUP = 10); a revision withheld from the public (one late arrival)
    is not used."""
    url = "/v1/public/units/{}/documents/poster.pdf"
    params = {"period": PERIOD}
    assert keyless(capil, "GET", url.format("capil"), params=params).status_code == 404
    assert capil.patch("/v1/units/capil", json={"public": True}).status_code == 200
    refused = keyless(capil, "GET", url.format("capil"), params=params)
    assert refused.status_code == 404
    assert refused.json()["type"] == "urn:skm:problem:not-published"
    assert capil.post("/v1/units/capil/publications", json={"period": PERIOD}).status_code == 201
    suppressed = keyless(capil, "GET", url.format("capil"), params=params)
    assert suppressed.status_code == 409
    assert suppressed.json()["type"] == "urn:skm:problem:suppressed"

    make_unit(capil, "loket", parent="kota", kind="agency", services=("ktp",))
    assert capil.patch("/v1/units/loket", json={"public": True}).status_code == 200
    _post_q3(capil, "loket", ["4 4 4 4 4 4 4 4 4"] * 5 + ["3 3 3 3 3 3 3 3 3"] * 5, "2026-07-06")
    link = f"/v1/public/indices/loket?period={PERIOD}"
    # The keyed poster links to the public result only once there is one.
    assert link not in pdf_text(get(capil, "/v1/units/loket/documents/poster.pdf").content)
    first = capil.post("/v1/units/loket/publications", json={"period": PERIOD}).json()
    assert link in pdf_text(get(capil, "/v1/units/loket/documents/poster.pdf").content)
    month = get(capil, "/v1/units/loket/documents/poster.pdf", period="2026-08", live="true")
    assert "/v1/public/" not in pdf_text(month.content)  # no public record of a month
    _post_q3(capil, "loket", ["1 1 1 1 1 1 1 1 1"], "2026-08-06")
    revision = capil.post(
        "/v1/units/loket/publications", json={"period": PERIOD, "revises": first["id"]}
    ).json()
    assert revision["public"] is False  # one respondent away: withheld from the public
    answer = keyless(capil, "GET", url.format("loket"), params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    text = pdf_text(answer.content)
    # By hand: 5 × 4 and 5 × 3 → 3.5 per element → 87,50 (B); each element 87,50, NRR 3,500.
    assert "87,50" in text
    assert "NRR 3,500" in text
    assert f"publikasi no. {first['id']}" in text
    assert "81,82" not in text
    # The revision (11 respondents: 36/11 per element → 81,82) is for readers in scope.
    inside = pdf_text(get(capil, "/v1/units/loket/documents/poster.pdf").content)
    assert "81,82" in inside
    assert f"publikasi no. {revision['id']}" in inside
    png = keyless(capil, "GET", url.format("loket").replace(".pdf", ".png"), params=params)
    assert png.status_code == 200
    with Image.open(io.BytesIO(png.content)) as image:
        assert image.format == "PNG"
    # Only whole periods of the public length.
    month = keyless(capil, "GET", url.format("loket"), params={"period": "2026-08"})
    assert month.status_code == 422


def test_the_public_report_shows_the_public_figures_only(capil: TestClient) -> None:
    """The keyless Laporan of loket's public record (5 × all 4, 5 × all 3: each element NRR
    3,500 → 87,50, B): the record's public figures, nothing the public figures withhold;
    capil's record (5 respondents) is suppressed: 409."""
    url = "/v1/public/units/{}/documents/report.pdf"
    params = {"period": PERIOD}
    make_unit(capil, "loket", parent="kota", kind="agency", services=("ktp",))
    for unit in ("capil", "loket"):
        assert capil.patch(f"/v1/units/{unit}", json={"public": True}).status_code == 200
    _post_q3(capil, "loket", ["4 4 4 4 4 4 4 4 4"] * 5 + ["3 3 3 3 3 3 3 3 3"] * 5, "2026-07-06")
    records = {}
    for unit in ("capil", "loket"):
        answer = capil.post(f"/v1/units/{unit}/publications", json={"period": PERIOD})
        assert answer.status_code == 201, answer.text
        records[unit] = answer.json()["id"]
    assert keyless(capil, "GET", url.format("capil"), params=params).status_code == 409
    answer = keyless(capil, "GET", url.format("loket"), params=params)
    assert answer.status_code == 200, answer.text
    save("report-public.pdf", answer.content)
    text = pdf_text(answer.content)
    assert "87,50" in text
    assert "3,500" in text
    assert "Baik" in text
    assert f"publikasi no. {records['loket']}" in text
    assert "Versi publik" in text
    assert "BAB V" in text
    # Nothing the public figures withhold: no profile, channel, interval or suggestions.
    assert "Profil Responden" not in text
    assert "Kios" not in text
    assert "Saran dan masukan" not in text
    english = keyless(capil, "GET", url.format("loket"), params={**params, "lang": "en"})
    assert "87.50" in pdf_text(english.content)


# --- Bab IV: the previous period's follow-up plan, its evaluation, and this period's plan ----


def test_bab_iv_shows_the_previous_plan_its_evaluation_and_this_periods_plan(
    history: TestClient,
) -> None:
    """The data set of tests/test_followup.py, worked out by hand there (docs/method.md §8):
    40 responses in 2025-Q1 and 40 in 2025-Q2 on disdukcapil.
    waktu: NRR 2.5 → 3.5, difference +1.000, 95% interval [0.774, 1.226]: improved.
    sarana: NRR 2.5 → 2.525, difference +0.025, [−0.201, 0.251]: no clear change.
    The unit's IKM: 91.67 → 94.51, +2.85, [1.94, 3.76]: improved."""
    make_mall(history)
    post_all(history, "disdukcapil", "ktp", q1_vectors(), date(2025, 2, 3))
    post_all(history, "disdukcapil", "ktp", q2_vectors(), date(2025, 5, 6))
    base = "/v1/units/disdukcapil/plans"
    plan = history.post(base, json={"period": "2025-Q1"}).json()
    waktu, sarana = plan["items"]
    assert (waktu["element"], sarana["element"]) == ("waktu", "sarana")
    patched = history.patch(
        f"{base}/2025-Q1/items/{waktu['id']}",
        json={
            "action": "Tambah loket antrean pagi",
            "responsible": "Kasi Pelayanan",
            "target_date": "2025-03-31",
            "status": "done",
        },
    )
    assert patched.status_code == 200, patched.text
    history.patch(
        f"{base}/2025-Q1/items/{sarana['id']}", json={"action": "Perbaiki kursi ruang tunggu"}
    )

    def laporan(period: str, lang: str = "id") -> str:
        answer = history.get(
            "/v1/units/disdukcapil/documents/report.pdf", params={"period": period, "lang": lang}
        )
        assert answer.status_code == 200, answer.text
        save(f"report-bab4-{period}-{lang}.pdf", answer.content)
        return " ".join(pdf_text(answer.content).split())  # a wrapped cell: one line

    # No plan for 2025-Q2 yet: a sentence says so.
    text = laporan("2025-Q2")
    assert "Rencana Tindak Lanjut Triwulan I Tahun 2025 dan Evaluasinya" in text
    assert "Tambah loket antrean pagi" in text
    assert "Perbaiki kursi ruang tunggu" in text
    assert "Kasi Pelayanan" in text
    assert "31 Maret 2025" in text
    assert "selesai" in text
    # Each row: element or IKM, before, after, difference [interval], verdict (by hand).
    assert "Waktu Penyelesaian 2,500 (n = 40) 3,500 (n = 40) +1,000 [0,774; 1,226] membaik" in text
    assert (
        "Sarana dan Prasarana 2,500 (n = 40) 2,525 (n = 40) +0,025 [\u22120,201; 0,251] "
        "tidak ada perubahan yang jelas"
    ) in text
    assert "IKM unit 91,67 (n = 40) 94,51 (n = 40) +2,85 [1,94; 3,76] membaik" in text
    assert "Belum ada rencana tindak lanjut untuk Triwulan II Tahun 2025." in text

    # This period's own plan, once there is one, in English too.
    history.post(base, json={"period": "2025-Q2", "propose": False})
    added = history.post(f"{base}/2025-Q2/items", json={"service": "kk", "action": "Buka loket KK"})
    assert added.status_code == 201, added.text
    text = laporan("2025-Q2", "en")
    assert "The Follow-up Plan of Quarter 1, 2025 and its Evaluation" in text
    assert "+1.000 [0.774, 1.226] improved" in text
    assert "+0.025 [\u22120.201, 0.251] no clear change" in text
    assert "The Follow-up Plan of Quarter 2, 2025" in text
    assert "Buka loket KK" in text
    assert "Service kk" in text

    # 2025-Q1's Laporan: no plan for 2024-Q4; its own plan is the one evaluated above.
    text = laporan("2025-Q1")
    assert "Tidak ada rencana tindak lanjut untuk Triwulan IV Tahun 2024." in text
    assert "Tambah loket antrean pagi" in text
    assert "membaik" not in text


def test_a_published_report_keeps_the_settings_it_was_published_with(capil: TestClient) -> None:
    """The foreword, signatory and logo of a published period's Laporan are those of the
    publication: a later change shows in the live document only, and alone (the figures the
    same) publishes nothing new."""
    url = "/v1/units/capil/report-settings"
    before = {
        "foreword": "Kata pengantar saat publikasi.",
        "signatory_name": "Dr. Siti Aminah",
        "signatory_title": "Kepala Dinas",
        "logo": {"media_type": "image/png", "data": _logo()},
    }
    assert capil.put(url, json=before).status_code == 200
    record = capil.post("/v1/units/capil/publications", json={"period": PERIOD})
    assert record.status_code == 201, record.text
    after = {"signatory_name": "Ir. Budi Santoso", "signatory_title": "Plt. Kepala Dinas"}
    assert capil.put(url, json=after).status_code == 200

    published = get(capil, "/v1/units/capil/documents/report.pdf").content
    text = pdf_text(published)
    assert f"publikasi no. {record.json()['id']}" in text
    assert "Kata pengantar saat publikasi." in text
    assert "Dr. Siti Aminah" in text
    assert "Budi Santoso" not in text
    assert len(PdfReader(io.BytesIO(published)).pages[0].images) == 1
    live = get(capil, "/v1/units/capil/documents/report.pdf", live="true").content
    text = pdf_text(live)
    assert "Ir. Budi Santoso" in text
    assert "Siti Aminah" not in text
    assert "Kata pengantar saat publikasi." not in text
    assert len(PdfReader(io.BytesIO(live)).pages[0].images) == 0

    again = capil.post("/v1/units/capil/publications", json={"period": PERIOD})
    assert again.status_code == 200, again.text
    assert again.json()["id"] == record.json()["id"]
    # The record's API shape does not carry the settings (nor the logo's bytes).
    shown = capil.get(f"/v1/publications/{record.json()['id']}").json()
    assert "document" not in shown["report"]


def test_a_worker_starts_without_the_document_libraries() -> None:
    """ReportLab, Pillow, pypdfium2 and XlsxWriter load with the first document asked for: a
    worker serving kiosks never needs them (README: worker memory)."""
    script = (
        "import sys; from app.main import create_app; import app.cli; create_app(); "
        "print(sorted(m for m in ('reportlab', 'PIL', 'pypdfium2', 'xlsxwriter') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
