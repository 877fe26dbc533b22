"""``local_arith_exact``: templated arithmetic word problems in the GSM8K record format.

Rows are ``{"question", "answer"}`` where ``answer`` is a worked solution ending in
``#### <integer>`` (GSM8K's convention, so lm-eval's strict and flexible extraction apply).
Numbers are drawn by seed and the answer is computed from them, so it is correct by
construction.
"""
from __future__ import annotations

import random
from typing import Callable

NAMES = ["Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Iris", "Jamal",
         "Kate", "Liam", "Mia", "Noah", "Olga", "Pedro", "Rosa", "Sam", "Tara", "Victor"]
PRONOUN = {n: ("she" if n in {"Anna", "Carla", "Elena", "Grace", "Iris", "Kate", "Mia", "Olga",
                              "Rosa", "Tara"} else "he") for n in NAMES}
THINGS = ["apples", "pencils", "stickers", "marbles", "books", "cookies", "stamps", "shells",
          "cards", "balloons"]


def _add(rng, name, other, thing):
    a, b = rng.randint(3, 40), rng.randint(2, 30)
    q = f"{name} has {a} {thing}. {PRONOUN[name].capitalize()} buys {b} more. " \
        f"How many {thing} does {name} have now?"
    return q, f"{name} has {a} + {b} = {a + b} {thing}.", a + b


def _sub(rng, name, other, thing):
    a = rng.randint(15, 60)
    b = rng.randint(2, a - 3)
    q = f"{name} had {a} {thing} and gave {b} of them to {other}. " \
        f"How many {thing} does {name} have left?"
    return q, f"{name} has {a} - {b} = {a - b} {thing} left.", a - b


def _mul(rng, name, other, thing):
    a, b = rng.randint(2, 9), rng.randint(3, 12)
    q = f"{name} buys {a} boxes of {thing}. Each box holds {b} {thing}. " \
        f"How many {thing} does {name} buy in total?"
    return q, f"{name} buys {a} * {b} = {a * b} {thing}.", a * b


def _div(rng, name, other, thing):
    k, each = rng.randint(2, 8), rng.randint(2, 9)
    total = k * each
    q = f"{name} shares {total} {thing} equally among {k} friends. " \
        f"How many {thing} does each friend get?"
    return q, f"Each friend gets {total} / {k} = {each} {thing}.", each


def _two_step(rng, name, other, thing):
    a, b = rng.randint(10, 40), rng.randint(5, 20)
    c = rng.randint(2, a + b - 2)
    q = f"{name} has {a} {thing}. {PRONOUN[name].capitalize()} gets {b} more from {other} " \
        f"and then loses {c}. How many {thing} does {name} have now?"
    sol = f"After getting more, {name} has {a} + {b} = {a + b}. After losing some, " \
          f"{name} has {a + b} - {c} = {a + b - c} {thing}."
    return q, sol, a + b - c


def _change(rng, name, other, thing):
    price, n = rng.randint(2, 9), rng.randint(2, 6)
    paid = (price * n // 10 + 1) * 10
    q = f"A notebook costs {price} dollars. {name} buys {n} notebooks and pays with " \
        f"{paid} dollars. How many dollars of change does {name} get?"
    sol = f"The notebooks cost {n} * {price} = {price * n} dollars. " \
          f"The change is {paid} - {price * n} = {paid - price * n} dollars."
    return q, sol, paid - price * n


def _legs(rng, name, other, thing):
    chickens, cows = rng.randint(2, 12), rng.randint(2, 9)
    q = f"A farm has {chickens} chickens and {cows} cows. How many legs do the animals have " \
        f"in total?"
    sol = f"The chickens have {chickens} * 2 = {2 * chickens} legs and the cows have " \
          f"{cows} * 4 = {4 * cows} legs, so {2 * chickens} + {4 * cows} = " \
          f"{2 * chickens + 4 * cows} legs."
    return q, sol, 2 * chickens + 4 * cows


def _time(rng, name, other, thing):
    start, dur = rng.randint(6, 14), rng.randint(2, 8)
    q = f"{name}'s train leaves at {start} o'clock and the trip takes {dur} hours. " \
        f"At what hour (24-hour clock) does the train arrive?"
    return q, f"The train arrives at {start} + {dur} = {start + dur} o'clock.", start + dur


TEMPLATES: list[Callable] = [_add, _sub, _mul, _div, _two_step, _change, _legs, _time]


def build(seed: int = 0, n_test: int = 240, n_dev: int = 8) -> dict[str, list[dict]]:
    """``{"test": [...], "dev": [...]}``; the question texts of the two splits are disjoint."""
    rng = random.Random(f"local_arith_exact:{seed}")
    seen: set[str] = set()
    rows: list[dict] = []
    while len(rows) < n_test + n_dev:
        template = TEMPLATES[len(rows) % len(TEMPLATES)]
        name, other = rng.sample(NAMES, 2)
        question, solution, value = template(rng, name, other, rng.choice(THINGS))
        if question in seen:
            continue
        seen.add(question)
        rows.append({"question": question, "answer": f"{solution}\n#### {value}"})
    return {"test": rows[n_dev:], "dev": rows[:n_dev]}
