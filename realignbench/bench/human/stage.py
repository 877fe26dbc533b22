"""The ``human_eval`` stage: ingest annotations (human or simulated) into a run record.

``results.json`` follows the evaluation-records contract: ``subject``, ``metrics`` (records
``{"value", "ci", "n"}`` named ``win/<a>_vs_<b>``, ``chosen/<m>``, ``alpha``,
``alpha/<a>_vs_<b>``, ``alpha/<m>``), ``provenance`` (``simulated``, ``judge``, ...), plus
``annotators`` counts and a ``caption`` that says "SIMULATED" whenever the panel was.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Mapping, Sequence

from realignbench.bench.human.agreement import alpha_metrics
from realignbench.bench.human.annotations import (
    Annotation, load_annotations, to_row, unblind, validate)
from realignbench.bench.human.export import build_study, load_method_generations
from realignbench.bench.human.simulate import PanelSpec, simulate_panel
from realignbench.bench.human.study import Study, StudyError, StudyKeys, read_keys, read_study
from realignbench.bench.human.study import write_study
from realignbench.bench.human.winrates import win_metrics
from realignbench.runs import (
    Run, atomic_write_json, atomic_write_text, cache_root, content_hash, file_hash,
    portable_config, read_jsonl, run_stage)

log = logging.getLogger("realignbench")

WIN_RATE_NOTE = ("win(a vs b) = picks of a / picks of a or b (annotations that picked a third "
                 "response are left out); 95% CIs by bootstrap over items; Krippendorff's "
                 "alpha at the nominal level on the picked method")
SIMULATED_NOTE = ("; SIMULATED: judges follow the policy oracle's verdicts and break ties "
                  "uniformly at random, so alpha measures the simulation rule, not human "
                  "agreement, and is not comparable with the paper's")


def annotator_counts(annotations: Sequence[Annotation], study: Study) -> dict:
    per_annotator = Counter(a.annotator_id for a in annotations)
    per_item = Counter(a.item_id for a in annotations)
    return {"n_annotators": len(per_annotator), "n_annotations": len(annotations),
            "n_items": len(study.items), "items_annotated": len(per_item),
            "items_with_2plus": sum(1 for n in per_item.values() if n >= 2),
            "per_annotator": dict(sorted(per_annotator.items()))}


def summarize(study: Study, keys: StudyKeys, annotations: Sequence[Annotation],
              n_boot: int = 1000, seed: int = 0) -> dict:
    """Metrics and annotator counts from validated annotations."""
    choices = unblind(annotations, keys)
    metrics = win_metrics(choices, keys.methods, n_boot, seed)
    metrics.update(alpha_metrics(choices, keys.methods, n_boot, seed))
    return {"metrics": metrics, "annotators": annotator_counts(annotations, study)}


def caption(keys: StudyKeys, counts: dict, panel: PanelSpec | None) -> str:
    n = counts["n_annotators"]
    who = panel.caption() if panel else f"{n} human annotator{'' if n == 1 else 's'}."
    return (f"{'SIMULATED ' if panel else ''}Human preference evaluation: best of "
            f"{len(keys.methods)} blinded responses ({', '.join(keys.methods)}) under the new "
            f"policy, {counts['items_annotated']} prompts, win rates vs {keys.baseline}. {who}")


def _record(cfg, study: Study, keys: StudyKeys, annotations: Sequence[Annotation],
            panel: PanelSpec | None, train_seed: int) -> dict:
    summary = summarize(study, keys, annotations, cfg.eval.n_bootstrap, cfg.eval.human_seed)
    judge = panel.judge_id if panel else f"human-panel(n={summary['annotators']['n_annotators']})"
    return {
        "subject": {"methods": keys.methods, "baseline": keys.baseline, "preset": cfg.preset,
                    "seed": train_seed, "shift": cfg.data.shift, "benchmark": cfg.data.benchmark,
                    "study_id": study.study_id, "policy": study.policy_id},
        **summary,
        "provenance": {"simulated": panel is not None, "judge": judge,
                       "nll_weight": cfg.train.nll_weight, "shuffle_seed": keys.seed,
                       "suite_note": WIN_RATE_NOTE + (SIMULATED_NOTE if panel else "")},
        "caption": caption(keys, summary["annotators"], panel),
    }


def _samples(annotations: Sequence[Annotation], keys: StudyKeys, simulated: bool) -> list[dict]:
    return [{**to_row(a, keys.study_id), "method": keys.method_of(a.item_id, a.choice_key),
             "source": a.source, "simulated": simulated} for a in annotations]


def human_eval_stage(cfg, triplets: Path | str, keys_path: Path | str,
                     annotation_files: Sequence[Path | str], runs_dir: Path | str | None = None,
                     force: bool = False, train_seed: int | None = None) -> Run:
    """Validate real annotators' files against the study and write the human_eval record.

    ``train_seed`` (default: the config's first seed) is the training seed of the models whose
    answers the study compares: the record's subject seed, as for every trained model's record
    (the shuffle seed is in keys.json and the provenance)."""
    train_seed = _train_seed(cfg, train_seed)
    study = read_study(triplets)
    keys = read_keys(keys_path, study)
    annotations = load_annotations(annotation_files, study)    # fail before any run dir exists

    def work(run: Run) -> None:
        run.write_samples(_samples(annotations, keys, simulated=False))
        run.write_results(_record(cfg, study, keys, annotations, None, train_seed))

    inputs = {"triplets": Path(triplets), "keys": Path(keys_path),
              "annotations": [Path(p) for p in annotation_files], "train_seed": train_seed}
    return run_stage("human_eval", f"{cfg.preset}-human", portable_config(cfg.to_dict()), inputs,
                     work,
                     runs_dir=runs_dir or cfg.runs_dir, force=force)


def _train_seed(cfg, train_seed: int | None) -> int:
    return int(train_seed if train_seed is not None else (list(cfg.seeds) or [0])[0])


def tpa_generations(tpa_runs: Sequence[Run]) -> dict[str, Path]:
    """``{method: generations file}`` for a study, derived from completed TPA runs.

    A completed run is never written to again, so each view goes to a content-addressed cache
    outside the runs directory; the human_eval key hashes the file by content, so where the
    view lives does not change the key.
    """
    out = {}
    for run in tpa_runs:
        rows = ({"prompt_id": r["id"], "prompt": r["prompt"], "text": r["response"],
                 "compliant": r["new_compliant"]} for r in read_jsonl(run.path("samples.jsonl")))
        text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
        path = cache_root() / "human_eval_inputs" / f"{content_hash(text)[:24]}.jsonl"
        if not path.exists():
            atomic_write_text(path, text)
        out[run.results()["subject"]["method"]] = path
    return out


def simulated_human_eval_stage(cfg, generations: Mapping[str, Path | str], policy_text: str,
                               policy_id: str = "", runs_dir: Path | str | None = None,
                               force: bool = False, train_seed: int | None = None) -> Run:
    """Blind the methods' generations, let a simulated panel pick, ingest it like real files.

    Each generation row must carry the policy oracle's verdict (``compliant`` or
    ``verdict.compliant``); the record, samples and caption all say "simulated".
    ``train_seed`` as for ``human_eval_stage``: the pipeline runs one panel per training seed.
    """
    train_seed = _train_seed(cfg, train_seed)
    ev = cfg.eval
    paths = {m: Path(generations[m]) for m in ev.human_methods if m in generations}
    if len(paths) != len(ev.human_methods):
        raise StudyError(f"simulated human eval: generations for {sorted(generations)}, "
                         f"config eval.human_methods wants {ev.human_methods}")
    gens = load_method_generations(paths)
    compliance = {m: {pid: g.compliant for pid, g in rows.items()} for m, rows in gens.items()}
    panel = PanelSpec(ev.human_sim_judges, ev.human_sim_accuracy, ev.human_seed)
    sources = {m: {"path": str(p), "sha256": file_hash(p)} for m, p in paths.items()}
    study, keys = build_study(gens, policy_text, baseline=ev.human_baseline, seed=ev.human_seed,
                              n_items=ev.human_n_items, policy_id=policy_id, sources=sources)
    rows = simulate_panel(study, keys, compliance, panel)

    def work(run: Run) -> None:
        write_study(run.dir, study, keys)
        atomic_write_json(run.path("annotations.simulated.json"),
                          {"format": "realignbench-annotations/1", "study_id": study.study_id,
                           "simulated": True, "judge": panel.judge_id, "annotations": rows})
        annotations = validate([(f"simulated panel: row {i}", r) for i, r in
                                enumerate(rows, 1)], study)
        run.write_samples(_samples(annotations, keys, simulated=True))
        run.write_results(_record(cfg, study, keys, annotations, panel, train_seed))
        log.info("human_eval: %s", run.results()["caption"])

    inputs = {"generations": paths, "policy_text_sha256": content_hash(policy_text),
              "panel": panel.judge_id, "train_seed": train_seed}
    return run_stage("human_eval", f"{cfg.preset}-simulated", portable_config(cfg.to_dict()),
                     inputs, work,
                     runs_dir=runs_dir or cfg.runs_dir, force=force)
