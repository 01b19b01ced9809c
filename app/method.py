"""The SKM arithmetic of PermenPAN-RB 14/2017 (see shared skm-method.md). Pure: no I/O.

Everything is exact (`fractions.Fraction`) until presentation; rounding is half-up and
happens only at the end.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Final, Literal

METHOD_ID: Final = "permenpan-rb-14-2017"

# Stable keys in questionnaire (display) order; never rely on position in storage.
ELEMENTS: Final = (
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


def round_half_up(value: Fraction, places: int = 2) -> Decimal:
    """Round a non-negative exact value half-up to `places` decimals."""
    if value < 0:
        raise ValueError("SKM values are never negative")
    scale = 10**places
    scaled = (2 * value.numerator * scale + value.denominator) // (2 * value.denominator)
    return Decimal(scaled).scaleb(-places)


def grade_for_ikm(ikm: Fraction) -> Grade:
    """Grade (mutu) of an IKM on the 25–100 scale, from its value rounded half-up to 2 dp."""
    rounded = round_half_up(ikm, 2)
    for lower, grade in GRADES:
        if rounded >= lower:
            return grade
    return GRADES[-1][1]


def grade_for_nrr(nrr: Fraction) -> Grade:
    """An element's grade: its NRR (1–4) taken to the 25–100 scale through the same rule."""
    return grade_for_ikm(nrr * IKM_FACTOR)


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
    index = sum((e.nrr * weight for e in answered), Fraction(0))
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
