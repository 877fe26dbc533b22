"""The one trainer every method runs on (DESIGN §6, issue 4).

``Trainer(model, tokenizer, cfg, out_dir, seed).fit(examples, phase)`` trains the model's
trainable parameters (LoRA adapters, or all weights) on typed examples with the shared
objective. One global batch (examples per optimiser step, over all processes) sets the
accumulation: ``accum = global_batch / (micro_batch × world_size)``. It runs under
``accelerate launch`` (DDP), checkpoints every ``save_every`` steps and at the end, resumes
exactly (weights, optimiser, scheduler, RNG; the data order is a function of seed and step),
and logs per-component losses to a progress bar and ``<out_dir>/train_log.jsonl``.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from realignbench.config import Config
from realignbench.runs import atomic_write_jsonl, read_jsonl
from realignbench.train import checkpoint
from realignbench.train.batching import (EncodedExamples, collate, local_micro_batches,
                                         stream_positions)
from realignbench.train.examples import Example, count_by_kind
from realignbench.train.objective import (COMPONENT_KEYS, component_sums, example_terms,
                                          finish_components, weighted_sum)
from realignbench.train.reference import FrozenReference, reference_logps
from realignbench.train.scorer import SequenceScorer
from realignbench.train.trunk import TrunkCache

log = logging.getLogger(__name__)


def lr_lambda(schedule: str, warmup: int, total: int) -> Callable[[int], float]:
    """Linear warm-up, then ``cosine`` or ``linear`` decay to 0, or ``constant``."""
    if schedule not in ("cosine", "linear", "constant"):
        raise ValueError(f"train.lr_schedule: {schedule!r} is not cosine|linear|constant")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * progress)) if schedule == "cosine" else 1 - progress
    return factor


def get_accelerator():
    """One Accelerator per process (accelerate's state is a process-wide singleton)."""
    from accelerate import Accelerator
    # On a machine without CUDA, cpu=True lets `accelerate launch`/torchrun run DDP over gloo.
    return Accelerator(cpu=not torch.cuda.is_available())


class Trainer:
    def __init__(self, model, tokenizer, cfg: Config, out_dir: Path | str, seed: int = 0,
                 accelerator=None):
        self.model, self.tokenizer, self.cfg = model, tokenizer, cfg
        self.out_dir = Path(out_dir)
        self.seed = seed
        self.acc = accelerator or get_accelerator()
        if model is not None and hasattr(self.acc, "device"):
            model.to(self.acc.device)             # the trainer owns device placement
        self.log_path = self.out_dir / "train_log.jsonl"
        self._frozen: FrozenReference | None = None
        self._trunk: TrunkCache | None = None

    def trunk(self) -> TrunkCache:
        """The trunk cache of the current model object: a model with new adapters (M_ref's
        DPO phase after its SFT phase is merged) gets its own guard and fingerprint."""
        if self._trunk is None or self._trunk.model is not self.model:
            self._trunk = TrunkCache(self.model, self.cfg.train.trunk_cache)
        return self._trunk

    def _frozen_reference(self, examples) -> FrozenReference:
        """Built on first need, i.e. while the model is still θ_ref (before any update or
        checkpoint load); only full fine-tuning with anchors makes it copy the model."""
        needed = any(e.kind == "anchor" for e in examples)
        if self._frozen is None or (needed and self._frozen.model is not self.model):
            self._frozen = FrozenReference(self.model, needed=needed, trunk=self.trunk())
        return self._frozen

    def encode(self, examples: Sequence[Example]) -> EncodedExamples:
        return EncodedExamples(examples, self.tokenizer, self.cfg.model.max_prompt_tokens,
                               self.cfg.model.max_length)

    @torch.no_grad()
    def evaluate(self, examples: Sequence[Example]) -> dict:
        """The objective on ``examples`` at the current weights (no update): ``loss`` is the
        weighted mean over all examples, plus the per-component means."""
        t = self.cfg.train
        enc = self.encode(examples)
        ref_logp = reference_logps(self.model, enc, 2 * t.micro_batch_size, self.acc.device,
                                   trunk=self.trunk())
        frozen = self._frozen_reference(examples)
        was_training = self.model.training
        self.model.eval()
        scorer = SequenceScorer(self.model, self.trunk())
        total, sums = 0.0, {}
        for i in range(0, len(enc), t.micro_batch_size):
            batch = collate(enc, range(i, min(i + t.micro_batch_size, len(enc))))
            batch = batch.to(self.acc.device)
            ref_full = frozen.full_logprobs(batch) if batch.full_rows is not None else None
            out = scorer(batch.input_ids, batch.attention_mask, batch.labels, batch.full_rows)
            terms = example_terms(out, ref_logp[batch.seq_ids].to(self.acc.device), batch,
                                  t.beta, ref_full)
            total += float(weighted_sum(terms, batch, t.nll_weight))
            for key, value in component_sums(terms, batch, t.nll_weight).items():
                sums[key] = sums.get(key, 0.0) + value
        self.model.train(was_training)
        return {"loss": total / len(enc), **finish_components(sums, len(enc))}

    # -- settings -------------------------------------------------------------------------
    def steps_for(self, n_examples: int, epochs: float | None, max_steps: int | None) -> int:
        t = self.cfg.train
        max_steps = t.max_steps if max_steps is None else max_steps
        if max_steps:
            return max_steps
        epochs = t.epochs if epochs is None else epochs
        return max(1, round(epochs * n_examples / t.global_batch_size))

    def accumulation(self) -> int:
        t, world = self.cfg.train, self.acc.num_processes
        if t.global_batch_size % (t.micro_batch_size * world):
            raise ValueError(f"train.global_batch_size={t.global_batch_size} is not a multiple of "
                             f"micro_batch_size × world size = {t.micro_batch_size} × {world}")
        return t.global_batch_size // (t.micro_batch_size * world)

    def make_optimizer(self, params, lr: float) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=lr, weight_decay=self.cfg.train.weight_decay)

    # -- training -------------------------------------------------------------------------
    def fit(self, examples: Sequence[Example], phase: str = "main", epochs: float | None = None,
            max_steps: int | None = None, lr: float | None = None,
            on_step: Callable[[int, dict], None] | None = None,
            continue_from: str | None = None,
            schedule_span: tuple[int, int] | None = None) -> dict:
        """Train on ``examples``; return a summary (steps, seconds per step, last losses).

        A phase that continues another (U2A's rounds) passes ``continue_from`` (that phase's
        name: its final optimiser state, Adam moments included, is loaded instead of starting
        cold) and ``schedule_span`` = (offset, total): its steps are steps offset..offset+n of
        one warm-up + decay schedule over ``total`` steps, not a schedule of their own."""
        t, acc = self.cfg.train, self.acc
        self.accumulation()                      # validates the batch arithmetic
        enc = self.encode(examples)
        total = self.steps_for(len(enc), epochs, max_steps)
        start = time.perf_counter()
        with acc.main_process_first():
            ref_logp = reference_logps(self.model, enc, 2 * t.micro_batch_size, acc.device,
                                       trunk=self.trunk())
        frozen = self._frozen_reference(examples)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable parameters (prepare_model not called?)")
        optimizer = self.make_optimizer(params, lr or t.lr)
        if continue_from is not None:           # before the scheduler: it sets the lr
            optimizer.load_state_dict(self._final_optimizer_state(continue_from))
        offset, span = schedule_span or (0, total)
        factor = lr_lambda(t.lr_schedule, int(t.warmup_ratio * span), span)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: factor(offset + s))
        scorer = SequenceScorer(self.model, self.trunk())
        scorer, optimizer = acc.prepare(scorer, optimizer)
        ckpt_dir = self.out_dir / "checkpoints" / phase
        meta = {"phase": phase, "data": enc.data_hash(), "total_steps": total, "seed": self.seed,
                "global_batch": t.global_batch_size, "world": acc.num_processes}
        if continue_from is not None or schedule_span is not None:
            meta.update(continue_from=continue_from, schedule_span=list(schedule_span or ()))
        step = 0
        found = checkpoint.latest(ckpt_dir)
        if found is not None:
            step = checkpoint.load(found, self.model, optimizer, scheduler, meta,
                                   acc.process_index)
            log.info("resumed %s from %s (step %d/%d)", phase, found, step, total)
            self._truncate_log(phase, step)
        else:
            torch.manual_seed(self.seed)        # dropout RNG; data order has its own generator
        ref_seconds = time.perf_counter() - start
        self.model.train()
        bar = tqdm(total=total, initial=step, desc=f"train {phase}",
                   disable=not acc.is_local_main_process)
        loop_start, first_step = time.perf_counter(), step
        last = {}
        while step < total:
            lr_now = scheduler.get_last_lr()[0]
            record = self._step(enc, step, scorer, frozen, ref_logp, optimizer, params)
            scheduler.step()
            step += 1
            record.update(phase=phase, step=step, lr=lr_now)
            last = record
            if acc.is_main_process and (step % max(1, t.log_every) == 0 or step == total):
                self._append_log(record)
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.4f}")
            if step == total or (t.save_every and step % t.save_every == 0):
                self._save(ckpt_dir, step, optimizer, scheduler, meta)
            if on_step is not None:
                on_step(step, record)
        bar.close()
        self.model.eval()
        done = step - first_step
        loop_s = time.perf_counter() - loop_start
        tokens = sum(len(enc.seqs[i].input_ids) for row in enc.rows for i in row)
        return {"phase": phase, "steps": total, "steps_this_session": done,
                "tokens_trained": round(tokens * total * t.global_batch_size / len(enc)),
                "examples": count_by_kind(examples), "ref_and_setup_s": round(ref_seconds, 3),
                "train_s": round(loop_s, 3),
                "s_per_step": round(loop_s / done, 3) if done else None, "last": last,
                "trunk_cache": self.trunk().report()}

    def _final_optimizer_state(self, phase: str) -> dict:
        found = checkpoint.latest(self.out_dir / "checkpoints" / phase)
        if found is None:
            raise ValueError(f"cannot continue from phase {phase!r}: it has no checkpoint in "
                             f"{self.out_dir / 'checkpoints'}")
        return torch.load(found / "optimizer.pt")

    def _step(self, enc, step, scorer, frozen, ref_logp, optimizer, params) -> dict:
        t, acc = self.cfg.train, self.acc
        ids = stream_positions(len(enc), step, t.global_batch_size, self.seed)
        micro = local_micro_batches(ids, acc.process_index, acc.num_processes,
                                    t.micro_batch_size)
        n_local = sum(len(m) for m in micro)
        sums: dict[str, float] = {}
        total = 0.0
        for k, chunk in enumerate(micro):
            batch = collate(enc, chunk).to(acc.device)
            ref_full = frozen.full_logprobs(batch) if batch.full_rows is not None else None
            sync = contextlib.nullcontext() if k == len(micro) - 1 else acc.no_sync(scorer)
            with sync:
                out = scorer(batch.input_ids, batch.attention_mask, batch.labels,
                             batch.full_rows)
                terms = example_terms(out, ref_logp[batch.seq_ids].to(acc.device), batch,
                                      t.beta, ref_full)
                loss = weighted_sum(terms, batch, t.nll_weight) / n_local
                acc.backward(loss)
            total += float(loss.detach())
            for key, value in component_sums(terms, batch, t.nll_weight).items():
                sums[key] = sums.get(key, 0.0) + value
        grad_norm = acc.clip_grad_norm_(params, t.max_grad_norm) if t.max_grad_norm else None
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        record = {"loss": self._mean_across(total)}
        if grad_norm is not None:
            record["grad_norm"] = float(grad_norm)
        record.update(finish_components(self._sum_across(sums), t.global_batch_size))
        return record

    def _mean_across(self, value: float) -> float:
        if self.acc.num_processes == 1:
            return value
        tensor = torch.tensor([value], device=self.acc.device)
        return float(self.acc.reduce(tensor, reduction="mean"))

    def _sum_across(self, sums: dict[str, float]) -> dict[str, float]:
        """Component sums over all processes (ranks may hold different example kinds)."""
        if self.acc.num_processes == 1:
            return sums
        keys = list(COMPONENT_KEYS)
        tensor = torch.tensor([sums.get(k, 0.0) for k in keys], dtype=torch.float64,
                              device=self.acc.device)
        total = self.acc.reduce(tensor, reduction="sum").tolist()
        counts = {k.split("/")[0]: v for k, v in zip(keys, total) if k.endswith("/n")}
        return {k: v for k, v in zip(keys, total)
                if counts.get("preference" if k.startswith("nll") else k.split("/")[0], 0)}

    def _save(self, ckpt_dir, step, optimizer, scheduler, meta) -> None:
        acc = self.acc
        model = acc.unwrap_model(self.model)
        if acc.is_main_process:
            checkpoint.save(ckpt_dir, step, model, optimizer, scheduler, meta, rank=0)
        acc.wait_for_everyone()
        if not acc.is_main_process:
            checkpoint.save(ckpt_dir, step, model, optimizer, scheduler, meta,
                            rank=acc.process_index, is_main=False)

    def _append_log(self, record: dict) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def _truncate_log(self, phase: str, step: int) -> None:
        """Drop log rows written after the checkpoint we resume from (they will be redone)."""
        if not self.acc.is_main_process or not self.log_path.exists():
            return
        rows = [r for r in read_jsonl(self.log_path)
                if not (r.get("phase") == phase and r.get("step", 0) > step)]
        atomic_write_jsonl(self.log_path, rows)
