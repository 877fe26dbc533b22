"""Where ``tune``'s grid cells run: in this process (``jobs`` 1) or on ``jobs`` spawned worker
processes, each on its share of the cores (the step graph's workers, pipeline/parallel.py).

Cells are independent cached runs, so an interrupted or failed pass keeps every finished cell
and a rerun resumes. Workers log to ``<runs_dir>/logs/worker-<k>.log``.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from realignbench.config import Config

Cells = Sequence[tuple[str, dict[str, Any]]]
Runner = Callable[[Cells, dict[str, float] | None], Iterator[tuple[str, dict[str, Any]]]]

_WORKER: dict[str, Any] = {}


def _init(cfg: Config, threads: int, log_dir: str, context: Callable, run_cell: Callable
          ) -> None:
    from realignbench.pipeline.parallel import setup_worker
    cfg, _ = setup_worker(cfg, threads, log_dir)
    _WORKER.update(cfg=cfg, ctx=context(cfg), run_cell=run_cell)


def _cell(method: str, cell: dict[str, Any], ref_settings: dict[str, float] | None):
    from realignbench.models.placement import release_memory
    print(f"=== tune cell {method} {cell}", flush=True)
    row = _WORKER["run_cell"](_WORKER["cfg"], _WORKER["ctx"], method, cell, ref_settings)
    release_memory()                       # a worker keeps no model between its cells
    return method, row


@contextlib.contextmanager
def cell_runner(cfg: Config, ctx: dict[str, Any], jobs: int, context: Callable,
                run_cell: Callable, echo: Callable[[str], None] = print) -> Iterator[Runner]:
    """Yield ``run(cells, ref_settings)``, which yields ``(method, row)`` as cells finish.
    ``ctx`` is this process's ``context(cfg)``; a worker builds its own; ``run_cell(cfg, ctx,
    method, cell, ref_settings)`` runs one cell."""
    if jobs <= 1:
        yield lambda cells, ref: ((m, run_cell(cfg, ctx, m, c, ref)) for m, c in cells)
        return
    threads = max(1, (os.cpu_count() or 1) // jobs)
    log_dir = Path(cfg.runs_dir) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    echo(f"tune: {jobs} workers x {threads} thread(s); worker logs in {log_dir}/")
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init, initargs=(cfg, threads, str(log_dir), context, run_cell))

    def run(cells: Cells, ref: dict[str, float] | None):
        pending = {pool.submit(_cell, m, c, ref) for m, c in cells}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        except Exception:
            wait(pending)          # the other cells finish (and stay cached) before failing
            raise

    try:
        yield run
    except (KeyboardInterrupt, SystemExit):
        from realignbench.pipeline.parallel import stop_workers
        echo("tune: interrupted; stopping the workers; finished cells stay and a rerun resumes")
        stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True)
