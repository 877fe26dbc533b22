"""``realignbench reproduce``: the whole graph (or what Tables N need), then the reports.

Completed stages are skipped by content hash, so a second run does no work and a killed run
resumes. Outputs: ``<out>/tables/table-N.*``, ``<out>/leaderboard.{html,md}``,
``<out>/CLAIMS.md``, ``<out>/expected.json`` (the runs this pass used; others count as stale).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from realignbench.cli_args import add_config_args, config_from_args
from realignbench.runs import Run

log = logging.getLogger("realignbench.pipeline")


def _tables(text: str | None) -> list[int] | None:
    if not text or text == "all":
        return None
    return sorted({int(t) for t in text.split(",")})


def render_reports(cfg, runs: list[Run], out: Path, tables: list[int] | None) -> list[Path]:
    """Tables (all or the requested ones; a missing or stale cell fails the build), then — for a
    full pass — the leaderboard and CLAIMS.md, which mark a missing cell as not evaluated."""
    from realignbench.reports.build import build_table
    from realignbench.reports.claims import evaluate_claims, write_claims
    from realignbench.reports.leaderboard import build_leaderboard, write_leaderboard
    from realignbench.reports.records import load_records, save_expected
    from realignbench.reports.render import write_table
    from realignbench.reports.spec import load_spec
    expected = save_expected(out / "expected.json", runs)
    records = load_records(cfg.runs_dir, expected)
    cfg_dict = cfg.to_dict()
    written: list[Path] = [out / "expected.json"]
    for n in tables or range(1, 9):
        written += write_table(build_table(load_spec(n, cfg_dict), records, cfg_dict), out)
    if tables is None:
        written += write_leaderboard(build_leaderboard(records, cfg_dict, strict=False), out)
        written += write_claims(evaluate_claims(records, cfg_dict, strict=False), out)
    return written


def cmd_reproduce(args) -> int:
    from realignbench.pipeline.graph import execute, select
    from realignbench.pipeline.parallel import default_jobs, execute_parallel
    from realignbench.pipeline.plan import PRIOR, build_plan
    cfg = config_from_args(args)
    if args.executor == "ray":
        from realignbench.pipeline.ray_executor import require_ray
        require_ray()                                   # before any output is created
    tables = _tables(args.tables)
    out = Path(args.out or f"out/{cfg.preset}")
    steps = select(build_plan(cfg), tables)
    print(f"reproduce: preset {cfg.preset}, shift {cfg.data.shift}, seeds {cfg.seeds}, "
          f"{len(steps)} steps -> runs in {cfg.runs_dir}/, reports in {out}/", flush=True)
    start = time.perf_counter()
    prior = PRIOR.get(cfg.model.preset, PRIOR["smol"])
    echo = lambda line: print(line, flush=True)            # noqa: E731
    jobs = default_jobs(cfg.train.gpus) if args.jobs == "auto" else int(args.jobs)
    if args.executor == "ray":
        from realignbench.pipeline.ray_executor import execute_ray
        execute_ray(cfg, steps, prior, echo, address=args.ray_address)
        echo("collecting the run records (every step is now a completed run)")
    elif jobs > 1:
        execute_parallel(cfg, steps, jobs, prior, echo)
        echo("collecting the run records (every step is now a completed run)")
    outputs = execute(steps, prior=prior, echo=echo)
    runs = [v for v in outputs.values() if isinstance(v, Run)]
    if "data" in outputs:
        runs += [outputs["data"].data_run, outputs["data"].triage_run]
    written = render_reports(cfg, runs, out, tables)
    print(f"\nreproduce: done in {(time.perf_counter() - start) / 60:.1f} min. Outputs:")
    for path in written:
        print(f"  {path}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("reproduce", help="run the whole pipeline (resumable), then tables, "
                                         "leaderboard and CLAIMS.md")
    p.add_argument("--tables", default=None,
                   help="only what these tables need, e.g. '5' or '3,4' [all]")
    p.add_argument("--out", default=None, help="report directory [out/<preset>]")
    p.add_argument("--jobs", default="auto",
                   help="worker processes, each on cores/jobs threads; 1 = in this process "
                        "[auto: one per core up to 4 on CPU, one per visible GPU with CUDA]")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local worker processes (--jobs), or Ray tasks with each step's "
                        "CPUs/GPUs (pip install -e '.[cluster]') [local]")
    p.add_argument("--ray-address", default=None,
                   help="with --executor ray: a cluster's address, e.g. 'auto' [a local Ray]")
    add_config_args(p)
    p.set_defaults(func=cmd_reproduce)
