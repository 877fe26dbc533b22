"""A tiny resumable step graph: ordered steps with dependencies, table tags and ETAs.

Every step calls a stage function that goes through :func:`realignbench.runs.run_stage`, so a
step whose inputs hash to a completed run is skipped and a killed pipeline resumes where it
stopped. :func:`execute` runs steps one at a time in this process;
:mod:`realignbench.pipeline.parallel` runs them on worker processes.
"""
from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from realignbench.models.placement import release_memory

log = logging.getLogger("realignbench.pipeline")


@dataclass
class Step:
    name: str                                  # unique, e.g. "train/trace/n400/s0"
    kind: str                                  # stage kind, for ETAs: train, eval_tpa, …
    work: Callable[[dict[str, Any]], Any]      # gets the outputs of earlier steps by name
    deps: tuple[str, ...] = ()
    tables: frozenset[int] = field(default_factory=frozenset)   # tables this step feeds
    cost: float = 1.0                          # relative cost within its kind (e.g. pairs)


def select(steps: list[Step], tables: Iterable[int] | None) -> list[Step]:
    """The steps that feed ``tables`` plus everything they depend on, in plan order."""
    if tables is None:
        return list(steps)
    wanted = set(tables)
    by_name = {s.name: s for s in steps}
    keep: set[str] = set()
    stack = [s.name for s in steps if s.tables & wanted]
    while stack:
        name = stack.pop()
        if name not in keep:
            keep.add(name)
            stack.extend(by_name[name].deps)
    return [s for s in steps if s.name in keep]


class Eta:
    """Seconds per unit cost for each step kind: measured in this pipeline once a step of the
    kind has really run (not skipped), else the preset's prior."""

    def __init__(self, prior: dict[str, float]):
        self.prior = prior
        self.seen: dict[str, list[float]] = {}

    def estimate(self, step: Step) -> float:
        if step.kind in self.seen:
            return statistics.median(self.seen[step.kind]) * step.cost
        return self.prior.get(step.kind, 60.0) * step.cost

    def record(self, step: Step, seconds: float) -> None:
        if seconds > 1.0:                      # a skipped (cached) step says nothing about cost
            self.seen.setdefault(step.kind, []).append(seconds / max(step.cost, 1e-9))


def resolve(name: str, steps: dict[str, Step], outputs: dict[str, Any]) -> Any:
    """The output of step ``name``, running it (and, first, its dependencies) unless already
    in ``outputs``; a completed run is skipped inside ``step.work``, so this is cheap after the
    first time. How a worker process or a Ray task reaches the inputs of its one step."""
    if name not in outputs:
        step = steps[name]
        for dep in step.deps:
            resolve(dep, steps, outputs)
        outputs[name] = step.work(outputs)
    return outputs[name]


def critical_first(steps: list[Step]) -> Callable[[Step], tuple[int, int]]:
    """Sort key: steps that more later steps wait on first (M_ref before any evaluation of the
    base model), then plan order."""
    dependents: dict[str, set[str]] = {s.name: set() for s in steps}
    for step in reversed(steps):                      # plan order: dependents come later
        for dep in step.deps:
            dependents[dep] |= {step.name} | dependents[step.name]
    order = {s.name: i for i, s in enumerate(steps)}
    return lambda s: (-len(dependents[s.name]), order[s.name])


def execute(steps: list[Step], prior: dict[str, float] | None = None,
            echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run ``steps`` in order, printing progress with per-step and remaining-time ETAs."""
    eta = Eta(prior or {})
    outputs: dict[str, Any] = {}
    started = time.perf_counter()
    for i, step in enumerate(steps, start=1):
        missing = [d for d in step.deps if d not in outputs]
        if missing:
            raise RuntimeError(f"step {step.name} needs {missing}, which did not run before it")
        remaining = sum(eta.estimate(s) for s in steps[i - 1:])
        elapsed = time.perf_counter() - started
        echo(f"[{i}/{len(steps)}] {step.name}  (this ≲{fmt_seconds(eta.estimate(step))}, "
             f"remaining ≲{fmt_seconds(remaining)}, elapsed {fmt_seconds(elapsed)})")
        t0 = time.perf_counter()
        outputs[step.name] = step.work(outputs)
        release_memory()                       # the step's models are garbage now
        eta.record(step, time.perf_counter() - t0)
    echo(f"pipeline: {len(steps)} steps in {fmt_seconds(time.perf_counter() - started)}")
    return outputs


def fmt_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
