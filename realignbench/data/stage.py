"""The data stage (DESIGN §3, §8): build a benchmark's π_old-oriented pairs ->
``pairs.train.jsonl`` (+ ``pairs.test.jsonl`` where the benchmark has a fixed test set).
Goes through ``run_stage``, so an unchanged stage is skipped and its files reused.
"""
from __future__ import annotations

from realignbench.data.benchmark import benchmark_module
from realignbench.data.schema import write_pairs
from realignbench.runs import Run, run_stage


def data_name(cfg) -> str:
    """The run name shared by the data and triage stages of one benchmark/shift/seed."""
    return f"{cfg.data.benchmark}-{cfg.data.shift}-seed{cfg.data.seed}"


def data_stage(cfg) -> Run:
    bench = benchmark_module(cfg.data.benchmark)
    config = bench.stage_config(cfg)

    def work(run: Run, built) -> None:
        files = {"train": "pairs.train.jsonl"}
        write_pairs(run.path(files["train"]), built.train)
        if built.test is not None:
            files["test"] = "pairs.test.jsonl"
            write_pairs(run.path(files["test"]), built.test)
        if built.val is not None:
            files["val"] = "pairs.val.jsonl"
            write_pairs(run.path(files["val"]), built.val)
        run.update_env(seed=cfg.data.seed)
        run.write_results({"benchmark": cfg.data.benchmark, "files": files,
                           "n_train": len(built.train),
                           "n_test": None if built.test is None else len(built.test),
                           "stats": built.stats})

    # Building reads and validates the source data: done before the run directory exists.
    return run_stage("data", data_name(cfg), config, bench.stage_inputs(cfg), work,
                     runs_dir=cfg.runs_dir, prepare=lambda: bench.build(cfg))
