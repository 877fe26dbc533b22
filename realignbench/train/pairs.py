"""Reading triage results off a pair (files keep π_old orientation; methods orient here).

c(y) = the π_new oracle's verdict on a response. INVERT: c(chosen)=0 ∧ c(rejected)=1;
PUNISH: both 0; RETAIN: c(chosen)=1 (DESIGN §3).
"""
from __future__ import annotations

from typing import Iterable

from realignbench.data.schema import CATEGORIES, Pair


class TriageMissing(ValueError):
    """A method needs triage fields a pair does not have; names the pair and the field."""


def category(pair: Pair) -> str:
    if pair.category not in CATEGORIES:
        raise TriageMissing(f"pair {pair.id!r}: field 'category' is {pair.category!r}; "
                            "this method needs triaged pairs (run `realignbench triage`)")
    return pair.category


def complies(pair: Pair, side: str) -> bool:
    """Whether ``pair.<side>`` (chosen | rejected) complies with π_new."""
    verdict = (pair.verdicts or {}).get(side)
    if not isinstance(verdict, dict) or "compliant" not in verdict:
        raise TriageMissing(f"pair {pair.id!r}: field 'verdicts.{side}.compliant' is missing")
    return bool(verdict["compliant"])


def correction(pair: Pair) -> str:
    if not pair.correction:
        raise TriageMissing(f"pair {pair.id!r}: field 'correction' is missing; this method "
                            "needs a π_new-compliant response for the prompt")
    return pair.correction


def naive_orientation(pair: Pair) -> tuple[str, str]:
    """The "false dichotomy": swap whenever the old chosen violates π_new, else keep."""
    if complies(pair, "chosen"):
        return pair.chosen, pair.rejected
    return pair.rejected, pair.chosen


def by_category(pairs: Iterable[Pair]) -> dict[str, list[Pair]]:
    out: dict[str, list[Pair]] = {c: [] for c in CATEGORIES}
    for p in pairs:
        out[category(p)].append(p)
    return out
