"""The training benchmark's TRL contestant (perf/trl_dpo.py) is DPO configured like our trainer:
its first loss is the DPO loss at θ_ref, and on our tokens it reproduces our trainer."""
import math
import os
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("trl")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))    # perf/ lives at the repo root

from perf.bench_train import _norm, _ours, dpo_examples  # noqa: E402
from perf.setup import Workbench  # noqa: E402
from perf.trl_dpo import TrlContestant  # noqa: E402

# Two micro-batches of 2 per step: TRL's gradient accumulation is part of what must match.
OVERRIDES = ["train.nll_weight=0", "train.global_batch_size=4", "train.micro_batch_size=2"]


@pytest.fixture(scope="module")
def tiny_trl(tmp_path_factory):
    previous = os.environ.get("REALIGNBENCH_CACHE")
    os.environ["REALIGNBENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        wb = Workbench("tiny", overrides=OVERRIDES)
        yield wb, TrlContestant(wb)
    finally:
        torch.set_num_threads(threads)
        if previous is None:
            os.environ.pop("REALIGNBENCH_CACHE", None)
        else:
            os.environ["REALIGNBENCH_CACHE"] = previous


def test_first_trl_step_is_the_dpo_loss_at_the_reference(tiny_trl):
    wb, trl = tiny_trl
    losses, state = trl(dpo_examples(4), steps=1)
    # policy == reference at the start, so Δ = 0 and −log σ(β·0) = log 2 whatever β: an SFT
    # term, a reference that is not θ_ref or another loss type would show here.
    assert len(losses) == 1 and losses[0] == pytest.approx(math.log(2), abs=1e-6)
    trainer = trl.trainer
    assert trainer.beta == wb.cfg.train.beta and trainer.loss_types == ["sigmoid"]
    assert trainer.args.gradient_accumulation_steps == 2 and not trainer.args.bf16
    assert any(not torch.equal(state[n], wb.initial[n]) for n in state)      # it trained
    # The base model is handed back unwrapped, ready for the next repeat.
    assert not any("lora" in name for name, _ in trl.base.named_parameters())
    assert "forward" not in vars(trl.base)


def test_trl_on_our_tokens_reproduces_our_trainer(tiny_trl):
    """Same tokens, pairs, order, β, optimiser, clipping and schedule: per-step losses and
    final adapters agree up to rounding (a wrong β, data order or accumulation would not)."""
    wb, trl = tiny_trl
    examples = dpo_examples(8)
    trl_losses, trl_state = trl(examples, steps=2, our_tokens=True)
    our_losses, our_state = _ours(wb, examples, steps=2)
    assert len(trl_losses) == len(our_losses) == 2
    assert our_losses[1] < our_losses[0]                     # the second step is not trivial
    assert trl_losses == pytest.approx(our_losses, abs=1e-5)
    # The adapters test the update rule (lr, Adam's betas and eps, clipping, schedule): a wrong
    # one moves every element. Adam moves each element by about lr * sign(g) at first, so an
    # element whose gradient is at rounding level can go the other way in one implementation
    # (seen: 3 of 57,344 elements, 4-7e-4 apart, on this install): allow a handful of those.
    diffs = torch.cat([(our_state[n] - trl_state[n]).abs().flatten() for n in our_state])
    assert int((diffs > 1e-4).sum()) <= max(4, diffs.numel() // 1000)
    moved = _norm(our_state[n] - wb.initial[n] for n in our_state)
    assert _norm(our_state[n] - trl_state[n] for n in our_state) / moved < 1e-2
