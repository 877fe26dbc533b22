"""The trunk-activation cache (issue 17 item 1): exact against the full forward, guarded,
self-healing. Tiny has 4 layers; these tests put LoRA on the top 2 so a trunk exists."""
import dataclasses

import pytest
import torch

from realignbench.models.chat import PadCollator, encode_pair
from realignbench.models.loading import load_model
from realignbench.train.adapters import merged, prepare_model
from realignbench.train.examples import Preference
from realignbench.train.scorer import SequenceScorer
from realignbench.train.trainer import Trainer
from realignbench.train.trunk import TrunkCache, trunk_fingerprint

from train_fixtures import make_pairs, perturb_lora, tiny_config
from train_fixtures import isolated_one_thread  # noqa: F401 (a fixture)

TOP2 = "train.lora_layers=2"


pytestmark = pytest.mark.usefixtures("isolated_one_thread")


def _model(*overrides, seed=0):
    cfg = tiny_config(TOP2, *overrides)
    model, tok = load_model("tiny", dtype="fp32")
    model = prepare_model(model, cfg.train, seed)
    perturb_lora(model, std=0.2)                  # B = 0 would hide the adapters' effect
    return cfg, model, tok


def _batch(tok, side: str, n: int = 5):
    seqs = [encode_pair(tok, p.prompt, r, 64, 128) for p in make_pairs(n)
            for r in (p.chosen, p.rejected)]
    return PadCollator(tok.pad_token_id, side=side)(seqs)


def _token_logprobs(scorer, b) -> torch.Tensor:
    """Full-vocabulary log-probs at every target position, [N, V]."""
    every = torch.ones(b["input_ids"].shape[0], dtype=torch.bool)
    return scorer(b["input_ids"], b["attention_mask"], b["labels"], every)["full"]


@pytest.mark.parametrize("side", ["right", "left"])
def test_cached_token_logprobs_equal_the_full_forward(side):
    _, model, tok = _model()
    trunk = TrunkCache(model)
    assert trunk.layer == 2 and trunk.reason is None
    b = _batch(tok, side)
    assert int((b["attention_mask"] == 0).sum()) > 0              # padding is exercised
    full = _token_logprobs(SequenceScorer(model), b)
    cold = _token_logprobs(SequenceScorer(model, trunk), b)       # computes the trunk
    warm = _token_logprobs(SequenceScorer(model, trunk), b)       # reads it back from disk
    report = trunk.report()
    assert report["misses"] == b["input_ids"].shape[0] and report["hits"] == report["misses"]
    assert report["full_forwards"] == 0 and report["used"]
    for cached in (cold, warm):
        torch.testing.assert_close(cached, full, rtol=1e-5, atol=1e-4)
    # the reference (adapters disabled) starts from the same trunk
    with model.disable_adapter(), torch.no_grad():
        ref_full = _token_logprobs(SequenceScorer(model), b)
        ref_cached = _token_logprobs(SequenceScorer(model, trunk), b)
    torch.testing.assert_close(ref_cached, ref_full, rtol=1e-5, atol=1e-4)
    assert not torch.allclose(ref_full, full, atol=1e-3)          # adapters matter here


def test_cached_gradients_equal_the_full_forward():
    _, model, tok = _model()
    b = _batch(tok, "right")
    grads = []
    for trunk in (None, TrunkCache(model)):
        model.zero_grad(set_to_none=True)
        out = SequenceScorer(model, trunk)(b["input_ids"], b["attention_mask"], b["labels"])
        out["logp"].sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
    for name, g in grads[0].items():
        torch.testing.assert_close(grads[1][name], g, rtol=1e-4, atol=1e-5)


def _train(tmp_path, name: str, mode: str):
    cfg, model, tok = _model("train.lr=1e-3", "train.max_steps=3", "train.nll_weight=0.1",
                             f"train.trunk_cache={mode}")
    examples = [Preference(p.id, p.prompt, p.rejected, p.chosen) for p in make_pairs(8)]
    summary = Trainer(model, tok, cfg, tmp_path / name, seed=0).fit(examples)
    return summary, {n: p.detach().clone() for n, p in model.named_parameters()
                     if p.requires_grad}


def _relative_difference(a: dict, b: dict) -> float:
    """‖a − b‖ / ‖b‖ over all tensors (as the DDP test measures adapters)."""
    diff = sum(float((a[n] - b[n]).double().norm()) ** 2 for n in b) ** 0.5
    return diff / sum(float(t.double().norm()) ** 2 for t in b.values()) ** 0.5


def test_training_with_the_cache_ends_at_the_adapter_of_a_run_without_it(tmp_path):
    """Measured: relative difference 1.9e-6, largest entry difference 4.2e-5 (a trunk computed
    in a batch of another shape differs in the last bits; Adam's first steps amplify that in
    near-zero entries, as in the DDP test). At lr 5e-3: 9.3e-6 and 2.1e-4."""
    on, adapter_on = _train(tmp_path, "on", "auto")
    off, adapter_off = _train(tmp_path, "off", "off")
    assert on["trunk_cache"]["used"] and on["trunk_cache"]["hits"] > 0
    assert on["trunk_cache"]["full_forwards"] == 0
    assert not off["trunk_cache"]["used"] and off["trunk_cache"]["reason"] == "train.trunk_cache=off"
    assert _relative_difference(adapter_on, adapter_off) <= 1e-5
    for name, t in adapter_off.items():       # Adam amplifies fp noise in near-zero entries
        assert torch.allclose(adapter_on[name], t, atol=1e-4, rtol=0), name
    assert on["last"]["loss"] == pytest.approx(off["last"]["loss"], rel=1e-5)


@pytest.mark.parametrize("method", ["jvp", "autograd", "ghost"])
def test_impact_scores_from_the_trunk_equal_the_full_forward(tmp_path, method):
    from realignbench.train.impact import directional_derivatives, loss_gradient
    scores, report = {}, None
    for mode in ("auto", "off"):
        cfg, model, tok = _model(f"train.trunk_cache={mode}")
        trainer = Trainer(model, tok, cfg, tmp_path / mode, seed=0)
        examples = [Preference(p.id, p.prompt, p.rejected, p.chosen) for p in make_pairs(6)]
        g = loss_gradient(trainer, examples[:3])
        scores[mode] = directional_derivatives(trainer, examples, g, method, batch_size=2)
        report = report or trainer.trunk().report()
    assert report["used"] and report["hits"] > 0 and report["full_forwards"] == 0
    torch.testing.assert_close(scores["auto"], scores["off"],
                               rtol=0, atol=1e-4 * float(scores["off"].abs().max()))


def test_the_guard_falls_back_when_an_adapter_sits_below_the_cached_layer():
    from peft import LoraConfig
    _, model, tok = _model()
    trunk = TrunkCache(model)
    b = _batch(tok, "right", n=2)
    SequenceScorer(model, trunk)(b["input_ids"], b["attention_mask"], b["labels"])
    model.add_adapter("low", LoraConfig(r=2, target_modules=["q_proj"],
                                        layers_to_transform=[0], lora_dropout=0.0))
    for n, p in model.named_parameters():         # make the low adapter act
        if "lora_B.low" in n:
            torch.nn.init.normal_(p, std=0.5)
    model.base_model.set_adapter(["default", "low"])
    full = SequenceScorer(model)(b["input_ids"], b["attention_mask"], b["labels"])["logp"]
    guarded = SequenceScorer(model, trunk)(b["input_ids"], b["attention_mask"], b["labels"])
    torch.testing.assert_close(guarded["logp"], full)
    report = trunk.report()
    assert not report["used"] and "layer 0" in report["reason"]
    assert report["full_forwards"] == 1


@pytest.mark.parametrize("override, reason", [
    ("train.lora_layers=0", "layer 0"),                    # adapters on every layer
    ("train.lora=false", "embed_tokens"),                  # full fine-tuning
])
def test_no_frozen_trunk_means_no_cache(override, reason):
    cfg = tiny_config(override)
    model, _ = load_model("tiny", dtype="fp32")
    model = prepare_model(model, cfg.train, 0)
    trunk = TrunkCache(model)
    assert trunk.reason is not None and reason in trunk.reason and not trunk.usable()


def test_in_place_change_of_a_trunk_weight_disables_the_cache():
    _, model, tok = _model()
    trunk = TrunkCache(model)
    assert trunk.usable()
    with torch.no_grad():
        model.base_model.model.model.layers[0].mlp.up_proj.weight.mul_(1.5)
    assert not trunk.usable() and "changed in place" in trunk.reason


def test_mref_merged_adapters_leave_the_trunk_of_the_base_model():
    base, _ = load_model("tiny", dtype="fp32")
    want = trunk_fingerprint(base, 2)
    cfg, model, _ = _model()
    mref = merged(model)                          # M_ref: its adapters folded into layers 2-3
    assert trunk_fingerprint(mref, 2) == want
    assert trunk_fingerprint(mref, 3) != trunk_fingerprint(base, 3)   # layer 2 did change
    again = prepare_model(mref, cfg.train, 1)     # a method's fresh adapters on M_ref
    assert TrunkCache(again).identity["weights"] == want


def test_a_method_trained_on_mref_reads_the_trunk_stored_while_training_mref(tmp_path):
    """M_ref's phases restart adapters on the merged model; methods start from that model:
    the trunk they need is already on disk."""
    cfg, model, tok = _model("train.max_steps=2")
    examples = [Preference(p.id, p.prompt, p.rejected, p.chosen) for p in make_pairs(4)]
    trainer = Trainer(model, tok, cfg, tmp_path / "mref", seed=0)
    first = trainer.fit(examples, phase="dpo")["trunk_cache"]
    trainer.model = prepare_model(merged(model), cfg.train, 1)      # as restart_adapters does
    second = trainer.fit(examples, phase="method")["trunk_cache"]
    assert first["misses"] > 0 and first["used"]
    assert second["used"] and second["misses"] == 0 and second["hits"] > 0


def test_a_corrupt_entry_is_recomputed_and_reported():
    _, model, tok = _model()
    b = _batch(tok, "right", n=2)
    args = (b["input_ids"], b["attention_mask"], b["labels"])
    first = TrunkCache(model)
    want = SequenceScorer(model, first)(*args)["logp"]
    files = sorted(first.dir.rglob("*.pt"))
    assert len(files) == 4
    files[0].write_bytes(files[0].read_bytes()[:100])             # torn by a kill
    stored = torch.load(files[1], weights_only=True)
    stored["hidden"][0, 0] += 1.0                                 # flipped bits
    torch.save(stored, files[1])
    second = TrunkCache(model)
    got = SequenceScorer(model, second)(*args)["logp"]
    report = second.report()
    assert report["recomputed_corrupt"] == 2 and report["misses"] == 2 and report["hits"] == 2
    torch.testing.assert_close(got, want)
    third = TrunkCache(model)                     # the rewritten entries now load
    SequenceScorer(model, third)(*args)
    assert third.report()["hits"] == 4


def test_the_option_stays_out_of_the_run_key():
    from realignbench.config import ConfigError
    from realignbench.train.api import training_config
    auto, off = tiny_config(), tiny_config("train.trunk_cache=off")
    assert training_config(auto, "dpo", 0) == training_config(off, "dpo", 0)
    with pytest.raises(ConfigError, match="train.trunk_cache"):
        tiny_config("train.trunk_cache=on")


def test_likelihood_tpa_with_the_cache_equals_without(tmp_path):
    from realignbench.bench.likelihood_tpa import likelihood_tpa
    _, model, tok = _model()
    model.eval()
    pairs = make_pairs(9)
    on = likelihood_tpa(model, tok, pairs, 64, 128, n_boot=10)
    off = likelihood_tpa(model, tok, pairs, 64, 128, n_boot=10, trunk_cache="off")
    assert on.pop("trunk_cache")["used"] and not off.pop("trunk_cache")["used"]
    for name, m in off.items():
        if isinstance(m, dict) and "value" in m:
            assert on[name]["value"] == pytest.approx(m["value"], rel=1e-5, abs=1e-4), name


@pytest.mark.slow
def test_one_smol_step_with_the_cache_matches_the_full_forward(tmp_path):
    from realignbench.config import load_config
    from realignbench.models.smol_cache import smol_dir
    if smol_dir() is None:
        pytest.skip("SmolLM2 is not in the cache (make prefetch)")
    cfg = load_config("smol", ["train.global_batch_size=2", "train.micro_batch_size=2",
                               "train.max_steps=1", "train.warmup_ratio=0", "train.lr=1e-3"])
    examples = [Preference(p.id, p.prompt, p.rejected, p.chosen) for p in make_pairs(2)]
    adapters, logps = {}, {}
    for mode in ("auto", "off"):
        c = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, trunk_cache=mode))
        model, tok = load_model("smol", dtype="fp32")
        model = prepare_model(model, c.train, 0)
        perturb_lora(model, std=0.02)
        trainer = Trainer(model, tok, c, tmp_path / mode, seed=0)
        b = _batch(tok, "right", n=2)
        logps[mode] = _token_logprobs(SequenceScorer(model, trainer.trunk()), b)
        summary = trainer.fit(examples)
        assert summary["trunk_cache"]["used"] == (mode == "auto")
        adapters[mode] = {n: p.detach().clone() for n, p in model.named_parameters()
                          if p.requires_grad}
    assert TrunkCache(model).layer == 22                      # 8 adapted layers of 30
    torch.testing.assert_close(logps["auto"], logps["off"], rtol=1e-5, atol=1e-4)
    assert _relative_difference(adapters["auto"], adapters["off"]) <= 1e-5
