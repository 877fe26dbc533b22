"""Synthetic run records for the reports tests, written in the real run-directory format.

``populate`` writes one completed run per (stage, subject) that the table specs ask for (from
``build.needs``), with metric values from ``value_fn(stage, subject, metric)`` — so a test
knows every number that must come out of the renderer. With ``samples=True`` the TPA and
human-evaluation runs also get per-prompt samples (so differences are paired): TPA prompt i
of ``N_PROMPTS`` is compliant iff i < round(value × N) (nested sets: every discordant pair
favours the higher value), and the metric record is the samples' own mean; the human panel is
the fixed ``HUMAN_PICKS`` (one pick per item) and its win rates are computed from it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

from realignbench.bench.degeneration import FLAGS
from realignbench.reports.claims import GENERATION_STAGES
from realignbench.reports.build import needs
from realignbench.reports.leaderboard import leaderboard_spec
from realignbench.reports.spec import load_spec
from realignbench.runs import Run, atomic_write_json, content_hash, run_dir_for

BASE_TPA = {"base": 0.10, "old_alignment": 0.05, "naive_dpo": 0.30, "rdpo": 0.32,
            "dpo_gold": 0.80, "u2a": 0.40, "trace": 0.70, "trace_no_triage": 0.50,
            "trace_no_kl": 0.72, "trace_no_impact": 0.55, "trace_oracle_punish": 0.75,
            "trace_ours": 0.71}


def default_value(stage: str, subject: dict[str, Any], metric: str) -> float:
    """Deterministic, distinct values: TPA grows with data, falls with noise; tiny seed jitter."""
    method = subject.get("method", "")
    seed = subject.get("seed") or 0
    jitter = 0.002 * seed
    size = subject.get("train_size") or 0
    if stage == "eval_tpa":
        return BASE_TPA[method] + size / 10000 - 0.2 * subject.get("noise", 0.0) + jitter
    if stage == "eval_capability":
        return 0.60 - (0.2 if method == "trace_no_kl" else 0.0) + jitter
    if stage == "eval_asr":
        return 0.30 - BASE_TPA.get(method, 0.0) / 4 + jitter
    if stage == "human_eval":
        table = {"win/dpo_gold_vs_u2a": 0.92, "win/trace_vs_u2a": 0.85,
                 "win/dpo_gold_vs_trace": 0.75, "win/u2a_vs_trace": 0.15}
        return table.get(metric, 0.5) + jitter
    if stage == "train":
        return {"cost/oracle_calls": 96.0, "cost/train_tokens": 12345.0}[metric]
    return {"category/invert": 0.5, "category/punish": 0.3, "category/retain": 0.2,
            "category/retain_both_compliant": 0.05, "agreement": 0.97}.get(metric, 0.5)


def write_run(runs_dir: Path, stage: str, subject: dict[str, Any], metrics: dict[str, Any],
              provenance: dict[str, Any] | None = None, wall_s: float = 12.5,
              salt: str = "", samples: list[dict] | None = None) -> Run:
    """One completed run directory, as ``run_stage`` would leave it (without env capture)."""
    key = content_hash(stage, subject, salt)
    name = re.sub(r"[^\w.-]", "_", str(subject.get("method", stage)))   # a safe directory name
    run = Run(run_dir_for(stage, name, key, runs_dir), stage, key)
    run.dir.mkdir(parents=True, exist_ok=True)
    (run.dir / "config.resolved.yaml").write_text("synthetic: true\n")
    atomic_write_json(run.path("inputs.json"), {"stage": stage, "key": key, "inputs": {}})
    run.write_results({"subject": subject, "metrics": metrics, "provenance": provenance or {}})
    run.write_samples(samples or [])
    run.complete(wall_s)
    return run


N_PROMPTS = 24
HUMAN_PICKS = ["dpo_gold"] * 22 + ["trace"] * 12 + ["u2a"] * 6     # one pick per item


def tpa_samples(value: float) -> tuple[float, list[dict]]:
    k = round(value * N_PROMPTS)
    rows = [{"id": f"q{i}", "new_compliant": i < k, "dimension": "d", "category": "INVERT"}
            for i in range(N_PROMPTS)]
    return k / N_PROMPTS, rows


def human_samples() -> tuple[dict[str, dict], list[dict]]:
    rows = [{"item_id": f"h{i}", "method": m} for i, m in enumerate(HUMAN_PICKS)]
    count = {m: HUMAN_PICKS.count(m) for m in set(HUMAN_PICKS)}
    wins = {f"win/{a}_vs_{b}": metric(count[a] / (count[a] + count[b]), n=count[a] + count[b])
            for a in count for b in count if a != b}
    return wins, rows


def metric(value: float, half: float = 0.05, n: int = 24) -> dict[str, Any]:
    return {"value": value, "ci": [value - half, value + half], "n": n}


def populate(runs_dir: Path, cfg: dict[str, Any], tables=(*range(1, 9), "leaderboard"),
             value_fn: Callable[[str, dict, str], float] = default_value,
             skip: Callable[[str, dict], bool] = lambda stage, subject: False,
             simulated: bool = True, samples: bool = False) -> list[Run]:
    """Write every run the given tables need; ``skip(stage, subject)`` leaves a run out."""
    merged: dict[str, dict[str, Any]] = {}
    for n in tables:
        spec = leaderboard_spec(cfg) if n == "leaderboard" else load_spec(n, cfg)
        for need in needs(spec, cfg):
            subject = {k: (v[0] if isinstance(v, list) else v)
                       for k, v in need["subject"].items() if v is not None}
            key = json.dumps([need["stage"], subject], sort_keys=True)
            entry = merged.setdefault(key, {"stage": need["stage"], "subject": subject,
                                            "metrics": set()})
            entry["metrics"] |= {m for m in need["metrics"] if not m.startswith("@")}
            if need["stage"] in GENERATION_STAGES:     # as the real stages: always recorded
                entry["metrics"] |= {f"degeneration/{k}" for k in FLAGS}
    runs = []
    for e in merged.values():
        if skip(e["stage"], e["subject"]):
            continue
        metrics = {m: metric(value_fn(e["stage"], e["subject"], m)) for m in sorted(e["metrics"])}
        rows = None
        if samples and e["stage"] == "eval_tpa" and "tpa" in metrics:
            value, rows = tpa_samples(metrics["tpa"]["value"])
            metrics["tpa"] = metric(value)
        elif samples and e["stage"] == "human_eval":
            wins, rows = human_samples()
            metrics.update({k: v for k, v in wins.items() if k in metrics})
        prov = {"simulated": simulated if e["stage"] == "human_eval" else False,
                "judge": "label-oracle", "nll_weight": cfg["train"]["nll_weight"]}
        runs.append(write_run(runs_dir, e["stage"], e["subject"], metrics, prov, samples=rows))
    return runs
