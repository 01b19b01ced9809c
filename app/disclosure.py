"""Which public figures may be shown: nothing, alone or combined with other public figures,
may describe fewer than SKM_PUBLIC_MIN_GROUP respondents.

Public figures are given for disjoint blocks of respondents (one unit's own responses over
one whole period of the one public length), and within a block for the total and one
partition of it (its services). Every figure the public can derive is then a sum of the
published groups and the remainder (the block minus its published groups), so it is
enough that each of those is empty or counts at least the minimum — in respondents, and in
answers to every element (a paper form may leave one blank, and an element's NRR is a
figure of its own). Pure: no I/O.
"""

from collections.abc import Hashable, Mapping
from typing import TypeVar

from app.aggregates import Sums
from app.method import ELEMENTS

K = TypeVar("K", bound=Hashable)


def _counts(sums: Sums) -> list[int]:
    return [sums.responses, *(sums.counters[f"{e}_n"] for e in ELEMENTS)]


def safe(sums: Sums, minimum: int) -> bool:
    """Every count (respondents, answers per element) is zero or at least the minimum."""
    return all(count == 0 or count >= minimum for count in _counts(sums))


def publishable(sums: Sums, minimum: int) -> bool:
    """A figure that may be shown on its own: some respondents, and safe."""
    return sums.responses > 0 and safe(sums, minimum)


def _remainder(total: Sums, shown: list[Sums]) -> Sums:
    rest = Sums(dict(total.counters))
    for sums in shown:
        for name, value in sums.counters.items():
            rest.counters[name] -= value
    return rest


def published_groups(total: Sums, groups: Mapping[K, Sums], minimum: int) -> set[K]:
    """The groups of a partition of `total` that may be shown beside it: each publishable,
    and the remainder (total minus the shown groups) safe. When it is not, the smallest
    shown group is suppressed as well (complementary suppression) until it is; nothing is
    shown when the total itself is not publishable."""
    if not publishable(total, minimum):
        return set()
    shown = {key for key, sums in groups.items() if publishable(sums, minimum)}
    while not safe(_remainder(total, [groups[k] for k in shown]), minimum):
        # Never empty here: with nothing shown the remainder is the total, which is safe.
        smallest = min(shown, key=lambda k: (groups[k].responses, str(k)))
        shown.remove(smallest)
    return shown
