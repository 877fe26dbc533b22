"""The pair record (DESIGN §3) and JSONL I/O that validates every line.

Storage orientation is always the original π_old one: ``chosen`` is what π_old preferred.
Triage adds ``category``, ``verdicts`` and, where available, ``correction``; methods derive
their own (preferred, dispreferred) from that and never pre-swap in files.

The reader also takes the ecosystem's standard preference format (TRL, Hugging Face datasets):
``{"prompt", "chosen", "rejected"}`` per line, each a string or a list of chat messages
(conversational), with ``id``, ``source`` and ``labels`` optional; docs/data.md gives the mapping.
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


DEFAULT_SOURCE = "user"


def _message_text(value: Any, role: str, path: Path | str, line: int, name: str) -> Any:
    """A conversational field (list of ``{"role", "content"}``) as the text of its one turn."""
    if not isinstance(value, list):
        return value
    if len(value) != 1:
        raise DataError(path, line, name, f"expected one {role} message, got {len(value)} "
                        "(multi-turn and system messages are not supported)")
    msg = value[0]
    if not isinstance(msg, dict) or msg.get("role") != role or not isinstance(
            msg.get("content"), str):
        raise DataError(path, line, f"{name}[0]",
                        f"expected {{'role': {role!r}, 'content': <string>}}, got {msg!r:.80}")
    return msg["content"]


def from_standard(obj: dict[str, Any], path: Path | str, line: int) -> dict[str, Any]:
    """Map a standard preference record to a pair record: messages become their text,
    ``id`` defaults to ``line-<n>``, ``source`` to ``user``, ``labels`` to ``{}``, and any other
    field is kept under ``meta``."""
    roles = {"prompt": "user", "chosen": "assistant", "rejected": "assistant"}
    out = {name: _message_text(obj[name], role, path, line, name)
           for name, role in roles.items() if name in obj}     # absent: "missing" below
    out.update(id=obj.get("id", f"line-{line}"), source=obj.get("source", DEFAULT_SOURCE),
               labels=obj.get("labels", {}))
    meta = dict(obj.get("meta", {})) if isinstance(obj.get("meta"), dict) else obj.get("meta")
    extra = {k: v for k, v in obj.items() if k not in REQUIRED and k not in OPTIONAL}
    if extra:
        meta = {**(meta or {}), **extra}
    rest = {k: v for k, v in obj.items() if k in OPTIONAL and k != "meta"}
    return {**out, **rest, **({"meta": meta} if meta is not None else {})}


def is_standard(obj: Any) -> bool:
    """A TRL / HF-style record: one without both of our ``source`` and ``labels``."""
    return isinstance(obj, dict) and not {"source", "labels"} <= set(obj)


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
    if obj["chosen"] == obj["rejected"]:      # no preference to learn; triage is undefined
        raise DataError(path, line, "rejected", "identical to 'chosen'")
    if "correction" in obj and not obj["correction"].strip():
        raise DataError(path, line, "correction", "empty")
    if "category" in obj and obj["category"] not in CATEGORIES:
        raise DataError(path, line, "category",
                        f"unknown category {obj['category']!r}; expected one of {CATEGORIES}")
    return Pair(**obj)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (write a number or null)")


def _parse_line(raw: bytes, path: Path, line_no: int) -> Any:
    try:
        text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
    except UnicodeDecodeError as err:
        raise DataError(path, line_no, "<encoding>",
                        f"invalid UTF-8 at byte {err.start} of the line") from None
    if not text.strip():
        return None
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as err:
        raise DataError(path, line_no, "<json>", f"malformed JSON: {err.msg}") from None
    except ValueError as err:                  # NaN / Infinity / -Infinity
        raise DataError(path, line_no, "<json>", str(err)) from None


def read_pairs(path: Path | str) -> list[Pair]:
    """Read and validate a pairs JSONL file (ours or the standard preference format); raise
    :class:`DataError` on the first bad line, or on a file without any pair."""
    path = Path(path)
    pairs: list[Pair] = []
    first_line: dict[str, int] = {}
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            obj = _parse_line(raw, path, line_no)
            if obj is None:
                continue
            if is_standard(obj):
                obj = from_standard(obj, path, line_no)
            pair = validate_record(obj, path, line_no)
            if pair.id in first_line:
                raise DataError(path, line_no, "id",
                                f"duplicate id {pair.id!r} (first on line {first_line[pair.id]})")
            first_line[pair.id] = line_no
            pairs.append(pair)
    if not pairs:
        raise DataError(path, 1, "<file>", "no pairs (the file is empty)")
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
