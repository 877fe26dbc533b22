"""SynthValueBench generator: π_old-labelled preference pairs with stance labels and gold corrections.

Deterministic by seed: every random choice comes from ``random.Random`` seeded with a string
(stable across processes and Python hash seeds), and every iteration order is fixed, so the same
(seed, shift, sizes) gives byte-identical files. Cell counts (dimension × context × pair type)
are allocated exactly, in the same proportions for train and test, so the category mix of the
two splits matches by construction. Training pairs use the training template families; test
pairs use only the held-out family, so no test prompt string can occur in training.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

from realignbench.data.schema import Pair
from realignbench.policies.spec import Shift
from realignbench.synthvaluebench.dimensions import DIMENSIONS
from realignbench.synthvaluebench.text import family_names, load_families, load_slots, render

GENERATOR_VERSION = "svb-1"       # bump when templates, slots or the sampling logic change


@dataclass(frozen=True)
class PromptSpec:
    family: str
    dimension: str
    context: str
    lead: int
    template: int
    slot: int

    def text(self) -> str:
        fam = load_families()[self.family]
        slot = load_slots()[self.dimension][self.slot]
        return fam.leads[self.context][self.lead] + render(
            fam.prompts[self.dimension][self.template], slot)


@dataclass(frozen=True)
class LabelledResponse:
    text: str
    dimension: str
    stance: str
    template_family: str
    context: str
    prompt: str


def allocate(n: int, weights: dict[Any, float]) -> dict[Any, int]:
    """Split ``n`` into integer counts proportional to ``weights`` (largest remainder, ties by
    key order), so every split gets the same mix up to rounding."""
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("allocate: weights sum to zero")
    exact = {k: n * w / total for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    order = sorted(weights, key=lambda k: -(exact[k] - counts[k]))   # stable: key order on ties
    for k in order[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


def cell_weights(shift: Shift) -> dict[tuple[str, str, str, str], float]:
    """(dimension, context, chosen stance, rejected stance) -> share of pairs for this shift."""
    dim_w = shift.dimension_weights or {d: 1.0 for d in DIMENSIONS}
    cells = {}
    for name, dim in DIMENSIONS.items():
        for ctx, ctx_w in dim.contexts.items():
            for chosen, rejected, pt_w in dim.pair_types:
                w = dim_w.get(name, 0.0) * ctx_w * pt_w
                if w > 0:
                    cells[(name, ctx, chosen, rejected)] = w
    return cells


def prompt_space(dimension: str, context: str, families: Sequence[str]) -> list[PromptSpec]:
    fams = load_families()
    n_slots = len(load_slots()[dimension])
    return [PromptSpec(f, dimension, context, lead, tpl, slot)
            for f in families
            for lead in range(len(fams[f].leads[context]))
            for tpl in range(len(fams[f].prompts[dimension]))
            for slot in range(n_slots)]


def response_text(rng: random.Random, spec: PromptSpec, stance: str) -> str:
    templates = load_families()[spec.family].responses[spec.dimension][stance]
    return render(rng.choice(templates), load_slots()[spec.dimension][spec.slot])


def _sample_prompts(rng: random.Random, dim: str, ctx: str, k: int,
                    families: Sequence[str], exclude: frozenset[str] = frozenset()
                    ) -> list[PromptSpec]:
    if k == 0:
        return []
    space = prompt_space(dim, ctx, families)
    rng.shuffle(space)
    chosen, seen = [], set(exclude)
    for spec in space:
        text = spec.text()
        if text not in seen:
            seen.add(text)
            chosen.append(spec)
            if len(chosen) == k:
                return chosen
    raise ValueError(f"synthvaluebench: only {len(chosen)} distinct prompts for {dim}/{ctx} in "
                     f"families {list(families)}, {k} requested; lower the size or add templates")


def generate_split(split: str, n: int, shift: Shift, seed: int, families: Sequence[str],
                   exclude: frozenset[str] = frozenset()) -> list[Pair]:
    """``n`` π_old-oriented pairs whose prompts come from ``families`` and are not in
    ``exclude``, with gold corrections."""
    rng = random.Random(f"synthvaluebench/{GENERATOR_VERSION}/{seed}/{split}")
    counts = allocate(n, cell_weights(shift))
    by_prompt_cell: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for (dim, ctx, chosen, rejected), k in counts.items():
        by_prompt_cell.setdefault((dim, ctx), []).extend([(chosen, rejected)] * k)
    pairs = []
    for (dim, ctx), types in by_prompt_cell.items():
        rng.shuffle(types)
        specs = _sample_prompts(rng, dim, ctx, len(types), families, exclude)
        for spec, (chosen, rejected) in zip(specs, types):
            pairs.append(_make_pair(rng, spec, chosen, rejected, shift, split))
    rng.shuffle(pairs)
    for i, pair in enumerate(pairs):
        pair.id = f"svb-{split}-{i:05d}"
    return pairs


def _make_pair(rng: random.Random, spec: PromptSpec, chosen: str, rejected: str, shift: Shift,
               split: str) -> Pair:
    gold = shift.new.gold_stance(spec.dimension, spec.context)

    def label(stance: str) -> dict[str, str]:
        return {"dimension": spec.dimension, "context": spec.context, "stance": stance}

    return Pair(
        id="", prompt=spec.text(), chosen=response_text(rng, spec, chosen),
        rejected=response_text(rng, spec, rejected), source=f"synthvaluebench/{shift.name}",
        labels={"chosen": label(chosen), "rejected": label(rejected)},
        correction=response_text(rng, spec, gold),
        meta={"dimension": spec.dimension, "context": spec.context,
              "template_family": spec.family, "shift": shift.name, "split": split,
              "pair_type": f"{chosen}>{rejected}", "correction_stance": gold,
              "prompt_template": spec.template, "slot": spec.slot})


def split_stats(pairs: Sequence[Pair]) -> dict[str, Any]:
    def words(texts):
        texts = list(texts)
        return round(sum(len(t.split()) for t in texts) / max(len(texts), 1), 1)
    return {
        "n": len(pairs),
        "unique_prompts": len({p.prompt for p in pairs}),
        "by_dimension": dict(Counter(p.meta["dimension"] for p in pairs)),
        "by_context": dict(Counter(f"{p.meta['dimension']}/{p.meta['context']}" for p in pairs)),
        "by_pair_type": dict(Counter(f"{p.meta['dimension']}:{p.meta['pair_type']}"
                                     for p in pairs)),
        "by_family": dict(Counter(p.meta["template_family"] for p in pairs)),
        "mean_words": {"prompt": words(p.prompt for p in pairs),
                       "chosen": words(p.chosen for p in pairs),
                       "rejected": words(p.rejected for p in pairs),
                       "correction": words(p.correction or "" for p in pairs)},
    }


def generate(shift: Shift, seed: int, n_train: int, n_test: int):
    """Train pool (training families) and test set (held-out families) for one shift."""
    train = generate_split("train", n_train, shift, seed, family_names(held_out=False))
    test = generate_split("test", n_test, shift, seed, family_names(held_out=True))
    overlap = {p.prompt for p in train} & {p.prompt for p in test}
    if overlap:                       # impossible with disjoint templates; guard regardless
        raise ValueError(f"synthvaluebench: {len(overlap)} prompt(s) in both train and test")
    return train, test


def generate_validation(shift: Shift, seed: int, n_val: int, pool: Sequence[Pair]) -> list[Pair]:
    """``n_val`` extra pairs from the training families whose prompts are not in ``pool``: a
    validation split for tuning, drawn beside the pool (its own random stream), so the pool
    and the test set are the same with or without it."""
    return generate_split("val", n_val, shift, seed, family_names(held_out=False),
                          exclude=frozenset(p.prompt for p in pool))


def labelled_responses(seed: int, families: Sequence[str], n: int) -> list[LabelledResponse]:
    """``n`` responses with their (dimension, stance) labels, balanced over every stance of every
    dimension, drawn from ``families`` — e.g. train a free-text stance probe on the training
    families and test it on the held-out one."""
    fams = load_families()
    unknown = sorted(set(families) - set(fams))
    if unknown or not families:
        raise ValueError(f"labelled_responses: unknown families {unknown}; known {list(fams)}")
    rng = random.Random(f"synthvaluebench-labelled/{GENERATOR_VERSION}/{seed}/{','.join(families)}")
    combos = [(d, s) for d, dim in DIMENSIONS.items() for s in dim.stances]
    out = []
    for i in range(n):
        dim, stance = combos[i % len(combos)]
        contexts = list(DIMENSIONS[dim].contexts)
        ctx = rng.choices(contexts, weights=[DIMENSIONS[dim].contexts[c] for c in contexts])[0]
        fam = rng.choice(list(families))
        spec = PromptSpec(fam, dim, ctx, rng.randrange(len(fams[fam].leads[ctx])),
                          rng.randrange(len(fams[fam].prompts[dim])),
                          rng.randrange(len(load_slots()[dim])))
        out.append(LabelledResponse(response_text(rng, spec, stance), dim, stance, fam, ctx,
                                    spec.text()))
    return out
