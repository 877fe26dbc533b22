"""Stage ``eval_capability``: lm-eval on the model under evaluation, in memory.

Offline presets run the four local suites (``realignbench/bench/suites``) through lm-eval's
task machinery (TaskManager ``include_path``, task YAMLs, local JSONL) with the hub switched
off; GPU presets name lm-eval's own ``mmlu``, ``gsm8k``, ``hellaswag``, ``gpqa_main_zeroshot``.
Local suites run on the in-memory model wrapped in lm-eval's ``HFLM`` (no second load). Hub
suites run through lm-eval's own model type (``hf``, or ``vllm`` when ``model.generation_backend``
is vllm) in a process of its own: it loads the model from its path or hub id onto the GPU, a
training run's adapter passed as LoRA (``peft=`` / ``lora_local_path=``), with the chat template
for instruct models, and the process's exit gives all of its memory back. The full lm-eval result
JSON is kept as ``lm_eval_results.json``; ``results.json`` has one metric record per suite
(headline metric, bootstrap CI over items, n) with its chance level beside it.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
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


def _simple_evaluate(model, suites: list[str], limit: int, seed: int,
                     **extra: Any) -> tuple[dict, float]:
    """lm-eval ``simple_evaluate`` with our task path and seeds; (result dict, wall seconds)."""
    import lm_eval
    from lm_eval.tasks import TaskManager
    all_local = all(suite(s).local for s in suites)
    with offline_env(all_local):
        tm = TaskManager(include_path=str(TASK_DIR), include_defaults=not all_local)
        start = time.perf_counter()
        res = lm_eval.simple_evaluate(model=model, tasks=list(suites), task_manager=tm,
                                      limit=limit or None, log_samples=True, bootstrap_iters=0,
                                      random_seed=seed, numpy_random_seed=seed,
                                      torch_random_seed=seed, fewshot_random_seed=seed, **extra)
        wall = time.perf_counter() - start
    if res is None:
        raise RuntimeError("lm-eval returned no results (non-zero rank?)")
    return res, wall


def evaluate_model(model, tokenizer, suites: list[str], batch_size: int, limit: int = 0,
                   seed: int = 0, device: str | None = None) -> tuple[dict, float]:
    """lm-eval ``simple_evaluate`` on an in-memory model; returns (result dict, wall seconds)."""
    from lm_eval.models.huggingface import HFLM
    device = device or str(next(model.parameters()).device)
    max_len = min(int(getattr(model.config, "max_position_embeddings", 2048) or 2048), 2048)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=device,
              max_length=max_len)
    return _simple_evaluate(lm, suites, limit, seed)


_LM_EVAL_DTYPES = {"bf16": "bfloat16", "fp32": "float32", "fp64": "float32"}


def lm_eval_model(cfg, subject: Subject) -> tuple[str, dict[str, Any]] | None:
    """lm-eval's own model type and ``model_args`` for ``subject`` when a suite is one of
    lm-eval's hub tasks; None when every suite is local (the in-memory path, as on CPU)."""
    from realignbench.models.loading import resolve_dtype
    from realignbench.models.placement import process_device
    if all(suite(s).local for s in cfg.eval.capability_suites):
        return None
    source = subject.source()
    if source is None:
        raise ValueError(f"eval_capability: {subject.name} exists only in memory; lm-eval's "
                         "hub tasks load the model from a directory or a hub id")
    kind = cfg.model.generation_backend
    args: dict[str, Any] = {"pretrained": source["pretrained"],
                            "dtype": _LM_EVAL_DTYPES[resolve_dtype(cfg.model.dtype)]}
    if source["revision"]:
        args["revision"] = source["revision"]
    if kind == "hf":
        args["device"] = str(process_device())
        if source["peft"]:
            args["peft"] = source["peft"]
    elif kind == "vllm":
        args["gpu_memory_utilization"] = 0.85
        if source["peft"]:
            args.update(enable_lora=True, max_lora_rank=64, lora_local_path=source["peft"])
    else:
        raise ValueError(f"model.generation_backend: {kind!r} is not 'hf' or 'vllm'")
    return kind, args


def is_instruct(source: dict[str, Any]) -> bool:
    """An instruct model: its tokenizer ships a chat template (lm-eval then applies it)."""
    from transformers import AutoTokenizer
    folder = source["peft"] or source["pretrained"]      # an adapter run saves its tokenizer
    revision = None if source["peft"] else source["revision"]
    return AutoTokenizer.from_pretrained(folder, revision=revision).chat_template is not None


def _evaluate_child(kind, args, suites, batch_size, limit, seed, chat, out_path) -> None:
    from lm_eval.utils import handle_non_serializable
    res, wall = _simple_evaluate(kind, suites, limit, seed, model_args=args,
                                 batch_size=batch_size, apply_chat_template=chat,
                                 fewshot_as_multiturn=chat)
    res["_wall_s"] = wall
    atomic_write_text(out_path, json.dumps(res, default=handle_non_serializable))


def evaluate_source(kind: str, args: dict[str, Any], suites: list[str], batch_size: int,
                    limit: int, seed: int, chat: bool, scratch) -> tuple[dict, float]:
    """lm-eval's own ``kind`` model on ``args`` in a spawned process (it owns the GPU memory it
    takes and gives it all back on exit); returns (result dict as JSON, wall seconds)."""
    out_path = scratch / "lm_eval_child.json"
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=_evaluate_child, args=(kind, args, suites, batch_size, limit,
                                                      seed, chat, out_path))
    child.start()
    child.join()
    if child.exitcode != 0 or not out_path.exists():
        raise RuntimeError(f"lm-eval ({kind} model, {args['pretrained']}) failed in its process "
                           f"(exit code {child.exitcode}); its traceback is on stderr above")
    res = json.loads(out_path.read_text())
    out_path.unlink()
    return res, res.pop("_wall_s")


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
    if len(local) < len(suites):              # hub tasks: lm-eval's own hf or vllm model type
        config["lm_eval_model"] = cfg.model.generation_backend
    inputs = {"model": subject.identity,
              "suite_files": {p.name: p for p in sorted((TASK_DIR / "data").glob("*.jsonl"))
                              if p.name.split(".")[0] in local}}

    def work(run: Run) -> None:
        stale = check() if local else []
        if stale:
            raise RuntimeError(f"local suite files differ from their generators: {stale}; "
                               "run python -m realignbench.bench.suites.build")
        own = lm_eval_model(cfg, subject)
        if own is None:
            model, tok = subject.load(cfg)
            res, wall = evaluate_model(model, tok, suites, cfg.eval.batch_size,
                                       cfg.eval.capability_limit, cfg.seeds[0])
            del model
        else:
            chat = is_instruct(subject.source())
            res, wall = evaluate_source(*own, suites, cfg.eval.batch_size,
                                        cfg.eval.capability_limit, cfg.seeds[0], chat, run.dir)
            res["realignbench_lm_eval_model"] = {"type": own[0], "args": own[1],
                                                 "apply_chat_template": chat}
        from lm_eval.utils import handle_non_serializable
        atomic_write_text(run.path("lm_eval_results.json"),
                          json.dumps(res, indent=1, default=handle_non_serializable))
        out = summarise(res, suites, cfg.eval.n_bootstrap)
        note = ("local suites generated by realignbench (MMLU/GSM8K/HellaSwag/GPQA record "
                "formats; NOT those benchmarks)" if local else "lm-eval hub tasks")
        run.write_results({
            "subject": subject.record, **out, "lm_eval_wall_s": round(wall, 2),
            "lm_eval_version": res.get("lm_eval_version"),
            "lm_eval_model": res.get("realignbench_lm_eval_model", {"type": "in-memory HFLM"}),
            "provenance": {"simulated": False, "judge": "lm-eval (loglikelihood / exact match)",
                           **subject.provenance, "suite_note": note}})
        log.info("capability %s: %s (lm-eval %.1fs)", subject.name,
                 {k: round(v["value"], 3) for k, v in out["metrics"].items()}, wall)

    return run_stage("eval_capability", subject.name, config, inputs, work,
                     runs_dir=cfg.runs_dir)
