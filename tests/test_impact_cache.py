"""Impact scores computed once (issue 17 item 2) and the per-device score path (item 4)."""
import json

import pytest
import torch

from realignbench.models.loading import load_model
from realignbench.registry import METHODS
from realignbench.trace.method import TraceOptions, conflict_groups
from realignbench.train.adapters import prepare_model
from realignbench.train.gold import gold_batch
from realignbench.train.impact import (directional_derivatives, ghost_supported,
                                       resolve_score_method, trainable)
from realignbench.train.impact_cache import ImpactCache
from realignbench.train.plugin import MethodContext
from realignbench.train.trainer import Trainer

from train_fixtures import make_pairs, perturb_lora, tiny_config
from train_fixtures import isolated_one_thread  # noqa: F401 (a fixture)


pytestmark = pytest.mark.usefixtures("isolated_one_thread")


def _trainer(tmp_path, *overrides, lora_seed=0):
    cfg = tiny_config("train.beta=0.5", *overrides)
    model, tok = load_model("tiny")
    model = prepare_model(model, cfg.train, seed=0)
    perturb_lora(model, std=0.05, seed=lora_seed)        # both LoRA factors non-zero
    return Trainer(model, tok, cfg, tmp_path / "run", seed=0)


def _examples(pairs, **options):
    return [ex for _, g in conflict_groups(pairs, TraceOptions(**options)) for ex in g]


def test_auto_picks_jvp_on_cuda_ghost_on_cpu_and_batch1_autograd_without_lora():
    assert resolve_score_method("auto", "cpu", 4, ghost_ok=True) == ("ghost", 4)
    assert resolve_score_method("auto", "cpu", 4, ghost_ok=False) == ("autograd", 1)
    assert resolve_score_method("auto", torch.device("cuda", 0), 4, True) == ("jvp", 4)
    assert resolve_score_method("jvp", "cpu", 4, True) == ("jvp", 4)
    assert resolve_score_method("autograd", "cuda", 0, True) == ("autograd", 0)
    with pytest.raises(ValueError, match="score method 'fast'"):
        resolve_score_method("fast", "cpu", 4, True)


def test_ghost_supports_lora_and_not_full_fine_tuning(tmp_path):
    assert ghost_supported(_trainer(tmp_path).model)
    cfg = tiny_config("train.lora=false")
    model, _ = load_model("tiny")
    assert not ghost_supported(prepare_model(model, cfg.train, seed=0))   # embeddings, norms
    from peft import LoraConfig, get_peft_model
    model, _ = load_model("tiny")
    dora = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"], use_dora=True))
    assert not ghost_supported(dora)             # its magnitude vector is not a LoRA factor


def test_auto_scores_equal_every_explicit_path(tmp_path):
    """Whichever path ``auto`` picks, the scores agree (so the run key may name ``auto``)."""
    trainer = _trainer(tmp_path)
    pairs = make_pairs(9)
    cache = ImpactCache(trainer)
    g_j = cache.gold_gradient(gold_batch(pairs, 6, seed=0)).values
    examples = _examples(pairs)
    auto = directional_derivatives(trainer, examples, g_j, "auto")
    autograd = directional_derivatives(trainer, examples, g_j, "autograd", batch_size=4)
    scale = float(autograd.abs().max())
    assert scale > 0
    assert float((auto - autograd).abs().max()) / scale < 1e-4
    for method in ("jvp", "ghost"):
        other = directional_derivatives(trainer, examples, g_j, method, batch_size=4)
        assert float((auto - other).abs().max()) / scale < 1e-4


def test_second_pass_hits_the_cache_with_identical_numbers(tmp_path):
    trainer = _trainer(tmp_path)
    pairs = make_pairs(9)
    gold, examples = gold_batch(pairs, 6, seed=0), _examples(pairs)
    first = ImpactCache(trainer)
    g1 = first.gold_gradient(gold)
    s1 = first.scores(examples, g1)
    assert first.report["gold_gradient"] == "computed"
    assert first.report["scores"][0]["from_cache"] == 0
    assert first.report["scores"][0]["computed"] == len(examples)
    second = ImpactCache(trainer)
    g2 = second.gold_gradient(gold)
    s2 = second.scores(examples, g2)
    assert second.report["gold_gradient"] == "hit" and g2.key == g1.key
    assert all(torch.equal(g1.values[n], g2.values[n]) for n in g1.values)
    assert second.report["scores"][0] == {"n": len(examples), "from_cache": len(examples),
                                          "computed": 0, "corrupt_lines": 0}
    assert torch.equal(s1, s2)
    # the cached values are the path's own: recomputing without the cache gives them again
    fresh = directional_derivatives(trainer, examples, g1.values, "auto")
    assert torch.equal(s1, fresh)


@pytest.mark.parametrize("change", ["beta", "lora_weights", "gold_batch", "mask_eot",
                                    "npo_scale", "score_method"])
def test_a_changed_input_misses(tmp_path, change):
    pairs = make_pairs(9)
    base = _trainer(tmp_path)
    cache = ImpactCache(base)
    g = cache.gold_gradient(gold_batch(pairs, 6, seed=0))
    cache.scores(_examples(pairs), g)

    trainer, gold, opts, method = base, gold_batch(pairs, 6, seed=0), {}, "auto"
    if change == "beta":
        trainer = _trainer(tmp_path, "train.beta=0.25")
    elif change == "lora_weights":                      # another seed's θ_ref adapters
        trainer = _trainer(tmp_path, lora_seed=1)
    elif change == "gold_batch":
        gold = gold_batch(pairs, 6, seed=1)
    elif change == "mask_eot":
        opts = {"npo_mask_eot": True}
    elif change == "npo_scale":
        opts = {"npo_scale": "standard"}
    else:
        method = "jvp"
    again = ImpactCache(trainer, method)
    g2 = again.gold_gradient(gold)
    expect_gold = "computed" if change in ("beta", "lora_weights", "gold_batch") else "hit"
    assert again.report["gold_gradient"] == expect_gold
    examples = _examples(pairs, **opts)
    again.scores(examples, g2)
    punitive = sum(ex.kind == "punitive" for ex in examples)
    computed = again.report["scores"][0]["computed"]
    if change in ("mask_eot", "npo_scale"):      # only the NPO examples change
        assert computed == punitive and 0 < punitive < len(examples)
    else:
        assert computed == len(examples)


def test_corrupt_entries_are_recomputed_and_reported(tmp_path):
    trainer = _trainer(tmp_path)
    pairs = make_pairs(9)
    gold, examples = gold_batch(pairs, 6, seed=0), _examples(pairs)
    first = ImpactCache(trainer)
    g1 = first.gold_gradient(gold)
    s1 = first.scores(examples, g1)
    root = tmp_path / "cache" / "impact"
    [gold_file] = (root / "gold").glob("*.pt")
    gold_file.write_bytes(gold_file.read_bytes()[:100])             # truncated
    [table] = (root / "scores").glob("*.jsonl")
    lines = table.read_text().splitlines()
    lines[0] = lines[0][:20]                                         # torn line
    lines[1] = json.dumps({"k": json.loads(lines[1])["k"], "v": "nan"})
    table.write_text("\n".join(lines) + "\n")

    second = ImpactCache(trainer)
    g2 = second.gold_gradient(gold)
    s2 = second.scores(examples, g2)
    assert second.report["gold_gradient"] == "recomputed_corrupt"
    assert second.report["scores"][0]["corrupt_lines"] == 2
    assert second.report["scores"][0]["computed"] == 2
    assert all(torch.equal(g1.values[n], g2.values[n]) for n in g1.values)
    assert torch.allclose(s1, s2, rtol=1e-6, atol=0)
    third = ImpactCache(trainer)
    third.gold_gradient(gold)
    assert third.report["gold_gradient"] == "hit"


def _train(tmp_path, name, method, cfg, pairs):
    model, tok = load_model("tiny")
    ctx = MethodContext(cfg=cfg, model=prepare_model(model, cfg.train, 0), tokenizer=tok,
                        out_dir=tmp_path / name, seed=0)
    details = METHODS.get(method).load().train(ctx, pairs, cfg.method_options(method))
    return details, {n: p.detach().clone() for n, p in trainable(ctx.model).items()}


def test_variants_share_scores_and_train_the_same_adapter_as_without_the_cache(tmp_path,
                                                                               monkeypatch):
    cfg = tiny_config("train.beta=0.5", "train.max_steps=3", "train.lr=1e-2",
                      "methods.trace.gold_batch_size=9", "methods.trace_no_kl.gold_batch_size=9",
                      "methods.u2a.gold_batch_size=9", "methods.u2a.rounds=1")
    pairs = make_pairs(12)
    monkeypatch.setenv("REALIGNBENCH_CACHE", str(tmp_path / "cold"))
    cold, cold_adapter = _train(tmp_path, "cold", "trace_no_kl", cfg, pairs)
    assert cold["impact_cache"]["gold_gradient"] == "computed"

    monkeypatch.setenv("REALIGNBENCH_CACHE", str(tmp_path / "shared"))
    first, _ = _train(tmp_path, "trace", "trace", cfg, pairs)
    warm, warm_adapter = _train(tmp_path, "warm", "trace_no_kl", cfg, pairs)
    assert first["impact_cache"]["gold_gradient"] == "computed"
    assert warm["impact_cache"]["gold_gradient"] == "hit"
    [scored] = warm["impact_cache"]["scores"]
    assert scored["computed"] == 0 and scored["from_cache"] == scored["n"] > 0
    assert warm["impact_cache"]["score_method"] == "auto"
    assert warm["impact_cache"]["score_method_resolved"] == "ghost"        # on this CPU
    weights = lambda run: [json.loads(line)["weight"]                      # noqa: E731
                           for line in (tmp_path / run / "weighted_dataset.jsonl").open()]
    assert weights("warm") == weights("cold")
    moved = [n for n in cold_adapter if "lora_B" in n]
    assert moved and any(float(cold_adapter[n].abs().max()) > 0 for n in moved)
    for n, p in cold_adapter.items():            # as the DDP test: relative norm <= 1e-5
        diff = float((warm_adapter[n] - p).norm())
        assert diff <= 1e-5 * max(float(p.norm()), 1e-12), n

    u2a, _ = _train(tmp_path, "u2a", "u2a", cfg, pairs)     # U2A round 1 reuses TRACE's g_J
    assert u2a["u2a"]["rounds"][0]["impact_cache"]["gold_gradient"] == "hit"


@pytest.mark.gpu
def test_auto_runs_jvp_on_cuda_and_the_cache_round_trips_there(tmp_path):
    trainer = _trainer(tmp_path)
    assert next(trainer.model.parameters()).is_cuda
    pairs = make_pairs(9)
    gold, examples = gold_batch(pairs, 6, seed=0), _examples(pairs)
    first = ImpactCache(trainer)
    assert (first.method, first.batch_size) == ("jvp", trainer.cfg.train.micro_batch_size)
    s1 = first.scores(examples, first.gold_gradient(gold))
    second = ImpactCache(trainer)
    g2 = second.gold_gradient(gold)
    assert second.report["gold_gradient"] == "hit"
    assert all(t.is_cuda for t in g2.values.values())
    assert torch.equal(second.scores(examples, g2), s1)
    ref = directional_derivatives(trainer, examples, g2.values, "autograd", batch_size=1)
    assert float((s1 - ref).abs().max() / ref.abs().max()) < 1e-4
