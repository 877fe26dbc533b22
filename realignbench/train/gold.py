"""The gold batch D_gold (TRACE Algorithm 2): a small π_new-oriented preference set whose DPO
gradient g_J defines "helpful" for impact scores.

B_R = min(|D_R|, ⌊B/3⌋) RETAIN pairs as stored (chosen ≻ rejected), B_I = min(|D_I|, ⌊B/3⌋)
INVERT pairs swapped (old rejected ≻ old chosen), and the rest PUNISH pairs with a
π_new-compliant response preferred over the old chosen. Algorithm 2 draws that response from
the pool of compliant responses (RETAIN chosen, INVERT rejected) of *any* prompt
(``punish_response="pool"``); ``"correction"`` uses the pair's own correction instead.
Sampling is seeded (the authors' code used the unseeded global RNG).
"""
from __future__ import annotations

import random
from typing import Sequence

from realignbench.data.schema import Pair
from realignbench.train.examples import Preference
from realignbench.train.pairs import by_category, correction


# D_gold's defaults, shared by TRACE and U2A (the same gold batch for both).
GOLD_BATCH_SIZE = 64
GOLD_PUNISH = "pool"               # pool (Algorithm 2) | correction


def gold_batch(pairs: Sequence[Pair], size: int, seed: int, punish_response: str = "pool"
               ) -> list[Preference]:
    if punish_response not in ("pool", "correction"):
        raise ValueError(f"gold punish_response {punish_response!r} is not pool|correction")
    if size < 1:
        raise ValueError(f"gold batch size must be positive, got {size}")
    rng = random.Random(seed)
    cats = by_category(pairs)
    third = size // 3
    retain = rng.sample(cats["RETAIN"], min(third, len(cats["RETAIN"])))
    invert = rng.sample(cats["INVERT"], min(third, len(cats["INVERT"])))
    gold = [Preference(f"gold/{p.id}", p.prompt, p.chosen, p.rejected) for p in retain]
    gold += [Preference(f"gold/{p.id}", p.prompt, p.rejected, p.chosen) for p in invert]
    pool = [p.chosen for p in cats["RETAIN"]] + [p.rejected for p in cats["INVERT"]]
    n_punish = min(size - len(gold), len(cats["PUNISH"]))
    if n_punish and (pool or punish_response == "correction"):
        for p in rng.sample(cats["PUNISH"], n_punish):
            good = correction(p) if punish_response == "correction" else rng.choice(pool)
            gold.append(Preference(f"gold/{p.id}", p.prompt, good, p.chosen))
    if not gold:
        raise ValueError("empty gold batch: the data has no RETAIN, INVERT or PUNISH pairs")
    return gold
