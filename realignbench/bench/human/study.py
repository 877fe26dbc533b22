"""A blinded study: the triplets file annotators see and the key file that un-blinds it.

The triplets file carries the policy text, the prompts and each item's responses in a shuffled
order behind opaque keys; it never names a method. The key file maps each item's keys to
methods and records the shuffle seed. The seed lives only in the key file: with the seed and
the (public) export code one could re-derive the order, so it must not reach annotators.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realignbench.runs import atomic_write_json

TRIPLETS_FORMAT = "realignbench-triplets/1"
KEYS_FORMAT = "realignbench-triplet-keys/1"
MAX_RESPONSES = 9        # the page's number keys 1..9


class StudyError(ValueError):
    """A triplets or key file is malformed or the two do not belong together."""


@dataclass(frozen=True)
class Response:
    key: str                 # opaque, unique within the study
    text: str


@dataclass(frozen=True)
class Item:
    item_id: str
    prompt: str
    responses: tuple[Response, ...]

    def position_of(self, key: str) -> int:
        """1-based display position of ``key`` (the annotation page's choice number)."""
        for i, r in enumerate(self.responses, 1):
            if r.key == key:
                return i
        raise KeyError(key)


@dataclass
class Study:
    """What annotators receive. ``study_id`` ties annotation files back to this study."""
    study_id: str
    title: str
    policy_id: str
    policy_text: str
    instructions: str
    items: list[Item]

    def by_id(self) -> dict[str, Item]:
        return {it.item_id: it for it in self.items}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TRIPLETS_FORMAT, "study_id": self.study_id, "title": self.title,
            "policy": {"id": self.policy_id, "text": self.policy_text},
            "instructions": self.instructions,
            "items": [{"item_id": it.item_id, "prompt": it.prompt,
                       "responses": [{"key": r.key, "text": r.text} for r in it.responses]}
                      for it in self.items],
        }


@dataclass
class StudyKeys:
    """The un-blinding key: item id -> {opaque key -> method}. Keep away from annotators."""
    study_id: str
    seed: int
    methods: list[str]
    baseline: str
    keys: dict[str, dict[str, str]]
    sources: dict[str, Any] = field(default_factory=dict)   # method -> {path, sha256}

    def method_of(self, item_id: str, key: str) -> str:
        return self.keys[item_id][key]

    def to_dict(self) -> dict[str, Any]:
        return {"format": KEYS_FORMAT, "study_id": self.study_id, "seed": self.seed,
                "methods": self.methods, "baseline": self.baseline, "sources": self.sources,
                "keys": self.keys}


def _need(d: dict, name: str, kind: type, where: str) -> Any:
    if not isinstance(d, dict) or name not in d:
        raise StudyError(f"{where}: missing field {name!r}")
    if not isinstance(d[name], kind):
        raise StudyError(f"{where}: field {name!r} must be {kind.__name__}, "
                         f"got {type(d[name]).__name__}")
    return d[name]


def _load_json(path: Path | str) -> dict:
    if not Path(path).is_file():
        raise StudyError(f"{path}: file not found")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise StudyError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise StudyError(f"{path}: expected a JSON object at top level")
    return data


def study_from_dict(d: dict, where: str = "triplets") -> Study:
    if d.get("format") != TRIPLETS_FORMAT:
        raise StudyError(f"{where}: format is {d.get('format')!r}, expected {TRIPLETS_FORMAT!r}")
    policy = _need(d, "policy", dict, where)
    items, seen_items, seen_keys = [], set(), set()
    for i, raw in enumerate(_need(d, "items", list, where)):
        at = f"{where}: items[{i}]"
        item_id = _need(raw, "item_id", str, at)
        responses = _need(raw, "responses", list, at)
        if item_id in seen_items:
            raise StudyError(f"{at}: duplicate item_id {item_id!r}")
        if not 2 <= len(responses) <= MAX_RESPONSES:
            raise StudyError(f"{at}: needs 2..{MAX_RESPONSES} responses, has {len(responses)}")
        rs = []
        for j, r in enumerate(responses):
            key = _need(r, "key", str, f"{at}.responses[{j}]")
            if key in seen_keys:
                raise StudyError(f"{at}.responses[{j}]: duplicate key {key!r}")
            seen_keys.add(key)
            rs.append(Response(key, _need(r, "text", str, f"{at}.responses[{j}]")))
        seen_items.add(item_id)
        items.append(Item(item_id, _need(raw, "prompt", str, at), tuple(rs)))
    return Study(_need(d, "study_id", str, where), d.get("title", ""), policy.get("id", ""),
                 _need(policy, "text", str, f"{where}: policy"), d.get("instructions", ""), items)


def read_study(path: Path | str) -> Study:
    return study_from_dict(_load_json(path), str(path))


def read_keys(path: Path | str, study: Study | None = None) -> StudyKeys:
    """Read a key file; with ``study``, check that every item's keys match it exactly."""
    d = _load_json(path)
    if d.get("format") != KEYS_FORMAT:
        raise StudyError(f"{path}: format is {d.get('format')!r}, expected {KEYS_FORMAT!r}")
    keys = StudyKeys(_need(d, "study_id", str, str(path)), _need(d, "seed", int, str(path)),
                     _need(d, "methods", list, str(path)), _need(d, "baseline", str, str(path)),
                     _need(d, "keys", dict, str(path)), d.get("sources", {}))
    if study is not None:
        check_keys(keys, study, str(path))
    return keys


def check_keys(keys: StudyKeys, study: Study, where: str) -> None:
    if keys.study_id != study.study_id:
        raise StudyError(f"{where}: key file is for study {keys.study_id!r}, "
                         f"triplets are study {study.study_id!r}")
    for item in study.items:
        mapping = keys.keys.get(item.item_id)
        if mapping is None:
            raise StudyError(f"{where}: no keys for item {item.item_id!r}")
        if set(mapping) != {r.key for r in item.responses}:
            raise StudyError(f"{where}: keys of item {item.item_id!r} do not match the triplets")
        unknown = set(mapping.values()) - set(keys.methods)
        if unknown:
            raise StudyError(f"{where}: item {item.item_id!r} maps to unknown methods {unknown}")


def write_study(out_dir: Path | str, study: Study, keys: StudyKeys) -> tuple[Path, Path]:
    """Write ``triplets.json`` (for annotators) and ``keys.json`` (secret) atomically."""
    out = Path(out_dir)
    triplets, key_file = out / "triplets.json", out / "keys.json"
    atomic_write_json(triplets, study.to_dict())
    atomic_write_json(key_file, keys.to_dict())
    return triplets, key_file
