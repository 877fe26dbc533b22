"""BASELINES WITH THE AUTHORS' SEMANTICS — written here for the benchmarks, not used anywhere else.

These loops reproduce how the authors' TRACE code *spends* compute (reference digest
trace-code.md §5.2, §5.5, §5.7, §11), while computing the same maths as our objective, so the
only difference to the fast paths is the execution strategy:

* one example at a time (micro-batch 1), chosen and rejected in separate forwards;
* every sequence padded to 256 tokens, logits over all positions and the whole vocabulary;
* the chat template rendered and tokenised inside the loop, at every step;
* the reference forward recomputed for every sequence at every step (no cache);
* impact scores by one reverse-mode gradient per sequence, dotted with g_J; for preference
  examples the DPO coefficient comes from four extra no-grad forwards (§5.5), as theirs does.

The losses are ours (``realignbench.train.losses``: DPO, NPO with its 2/β factor, per-token
NLL), and the tokenisation is ours (``encode_pair``), so results agree with the fast paths up to
floating-point rounding — the benchmarks check that.
"""
from __future__ import annotations

import torch

from realignbench.models.chat import IGNORE, PadCollator, encode_pair
from realignbench.train import losses as L
from realignbench.train.batching import stream_positions
from realignbench.train.examples import Preference, Punitive
from realignbench.train.reference import reference_mode
from realignbench.train.trainer import lr_lambda

PAD_TO = 256


class PaddedEncoder:
    """Render + tokenise one (prompt, response) on every call, padded to ``PAD_TO``."""

    def __init__(self, tokenizer, cfg):
        self.tok, self.cfg = tokenizer, cfg
        self.collate = PadCollator(tokenizer.pad_token_id, side="right", pad_to_multiple_of=PAD_TO)

    def __call__(self, prompt: str, response: str) -> dict[str, torch.Tensor]:
        enc = encode_pair(self.tok, prompt, response, self.cfg.model.max_prompt_tokens,
                          self.cfg.model.max_length)
        return self.collate([enc])


def sequence_logp(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed response log-prob from full logits (all 256 positions × vocabulary)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   use_cache=False).logits[:, :-1].float()
    targets = batch["labels"][:, 1:]
    mask = targets != IGNORE
    tok = logits.log_softmax(-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (tok * mask).sum(-1), mask.sum(-1)


def reference_logp(model, batch) -> torch.Tensor:
    with reference_mode(model):
        return sequence_logp(model, batch)[0]


def _params(model) -> list[tuple[str, torch.Tensor]]:
    """Trainable parameters under the names impact directions use."""
    from realignbench.train.impact import trainable
    return list(trainable(model).items())


def _grad_dot(value: torch.Tensor, params, direction) -> torch.Tensor:
    grads = torch.autograd.grad(value, [p for _, p in params], allow_unused=True)
    return sum((g.double() * direction[n].double()).sum()
               for (n, _), g in zip(params, grads) if g is not None)


def impact_scores(model, tokenizer, cfg, examples, direction) -> torch.Tensor:
    """⟨direction, ∇ℓ_i⟩ per example, one sequence and one backward at a time."""
    encode, beta = PaddedEncoder(tokenizer, cfg), cfg.train.beta
    params = _params(model)
    model.eval()
    out = []
    for ex in examples:
        if isinstance(ex, Preference):
            if ex.loss != "dpo":
                raise NotImplementedError("the authors' impact loop covers DPO preferences")
            pos, neg = encode(ex.prompt, ex.preferred), encode(ex.prompt, ex.dispreferred)
            with torch.no_grad():           # §5.5: four forwards for the DPO coefficient
                delta = ((sequence_logp(model, pos)[0] - reference_logp(model, pos))
                         - (sequence_logp(model, neg)[0] - reference_logp(model, neg)))
            coef = -beta * torch.sigmoid(-beta * delta)          # dℓ_DPO / dΔ
            score = (_grad_dot(sequence_logp(model, pos)[0].sum(), params, direction)
                     - _grad_dot(sequence_logp(model, neg)[0].sum(), params, direction))
            out.append(float(coef) * score)
        elif isinstance(ex, Punitive):
            batch = encode(ex.prompt, ex.response)
            ref = reference_logp(model, batch)
            loss = L.npo_loss(sequence_logp(model, batch)[0] - ref, beta, ex.npo_scale).sum()
            out.append(_grad_dot(loss, params, direction))
        else:
            raise NotImplementedError(f"no authors' impact loop for {ex.kind} examples")
    return torch.stack([torch.as_tensor(s, dtype=torch.float64) for s in out])


def train_dpo(model, tokenizer, cfg, examples: list[Preference], steps: int, seed: int
              ) -> list[float]:
    """``steps`` optimiser steps of DPO (+ nll_weight × NLL of the preferred response) on the
    same data order, optimiser and schedule as our trainer; returns the loss of each step."""
    t = cfg.train
    encode = PaddedEncoder(tokenizer, cfg)
    params = [p for _, p in _params(model)]
    optimizer = torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(t.lr_schedule, int(t.warmup_ratio * steps), steps))
    torch.manual_seed(seed)
    model.train()
    history = []
    for step in range(steps):
        ids = stream_positions(len(examples), step, t.global_batch_size, seed)
        total = 0.0
        for i in ids:                                   # micro-batch 1, accumulate
            ex = examples[i]
            pos, neg = encode(ex.prompt, ex.preferred), encode(ex.prompt, ex.dispreferred)
            ref_pos, ref_neg = reference_logp(model, pos), reference_logp(model, neg)
            logp_pos, n_pos = sequence_logp(model, pos)
            logp_neg, _ = sequence_logp(model, neg)
            delta = L.margin(logp_pos, ref_pos, logp_neg, ref_neg)
            loss = ex.weight * (L.dpo_loss(delta, t.beta)
                                + t.nll_weight * L.nll_loss(logp_pos, n_pos))
            loss = loss.sum() / len(ids)
            loss.backward()
            total += float(loss.detach())
        if t.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, t.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        history.append(total)
    model.eval()
    return history
