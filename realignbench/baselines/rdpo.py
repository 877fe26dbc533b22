"""rDPO, provably robust DPO (Chowdhury et al. 2024) on the naive-oracle pairs.

    ℓ̂_ε(Δ) = [−(1−ε)·log σ(βΔ) + ε·log σ(−βΔ)] / (1−2ε)

is unbiased for DPO when each observed preference is flipped with probability ε. The pairs
are Naive Oracle DPO's (swap when the old chosen violates π_new); ε is the assumed flip rate
of the oracle's labels: 0.1 by default, and the injected rate p in the oracle-noise sweeps
(set ``methods.rdpo.epsilon=p``). ε = 0 is exactly DPO — the authors' released rDPO script
never set ε and so trained plain DPO (reference/trace-code.md §6.2); here ε is explicit.
"""
from __future__ import annotations

from dataclasses import dataclass

from realignbench.baselines.naive_dpo import naive_preferences
from realignbench.data.schema import Pair
from realignbench.train.examples import Preference
from realignbench.train.plugin import Method


@dataclass
class RdpoOptions:
    epsilon: float = 0.1             # assumed label-flip rate, in [0, 0.5)

    def __post_init__(self):
        if not 0.0 <= self.epsilon < 0.5:
            raise ValueError(f"methods.rdpo.epsilon: {self.epsilon} is not in [0, 0.5) "
                             "(the de-biasing divides by 1 − 2ε)")


def rdpo_examples(ctx, pairs: list[Pair], opts: RdpoOptions) -> list[Preference]:
    return naive_preferences(pairs, loss="rdpo", eps=opts.epsilon)


RDPO = Method(RdpoOptions, build=rdpo_examples, judged_per_pair=1,
              noise_option="epsilon")        # ε = p in the noise sweep
