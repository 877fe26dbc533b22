"""``local_commonsense_completion``: what happens next, in the HellaSwag record format.

Rows are ``{"activity_label", "ctx", "endings": [4], "label"}``: the context is one step of an
everyday script (:mod:`scripts`) done by a named person, the correct ending is the script's
next step and the three wrong endings are steps from other scripts at the same position, with
the same pronouns filled in, so grammar gives nothing away.
"""
from __future__ import annotations

import random

from realignbench.bench.suites.mcq import place
from realignbench.bench.suites.scripts import SCRIPTS

PEOPLE = [("Maria", "her"), ("Tom", "his"), ("Aisha", "her"), ("Daniel", "his"),
          ("Sofia", "her"), ("Kenji", "his"), ("Lena", "her"), ("Omar", "his")]
LINKS = ["Next, {p}", "Then {p}", "After that, {p}"]


def _fill(step: str, pos: str) -> str:
    return step.format(pos=pos)


def build(seed: int = 0) -> dict[str, list[dict]]:
    """One item per (script, step transition); ``{"test": [...]}`` (zero-shot suite)."""
    rng = random.Random(f"local_commonsense_completion:{seed}")
    names = sorted(SCRIPTS)
    rows = []
    for label in names:
        steps = SCRIPTS[label]
        for i in range(len(steps) - 1):
            name, pos = rng.choice(PEOPLE)
            subject = "she" if pos == "her" else "he"
            others = rng.sample([n for n in names if n != label], 3)
            wrong = [_fill(SCRIPTS[o][i + 1], pos) + "." for o in others]
            endings, index = place(rng, _fill(steps[i + 1], pos) + ".", wrong)
            ctx = f"{name} {_fill(steps[i], pos)}. {rng.choice(LINKS).format(p=subject)}"
            rows.append({"activity_label": label, "ctx": ctx, "endings": endings,
                         "label": index})
    rng.shuffle(rows)
    return {"test": rows}
