"""The ghost path of impact scores: ⟨v, ∇ℓ_i⟩ for every example of a micro-batch from one
batched forward and one backward, without forming a per-example gradient.

For a linear layer y = W' x + b, ∇_{W'} ℓ_i = Σ_t g_t x_tᵀ over the positions t of example
i's sequences, with g_t = ∂ℓ_i/∂y_t; so for a direction D of W' the score is
Σ_t g_tᵀ D x_t (the trick behind per-example gradient norms: Goodfellow 2015, "Efficient
per-example gradient computations"; Li et al. 2022's ghost clipping). A LoRA layer is
y = (W + s·B A) x + b, whose trainable factors move the effective weight W' along
D = s·(V_B A + B V_A) for a direction (V_A, V_B): the score needs only the layer's input and
the gradient at its output. So every LoRA layer runs as one linear layer with its merged
weight (exactly W at θ_ref, where B = 0) — the rank-r branch costs nothing in the forward or
the backward — and the backward stops at the layers' outputs. D is applied through its
low-rank factors, never formed.

The unit scored is a group of examples (a TRACE pair, or one example): ⟨v, ∇ of the group's
summed losses⟩. The groups of a micro-batch share no sequence and the loss is a sum over
groups, so the batch's backward gives every position exactly its own group's g_t.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from realignbench.train import prefix_pack


@dataclass
class Term:
    """One rank-limited part L·R of a direction D of an effective weight (``None``: the
    identity on that side), so Σ_t g_tᵀ L R x_t costs two thin products, not D itself."""
    left: Tensor | None          # [d_out, k] or None
    right: Tensor | None         # [k, d_in] or None

    def dot(self, g: Tensor, x: Tensor) -> Tensor:
        a = g if self.left is None else g @ self.left.to(g.dtype)
        b = x if self.right is None else x @ self.right.to(x.dtype).T
        return (a * b).flatten(1).sum(1)


@dataclass
class Site:
    """A module that runs as ``F.linear(x, weight, bias)`` during ghost scoring, with the
    direction of its effective weight (``terms``) and bias (``bias_direction``)."""
    name: str
    module: nn.Module
    weight: Tensor
    bias: Tensor | None
    terms: list[Term] = field(default_factory=list)
    bias_direction: Tensor | None = None

    @property
    def moved(self) -> bool:
        return bool(self.terms) or self.bias_direction is not None

    def dot(self, g: Tensor, x: Tensor) -> Tensor:
        """Σ_t g_tᵀ (D x_t + d_b) per row of a batch ([rows, ..., d] inputs), in fp32 at
        least (the LoRA factors' dtype whatever the base weights')."""
        dtype = torch.promote_types(g.dtype, torch.float32)
        g, x = g.to(dtype), x.to(dtype)
        total = g.new_zeros(g.shape[0])
        for term in self.terms:
            total += term.dot(g, x)
        if self.bias_direction is not None:
            total += (g @ self.bias_direction.to(dtype)).flatten(1).sum(1)
        return total


def _nonzero(t: Tensor | None) -> Tensor | None:
    return t if t is not None and bool(t.any()) else None


def _lora_site(name: str, module: nn.Module, tangent: dict[str, Tensor] | None
               ) -> tuple[Site | None, str | None]:
    """The merged linear of a vanilla LoRA layer, or (None, why it is not one)."""
    base = module.base_layer
    if not isinstance(base, nn.Linear) or module.merged or module.disable_adapters:
        return None, f"{name} is not an unmerged, enabled LoRA layer over nn.Linear"
    adapters = [a for a in module.active_adapters if a in module.lora_A]
    odd = [a for a in adapters if a in getattr(module, "lora_variant", {})
           or module.lora_B[a].bias is not None]
    if odd:
        return None, f"{name}: adapter {odd[0]!r} is not vanilla LoRA (DoRA, a LoRA bias, ...)"
    weight = base.weight.detach()
    site = Site(name, module, weight, None if base.bias is None else base.bias.detach())
    for a in adapters:
        s = module.scaling[a]
        A, B = module.lora_A[a].weight.detach(), module.lora_B[a].weight.detach()
        if B.any():
            site.weight = (site.weight.to(B.dtype) + s * (B @ A)).to(weight.dtype)
        if tangent is None:
            continue
        v_a = _nonzero(tangent.get(f"{name}.lora_A.{a}.weight"))
        v_b = _nonzero(tangent.get(f"{name}.lora_B.{a}.weight"))
        if v_b is not None:
            site.terms.append(Term(s * v_b, A))                  # s·V_B A
        if v_a is not None:
            site.terms.append(Term(s * B, v_a))                  # s·B V_A
    return site, None


def sites(scorer: nn.Module, params: dict[str, Tensor], tangent: dict[str, Tensor] | None = None
          ) -> tuple[list[Site], list[str]]:
    """The ghost sites of ``scorer`` — its LoRA layers and the ``nn.Linear`` layers with a
    trainable weight or bias — and the trainable parameters none of them covers (by name).
    ``tangent`` (a direction over ``params``) fills each site's terms."""
    from peft.tuners.lora.layer import Linear as LoraLinear
    found, covered, problems = [], set(), []
    lora_names = {n for n, m in scorer.named_modules() if isinstance(m, LoraLinear)}
    for name, module in scorer.named_modules():
        if name in lora_names:
            site, why = _lora_site(name, module, tangent)
            if site is None:
                problems.append(why)
                continue
            found.append(site)
            covered |= {n for n in params if n.startswith(f"{name}.lora_")}
        elif isinstance(module, nn.Linear) and not any(
                name.startswith(f"{lora}.") for lora in lora_names):
            mine = {f"{name}.weight", f"{name}.bias"} & set(params)
            if not mine:
                continue
            site = Site(name, module, module.weight.detach(),
                        None if module.bias is None else module.bias.detach())
            if tangent is not None:
                v = _nonzero(tangent.get(f"{name}.weight")) if f"{name}.weight" in mine else None
                if v is not None:        # multiply V into the narrower side
                    site.terms.append(Term(None, v) if v.shape[0] <= v.shape[1]
                                      else Term(v, None))
                if f"{name}.bias" in mine:
                    site.bias_direction = _nonzero(tangent.get(f"{name}.bias"))
            found.append(site)
            covered |= mine
    return found, sorted(set(params) - covered) + problems


def supported(scorer: nn.Module, params: dict[str, Tensor]) -> bool:
    return not sites(scorer, params)[1]


def checked_sites(scorer: nn.Module, params: dict[str, Tensor], tangent: dict[str, Tensor]
                  ) -> list[Site]:
    found, rest = sites(scorer, params, tangent)
    if rest:
        raise ValueError(f"score method 'ghost' needs every trainable parameter to be a "
                         f"vanilla LoRA factor or an nn.Linear weight or bias; not: {rest[:2]}")
    return found


@contextlib.contextmanager
def merged_linears(found: list[Site], seen: list | None = None):
    """Run every site as ``F.linear`` with its (detached) effective weight. With ``seen``,
    each moved site's (site, input, output) is appended as it runs, the output made to
    require grad so that the backward reaches it (nothing below it does)."""
    def runner(site: Site):
        def forward(x, *args, **kwargs):
            y = F.linear(x, site.weight, site.bias)
            if seen is not None and site.moved:
                if not y.requires_grad:
                    y.requires_grad_()
                seen.append((site, x, y))
            return y
        return forward

    try:
        for site in found:
            site.module.forward = runner(site)    # an instance attribute shadows the method
        yield
    finally:
        for site in found:
            site.module.__dict__.pop("forward", None)


def batch_scores(setup, units: list[int], found: list[Site]) -> Tensor:
    """Scores of ``units`` (one micro-batch of ``impact._Setup``): per unit, ⟨v, ∇ of the sum
    of its examples' losses⟩. Each unit's sequences run in one row, their shared prefix once
    (``train/prefix_pack.py``), where the attention implementation takes a custom mask;
    otherwise as the plain padded batch, each row's share added to its unit's."""
    batch, ref, ref_full = setup.batch(units)
    unit_rows = rows_of_units(setup, batch, units)
    seen: list[tuple[Site, Tensor, Tensor]] = []
    packed = setup.scorer.packable
    with merged_linears(found, seen):
        out = forward(setup, batch, unit_rows)
    n_rows = len(units) if packed else len(batch.seq_ids)
    per_row = torch.zeros(n_rows, dtype=torch.float64, device=batch.input_ids.device)
    if seen:
        losses = setup.losses(out, batch, ref, ref_full)
        grads = torch.autograd.grad(losses.sum(), [y for _, _, y in seen], allow_unused=True)
        with torch.no_grad():
            for (site, x, _), g in zip(seen, grads):
                if g is None:
                    continue
                if x.shape[0] != n_rows:
                    raise ValueError(f"ghost scores need [rows, ...] inputs at {site.name}, "
                                     f"got {tuple(x.shape)}")
                per_row += site.dot(g, x).double()
    if packed:
        return per_row
    return torch.stack([per_row[rows].sum() for rows in unit_rows])


def rows_of_units(setup, batch, units: list[int]) -> list[list[int]]:
    """Per unit, the rows of ``batch`` that hold its sequences."""
    row_of = {s: r for r, s in enumerate(batch.seq_ids)}
    return [sorted({row_of[s] for s in setup.sequences(u)}) for u in units]


def forward(setup, batch, unit_rows: list[list[int]]) -> dict[str, Tensor]:
    """The scorer's outputs for ``batch``: each unit in one packed row where the attention
    takes a custom mask, else the plain padded rows."""
    if not setup.scorer.packable:
        return setup.scorer(batch.input_ids, batch.attention_mask, batch.labels, batch.full_rows)
    pack = prefix_pack.pack([setup.enc.seqs[s] for s in batch.seq_ids], unit_rows,
                            setup.enc.pad_id, setup.scorer.hidden_dtype)
    return setup.scorer.forward_packed(pack.to(batch.input_ids.device), len(batch.seq_ids),
                                       batch.full_rows)
