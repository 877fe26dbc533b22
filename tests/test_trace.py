"""TRACE: gold batch, impact scores (JVP vs autograd), weights, hybrid examples, variants."""
import json
from collections import Counter

import pytest
import torch

from realignbench.models.loading import load_model
from realignbench.registry import METHODS
from realignbench.train.gold import gold_batch
from realignbench.train.impact import (directional_derivatives, group_scores, loss_gradient,
                                       trainable)
from realignbench.trace.method import TraceOptions, conflict_groups, trace_examples
from realignbench.trace.weights import normalise, normalise_groups
from realignbench.train.adapters import prepare_model
from realignbench.train.examples import Anchor, Preference, Punitive
from realignbench.train.plugin import MethodContext
from realignbench.train.trainer import Trainer

from train_fixtures import make_pairs, perturb_lora, tiny_config
from train_fixtures import isolated_one_thread  # noqa: F401 (a fixture)


pytestmark = pytest.mark.usefixtures("isolated_one_thread")


def _trainer(tmp_path, dtype="fp32", *overrides):
    cfg = tiny_config("train.beta=0.5", *overrides)
    model, tok = load_model("tiny", dtype=dtype)
    model = prepare_model(model, cfg.train, seed=0)
    if dtype == "fp64":
        model = model.double()
    perturb_lora(model, std=0.05)            # both LoRA factors non-zero
    return Trainer(model, tok, cfg, tmp_path, seed=0)


def _scored_examples(pairs):
    groups = conflict_groups(pairs, TraceOptions())
    examples = [ex for _, g in groups for ex in g]
    examples += [Preference(p.id, p.prompt, p.chosen, p.rejected, loss="ipo") for p in pairs[:3]]
    examples += [Anchor(p.id, p.prompt, p.chosen) for p in pairs[:2]]
    return examples


@pytest.mark.parametrize("method", ["jvp", "ghost"])
@pytest.mark.parametrize("dtype,tol", [("fp32", 1e-4), ("fp64", 1e-6)])
def test_batched_scores_equal_autograd_scores(tmp_path, dtype, tol, method):
    """Both batched paths against per-example backward at batch 1 (the plain definition)."""
    trainer = _trainer(tmp_path, dtype)
    pairs = make_pairs(12)
    g_j = loss_gradient(trainer, gold_batch(pairs, 9, seed=0))
    a_part = [n for n in g_j if "lora_A" in n]
    assert a_part and max(float(g_j[n].abs().max()) for n in a_part) > 0   # A-gradients live
    examples = _scored_examples(pairs)
    fast = directional_derivatives(trainer, examples, g_j, method, batch_size=4)
    ref = directional_derivatives(trainer, examples, g_j, "autograd", batch_size=1)
    scale = ref.abs().max()
    assert scale > 0 and (fast > 0).any() and (fast < 0).any()
    assert float((fast - ref).abs().max() / scale) < tol


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("dtype,tol", [("fp32", 1e-4), ("fp64", 1e-6)])
def test_ghost_group_scores_equal_the_sum_of_autograd_scores(tmp_path, dtype, tol, packed,
                                                             monkeypatch):
    """TRACE's groups (an INVERT pair's IPO term; a PUNISH pair's two NPO terms), each scored
    in one packed row with its prompt once — or, where the attention takes no custom mask,
    as plain rows added up per group."""
    from realignbench.train.scorer import SequenceScorer
    if not packed:
        monkeypatch.setattr(SequenceScorer, "packable", property(lambda self: False))
    trainer = _trainer(tmp_path, dtype)
    pairs = make_pairs(12)
    g_j = loss_gradient(trainer, gold_batch(pairs, 9, seed=0))
    groups = [g for _, g in conflict_groups(pairs, TraceOptions())]
    assert {len(g) for g in groups} == {1, 2}
    fast = group_scores(trainer, groups, g_j, "ghost", batch_size=3)
    ref = group_scores(trainer, groups, g_j, "autograd", batch_size=1)
    assert float((fast - ref).abs().max() / ref.abs().max()) < tol


def test_ghost_leaves_every_module_as_it_was(tmp_path):
    """The ghost path runs LoRA layers as merged linears only while it scores."""
    trainer = _trainer(tmp_path)
    pairs = make_pairs(6)
    ids = torch.tensor([trainer.tokenizer.encode("a short check of the outputs")])
    with torch.no_grad():
        before = trainer.model(input_ids=ids).logits
    g_j = loss_gradient(trainer, gold_batch(pairs, 3, seed=0))
    directional_derivatives(trainer, _scored_examples(pairs), g_j, "ghost", batch_size=4)
    assert not [n for n, m in trainer.model.named_modules() if "forward" in vars(m)]
    with torch.no_grad():
        torch.testing.assert_close(trainer.model(input_ids=ids).logits, before)


def test_ghost_scores_examples_that_share_a_sequence(tmp_path):
    """NPO on a chosen answer, an IPO pair with the same chosen answer and a KL anchor on it
    share one encoded sequence: the micro-batches keep them apart, so the ghost path's
    per-position gradients still belong to one example each."""
    from realignbench.train.impact import _Setup
    trainer = _trainer(tmp_path)
    pairs = make_pairs(4)
    examples = [ex for p in pairs for ex in (
        Punitive(p.id, p.prompt, p.chosen), Preference(p.id, p.prompt, p.chosen, p.rejected,
                                                       loss="ipo"),
        Anchor(p.id, p.prompt, p.chosen))]
    setup = _Setup(trainer, examples, batch_size=6)
    shared = [set(setup.enc.rows[3 * k]) & set(setup.enc.rows[3 * k + 1]) for k in range(4)]
    assert all(shared)                                       # the case under test exists
    for ids in setup.shard():
        rows = [s for i in ids for s in set(setup.enc.rows[i])]
        assert len(rows) == len(set(rows))
    g_j = loss_gradient(trainer, gold_batch(make_pairs(12), 9, seed=0))
    ghost = directional_derivatives(trainer, examples, g_j, "ghost", batch_size=6)
    ref = directional_derivatives(trainer, examples, g_j, "autograd", batch_size=1)
    assert float((ghost - ref).abs().max() / ref.abs().max()) < 1e-4
    # a group may hold examples that share a sequence: its score is their sum
    groups = [examples[3 * k:3 * k + 2] for k in range(4)] + [[examples[3 * k + 2]]
                                                              for k in range(4)]
    ghost = group_scores(trainer, groups, g_j, "ghost", batch_size=3)
    ref = group_scores(trainer, groups, g_j, "autograd", batch_size=1)
    assert float((ghost - ref).abs().max() / ref.abs().max()) < 1e-4


def test_ghost_skips_layers_the_direction_leaves_still(tmp_path):
    """At θ_ref (B = 0) the gold gradient on LoRA's A is zero; a direction without A-parts
    must give the same scores as the reference path, which multiplies every part."""
    trainer = _trainer(tmp_path)
    examples = _scored_examples(make_pairs(6))
    g_j = loss_gradient(trainer, gold_batch(make_pairs(12), 9, seed=0))
    only_b = {n: (torch.zeros_like(v) if "lora_A" in n else v) for n, v in g_j.items()}
    ghost = directional_derivatives(trainer, examples, only_b, "ghost", batch_size=4)
    ref = directional_derivatives(trainer, examples, only_b, "autograd", batch_size=1)
    full = directional_derivatives(trainer, examples, g_j, "ghost", batch_size=4)
    assert float((ghost - ref).abs().max() / ref.abs().max()) < 1e-4
    assert float((full - ghost).abs().max() / ref.abs().max()) > 1e-3   # A-parts do count


def test_ghost_refuses_trainable_parameters_outside_linear_layers(tmp_path):
    cfg = tiny_config("train.beta=0.5", "train.lora=false")
    model, tok = load_model("tiny")
    trainer = Trainer(prepare_model(model, cfg.train, seed=0), tok, cfg, tmp_path, seed=0)
    examples = _scored_examples(make_pairs(3))[:2]
    v = {n: torch.ones_like(p) for n, p in trainable(trainer.model).items()}
    with pytest.raises(ValueError, match="score method .ghost. needs .*LoRA.*embed"):
        directional_derivatives(trainer, examples, v, "ghost")


def test_directional_derivative_matches_finite_difference(tmp_path):
    """Independent of both AD paths: [ℓ_i(θ + h v) − ℓ_i(θ − h v)] / 2h in fp64 weights
    (HF's RMSNorm still computes in fp32, so h is large and the tolerance 1e-3)."""
    trainer = _trainer(tmp_path, "fp64", "train.nll_weight=0")   # scores exclude the NLL term
    pairs = make_pairs(6)
    examples = _scored_examples(pairs)[:5]
    params = trainable(trainer.model)
    gen = torch.Generator().manual_seed(0)
    v = {n: torch.randn(p.shape, generator=gen, dtype=p.dtype) for n, p in params.items()}
    jvp = directional_derivatives(trainer, examples, v, "jvp")
    h = 1e-4

    def losses(sign):
        with torch.no_grad():
            for n, p in params.items():
                p.add_(sign * h * v[n])
        out = torch.tensor([trainer.evaluate([e])["loss"] for e in examples],
                           dtype=torch.float64)
        with torch.no_grad():
            for n, p in params.items():
                p.sub_(sign * h * v[n])
        return out
    fd = (losses(1) - losses(-1)) / (2 * h)
    assert float((jvp - fd).abs().max() / fd.abs().max()) < 1e-3


def test_gold_batch_follows_algorithm_2_and_is_seeded():
    pairs = make_pairs(30)
    gold = gold_batch(pairs, 9, seed=1)
    by_id = {p.id: p for p in pairs}
    cats = Counter(by_id[g.source.split("/", 1)[1]].category for g in gold)
    assert cats == {"RETAIN": 3, "INVERT": 3, "PUNISH": 3}
    for g in gold:
        p = by_id[g.source.split("/", 1)[1]]
        if p.category == "RETAIN":
            assert (g.preferred, g.dispreferred) == (p.chosen, p.rejected)
        elif p.category == "INVERT":
            assert (g.preferred, g.dispreferred) == (p.rejected, p.chosen)
        else:
            compliant = {q.chosen for q in pairs if q.category == "RETAIN"} | \
                        {q.rejected for q in pairs if q.category == "INVERT"}
            assert g.dispreferred == p.chosen and g.preferred in compliant
    assert gold == gold_batch(pairs, 9, seed=1) and gold != gold_batch(pairs, 9, seed=2)
    corr = gold_batch(pairs, 9, seed=1, punish_response="correction")
    assert all(g.preferred == by_id[g.source[5:]].correction for g in corr
               if by_id[g.source[5:]].category == "PUNISH")


def test_weights_clamp_and_normalise():
    s = torch.tensor([2.0, -1.0, 0.0, 6.0])
    assert normalise(s, "mean1").tolist() == [0.5, 0.0, 0.0, 1.5]
    assert normalise(s, "sum1").tolist() == [0.25, 0.0, 0.0, 0.75]
    with pytest.raises(ValueError, match="all 2 impact scores"):
        normalise(torch.tensor([-1.0, 0.0]))


def test_weights_per_category_are_scale_free_across_losses():
    # PUNISH scores 20x larger (NPO's scale): pooled, they would dominate; per category not.
    s = torch.tensor([1.0, 3.0, -2.0, 20.0, 60.0])
    cats = ["INVERT", "INVERT", "INVERT", "PUNISH", "PUNISH"]
    assert normalise_groups(s, cats, "mean1").tolist() == [0.5, 1.5, 0.0, 0.5, 1.5]
    assert normalise_groups(s, cats).tolist() == [0.25, 0.75, 0.0, 0.25, 0.75]   # sum1
    assert normalise_groups(s, ["all"] * 5).tolist() == normalise(s).tolist()
    only_punish = normalise_groups(torch.tensor([-1.0, 2.0]), ["INVERT", "PUNISH"])
    assert only_punish.tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="impact scores are <= 0"):
        normalise_groups(torch.tensor([-1.0, 0.0]), ["INVERT", "PUNISH"])


def test_conflict_groups_per_variant():
    pairs = make_pairs(6)                      # INVERT, PUNISH, RETAIN, ...
    inv, pun, ret = pairs[0], pairs[1], pairs[2]
    g = dict((p.id, ex) for p, ex in conflict_groups(pairs, TraceOptions()))
    assert set(g) == {inv.id, pun.id, pairs[3].id, pairs[4].id}
    assert g[inv.id] == [Preference(inv.id, inv.prompt, inv.rejected, inv.chosen)]
    assert g[pun.id] == [Punitive(pun.id, pun.prompt, pun.chosen),
                         Punitive(pun.id, pun.prompt, pun.rejected)]
    g = dict((p.id, ex) for p, ex in conflict_groups(pairs, TraceOptions(variant="oracle_punish",
                                                                          invert_loss="ipo")))
    assert g[pun.id] == [Preference(pun.id, pun.prompt, pun.correction, pun.chosen, loss="ipo")]
    g = dict((p.id, ex) for p, ex in conflict_groups(pairs, TraceOptions(variant="no_triage")))
    assert len(g) == 6
    assert g[inv.id] == [Punitive(inv.id, inv.prompt, inv.chosen)]     # chosen violates
    assert g[ret.id] == [Punitive(ret.id, ret.prompt, ret.rejected)]   # chosen complies


@pytest.mark.parametrize("method", ["trace", "trace_no_triage", "trace_no_impact",
                                    "trace_no_kl", "trace_oracle_punish", "trace_ours"])
def test_trace_variants_build_weighted_examples_and_record_them(tmp_path, method):
    cfg = tiny_config("train.beta=0.5", f"methods.{method}.gold_batch_size=9")
    opts = cfg.method_options(method)
    model, tok = load_model("tiny")
    ctx = MethodContext(cfg=cfg, model=prepare_model(model, cfg.train, 0), tokenizer=tok,
                        out_dir=tmp_path, seed=0)
    pairs = make_pairs(18)
    examples = trace_examples(ctx, pairs, opts)
    rows = [json.loads(line) for line in (tmp_path / "weighted_dataset.jsonl").open()]
    stats = ctx.results["weights"]
    kinds = Counter(e.kind for e in examples)
    n_kept = sum(r["kept"] for r in rows)
    assert n_kept == sum(stats["kept"].values()) and len(rows) - n_kept == sum(
        stats["dropped"].values())
    weights = [r["weight"] for r in rows if r["kept"]]
    assert min(weights) > 0
    if method == "trace_no_impact":
        assert weights == [1.0] * len(rows)
    else:                       # Algorithm 1: sum to 1 over the joint INVERT ∪ PUNISH pool
        assert sum(weights) == pytest.approx(1.0, abs=1e-12)
        assert all((r["score"] > 0) == r["kept"] for r in rows)
        positive = sum(r["score"] for r in rows if r["kept"])
        for r in rows:          # one pool: each weight is its score's share of all positives
            assert r["weight"] == pytest.approx(max(r["score"], 0.0) / positive, rel=1e-9)
        scores = ctx.results["scores"]
        assert scores["all"]["n"] == len(rows)
        assert scores["all"]["share_le_0"] == pytest.approx(1 - n_kept / len(rows))
    n_retain = sum(p.category == "RETAIN" for p in pairs)
    expect_anchor = 0 if method in ("trace_no_triage", "trace_no_kl") else n_retain
    assert kinds.get("anchor", 0) == expect_anchor
    assert all(e.weight == pytest.approx(0.1) for e in examples if e.kind == "anchor")
    if method == "trace_no_triage":
        assert set(kinds) == {"punitive"} and len(rows) == len(pairs)
    if method == "trace_oracle_punish":
        assert "punitive" not in kinds


def test_trace_variants_are_registered_and_listable():
    names = METHODS.names()
    for m in ("trace", "trace_no_triage", "trace_no_impact", "trace_no_kl",
              "trace_oracle_punish", "trace_ours"):
        assert m in names
    with pytest.raises(ValueError, match="variant"):
        TraceOptions(variant="nope")


def test_group_scores_sum_their_examples(tmp_path):
    trainer = _trainer(tmp_path)
    pairs = make_pairs(6)
    groups = [g for _, g in conflict_groups(pairs, TraceOptions())]
    g_j = loss_gradient(trainer, gold_batch(pairs, 6, seed=0))
    per = directional_derivatives(trainer, [e for g in groups for e in g], g_j)
    grouped = group_scores(trainer, groups, g_j)
    sizes = [len(g) for g in groups]
    expected = torch.stack([c.sum() for c in per.split(sizes)])
    assert torch.allclose(grouped, expected)


@pytest.mark.gpu
def test_jvp_scores_equal_autograd_scores_on_cuda(tmp_path):
    """The same check on the GPU (the trainer moves the model to the accelerator's device)."""
    trainer = _trainer(tmp_path, "fp32")
    assert next(trainer.model.parameters()).is_cuda
    pairs = make_pairs(12)
    g_j = loss_gradient(trainer, gold_batch(pairs, 9, seed=0))
    examples = _scored_examples(pairs)
    jvp = directional_derivatives(trainer, examples, g_j, "jvp", batch_size=8)
    ref = directional_derivatives(trainer, examples, g_j, "autograd", batch_size=8)
    assert float((jvp - ref).abs().max() / ref.abs().max()) < 1e-4
