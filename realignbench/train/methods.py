"""The plain methods: SFT, DPO, and M_ref (``old_alignment``: SFT on every old response, then
DPO under π_old; DESIGN §6a). TRACE lives in ``realignbench/trace``, baselines in
``realignbench/baselines``; all use the same :class:`~realignbench.train.plugin.Method` shape.
"""
from __future__ import annotations

from dataclasses import dataclass

from realignbench.train.examples import Preference, Sft
from realignbench.train.losses import PREFERENCE_KINDS
from realignbench.train.plugin import Method


@dataclass
class SftOptions:
    responses: str = "chosen"        # chosen | both: which stored responses to imitate


@dataclass
class DpoOptions:
    loss: str = "dpo"                # dpo | ipo | rdpo, on the stored (π_old) orientation
    eps: float = 0.0                 # rDPO flip rate

    def __post_init__(self):
        if self.loss not in PREFERENCE_KINDS:
            raise ValueError(f"methods.dpo.loss: {self.loss!r} is not one of {PREFERENCE_KINDS}")


@dataclass
class OldAlignmentOptions:
    sft_epochs: float = 1.0          # over 2 × pairs examples (chosen and rejected)
    dpo_epochs: float = 1.0
    sft_max_steps: int = 0           # 0 = from epochs
    dpo_max_steps: int = 0


def sft_examples(ctx, pairs, opts: SftOptions) -> list:
    if opts.responses not in ("chosen", "both"):
        raise ValueError(f"methods.sft.responses: {opts.responses!r} is not chosen|both")
    out = [Sft(f"{p.id}/chosen", p.prompt, p.chosen) for p in pairs]
    if opts.responses == "both":
        out += [Sft(f"{p.id}/rejected", p.prompt, p.rejected) for p in pairs]
    return out


def dpo_examples(ctx, pairs, opts: DpoOptions) -> list:
    """Preferences in the stored orientation (π_old's chosen ≻ rejected)."""
    return [Preference(p.id, p.prompt, p.chosen, p.rejected, loss=opts.loss, eps=opts.eps)
            for p in pairs]


def old_alignment(ctx, pairs, opts: OldAlignmentOptions) -> dict:
    """M_ref: both stances enter the repertoire (SFT on chosen AND rejected), then DPO makes
    π_old's stance the preferred one. The SFT adapter is merged before the DPO phase, so the
    DPO reference is the SFT model."""
    sft = sft_examples(ctx, pairs, SftOptions(responses="both"))
    ctx.save_examples(sft, "examples_sft.jsonl")
    ctx.fit(sft, phase="sft", epochs=opts.sft_epochs, max_steps=opts.sft_max_steps or None)
    ctx.restart_adapters()
    prefs = dpo_examples(ctx, pairs, DpoOptions())
    ctx.save_examples(prefs, "examples_dpo.jsonl")
    ctx.fit(prefs, phase="dpo", epochs=opts.dpo_epochs, max_steps=opts.dpo_max_steps or None)
    return {"examples": {"sft": len(sft), "dpo": len(prefs)}}


SFT = Method(SftOptions, build=sft_examples, judged_per_pair=0)
DPO = Method(DpoOptions, build=dpo_examples, judged_per_pair=0)
OLD_ALIGNMENT = Method(OldAlignmentOptions, run=old_alignment, starts_from="base", own_epochs=True,
                       save_merged=True, judged_per_pair=0)
