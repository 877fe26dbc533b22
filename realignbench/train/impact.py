"""Impact scores at the cost of one forward and one backward per micro-batch (DESIGN §6;
reused by U2A).

For a direction v over the trainable parameters (g_J, the gradient of the gold loss), the
score of example i is the directional derivative ⟨v, ∇ℓ_i(θ)⟩, and a group's (a TRACE pair)
the sum over its examples (``group_scores``). There are three exact paths, none of which forms
a per-example gradient in a batch:

* ``ghost``: one batched forward and one backward to the outputs of the adapted linear layers,
  each LoRA layer run as one linear layer with its merged weight, each group in one packed row
  with its shared prompt once; each group's score is read off its own positions' inputs and
  output gradients (``train/ghost.py``). Needs every trainable parameter to be a vanilla LoRA
  factor or a linear layer's weight or bias.
* ``jvp``: one ``torch.func.jvp`` of the per-example losses per micro-batch (forward mode).
  Forward-mode AD has no rule for the fused CPU/GPU SDPA kernels, so attention runs on the
  math kernel inside the JVP.
* ``autograd``: one backward per example — the plain definition, kept as the reference path
  the tests compare the others against.

``method="auto"`` (TRACE's and U2A's default) picks per device by a fixed rule
(:func:`resolve_score_method`); all give the same scores within fp tolerance, so run keys name
``auto``, never what it picked. ℓ_i is exactly the training objective's term for the example
(``train.objective.example_terms``), on the same tokenisation as training; the NLL term is not
part of it.

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

from realignbench.train import ghost
from realignbench.train.batching import collate
from realignbench.train.examples import Example
from realignbench.train.objective import example_terms
from realignbench.train.reference import reference_logps
from realignbench.train.scorer import SequenceScorer
from realignbench.train.trainer import Trainer

Direction = dict[str, Tensor]
SCORE_METHODS = ("auto", "ghost", "jvp", "autograd")


def resolve_score_method(method: str, device, batch_size: int, ghost_ok: bool
                         ) -> tuple[str, int]:
    """(path, micro-batch) that ``method`` runs as on ``device``.

    ``auto``: batched JVP on CUDA, where a batch of forwards with a tangent fills the device;
    elsewhere the ghost path (one batched backward, per-example dot products read off each
    adapted layer) when every trainable parameter is a LoRA factor's (``ghost_ok``),
    else per-example autograd at batch 1. On a CPU forward mode gains nothing: its tangent
    through the adapted layers costs what a backward does, and the JVP may not use the fused
    attention kernel (``make perf`` measures all three on smol: docs/performance.md). An
    explicit method keeps ``batch_size`` (0: the training micro-batch)."""
    if method not in SCORE_METHODS:
        raise ValueError(f"score method {method!r} is not one of {SCORE_METHODS}")
    if method != "auto":
        return method, batch_size
    if torch.device(device).type == "cuda":
        return "jvp", batch_size
    return ("ghost", batch_size) if ghost_ok else ("autograd", 1)


def ghost_supported(model) -> bool:
    """Whether every trainable parameter of ``model`` is a vanilla LoRA factor or an
    ``nn.Linear`` weight or bias: the condition of the ghost path (``train/ghost.py``)."""
    return ghost.supported(SequenceScorer(model), trainable(model))


def trainable(model) -> dict[str, Tensor]:
    return {n: p for n, p in SequenceScorer(model).named_parameters() if p.requires_grad}


def _math_attention():
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        return sdpa_kernel([SDPBackend.MATH])
    except ImportError:                       # older torch: nothing to restrict
        return contextlib.nullcontext()


class _Setup:
    """Encoded examples, reference log-probs and the scorer for one scoring pass. ``units``
    (lists of example indices; default: one per example) are what micro-batches are made of:
    a unit's examples always go into the same one."""

    def __init__(self, trainer: Trainer, examples: Sequence[Example], batch_size: int = 0,
                 units: Sequence[Sequence[int]] | None = None):
        self.trainer, self.acc = trainer, trainer.acc
        self.enc = trainer.encode(examples)
        self.units = [list(u) for u in units] if units is not None else \
            [[i] for i in range(len(examples))]
        self.batch_size = batch_size or trainer.cfg.train.micro_batch_size
        self.ref = reference_logps(trainer.model, self.enc, 2 * self.batch_size, self.acc.device,
                                   trunk=trainer.trunk())
        self.frozen = trainer._frozen_reference(examples)
        self.scorer = SequenceScorer(trainer.model, trainer.trunk())
        self.beta = trainer.cfg.train.beta

    def shard(self) -> list[list[int]]:
        """This process's units in micro-batches of at most ``batch_size`` units of similar
        length (scores are placed by index, so order is free; sorting cuts the padding a
        batched forward computes on). Units of one micro-batch share no sequence (first fit):
        ``collate`` pads a shared sequence once, and the ghost path reads each unit's gradient
        off its own rows."""
        mine = list(range(self.acc.process_index, len(self.units), self.acc.num_processes))
        mine.sort(key=self.length, reverse=True)
        batches: list[tuple[list[int], set[int]]] = []
        for u in mine:
            rows = self.sequences(u)
            fit = next((b for b in batches if len(b[0]) < self.batch_size and not b[1] & rows),
                       None)
            if fit is None:
                batches.append(([u], rows))
            else:
                fit[0].append(u)
                fit[1].update(rows)
        return [ids for ids, _ in batches]

    def sequences(self, unit: int) -> set[int]:
        return {s for i in self.units[unit] for s in self.enc.rows[i]}

    def length(self, unit: int) -> int:
        return max(len(self.enc.seqs[s].input_ids) for s in self.sequences(unit))

    def examples(self, units: Sequence[int]) -> list[int]:
        return [i for u in units for i in self.units[u]]

    def batch(self, units: list[int]):
        """The collated examples of ``units`` (with singleton units: row i = example i)."""
        batch = collate(self.enc, self.examples(units)).to(self.acc.device)
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
    return group_scores(trainer, [[ex] for ex in examples], direction, method, batch_size)


def group_scores(trainer: Trainer, groups: Sequence[Sequence[Example]], direction: Direction,
                 method: str = "jvp", batch_size: int = 0) -> Tensor:
    """⟨direction, ∇ Σ_{i∈g} ℓ_i⟩ for every group g of examples (a TRACE pair: a PUNISH pair
    is NPO on both responses, so its score is the sum over its two examples), fp64 [len(groups)].
    The ghost path scores each group in one packed row (its sequences share their prompt:
    ``train/prefix_pack.py``); the others score every example and add them up."""
    method, batch_size = resolve_score_method(method, trainer.acc.device, batch_size,
                                              ghost_supported(trainer.model))
    flat = [ex for g in groups for ex in g]
    owner = torch.tensor([k for k, g in enumerate(groups) for _ in g], dtype=torch.long)
    params = trainable(trainer.model)
    missing = set(params) - set(direction)
    if missing:
        raise ValueError(f"direction lacks trainable parameters, e.g. {sorted(missing)[:2]}")
    tangent = {n: direction[n].to(p.device, p.dtype) for n, p in params.items()}
    if method == "ghost":
        setup = _Setup(trainer, flat, batch_size, units_of(groups))
        sites = ghost.checked_sites(setup.scorer, params, tangent)
        return _each_batch(setup, method, lambda u: ghost.batch_scores(setup, u, sites))
    setup = _Setup(trainer, flat, batch_size)
    batch_step = _jvp_batch if method == "jvp" else _autograd_batch
    per_example = _each_batch(setup, method, lambda u: batch_step(setup, u, params, tangent))
    return torch.zeros(len(groups), dtype=torch.float64).index_add(0, owner, per_example)


def units_of(groups: Sequence[Sequence[Example]]) -> list[list[int]]:
    """Each group's indices in the flattened list of examples."""
    starts = [0]
    for g in groups:
        starts.append(starts[-1] + len(g))
    return [list(range(a, b)) for a, b in zip(starts, starts[1:])]


def _each_batch(setup: _Setup, method: str, step) -> Tensor:
    """``step(units)`` on every micro-batch of this process, placed by unit and summed over
    processes."""
    out = torch.zeros(len(setup.units), dtype=torch.float64)
    setup.trainer.model.eval()
    for units in tqdm(setup.shard(), desc=f"impact scores ({method})", leave=False):
        out[torch.tensor(units)] = step(units).double().cpu()
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
