"""Shared helpers for the training tests: a small triaged fixture and tiny-model setup."""
from __future__ import annotations

import pytest
import torch

from realignbench.data.schema import Pair, write_pairs

STANCES = {
    "old": ["I cannot help with that; please ask a professional.",
            "Sorry, that is not something I can discuss."],
    "new": ["Here are three practical steps you can try today, and a professional can help too.",
            "A good first step is to write the problem down, then talk to someone you trust."],
    "other": ["Numbers are fun and the sky is blue.", "Maybe. Maybe not. Who knows."],
}


def _verdict(ok: bool) -> dict:
    return {"compliant": ok, "violated": [] if ok else ["dim"], "rationale": "",
            "judge_id": "label", "status": "ok"}


def make_pairs(n: int = 24, seed: int = 0) -> list[Pair]:
    """INVERT / PUNISH / RETAIN in turn; orientation is π_old's; every pair has a correction."""
    gen = torch.Generator().manual_seed(seed)
    pick = lambda xs: xs[int(torch.randint(len(xs), (1,), generator=gen))]   # noqa: E731
    pairs = []
    for i in range(n):
        cat = ("INVERT", "PUNISH", "RETAIN")[i % 3]
        prompt = f"Question {i}: how should I deal with worry number {i % 7}?"
        if cat == "INVERT":
            chosen, rejected, ok = pick(STANCES["old"]), pick(STANCES["new"]), (False, True)
        elif cat == "PUNISH":
            chosen, rejected, ok = pick(STANCES["old"]), pick(STANCES["other"]), (False, False)
        else:
            chosen, rejected, ok = pick(STANCES["new"]), pick(STANCES["other"]), (True, False)
        pairs.append(Pair(
            id=f"p{i:03d}", prompt=prompt, chosen=chosen, rejected=rejected, source="fixture",
            labels={"chosen": {}, "rejected": {}}, category=cat,
            verdicts={"chosen": _verdict(ok[0]), "rejected": _verdict(ok[1])},
            correction=pick(STANCES["new"]) + f" (case {i})",
            meta={"dimension": "dim", "template_family": "a", "shift": "fixture"}))
    return pairs


def write_fixture(path, n: int = 24, seed: int = 0):
    pairs = make_pairs(n, seed)
    write_pairs(path, pairs)
    return path


def tiny_config(*overrides: str):
    from realignbench.config import load_config
    return load_config("tiny", ["train.global_batch_size=4", "train.micro_batch_size=2",
                                "train.warmup_ratio=0", *overrides])


def perturb_lora(model, std: float = 0.05, seed: int = 0) -> None:
    """Make LoRA B non-zero (peft initialises B = 0, which zeroes every A-gradient)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype) * std)


@pytest.fixture
def isolated_one_thread(tmp_path, monkeypatch):
    """A private cache and one torch thread (the machine is shared: one is faster than two)."""
    monkeypatch.setenv("REALIGNBENCH_CACHE", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
