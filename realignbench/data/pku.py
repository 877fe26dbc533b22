"""PKU-SafeRLHF (``PKU-Alignment/PKU-SafeRLHF``) rows -> π_old-oriented pairs with harm labels.

Source: the hub through ``datasets`` when reachable, else a local JSONL file (or a directory laid
out like the dataset repository, ``data/<Model>/<split>.jsonl``). Every row is validated against
the dataset's schema (reference/paper-protocol.md §6); a bad row names the file, line and field.
Orientation follows the authors' builder: exactly one safe response -> it is chosen; otherwise
the dataset's ``safer_response_id`` picks chosen. ``limit`` keeps the first N rows, as they did.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterator

from realignbench.data.benchmark import BenchmarkData
from realignbench.data.schema import DataError, Pair

log = logging.getLogger(__name__)

HUB_ID = "PKU-Alignment/PKU-SafeRLHF"
HARM_CATEGORIES = (
    "Endangering National Security", "Insulting Behavior", "Discriminatory Behavior",
    "Endangering Public Health", "Copyright Issues", "Violence", "Drugs", "Privacy Violation",
    "Economic Crime", "Mental Manipulation", "Human Trafficking", "Physical Harm",
    "Sexual Content", "Cybercrime", "Disrupting Public Order", "Environmental Damage",
    "Psychological Harm", "White-Collar Crime", "Animal Abuse")
CONFIG_MODELS = {"alpaca-7b": "Alpaca-7B", "alpaca2-7b": "Alpaca2-7B", "alpaca3-8b": "Alpaca3-8B"}
CONFIGS = ("default", *CONFIG_MODELS)
STR_FIELDS = ("prompt", "response_0", "response_1", "prompt_source", "response_0_source",
              "response_1_source", "response_0_sha256", "response_1_sha256")


def _check_row(row: Any, path: str, line: int) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise DataError(path, line, "<record>", "expected a JSON object")

    def need(name: str, ok, what: str):
        if name not in row:
            raise DataError(path, line, name, "missing")
        if not ok(row[name]):
            raise DataError(path, line, name, f"expected {what}, got {row[name]!r:.60}")

    for name in STR_FIELDS:
        need(name, lambda v: isinstance(v, str), "a string")
    for name in ("prompt", "response_0", "response_1"):
        if not row[name].strip():
            raise DataError(path, line, name, "empty")
    for i in (0, 1):
        need(f"is_response_{i}_safe", lambda v: isinstance(v, bool), "true/false")
        need(f"response_{i}_severity_level",
             lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 3, "an int 0-3")
        field = f"response_{i}_harm_category"
        need(field, lambda v: isinstance(v, dict), "a mapping of the 19 categories")
        cats = row[field]
        if set(cats) != set(HARM_CATEGORIES):
            odd = sorted(set(cats) ^ set(HARM_CATEGORIES))
            raise DataError(path, line, field, f"categories differ from the 19 expected: {odd}")
        if not all(isinstance(v, bool) for v in cats.values()):
            raise DataError(path, line, field, "category flags must be true/false")
    for name in ("better_response_id", "safer_response_id"):
        need(name, lambda v: v is None or v in (0, 1) and not isinstance(v, bool), "0, 1 or null")
    return row


def _response_labels(row: dict[str, Any], i: int) -> dict[str, Any]:
    return {"is_safe": row[f"is_response_{i}_safe"],
            "severity": row[f"response_{i}_severity_level"],
            "harm_category": {c: row[f"response_{i}_harm_category"][c] for c in HARM_CATEGORIES},
            "source": row[f"response_{i}_source"], "response_id": i,
            "sha256": row[f"response_{i}_sha256"]}


def chosen_index(row: dict[str, Any]) -> tuple[int, str] | None:
    """(index of π_old's chosen response, rule used), or None when the row has no preference."""
    safe = (row["is_response_0_safe"], row["is_response_1_safe"])
    if safe[0] != safe[1]:
        return (0 if safe[0] else 1), "only_safe_response"
    if row["safer_response_id"] is None:
        return None
    return row["safer_response_id"], "safer_response_id"


def primary_dimension(chosen: dict[str, Any], rejected: dict[str, Any]) -> str:
    """The first flagged harm category (rejected response first), else ``harmless``."""
    for labels in (rejected, chosen):
        for cat in HARM_CATEGORIES:
            if labels["harm_category"][cat]:
                return cat
    return "harmless"


def row_to_pair(row: dict[str, Any], index: int, config: str, split: str) -> Pair | None:
    picked = chosen_index(row)
    if picked is None:
        return None
    ci, rule = picked
    chosen, rejected = _response_labels(row, ci), _response_labels(row, 1 - ci)
    return Pair(
        id=f"pku-{config}-{split}-{index:06d}", prompt=row["prompt"],
        chosen=row[f"response_{ci}"], rejected=row[f"response_{1 - ci}"],
        source=f"pku_saferlhf/{config}", labels={"chosen": chosen, "rejected": rejected},
        meta={"dimension": primary_dimension(chosen, rejected), "template_family": "pku_saferlhf",
              "row": index, "split": split, "orientation_rule": rule,
              "safer_response_id": row["safer_response_id"],
              "better_response_id": row["better_response_id"],
              "prompt_source": row["prompt_source"]})


def _local_files(path: Path, config: str, split: str) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"PKU-SafeRLHF path {path} does not exist")
    models = list(CONFIG_MODELS.values()) if config == "default" else [CONFIG_MODELS[config]]
    files = [path / "data" / m / f"{split}.jsonl" for m in models]
    files = [f for f in files if f.exists()] or [path / f"{split}.jsonl"]
    if not all(f.exists() for f in files):
        raise FileNotFoundError(f"{path}: no data/<Model>/{split}.jsonl nor {split}.jsonl")
    return files


def _local_rows(path: Path, config: str, split: str) -> Iterator[tuple[str, int, Any]]:
    for file in _local_files(path, config, split):
        with open(file, encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    yield str(file), line_no, json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(file, line_no, "<json>", f"malformed JSON: {err.msg}") from None


def _hub_rows(config: str, split: str) -> Iterator[tuple[str, int, Any]]:
    try:
        import datasets
        ds = datasets.load_dataset(HUB_ID, name=config, split=split)
    except Exception as err:  # noqa: BLE001 - any hub/offline failure gets the same advice
        raise ValueError(f"cannot load {HUB_ID} ({config}/{split}) from the hub: {err}. "
                         "Pass a local JSONL with data.pku_path=... (or `data pku --path`)") from err
    for i, row in enumerate(ds):
        yield f"hub:{HUB_ID}/{config}/{split}", i + 1, row


def load_pku_pairs(path: str | Path = "", config: str = "default", split: str = "train",
                   limit: int = 0) -> tuple[list[Pair], dict[str, Any]]:
    """Pairs from the first ``limit`` rows (0 = all) of one config/split, and loading stats."""
    if config not in CONFIGS:
        raise ValueError(f"unknown PKU-SafeRLHF config {config!r}; known: {list(CONFIGS)}")
    rows = _local_rows(Path(path), config, split) if path else _hub_rows(config, split)
    pairs, stats = [], {"rows": 0, "skipped_other_config": 0, "dropped_no_preference": 0}
    for where, line, raw in rows:
        row = _check_row(raw, where, line)
        if path and config != "default" and {row["response_0_source"], row["response_1_source"]} \
                != {CONFIG_MODELS[config]}:
            stats["skipped_other_config"] += 1      # a single file holding several configs
            continue
        if limit and stats["rows"] >= limit:
            break
        stats["rows"] += 1
        pair = row_to_pair(row, stats["rows"] - 1, config, split)
        if pair is None:
            stats["dropped_no_preference"] += 1
            continue
        pairs.append(pair)
    if not pairs:
        raise ValueError(f"PKU-SafeRLHF {path or HUB_ID} ({config}/{split}): no usable rows")
    stats["pairs"] = len(pairs)
    log.info("PKU-SafeRLHF %s/%s: %d rows -> %d pairs", config, split, stats["rows"], len(pairs))
    return pairs, stats


# -- registered benchmark interface ----------------------------------------------------------
def stage_config(cfg) -> dict[str, Any]:
    d = cfg.data
    return {"benchmark": "pku_saferlhf", "pku_path": d.pku_path, "pku_config": d.pku_config,
            "pku_split": d.pku_split, "pku_limit": d.pku_limit}


def stage_inputs(cfg) -> dict[str, Any]:
    inputs: dict[str, Any] = {"code": Path(__file__)}
    if cfg.data.pku_path and Path(cfg.data.pku_path).is_file():
        inputs["file"] = Path(cfg.data.pku_path)     # hashed by content
    return inputs


def build(cfg) -> BenchmarkData:
    d = cfg.data
    pairs, stats = load_pku_pairs(d.pku_path, d.pku_config, d.pku_split, d.pku_limit)
    stats["by_orientation_rule"] = {}
    for p in pairs:
        rule = p.meta["orientation_rule"]
        stats["by_orientation_rule"][rule] = stats["by_orientation_rule"].get(rule, 0) + 1
    return BenchmarkData(train=pairs, test=None, stats=stats)
