"""Impact scores at forward-pass cost (DESIGN §6; reused by U2A).

For a direction v over the trainable parameters (g_J, the gradient of the gold loss), the
score of example i is the directional derivative ⟨v, ∇ℓ_i(θ)⟩. ``directional_derivatives``
gets all of them from batched forward-mode AD — one ``torch.func.jvp`` of the per-example
losses per micro-batch (about 2.5-3x a plain forward) — instead of one backward per example.
``method="autograd"`` keeps the per-example backward loop as the reference path the tests
compare against. ``method="auto"`` (TRACE's and U2A's default) picks the faster of the two
for the device by a fixed rule (:func:`resolve_score_method`); both give the same scores
within fp tolerance, so run keys name ``auto``, never what it picked. ℓ_i is exactly the
training objective's term for the example (``train.objective.example_terms``), on the same
tokenisation as training; the NLL term is not part of it. Forward-mode AD has no rule for the fused CPU/GPU SDPA kernels, so attention
runs on the math kernel inside the JVP.

``score_statistics`` summarises scores per category for the run's results: a method whose
scores are mostly <= 0 (TRACE's PUNISH pairs on long gold answers) must show it.

Under several processes each rank scores a strided shard and the results are summed across
ranks (no redundant scoring; the gradient is taken on the unwrapped model, never through DDP).
"""
from __future__ import annotations

import contextlib
from typing import Sequence

import torch
from torch import Tensor
from tqdm.auto import tqdm

from realignbench.train.batching import collate
from realignbench.train.examples import Example
from realignbench.train.objective import example_terms
from realignbench.train.reference import reference_logps
from realignbench.train.scorer import SequenceScorer
from realignbench.train.trainer import Trainer

Direction = dict[str, Tensor]
SCORE_METHODS = ("auto", "jvp", "autograd")


def resolve_score_method(method: str, device, batch_size: int) -> tuple[str, int]:
    """(path, micro-batch) that ``method`` runs as on ``device``.

    ``auto``: batched JVP on CUDA, where a batch of forwards with a tangent fills the device;
    per-example autograd at batch 1 elsewhere: a CPU core gains nothing from batching, and the
    JVP's tangent through the adapted layers costs about what a backward does (measured on
    smol: JVP at 0.77x the speed of batch-1 autograd, docs/performance.md). An explicit
    ``jvp``/``autograd`` keeps ``batch_size`` (0: the training micro-batch)."""
    if method not in SCORE_METHODS:
        raise ValueError(f"score method {method!r} is not one of {SCORE_METHODS}")
    if method != "auto":
        return method, batch_size
    if torch.device(device).type == "cuda":
        return "jvp", batch_size
    return "autograd", 1


def trainable(model) -> dict[str, Tensor]:
    return {n: p for n, p in SequenceScorer(model).named_parameters() if p.requires_grad}


def _math_attention():
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        return sdpa_kernel([SDPBackend.MATH])
    except ImportError:                       # older torch: nothing to restrict
        return contextlib.nullcontext()


class _Setup:
    """Encoded examples, reference log-probs and the scorer for one scoring pass."""

    def __init__(self, trainer: Trainer, examples: Sequence[Example], batch_size: int = 0):
        self.trainer, self.acc = trainer, trainer.acc
        self.enc = trainer.encode(examples)
        self.batch_size = batch_size or trainer.cfg.train.micro_batch_size
        self.ref = reference_logps(trainer.model, self.enc, 2 * self.batch_size, self.acc.device,
                                   trunk=trainer.trunk())
        self.frozen = trainer._frozen_reference(examples)
        self.scorer = SequenceScorer(trainer.model, trainer.trunk())
        self.beta = trainer.cfg.train.beta

    def shard(self) -> list[list[int]]:
        """This process's examples in micro-batches of similar length (scores are placed by
        index, so order is free; sorting cuts the padding a batched forward computes on)."""
        mine = list(range(self.acc.process_index, len(self.enc), self.acc.num_processes))
        mine.sort(key=self.length, reverse=True)
        return [mine[i:i + self.batch_size] for i in range(0, len(mine), self.batch_size)]

    def length(self, i: int) -> int:
        return max(len(self.enc.seqs[s].input_ids) for s in self.enc.rows[i])

    def batch(self, ids: list[int]):
        batch = collate(self.enc, ids).to(self.acc.device)
        ref_full = self.frozen.full_logprobs(batch) if batch.full_rows is not None else None
        return batch, self.ref[batch.seq_ids].to(self.acc.device), ref_full

    def losses(self, out, batch, ref, ref_full) -> Tensor:
        return example_terms(out, ref, batch, self.beta, ref_full).main

    def sum_across(self, tensor: Tensor) -> Tensor:
        if self.acc.num_processes == 1:
            return tensor
        return self.acc.reduce(tensor.to(self.acc.device), reduction="sum").cpu()


def loss_gradient(trainer: Trainer, examples: Sequence[Example]) -> Direction:
    """∇_θ of the mean per-example loss over ``examples`` (e.g. g_J on D_gold), at the
    current weights, over the trainable parameters only."""
    setup = _Setup(trainer, examples)
    params = trainable(trainer.model)
    grads = {n: torch.zeros_like(p, dtype=torch.float64) for n, p in params.items()}
    trainer.model.eval()
    for ids in tqdm(setup.shard(), desc="gold gradient", leave=False):
        batch, ref, ref_full = setup.batch(ids)
        out = setup.scorer(batch.input_ids, batch.attention_mask, batch.labels, batch.full_rows)
        loss = setup.losses(out, batch, ref, ref_full).sum() / len(setup.enc)
        for (name, p), g in zip(params.items(), torch.autograd.grad(loss, list(params.values()),
                                                                    allow_unused=True)):
            if g is not None:
                grads[name] += g.double()
    return {n: setup.sum_across(g).to(params[n].dtype) for n, g in grads.items()}


def directional_derivatives(trainer: Trainer, examples: Sequence[Example], direction: Direction,
                            method: str = "jvp", batch_size: int = 0) -> Tensor:
    """⟨direction, ∇ℓ_i⟩ for every example (fp64 tensor of shape [len(examples)])."""
    method, batch_size = resolve_score_method(method, trainer.acc.device, batch_size)
    setup = _Setup(trainer, examples, batch_size)
    params = trainable(trainer.model)
    missing = set(params) - set(direction)
    if missing:
        raise ValueError(f"direction lacks trainable parameters, e.g. {sorted(missing)[:2]}")
    tangent = {n: direction[n].to(p.device, p.dtype) for n, p in params.items()}
    out = torch.zeros(len(setup.enc), dtype=torch.float64)
    trainer.model.eval()
    step = _jvp_batch if method == "jvp" else _autograd_batch
    for ids in tqdm(setup.shard(), desc=f"impact scores ({method})", leave=False):
        out[torch.tensor(ids)] = step(setup, ids, params, tangent).double().cpu()
    return setup.sum_across(out)


def _jvp_batch(setup: _Setup, ids, params, tangent) -> Tensor:
    batch, ref, ref_full = setup.batch(ids)
    primals = {n: p.detach() for n, p in params.items()}
    if setup.scorer.trunk is not None:        # cache I/O outside the transform
        setup.scorer.trunk.prefetch(batch.input_ids, batch.attention_mask)

    def losses(p):
        out = torch.func.functional_call(
            setup.scorer, p, (batch.input_ids, batch.attention_mask, batch.labels,
                              batch.full_rows), strict=False)
        return setup.losses(out, batch, ref, ref_full)

    with torch.no_grad(), _math_attention():
        _, derivative = torch.func.jvp(losses, (primals,), (tangent,))
    return derivative


def _autograd_batch(setup: _Setup, ids, params, tangent) -> Tensor:
    batch, ref, ref_full = setup.batch(ids)
    out = setup.scorer(batch.input_ids, batch.attention_mask, batch.labels, batch.full_rows)
    losses = setup.losses(out, batch, ref, ref_full)
    names, values = list(params), list(params.values())
    result = []
    for i in range(losses.numel()):
        grads = torch.autograd.grad(losses[i], values, retain_graph=True, allow_unused=True)
        result.append(sum((g.double() * tangent[n].double()).sum()
                          for n, g in zip(names, grads) if g is not None))
    return torch.stack([torch.as_tensor(r, dtype=torch.float64) for r in result])


def group_scores(trainer: Trainer, groups: Sequence[Sequence[Example]], direction: Direction,
                 method: str = "jvp", batch_size: int = 0) -> Tensor:
    """Scores of groups of examples (one per pair: a PUNISH pair is NPO on both responses,
    so its score is the sum over its two examples)."""
    flat = [ex for g in groups for ex in g]
    owner = torch.tensor([i for i, g in enumerate(groups) for _ in g])
    per_example = directional_derivatives(trainer, flat, direction, method, batch_size)
    return torch.zeros(len(groups), dtype=torch.float64).index_add(0, owner, per_example)


def score_statistics(scores: Tensor, categories: Sequence[str], lengths: Sequence[int]
                     ) -> dict[str, dict]:
    """Per category (and ``all``): count, mean, median, min, max, the share of scores <= 0
    (clamped to weight 0), and the Spearman correlation of score with response length in
    tokens (summed log-prob scores grow with length; ``None`` when undefined)."""
    import pandas as pd
    from scipy import stats

    frame = pd.DataFrame({"category": list(categories), "score": scores.double().tolist(),
                          "length": list(lengths)})
    if len(frame) != scores.numel():
        raise ValueError(f"{scores.numel()} scores but {len(frame)} categories/lengths")

    def summary(part: pd.DataFrame) -> dict:
        rho = None
        if len(part) > 2 and part["score"].nunique() > 1 and part["length"].nunique() > 1:
            rho = float(stats.spearmanr(part["score"], part["length"]).statistic)
        return {"n": int(len(part)), "mean": float(part["score"].mean()),
                "median": float(part["score"].median()), "min": float(part["score"].min()),
                "max": float(part["score"].max()),
                "share_le_0": float((part["score"] <= 0).mean()),
                "spearman_length": rho}

    out = {str(cat): summary(part) for cat, part in frame.groupby("category", sort=True)}
    out["all"] = summary(frame)
    return out
