"""DPO-Gold, the full re-annotation upper bound (DESIGN §6).

Every pair is re-labelled under π_new by its triage category:

* INVERT (old chosen violates, old rejected complies): swapped, old rejected ≻ old chosen;
* RETAIN (old chosen complies): kept, old chosen ≻ old rejected;
* PUNISH (both violate): the gold ``correction`` (a π_new-compliant response to the same
  prompt) ≻ old chosen.

The authors' released "gold" file kept PUNISH pairs unchanged (its correction generator is
commented out), which made DPO-Gold identical to Naive Oracle DPO on PUNISH pairs
(reference/trace-code.md §3.6); here PUNISH pairs always use the correction. A PUNISH pair
without one is an error by default; ``missing_correction: drop`` skips it and counts it.
"""
from __future__ import annotations

from dataclasses import dataclass

from realignbench.data.schema import Pair
from realignbench.train.examples import Preference
from realignbench.train.pairs import category, correction
from realignbench.train.plugin import Method


@dataclass
class DpoGoldOptions:
    missing_correction: str = "error"    # error | drop: a PUNISH pair without a correction

    def __post_init__(self):
        if self.missing_correction not in ("error", "drop"):
            raise ValueError("methods.dpo_gold.missing_correction: "
                             f"{self.missing_correction!r} is not error|drop")


def gold_orientation(pair: Pair) -> tuple[str, str]:
    """(preferred, dispreferred) under full re-annotation; raises if PUNISH lacks a correction."""
    cat = category(pair)
    if cat == "INVERT":
        return pair.rejected, pair.chosen
    if cat == "PUNISH":
        return correction(pair), pair.chosen
    return pair.chosen, pair.rejected


def dpo_gold_examples(ctx, pairs: list[Pair], opts: DpoGoldOptions) -> list[Preference]:
    out, dropped = [], []
    for p in pairs:
        if opts.missing_correction == "drop" and category(p) == "PUNISH" and not p.correction:
            dropped.append(p.id)
            continue
        out.append(Preference(p.id, p.prompt, *gold_orientation(p)))
    if ctx is not None:
        ctx.results["dropped_without_correction"] = len(dropped)
    return out


DPO_GOLD = Method(DpoGoldOptions, build=dpo_gold_examples, judged_per_pair=2,
                  corrections=True)
