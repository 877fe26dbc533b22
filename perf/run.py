"""``python -m perf.run`` (``make perf``): run the benchmarks, write ``perf/results/*.json`` and
regenerate ``docs/performance.md``.

The run takes the shared CPU lock (``/tmp/realignbench-cpu.lock``) once, for all benchmarks
(re-queueing between them can cost longer than the benchmarks) — do not wrap this command in
``flock`` yourself (pass ``--no-lock`` if the caller holds the lock).
``--quick`` is a smoke run on the tiny preset (seconds per benchmark; results are prefixed
``quick-`` and ``docs/performance.md`` is left alone unless ``--docs`` is given).
"""
from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")          # progress bars would garble the log
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from perf.machine import loadavg, machine_info   # noqa: E402
from perf.timing import LOCK_PATH, cpu_lock, wait_for_quiet  # noqa: E402

BENCHES = ("impact", "train", "trunk", "generate", "e2e")

# (benchmark, preset, keyword arguments) per mode; sizes keep the full run under ~20 minutes.
# Impact scores on smol use every example TRACE scores there (95: 25 INVERT pairs, 35 PUNISH
# pairs x 2 responses), so micro-batching meets the length mix of the real workload.
PLANS = {
    "full": [
        ("impact", "tiny", {"n_examples": 24}),
        ("impact", "smol", {"n_examples": 96}),
        ("train", "smol", {"steps": 2, "global_batch": 4}),
        ("trunk", "smol", {"n_pairs": 16, "steps": 2}),
        ("generate", "smol", {"n_prompts": 16, "max_new_tokens": 48}),
        ("e2e", "", {}),
    ],
    "quick": [
        ("impact", "tiny", {"n_examples": 8}),
        ("train", "tiny", {"steps": 1}),
        ("trunk", "tiny", {"n_pairs": 8, "steps": 1, "lora_layers": 2}),
        ("generate", "tiny", {"n_prompts": 8, "max_new_tokens": 8}),
        ("e2e", "", {}),
    ],
}


def log(message: str) -> None:
    print(f"[perf {datetime.datetime.now():%H:%M:%S}] {message}", flush=True)


def _missed(result: dict) -> bool:
    from perf.report import target_ratio
    target = result.get("target")
    if not target or not target.get("applies"):
        return False
    return any(result["ratios"][k]["of_medians"] < target_ratio(target, k)
               for k in target["keys"])


def run_one(bench: str, preset: str, kwargs: dict, args) -> dict:
    from perf import bench_e2e, bench_generate, bench_impact, bench_train, bench_trunk
    from perf.profiling import top_ops
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    if bench == "e2e":
        return {"benchmark": bench, "started_at": started,
                "result": bench_e2e.run(args.runs_dir, args.reproduce_wall_s)}
    machine = machine_info()
    start = time.perf_counter()
    if bench == "impact":
        result, fns = bench_impact.run(preset, repeats=args.repeats, log=log, **kwargs)
    elif bench == "train":
        result, fns = bench_train.run(preset, repeats=args.repeats, log=log, **kwargs)
    elif bench == "trunk":
        result, fns = bench_trunk.run(preset, repeats=args.repeats, log=log, **kwargs)
    else:
        result, fns = bench_generate.run(preset, repeats=args.repeats, log=log, **kwargs)
    record = {"benchmark": bench, "started_at": started, "machine": machine, "result": result}
    if _missed(result) or args.profile:
        log(f"{bench}/{preset}: profiling {', '.join(fns)}")
        record["profile"] = {name: top_ops(fn) for name, fn in fns.items()}
    machine["loadavg_end"] = loadavg()
    record["elapsed_s"] = round(time.perf_counter() - start, 1)
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m perf.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run on the tiny preset")
    p.add_argument("--only", default="", help=f"comma-separated subset of {','.join(BENCHES)}")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per variant (>= 3)")
    p.add_argument("--results-dir", default="perf/results")
    p.add_argument("--docs", default=None,
                   help="Markdown report to regenerate (default docs/performance.md; none "
                        "with --quick)")
    p.add_argument("--runs-dir", default="runs", help="where `make reproduce` keeps run records")
    p.add_argument("--reproduce-wall-s", type=float, default=None,
                   help="wall seconds of the clean-clone `make reproduce` that wrote --runs-dir "
                        "(install and prefetch included), timed by the caller; shown against "
                        "the budget")
    p.add_argument("--profile", action="store_true", help="profile even when targets are met")
    p.add_argument("--max-load", type=float, default=1.0,
                   help="after taking the lock, wait until the 1-min load average is below this")
    p.add_argument("--max-wait", type=float, default=900,
                   help="seconds to wait for --max-load before measuring anyway (recorded)")
    p.add_argument("--no-lock", action="store_true",
                   help="do not take /tmp/realignbench-cpu.lock (the caller holds it)")
    args = p.parse_args(argv)
    if args.repeats < 3:
        p.error("--repeats must be at least 3 (each figure is a median of >= 3 repeats)")
    only = [b for b in args.only.split(",") if b]
    unknown = sorted(set(only) - set(BENCHES))
    if unknown:
        p.error(f"--only: unknown benchmark(s) {unknown}; choose from {BENCHES}")
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)
    from perf.report import result_path, write_report, write_result
    mode = "quick" if args.quick else "full"
    results_dir = Path(args.results_dir)
    command = " ".join(["python -m perf.run", *(argv if argv is not None else sys.argv[1:])])
    plan = [step for step in PLANS[mode] if not only or step[0] in only]
    log(f"waiting for {'(no lock)' if args.no_lock else LOCK_PATH}")
    with cpu_lock(not args.no_lock):
        quiet = wait_for_quiet(args.max_load, args.max_wait, log)
        for bench, preset, kwargs in plan:
            log(f"== {bench} {preset} {kwargs}")
            record = run_one(bench, preset, kwargs, args)
            record.update(mode=mode, command=command, params=kwargs, preset=preset, quiet=quiet)
            path = result_path(results_dir, bench, preset, mode)
            write_result(path, record)
            log(f"-> {path}")
    docs = args.docs or (None if args.quick else "docs/performance.md")
    if docs:
        write_report(results_dir, Path(docs), mode)
        log(f"report -> {docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
