"""Naive Oracle DPO, the "false dichotomy" baseline (DESIGN §6; TRACE Table 5).

The π_new oracle's verdict on the old chosen response decides the orientation: if it
violates π_new the pair is swapped, otherwise it is kept, and every pair is trained with DPO.
PUNISH pairs (both responses violate) are swapped too, so DPO then prefers a response that
is itself non-compliant: that is the naivety the paper contrasts with triage.
"""
from __future__ import annotations

from dataclasses import dataclass

from realignbench.data.schema import Pair
from realignbench.train.examples import Preference
from realignbench.train.pairs import category, naive_orientation
from realignbench.train.plugin import Method


@dataclass
class NaiveDpoOptions:
    """No options of its own: β, LR, LoRA, nll_weight, … are the matched ``train.*``."""


def naive_preferences(pairs: list[Pair], loss: str = "dpo", eps: float = 0.0
                      ) -> list[Preference]:
    """One preference per pair in naive-oracle orientation (shared with rDPO)."""
    out = []
    for p in pairs:
        category(p)                      # a clear error on untriaged data
        preferred, dispreferred = naive_orientation(p)
        out.append(Preference(p.id, p.prompt, preferred, dispreferred, loss=loss, eps=eps))
    return out


def naive_dpo_examples(ctx, pairs: list[Pair], opts: NaiveDpoOptions) -> list[Preference]:
    return naive_preferences(pairs)


NAIVE_DPO = Method(NaiveDpoOptions, build=naive_dpo_examples, judged_per_pair=1)
