"""The shared trainer on the tiny preset: objectives, batching, reference, resume."""

import dataclasses

import pytest
import torch

from realignbench.models.loading import load_model
from realignbench.runs import read_jsonl
from realignbench.train import checkpoint
from realignbench.train.adapters import prepare_model
from realignbench.train.batching import local_micro_batches, stream_positions
from realignbench.train.examples import Anchor, Preference, Punitive, Sft
from realignbench.train.trainer import Trainer

from train_fixtures import make_pairs, perturb_lora, tiny_config
from train_fixtures import isolated_one_thread  # noqa: F401 (a fixture)


pytestmark = pytest.mark.usefixtures("isolated_one_thread")


def _model(cfg, seed=0):
    model, tok = load_model("tiny", dtype="fp32")
    return prepare_model(model, cfg.train, seed), tok


def _examples(kind: str, n: int = 8):
    pairs = make_pairs(n)
    if kind in ("dpo", "ipo", "rdpo"):
        return [Preference(p.id, p.prompt, p.rejected, p.chosen, loss=kind,
                           eps=0.1 if kind == "rdpo" else 0.0) for p in pairs]
    cls = {"npo": Punitive, "kl": Anchor, "sft": Sft}[kind]
    return [cls(p.id, p.prompt, p.chosen) for p in pairs]


def _trainable(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("kind", ["dpo", "ipo", "rdpo", "npo", "kl", "sft"])
def test_every_objective_lowers_its_loss_and_changes_parameters(kind, tmp_path):
    cfg = tiny_config("train.lr=5e-3", "train.max_steps=6", "train.nll_weight=0.0")
    model, tok = _model(cfg)
    if kind == "kl":
        perturb_lora(model, std=0.2)        # at θ_ref the KL is 0 and cannot go lower
    examples = _examples(kind)
    trainer = Trainer(model, tok, cfg, tmp_path, seed=0)
    before, params = trainer.evaluate(examples)["loss"], _trainable(model)
    trainer.fit(examples)
    after = trainer.evaluate(examples)["loss"]
    assert after < before - 1e-3, (kind, before, after)
    changed = [n for n, p in _trainable(model).items() if not torch.equal(p, params[n])]
    assert len(changed) == len(params)


def test_start_equals_reference_so_dpo_is_log2_and_npo_is_log2_or_2_over_beta_log2(tmp_path):
    cfg = tiny_config("train.nll_weight=0.0", "train.beta=0.2")
    model, tok = _model(cfg)
    perturb_lora(model, std=0.0)     # B = 0: the adapted model is θ_ref
    trainer = Trainer(model, tok, cfg, tmp_path)
    dpo = trainer.evaluate(_examples("dpo"))
    assert dpo["loss"] == pytest.approx(0.693147, abs=1e-5)
    assert dpo["preference/margin"] == pytest.approx(0.0, abs=1e-4)
    npo = trainer.evaluate(_examples("npo"))                     # TRACE's NPO: no 2/β
    assert npo["loss"] == pytest.approx(0.693147, abs=1e-5)
    standard = [dataclasses.replace(e, npo_scale="standard") for e in _examples("npo")]
    assert trainer.evaluate(standard)["loss"] == pytest.approx(2 / 0.2 * 0.693147, abs=1e-4)
    assert trainer.evaluate(_examples("kl"))["loss"] == pytest.approx(0.0, abs=1e-6)


def test_weights_scale_the_objective_and_nll_weight_adds_preferred_nll(tmp_path):
    cfg = tiny_config("train.nll_weight=0.0")
    model, tok = _model(cfg)
    trainer = Trainer(model, tok, cfg, tmp_path)
    ex = _examples("dpo", 6)
    base = trainer.evaluate(ex)
    doubled = trainer.evaluate([Preference(**{**e.__dict__, "weight": 2.0}) for e in ex])
    assert doubled["loss"] == pytest.approx(2 * base["loss"], rel=1e-6)
    trainer.cfg = tiny_config("train.nll_weight=0.5")
    with_nll = trainer.evaluate(ex)
    assert with_nll["loss"] == pytest.approx(base["loss"] + 0.5 * with_nll["nll/loss"], rel=1e-5)


def test_stream_is_a_seeded_permutation_per_epoch_and_split_across_ranks():
    n, g = 10, 4
    steps = [stream_positions(n, k, g, seed=3) for k in range(5)]     # 20 = two epochs
    flat = [i for s in steps for i in s]
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:]) == list(range(10))
    assert flat[:10] != flat[10:]
    assert steps == [stream_positions(n, k, g, seed=3) for k in range(5)]
    assert steps != [stream_positions(n, k, g, seed=4) for k in range(5)]
    parts = [local_micro_batches(steps[0], r, 2, 1) for r in range(2)]
    assert sorted(i for p in parts for m in p for i in m) == sorted(steps[0])


class _SgdTrainer(Trainer):
    """Plain SGD: Adam's first step is ~lr·sign(g), which would amplify float noise in
    near-zero gradient entries and hide what this test checks (the accumulated gradient)."""
    def make_optimizer(self, params, lr):
        return torch.optim.SGD(params, lr=lr)


def test_micro_batching_does_not_change_the_update(tmp_path):
    """Same global batch, different micro-batch sizes (hence padding and accumulation): the
    same weights after two steps."""
    results = []
    for micro in (1, 4):
        cfg = tiny_config(f"train.micro_batch_size={micro}", "train.max_steps=2",
                          "train.nll_weight=1.0", "train.max_grad_norm=0", "train.lr=0.5")
        model, tok = _model(cfg)
        start = _trainable(model)
        _SgdTrainer(model, tok, cfg, tmp_path / f"m{micro}").fit(_examples("dpo"))
        results.append(_trainable(model))
    moved = max(float((results[0][n] - start[n]).abs().max()) for n in start)
    assert moved > 1e-3
    for name, value in results[0].items():
        assert torch.allclose(value, results[1][name], atol=1e-6, rtol=1e-5), name


def test_reference_logps_are_cached_per_sequence_by_content(tmp_path, monkeypatch):
    from realignbench.train import reference
    cfg = tiny_config()
    model, tok = _model(cfg)
    trainer = Trainer(model, tok, cfg, tmp_path)
    computed = []
    real = reference.compute_logps
    monkeypatch.setattr(reference, "compute_logps",
                        lambda m, enc, ids, *a, **k: computed.append(len(ids)) or real(
                            m, enc, ids, *a, **k))
    first = trainer.evaluate(_examples("dpo"))
    assert computed == [16]               # 8 pairs x (preferred, dispreferred)
    again = trainer.evaluate(_examples("dpo"))
    assert computed == [16] and again == first
    trainer.evaluate(_examples("npo"))      # chosen responses only: all already cached
    assert computed == [16]
    assert len(list((tmp_path / "cache" / "ref_logps").glob("*.jsonl"))) == 1
    other, _ = _model(cfg, seed=1)          # other LoRA init, same frozen weights: same table
    Trainer(other, tok, cfg, tmp_path).evaluate(_examples("dpo"))
    assert computed == [16]


class _Killed(Exception):
    pass


def test_killed_after_checkpoint_and_resumed_equals_uninterrupted(tmp_path):
    """fp32, same seed: the resumed adapter equals the uninterrupted one to 1e-6 (it is in
    fact bit-identical on CPU; the tolerance allows for BLAS reordering)."""
    examples = _examples("dpo", 12) + _examples("npo", 6)
    cfg = tiny_config("train.max_steps=6", "train.save_every=2", "train.lr=3e-3",
                      "train.lora_dropout=0.1")
    model, tok = _model(cfg)
    Trainer(model, tok, cfg, tmp_path / "a", seed=5).fit(examples)
    expected = _trainable(model)

    model, tok = _model(cfg)

    def kill(step, record):
        if step == 3:                        # one step past the checkpoint at step 2
            raise _Killed
    with pytest.raises(_Killed):
        Trainer(model, tok, cfg, tmp_path / "b", seed=5).fit(examples, on_step=kill)
    assert checkpoint.latest(tmp_path / "b" / "checkpoints" / "main").name == "step-0000002"
    model, tok = _model(cfg)                 # a fresh process: fresh model and adapters
    summary = Trainer(model, tok, cfg, tmp_path / "b", seed=5).fit(examples)
    assert summary["steps_this_session"] == 4
    for name, value in _trainable(model).items():
        assert torch.allclose(value, expected[name], atol=1e-6, rtol=0), name
    logged = [r["step"] for r in read_jsonl(tmp_path / "b" / "train_log.jsonl")]
    assert logged == [1, 2, 3, 4, 5, 6]      # the step after the checkpoint is not doubled


def test_resume_refuses_a_checkpoint_of_other_data(tmp_path):
    cfg = tiny_config("train.max_steps=2", "train.save_every=1")
    model, tok = _model(cfg)
    Trainer(model, tok, cfg, tmp_path).fit(_examples("dpo"))
    model, tok = _model(cfg)
    with pytest.raises(RuntimeError, match="checkpoint was written with data"):
        Trainer(model, tok, cfg, tmp_path).fit(_examples("npo"))


def test_accumulation_is_derived_from_global_batch_and_world_size(tmp_path):
    class FakeAcc:
        num_processes = 2
    cfg = tiny_config("train.global_batch_size=8", "train.micro_batch_size=2")
    trainer = Trainer(None, None, cfg, tmp_path, accelerator=FakeAcc())
    assert trainer.accumulation() == 2
    FakeAcc.num_processes = 3
    with pytest.raises(ValueError, match="not a multiple"):
        trainer.accumulation()


def test_lora_layers_puts_adapters_on_the_last_layers_only(tmp_path):
    cfg = tiny_config("train.lora_layers=2", "train.max_steps=2", "train.lr=5e-3")
    model, tok = _model(cfg)
    layers = {n.split(".layers.")[1].split(".")[0] for n, p in model.named_parameters()
              if p.requires_grad}
    assert layers == {"2", "3"}                      # tiny has 4 decoder layers
    trainer = Trainer(model, tok, cfg, tmp_path)
    before = trainer.evaluate(_examples("sft"))["loss"]
    trainer.fit(_examples("sft"))
    assert trainer.evaluate(_examples("sft"))["loss"] < before
    with pytest.raises(ValueError, match="lora_layers=9"):
        _model(tiny_config("train.lora_layers=9"))


def test_methods_epochs_do_not_enter_the_m_ref_run_key():
    from realignbench.train.api import training_config
    one, three = tiny_config(), tiny_config("train.epochs=3")
    assert training_config(one, "old_alignment", 0) == training_config(three, "old_alignment", 0)
    assert training_config(one, "dpo", 0) != training_config(three, "dpo", 0)
    longer = tiny_config("methods.old_alignment.sft_epochs=2")
    assert training_config(one, "old_alignment", 0) != training_config(longer, "old_alignment", 0)
