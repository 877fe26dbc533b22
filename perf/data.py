"""The benchmark workload: SynthValueBench pairs (default shift), triaged by the label oracle,
built in memory (no run directory, deterministic)."""
from __future__ import annotations

from functools import lru_cache

from realignbench.data.schema import Pair


@lru_cache(maxsize=4)
def triaged_pairs(n: int = 96, seed: int = 0) -> tuple[Pair, ...]:
    from realignbench.oracle.label import LabelOracle
    from realignbench.policies.spec import load_shift
    from realignbench.synthvaluebench.generator import family_names, generate_split
    from realignbench.triage.rule import triage
    shift = load_shift("synthvaluebench", "default")
    pairs = generate_split("train", n, shift, seed, family_names(held_out=False))
    return tuple(triage(pairs, LabelOracle(), shift.new, shift.name))
