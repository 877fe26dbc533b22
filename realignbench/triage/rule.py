"""Triage (DESIGN §3): re-read each π_old pair under π_new and give it a category.

c = complies with π_new:
    c(chosen)=0, c(rejected)=1 -> INVERT   (π_new prefers the old loser)
    c(chosen)=0, c(rejected)=0 -> PUNISH   (both fail: the "false dichotomy")
    c(chosen)=1                -> RETAIN   (sub-case both compliant recorded in meta)
The stored orientation never changes: chosen stays π_old's choice. Methods derive their own
(preferred, dispreferred) from the category; files are never pre-swapped.
"""
from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from typing import Any, Sequence

from realignbench.data.schema import CATEGORIES, Pair
from realignbench.oracle.verdict import JudgeItem, Verdict


def category_of(chosen_ok: bool, rejected_ok: bool) -> str:
    if chosen_ok:
        return "RETAIN"
    return "INVERT" if rejected_ok else "PUNISH"


def retain_kind(chosen_ok: bool, rejected_ok: bool) -> str | None:
    """``both_compliant`` or ``chosen_only`` for RETAIN pairs, None otherwise."""
    if not chosen_ok:
        return None
    return "both_compliant" if rejected_ok else "chosen_only"


def apply_verdicts(pair: Pair, chosen: Verdict, rejected: Verdict) -> Pair:
    """A copy of ``pair`` with category, verdicts and the RETAIN sub-case set."""
    meta = dict(pair.meta)
    kind = retain_kind(chosen.compliant, rejected.compliant)
    if kind:
        meta["retain_kind"] = kind
    else:
        meta.pop("retain_kind", None)
    return dataclasses.replace(
        pair, category=category_of(chosen.compliant, rejected.compliant),
        verdicts={"chosen": chosen.to_dict(), "rejected": rejected.to_dict()}, meta=meta)


def judge_pairs(pairs: Sequence[Pair], oracle: Any, policy: Any) -> list[tuple[Verdict, Verdict]]:
    """Verdicts for both responses of every pair, in one batched oracle call."""
    items = []
    for p in pairs:
        for side in ("chosen", "rejected"):
            items.append(JudgeItem(prompt=p.prompt, response=getattr(p, side),
                                   labels=p.labels.get(side), meta={"pair_id": p.id, "side": side}))
    verdicts = oracle.judge(items, policy)
    if len(verdicts) != len(items):
        raise RuntimeError(f"oracle returned {len(verdicts)} verdicts for {len(items)} items")
    return [(verdicts[2 * i], verdicts[2 * i + 1]) for i in range(len(pairs))]


def triage(pairs: Sequence[Pair], oracle: Any, policy_new: Any, shift: str = "",
           policy_old: Any = None) -> list[Pair]:
    """Triaged copies of ``pairs`` under ``policy_new``. With ``policy_old`` the π_old verdicts
    are recorded too (``meta.old_compliant``), to check the data really is π_old-labelled."""
    new = judge_pairs(pairs, oracle, policy_new)
    old = judge_pairs(pairs, oracle, policy_old) if policy_old is not None else None
    out = []
    for i, (pair, (vc, vr)) in enumerate(zip(pairs, new)):
        triaged = apply_verdicts(pair, vc, vr)
        if shift:
            triaged.meta["shift"] = shift
        if old is not None:
            triaged.meta["old_compliant"] = {"chosen": old[i][0].compliant,
                                             "rejected": old[i][1].compliant}
        out.append(triaged)
    return out


def _mix(counter: Counter, n: int) -> dict[str, Any]:
    return {c: {"n": counter.get(c, 0), "share": round(counter.get(c, 0) / n, 4) if n else 0.0}
            for c in CATEGORIES}


def triage_stats(pairs: Sequence[Pair]) -> dict[str, Any]:
    """Counts and shares per category, per dimension and per shift, plus the RETAIN sub-cases."""
    if any(p.category is None for p in pairs):
        raise ValueError("triage_stats: every pair must be triaged first")
    n = len(pairs)
    by_dim: dict[str, Counter] = defaultdict(Counter)
    by_shift: dict[str, Counter] = defaultdict(Counter)
    violated: Counter = Counter()
    for p in pairs:
        by_dim[str(p.meta.get("dimension", "unknown"))][p.category] += 1
        by_shift[str(p.meta.get("shift", "unknown"))][p.category] += 1
        for side in ("chosen", "rejected"):
            violated.update(p.verdicts[side]["violated"])
    old_flags = [p.meta["old_compliant"] for p in pairs if "old_compliant" in p.meta]
    stats = {
        "n": n,
        "categories": _mix(Counter(p.category for p in pairs), n),
        "retain_kind": dict(Counter(p.meta["retain_kind"] for p in pairs
                                    if p.category == "RETAIN")),
        "by_dimension": {d: _mix(c, sum(c.values())) for d, c in sorted(by_dim.items())},
        "by_shift": {s: _mix(c, sum(c.values())) for s, c in sorted(by_shift.items())},
        "violations_under_new": dict(sorted(violated.items())),
    }
    if old_flags:
        stats["old_policy_agreement"] = {
            "chosen_compliant": sum(f["chosen"] for f in old_flags),
            "rejected_noncompliant": sum(not f["rejected"] for f in old_flags),
            "n": len(old_flags)}
    return stats


def format_mix(stats: dict[str, Any]) -> str:
    """One line: ``INVERT 26.2% (105) | PUNISH ... | RETAIN ... (both-compliant k)``."""
    parts = [f"{c} {100 * v['share']:.1f}% ({v['n']})" for c, v in stats["categories"].items()]
    both = stats.get("retain_kind", {}).get("both_compliant", 0)
    return " | ".join(parts) + f"  [n={stats['n']}, RETAIN both-compliant: {both}]"
