"""Oracle-noise injection (Table 8; DESIGN §3): flip each verdict with probability p.

Each (pair id, side) gets one uniform number u from a seeded hash, and its verdict flips iff
u < p. So the flips at p=0.1 are exactly a subset of those at p=0.2, a pair's flips do not
depend on which training subset it is in, and rerunning gives the same flips. The category is
recomputed from the flipped verdicts; every flip is recorded in ``meta.noise``.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any, Sequence

from realignbench.data.schema import Pair
from realignbench.oracle.verdict import Verdict
from realignbench.triage.rule import apply_verdicts

SIDES = ("chosen", "rejected")


def flip_draw(seed: int | str, pair_id: str, side: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, pair id, side)."""
    digest = hashlib.sha256(f"noise/{seed}/{pair_id}/{side}".encode()).hexdigest()
    return int(digest[:13], 16) / 16 ** 13


def flipped(verdict: Verdict, p: float) -> Verdict:
    return Verdict(compliant=not verdict.compliant,
                   violated=() if not verdict.compliant else ("noise",),
                   rationale=f"[noise p={p}: verdict flipped] {verdict.rationale}",
                   judge_id=f"{verdict.judge_id}+noise")


def inject_noise(pairs: Sequence[Pair], p: float, seed: int | str) -> tuple[list[Pair], dict]:
    """Noisy copies of triaged ``pairs`` and counts of what changed."""
    if not 0 <= p < 0.5:
        raise ValueError(f"noise level p={p} must lie in [0, 0.5)")
    out, stats = [], Counter()
    for pair in pairs:
        if pair.verdicts is None or pair.category is None:
            raise ValueError(f"pair {pair.id}: inject noise into triaged pairs only")
        verdicts = {s: Verdict.from_dict(pair.verdicts[s]) for s in SIDES}
        sides = [s for s in SIDES if flip_draw(seed, pair.id, s) < p]
        for s in sides:
            verdicts[s] = flipped(verdicts[s], p)
        noisy = apply_verdicts(pair, verdicts["chosen"], verdicts["rejected"])
        noisy.meta["noise"] = {"p": p, "seed": seed, "flipped": sides,
                               "clean_category": pair.category}
        stats["verdicts_flipped"] += len(sides)
        stats["pairs_with_flip"] += bool(sides)
        stats["category_changed"] += noisy.category != pair.category
        out.append(noisy)
    summary: dict[str, Any] = {"p": p, "n": len(out), **{k: stats[k] for k in (
        "verdicts_flipped", "pairs_with_flip", "category_changed")}}
    summary["categories"] = dict(Counter(q.category for q in out))
    return out, summary
