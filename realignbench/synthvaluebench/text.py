"""Paraphrase templates and slot fillers (YAML package data), checked once on load.

Every template family must cover every dimension, context and stance of
:mod:`realignbench.synthvaluebench.dimensions`, and every template must render with every slot
filler of its dimension; a gap is an error naming the file and the field, not a KeyError later.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from realignbench.synthvaluebench.dimensions import DIMENSIONS

HERE = Path(__file__).resolve().parent
TEMPLATES_FILE = HERE / "templates.yaml"
SLOTS_FILE = HERE / "slots.yaml"


class TemplateError(ValueError):
    def __init__(self, path: Path, field_name: str, message: str):
        super().__init__(f"{path}: field {field_name!r}: {message}")


@dataclass(frozen=True)
class Family:
    name: str
    held_out: bool
    leads: dict[str, list[str]]                      # context -> lead sentences
    prompts: dict[str, list[str]]                    # dimension -> templates
    responses: dict[str, dict[str, list[str]]]       # dimension -> stance -> templates


def with_caps(slot: dict[str, str]) -> dict[str, str]:
    """Add ``X_cap`` (first letter upper-cased) for every field ``X``."""
    out = dict(slot)
    out.update({f"{k}_cap": v[:1].upper() + v[1:] for k, v in slot.items()})
    return out


def render(template: str, slot: dict[str, str]) -> str:
    return template.format_map(with_caps(slot))


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _load(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise TemplateError(path, "<yaml>", f"invalid YAML: {err}") from None
    if not isinstance(data, dict):
        raise TemplateError(path, "<root>", "expected a mapping")
    return data


def _check_renders(templates: list[str], slots: list[dict], path: Path, where: str) -> None:
    if not templates or not all(isinstance(t, str) and t.strip() for t in templates):
        raise TemplateError(path, where, "expected a non-empty list of non-empty strings")
    known = set(with_caps(slots[0]))
    for i, template in enumerate(templates):
        missing = _fields(template) - known
        if missing:
            raise TemplateError(path, f"{where}[{i}]", f"unknown slot(s) {sorted(missing)}")


@lru_cache(maxsize=None)
def load_slots(path: Path = SLOTS_FILE) -> dict[str, tuple[dict[str, str], ...]]:
    data = _load(path)
    out = {}
    for dim in DIMENSIONS:
        rows = data.get(dim)
        if not isinstance(rows, list) or not rows:
            raise TemplateError(path, dim, "missing or empty slot list")
        keys = set(rows[0])
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or set(row) != keys:
                raise TemplateError(path, f"{dim}[{i}]", f"expected the fields {sorted(keys)}")
        out[dim] = tuple(rows)
    return out


@lru_cache(maxsize=None)
def load_families(path: Path = TEMPLATES_FILE, slots_path: Path = SLOTS_FILE) -> dict[str, Family]:
    data, slots = _load(path), load_slots(slots_path)
    families = {}
    for name, spec in data.items():
        for key in ("leads", "prompts", "responses"):
            if not isinstance(spec.get(key), dict):
                raise TemplateError(path, f"{name}.{key}", "missing mapping")
        for dim, d in DIMENSIONS.items():
            for ctx in d.contexts:
                leads = spec["leads"].get(ctx)
                if not isinstance(leads, list) or not leads:
                    raise TemplateError(path, f"{name}.leads.{ctx}", "missing or empty")
            _check_renders(spec["prompts"].get(dim), slots[dim], path, f"{name}.prompts.{dim}")
            for stance in d.stances:
                _check_renders(spec["responses"].get(dim, {}).get(stance), slots[dim], path,
                               f"{name}.responses.{dim}.{stance}")
        families[name] = Family(name, bool(spec.get("held_out", False)), spec["leads"],
                                spec["prompts"], spec["responses"])
    if not any(f.held_out for f in families.values()) or all(f.held_out for f in families.values()):
        raise TemplateError(path, "held_out", "need at least one held-out and one training family")
    return families


def family_names(held_out: bool | None = None) -> list[str]:
    """Template families, optionally only the held-out (True) or the training (False) ones."""
    return [n for n, f in load_families().items() if held_out is None or f.held_out == held_out]
