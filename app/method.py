"""The SKM arithmetic of PermenPAN-RB 14/2017, as docs/method.md describes it. Pure: no I/O.

Everything is exact (`fractions.Fraction`) until presentation; rounding is half-up and
happens only at the end.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import gcd, isqrt, lcm
from typing import Final, Literal, get_args

METHOD_ID: Final = "permenpan-rb-14-2017"
INTERVAL_MINIMUM: Final = 2  # complete responses behind a confidence interval

# Stable keys in questionnaire (display) order; never rely on position in storage.
ElementKey = Literal[
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
ELEMENTS: Final[tuple[str, ...]] = get_args(ElementKey)
# Unsur names as the regulation lists them.
ELEMENT_NAMES: Final = {
    "persyaratan": "Persyaratan",
    "prosedur": "Sistem, Mekanisme, dan Prosedur",
    "waktu": "Waktu Penyelesaian",
    "biaya": "Biaya/Tarif",
    "produk": "Produk Spesifikasi Jenis Pelayanan",
    "kompetensi": "Kompetensi Pelaksana",
    "perilaku": "Perilaku Pelaksana",
    "sarana": "Sarana dan Prasarana",
    "pengaduan": "Penanganan Pengaduan, Saran dan Masukan",
}
MIN_SCORE: Final = 1
MAX_SCORE: Final = 4
IKM_FACTOR: Final = 25

Mutu = Literal["A", "B", "C", "D"]


@dataclass(frozen=True)
class Grade:
    mutu: Mutu
    kinerja: str  # kinerja unit pelayanan, as the regulation words it
    kinerja_en: str


# (lower bound of the IKM rounded to 2 dp, grade), highest first.
GRADES: Final = (
    (Decimal("88.31"), Grade("A", "Sangat baik", "Very good")),
    (Decimal("76.61"), Grade("B", "Baik", "Good")),
    (Decimal("65.00"), Grade("C", "Kurang baik", "Poor")),
    (Decimal("25.00"), Grade("D", "Tidak baik", "Very poor")),
)


def _scaled_half_up(value: Fraction, places: int) -> int:
    """value × 10^places rounded half-up, as an integer (exact)."""
    if value < 0:
        raise ValueError("SKM values are never negative")
    return ratio_half_up(value.numerator, value.denominator, places)


def round_half_up(value: Fraction, places: int = 2) -> Decimal:
    """Round a non-negative exact value half-up to `places` decimals."""
    return Decimal(_scaled_half_up(value, places)).scaleb(-places)


def presented(value: Fraction, places: int) -> float:
    """The value rounded half-up to `places` decimals, as the nearest float (what JSON
    carries): the integer quotient is correctly rounded, so 9148/100 is exactly 91.48."""
    scale: int = 10**places
    return _scaled_half_up(value, places) / scale


# The grade table in hundredths of an IKM point, for comparing with rounded values.
_GRADE_FLOORS: Final = tuple((int(lower * 100), grade) for lower, grade in GRADES)


def grade_for_ikm(ikm: Fraction) -> Grade:
    """Grade (mutu) of an IKM on the 25–100 scale, from its value rounded half-up to 2 dp."""
    return grade_for_hundredths(_scaled_half_up(ikm, 2))


def grade_for_hundredths(rounded: int) -> Grade:
    """Grade (mutu) of an IKM already rounded half-up to hundredths (9148 for 91.48)."""
    for floor, grade in _GRADE_FLOORS:
        if rounded >= floor:
            return grade
    return GRADES[-1][1]


@dataclass(frozen=True)
class ElementResult:
    key: str
    count: int
    total: int
    nrr: Fraction


@dataclass(frozen=True)
class IndexResult:
    elements: tuple[ElementResult, ...]  # answered elements only, questionnaire order
    weight: Fraction  # 1/k
    index: Fraction  # 1–4
    ikm: Fraction  # 25–100
    grade: Grade
    weakest: tuple[str, ...]


def index_value(elements: Iterable[tuple[int, int]]) -> Fraction | None:
    """The index (1–4) from each element's (answers, score total): Σ NRR × 1/k over the k
    elements with answers, as one fraction over a common denominator (one normalisation
    instead of one per term). None when no element has an answer."""
    answered = [(count, total) for count, total in elements if count > 0]
    if not answered:
        return None
    common = lcm(*(count for count, _ in answered))
    return Fraction(
        sum(total * (common // count) for count, total in answered), common * len(answered)
    )


def ratio_half_up(numerator: int, denominator: int, places: int) -> int:
    """numerator/denominator × 10^places rounded half-up, as an integer (exact, for
    non-negative values; the quotient does not depend on reducing the fraction)."""
    scale: int = 10**places
    return (2 * numerator * scale + denominator) // (2 * denominator)


def fraction_text(numerator: int, denominator: int) -> str:
    """str(Fraction(numerator, denominator)) without building it: '18/5', or '4'."""
    common = gcd(numerator, denominator)
    numerator, denominator = numerator // common, denominator // common
    return str(numerator) if denominator == 1 else f"{numerator}/{denominator}"


def compute_index(totals: Mapping[str, int], counts: Mapping[str, int]) -> IndexResult | None:
    """IKM from per-element score totals and answer counts (each element its own denominator).

    Returns None when no element has an answer.
    """
    answered = [
        ElementResult(key, counts[key], totals[key], Fraction(totals[key], counts[key]))
        for key in ELEMENTS
        if counts.get(key, 0) > 0
    ]
    if not answered:
        return None
    weight = Fraction(1, len(answered))
    index = index_value((e.count, e.total) for e in answered)
    assert index is not None
    ikm = index * IKM_FACTOR
    lowest = min(e.nrr for e in answered)
    return IndexResult(
        elements=tuple(answered),
        weight=weight,
        index=index,
        ikm=ikm,
        grade=grade_for_ikm(ikm),
        weakest=tuple(e.key for e in answered if e.nrr == lowest),
    )


def minimum_sample(population: int) -> int:
    """Krejcie–Morgan minimum sample for a population N, rounded to the nearest integer.

    s = X²·N·P(1−P) / (d²·(N−1) + X²·P(1−P)), X² = 3.841, P = 0.5, d = 0.05.
    """
    if population < 1:
        raise ValueError("population must be at least 1")
    chi2 = Fraction(3841, 1000)
    p = Fraction(1, 2)
    d = Fraction(5, 100)
    s = chi2 * population * p * (1 - p) / (d * d * (population - 1) + chi2 * p * (1 - p))
    return int(round_half_up(s, 0))


# Two-sided 95% critical values of Student's t by degrees of freedom; between rows the
# smaller df's (larger, more conservative) value is used; beyond 120, the normal 1.960.
_T_975: Final = (
    (1, Fraction("12.706")),
    (2, Fraction("4.303")),
    (3, Fraction("3.182")),
    (4, Fraction("2.776")),
    (5, Fraction("2.571")),
    (6, Fraction("2.447")),
    (7, Fraction("2.365")),
    (8, Fraction("2.306")),
    (9, Fraction("2.262")),
    (10, Fraction("2.228")),
    (11, Fraction("2.201")),
    (12, Fraction("2.179")),
    (13, Fraction("2.160")),
    (14, Fraction("2.145")),
    (15, Fraction("2.131")),
    (16, Fraction("2.120")),
    (17, Fraction("2.110")),
    (18, Fraction("2.101")),
    (19, Fraction("2.093")),
    (20, Fraction("2.086")),
    (21, Fraction("2.080")),
    (22, Fraction("2.074")),
    (23, Fraction("2.069")),
    (24, Fraction("2.064")),
    (25, Fraction("2.060")),
    (26, Fraction("2.056")),
    (27, Fraction("2.052")),
    (28, Fraction("2.048")),
    (29, Fraction("2.045")),
    (30, Fraction("2.042")),
    (40, Fraction("2.021")),
    (60, Fraction("2.000")),
    (120, Fraction("1.980")),
)
Z_975: Final = Fraction("1.960")
CI_METHOD: Final = (
    "95% Student-t interval around the IKM, with the standard error of the mean respondent "
    "score (the mean of each respondent's nine scores) over the responses answering all nine "
    "elements; clipped to 25–100"
)
SMALL_SAMPLE: Final = 30


def t_critical_95(df: int) -> Fraction:
    if df < 1:
        raise ValueError("at least one degree of freedom")
    if df > _T_975[-1][0]:
        return Z_975
    return next(critical for row_df, critical in reversed(_T_975) if df >= row_df)


@dataclass(frozen=True)
class Interval:
    low: Fraction
    high: Fraction
    respondents: int


def ikm_interval(ikm: Fraction, complete: int, total_sum: int, total_sq: int) -> Interval | None:
    """95% interval for an IKM from the respondent totals T (sum of nine scores) of the
    `complete` responses: ΣT = total_sum, ΣT² = total_sq. None with fewer than two."""
    if complete < INTERVAL_MINIMUM:
        return None
    # Variance of T (exact), then of the respondent mean score T/9, on the IKM scale (×25).
    variance_t = Fraction(total_sq * complete - total_sum * total_sum, complete * (complete - 1))
    variance_ikm_mean = variance_t / (len(ELEMENTS) ** 2) * IKM_FACTOR**2 / complete
    half_width = t_critical_95(complete - 1) * _sqrt(variance_ikm_mean)
    low = max(ikm - half_width, Fraction(MIN_SCORE * IKM_FACTOR))
    high = min(ikm + half_width, Fraction(MAX_SCORE * IKM_FACTOR))
    return Interval(low, high, complete)


def interval_hundredths(
    ikm_numerator: int, ikm_denominator: int, complete: int, total_sum: int, total_sq: int
) -> tuple[int, int] | None:
    """`ikm_interval` for the IKM ikm_numerator/ikm_denominator, its ends rounded half-up to
    hundredths (as `presented(…, 2)` × 100), in whole numbers: the same floors of the same
    values, without a Fraction (a ranking computes hundreds)."""
    if complete < INTERVAL_MINIMUM:
        return None
    # The variance on the IKM scale as N/D, its square root to 10^-12 as root/scale.
    n = (total_sq * complete - total_sum * total_sum) * IKM_FACTOR**2
    d = complete * complete * (complete - 1) * len(ELEMENTS) ** 2
    scale = 10**12
    root = isqrt(n * scale * scale // d) if n > 0 else 0
    t = t_critical_95(complete - 1)
    # ikm ± t·root/scale over one denominator.
    denominator = ikm_denominator * t.denominator * scale
    centre = ikm_numerator * t.denominator * scale
    half_width = t.numerator * root * ikm_denominator
    low = max(centre - half_width, MIN_SCORE * IKM_FACTOR * denominator)
    high = min(centre + half_width, MAX_SCORE * IKM_FACTOR * denominator)
    return ratio_half_up(low, denominator, 2), ratio_half_up(high, denominator, 2)


def _sqrt(value: Fraction) -> Fraction:
    """Square root to ~1e-12, exact enough for a 2-dp presentation."""
    if value <= 0:
        return Fraction(0)
    scale = 10**12
    return Fraction(isqrt(value.numerator * scale * scale // value.denominator), scale)
