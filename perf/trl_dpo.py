"""TRL's ``DPOTrainer`` (trl 1.16) as the training benchmark's third contestant: the trainer a
user would pick instead of ours (issue 17 item 6).

It is configured like our trainer wherever TRL has the knob: the same base model and LoRA
config (``train.adapters.lora_config``), the same starting adapter values (copied from the
Workbench's θ_ref), the same pairs in the same order (a sequential sampler over the pairs laid
out as our ``stream_positions`` visits them), micro-batch and accumulation, β, lr, AdamW,
weight decay, clipping and schedule; fp32, no gradient checkpointing (TRL's default is on, ours
is off), no evaluation, no checkpoints, no external logging. What stays TRL's own is the point
of the comparison: its tokenisation (the chat template rendered and tokenised by TRL; the
newline after end-of-turn is a target there, not in ours; a sequence over ``max_length`` loses
its end, response and end-of-turn included, where ours cuts the prompt's start to
``max_prompt_tokens`` and keeps end-of-turn), its collation (chosen and rejected in one
right-padded batch), its fused LM head, and its reference (a PEFT model with no ``ref_model``:
the same forward with the adapters disabled, recomputed at every step). transformers' linear
warm-up starts at lr 0 where ours starts at lr/(warm-up + 1); the benchmark's runs are too
short to have a warm-up (``int(warmup_ratio × steps)`` = 0).

The objective is plain DPO (``loss_type=["sigmoid"]``): TRL 1.16 has no ``rpo_alpha``, and its
``"sft"`` term averages the NLL over all chosen tokens of a micro-batch, where ours averages per
pair, so our NLL term has no exact TRL equivalent; the benchmark runs every contestant with
``train.nll_weight=0`` instead.
"""
from __future__ import annotations

import os
import statistics

import torch

from realignbench.train.batching import stream_positions

# Our schedule names → transformers' ``lr_scheduler_type`` (both warm up linearly first).
SCHEDULES = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}


def in_our_order(examples, steps: int, global_batch: int, seed: int) -> list:
    """The pairs step by step as our trainer visits them (``stream_positions``), so a
    sequential sampler hands TRL exactly the pairs our trainer sees at each step."""
    return [examples[i] for step in range(steps)
            for i in stream_positions(len(examples), step, global_batch, seed)]


def conversational_row(ex) -> dict:
    """A preference pair in TRL's conversational format (TRL renders and tokenises it)."""
    return {"prompt": [{"role": "user", "content": ex.prompt}],
            "chosen": [{"role": "assistant", "content": ex.preferred}],
            "rejected": [{"role": "assistant", "content": ex.dispreferred}]}


def token_row(tokenizer, cfg, ex) -> dict:
    """The same pair as TRL's tokenised row, but in our tokens (``encode_pair``): the
    response and end-of-turn as the completion, without the template's trailing tokens, which
    ours never trains (they follow the last target, so they change no log-prob)."""
    from realignbench.models.chat import chat_frame, encode_pair
    rest = len(chat_frame(tokenizer).rest)
    row = {}
    for key, response in (("chosen_ids", ex.preferred), ("rejected_ids", ex.dispreferred)):
        enc = encode_pair(tokenizer, ex.prompt, response, cfg.model.max_prompt_tokens,
                          cfg.model.max_length)
        row["prompt_ids"] = enc.input_ids[:enc.n_prompt]      # the same for both responses
        row[key] = enc.input_ids[enc.n_prompt:len(enc.input_ids) - rest]
    return row


def _trainer_class(our_tokens: bool):
    """``DPOTrainer``, or (``our_tokens``) a subclass that takes rows already tokenised by us
    as they are: TRL 1.16 always re-tokenises from text otherwise."""
    from trl import DPOTrainer
    if not our_tokens:
        return DPOTrainer

    class PretokenisedDPOTrainer(DPOTrainer):
        def _prepare_dataset(self, dataset, *args, **kwargs):
            return dataset
    return PretokenisedDPOTrainer


def dpo_config(cfg, steps: int, seed: int, out_dir):
    """A ``DPOConfig`` with our ``cfg.train`` settings (see the module docstring)."""
    from trl import DPOConfig
    t = cfg.train
    if t.nll_weight:
        raise ValueError(f"train.nll_weight={t.nll_weight}: TRL has no per-pair NLL term; run "
                         "the comparison with train.nll_weight=0")
    if t.lr_schedule not in SCHEDULES:
        raise ValueError(f"train.lr_schedule: {t.lr_schedule!r} has no transformers equivalent")
    if t.global_batch_size % t.micro_batch_size:
        raise ValueError(f"train.global_batch_size={t.global_batch_size} is not a multiple of "
                         f"train.micro_batch_size={t.micro_batch_size}")
    return DPOConfig(
        output_dir=str(out_dir), max_steps=steps, seed=seed,
        per_device_train_batch_size=t.micro_batch_size,
        gradient_accumulation_steps=t.global_batch_size // t.micro_batch_size,
        train_sampling_strategy="sequential",
        learning_rate=t.lr, optim="adamw_torch", weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm, lr_scheduler_type=SCHEDULES[t.lr_schedule],
        warmup_steps=int(t.warmup_ratio * steps),       # an int: a float < 1 means a ratio
        beta=t.beta, loss_type=["sigmoid"], max_length=cfg.model.max_length,
        bf16=False, fp16=False, gradient_checkpointing=False,
        eval_strategy="no", save_strategy="no", report_to="none",
        logging_steps=1, disable_tqdm=True, dataloader_pin_memory=False)


def _start_from(model, initial: dict[str, torch.Tensor]) -> None:
    """Set TRL's fresh adapters to our θ_ref adapters (same names: same peft config)."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if set(params) != set(initial):
        raise ValueError("TRL's trainable parameters differ from the Workbench's adapters: "
                         f"only in TRL {sorted(set(params) - set(initial))[:3]}, only ours "
                         f"{sorted(set(initial) - set(params))[:3]}")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(initial[name])


def _unwrap(peft_model, base) -> None:
    """Give the base model back as it was: LoRA layers removed, and the fused-LM-head
    ``forward`` TRL patched onto the instance dropped (it would nest on the next run)."""
    peft_model.unload()
    base.__dict__.pop("forward", None)


class TrlContestant:
    """``__call__(examples, steps)`` builds a ``DPOTrainer`` (tokenisation included, as a user
    pays it) and trains; returns the per-step losses and the final adapters.

    ``our_tokens=True`` feeds TRL our tokenisation instead of its own: then only the trainers
    differ, and TRL must reproduce our trainer up to rounding (the benchmark's and the tests'
    check that the configuration matches)."""

    def __init__(self, wb):
        from realignbench.models.loading import load_model
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        import datasets
        import trl
        datasets.disable_progress_bars()
        self.version = trl.__version__
        self.wb = wb
        # TRL wraps its own copy of the base model with its own PEFT model (peft_config).
        self.base, _ = load_model(wb.cfg.model.preset, dtype=wb.cfg.model.dtype,
                                  attn_implementation=wb.cfg.model.attn_implementation)
        self.trainer = None            # the last run's DPOTrainer (tests read its settings)

    def __call__(self, examples, steps: int, our_tokens: bool = False
                 ) -> tuple[list[float], dict[str, torch.Tensor]]:
        from datasets import Dataset
        from transformers import PrinterCallback

        from realignbench.train.adapters import lora_config
        wb = self.wb
        t = wb.cfg.train
        pairs = in_our_order(examples, steps, t.global_batch_size, wb.seed)
        rows = [token_row(wb.tokenizer, wb.cfg, ex) if our_tokens else conversational_row(ex)
                for ex in pairs]
        trainer = _trainer_class(our_tokens)(
            model=self.base, args=dpo_config(wb.cfg, steps, wb.seed, wb.fresh_dir("trl")),
            train_dataset=Dataset.from_list(rows), processing_class=wb.tokenizer,
            peft_config=lora_config(self.base, t))
        trainer.remove_callback(PrinterCallback)     # the losses are read from log_history
        self.trainer = trainer
        try:
            _start_from(trainer.model, wb.initial)
            trainer.train()
            losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
            state = {n: p.detach().clone() for n, p in trainer.model.named_parameters()
                     if p.requires_grad}
        finally:
            _unwrap(trainer.model, self.base)
        return losses, state

    def mean_tokens(self) -> float:
        """Mean tokens per sequence (prompt + response, after TRL's truncation) in the last
        run's tokenised data: what TRL's forwards see, beside ours."""
        data, cap = self.trainer.train_dataset, self.trainer.args.max_length
        return statistics.mean(min(len(row["prompt_ids"]) + len(row[key]), cap or 10**9)
                               for row in data for key in ("chosen_ids", "rejected_ids"))
