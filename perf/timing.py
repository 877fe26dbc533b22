"""Alternating repeated measurements under the shared CPU lock.

Variants are run in turn (A, B, A, B, …) after one untimed warm-up call (of every variant, or
of those that fill caches or allocate on first use), so slow drift in the machine's load hits
both alike; each figure is a median. ``cpu/wall`` (process CPU seconds over
wall seconds) shows contention: with 2 free cores it is near 2, and far below it another job
was using the CPU.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import statistics
import sys
import time
from typing import Callable, Iterable

from perf.machine import loadavg

LOCK_PATH = os.environ.get("REALIGNBENCH_CPU_LOCK", "/tmp/realignbench-cpu.lock")


@contextlib.contextmanager
def cpu_lock(enabled: bool = True):
    """Hold the shared CPU lock (same as ``flock /tmp/realignbench-cpu.lock``)."""
    if not enabled:
        yield
        return
    with open(LOCK_PATH, "a") as handle:
        start = time.perf_counter()
        fcntl.flock(handle, fcntl.LOCK_EX)
        waited = time.perf_counter() - start
        if waited > 1:
            print(f"[perf] waited {waited:.0f} s for {LOCK_PATH}", file=sys.stderr)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def wait_for_quiet(max_load: float, max_wait_s: float, log: Callable[[str], None] = print
                   ) -> dict:
    """Wait (up to ``max_wait_s``) until the 1-minute load average drops below ``max_load``:
    processes outside the lock would otherwise share the cores with the benchmark, and with
    OpenMP threads spinning at barriers that can slow it down many times over."""
    start = time.perf_counter()
    load = loadavg()
    while load and load[0] >= max_load and time.perf_counter() - start < max_wait_s:
        log(f"load average {load[0]} >= {max_load}: waiting for the machine to quiet down")
        time.sleep(30)
        load = loadavg()
    waited = time.perf_counter() - start
    return {"max_load": max_load, "waited_s": round(waited, 1), "load1": load[0] if load else None,
            "quiet": bool(load) and load[0] < max_load}


def measure(fn: Callable[[], object]) -> tuple[dict, object]:
    load = loadavg()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    value = fn()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    return {"wall_s": round(wall, 4), "cpu_per_wall": round(cpu / wall, 2) if wall else None,
            "load1": load[0] if load else None}, value


def alternate(variants: dict[str, Callable[[], object]], repeats: int,
              warmup: bool | Iterable[str] = True, log: Callable[[str], None] = print
              ) -> tuple[dict[str, list[dict]], dict]:
    """Run every variant ``repeats`` times in turn; returns per-variant measurements and the
    last value each variant returned (for agreement checks). ``warmup``: all variants, none,
    or the names to warm up (slow baselines with no cache to fill can skip it)."""
    values: dict[str, object] = {}
    warm = set(variants) if warmup is True else set(warmup or ())
    for name, fn in variants.items():
        if name in warm:
            _, values[name] = measure(fn)
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for r in range(repeats):
        for name, fn in variants.items():
            m, values[name] = measure(fn)
            runs[name].append(m)
            log(f"  repeat {r + 1}/{repeats} {name}: {m['wall_s']:.3f} s "
                f"(cpu/wall {m['cpu_per_wall']}, load {m['load1']})")
    return runs, values


def median(values) -> float:
    return float(statistics.median(values))


def summarise(runs: list[dict], work: float, unit: str) -> dict:
    """Median wall time and throughput (``work`` units per run) over the repeats."""
    walls = [r["wall_s"] for r in runs]
    return {"repeats": len(walls), "wall_s": walls, "median_wall_s": round(median(walls), 4),
            f"{unit}_per_s": round(work / median(walls), 3), "work": work, "unit": unit,
            "median_cpu_per_wall": round(median([r["cpu_per_wall"] or 0 for r in runs]), 2),
            "load1": [r["load1"] for r in runs]}


def ratio(fast: list[dict], slow: list[dict]) -> dict:
    """Speed-up of ``fast`` over ``slow``: the ratio of medians, and the median of the
    per-repeat ratios (each from two adjacent measurements)."""
    f = [r["wall_s"] for r in fast]
    s = [r["wall_s"] for r in slow]
    return {"of_medians": round(median(s) / median(f), 3),
            "median_pairwise": round(median([b / a for a, b in zip(f, s)]), 3)}
