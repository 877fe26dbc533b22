"""``local_knowledge_mcq``: simple-fact multiple choice in the MMLU record format.

Rows are ``{"question", "choices": [4], "answer": index, "subject"}`` (the fields of
``cais/mmlu``). Each fact from :mod:`facts` becomes one item; distractors come from the same
fact family, so every item has exactly one correct option by construction.
"""
from __future__ import annotations

import random

from realignbench.bench.suites import facts
from realignbench.bench.suites.mcq import near_numbers, pick_distractors, place, split_dev

CAPITAL_Q = ["What is the capital of {x}?", "Which city is the capital of {x}?",
             "The capital city of {x} is which of the following?"]
LANGUAGE_Q = ["What is the main language spoken in {x}?",
              "Which language do most people in {x} speak?"]
CONTINENT_Q = ["On which continent is {x}?", "{X} is a country in which continent?"]


def article(noun: str) -> str:
    return ("an " if noun[0].lower() in "aeiou" else "a ") + noun


def _item(rng, subject, question, answer, wrong):
    choices, index = place(rng, answer, wrong)
    return {"subject": subject, "question": question, "choices": choices, "answer": index}


def _from_table(rng, subject, table, templates, pool=None):
    pool = list(table.values()) if pool is None else pool
    rows = []
    for i, (key, answer) in enumerate(table.items()):
        q = templates[i % len(templates)].format(x=key, X=key[0].upper() + key[1:],
                                                 a_x=article(key))
        rows.append(_item(rng, subject, q, answer, pick_distractors(rng, answer, pool)))
    return rows


def _geography(rng) -> list[dict]:
    capitals = {c: v[0] for c, v in facts.COUNTRIES.items()}
    languages = {c: v[2] for c, v in facts.COUNTRIES.items() if v[2]}
    continents = {c: v[1] for c, v in facts.COUNTRIES.items() if v[1]}
    return (_from_table(rng, "geography", capitals, CAPITAL_Q)
            + _from_table(rng, "languages", languages, LANGUAGE_Q)
            + _from_table(rng, "geography", continents, CONTINENT_Q)
            + _from_table(rng, "economics", facts.CURRENCIES,
                          ["What is the currency of {x}?", "Which currency is used in {x}?"]))


def _nature(rng) -> list[dict]:
    rows = _from_table(rng, "biology", facts.YOUNG, ["What is a baby {x} called?",
                                                     "A young {x} is called what?"])
    rows += _from_table(rng, "biology", facts.SOUNDS, ["What sound does {a_x} make?"])
    rows += _from_table(rng, "biology", facts.ANIMAL_CLASS,
                        ["What kind of animal is {a_x}?", "Which kind of animal is {a_x}?"])
    rows += _from_table(rng, "everyday", facts.COLORS, ["What color is {x}?"])
    return rows


def _language_and_numbers(rng) -> list[dict]:
    rows = _from_table(rng, "vocabulary", facts.OPPOSITES,
                       ["What is the opposite of '{x}'?", "Which word means the opposite of "
                        "'{x}'?"])
    for stem, n in facts.COUNTS.items():
        rows.append(_item(rng, "numbers", f"How many {stem}?", str(n), near_numbers(rng, n)))
    for name, seq in (("day", facts.DAYS), ("month", facts.MONTHS),
                      ("season", facts.SEASONS)):
        for i, x in enumerate(seq):
            answer = seq[(i + 1) % len(seq)]
            rows.append(_item(rng, "calendar", f"Which {name} comes right after {x}?", answer,
                              pick_distractors(rng, answer, seq)))
    return rows


def _listed(rng) -> list[dict]:
    rows = []
    for subject, table in (("science", facts.SCIENCE), ("history", facts.PEOPLE)):
        for question, answer, wrong in table:
            rows.append(_item(rng, subject, question, answer, list(wrong)))
    return rows


def build(seed: int = 0, n_dev: int = 5) -> dict[str, list[dict]]:
    """All items, deterministic in ``seed``: ``{"test": [...], "dev": [...]}``."""
    rng = random.Random(f"local_knowledge_mcq:{seed}")
    items = _geography(rng) + _nature(rng) + _language_and_numbers(rng) + _listed(rng)
    test, dev = split_dev(rng, items, n_dev)
    return {"test": test, "dev": dev}
