"""The triage stage (DESIGN §3, §8) and ``prepare_data(cfg) -> PreparedData``.

triage stage : judge both responses of every pair under π_new (and π_old, as a check), assign
               INVERT / PUNISH / RETAIN, split prompt-disjoint train/test where the benchmark
               has no fixed test set, cut nested training sizes, inject nested oracle noise.
It goes through ``run_stage`` after the data stage (``realignbench/data/stage.py``), so an
unchanged stage is skipped and its files reused.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realignbench.data import splits
from realignbench.data.schema import read_pairs, write_pairs
from realignbench.data.stage import data_name, data_stage
from realignbench.policies.spec import Policy, Shift, load_shift, shift_files
from realignbench.runs import Run, run_stage
from realignbench.triage import noise
from realignbench.triage import rule as triage_mod

log = logging.getLogger(__name__)

TRIAGE_CODE = [Path(m.__file__) for m in (triage_mod, splits, noise)]


@dataclass
class PreparedData:
    train: dict[int, Path]                   # nested training sizes -> triaged pairs
    test: Path                               # held-out triaged pairs (with corrections for SVB)
    noisy: dict[tuple[int, float], Path]     # (size, p) -> noisy triaged pairs; p=0 is clean
    policy_old: Policy
    policy_new: Policy
    shift: Shift
    data_run: Run
    triage_run: Run
    val: Path | None = None                  # validation pairs for tuning (data.n_val > 0)

    @property
    def stats(self) -> dict[str, Any]:
        return self.triage_run.results()["stats"]


def noise_name(size: int, p: float) -> str:
    return f"noisy/train.{size}.p{p:g}.jsonl"


# -- triage stage --------------------------------------------------------------------------
def _with_validation(cfg, roles, tri, pool):
    """(pool, validation pairs or None when data.n_val is 0).

    Where the benchmark generated them beside the pool (SynthValueBench: training template
    families, prompts not in the pool), they are triaged as they are and the pool is left
    alone. Otherwise they can only come out of the pool (prompt-disjoint, stratified)."""
    if not cfg.data.n_val:
        return pool, None
    if "val" in roles:
        return pool, tri("val")
    return splits.split_by_prompt(pool, cfg.data.n_val, f"val/{cfg.data.seed}")


def _triage_config(cfg, has_test: bool) -> dict[str, Any]:
    d = cfg.data
    out = {"benchmark": d.benchmark, "shift": d.shift, "seed": d.seed, "oracle": d.triage_oracle,
           "train_sizes": d.train_sizes, "noise_levels": d.noise_levels}
    if d.triage_oracle == "llm":         # another judge model is another triage
        out["judge"] = {"model": cfg.judge.model, "response_format": cfg.judge.response_format,
                        "max_tokens": cfg.judge.max_tokens}
        if cfg.judge.on_unusable != "fail":   # unparseable verdicts kept: another triage
            out["judge"]["on_unusable"] = cfg.judge.on_unusable
    if not has_test:
        out["n_test"] = d.n_test         # only then does the split depend on it
    if d.n_val:                          # absent at 0: untuned presets keep their run keys
        out["n_val"] = d.n_val
    return out


def _oracle(cfg):
    from realignbench.registry import ORACLES
    cls = ORACLES.get(cfg.data.triage_oracle).load()
    return cls.from_config(cfg) if hasattr(cls, "from_config") else cls()


def _triage_inputs(cfg, data_run: Run) -> tuple[Any, dict[str, list]]:
    """(oracle, pairs by file role): built and validated before the run directory exists."""
    files = data_run.results()["files"]
    return _oracle(cfg), {role: read_pairs(data_run.path(name)) for role, name in files.items()}


def _triage_work(cfg, shift: Shift):
    def work(run: Run, prepared: tuple[Any, dict[str, list]]) -> None:
        oracle, pairs = prepared
        # A paid judge (LLM) skips the π_old sanity pass, which would double its calls.
        check_old = shift.old if getattr(oracle, "check_old_policy", True) else None
        seed = cfg.data.seed

        def tri(role: str):
            return triage_mod.triage(pairs[role], oracle, shift.new, shift.name,
                                     policy_old=check_old)
        pool = tri("train")
        if "test" in pairs:
            test = tri("test")
        else:
            pool, test = splits.split_by_prompt(pool, cfg.data.n_test, seed)
        pool, val = _with_validation(cfg, pairs, tri, pool)
        splits.check_prompt_disjoint(pool, test, **({"val": val} if val is not None else {}))
        nested = splits.nested_subsets(pool, cfg.data.train_sizes, seed)
        out = {"pool": "train.pool.jsonl", "test": "test.jsonl",
               "train": {s: f"train.{s}.jsonl" for s in nested}, "noisy": {}}
        write_pairs(run.path(out["pool"]), pool)
        write_pairs(run.path(out["test"]), test)
        stats = {"pool": triage_mod.triage_stats(pool), "test": triage_mod.triage_stats(test),
                 "train": {}}
        if val is not None:
            out["val"] = "val.jsonl"
            write_pairs(run.path(out["val"]), val)
            stats["val"] = triage_mod.triage_stats(val)
        for size, subset in nested.items():
            write_pairs(run.path(out["train"][size]), subset)
            stats["train"][size] = triage_mod.triage_stats(subset)
        noise_stats = {}
        for p in cfg.data.noise_levels:
            for size, subset in nested.items():
                if p == 0:
                    out["noisy"][f"{size}/{p:g}"] = out["train"][size]
                    continue
                noisy, summary = noise.inject_noise(subset, p, seed)
                out["noisy"][f"{size}/{p:g}"] = noise_name(size, p)
                write_pairs(run.path(noise_name(size, p)), noisy)
                noise_stats[f"{size}/{p:g}"] = summary
        run.write_samples({"id": q.id, "split": split, "category": q.category,
                           "dimension": q.meta.get("dimension"),
                           "retain_kind": q.meta.get("retain_kind")}
                          for split, rows in (("train", pool), ("test", test), ("val", val or []))
                          for q in rows)
        run.update_env(seed=seed)
        run.write_results({
            "benchmark": cfg.data.benchmark, "shift": shift.name, "description": shift.description,
            "policy_old": shift.old.key, "policy_new": shift.new.key,
            "changed_dimensions": shift.changed_dimensions(), "oracle": oracle.judge_id,
            "files": out, "stats": stats, "noise": noise_stats,
            "checks": {"prompt_disjoint": True, "nested_sizes": True},
            **({"judge_usage": oracle.write_usage(run)} if hasattr(oracle, "write_usage")
               else {})})
    return work


def triage_stage(cfg, data_run: Run) -> Run:
    shift = load_shift(cfg.data.benchmark, cfg.data.shift)
    files = data_run.results()["files"]
    inputs = {"pairs": {k: data_run.path(v) for k, v in files.items()},
              "policies": shift_files(shift), "code": TRIAGE_CODE}
    return run_stage("triage", data_name(cfg), _triage_config(cfg, "test" in files), inputs,
                     _triage_work(cfg, shift), runs_dir=cfg.runs_dir,
                     prepare=lambda: _triage_inputs(cfg, data_run))


def prepare_data(cfg) -> PreparedData:
    """Run (or skip, when completed) the data and triage stages; return the files' paths."""
    data_run = data_stage(cfg)
    tri_run = triage_stage(cfg, data_run)
    shift = load_shift(cfg.data.benchmark, cfg.data.shift)
    files = tri_run.results()["files"]
    noisy = {}
    for key, name in files["noisy"].items():
        size, p = key.split("/")
        noisy[(int(size), float(p))] = tri_run.path(name)
    return PreparedData(
        train={int(s): tri_run.path(f) for s, f in files["train"].items()},
        test=tri_run.path(files["test"]), noisy=noisy, policy_old=shift.old,
        policy_new=shift.new, shift=shift, data_run=data_run, triage_run=tri_run,
        val=tri_run.path(files["val"]) if "val" in files else None)
