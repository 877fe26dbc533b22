"""Run the step graph with several worker processes, each on its share of the CPU cores.

On a 2-core CPU one single-threaded stage per core finishes the graph about twice as fast as
one two-threaded stage at a time (small models do not scale over intra-op threads). Workers are
spawned (not forked: torch's thread pools do not survive a fork) and live for the whole pass;
each rebuilds the plan from the config and runs the step it is given, resolving dependencies
through the run records (a completed dependency is a skipped stage, so nothing is redone).
A worker's output goes to ``<runs_dir>/logs/worker-<k>.log``; the parent prints one line per
started and finished step. The parent then collects the outputs with a sequential pass in
which every step is skipped.

Stopping: if the parent is interrupted (Ctrl-C, or SIGTERM, which ``reproduce`` turns into
``SystemExit``), it terminates its workers, waits for them, and re-raises; a worker turns
SIGTERM into ``SystemExit`` too, so its current run is marked ``FAILED`` (and resumes next time)
rather than being cut mid-write. Completed runs stay; nothing is left running.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable

from realignbench.models.placement import release_memory
from realignbench.pipeline.graph import Eta, Step, critical_first, fmt_seconds, resolve
from realignbench.pipeline.resources import pin_worker_gpu, visible_gpus

_WORKER: dict[str, Any] = {}


def default_jobs(gpus_per_worker: int = 1) -> int:
    """One job per GPU-less machine core up to 4 (more small processes than that mostly add
    memory); with GPUs, one job per block of ``gpus_per_worker`` (see ``resources``)."""
    import torch
    if torch.cuda.is_available():
        return max(1, len(visible_gpus()) // gpus_per_worker)
    return max(1, min(os.cpu_count() or 1, 4))


STOP_GRACE_S = 10.0       # how long stopped workers get to mark their runs before SIGKILL


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def setup_worker(cfg, threads: int, log_dir: str, gpus: tuple[str, ...] = ()):
    """A spawned worker's setup, shared by the step graph and ``tune``: SIGTERM becomes
    ``SystemExit`` (its run is marked FAILED), output goes to ``worker-<k>.log``, torch gets
    ``threads`` threads. Returns the config with those threads and the log's path."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    counter = multiprocessing.current_process()._identity  # (k,) for pool workers
    pin_worker_gpu(counter[0] if counter else 1, list(gpus), cfg.train.gpus)  # before CUDA
    log = Path(log_dir) / f"worker-{counter[0] if counter else 0}.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import logging
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from realignbench.threads import apply_threads
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, threads=threads))
    apply_threads(cfg)
    return cfg, str(log)


def _init_worker(cfg, threads: int, log_dir: str, gpus: tuple[str, ...] = ()) -> None:
    from realignbench.pipeline.plan import build_plan
    cfg, log = setup_worker(cfg, threads, log_dir, gpus)
    _WORKER.update(steps={s.name: s for s in build_plan(cfg)}, outputs={}, log=log)


def step_threads(cores: int, base: int, running: list[int], others_ready: bool) -> int:
    """Threads for a step about to start: its share (``base``), or — when no other step is
    ready to use them — every core the running steps leave free (M_ref at the start of the
    graph, the last steps at its end: the critical path gets the idle workers' cores)."""
    if others_ready:
        return base
    return max(base, cores - sum(running))


def _run_step(name: str, threads: int) -> tuple[str, float]:
    from realignbench.threads import set_step_threads
    print(f"=== step {name} ({threads} thread(s))", flush=True)
    set_step_threads(threads)
    t0 = time.perf_counter()
    resolve(name, _WORKER["steps"], _WORKER["outputs"])
    release_memory()                           # a worker keeps no model between its steps
    return _WORKER["log"], time.perf_counter() - t0


def execute_parallel(cfg, steps: list[Step], jobs: int, prior: dict[str, float],
                     echo: Callable[[str], None] = print) -> None:
    """Run ``steps`` (a dependency-closed, plan-ordered list) on ``jobs`` worker processes,
    starting each step as soon as its dependencies are done, those with most dependents first."""
    cores = os.cpu_count() or 1
    threads = max(1, cores // jobs)
    log_dir = Path(cfg.runs_dir) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    echo(f"parallel: {jobs} workers x {threads} thread(s); worker logs in {log_dir}/")
    eta, done, running = Eta(prior), set(), {}
    pending = sorted(steps, key=critical_first(steps))
    started = time.perf_counter()
    # A worker that dies (OOM kill) breaks the pool and fails its step instead of hanging.
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker,
                               initargs=(cfg, threads, str(log_dir), tuple(visible_gpus())))
    try:
        while pending or running:
            ready = [s for s in pending if all(d in done for d in s.deps)]
            for i, step in enumerate(ready):
                if len(running) >= jobs:
                    break
                pending.remove(step)
                n = step_threads(cores, threads, [t for _, _, t in running.values()],
                                 others_ready=i + 1 < len(ready))
                running[step.name] = (step, pool.submit(_run_step, step.name, n), n)
                left = sum(eta.estimate(s) for s in pending) / jobs
                echo(f"[{len(done) + len(running)}/{len(steps)}] start {step.name}  "
                     f"on {n} thread(s) (≲{fmt_seconds(eta.estimate(step))}, then ≲{fmt_seconds(left)} queued; "
                     f"elapsed {fmt_seconds(time.perf_counter() - started)})")
            time.sleep(0.2)
            for name, (step, future, _) in list(running.items()):
                if not future.done():
                    continue
                del running[name]
                try:
                    log, seconds = future.result()
                except Exception as err:
                    echo(f"      FAILED {name}: {type(err).__name__}: {err} (worker logs in "
                         f"{log_dir}/); waiting for the running steps, then stopping")
                    _drain(running)
                    raise
                done.add(name)
                eta.record(step, seconds)
                echo(f"      done  {name} in {fmt_seconds(seconds)} ({log})")
    except (KeyboardInterrupt, SystemExit):
        echo(f"parallel: interrupted; stopping {len(running)} running step(s) "
             f"({', '.join(running)}); completed runs stay and a rerun resumes")
        stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True)     # after stop_workers, a no-op
    echo(f"parallel: {len(steps)} steps in {fmt_seconds(time.perf_counter() - started)}")


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """SIGTERM every worker, give them STOP_GRACE_S to mark their runs, then SIGKILL."""
    procs = list((pool._processes or {}).values())   # no public API lists a pool's processes
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()
    pool.shutdown(wait=False, cancel_futures=True)


def _drain(running: dict) -> None:
    """Let the other running steps finish (their runs stay resumable) before failing."""
    wait([future for _, future, _ in running.values()])
