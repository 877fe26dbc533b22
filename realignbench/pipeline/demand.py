"""What the table specs ask the pipeline to build: the models each table shows, and how.

Every table spec is expanded against the config and read through ``reports.build.needs`` (the
run records its cells read). A record of a model stage whose subject names a method, a training
size and a noise rate is a model the pipeline must build: train it (the base model excepted)
and judge it for TPA; a model that a capability or ASR cell shows gets both of those (slow)
evaluations. A table with human-study cells needs the study of ``eval.human_methods``. So a new
method reaches the plan through the table rows that show it, and nowhere else.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realignbench.registry import METHODS
from realignbench.reports.build import needs
from realignbench.reports.spec import load_spec, table_numbers

BASE = "base"                    # the preset's model itself: evaluated, never trained
MODEL_STAGES = ("train", "eval_tpa", "eval_capability", "eval_asr")
SAFETY_STAGES = ("eval_capability", "eval_asr")
HUMAN_STAGE = "human_eval"
# Stages whose records exist only once the free-text judge is validated.
JUDGED_STAGES = ("judge_validation", "eval_tpa", "eval_asr", HUMAN_STAGE)

Model = tuple[str, int, float]   # (method, training pairs, noise rate); the base model: 0 pairs


@dataclass
class Demand:
    tables: frozenset[int]                 # every table
    judged: frozenset[int]                 # tables that read a judged record
    safety: frozenset[int]                 # tables with capability or ASR cells
    human: frozenset[int]                  # tables with human-study cells
    models: dict[Model, set[int]]          # model -> tables showing it, in order of first
                                           # appearance (tables by number, rows then columns)
    safety_models: set[Model]              # models a capability or ASR cell shows


def table_demand(cfg, tables_dir: Path | None = None) -> Demand:
    """The demand of every table spec in ``tables_dir`` (default: the shipped tables)."""
    cfg_dict = cfg.to_dict()
    largest = cfg.data.train_sizes[-1]
    by_stage: dict[str, set[int]] = {}
    models: dict[Model, set[int]] = {}
    safety_models: set[Model] = set()
    numbers = table_numbers(tables_dir)
    for n in numbers:
        for need in needs(load_spec(n, cfg_dict, tables_dir), cfg_dict):
            stage, subject = need["stage"], need["subject"]
            by_stage.setdefault(stage, set()).add(n)
            shown: list[Model] = []
            if stage == HUMAN_STAGE:
                shown = [(m, largest, 0.0) for m in cfg.eval.human_methods]
            elif stage in MODEL_STAGES and "method" in subject:
                shown = _models(subject, largest, need["cells"][0])
            _check_seeded(shown, subject, need["cells"][0])
            for model in shown:
                models.setdefault(model, set()).add(n)
                if stage in SAFETY_STAGES:
                    safety_models.add(model)

    def tables_of(stages) -> frozenset[int]:
        return frozenset(n for s in stages for n in by_stage.get(s, ()))

    return Demand(frozenset(numbers), tables_of(JUDGED_STAGES), tables_of(SAFETY_STAGES),
                  tables_of([HUMAN_STAGE]), models, safety_models)


def _models(subject: dict[str, Any], largest: int, where: str) -> list[Model]:
    """The models a record's subject filters name. No size filter: the base model (0 pairs)
    or, for a trained method, the largest size (where M_ref is trained); no noise filter: 0."""
    methods = _values(subject["method"])
    for method in methods:
        if method != BASE and method not in METHODS:
            raise ValueError(f"{where}: method {method!r} is not a registered method; "
                             f"known: {[BASE, *METHODS.names()]}")
    sizes = _values(subject.get("train_size"))
    noises = _values(subject.get("noise", 0.0))
    return [(m, 0 if m == BASE else int(largest if n is None else n), float(p))
            for m, n, p in itertools.product(methods, sizes, noises)]


def _check_seeded(shown: list[Model], subject: dict[str, Any], where: str) -> None:
    """A trained model exists once per seed, so a cell reading one must read each seed's run
    (``seeds: each``); ``seeds: one`` would match several runs as soon as there are two seeds."""
    trained = sorted({m for m, _, _ in shown if m != BASE})
    if trained and "seed" not in subject:
        verb = "is" if len(trained) == 1 else "are"
        raise ValueError(f"{where}: {', '.join(trained)} {verb} trained once per seed; the cell "
                         "must read every seed (seeds: each), not seeds: one")


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]
