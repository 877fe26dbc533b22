"""``realignbench reproduce``: the whole graph (and ``realignbench tune``, pipeline/tune.py) (or what Tables N need), then the reports.
``realignbench plan``: the same graph's steps, resources and ETAs, without running anything.

Completed stages are skipped by content hash, so a second run does no work and a killed run
resumes. Outputs: ``<out>/tables/table-N.*``, ``<out>/leaderboard.{html,md}``,
``<out>/CLAIMS.md``, ``<out>/expected.json`` (the runs this pass used; others count as stale).
"""
from __future__ import annotations

import logging
import signal
import time
from contextlib import contextmanager
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
    from realignbench.reports.spec import load_spec, table_numbers
    expected = save_expected(out / "expected.json", runs)
    records = load_records(cfg.runs_dir, expected)
    cfg_dict = cfg.to_dict()
    written: list[Path] = [out / "expected.json"]
    for n in tables or table_numbers():
        written += write_table(build_table(load_spec(n, cfg_dict), records, cfg_dict), out)
    if tables is None:
        written += write_leaderboard(build_leaderboard(records, cfg_dict, strict=False), out)
        written += write_claims(evaluate_claims(records, cfg_dict, strict=False), out)
    return written


def _say_tuning(cfg) -> None:
    """Whether this pass trains with tuned per-method settings (docs/tuning.md)."""
    from realignbench.config import tuned_path
    if cfg.tuned:
        print(f"reproduce: per-method settings for {sorted(cfg.tuned)} "
              f"(from {cfg.tuned_from or 'overrides'})", flush=True)
    elif cfg.tuned_from and not tuned_path(cfg.tuned_from).exists():
        print(f"reproduce: {tuned_path(cfg.tuned_from)} not written yet; every method trains "
              "with the global train.lr/train.epochs (run `make tune` first)", flush=True)


@contextmanager
def sigterm_as_exit():
    """Turn SIGTERM (schedulers, ``timeout``) into ``SystemExit(143)`` in the main thread, so
    that the worker pool is stopped and failed runs are marked on the way out, as on Ctrl-C."""
    def stop(signum, frame):
        raise SystemExit(128 + signum)
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_reproduce(args) -> int:
    with sigterm_as_exit():
        return _reproduce(args)


def _reproduce(args) -> int:
    from realignbench.pipeline.graph import execute, select
    from realignbench.pipeline.parallel import default_jobs, execute_parallel
    from realignbench.pipeline.plan import build_plan
    cfg = config_from_args(args)
    if args.executor == "ray":
        from realignbench.pipeline.ray_executor import require_ray
        require_ray()                                   # before any output is created
    tables = _tables(args.tables)
    out = Path(args.out or f"out/{cfg.preset}")
    steps = select(build_plan(cfg), tables)
    print(f"reproduce: preset {cfg.preset}, shift {cfg.data.shift}, seeds {cfg.seeds}, "
          f"{len(steps)} steps -> runs in {cfg.runs_dir}/, reports in {out}/", flush=True)
    _say_tuning(cfg)
    start = time.perf_counter()
    prior = _prior(cfg)
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


def _prior(cfg) -> dict[str, float]:
    """The ETA prior of the model's scale; for a model of unknown scale, says so and starts
    with none (ETAs come from the steps that have run)."""
    from realignbench.pipeline.plan import prior_for
    prior = prior_for(cfg.model.preset)
    if prior is None:
        print(f"no ETA prior for model.preset {cfg.model.preset!r} (scale unknown; "
              "realignbench/pipeline/plan.py SCALE): ETAs are placeholders until a step of "
              "each kind has run", flush=True)
    return prior or {}


def _duration(seconds: float) -> str:
    """Hours and minutes for long spans (a 7-9B plan runs for days), else graph's format."""
    from realignbench.pipeline.graph import fmt_seconds
    if seconds < 3600:
        return fmt_seconds(seconds)
    minutes = int(round(seconds / 60))
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _critical_path(steps, eta: dict[str, float]) -> float:
    """The longest chain of dependent steps: no number of GPUs finishes sooner."""
    finish: dict[str, float] = {}
    for step in steps:                                  # plan order: dependencies come first
        finish[step.name] = eta[step.name] + max((finish[d] for d in step.deps), default=0.0)
    return max(finish.values(), default=0.0)


def _scheduled(steps, eta: dict[str, float], need: dict, gpus: int) -> float:
    """Wall time of a greedy schedule of these ETAs on ``gpus`` GPUs, as the executors order
    ready steps (most-depended-on first, :func:`graph.critical_first`); steps without a GPU
    never wait for a slot. An estimate of the order of the run, not a bound."""
    import heapq
    from realignbench.pipeline.graph import critical_first
    waiting = sorted(steps, key=critical_first(steps))
    done: set[str] = set()
    running: list[tuple[float, str, int]] = []          # (finish time, step, its GPUs)
    free, now = gpus, 0.0
    while waiting or running:
        ready = [s for s in waiting if need[s.name].gpus <= free and set(s.deps) <= done]
        for step in ready:
            if need[step.name].gpus <= free:
                free -= need[step.name].gpus
                waiting.remove(step)
                heapq.heappush(running, (now + eta[step.name], step.name, need[step.name].gpus))
        now, name, used = heapq.heappop(running)
        done.add(name)
        free += used
    return now


def cmd_plan(args) -> int:
    """Print every step with its kind, resources and ETA; builds the graph from the config and
    the table specs only (no model, no data: the step functions are never called)."""
    from realignbench.model_presets import PRESETS
    from realignbench.pipeline.graph import Eta, select
    from realignbench.pipeline.plan import SCALE, build_plan
    from realignbench.pipeline.resources import step_resources
    cfg = config_from_args(args)
    steps = select(build_plan(cfg), _tables(args.tables))
    model = PRESETS.get(cfg.model.preset)
    with_gpus = args.gpus > 0 and (model is None or model.gpu)
    estimate = Eta(_prior(cfg))
    eta = {s.name: estimate.estimate(s) for s in steps}
    need = {s.name: step_resources(s.kind, with_gpus, cfg.train.gpus) for s in steps}
    print(f"plan: preset {cfg.preset}, model {cfg.model.preset} "
          f"(scale {SCALE.get(cfg.model.preset, 'unknown')}), seeds {cfg.seeds}, "
          f"{len(steps)} steps; ETAs are priors, not measurements")
    width = max(len(s.name) for s in steps)
    print(f"{'#':>4}  {'step':<{width}}  {'kind':<16} {'cpus':>4} {'gpus':>4}  {'ETA':>8}")
    for i, step in enumerate(steps, start=1):
        r = need[step.name]
        print(f"{i:>4}  {step.name:<{width}}  {step.kind:<16} {r.cpus:>4} {r.gpus:>4}  "
              f"{_duration(eta[step.name]):>8}")
    serial = sum(eta.values())
    gpu_time = sum(eta[n] * need[n].gpus for n in eta)
    critical = _critical_path(steps, eta)
    print(f"total: {_duration(serial)} one step at a time; {_duration(gpu_time)} of GPU time; "
          f"critical path {_duration(critical)}")
    if with_gpus:
        widest = max(r.gpus for r in need.values())
        if widest > args.gpus:
            raise ValueError(f"--gpus {args.gpus}: a step asks for {widest} (train.gpus)")
        print(f"on {args.gpus} GPUs: about {_duration(_scheduled(steps, eta, need, args.gpus))} "
              f"(these ETAs scheduled greedily, most-depended-on step first; never less than "
              f"{_duration(max(critical, gpu_time / args.gpus))})")
    return 0


def cmd_tune(args) -> int:
    from realignbench.pipeline.parallel import default_jobs
    from realignbench.pipeline.tune import output_path, tune, write_tuned
    cfg = config_from_args(args)
    path = output_path(cfg, args.out)          # fail before any training if there is no target
    jobs = default_jobs(cfg.train.gpus) if args.jobs == "auto" else int(args.jobs)
    from tqdm import tqdm
    doc = tune(cfg, echo=tqdm.write, jobs=jobs)   # a line per cell, above the progress bar
    write_tuned(doc, path)
    print(f"tune: chosen settings and evidence -> {path}")
    return 0


def register(sub) -> None:
    t = sub.add_parser("tune", help="equal tuning budget: the same lr x epochs grid for every "
                                    "method and M_ref on the validation split (docs/tuning.md)")
    t.add_argument("--out", default=None,
                   help="YAML to write [the preset's tuned_from, e.g. presets/tuned/smol.yaml]")
    t.add_argument("--jobs", default="auto",
                   help="worker processes for the grid cells, each on cores/jobs threads; 1 = in "
                        "this process [auto: as reproduce]")
    add_config_args(t)
    t.set_defaults(func=cmd_tune)

    q = sub.add_parser("plan", help="the steps `reproduce` would run, with kinds, resources and "
                                    "ETAs (priors per model scale); loads no model or data")
    q.add_argument("--tables", default=None,
                   help="only what these tables need, e.g. '5' or '3,4' [all]")
    q.add_argument("--gpus", type=int, default=8,
                   help="GPUs of the machine or cluster, for the wall-time bound; 0 = resources "
                        "as on a machine without GPUs [8]")
    add_config_args(q)
    q.set_defaults(func=cmd_plan)

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
