"""``local_hard_mcq``: multi-step reasoning multiple choice in the GPQA record format.

Rows are ``{"Question", "choice1".."choice4", "answer": index, "subject"}``. Every item needs a
step of reasoning over a simple fact or rule (a two-hop lookup, modular day counting, a
comparison), and every answer is computed by the generator, so it is correct by construction.
Harder than the knowledge suite on purpose: a 135M model is expected near chance here.
"""
from __future__ import annotations

import random
from fractions import Fraction

from realignbench.bench.suites import facts
from realignbench.bench.suites.mcq import near_numbers, numeric_wrong, pick_distractors, place

ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"]
WORDS = ["banana", "elephant", "computer", "umbrella", "mountain", "education", "orange",
         "window", "tomato", "dinosaur", "airplane", "library", "piano", "octopus", "garden",
         "sunflower", "bicycle", "autumn", "keyboard", "invitation"]
NAMES = ["Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo"]


def _is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))


def _prime(rng):
    primes = [n for n in range(20, 100) if _is_prime(n)]
    odd_composites = [n for n in range(21, 100, 2) if not _is_prime(n) and n % 5]
    p = rng.choice(primes)
    wrong = [str(n) for n in rng.sample(odd_composites, 3)]
    return "Which of the following numbers is a prime number?", str(p), wrong


def _minutes(rng):
    h, m = rng.randint(2, 9), rng.randint(5, 55)
    ans = h * 60 + m
    wrong = numeric_wrong(rng, ans, [h * 100 + m, (h + 1) * 60 + m, h * 60 + m + 10])
    return f"How many minutes are there in {h} hours and {m} minutes?", str(ans), wrong


def _weekday(rng):
    i, n = rng.randrange(7), rng.randint(9, 40)
    ans = facts.DAYS[(i + n) % 7]
    q = f"If today is {facts.DAYS[i]}, what day of the week will it be {n} days from now?"
    return q, ans, pick_distractors(rng, ans, facts.DAYS)


def _month(rng):
    i, n = rng.randrange(12), rng.randint(3, 11)
    ans = facts.MONTHS[(i + n) % 12]
    q = f"Which month comes {n} months after {facts.MONTHS[i]}?"
    return q, ans, pick_distractors(rng, ans, facts.MONTHS)


def _fraction(rng):
    values: dict[Fraction, str] = {}
    while len(values) < 4:
        b = rng.randint(3, 12)
        a = rng.randint(1, b - 1)
        values.setdefault(Fraction(a, b), f"{a}/{b}")
    best = max(values)
    return "Which of the following fractions is the largest?", values[best], \
        [t for v, t in values.items() if v != best]


def _two_hop_language(rng):
    country = rng.choice(sorted(c for c, v in facts.COUNTRIES.items() if v[2]))
    capital, _, lang = facts.COUNTRIES[country]
    pool = {v[2] for v in facts.COUNTRIES.values() if v[2]}
    q = f"What is the main language of the country whose capital city is {capital}?"
    return q, lang, pick_distractors(rng, lang, pool)


def _two_hop_continent(rng):
    country = rng.choice(sorted(c for c, v in facts.COUNTRIES.items() if v[1]))
    capital, continent, _ = facts.COUNTRIES[country]
    pool = {v[1] for v in facts.COUNTRIES.values() if v[1]}
    q = f"The city of {capital} is the capital of a country on which continent?"
    return q, continent, pick_distractors(rng, continent, pool)


def _planet(rng):
    k = rng.randrange(8)
    q = f"Counting outward from the Sun, which planet is the {ORDINALS[k]} planet?"
    return q, facts.PLANETS[k], pick_distractors(rng, facts.PLANETS[k], facts.PLANETS)


def _vowels(rng):
    w = rng.choice(WORDS)
    n = sum(ch in "aeiou" for ch in w)
    q = f"How many vowels (a, e, i, o, u) are in the word '{w}'?"
    return q, str(n), near_numbers(rng, n)


def _sequence(rng):
    a, d = rng.randint(2, 20), rng.randint(3, 9)
    seq = ", ".join(str(a + d * i) for i in range(4))
    ans = a + 4 * d
    wrong = numeric_wrong(rng, ans, [ans + d, ans - 1, ans + 2])
    return f"What number comes next in the sequence {seq}, ...?", str(ans), wrong


def _remainder(rng):
    b = rng.randint(3, 9)
    a = rng.randint(20, 99)
    ans = a % b
    wrong = [str(x) for x in rng.sample([r for r in range(b + 2) if r != ans], 3)]
    return f"What is the remainder when {a} is divided by {b}?", str(ans), wrong


def _age(rng):
    x, y = rng.sample(NAMES, 2)
    k, n, m = rng.randint(2, 9), rng.randint(6, 30), rng.randint(2, 10)
    ans = n + k + m
    q = (f"{x} is {k} years older than {y}. {y} is {n} years old. "
         f"How old will {x} be in {m} years?")
    return q, str(ans), numeric_wrong(rng, ans, [n + m, n + k, ans + k])


def _alphabetical(rng):
    words = rng.sample(WORDS, 4)
    first = min(words)
    return "Which of these words comes first in alphabetical order?", first, \
        [w for w in words if w != first]


GENERATORS = [_prime, _minutes, _weekday, _month, _fraction, _two_hop_language,
              _two_hop_continent, _planet, _vowels, _sequence, _remainder, _age, _alphabetical]
SUBJECTS = {g: g.__name__.lstrip("_") for g in GENERATORS}


def build(seed: int = 0, n_test: int = 260) -> dict[str, list[dict]]:
    """``{"test": [...]}``, ``n_test`` distinct questions cycling through the generators."""
    rng = random.Random(f"local_hard_mcq:{seed}")
    seen, rows = set(), []
    attempts = 0
    while len(rows) < n_test:
        attempts += 1
        if attempts > 50 * n_test:
            raise RuntimeError("local_hard_mcq: generators ran out of distinct questions")
        gen = GENERATORS[attempts % len(GENERATORS)]
        question, answer, wrong = gen(rng)
        choices, index = place(rng, answer, wrong)
        key = (question, tuple(sorted(choices)))
        if key in seen:
            continue
        seen.add(key)
        row = {"subject": SUBJECTS[gen], "Question": question, "answer": index}
        row.update({f"choice{i + 1}": c for i, c in enumerate(choices)})
        rows.append(row)
    return {"test": rows}
