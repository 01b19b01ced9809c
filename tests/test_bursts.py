"""Suspicious bursts: identical answers from one device closer than SKM_BURST_SECONDS are
flagged and left out of the indices until a manager reviews them.
"""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.bursts import answers_signature
from app.method import ELEMENTS
from tests.conftest import (
    bearer,
)
from tests.factories import (
    BURST_START,
    all_answers,
    create_key,
    only_error,
    post_at,
    post_unit,
    refusal,
    response_item,
    review_second,
    scores,
)

BURST_PERIOD = BURST_START.strftime("%Y-%m")


def excluded(flagged: int) -> str:
    """The index's method.excluded when flagged responses are left out."""
    return f"{flagged} flagged response(s) (suspected or confirmed bursts) are not counted"


def counted(client: TestClient, **params: str) -> tuple[int, int, bool, str]:
    """(responses counted, flagged_responses, flagged_counted, excluded) of capil's index."""
    report = client.get("/v1/indices/capil", params={"period": BURST_PERIOD, **params})
    assert report.status_code == 200, report.text
    body = report.json()
    method = body["method"]
    return (
        body["pooled"]["responses"],
        method["flagged_responses"],
        method["flagged_counted"],
        method["excluded"],
    )


def test_identical_answers_from_one_key_10_s_apart_are_flagged_and_left_out(
    units: TestClient, kiosks: tuple[str, str]
) -> None:
    first = post_at(units, kiosks[0], 0)
    second = post_at(units, kiosks[0], 10)
    assert (first["flag"], second["flag"]) == (None, "suspected")
    flags = units.get("/v1/flags").json()["items"]
    assert [(f["response"]["id"], f["flag"], f["reason"]) for f in flags] == [
        (
            second["id"],
            "suspected",
            "identical answers from the same device 10 s after another response",
        )
    ]
    assert counted(units) == (1, 1, False, excluded(1))
    assert counted(units, include_flagged="true") == (
        2,
        1,
        True,
        "none: 1 flagged response(s) are counted as asked",
    )
    # Kept, never deleted.
    assert units.get(f"/v1/responses/{second['id']}").json()["flag"] == "suspected"


@pytest.mark.parametrize(("gap", "flag"), [(29, "suspected"), (30, None), (31, None)])
def test_only_gaps_shorter_than_burst_seconds_are_flagged(
    units: TestClient, kiosks: tuple[str, str], gap: int, flag: str | None
) -> None:
    post_at(units, kiosks[0], 0)
    assert post_at(units, kiosks[0], gap)["flag"] == flag


def test_paper_entries_are_never_flagged(units: TestClient, kiosks: tuple[str, str]) -> None:
    flags = [post_at(units, kiosks[0], s, channel="paper")["flag"] for s in (0, 10, 20)]
    assert flags == [None, None, None]
    assert counted(units) == (3, 0, False, excluded(0))


def test_identical_answers_from_different_keys_are_never_flagged_together(
    units: TestClient, kiosks: tuple[str, str]
) -> None:
    flags = [post_at(units, kiosks[i % 2], 5 * i)["flag"] for i in range(2)]
    assert flags == [None, None]
    assert counted(units) == (2, 0, False, excluded(0))


def test_answers_differing_in_one_element_are_not_a_burst(
    units: TestClient, kiosks: tuple[str, str]
) -> None:
    post_at(units, kiosks[0], 0)
    when = BURST_START + timedelta(seconds=10)
    item = response_item("capil", "ktp", {**all_answers(3), "waktu": 2}, collected_at=when)
    posted = units.post("/v1/responses", json=item, headers=bearer(kiosks[0]))
    assert (posted.status_code, posted.json()["flag"]) == (201, None)


def test_a_batch_is_checked_against_stored_responses_and_itself(
    units: TestClient, kiosks: tuple[str, str]
) -> None:
    post_at(units, kiosks[0], 0)
    items = [
        # 10 s after the stored one: a burst.
        response_item("capil", "ktp", all_answers(3), BURST_START + timedelta(seconds=10)),
        # Other answers, 100 s later, then again 5 s after: the second is a burst.
        response_item("capil", "ktp", all_answers(4), BURST_START + timedelta(seconds=100)),
        response_item("capil", "ktp", all_answers(4), BURST_START + timedelta(seconds=105)),
        # Other answers, alone: not a burst.
        response_item("capil", "ktp", all_answers(2), BURST_START + timedelta(seconds=110)),
    ]
    answer = units.post("/v1/responses/batch", json={"items": items}, headers=bearer(kiosks[0]))
    assert answer.status_code == 200, answer.text
    flags = [result["response"]["flag"] for result in answer.json()["items"]]
    assert flags == ["suspected", None, "suspected", None]


def test_the_reason_gives_the_gap_to_the_nearest_alike_response_before_or_after(
    units: TestClient, kiosks: tuple[str, str]
) -> None:
    # Stored with the same answers at 0, 8 and 40 s. Late ones come in two batches: at 12 s
    # (nearest before it: 8 s) with one at 100 s (60 s from 40 s: alone), then at 5 s
    # (nearest: 8 s, after it; 0 s is 5 s away) with one at 200 s (alone). Gaps by hand.
    for seconds in (0, 8, 40):
        post_at(units, kiosks[0], seconds)
    reasons: list[str | None] = []
    for batch in ((12, 100), (5, 200)):
        items = [
            response_item("capil", "ktp", all_answers(3), BURST_START + timedelta(seconds=s))
            for s in batch
        ]
        answer = units.post("/v1/responses/batch", json={"items": items}, headers=bearer(kiosks[0]))
        assert answer.status_code == 200, answer.text
        flags = {f["response"]["id"]: f["reason"] for f in units.get("/v1/flags").json()["items"]}
        reasons += [flags.get(r["id"]) for r in answer.json()["items"]]
    assert reasons == [
        "identical answers from the same device 4 s after another response",
        None,
        "identical answers from the same device 3 s after another response",
        None,
    ]


def test_clearing_a_flag_counts_the_response_again(
    units: TestClient, kiosks: tuple[str, str]
) -> None:
    second, cleared = review_second(units, kiosks[0], "clear")
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["flag"], cleared.json()["response"]["id"]) == ("cleared", second)
    assert counted(units) == (2, 0, False, excluded(0))
    assert units.get("/v1/flags").json() == {"items": [], "next_cursor": None}
    cleared_list = units.get("/v1/flags?state=cleared").json()["items"]
    assert [f["response"]["id"] for f in cleared_list] == [second]


def test_flags_are_paged_with_cursors(units: TestClient, kiosks: tuple[str, str]) -> None:
    """Three bursts 10 s apart: pages of two, oldest first, like every other list."""
    stored = [post_at(units, kiosks[0], seconds)["id"] for seconds in (0, 10, 20, 30)]
    first = units.get("/v1/flags", params={"limit": "2"}).json()
    assert [f["response"]["id"] for f in first["items"]] == stored[1:3]
    rest = units.get("/v1/flags", params={"limit": "2", "cursor": first["next_cursor"]}).json()
    assert ([f["response"]["id"] for f in rest["items"]], rest["next_cursor"]) == (
        stored[3:],
        None,
    )
    refused = units.get("/v1/flags", params={"cursor": "not a cursor!"})
    assert (refused.status_code, only_error(refused.json())) == (422, ("cursor", "bad_cursor"))


def test_confirming_a_flag_keeps_the_response_out(
    units: TestClient, kiosks: tuple[str, str]
) -> None:
    second, confirmed = review_second(units, kiosks[0], "confirm")
    assert (confirmed.status_code, confirmed.json()["flag"]) == (200, "confirmed")
    assert counted(units) == (1, 1, False, excluded(1))
    assert units.get(f"/v1/responses/{second}").json()["flag"] == "confirmed"


@pytest.mark.parametrize("role", ["collector", "reader"])
def test_collectors_and_readers_cannot_review_flags(
    units: TestClient, kiosks: tuple[str, str], role: str
) -> None:
    token = create_key(units, f"Kunci {role}", role, "capil")["token"]
    second, refused = review_second(units, kiosks[0], "clear", headers=bearer(token))
    assert refusal(refused)[:2] == (403, "urn:skm:problem:forbidden")
    assert units.get(f"/v1/responses/{second}").json()["flag"] == "suspected"
    assert counted(units) == (1, 1, False, excluded(1))


def test_the_answers_signature_is_the_scores_in_base_5() -> None:
    # Computed by hand: digit i (from the lowest) is element i's score, a blank is 0.
    assert answers_signature(all_answers(1)) == (5**9 - 1) // 4  # 1 in every digit: 488281
    assert answers_signature(all_answers(4)) == 5**9 - 1
    assert answers_signature(scores(2, None, None, None, None, None, None, None, 3)) == (
        2 + 3 * 5**8
    )
    assert answers_signature(dict.fromkeys(ELEMENTS)) == 0


def test_stored_responses_alike_are_found_among_many_others_and_only_they_count(
    units: TestClient, kiosks: tuple[str, str]
) -> None:
    # One key stores 12 responses 1 s apart: the same total score, the scores moved from
    # one element to another (4,3,3,… then 3,4,3,…), so only the whole signature tells
    # them apart; then the 12 again, 20 s later, in a batch with one of them changed.
    def moved(i: int) -> dict[str, int | None]:
        first, second = ELEMENTS[i % 9], ELEMENTS[(i + 1 + i // 9) % 9]
        return {**all_answers(3), first: 4, second: 2}

    variants = [moved(i) for i in range(12)]
    assert len({tuple(v.values()) for v in variants}) == 12  # all different, by hand above
    for i, answers in enumerate(variants):
        item = response_item("capil", "ktp", answers, BURST_START + timedelta(seconds=i))
        posted = units.post("/v1/responses", json=item, headers=bearer(kiosks[0]))
        assert (posted.status_code, posted.json()["flag"]) == (201, None), posted.text
    again = [
        response_item(
            "capil",
            "ktp",
            {**answers, "pengaduan": 1} if i == 5 else answers,
            BURST_START + timedelta(seconds=20 + i),
        )
        for i, answers in enumerate(variants)
    ]
    answer = units.post("/v1/responses/batch", json={"items": again}, headers=bearer(kiosks[0]))
    assert answer.status_code == 200, answer.text
    flags = [r["response"]["flag"] for r in answer.json()["items"]]
    assert flags == ["suspected"] * 5 + [None] + ["suspected"] * 6
    reasons = {f["reason"] for f in units.get("/v1/flags", params={"limit": 100}).json()["items"]}
    assert reasons == {"identical answers from the same device 20 s after another response"}
    # The same answers for another service of the same key's unit are not alike either.
    made = units.post("/v1/units/capil/services", json={"code": "kk", "name": "KK"})
    assert made.status_code == 201, made.text
    other = response_item("capil", "kk", variants[0], BURST_START + timedelta(seconds=21))
    posted = units.post("/v1/responses", json=other, headers=bearer(kiosks[0]))
    assert (posted.status_code, posted.json()["flag"]) == (201, None), posted.text


@pytest.mark.parametrize(
    ("zone", "utc_hour"),
    [("Pacific/Kiritimati", 10), ("Etc/GMT+12", 12)],  # UTC+14, UTC-12: local midnight
)
def test_a_burst_is_found_whatever_the_units_day_against_utc(
    units: TestClient, zone: str, utc_hour: int
) -> None:
    """A unit whose local day is a day ahead of or behind UTC's: a response stored just
    after or before its local midnight is found by the next one 10 s later (PostgreSQL
    searches only the months of the local days the window can fall on)."""
    post_unit(units, "edge", "agency", parent="mpp", time_zone=zone)
    made = units.post("/v1/units/edge/services", json={"code": "e", "name": "e"})
    assert made.status_code == 201, made.text
    token = create_key(units, "Kiosk edge", "collector", "edge")["token"]
    midnight = (datetime.now(UTC) - timedelta(days=2)).replace(
        hour=utc_hour % 24, minute=0, second=0, microsecond=0
    )
    # Past local midnight when ahead of UTC (the local day is UTC's next), before it when
    # behind (UTC's day before).
    start = midnight + timedelta(seconds=5) if utc_hour < 12 else midnight - timedelta(seconds=15)
    flags = []
    for seconds in (0, 10):
        item = response_item(
            "edge", "e", all_answers(3), collected_at=start + timedelta(seconds=seconds)
        )
        posted = units.post("/v1/responses", json=item, headers=bearer(token))
        assert posted.status_code == 201, posted.text
        flags.append(posted.json()["flag"])
    assert flags == [None, "suspected"]


def test_concurrent_batches_of_one_device_see_each_other(
    units: TestClient, kiosks: tuple[str, str], database_url: str
) -> None:
    """SQLite: what burst detection compares is read in the write turn itself: of two
    batches sent at once by one device with the same answers 5 s apart, the one written
    second is flagged (each pair with answers of its own)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite only: PostgreSQL reads before it writes, in autocommit")
    for round_number, score in enumerate((1, 2, 3, 4)):
        start = BURST_START + timedelta(seconds=1000 * round_number)
        batches = [
            [response_item("capil", "ktp", all_answers(score), start + timedelta(seconds=s))]
            for s in (0, 5)
        ]
        answers = _posted_at_once(units, kiosks[0], batches)
        flags = [a["items"][0]["response"]["flag"] for a in answers]
        assert sorted(flags, key=str) == [None, "suspected"], flags


def _posted_at_once(
    client: TestClient, token: str, batches: list[list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    barrier = threading.Barrier(len(batches))
    answers: list[dict[str, Any]] = []

    def post(items: list[dict[str, Any]]) -> None:
        barrier.wait()
        answer = client.post("/v1/responses/batch", json={"items": items}, headers=bearer(token))
        answers.append(answer.json())

    threads = [threading.Thread(target=post, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers
