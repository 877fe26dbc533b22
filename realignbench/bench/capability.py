"""Stage ``eval_capability``: lm-eval on the model under evaluation, in memory.

Offline presets run the four local suites (``realignbench/bench/suites``) through lm-eval's
task machinery (TaskManager ``include_path``, task YAMLs, local JSONL) with the hub switched
off; GPU presets name lm-eval's own ``mmlu``, ``gsm8k``, ``hellaswag``, ``gpqa_main_zeroshot``.
The model object is wrapped in lm-eval's ``HFLM`` (no second load). The full lm-eval result
JSON is kept as ``lm_eval_results.json``; ``results.json`` has one metric record per suite
(headline metric, bootstrap CI over items, n) with its chance level beside it.
"""
from __future__ import annotations

import json
import logging
import os
import time
from contextlib import contextmanager
from typing import Any

from realignbench.stats import metric
from realignbench.bench.subject import Subject
from realignbench.bench.suites import TASK_DIR, suite
from realignbench.runs import Run, atomic_write_text, run_stage

log = logging.getLogger(__name__)
OFFLINE_VARS = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


@contextmanager
def offline_env(enabled: bool):
    """Set the hub-offline variables for the duration (local suites never need the hub)."""
    old = {k: os.environ.get(k) for k in OFFLINE_VARS}
    if enabled:
        os.environ.update(OFFLINE_VARS)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _item_scores(res: dict, name: str, headline: str) -> list[float]:
    """Per-item values of the headline metric (over a group's subtasks for e.g. ``mmlu``)."""
    metric_name, filt = headline.split(",")
    tasks = res.get("group_subtasks", {}).get(name) or [name]
    values: list[float] = []
    for task in tasks:
        if task in res.get("group_subtasks", {}) and task != name:
            values += _item_scores(res, task, headline)
            continue
        for s in res["samples"].get(task, []):
            if s.get("filter", "none") == filt:
                values.append(float(s[metric_name]))
    return values


def evaluate_model(model, tokenizer, suites: list[str], batch_size: int, limit: int = 0,
                   seed: int = 0, device: str | None = None) -> tuple[dict, float]:
    """lm-eval ``simple_evaluate`` on an in-memory model; returns (result dict, wall seconds)."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    infos = [suite(s) for s in suites]
    all_local = all(i.local for i in infos)
    device = device or str(next(model.parameters()).device)
    max_len = min(int(getattr(model.config, "max_position_embeddings", 2048) or 2048), 2048)
    with offline_env(all_local):
        tm = TaskManager(include_path=str(TASK_DIR), include_defaults=not all_local)
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=device,
                  max_length=max_len)
        start = time.perf_counter()
        res = lm_eval.simple_evaluate(model=lm, tasks=list(suites), task_manager=tm,
                                      limit=limit or None, log_samples=True, bootstrap_iters=0,
                                      random_seed=seed, numpy_random_seed=seed,
                                      torch_random_seed=seed, fewshot_random_seed=seed)
        wall = time.perf_counter() - start
    if res is None:
        raise RuntimeError("lm-eval returned no results (non-zero rank?)")
    return res, wall


def summarise(res: dict, suites: list[str], n_boot: int) -> dict[str, Any]:
    """Our metric records (+ chance, lm-eval's own value) from lm-eval's result dict."""
    metrics, details = {}, {}
    for name in suites:
        info = suite(name)
        scores = _item_scores(res, name, info.headline)
        if not scores:
            raise RuntimeError(f"lm-eval returned no per-item {info.headline} for {name}")
        metrics[name] = metric(scores, n_boot=n_boot)   # metric name = suite name (tables)
        reported = res["results"].get(name, {}).get(info.headline)
        details[name] = {"headline": info.headline, "chance": info.chance,
                         "lm_eval_value": None if reported is None else float(reported),
                         "format_of": info.format_of, "local": info.local, "note": info.note,
                         "n_shot": res.get("n-shot", {}).get(name)}
    return {"metrics": metrics, "suites": details}


def capability_stage(cfg, subject: Subject) -> Run:
    """Run (or skip) ``eval_capability`` for ``subject`` on ``cfg.eval.capability_suites``."""
    from realignbench.bench.suites.build import check
    suites = list(cfg.eval.capability_suites)
    for s in suites:
        suite(s)                                  # unknown names fail before any work
    local = [s for s in suites if suite(s).local]
    config = {"suites": suites, "limit": cfg.eval.capability_limit, "seed": cfg.seeds[0],
              "batch_size": cfg.eval.batch_size, "dtype": cfg.model.dtype,
              "n_bootstrap": cfg.eval.n_bootstrap}
    inputs = {"model": subject.identity,
              "suite_files": {p.name: p for p in sorted((TASK_DIR / "data").glob("*.jsonl"))
                              if p.name.split(".")[0] in local}}

    def work(run: Run) -> None:
        stale = check() if local else []
        if stale:
            raise RuntimeError(f"local suite files differ from their generators: {stale}; "
                               "run python -m realignbench.bench.suites.build")
        model, tok = subject.load(cfg)
        res, wall = evaluate_model(model, tok, suites, cfg.eval.batch_size,
                                   cfg.eval.capability_limit, cfg.seeds[0])
        from lm_eval.utils import handle_non_serializable
        atomic_write_text(run.path("lm_eval_results.json"),
                          json.dumps(res, indent=1, default=handle_non_serializable))
        out = summarise(res, suites, cfg.eval.n_bootstrap)
        note = ("local suites generated by realignbench (MMLU/GSM8K/HellaSwag/GPQA record "
                "formats; NOT those benchmarks)" if local else "lm-eval hub tasks")
        run.write_results({
            "subject": subject.record, **out, "lm_eval_wall_s": round(wall, 2),
            "lm_eval_version": res.get("lm_eval_version"),
            "provenance": {"simulated": False, "judge": "lm-eval (loglikelihood / exact match)",
                           **subject.provenance, "suite_note": note}})
        log.info("capability %s: %s (lm-eval %.1fs)", subject.name,
                 {k: round(v["value"], 3) for k, v in out["metrics"].items()}, wall)

    return run_stage("eval_capability", subject.name, config, inputs, work,
                     runs_dir=cfg.runs_dir)
