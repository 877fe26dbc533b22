"""What a benchmark builder returns, and the dispatch through the BENCHMARKS registry.

A builder is ``build(cfg) -> BenchmarkData``; it declares the config keys it reads
(``stage_config(cfg)``) and the files it depends on (``stage_inputs(cfg)``) so the data stage
reruns exactly when one of them changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from realignbench.data.schema import Pair


@dataclass
class BenchmarkData:
    train: list[Pair]                   # the training pool, π_old orientation
    test: list[Pair] | None             # a fixed test set, or None: triage splits the pool
    stats: dict[str, Any] = field(default_factory=dict)
    val: list[Pair] | None = None       # extra validation pairs beside the pool (tuning), or
                                        # None: triage carves them from the pool if asked


def benchmark_module(name: str):
    """The module of a registered benchmark (``build``, ``stage_config``, ``stage_inputs``)."""
    import importlib

    from realignbench.registry import BENCHMARKS
    target = BENCHMARKS.get(name).target
    return importlib.import_module(target.partition(":")[0])
