"""Stage ``eval_tpa``: Target Policy Agreement of generated answers, plus likelihood TPA.

Greedy answers to the held-out test prompts (each pair's prompt, chat template, one user turn)
are judged by the free-text judge (``eval.judge``; never the model under test) under π_new —
``tpa``, per dimension ``tpa/<dim>``, per triage category ``tpa_category/<CAT>`` — and, where
judging is free, under π_old (``tpa_old``: the check that M_ref follows π_old). Bootstrap 95%
CIs over prompts. Every test prompt by default (``eval.tpa_n_prompts`` = 0). Answers run to
end-of-turn under a cap set from the measured length of the benchmark's reference answers
(bench/answer_cap.py; the measurement and the cap are in ``answer_cap``), and each record
carries degeneration figures (``degeneration/*``: cap reached, n-gram loops, no stance;
bench/degeneration.py). Generations and verdicts are saved per sample; a killed run resumes
from the last saved generation. The likelihood form (bench/likelihood_tpa.py) is reported
beside it.
"""
from __future__ import annotations

import functools
import logging
import random
from collections import Counter, defaultdict
from typing import Any

from realignbench.bench.answer_cap import answer_cap
from realignbench.bench.degeneration import degeneration_metrics, flag_rows
from realignbench.bench.generate import generate_into
from realignbench.stats import metric
from realignbench.bench.subject import Subject
from realignbench.oracle.verdict import JudgeItem
from realignbench.registry import ORACLES
from realignbench.runs import Run, file_hash, run_stage

log = logging.getLogger(__name__)


def make_judge(cfg):
    cls = ORACLES.get(cfg.eval.judge).load()
    if cfg.eval.judge == "label":
        raise ValueError("eval.judge=label cannot judge generated text (it has no labels); "
                         "use 'embedding' (offline) or 'llm'")
    return cls.from_config(cfg) if hasattr(cls, "from_config") else cls()


def judge_rows(judge, rows: list[dict], policy, prefix: str) -> None:
    """Add ``<prefix>_compliant`` / ``<prefix>_verdict`` (and the predicted stance) to rows."""
    items = [JudgeItem(r["prompt"], r["response"], None,
                       {"dimension": r["dimension"], "context": r["context"]}) for r in rows]
    if hasattr(judge, "judge_with_stances"):
        out = judge.judge_with_stances(items, policy)
    else:
        out = [(v, None, None) for v in judge.judge(items, policy)]
    for r, (v, stance, prob) in zip(rows, out):
        r[f"{prefix}_compliant"] = bool(v.compliant)
        r[f"{prefix}_verdict"] = v.to_dict()
        if stance is not None:
            r["stance"], r["stance_prob"] = stance, prob


def grouped(rows: list[dict], value_key: str, group_key: str, prefix: str,
            n_boot: int) -> dict[str, dict]:
    groups: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        groups[str(r[group_key])].append(float(r[value_key]))
    return {f"{prefix}/{g}": metric(v, n_boot=n_boot) for g, v in sorted(groups.items())}


def tpa_metrics(rows: list[dict], n_boot: int, with_old: bool) -> dict[str, dict]:
    m = {"tpa": metric([r["new_compliant"] for r in rows], n_boot=n_boot)}
    m.update(grouped(rows, "new_compliant", "dimension", "tpa", n_boot))
    m.update(grouped(rows, "new_compliant", "category", "tpa_category", n_boot))
    if with_old:
        m["tpa_old"] = metric([r["old_compliant"] for r in rows], n_boot=n_boot)
        m.update(grouped(rows, "old_compliant", "dimension", "tpa_old", n_boot))
    return m


def tpa_items(test_path, n: int = 0, seed: int = 0) -> list[dict[str, Any]]:
    """One item per held-out pair; ``n`` > 0 keeps a seeded sample (the same for every model)."""
    from realignbench.data.schema import read_pairs
    items = [{"id": p.id, "input": p.prompt, "prompt": p.prompt,
              "dimension": p.meta.get("dimension", ""), "context": p.meta.get("context", "none"),
              "category": p.category} for p in read_pairs(test_path)]
    if 0 < n < len(items):
        keep = set(random.Random(f"tpa:{seed}").sample(range(len(items)), n))
        items = [it for i, it in enumerate(items) if i in keep]
    return items


def generation_settings(cfg) -> dict[str, Any]:
    """What decides a judged answer's length and its degeneration flags (hashed into runs)."""
    e = cfg.eval
    return {"max_new_tokens": e.max_new_tokens, "answer_cap_margin": e.answer_cap_margin,
            "answer_cap_check": e.answer_cap_check, "loop": [e.loop_ngram, e.loop_min_repeats]}


def generate_capped(run: Run, cfg, subject: Subject, reference_path,
                    items: list[dict]) -> tuple[list[dict], dict]:
    """Generate under the cap measured (with the subject's tokenizer) on the reference answers
    of the pairs at ``reference_path``; the rows and the cap record. The model is loaded once."""
    from realignbench.data.schema import read_pairs
    load = functools.cache(lambda: subject.load(cfg, merge=True))
    cap = answer_cap(cfg, load()[1], read_pairs(reference_path))
    return generate_into(run, cfg, load, items, cap["tokens"]), cap


def _likelihood(cfg, subject: Subject, test_path) -> tuple[dict[str, Any], str | None]:
    """Likelihood TPA (training subsystem's ``eval_likelihood_tpa`` stage, reused when it has
    already run for this model and test set) and the run directory it came from."""
    if not cfg.eval.tpa_likelihood:
        return {}, None
    from realignbench.bench.likelihood_tpa import likelihood_tpa_stage
    run = likelihood_tpa_stage(cfg, subject.run_dir or subject.model_spec, test_path)
    return dict(run.results()["metrics"]), str(run.dir)


def tpa_stage(cfg, subject: Subject, prepared=None, judge=None, split: str = "test") -> Run:
    """Run (or skip) ``eval_tpa`` for ``subject`` on the held-out test split of ``cfg`` — or,
    with ``split="val"``, on the validation prompts (tuning; never the test file, no
    likelihood TPA)."""
    from realignbench.triage.stage import prepare_data
    prepared = prepared or prepare_data(cfg)
    judge = judge or make_judge(cfg)
    if split not in ("test", "val"):
        raise ValueError(f"tpa_stage: split {split!r} is not test|val")
    if split == "val" and prepared.val is None:
        raise ValueError("tpa_stage: no validation split; set data.n_val > 0")
    prompts = prepared.test if split == "test" else prepared.val
    likelihood_on = cfg.eval.tpa_likelihood and split == "test"
    config = {**generation_settings(cfg), "judge": judge.judge_id,
              "dtype": cfg.model.dtype, "max_prompt_tokens": cfg.model.max_prompt_tokens,
              "backend": cfg.model.generation_backend, "n_bootstrap": cfg.eval.n_bootstrap,
              "n_prompts": cfg.eval.tpa_n_prompts, "seed": cfg.seeds[0],
              "likelihood": likelihood_on,
              "policies": [prepared.policy_new.key, prepared.policy_old.key]}
    inputs = {split: file_hash(prompts), "model": subject.identity}
    if split != "test":                  # test runs keep the keys they had before splits
        config["split"] = split
    with_old = getattr(judge, "check_old_policy", True)

    def work(run: Run) -> None:
        items = tpa_items(prompts, cfg.eval.tpa_n_prompts if split == "test" else 0,
                          cfg.seeds[0])
        # The cap is measured on the split's own reference answers (tuning never reads test).
        rows, cap = generate_capped(run, cfg, subject, prompts, items)
        judge_rows(judge, rows, prepared.policy_new, "new")
        if with_old:
            judge_rows(judge, rows, prepared.policy_old, "old")
        flag_rows(rows, cfg.eval.loop_ngram, cfg.eval.loop_min_repeats)
        metrics = tpa_metrics(rows, cfg.eval.n_bootstrap, with_old)
        metrics.update(degeneration_metrics(rows))
        likelihood, likelihood_run = (_likelihood(cfg, subject, prepared.test) if likelihood_on
                                      else ({}, None))
        metrics.update(likelihood)
        stances = Counter(f"{r['dimension']}:{r.get('stance', '?')}" for r in rows)
        run.write_samples(rows)
        run.write_results({
            "subject": {**subject.record, "shift": prepared.shift.name},
            "split": split,
            "metrics": metrics,
            "stances": dict(sorted(stances.items())),
            "unfinished_generations": sum(not r["finished"] for r in rows),
            "answer_cap": cap,
            "likelihood_tpa_run": likelihood_run,
            "provenance": {"simulated": False, "judge": judge.judge_id, **subject.provenance,
                           "policies": {"new": prepared.policy_new.key,
                                        "old": prepared.policy_old.key},
                           "suite_note": ("held-out template family test prompts"
                                          if split == "test" else
                                          "validation prompts (training families)")
                                         + f", greedy, to end-of-turn, cap {cap['tokens']} "
                                           f"tokens ({cap['source']})"}})
        log.info("TPA %s: pi_new %.3f%s", subject.name, metrics["tpa"]["value"],
                 f", pi_old {metrics['tpa_old']['value']:.3f}" if with_old else "")

    name = subject.name if split == "test" else f"{subject.name}-{split}"
    return run_stage("eval_tpa", name, config, inputs, work, runs_dir=cfg.runs_dir)
