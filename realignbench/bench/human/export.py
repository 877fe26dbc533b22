"""Build a blinded study from per-method generation files.

Input: ``{method: path}`` where each path is JSONL with ``prompt_id``, ``prompt`` and ``text``
(the TPA run's per-sample generations; an optional ``compliant`` or ``verdict.compliant`` is
kept for the simulated panel). Every method must cover the same prompts with the same prompt
text, otherwise the comparison is not like for like and export refuses.
"""
from __future__ import annotations

import json
import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from realignbench.bench.human.study import (
    MAX_RESPONSES, Item, Response, Study, StudyError, StudyKeys, write_study)
from realignbench.runs import content_hash, file_hash

log = logging.getLogger("realignbench")

METHOD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DEFAULT_INSTRUCTIONS = (
    "Read the policy. For each prompt, pick the ONE response that best follows this policy. "
    "The responses come from different systems in a random order; judge only the text.")


@dataclass(frozen=True)
class Generation:
    prompt_id: str
    prompt: str
    text: str
    compliant: bool | None = None    # the policy oracle's verdict, when the file carries one


def _compliance(row: dict, where: str) -> bool | None:
    value = row.get("compliant")
    if value is None and isinstance(row.get("verdict"), dict):
        value = row["verdict"].get("compliant")
    if value is not None and not isinstance(value, bool):
        raise StudyError(f"{where}: field 'compliant' must be true/false, got {value!r}")
    return value


def read_generations(path: Path | str) -> dict[str, Generation]:
    """prompt_id -> Generation; errors name the file, line and field."""
    if not Path(path).is_file():
        raise StudyError(f"{path}: generation file not found")
    out: dict[str, Generation] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise StudyError(f"{where}: not valid JSON ({err})") from None
            if not isinstance(row, dict):
                raise StudyError(f"{where}: expected a JSON object")
            for name in ("prompt_id", "prompt", "text"):
                if name not in row:
                    raise StudyError(f"{where}: missing field {name!r}")
            if not isinstance(row["prompt"], str) or not isinstance(row["text"], str):
                raise StudyError(f"{where}: fields 'prompt' and 'text' must be strings")
            pid = str(row["prompt_id"])
            if pid in out:
                raise StudyError(f"{where}: duplicate prompt_id {pid!r}")
            out[pid] = Generation(pid, row["prompt"], row["text"], _compliance(row, where))
    if not out:
        raise StudyError(f"{path}: no generations")
    return out


def load_method_generations(paths: Mapping[str, Path | str]) -> dict[str, dict[str, Generation]]:
    """Read every method's file and check they cover the same prompts with the same text."""
    if not 2 <= len(paths) <= MAX_RESPONSES:
        raise StudyError(f"need 2..{MAX_RESPONSES} methods, got {len(paths)}: {list(paths)}")
    for m in paths:
        if not METHOD_NAME.match(m) or "_vs_" in m:
            raise StudyError(f"method name {m!r}: use letters, digits, '_', '-', '.' "
                             "(and not '_vs_', which metric names use)")
    gens = {m: read_generations(p) for m, p in paths.items()}
    first, ref = next(iter(gens.items()))
    for m, g in gens.items():
        missing, extra = sorted(set(ref) - set(g)), sorted(set(g) - set(ref))
        if missing or extra:
            raise StudyError(f"{paths[m]}: prompts differ from {paths[first]} "
                             f"(missing {missing[:5]}, extra {extra[:5]})")
        for pid, gen in g.items():
            if gen.prompt != ref[pid].prompt:
                raise StudyError(f"{paths[m]}: prompt_id {pid!r} has a different prompt text "
                                 f"than in {paths[first]}")
    return gens


def _new_key(rng: random.Random, taken: set[str]) -> str:
    while True:
        key = f"r{rng.getrandbits(40):010x}"
        if key not in taken:
            taken.add(key)
            return key


def build_study(gens: Mapping[str, Mapping[str, Generation]], policy_text: str, *,
                baseline: str, seed: int, n_items: int = 0, policy_id: str = "",
                title: str = "", instructions: str = DEFAULT_INSTRUCTIONS,
                sources: dict | None = None) -> tuple[Study, StudyKeys]:
    """Blind the generations: seeded item sample/order, per-item shuffled responses, opaque keys.

    ``n_items`` > 0 annotates a seeded random sample of that many prompts (0 = all).
    """
    methods = list(gens)
    if baseline not in methods:
        raise StudyError(f"baseline {baseline!r} is not one of the methods {methods}")
    if not policy_text.strip():
        raise StudyError("the policy text for annotators is empty")
    rng = random.Random(seed)
    prompt_ids = sorted(next(iter(gens.values())))
    rng.shuffle(prompt_ids)
    if n_items > 0:
        prompt_ids = prompt_ids[:n_items]
    items, key_map, taken = [], {}, set()
    for pid in prompt_ids:
        order = methods[:]
        rng.shuffle(order)
        keys = [_new_key(rng, taken) for _ in order]
        items.append(Item(pid, gens[order[0]][pid].prompt,
                          tuple(Response(k, gens[m][pid].text) for k, m in zip(keys, order))))
        key_map[pid] = dict(zip(keys, order))
    study = Study("", title or "Blinded preference study", policy_id, policy_text,
                  instructions, items)
    # The id hashes only what annotators see, so it reveals nothing about the key.
    study.study_id = "s" + content_hash(study.to_dict())[:12]
    return study, StudyKeys(study.study_id, seed, methods, baseline, key_map, sources or {})


def export_study(out_dir: Path | str, paths: Mapping[str, Path | str], policy_text: str, *,
                 baseline: str, seed: int, n_items: int = 0, policy_id: str = "",
                 title: str = "", with_page: bool = True) -> dict[str, Path]:
    """Write triplets.json, keys.json and (optionally) the annotation page into ``out_dir``."""
    from realignbench.bench.human.page import copy_page
    gens = load_method_generations(paths)
    sources = {m: {"path": str(p), "sha256": file_hash(p)} for m, p in paths.items()}
    study, keys = build_study(gens, policy_text, baseline=baseline, seed=seed, n_items=n_items,
                              policy_id=policy_id, title=title, sources=sources)
    triplets, key_file = write_study(out_dir, study, keys)
    out = {"triplets": triplets, "keys": key_file}
    if with_page:
        out["page"] = copy_page(Path(out_dir) / "annotate.html")
    log.info("human export: %d items x %d methods -> %s (give annotators triplets.json and "
             "annotate.html; keep keys.json)", len(study.items), len(gens), out_dir)
    return out
