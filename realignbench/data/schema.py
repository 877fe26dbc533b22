"""The pair record (DESIGN §3) and JSONL I/O that validates every line.

Storage orientation is always the original π_old one: ``chosen`` is what π_old preferred.
Triage adds ``category``, ``verdicts`` and, where available, ``correction``; methods derive
their own (preferred, dispreferred) from that and never pre-swap in files.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from realignbench.runs import atomic_path

CATEGORIES = ("INVERT", "PUNISH", "RETAIN")
REQUIRED = {"id": str, "prompt": str, "chosen": str, "rejected": str, "source": str,
            "labels": dict}
OPTIONAL = {"category": str, "verdicts": dict, "correction": str, "meta": dict}


class DataError(ValueError):
    """Bad input data; ``str()`` names the file, the line and the field."""

    def __init__(self, path: Path | str, line: int, field_name: str, message: str):
        self.path, self.line, self.field = str(path), line, field_name
        super().__init__(f"{path}:{line}: field {field_name!r}: {message}")


@dataclass
class Pair:
    id: str
    prompt: str
    chosen: str                      # preferred under π_old
    rejected: str
    source: str                      # e.g. "synthvaluebench/default" or "pku_saferlhf/default"
    labels: dict[str, Any]           # {"chosen": {...}, "rejected": {...}} structured annotations
    category: str | None = None      # INVERT | PUNISH | RETAIN, set by triage
    verdicts: dict[str, Any] | None = None   # {"chosen": Verdict-dict, "rejected": ...}
    correction: str | None = None    # a π_new-compliant response, where one exists
    meta: dict[str, Any] = field(default_factory=dict)   # dimension, template family, …

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def validate_record(obj: Any, path: Path | str, line: int) -> Pair:
    if not isinstance(obj, dict):
        raise DataError(path, line, "<record>", f"expected a JSON object, got {type(obj).__name__}")
    for name, tp in REQUIRED.items():
        if name not in obj:
            raise DataError(path, line, name, "missing")
    unknown = sorted(set(obj) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise DataError(path, line, unknown[0], "unknown field")
    for name, tp in {**REQUIRED, **OPTIONAL}.items():
        if name in obj and not isinstance(obj[name], tp):
            raise DataError(path, line, name,
                            f"expected {tp.__name__}, got {type(obj[name]).__name__}")
    for name in ("id", "prompt", "chosen", "rejected"):
        if not obj[name].strip():
            raise DataError(path, line, name, "empty")
    if "correction" in obj and not obj["correction"].strip():
        raise DataError(path, line, "correction", "empty")
    if "category" in obj and obj["category"] not in CATEGORIES:
        raise DataError(path, line, "category",
                        f"unknown category {obj['category']!r}; expected one of {CATEGORIES}")
    return Pair(**obj)


def read_pairs(path: Path | str) -> list[Pair]:
    """Read and validate a pairs JSONL file; raise :class:`DataError` on the first bad line."""
    path = Path(path)
    pairs: list[Pair] = []
    first_line: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(path, line_no, "<json>", f"malformed JSON: {err.msg}") from None
            pair = validate_record(obj, path, line_no)
            if pair.id in first_line:
                raise DataError(path, line_no, "id",
                                f"duplicate id {pair.id!r} (first on line {first_line[pair.id]})")
            first_line[pair.id] = line_no
            pairs.append(pair)
    return pairs


def write_pairs(path: Path | str, pairs: Iterable[Pair]) -> None:
    """Validate every pair, then write atomically: a failure leaves no file half-written."""
    rows, seen = [], set()
    for i, pair in enumerate(pairs, start=1):
        row = pair.to_dict()
        validate_record(row, path, i)
        if pair.id in seen:
            raise DataError(path, i, "id", f"duplicate id {pair.id!r}")
        seen.add(pair.id)
        rows.append(json.dumps(row, ensure_ascii=False, sort_keys=True))
    with atomic_path(path) as tmp:
        tmp.write_text("".join(r + "\n" for r in rows), encoding="utf-8")
