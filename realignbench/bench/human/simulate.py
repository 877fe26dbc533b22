"""A simulated annotator panel, for presets where no humans annotate (clearly labelled).

Each of ``n_judges`` independent judges sees an item's responses and the policy oracle's
verdict on each (compliant or not under π_new) and picks one:

* some but not all responses compliant: with probability ``accuracy`` the judge agrees with
  the oracle and picks uniformly among the compliant responses, otherwise it picks uniformly
  among the non-compliant ones;
* all compliant, or none: the oracle expresses no preference, so the judge picks uniformly
  among all responses. Such items pull win rates towards 1/2 and agreement towards chance,
  as a real panel with nothing to tell the responses apart would.

Judges draw from their own seeded streams, so a panel is reproducible and adding a judge does
not change the others' picks. Every record built from it carries ``simulated: true``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from realignbench.bench.human.study import Study, StudyError, StudyKeys


@dataclass(frozen=True)
class PanelSpec:
    n_judges: int = 5
    accuracy: float = 0.85
    seed: int = 0

    def __post_init__(self):
        if self.n_judges < 1:
            raise ValueError(f"simulated panel: n_judges must be >= 1, got {self.n_judges}")
        if not 0.0 <= self.accuracy <= 1.0:
            raise ValueError(f"simulated panel: accuracy must be in [0, 1], got {self.accuracy}")

    @property
    def judge_id(self) -> str:
        return f"simulated-panel(k={self.n_judges},accuracy={self.accuracy},seed={self.seed})"

    def caption(self) -> str:
        return (f"SIMULATED panel: {self.n_judges} independent simulated judges, each agreeing "
                f"with the policy oracle with probability {self.accuracy:g}; not human "
                "annotators.")


def judge_pick(compliant: list[bool], accuracy: float, rng: np.random.Generator) -> int:
    """0-based index of the response one simulated judge picks (rule in the module doc)."""
    good = [i for i, c in enumerate(compliant) if c]
    bad = [i for i, c in enumerate(compliant) if not c]
    if not good or not bad:
        return int(rng.integers(len(compliant)))
    pool = good if rng.random() < accuracy else bad
    return int(pool[rng.integers(len(pool))])


def simulate_panel(study: Study, keys: StudyKeys,
                   compliance: Mapping[str, Mapping[str, bool]], spec: PanelSpec) -> list[dict]:
    """Annotation rows (the page's export format) from ``compliance[method][item_id]``."""
    for item in study.items:
        for method in keys.keys[item.item_id].values():
            if compliance.get(method, {}).get(item.item_id) is None:
                raise StudyError(f"simulated panel: no oracle verdict for method {method!r} "
                                 f"on item {item.item_id!r}")
    rows = []
    width = len(str(spec.n_judges))
    for j in range(spec.n_judges):
        rng = np.random.default_rng([spec.seed, j])
        annotator = f"sim-judge-{j + 1:0{width}d}"
        for item in study.items:
            verdicts = [compliance[keys.method_of(item.item_id, r.key)][item.item_id]
                        for r in item.responses]
            pick = judge_pick(verdicts, spec.accuracy, rng)
            rows.append({"study_id": study.study_id, "item_id": item.item_id,
                         "annotator_id": annotator, "choice": pick + 1,
                         "choice_key": item.responses[pick].key, "simulated": True})
    return rows
