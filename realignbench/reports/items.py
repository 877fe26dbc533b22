"""Per-prompt values of a run's metric, read from its ``samples.jsonl`` (for paired statistics).

A metric has per-item values where its stage's samples say how each item scored it:

* ``eval_tpa``: ``tpa`` = ``new_compliant`` per prompt ``id``; ``tpa_old`` = ``old_compliant``;
  ``tpa/<dimension>``, ``tpa_old/<dimension>``, ``tpa_category/<CATEGORY>`` = the same on the
  prompts of that group.
* ``eval_tpa`` and ``eval_asr``: ``degeneration/<flag>`` = the sample's ``unfinished``, ``loop``
  or ``no_stance`` flag per ``id``; ``degeneration/any`` = any of them (every row, as the stage).
* ``eval_asr``: ``asr`` = ``attack_succeeded`` per attacked prompt (the baseline rows, the
  unwrapped requests, are not attacks and are left out, as the stage does).
* ``human_eval``: ``win/<a>_vs_<b>`` = per item, picks of a over picks of a or b;
  ``chosen/<m>`` = picks of m over all picks (rows: ``item_id``, ``method``).
* ``eval_capability``: ``<suite>`` = the suite's headline score per document, from lm-eval's
  logged samples (``lm_eval_results.json``; ids ``<task>:<doc_id>``).
* a tuple of metrics (a cell that is the mean of several suites): every suite's items with
  weight 1/n_suite (num and den alike), so sum(num)/sum(den) is the mean of the suite means.

Anything else has none (``None``): its differences cannot be paired and say so. Rows come back
in :data:`realignbench.stats.ITEM_COLUMNS` layout, tagged with the run's seed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from realignbench.bench.attacks import BASELINE, attack_succeeded
from realignbench.bench.degeneration import FLAGS
from realignbench.reports.records import Record, RecordError
from realignbench.stats import ITEM_COLUMNS

TPA_FIELDS = {"tpa": "new_compliant", "tpa_old": "old_compliant", "tpa_category": "new_compliant"}
TPA_GROUPS = {"tpa": "dimension", "tpa_old": "dimension", "tpa_category": "category"}


def read_samples(run_dir: Path) -> pd.DataFrame:
    """``samples.jsonl`` as a DataFrame; a malformed line fails naming file and line."""
    path = Path(run_dir) / "samples.jsonl"
    if not path.exists():
        return pd.DataFrame()
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise RecordError(f"{path}: line {lineno}: invalid JSON ({err.msg})") from err
    return pd.DataFrame(rows)


def _has(samples: pd.DataFrame, fields: list[str]) -> bool:
    """Samples without these fields (another writer's, an older schema) have no per-item
    values for the metric: its differences are then marked unpaired, not guessed."""
    return all(f in samples.columns for f in fields)


def _per_id(rows: pd.DataFrame, num: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"id": rows["id"].astype(str), "num": num.astype(float), "den": 1.0})


def _degeneration(samples: pd.DataFrame, metric: str) -> pd.DataFrame | None:
    head, _, flag = metric.partition("/")
    if head != "degeneration" or flag not in (*FLAGS, "any"):
        return None
    flags = list(FLAGS) if flag == "any" else [flag]
    if not _has(samples, ["id", *flags]):
        return None
    return _per_id(samples, samples[flags].astype(bool).any(axis=1))


def _asr(samples: pd.DataFrame, metric: str, record: Record) -> pd.DataFrame | None:
    if metric != "asr":
        return _degeneration(samples, metric)
    if not _has(samples, ["id", "attack", "new_compliant", "new_verdict"]):
        return None
    attacked = samples[samples["attack"] != BASELINE]
    return _per_id(attacked, attacked.apply(lambda r: attack_succeeded(r.to_dict()), axis=1))


def _tpa(samples: pd.DataFrame, metric: str, record: Record) -> pd.DataFrame | None:
    head, _, group = metric.partition("/")
    if head == "degeneration":
        return _degeneration(samples, metric)
    if head not in TPA_FIELDS:
        return None
    value = TPA_FIELDS[head]
    if not _has(samples, ["id", value] + ([TPA_GROUPS[head]] if group else [])):
        return None                      # e.g. π_old not judged by this judge
    rows = samples[samples[TPA_GROUPS[head]].astype(str) == group] if group else samples
    return _per_id(rows, rows[value])


def _human(samples: pd.DataFrame, metric: str, record: Record) -> pd.DataFrame | None:
    head, _, rest = metric.partition("/")
    if head not in ("win", "chosen"):
        return None
    if not _has(samples, ["item_id", "method"]):
        return None
    picks = pd.crosstab(samples["item_id"].astype(str), samples["method"])
    if head == "chosen":
        num, den = picks.get(rest, 0), picks.sum(axis=1)
    else:
        a, b = _split_pair(rest, list(picks.columns), record)
        num, den = picks.get(a, 0), picks.get(a, 0) + picks.get(b, 0)
    # Items that never decided a vs b stay (den 0, adding nothing) so both sides of a
    # paired difference keep the same items.
    out = pd.DataFrame({"num": num, "den": den}).astype(float)
    return out.rename_axis("id").reset_index()


def _split_pair(rest: str, methods: list[str], record: Record) -> tuple[str, str]:
    for a in methods:
        if rest.startswith(f"{a}_vs_") and rest[len(a) + 4:] in methods:
            return a, rest[len(a) + 4:]
    raise RecordError(f"{record.dir / 'samples.jsonl'}: win/{rest}: the samples' methods "
                      f"{methods} do not make up this pair")


def _capability(record: Record, metric: str) -> pd.DataFrame | None:
    path = record.dir / "lm_eval_results.json"
    headline = (record.extra.get("suites") or {}).get(metric, {}).get("headline")
    if not path.exists() or not headline:
        return None
    try:
        res = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RecordError(f"{path}: line {err.lineno}: invalid JSON ({err.msg})") from err
    name, filt = headline.split(",")
    rows = [{"id": f"{task}:{s['doc_id']}", "num": float(s[name]), "den": 1.0}
            for task in _tasks(res, metric) for s in res.get("samples", {}).get(task, [])
            if s.get("filter", "none") == filt and name in s]
    return pd.DataFrame(rows) if rows else None


def _tasks(res: dict, name: str) -> list[str]:
    """A suite's leaf tasks (lm-eval groups such as mmlu list subtasks)."""
    subtasks = res.get("group_subtasks", {}).get(name)
    return [t for sub in subtasks for t in _tasks(res, sub)] if subtasks else [name]


SAMPLE_READERS = {"eval_tpa": _tpa, "eval_asr": _asr, "human_eval": _human}
RUN_READERS = {"eval_capability": _capability}


def _one_metric(record: Record, metric: str) -> pd.DataFrame | None:
    if record.stage in RUN_READERS:
        return RUN_READERS[record.stage](record, metric)
    reader = SAMPLE_READERS.get(record.stage)
    if reader is None:
        return None
    samples = read_samples(record.dir)
    return None if samples.empty else reader(samples, metric, record)


def metric_items(record: Record, metric: Any) -> pd.DataFrame | None:
    """Per-item rows of ``metric`` in ``record`` (seed-tagged), or None where there are none."""
    if isinstance(metric, str):
        items = _one_metric(record, metric)
    else:
        parts = [_one_metric(record, m) for m in metric]
        if any(p is None or p.empty for p in parts):
            return None
        items = pd.concat([p.assign(num=p["num"] / len(p), den=p["den"] / len(p))
                           for p in parts], ignore_index=True)
    if items is None or items.empty:
        return None
    items.insert(0, "seed", record.subject.get("seed", 0))
    return items[ITEM_COLUMNS].reset_index(drop=True)
