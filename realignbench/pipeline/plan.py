"""The reproduction graph (DESIGN §9-§10), derived from the table specs and the method registry.

The tables say which models they show (``pipeline/demand.py``); for every seed the plan trains
M_ref from the base model, then every other model a table shows from M_ref; judges each model
for TPA, evaluates capability and ASR for the models those tables show, and runs a simulated
human panel on the generations of ``eval.human_methods``. Steps are tagged with the tables
they feed so that ``make table-N`` runs only what Table N needs.

Order: the main results first (largest size, clean triage), then the smaller sizes, then the
noisier triage; within each group the headline method (``Entry.headline``: TRACE) first and
the others as the tables first show them, so that a partial run already answers the headline
comparison. Capability and ASR (the slowest evaluations) run after all training and TPA steps
for the same reason.
"""
from __future__ import annotations

from pathlib import Path

from realignbench.pipeline import stages
from realignbench.pipeline.demand import BASE, Demand, Model, table_demand
from realignbench.pipeline.graph import Step
from realignbench.registry import METHODS

M_REF = "old_alignment"          # the π_old-aligned model every other method starts from
DEFERRED_KINDS = ("eval_capability", "eval_asr")

# Seconds per unit cost (train: per pair and epoch, `train_cost`) by model preset, for the first
# ETA; replaced by this pipeline's own measurements as soon as a step of the kind has run.
PRIOR = {
    # one thread per worker, medians of the 2026-11-30 smol reproduce (train: 3 s per pair at
    # 3 epochs; M_ref 7.8 min for 96 pairs x 5 epochs)
    "smol": {"data": 5, "judge_validation": 60, "train": 1.0, "eval_tpa": 85, "eval_capability": 100,
             "eval_asr": 50, "human_eval": 10},
    "tiny": {"data": 2, "judge_validation": 20, "train": 0.017, "eval_tpa": 5, "eval_capability": 10,
             "eval_asr": 3, "human_eval": 2},
    # ESTIMATES for a 7-9B model on one A100/H100-class GPU at the paper presets' settings, not
    # measured here; README "GPU environment" states the throughputs and shows the arithmetic:
    # LoRA training 2,000 tokens/s (assumed), forward-only scoring 6,000 tokens/s (assumed),
    # vLLM generation with a LoRA adapter 1,790 output tokens/s (vLLM PR #11267, 1xA100), and
    # GPT-4o judge calls 4/s (assumed: 8 concurrent, ~2 s each).
    "7-9b": {
        "data": 42000,            # LLM triage: <= 2 x 83.4k PKU pairs = 167k calls / 4 per s
        "judge_validation": 500,  # ~2,000 judge calls / 4 per s
        "train": 0.26,            # per pair and epoch: 2 x 256 tokens / 2,000 tokens/s
        "eval_tpa": 960,          # 2,000 x 256 generated (286 s) + likelihood TPA 2,000 x 2 x 256
                                  # scored (171 s) + 2,000 judge calls (500 s)
        "eval_capability": 1820,  # ~9.8 M scored tokens (1,633 s) + GSM8K 1,319 x 256 generated
        "eval_asr": 790,          # <= 2,000 prompts: generation (286 s) + judge calls (500 s)
        "human_eval": 10,         # simulated panel: no model
    },
}
# The PRIOR row of each model preset's scale; a new model preset adds its line here.
SCALE = {"tiny": "tiny", "smol": "smol", "llama-3.1-8b": "7-9b", "qwen2.5-7b": "7-9b",
         "gemma-2-9b": "7-9b"}


def prior_for(model_preset: str) -> dict[str, float] | None:
    """The ETA prior of ``model_preset``'s scale; None for a model of unknown scale (a local
    directory), whose ETAs start once a step of each kind has run (never another scale's)."""
    scale = SCALE.get(model_preset)
    return PRIOR[scale] if scale else None


def train_cost(cfg, method: str, pairs: int) -> float:
    """A training run's ETA units: pairs x epochs (the method's tuned epochs; M_ref's SFT and
    DPO phases both count), so that a plan follows `make tune`'s choices."""
    if method == M_REF:
        opts = cfg.method_options(M_REF)
        return pairs * (opts.sft_epochs + opts.dpo_epochs)
    return pairs * cfg.train_for(method).epochs


def training_order(models: list[Model], largest: int) -> list[Model]:
    """Main results first, then smaller sizes, then noisier triage; headline method first
    within each group, the rest in order of first appearance (the order of ``models``)."""
    rank = {m: i for i, m in enumerate(models)}
    return sorted(models, key=lambda m: (m[2], m[1] != largest, m[1],
                                         not METHODS.get(m[0]).headline, rank[m]))


def _model_steps(cfg, demand: Demand, tag: str, model: Model, seed: int,
                 train_dep: str) -> list[Step]:
    """Evaluation steps for one trained (or base) model."""
    method, size, noise = model
    tables = frozenset(demand.models[model])
    subject = {"method": method, "seed": seed, "train_size": size, "noise": noise}
    steps = [Step(f"eval_tpa/{tag}", "eval_tpa",
                  lambda out, d=train_dep, s=subject: stages.eval_tpa(cfg, out, d, s),
                  deps=("data", "judge_validation", train_dep), tables=tables)]
    if model in demand.safety_models:
        wanted = tables & demand.safety
        steps.append(Step(f"eval_capability/{tag}", "eval_capability",
                          lambda out, d=train_dep, s=subject: stages.eval_capability(cfg, out, d, s),
                          deps=(train_dep,), tables=wanted))
        steps.append(Step(f"eval_asr/{tag}", "eval_asr",
                          lambda out, d=train_dep, s=subject: stages.eval_asr(cfg, out, d, s),
                          deps=("data", "judge_validation", train_dep), tables=wanted))
    return steps


def _tag(model: Model, seed: int) -> str:
    method, size, noise = model
    return f"{method}/n{size}/p{noise:g}/s{seed}"


def build_plan(cfg, tables_dir: Path | None = None) -> list[Step]:
    """Every step the tables in ``tables_dir`` (default: the shipped tables) need."""
    demand = table_demand(cfg, tables_dir)
    largest = cfg.data.train_sizes[-1]
    base, mref = (BASE, 0, 0.0), (M_REF, largest, 0.0)
    runs = training_order([m for m in demand.models if m[0] not in (BASE, M_REF)], largest)
    from_mref = set(demand.models.get(mref, ())).union(*(demand.models[m] for m in runs))
    steps = [
        Step("data", "data", lambda out: stages.data(cfg), tables=demand.tables),
        Step("judge_validation", "judge_validation", lambda out: stages.judge_validation(cfg, out),
             deps=("data",), tables=demand.judged),
        Step("base", "data", lambda out: cfg.model.preset,      # a name: no work, no ETA
             tables=frozenset(demand.models.get(base, ())), cost=0.0),
    ]
    if base in demand.models:
        steps += _model_steps(cfg, demand, "base", base, 0, "base")
    for seed in cfg.seeds:
        mref_step = f"train/{M_REF}/s{seed}"
        steps.append(Step(mref_step, "train",
                          lambda out, s=seed: stages.train(cfg, out, M_REF, largest, 0.0, s,
                                                           ref="base"),
                          deps=("data", "base"), tables=frozenset(from_mref),
                          cost=train_cost(cfg, M_REF, largest)))
        if mref in demand.models:
            steps += _model_steps(cfg, demand, f"{M_REF}/s{seed}", mref, seed, mref_step)
        for model in runs:
            method, size, noise = model
            train_step = f"train/{_tag(model, seed)}"
            steps.append(Step(train_step, "train",
                              lambda out, m=method, n=size, p=noise, s=seed:
                              stages.train(cfg, out, m, n, p, s, ref=f"train/{M_REF}/s{s}"),
                              deps=("data", mref_step), tables=frozenset(demand.models[model]),
                              cost=train_cost(cfg, method, size)))
            steps += _model_steps(cfg, demand, _tag(model, seed), model, seed, train_step)
        if demand.human:
            human_deps = tuple(f"eval_tpa/{_tag((m, largest, 0.0), seed)}"
                               for m in cfg.eval.human_methods)
            steps.append(Step(f"human_eval/s{seed}", "human_eval",
                              lambda out, d=human_deps, s=seed:
                              stages.human_eval(cfg, out, d, s),
                              deps=("data", *human_deps), tables=demand.human))
    return _deferred_last(steps)


def _deferred_last(steps: list[Step]) -> list[Step]:
    """Plan order with the slow capability/ASR evaluations moved to the end (their
    dependencies are all earlier, so the order stays valid)."""
    return ([s for s in steps if s.kind not in DEFERRED_KINDS]
            + [s for s in steps if s.kind in DEFERRED_KINDS])
