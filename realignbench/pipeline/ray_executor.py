"""Run the step graph on Ray: this machine (a local Ray instance) or a cluster (``address``).

``realignbench reproduce --executor ray [--ray-address auto]``; needs ``pip install -e
'.[cluster]'``. Every step becomes one Ray task asking for the resources its kind declares
(:mod:`realignbench.pipeline.resources`: ``num_cpus``, ``num_gpus``; Ray itself gives a GPU task
its own ``CUDA_VISIBLE_DEVICES``), submitted once its dependencies are done, those with most
dependents first. A task rebuilds the plan from the config and resolves its step's dependencies
through the run records, as a local worker does (a completed dependency is a skipped stage), so
only names and seconds travel back; the caller then collects the outputs with a sequential pass
in which every step is skipped. On a cluster the runs directory must be a shared filesystem.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

from realignbench.pipeline.graph import Eta, Step, critical_first, fmt_seconds, resolve
from realignbench.pipeline.resources import step_resources


def require_ray():
    """The ``ray`` module, or a ValueError (a one-line CLI error) saying how to install it."""
    try:
        import ray
    except ImportError as err:
        raise ValueError("--executor ray needs Ray: pip install -e '.[cluster]'") from err
    return ray


def run_step_task(cfg, name: str, cpus: int) -> tuple[str, float]:
    """The body of one Ray task: resolve ``name`` (and, through the run records, its
    dependencies) in this process; return (name, seconds)."""
    from realignbench.models.placement import release_memory
    from realignbench.pipeline.plan import build_plan
    from realignbench.threads import apply_threads
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, threads=cpus))
    apply_threads(cfg)
    start = time.perf_counter()
    resolve(name, {s.name: s for s in build_plan(cfg)}, {})
    release_memory()
    return name, time.perf_counter() - start


def execute_ray(cfg, steps: list[Step], prior: dict[str, float],
                echo: Callable[[str], None] = print, address: str | None = None,
                num_cpus: int | None = None) -> None:
    """Run ``steps`` (dependency-closed, plan order) as Ray tasks; raise the first failure
    after the running tasks finish (their runs stay resumable)."""
    ray = require_ray()
    ray.init(address=address, num_cpus=num_cpus, ignore_reinit_error=True,
             include_dashboard=False, log_to_driver=False)
    with_gpus = ray.cluster_resources().get("GPU", 0) > 0
    task = ray.remote(run_step_task)
    echo(f"ray: {ray.cluster_resources().get('CPU', 0):g} CPU(s), "
         f"{ray.cluster_resources().get('GPU', 0):g} GPU(s)")
    eta, done, running = Eta(prior), set(), {}
    pending = sorted(steps, key=critical_first(steps))
    started = time.perf_counter()
    while pending or running:
        for step in [s for s in pending if all(d in done for d in s.deps)]:
            pending.remove(step)
            need = step_resources(step.kind, with_gpus, cfg.train.gpus)
            ref = task.options(num_cpus=need.cpus, num_gpus=need.gpus,
                               name=step.name).remote(cfg, step.name, need.cpus)
            running[ref] = step
            echo(f"[{len(done) + len(running)}/{len(steps)}] submit {step.name}  "
                 f"({need.cpus} CPU, {need.gpus} GPU; ≲{fmt_seconds(eta.estimate(step))})")
        ready, _ = ray.wait(list(running), num_returns=1)
        for ref in ready:
            step = running.pop(ref)
            try:
                _, seconds = ray.get(ref)
            except Exception as err:
                echo(f"      FAILED {step.name}: {type(err).__name__}: {err}; waiting for the "
                     "running steps, then stopping")
                ray.wait(list(running), num_returns=len(running))
                raise
            done.add(step.name)
            eta.record(step, seconds)
            echo(f"      done  {step.name} in {fmt_seconds(seconds)}")
    echo(f"ray: {len(steps)} steps in {fmt_seconds(time.perf_counter() - started)}")
