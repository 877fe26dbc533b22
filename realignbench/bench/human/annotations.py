"""Reading and validating annotation files (the page's JSON or CSV export, or a panel's).

An annotation is one annotator's pick for one item: ``choice`` is the 1-based display position
and ``choice_key`` the opaque key of the picked response (either is enough; if both are given
they must agree). Every problem is reported with the file and the 1-based row it came from,
and all problems of a batch are reported together so a lab fixes them in one pass.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from realignbench.bench.human.study import Study, StudyKeys

ANNOTATIONS_FORMAT = "realignbench-annotations/1"
CSV_FIELDS = ["study_id", "item_id", "annotator_id", "choice", "choice_key", "timestamp"]
MAX_REPORTED = 25


class AnnotationError(ValueError):
    """Bad annotation rows; the message lists each as ``file: row N: problem``."""


@dataclass(frozen=True)
class Annotation:
    item_id: str
    annotator_id: str
    choice: int              # 1-based position in the item's displayed order
    choice_key: str
    source: str              # "file: row N", for error messages and samples


@dataclass(frozen=True)
class Choice:
    """An annotation with the method un-blinded through the key file."""
    item_id: str
    annotator_id: str
    method: str


def _rows_from_json(path: Path) -> tuple[list[tuple[str, dict]], str | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise AnnotationError(f"{path}: not valid JSON ({err})") from None
    study_id = None
    if isinstance(data, dict):
        if data.get("format") not in (None, ANNOTATIONS_FORMAT):
            raise AnnotationError(f"{path}: format is {data.get('format')!r}, "
                                  f"expected {ANNOTATIONS_FORMAT!r}")
        study_id, data = data.get("study_id"), data.get("annotations")
    if not isinstance(data, list):
        raise AnnotationError(f"{path}: expected a list of annotations "
                              "(or an object with an 'annotations' list)")
    return [(f"{path}: row {i}", r) for i, r in enumerate(data, 1)], study_id


def _rows_from_csv(path: Path) -> list[tuple[str, dict]]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"item_id", "annotator_id"} - set(reader.fieldnames or [])
        if missing:
            raise AnnotationError(f"{path}: CSV header lacks {sorted(missing)}")
        # Row N is the N-th data row; the header is line 1, so it sits on line N + 1.
        return [(f"{path}: row {i} (line {reader.line_num})", dict(r))
                for i, r in enumerate(reader, 1)]


def read_rows(path: Path | str) -> list[tuple[str, dict]]:
    """(where, raw row) for every annotation in a .json or .csv file."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: annotation file not found")
    if path.suffix.lower() == ".csv":
        return _rows_from_csv(path)
    rows, study_id = _rows_from_json(path)
    if study_id is not None:      # a file-level study id applies to rows that lack one
        rows = [(w, {"study_id": study_id, **r} if isinstance(r, dict) else r) for w, r in rows]
    return rows


def _parse_choice(raw, n: int) -> int | str:
    """The 1-based choice, or an error message."""
    if isinstance(raw, bool) or raw is None or raw == "":
        return "missing choice"
    try:
        value = int(str(raw).strip())
    except ValueError:
        return f"choice {raw!r} is not a whole number"
    if not 1 <= value <= n:
        return f"choice {value} out of range 1..{n}"
    return value


def _check_row(where: str, row, study: Study, items: dict) -> Annotation | str:
    if not isinstance(row, dict):
        return f"{where}: expected an object, got {type(row).__name__}"
    sid = str(row.get("study_id") or "").strip()
    if sid and sid != study.study_id:
        return f"{where}: study_id {sid!r} is not this study ({study.study_id!r})"
    item_id = str(row.get("item_id") or "").strip()
    if not item_id:
        return f"{where}: missing item_id"
    if item_id not in items:
        return f"{where}: unknown item_id {item_id!r}"
    annotator = str(row.get("annotator_id") or "").strip()
    if not annotator:
        return f"{where}: missing annotator_id"
    item = items[item_id]
    key = str(row.get("choice_key") or "").strip()
    raw_choice = row.get("choice")
    if (raw_choice is None or raw_choice == "") and key:
        if key not in {r.key for r in item.responses}:
            return f"{where}: choice_key {key!r} is not a response of item {item_id!r}"
        return Annotation(item_id, annotator, item.position_of(key), key, where)
    choice = _parse_choice(raw_choice, len(item.responses))
    if isinstance(choice, str):
        return f"{where}: {choice} (item {item_id!r})"
    expected = item.responses[choice - 1].key
    if key and key != expected:
        return (f"{where}: choice_key {key!r} does not match choice {choice} of item "
                f"{item_id!r} (file and triplets disagree on the order)")
    return Annotation(item_id, annotator, choice, expected, where)


def validate(rows: Iterable[tuple[str, dict]], study: Study) -> list[Annotation]:
    """Check every row; raise one AnnotationError listing all problems found."""
    items, errors, seen, out = study.by_id(), [], {}, []
    for where, row in rows:
        result = _check_row(where, row, study, items)
        if isinstance(result, str):
            errors.append(result)
            continue
        pair = (result.annotator_id, result.item_id)
        if pair in seen:
            errors.append(f"{where}: duplicate annotation by {pair[0]!r} of item {pair[1]!r} "
                          f"(first at {seen[pair]})")
            continue
        seen[pair] = where
        out.append(result)
    if errors:
        more = f"\n  ... and {len(errors) - MAX_REPORTED} more" if len(errors) > MAX_REPORTED else ""
        raise AnnotationError(f"{len(errors)} bad annotation row(s):\n  "
                              + "\n  ".join(errors[:MAX_REPORTED]) + more)
    if not out:
        raise AnnotationError("no annotations to ingest")
    return out


def load_annotations(paths: Sequence[Path | str], study: Study) -> list[Annotation]:
    """Read and validate several files together (duplicates are checked across files)."""
    rows: list[tuple[str, dict]] = []
    for p in paths:
        rows.extend(read_rows(p))
    return validate(rows, study)


def unblind(annotations: Iterable[Annotation], keys: StudyKeys) -> list[Choice]:
    return [Choice(a.item_id, a.annotator_id, keys.method_of(a.item_id, a.choice_key))
            for a in annotations]


def to_row(a: Annotation, study_id: str) -> dict:
    return {"study_id": study_id, "item_id": a.item_id, "annotator_id": a.annotator_id,
            "choice": a.choice, "choice_key": a.choice_key}
