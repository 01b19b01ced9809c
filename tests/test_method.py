"""The SKM arithmetic against the checks of docs/method.md (worked by hand)."""

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.aggregates import AGGREGATE_COUNTERS, Sums
from app.indices import index_value
from app.method import (
    ELEMENTS,
    compute_index,
    grade_for_ikm,
    ikm_interval,
    minimum_sample,
    presented,
    round_half_up,
    t_critical_95,
)
from app.periods import buckets, parse_period, split_months, split_years

ELEMENT_ORDER = (
    "persyaratan",
    "prosedur",
    "waktu",
    "biaya",
    "produk",
    "kompetensi",
    "perilaku",
    "sarana",
    "pengaduan",
)


def columns(rows: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Element totals and answer counts of whitespace-separated score rows."""
    parsed = [[int(x) for x in row.split()] for row in rows]
    totals = {key: sum(r[i] for r in parsed) for i, key in enumerate(ELEMENT_ORDER)}
    return totals, dict.fromkeys(ELEMENT_ORDER, len(parsed))


@pytest.mark.parametrize(
    ("score", "ikm", "mutu"),
    [(4, "100.00", "A"), (3, "75.00", "C"), (2, "50.00", "D"), (1, "25.00", "D")],
)
def test_uniform_answers(score: int, ikm: str, mutu: str) -> None:
    result = compute_index(dict.fromkeys(ELEMENT_ORDER, score * 7), dict.fromkeys(ELEMENT_ORDER, 7))
    assert result is not None
    assert round_half_up(result.ikm) == Decimal(ikm)
    assert result.grade.mutu == mutu
    assert result.weakest == ELEMENT_ORDER  # all tied


def test_twenty_nine_responses_exact_weight() -> None:
    totals = dict(zip(ELEMENT_ORDER, (105, 101, 100, 116, 102, 105, 106, 105, 115), strict=True))
    result = compute_index(totals, dict.fromkeys(ELEMENT_ORDER, 29))
    assert result is not None
    assert result.index == Fraction(955, 261)
    assert result.weight == Fraction(1, 9)
    assert round_half_up(result.ikm) == Decimal("91.48")  # 0.111 would give 91.38, 0.11 90.56
    assert result.grade.mutu == "A"


def test_five_responses_nrr_grades_and_weakest() -> None:
    totals, counts = columns(
        [
            "4 3 3 4 3 4 4 3 3",
            "3 3 2 4 3 3 4 3 2",
            "4 4 3 4 4 4 4 4 3",
            "3 2 2 4 3 3 3 3 2",
            "4 3 3 4 3 4 4 3 3",
        ]
    )
    result = compute_index(totals, counts)
    assert result is not None
    assert [e.nrr for e in result.elements] == [
        Fraction(x) for x in ("3.6", "3.0", "2.6", "4.0", "3.2", "3.6", "3.8", "3.2", "2.6")
    ]
    assert round_half_up(result.ikm) == Decimal("82.22")
    assert result.grade.mutu == "B"
    assert result.weakest == ("waktu", "pengaduan")
    assert grade_for_ikm(Fraction("2.6") * 25).mutu == "C"


def test_each_element_has_its_own_denominator_and_unanswered_elements_drop_out() -> None:
    # Element totals and answer counts: waktu answered once (4), pengaduan once (1).
    totals = {**dict.fromkeys(ELEMENT_ORDER, 6), "waktu": 4, "pengaduan": 1}
    counts = {**dict.fromkeys(ELEMENT_ORDER, 2), "waktu": 1, "pengaduan": 1}
    result = compute_index(totals, counts)
    assert result is not None
    assert result.index == Fraction(3 * 7 + 4 + 1, 9)  # 26/9
    assert round_half_up(result.ikm) == Decimal("72.22")
    never = compute_index({**totals, "pengaduan": 0}, {**counts, "pengaduan": 0})
    assert never is not None
    assert never.weight == Fraction(1, 8)
    assert never.index == Fraction(3 * 7 + 4, 8)
    assert compute_index(dict.fromkeys(ELEMENT_ORDER, 0), dict.fromkeys(ELEMENT_ORDER, 0)) is None


@pytest.mark.parametrize(
    ("ikm", "mutu"),
    [
        ("88.30", "B"),
        ("88.304", "B"),
        ("88.305", "A"),
        ("88.31", "A"),
        ("76.60", "C"),
        ("76.605", "B"),
        ("64.99", "D"),
        ("64.995", "C"),
        ("65.00", "C"),
        ("100", "A"),
        ("25", "D"),
    ],
)
def test_grade_boundaries(ikm: str, mutu: str) -> None:
    assert grade_for_ikm(Fraction(ikm)).mutu == mutu


def test_round_half_up_is_not_bankers_rounding() -> None:
    assert round_half_up(Fraction("0.125"), 2) == Decimal("0.13")
    assert round_half_up(Fraction("2.5"), 0) == Decimal("3")
    assert round_half_up(Fraction(1, 3), 3) == Decimal("0.333")


@pytest.mark.parametrize(
    ("population", "minimum"),
    [(10, 10), (50, 44), (100, 80), (500, 217), (1000, 278), (10_000, 370), (1_000_000, 384)],
)
def test_krejcie_morgan_table(population: int, minimum: int) -> None:
    assert minimum_sample(population) == minimum


def test_confidence_interval_of_the_five_responses() -> None:
    # Respondent totals 31, 27, 34, 25, 31: ΣT = 148, ΣT² = 4432, var(T) = 12.8;
    # SE of the mean score = √(12.8 / 81 / 5) = 8/45; on the IKM scale 40/9; t(4) = 2.776.
    # IKM 740/9 ± 2.776 · 40/9 → 628.96/9 = 69.884… and 851.04/9 = 94.56.
    interval = ikm_interval(Fraction(740, 9), 5, 148, 4432)
    assert interval is not None
    assert round_half_up(interval.low) == Decimal("69.88")
    assert round_half_up(interval.high) == Decimal("94.56")
    assert interval.respondents == 5
    assert ikm_interval(Fraction(75), 1, 27, 729) is None
    same = ikm_interval(Fraction(75), 10, 270, 7290)  # everyone 3: no spread
    assert same is not None
    assert (same.low, same.high) == (Fraction(75), Fraction(75))


def test_t_critical_values() -> None:
    assert t_critical_95(1) == Fraction("12.706")
    assert t_critical_95(30) == Fraction("2.042")
    assert t_critical_95(35) == Fraction("2.042")  # between rows: the smaller df, wider
    assert t_critical_95(500) == Fraction("1.960")


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026", "2026-01-01", "2026-12-31"),
        ("2026-S2", "2026-07-01", "2026-12-31"),
        ("2026-Q1", "2026-01-01", "2026-03-31"),
        ("2024-02", "2024-02-01", "2024-02-29"),
        ("2026-12", "2026-12-01", "2026-12-31"),
    ],
)
def test_periods(text: str, start: str, end: str) -> None:
    period = parse_period(text)
    assert (period.label, period.start.isoformat(), period.end.isoformat()) == (text, start, end)


@pytest.mark.parametrize("text", ["2026-Q5", "2026-13", "26", "2026-S3", "1999", "2026-q1"])
def test_bad_periods(text: str) -> None:
    with pytest.raises(ValueError, match="period"):
        parse_period(text)


def test_split_months_and_buckets() -> None:
    first, last = parse_period("2026-01").start, parse_period("2026-03").end
    split = split_months(first.replace(day=15), last.replace(day=10))
    assert split.months == (parse_period("2026-02").start, parse_period("2026-02").start)
    assert [(a.isoformat(), b.isoformat()) for a, b in split.days] == [
        ("2026-01-15", "2026-01-31"),
        ("2026-03-01", "2026-03-10"),
    ]
    quarters = buckets(parse_period("2025-11").start, parse_period("2026-05").end, "quarter")
    assert [q.label for q in quarters] == ["2025-Q4", "2026-Q1", "2026-Q2"]
    assert quarters[0].start.isoformat() == "2025-11-01"
    assert quarters[-1].end.isoformat() == "2026-05-31"


def test_split_years() -> None:
    d = date.fromisoformat
    # Whole years, and the months before and after them.
    assert split_years(d("2024-11-01"), d("2027-02-01")) == (
        (d("2025-01-01"), d("2026-01-01")),
        [(d("2024-11-01"), d("2024-12-01")), (d("2027-01-01"), d("2027-02-01"))],
    )
    assert split_years(d("2025-01-01"), d("2025-12-01")) == ((d("2025-01-01"),) * 2, [])
    # No whole year: the months as they are.
    assert split_years(d("2025-02-01"), d("2026-11-01")) == (
        None,
        [(d("2025-02-01"), d("2026-11-01"))],
    )
    assert split_years(d("2025-01-01"), d("2025-11-01")) == (
        None,
        [(d("2025-01-01"), d("2025-11-01"))],
    )


@st.composite
def counters(draw: st.DrawFn) -> dict[str, int]:
    """Aggregate counters some set of responses could have: per element answers n ≤ the
    responses and a total in n..4n; the complete ones' totals T in 9..36, ΣT² ≥ (ΣT)²/c."""
    responses = draw(st.integers(1, 5000))
    values = dict.fromkeys(AGGREGATE_COUNTERS, 0)
    values["responses"] = responses
    for element in ELEMENTS:
        n = draw(st.integers(0, responses))
        values[f"{element}_n"] = n
        values[f"{element}_sum"] = draw(st.integers(n, 4 * n))
    complete = draw(st.integers(0, responses))
    total = draw(st.integers(9 * complete, 36 * complete))
    low = -(-total * total // complete) if complete else 0
    values["complete"] = complete
    values["complete_total"] = total
    values["complete_total_sq"] = draw(st.integers(low, max(low, 36 * total)))
    return values


@settings(max_examples=400, deadline=None)
@given(counters())
def test_index_value_in_whole_numbers_equals_the_fractions(values: dict[str, int]) -> None:
    """`indices.index_value` works in integers; every figure equals the one the exact
    Fractions of compute_index and ikm_interval give."""
    got = index_value(Sums(dict(values)))
    result = compute_index(
        {e: values[f"{e}_sum"] for e in ELEMENTS}, {e: values[f"{e}_n"] for e in ELEMENTS}
    )
    if result is None:
        assert got.ikm is None
        assert got.elements == []
        return
    assert got.ikm == presented(result.ikm, 2)
    assert got.index == presented(result.index, 3)
    assert got.index_exact == str(result.index)
    assert got.weight == str(result.weight)
    assert got.grade is not None
    assert got.grade.mutu == result.grade.mutu
    assert got.weakest == list(result.weakest)
    assert [
        (e.key, e.answers, e.total, e.nrr, e.nrr_exact, e.ikm, e.grade.mutu) for e in got.elements
    ] == [
        (
            r.key,
            r.count,
            r.total,
            presented(r.nrr, 3),
            str(r.nrr),
            presented(r.nrr * 25, 2),
            grade_for_ikm(r.nrr * 25).mutu,
        )
        for r in result.elements
    ]
    interval = ikm_interval(
        result.ikm, values["complete"], values["complete_total"], values["complete_total_sq"]
    )
    if interval is None:
        assert got.confidence_interval is None
    else:
        assert got.confidence_interval is not None
        assert got.confidence_interval.ikm_low == presented(interval.low, 2)
        assert got.confidence_interval.ikm_high == presented(interval.high, 2)
        assert got.confidence_interval.respondents == interval.respondents
