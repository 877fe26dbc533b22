"""Result files (``perf/results/<mode>-<bench>-<preset>.json``) and the generated
``docs/performance.md``. The Markdown is rebuilt from the JSON alone, so it never carries a
number that was not measured."""
from __future__ import annotations

import json
from pathlib import Path

from realignbench.runs import atomic_write_json, atomic_write_text

ORDER = ("impact", "train", "trunk", "generate", "e2e")
TITLES = {"impact": "Impact scores", "train": "Training throughput",
          "trunk": "Trunk-activation cache", "generate": "Generation",
          "e2e": "End-to-end (`make reproduce` stages)"}
EXPLAIN = {
    "impact": (
        "Every variant scores TRACE's pairs along g_J with `train.impact.group_scores` (an "
        "INVERT pair: its IPO term; a PUNISH pair: the sum of its two NPO terms). "
        "`ghost_batched` (`method=\"ghost\"`): per micro-batch one forward and one backward "
        "to the outputs of the adapted linear layers, each LoRA layer run as one linear layer "
        "with its merged weight; a pair's ⟨g_J, ∇ℓ⟩ = Σ_t g_tᵀ D x_t (D: the direction of the "
        "layer's effective weight, applied through LoRA's rank-r factors) is read off its own "
        "positions' layer inputs x_t and output gradients g_t, so no per-example gradient is "
        "formed; each pair runs in one packed row with its prompt once "
        "(`train/prefix_pack.py`). `jvp_batched` (`method=\"jvp\"`): one `torch.func.jvp` of "
        "the per-example losses per micro-batch. `autograd_batch1` (`method=\"autograd\"` at "
        "batch 1): one forward and one backward per example, same tokenisation and cached "
        "reference log-probs — the same maths without batching, packing or merging. "
        "`forward_only`: a no-grad forward of the ghost path's packed micro-batches; "
        "`exact_ceiling_vs_autograd_batch1` is `autograd_batch1` over twice it, the speed-up "
        "of a path that costs one forward of those batches plus a backward as long as a "
        "forward — what any exact first-order method needs, since both are compute-bound in "
        "the same matmuls. `authors_loop` (`perf/authors.py`) spends compute the way the "
        "authors' code does: per sequence, padded to 256 tokens, full-vocabulary logits, "
        "reference forwards recomputed, four extra no-grad forwards for each DPO coefficient. "
        "Agreement is max |Δscore| / max |score| against `autograd_batch1`. Why forward mode "
        "loses on a CPU: its tangent through the adapted layers and the LM head costs what the "
        "backward does, and inside the JVP attention runs on the math kernel, not the fused "
        "one. What TRACE and U2A run: `score_method: auto` (their default, "
        "`train.impact.resolve_score_method`) takes the ghost path on a CPU when every "
        "trainable parameter is a LoRA factor, batch-1 autograd otherwise, and the "
        "JVP on CUDA; the targets apply to the ghost path. The benchmark calls "
        "`group_scores` directly, so it times cold computation: the impact cache "
        "(`train/impact_cache.py`) that lets TRACE's variants and U2A reuse g_J and the "
        "scores is not involved."),
    "train": (
        "`ours` is `realignbench.train.trainer.Trainer.fit` (reference log-probs computed once "
        "into an empty cache — included in the time —, dynamic padding, chosen and rejected "
        "in one forward, micro-batches). `authors_loop` (`perf/authors.py`) has the authors' "
        "semantics: per pair at micro-batch 1, chosen and rejected in separate forwards, "
        "reference forwards at every step, padding to 256 tokens, tokenisation inside the "
        "loop. `trl` (`perf/trl_dpo.py`) is TRL's `DPOTrainer`, the trainer a user would pick "
        "instead: the same LoRA config and starting adapters, pairs in the same order "
        "(sequential sampler), micro-batch, accumulation, β, AdamW, clipping and schedule, "
        "fp32, no gradient checkpointing, no evaluation, checkpoints or external logging; "
        "its time includes building the trainer (TRL's tokenisation), as ours includes ours. "
        "All three optimise plain DPO (`train.nll_weight=0`: TRL 1.16 has no per-pair NLL "
        "term — its `sft` loss averages over all chosen tokens of a micro-batch — so the "
        "preset's NLL term is off here) from the same adapters. Agreement: per-step losses, "
        "and the final adapters relative to how far they moved from θ_ref (a norm ratio; for "
        "the authors' loop also the element-wise maximum, which a single component can "
        "dominate: Adam's first step is about lr·sign(g), so wherever a gradient component is "
        "near zero rounding can flip it). TRL renders and tokenises the "
        "chat template itself (the newline after end-of-turn is a target there; a sequence "
        "over `model.max_length` loses its end, where ours cuts the prompt's start), so "
        "`trl_*` compare slightly different sequences; `trl_our_tokens_*` come from one "
        "untimed TRL run fed our tokens, where only the trainers differ and the two agree up "
        "to rounding — so any gap is speed, not maths. Where TRL's time goes, from its code "
        "(trl 1.16, CPU): (1) no trunk reuse — each step runs the whole decoder twice, once "
        "for the policy and once with the adapters disabled for the reference, while ours "
        "runs the frozen layers below the adapters (when `train.lora_layers` leaves any: smol, "
        "not tiny) once per sequence in its reference pass and trains from the cached hidden "
        "states of the first adapted layer (`train/trunk.py`); (2) the LM head — off CUDA its fused head "
        "projects every position (prompt and padding included) through the vocabulary, for "
        "the policy and again for the reference, and computes per-token entropy, mean logit "
        "and top-1 for its logged metrics, while ours projects only the response targets; "
        "(3) the reference is recomputed at every step (`precompute_ref_log_probs` is off by "
        "default) — here every pair is seen once, so this costs TRL no extra forwards, but "
        "over several epochs it would, while ours reads its cache; (4) fixed costs — "
        "`datasets` tokenisation and `transformers.Trainer` set-up — small at this size. Both "
        "pad chosen and rejected of a micro-batch to its longest sequence."),
    "trunk": (
        "`train_cached` and `train_full` are `Trainer.fit` from θ_ref with "
        "`train.trunk_cache` `auto` and `off`; `tpa_cached` and `tpa_full` are "
        "`bench.likelihood_tpa.likelihood_tpa` with the same two settings. Both share one "
        "cache directory, filled by the untimed warm-up: reference log-probs come from it in "
        "both, and `auto` also reads the hidden states entering the first adapted layer "
        "(`train/trunk.py`), so only the layers from there up run — the steady state of a "
        "graph whose later methods, seeds and evaluations meet sequences already seen. "
        "Every `auto` call includes the exact digest of the trunk weights "
        "(`trunk_digest_s`). Agreement: per-step losses, the final adapters (‖Δ‖/‖adapter‖) "
        "and the likelihood-TPA mean margins of the two settings (not the win shares: at θ_ref "
        "every implicit margin is 0 up to the last bit, which decides the share)."),
    "generate": (
        "The HF backend (`models.backend.get_backend`) with the eval batch size vs the "
        "same backend at batch size 1; greedy. Tokens/s counts generated tokens up to and "
        "including end-of-turn. `batched_lora_unmerged` generates from a model that carries "
        "the preset's LoRA adapters (fresh, B = 0, so the same answers) unmerged; evaluation "
        "folds a trained adapter into the weights first (`Subject.load(merge=True)`), which "
        "costs what `batched` does."),
}


def result_path(results_dir: Path, bench: str, preset: str, mode: str) -> Path:
    name = "-".join(x for x in (mode, bench, preset) if x)
    return Path(results_dir) / f"{name}.json"


def write_result(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, record)


def load_results(results_dir: Path, mode: str) -> list[dict]:
    records = []
    for path in sorted(Path(results_dir).glob(f"{mode}-*.json")):
        try:
            records.append(json.loads(path.read_text()))
        except ValueError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from err
    return sorted(records, key=lambda r: (ORDER.index(r["benchmark"]), r.get("preset", "")))


def _fmt(x, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1e-2 else f"{x:,.{digits}f}".rstrip("0").rstrip(".")
    return str(x)


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return out + [""]


def _machine(records: list[dict]) -> list[str]:
    m = next((r["machine"] for r in records if "machine" in r), None)
    if m is None:
        return ["No machine information (no timed benchmark ran).", ""]
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in m["cpu_flags"].items())
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines = [f"- CPU: {m['cpu_model']} (family {m['cpu_family']}), {m['logical_cpus']} logical "
             f"CPUs; {flags}",
             f"- torch threads {m['torch_threads']} (interop {m['torch_interop_threads']}); "
             f"CUDA {'yes' if m['cuda'] else 'no'}; Python {m['python']}; {versions}",
             f"- git commit {m['git_commit']}", "- load average (1, 5, 15 min) per benchmark:"]
    for r in records:
        if "machine" in r:
            quiet = r.get("quiet") or {}
            note = (f" (run waited {quiet['waited_s']} s for load < {quiet['max_load']}; "
                    f"{'reached' if quiet['quiet'] else 'NOT reached: contended'})"
                    if quiet else "")
            lines.append(f"  - {r['benchmark']} {r.get('preset', '')}: start "
                         f"{r['machine']['loadavg_start']}, end "
                         f"{r['machine'].get('loadavg_end', '–')}, elapsed {r['elapsed_s']} s"
                         + note)
    return lines + [""]


def target_ratio(target: dict, key: str) -> float:
    """The speed-up ``key`` must reach: its own (``ratio_by_key``) or the benchmark's."""
    return (target.get("ratio_by_key") or {}).get(key, target["ratio"])


def _verdict(result: dict, key: str) -> str:
    target = result.get("target") or {}
    if not target.get("applies") or key not in target.get("keys", []):
        return "–"
    goal = target_ratio(target, key)
    met = result["ratios"][key]["of_medians"] >= goal
    return f"≥ {goal:g}: {'**met**' if met else '**MISSED**'}"


def _summary(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        res = r["result"]
        for key, value in res.get("ratios", {}).items():
            rows.append([TITLES[r["benchmark"]], f"{res['preset']} ({res['dtype']})", key,
                         f"{value['of_medians']:.2f}×", f"{value['median_pairwise']:.2f}×",
                         _verdict(res, key)])
        if "dtype_probe" in res:
            value = res["dtype_probe"]["fp32_vs_bf16"]
            rows.append([TITLES[r["benchmark"]], f"{res['preset']} (policy step)",
                         "fp32_vs_bf16 (> 1: fp32 faster)", f"{value['of_medians']:.2f}×",
                         f"{value['median_pairwise']:.2f}×", "–"])
    if not rows:
        return ["No ratios measured.", ""]
    return _table(["benchmark", "preset (dtype)", "comparison", "ratio of medians",
                   "median per-repeat ratio", "target"], rows)


def _variants(res: dict) -> list[str]:
    rows = []
    for name, v in res["variants"].items():
        rows.append([name, v["median_wall_s"], v[f"{v['unit']}_per_s"], v["unit"],
                     v["median_cpu_per_wall"], ", ".join(_fmt(w) for w in v["wall_s"]),
                     ", ".join(_fmt(x) for x in v["load1"])])
    return _table(["variant", "median wall (s)", "throughput (/s)", "unit",
                   "median cpu/wall", "wall per repeat (s)", "load1 per repeat"], rows)


def _agreement(res: dict) -> list[str]:
    agr = res.get("agreement") or {}
    lines = []
    for key, value in agr.items():
        if isinstance(value, list):
            value = ", ".join(_fmt(x, 5) for x in value)
        lines.append(f"- {key}: {_fmt(value, 3) if isinstance(value, float) else value}")
    return lines + [""] if lines else []


def _profile(record: dict) -> list[str]:
    out = []
    for name, prof in (record.get("profile") or {}).items():
        out += [f"Profile of one `{name}` call (torch.profiler, self CPU time, total "
                f"{prof['total_self_cpu_s']} s):", ""]
        out += _table(["operator", "calls", "self CPU (s)", "share"],
                      [[p["op"], p["calls"], p["self_cpu_s"], f"{100 * p['share']:.1f}%"]
                       for p in prof["top"]])
    return out


def _e2e(res: dict) -> list[str]:
    if not res["stages"]:
        return [f"No runs yet under `{res['runs_dir']}/` (run `make reproduce`).", ""]
    rows = [[stage, len(s["runs"]), s["total_wall_s"],
             ", ".join(f"{x['name']} {x['wall_s']:g}" for x in s["runs"])]
            for stage, s in res["stages"].items()]
    return _table(["stage", "runs", "total wall (s)", "runs (name wall_s)"], rows) + [
        f"Total over recorded runs: {res['total_wall_s']} s (each run's own wall time; runs "
        "skipped as already complete cost ~0; an eval_tpa run's time includes the "
        "eval_likelihood_tpa run it starts, so the total counts those twice; every run in the "
        "runs directory is listed, superseded ones included).", ""] + _e2e_budget(res)


def _e2e_budget(res: dict) -> list[str]:
    budget = res.get("budget_s")
    lines = []
    if res.get("span_s") is not None:
        lines.append(f"Span of the graph (first run's start to last run's end, all workers): "
                     f"{res['span_s'] / 60:.1f} min.")
    wall = res.get("reproduce_wall_s")
    if wall is not None and budget:
        verdict = "met" if wall <= budget else "**MISSED**"
        lines.append(f"Clean-clone `make reproduce` wall time, install and prefetch included "
                     f"(timed by the caller, `--reproduce-wall-s`): {wall / 60:.1f} min against "
                     f"a budget of {budget / 60:.0f} min: {verdict}.")
    return lines + [""] if lines else []


def render(records: list[dict], mode: str) -> str:
    commands = sorted({r.get("command", "") for r in records})
    lines = ["# Performance", "",
             "<!-- Generated by `make perf` (perf/report.py) from perf/results/*.json. "
             "Do not edit by hand. -->", "",
             f"Measured with `{'`, `'.join(commands)}` ({mode} mode) "
             f"{'without' if any('--no-lock' in c for c in commands) else 'under'} the shared "
             "CPU lock (the load averages below say what else ran). "
             "The variants named in `warmed_up` (those with caches to fill) ran once untimed, then "
             "all variants ran alternately (A, B, A, B, …); "
             "every figure is the median over the repeats, and every ratio compares two "
             "variants measured in the same run. cpu/wall is process CPU time over wall time: "
             "near the thread count when the cores were ours, lower under contention.", "",
             "## Machine", ""]
    lines += _machine(records)
    lines += ["## Summary", ""] + _summary(records)
    for r in records:
        bench, res = r["benchmark"], r["result"]
        heading = TITLES[bench] + (f" — {r['preset']}" if r.get("preset") else "")
        lines += [f"## {heading}", ""]
        if bench == "e2e":
            lines += _e2e(res)
            continue
        lines += [EXPLAIN[bench], "", "Parameters: " + ", ".join(
            f"{k} {v}" for k, v in res.items()
            if k not in ("variants", "ratios", "agreement", "target", "dtype_probe")), ""]
        lines += _variants(res) + ["Agreement:", ""] + _agreement(res)
        if "dtype_probe" in res:
            lines += [f"dtype probe: one policy forward+backward of "
                      f"{res['dtype_probe']['pairs']} pairs, fp32 vs bf16 weights:", ""]
            lines += _variants(res["dtype_probe"])
        lines += _profile(r)
    return "\n".join(lines).rstrip() + "\n"


def write_report(results_dir: Path, docs: Path, mode: str = "full") -> None:
    records = load_results(results_dir, mode)
    docs.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(docs, render(records, mode))
