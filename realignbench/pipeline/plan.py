"""The reproduction graph (DESIGN §9-§10): which stages feed which of Tables 1-8.

For every seed: M_ref from the base model; the five methods and four TRACE variants at the
largest data size; TRACE and Naive Oracle DPO at the smaller sizes; DPO-Gold, U2A, TRACE and
rDPO (ε = p) on the noise-injected triage; each trained model judged for TPA, and the models
in the capability/ASR tables evaluated for those too; a simulated human panel on the
DPO-Gold / TRACE / U2A generations. Steps are tagged with the tables they feed so that
``make table-N`` runs only what Table N needs.
"""
from __future__ import annotations

from realignbench.pipeline import stages
from realignbench.pipeline.graph import Step

MAIN = ("naive_dpo", "rdpo", "dpo_gold", "u2a", "trace")
ABLATIONS = ("trace_no_triage", "trace_no_kl", "trace_no_impact", "trace_oracle_punish",
             "trace_ours")
SIZE_METHODS = ("naive_dpo", "trace")              # Table 5
NOISE_METHODS = ("dpo_gold", "u2a", "trace", "rdpo")  # Table 8
HUMAN_METHODS = ("dpo_gold", "trace", "u2a")       # Table 2
CAPABILITY_ASR = {"base", "old_alignment", *MAIN, *ABLATIONS}   # Tables 3, 4, 6, 7
# Training order: TRACE first, then the baselines, so that a partial run already answers the
# headline comparison. Capability and ASR (the slowest evaluations) run after all training and
# TPA steps for the same reason.
FIRST = ("trace", "naive_dpo", "dpo_gold", "u2a", "rdpo")
DEFERRED_KINDS = ("eval_capability", "eval_asr")
ALL_TABLES = frozenset(range(1, 9))

# Seconds per unit cost (train: per pair) by model preset, for the first ETA; replaced by this
# pipeline's own measurements as soon as a step of the kind has run.
PRIOR = {
    # one thread per worker, medians of the 2026-11-30 smol reproduce (train: 3 s per pair)
    "smol": {"data": 5, "judge_validation": 60, "train": 3.0, "eval_tpa": 85, "eval_capability": 100,
             "eval_asr": 50, "human_eval": 10},
    "tiny": {"data": 2, "judge_validation": 20, "train": 0.05, "eval_tpa": 5, "eval_capability": 10,
             "eval_asr": 3, "human_eval": 2},
}


def _tables_of(method: str, size: int, noise: float, largest: int) -> set[int]:
    tables: set[int] = set()
    if noise == 0.0 and size == largest:
        tables |= {7}
        if method in ("dpo_gold", "u2a", "trace"):
            tables |= {2, 3, 6}
        if method == "trace" or method in ABLATIONS:
            tables |= {4}
    if noise == 0.0 and method in SIZE_METHODS:
        tables |= {5}
    if size == largest and method in NOISE_METHODS:
        tables |= {8}
    return tables


def _model_steps(cfg, tag: str, method: str, seed: int, size: int, noise: float,
                 tables: set[int], train_dep: str) -> list[Step]:
    """Evaluation steps for one trained (or base) model."""
    subject = {"method": method, "seed": seed, "train_size": size, "noise": noise}
    steps = [Step(f"eval_tpa/{tag}", "eval_tpa",
                  lambda out, d=train_dep, s=subject: stages.eval_tpa(cfg, out, d, s),
                  deps=("data", "judge_validation", train_dep), tables=frozenset(tables))]
    if method in CAPABILITY_ASR and noise == 0.0 and (method == "base" or size == max(cfg.data.train_sizes)):
        wanted = frozenset(tables & {3, 4, 6, 7})
        steps.append(Step(f"eval_capability/{tag}", "eval_capability",
                          lambda out, d=train_dep, s=subject: stages.eval_capability(cfg, out, d, s),
                          deps=(train_dep,), tables=wanted))
        steps.append(Step(f"eval_asr/{tag}", "eval_asr",
                          lambda out, d=train_dep, s=subject: stages.eval_asr(cfg, out, d, s),
                          deps=("data", "judge_validation", train_dep), tables=wanted))
    return steps


def build_plan(cfg) -> list[Step]:
    sizes, noises = cfg.data.train_sizes, cfg.data.noise_levels
    largest = sizes[-1]
    steps = [
        Step("data", "data", lambda out: stages.data(cfg), tables=ALL_TABLES),
        Step("judge_validation", "judge_validation", lambda out: stages.judge_validation(cfg, out),
             deps=("data",),
             tables=ALL_TABLES - {3}),
        Step("base", "data", lambda out: cfg.model.preset, tables=frozenset({3, 6, 7})),
    ]
    steps += _model_steps(cfg, "base", "base", 0, 0, 0.0, {3, 6, 7}, "base")
    for seed in cfg.seeds:
        mref = f"train/old_alignment/s{seed}"
        steps.append(Step(mref, "train",
                          lambda out, s=seed: stages.train(cfg, out, "old_alignment", largest, 0.0, s,
                                                           ref="base"),
                          deps=("data", "base"), tables=ALL_TABLES - {1}, cost=3 * largest))
        steps += _model_steps(cfg, f"old_alignment/s{seed}", "old_alignment", seed, largest, 0.0,
                              {7}, mref)
        runs = [(m, largest, 0.0) for m in (*FIRST, *ABLATIONS)]
        runs += [(m, n, 0.0) for n in sizes[:-1] for m in SIZE_METHODS]
        runs += [(m, largest, p) for p in noises if p > 0 for m in NOISE_METHODS]
        for method, size, noise in runs:
            tables = _tables_of(method, size, noise, largest)
            if not tables:
                continue
            tag = f"{method}/n{size}/p{noise:g}/s{seed}"
            train_step = f"train/{tag}"
            steps.append(Step(train_step, "train",
                              lambda out, m=method, n=size, p=noise, s=seed:
                              stages.train(cfg, out, m, n, p, s, ref=f"train/old_alignment/s{s}"),
                              deps=("data", mref), tables=frozenset(tables), cost=size))
            steps += _model_steps(cfg, tag, method, seed, size, noise, tables, train_step)
        human_deps = tuple(f"eval_tpa/{m}/n{largest}/p0/s{seed}" for m in HUMAN_METHODS)
        steps.append(Step(f"human_eval/s{seed}", "human_eval",
                          lambda out, d=human_deps: stages.human_eval(cfg, out, d),
                          deps=("data", *human_deps), tables=frozenset({2})))
    return _deferred_last(steps)


def _deferred_last(steps: list[Step]) -> list[Step]:
    """Plan order with the slow capability/ASR evaluations moved to the end (their
    dependencies are all earlier, so the order stays valid)."""
    return ([s for s in steps if s.kind not in DEFERRED_KINDS]
            + [s for s in steps if s.kind in DEFERRED_KINDS])
