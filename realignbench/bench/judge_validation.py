"""Stage ``judge_validation``: how often the free-text judge agrees with the exact labels.

For the offline embedding judge (``eval.judge=embedding``), measured on the held-out template
family only (the judge is trained on the others):
- ``agreement``: compliance verdicts under π_new on every response of the held-out test pairs
  (chosen, rejected, gold correction) vs the label oracle on their true labels — the number
  Table 1 reports, with ``agreement/<dimension>`` beside it and ``agreement_old`` under π_old;
- ``stance_accuracy``: predicted vs true stance on a stance-balanced held-out sample;
- ``echo_no_stance``: share of echoed held-out prompts the judge refuses to read as a stance.

For the LLM judge (``eval.judge=llm``, the paper presets), ``agreement`` is its compliance
verdict under π_new on the chosen and rejected responses of the held-out test pairs vs the label
oracle on their labels, per dimension beside it. On PKU-SafeRLHF the labels (19 harm categories
and a severity) decide only the category-level part of π_new, so this measures the judge on
that part; disagreements where a contextual exception of π_new applies are expected and are
kept as samples to read. No π_old pass: calls cost money. Where triage used the same LLM judge,
every verdict is already in the judge cache and validation makes no call.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from realignbench.stats import metric
from realignbench.oracle.verdict import JudgeItem
from realignbench.runs import Run, run_stage

SIDES = ("chosen", "rejected", "correction")


def _test_items(test_path) -> list[tuple[JudgeItem, dict]]:
    """Every response of the triaged held-out pairs, with its true labels."""
    from realignbench.data.schema import read_pairs
    out = []
    for pair in read_pairs(test_path):
        meta = {"dimension": pair.meta["dimension"], "context": pair.meta.get("context", "none")}
        for side in SIDES:
            text = getattr(pair, side) if side != "correction" else pair.correction
            if not text or (side == "correction" and "correction_stance" not in pair.meta):
                continue                        # a correction without labels cannot be scored
            if side == "correction":
                labels = {**meta, "stance": pair.meta["correction_stance"]}
            else:                               # PKU's labels carry no dimension: meta's
                labels = {**meta, **pair.labels[side]}
            out.append((JudgeItem(pair.prompt, text, None, meta),
                        {"pair_id": pair.id, "side": side, **labels}))
    return out


def _agreement(judge, label_oracle, rows, policy) -> tuple[list[int], list]:
    items = [it for it, _ in rows]
    truth = label_oracle.judge([JudgeItem(it.prompt, it.response, lab, it.meta)
                                for it, lab in rows], policy)
    if hasattr(judge, "judge_with_stances"):
        pred = judge.judge_with_stances(items, policy)
    else:                                       # the LLM judge reads no stance
        pred = [(v, None, None) for v in judge.judge(items, policy)]
    agree = [int(t.compliant == p.compliant) for t, (p, _, _) in zip(truth, pred)]
    return agree, list(zip(truth, pred))


def _by(values: list[int], keys: list[str], n_boot: int) -> dict[str, dict]:
    groups: dict[str, list[int]] = defaultdict(list)
    for v, k in zip(values, keys):
        groups[k].append(v)
    return {k: metric(v, n_boot=n_boot) for k, v in sorted(groups.items())}


def _stances(cfg, judge, nb: int) -> tuple[dict[str, dict], dict[str, int]]:
    """Stance accuracy on a stance-balanced held-out sample; echoed prompts -> no stance."""
    from realignbench.oracle.stance_probe import NO_STANCE
    from realignbench.synthvaluebench.generator import labelled_responses
    from realignbench.synthvaluebench.text import family_names
    held = labelled_responses(cfg.data.seed, family_names(held_out=True),
                              max(cfg.eval.judge_train_n // 2, 60))
    dims = [r.dimension for r in held]
    preds = judge.probe.predict(judge.embedder, dims, [r.text for r in held])
    ok = [int(p == r.stance) for r, (p, _) in zip(held, preds)]
    prompts = sorted({(r.dimension, r.prompt) for r in held})
    echo = judge.probe.predict(judge.embedder, [d for d, _ in prompts], [p for _, p in prompts])
    metrics = {"stance_accuracy": metric(ok, n_boot=nb),
               "echo_no_stance": metric([int(s == NO_STANCE) for s, _ in echo], n_boot=nb)}
    metrics.update({f"stance_accuracy/{k}": v for k, v in _by(ok, dims, nb).items()})
    confusion = Counter(f"{r.dimension}:{r.stance}->{p}" for r, (p, _) in zip(held, preds))
    return metrics, dict(sorted(confusion.items()))


def validate(cfg, judge, prepared) -> dict[str, Any]:
    """The measurements (also usable without a run directory, e.g. in tests)."""
    from realignbench.oracle.embedding_judge import JUDGE_VERSION
    from realignbench.oracle.label import LabelOracle
    from realignbench.synthvaluebench.text import family_names
    nb, oracle = cfg.eval.n_bootstrap, LabelOracle()
    rows = _test_items(prepared.test)
    agree_new, pairs_new = _agreement(judge, oracle, rows, prepared.policy_new)
    agree_old, _ = _agreement(judge, oracle, rows, prepared.policy_old)
    metrics = {"agreement": metric(agree_new, n_boot=nb),
               "agreement_old": metric(agree_old, n_boot=nb)}
    metrics.update({f"agreement/{k}": v for k, v in
                    _by(agree_new, [lab["dimension"] for _, lab in rows], nb).items()})
    stance_metrics, confusion = _stances(cfg, judge, nb)
    metrics.update(stance_metrics)
    samples = [{**lab, "prompt": it.prompt, "response": it.response,
                "label_compliant": t.compliant, "judge_compliant": v.compliant,
                "predicted_stance": s, "prob": p, "agree": a}
               for (it, lab), (t, (v, s, p)), a in zip(rows, pairs_new, agree_new)]
    target = cfg.eval.judge_target
    return {"metrics": metrics, "target": target,
            "meets_target": metrics["agreement"]["value"] >= target,
            "stance_confusion": confusion,
            "judge": {"id": judge.judge_id, "version": JUDGE_VERSION,
                      "trained_on": family_names(held_out=False),
                      "held_out": family_names(held_out=True), "train_n": cfg.eval.judge_train_n},
            "policies": {"new": prepared.policy_new.key, "old": prepared.policy_old.key},
            "_samples": samples}


def validate_llm(cfg, judge, prepared) -> dict[str, Any]:
    """The LLM judge's agreement with the label oracle under π_new (see the module text)."""
    from realignbench.oracle.label import LabelOracle
    from realignbench.oracle.verdict import UNPARSEABLE
    nb = cfg.eval.n_bootstrap
    rows = _test_items(prepared.test)
    agree, pairs = _agreement(judge, LabelOracle(), rows, prepared.policy_new)
    unparseable = [int(v.status == UNPARSEABLE) for _, (v, _, _) in pairs]
    metrics = {"agreement": metric(agree, n_boot=nb),
               "judge_unparseable": metric(unparseable, n_boot=nb)}
    metrics.update({f"agreement/{k}": v for k, v in
                    _by(agree, [lab["dimension"] for _, lab in rows], nb).items()})
    confusion = Counter(f"label {'compliant' if t.compliant else 'violates'} -> judge "
                        f"{'compliant' if v.compliant else 'violates'}" for t, (v, _, _) in pairs)
    samples = [{**{k: v for k, v in lab.items() if k != "harm_category"},
                "prompt": it.prompt, "response": it.response,
                "label_compliant": t.compliant, "label_violated": list(t.violated),
                "judge_compliant": v.compliant, "judge_verdict": v.to_dict(), "agree": a}
               for (it, lab), (t, (v, _, _)), a in zip(rows, pairs, agree)]
    target = cfg.eval.judge_target
    return {"metrics": metrics, "target": target,
            "meets_target": metrics["agreement"]["value"] >= target,
            "compliance_confusion": dict(sorted(confusion.items())),
            "judge": {"id": judge.judge_id, "scope": getattr(prepared.policy_new, "label_scope",
                                                             None)},
            "policies": {"new": prepared.policy_new.key}, "_samples": samples}


def _embedding_validation(cfg, prepared):
    """(config, inputs, work) for the embedding judge."""
    from realignbench.oracle.embedding_judge import EmbeddingJudge, probe_key
    from realignbench.runs import file_hash
    config = {"judge": cfg.eval.judge, "train_n": cfg.eval.judge_train_n, "seed": cfg.data.seed,
              "shift": cfg.data.shift, "target": cfg.eval.judge_target,
              "n_bootstrap": cfg.eval.n_bootstrap}
    inputs = {"test": file_hash(prepared.test),
              "probe": probe_key(cfg.data.seed, cfg.eval.judge_train_n, 4.0)}

    def work(run: Run) -> None:
        judge = EmbeddingJudge.from_config(cfg)
        out = validate(cfg, judge, prepared)
        run.write_samples(out.pop("_samples"))
        run.write_results({"subject": {"judge": judge.judge_id, "shift": cfg.data.shift,
                                       "seed": cfg.data.seed, "preset": cfg.preset},
                           **out,
                           "provenance": {"simulated": False, "judge": judge.judge_id,
                                          "suite_note": "held-out template family "
                                          f"{out['judge']['held_out']} vs exact labels"}})
    return config, inputs, work


def _llm_validation(cfg, prepared):
    """(config, inputs, work) for the LLM judge."""
    from realignbench.bench.tpa import make_judge
    from realignbench.runs import file_hash
    judge = make_judge(cfg)
    config = {"judge": judge.judge_id, "response_format": cfg.judge.response_format,
              "max_tokens": cfg.judge.max_tokens, "shift": cfg.data.shift,
              "target": cfg.eval.judge_target, "n_bootstrap": cfg.eval.n_bootstrap}
    inputs = {"test": file_hash(prepared.test)}

    def work(run: Run) -> None:
        out = validate_llm(cfg, judge, prepared)
        run.write_samples(out.pop("_samples"))
        usage = judge.write_usage(run)
        run.write_results({"subject": {"judge": judge.judge_id, "shift": cfg.data.shift,
                                       "seed": cfg.data.seed, "preset": cfg.preset},
                           **out, "judge_usage": usage,
                           "provenance": {"simulated": False, "judge": judge.judge_id,
                                          "suite_note": "held-out test pairs' chosen and "
                                          "rejected responses vs the label oracle under "
                                          f"{prepared.policy_new.key}"}})
    return config, inputs, work


VALIDATIONS = {"embedding": _embedding_validation, "llm": _llm_validation}


def judge_validation_stage(cfg, prepared=None) -> Run:
    """Run (or skip) the ``judge_validation`` stage for the configured free-text judge."""
    from realignbench.triage.stage import prepare_data
    if cfg.eval.judge not in VALIDATIONS:
        raise ValueError(f"judge_validation: eval.judge={cfg.eval.judge!r} has no validation "
                         f"against labels; known: {sorted(VALIDATIONS)}")
    prepared = prepared or prepare_data(cfg)
    config, inputs, work = VALIDATIONS[cfg.eval.judge](cfg, prepared)
    return run_stage("judge_validation", f"{cfg.data.benchmark}-{cfg.data.shift}", config,
                     inputs, work, runs_dir=cfg.runs_dir)
