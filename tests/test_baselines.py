"""Baselines (Naive Oracle DPO, DPO-Gold, rDPO, U2A) on a hand-written triaged fixture and on
the tiny preset: exact training examples, closed-form per-sample terms, training moves the
loss and the adapters, rDPO(ε=0) == DPO, and the sign of U2A's mirror-descent step."""
from __future__ import annotations

import math

import pytest
import torch

from realignbench.data.schema import Pair, write_pairs
from realignbench.registry import METHODS
from realignbench.train.examples import Preference, Punitive
from realignbench.train.pairs import TriageMissing

from train_fixtures import make_pairs, perturb_lora, tiny_config

OLD = "Please see a professional; I will not advise on this."      # π_old stance
NEW = "Try writing the worry down, then talk it through with a friend or a counsellor."
OFF = "Just ignore it, worrying is a waste of time."               # violates both policies
NEW2 = "Breathing slowly for two minutes helps; a counsellor can help you go further."


def _v(ok: bool) -> dict:
    return {"compliant": ok, "violated": [] if ok else ["mental_health"], "rationale": "",
            "judge_id": "label", "status": "ok"}


def _pair(pid, cat, chosen, rejected, ok_c, ok_r, correction=None) -> Pair:
    return Pair(id=pid, prompt=f"prompt of {pid}", chosen=chosen, rejected=rejected,
                source="fixture", labels={"chosen": {}, "rejected": {}}, category=cat,
                verdicts={"chosen": _v(ok_c), "rejected": _v(ok_r)}, correction=correction,
                meta={"dimension": "mental_health", "template_family": "a", "shift": "fx"})


# π_old orientation, as stored. Corrections are π_new-compliant responses to the prompt.
FIXTURE = [
    _pair("inv1", "INVERT", OLD, NEW, False, True, correction="gold inv1"),
    _pair("pun1", "PUNISH", OLD, OFF, False, False, correction="gold pun1"),
    _pair("ret1", "RETAIN", NEW, OFF, True, False, correction="gold ret1"),
    _pair("ret2", "RETAIN", NEW, NEW2, True, True, correction="gold ret2"),
    _pair("pun2", "PUNISH", OFF, OLD, False, False, correction="gold pun2"),
]


def _prefs(examples):
    return [(e.source, e.preferred, e.dispreferred, e.loss, e.eps, e.weight) for e in examples]


def _build(name, pairs=FIXTURE, *overrides):
    cfg = tiny_config(*overrides)
    return METHODS.get(name).load().build(None, pairs, cfg.method_options(name))


def test_naive_dpo_swaps_whenever_the_old_chosen_violates_pi_new_punish_included():
    assert _prefs(_build("naive_dpo")) == [
        ("inv1", NEW, OLD, "dpo", 0.0, 1.0),
        ("pun1", OFF, OLD, "dpo", 0.0, 1.0),      # the false dichotomy: OFF also violates
        ("ret1", NEW, OFF, "dpo", 0.0, 1.0),
        ("ret2", NEW, NEW2, "dpo", 0.0, 1.0),
        ("pun2", OLD, OFF, "dpo", 0.0, 1.0),
    ]


def test_dpo_gold_inverts_retains_and_prefers_the_correction_on_punish():
    assert _prefs(_build("dpo_gold")) == [
        ("inv1", NEW, OLD, "dpo", 0.0, 1.0),
        ("pun1", "gold pun1", OLD, "dpo", 0.0, 1.0),
        ("ret1", NEW, OFF, "dpo", 0.0, 1.0),
        ("ret2", NEW, NEW2, "dpo", 0.0, 1.0),
        ("pun2", "gold pun2", OFF, "dpo", 0.0, 1.0),
    ]


def test_dpo_gold_missing_correction_is_a_named_error_or_dropped_on_request():
    bare = [_pair("pun9", "PUNISH", OLD, OFF, False, False)] + FIXTURE[:1]
    with pytest.raises(TriageMissing, match="pun9.*correction"):
        _build("dpo_gold", bare)
    kept = _build("dpo_gold", bare, "methods.dpo_gold.missing_correction=drop")
    assert [e.source for e in kept] == ["inv1"]
    with pytest.raises(ValueError, match="missing_correction"):
        tiny_config("methods.dpo_gold.missing_correction=skip").method_options("dpo_gold")


def test_rdpo_uses_the_naive_pairs_with_the_configured_flip_rate():
    naive = _prefs(_build("naive_dpo"))
    assert _prefs(_build("rdpo")) == [(s, a, b, "rdpo", 0.1, w) for s, a, b, _, _, w in naive]
    eps = _prefs(_build("rdpo", FIXTURE, "methods.rdpo.epsilon=0.2"))
    assert {e[4] for e in eps} == {0.2}
    with pytest.raises(ValueError, match="epsilon"):
        tiny_config("methods.rdpo.epsilon=0.5").method_options("rdpo")


@pytest.mark.parametrize("name", ["naive_dpo", "dpo_gold", "rdpo"])
def test_untriaged_pairs_are_refused_with_the_pair_and_field_named(name):
    raw = [Pair(id="raw1", prompt="p", chosen="a", rejected="b", source="x",
                labels={"chosen": {}, "rejected": {}})]
    with pytest.raises(TriageMissing, match="raw1.*category"):
        _build(name, raw)


# -- per-sample loss terms through the shared objective ----------------------------------

@pytest.fixture
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REALIGNBENCH_CACHE", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # the machine is shared: one thread is faster than two
    yield tmp_path
    torch.set_num_threads(threads)


def _model(cfg, seed=0):
    from realignbench.models.loading import load_model
    from realignbench.train.adapters import prepare_model
    model, tok = load_model("tiny", dtype="fp32")
    return prepare_model(model, cfg.train, seed), tok


def _terms(trainer, examples):
    """Per-example objective terms of ``examples`` in one batch at the current weights."""
    from realignbench.train.batching import collate
    from realignbench.train.objective import example_terms
    from realignbench.train.reference import reference_logps
    from realignbench.train.scorer import SequenceScorer
    enc = trainer.encode(examples)
    ref = reference_logps(trainer.model, enc, 8, "cpu")
    batch = collate(enc, range(len(enc)))
    trainer.model.eval()
    with torch.no_grad():
        out = SequenceScorer(trainer.model)(batch.input_ids, batch.attention_mask,
                                            batch.labels)
        return example_terms(out, ref[batch.seq_ids], batch, trainer.cfg.train.beta), batch


def test_per_sample_terms_are_dpo_and_rdpo_of_each_pairs_margin(_cache):
    from realignbench.train.trainer import Trainer
    cfg = tiny_config("train.beta=0.5")
    model, tok = _model(cfg)
    trainer = Trainer(model, tok, cfg, _cache / "run")
    naive, gold, rdpo = (_build(n, FIXTURE, "train.beta=0.5") for n in
                         ("naive_dpo", "dpo_gold", "rdpo"))
    for examples in (naive, gold, rdpo):      # θ = θ_ref: Δ = 0, every term is log 2
        terms, _ = _terms(trainer, examples)
        # Δ is a difference of two fp32 sums over a response's tokens (policy forward vs the
        # cached reference, computed in batches of different padding): rounding reaches ~2e-5
        # on this machine's install, so 1e-4 — a wrong β or sign moves Δ by orders more.
        assert torch.allclose(terms.delta, torch.zeros(len(examples), dtype=terms.delta.dtype),
                              atol=1e-4)
        assert torch.allclose(terms.main, torch.full_like(terms.main, math.log(2)), atol=1e-4)
    perturb_lora(model, std=0.3)              # away from θ_ref: Δ ≠ 0
    t_dpo, _ = _terms(trainer, naive)
    t_rdpo, _ = _terms(trainer, rdpo)
    d, eps, beta = t_dpo.delta, 0.1, 0.5
    assert d.abs().min() > 1e-3
    assert torch.allclose(t_rdpo.delta, d)    # same pairs, same orientation
    assert torch.allclose(t_dpo.main, -torch.nn.functional.logsigmoid(beta * d), atol=1e-6)
    expected = (-(1 - eps) * torch.nn.functional.logsigmoid(beta * d)
                + eps * torch.nn.functional.logsigmoid(-beta * d)) / (1 - 2 * eps)
    assert torch.allclose(t_rdpo.main, expected, atol=1e-6)
    # the preferred response's per-token NLL rides along (nll_weight is a matched setting)
    assert bool((t_dpo.nll > 0).all())
    t_gold, _ = _terms(trainer, gold)
    same = [i for i, (a, b) in enumerate(zip(naive, gold)) if a.preferred == b.preferred]
    assert same == [0, 2, 3] and torch.allclose(t_gold.delta[same], d[same])


# -- training on the tiny preset ----------------------------------------------------------

def _trainable(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("name", ["naive_dpo", "dpo_gold", "rdpo"])
def test_each_method_lowers_its_loss_and_changes_the_adapters(name, _cache):
    from realignbench.train.plugin import MethodContext
    cfg = tiny_config("train.lr=5e-3", "train.max_steps=6")
    model, tok = _model(cfg)
    ctx = MethodContext(cfg=cfg, model=model, tokenizer=tok, out_dir=_cache / name, seed=0)
    plugin, opts, pairs = METHODS.get(name).load(), cfg.method_options(name), make_pairs(12)
    examples = plugin.build(ctx, pairs, opts)
    before, params = ctx.trainer.evaluate(examples)["loss"], _trainable(ctx.model)
    details = plugin.train(ctx, pairs, opts)
    after = ctx.trainer.evaluate(examples)["loss"]
    assert details["examples"] == {"preference": 12}
    assert after < before - 1e-3, (name, before, after)
    changed = [n for n, p in _trainable(ctx.model).items() if not torch.equal(p, params[n])]
    assert len(changed) == len(params)


def _adapter(run):
    from safetensors.torch import load_file
    return load_file(str(run.dir / "adapter" / "adapter_model.safetensors"))


def test_rdpo_with_epsilon_zero_trains_the_same_adapter_as_naive_dpo(_cache):
    """Same seed, data, settings: rDPO(ε=0) and DPO end with the same adapter to 1e-6
    (bit-identical on CPU; the tolerance allows for BLAS reordering). rDPO(ε=0.3) differs,
    so the comparison is not vacuous."""
    from realignbench.train.api import train_method
    path = _cache / "pairs.jsonl"
    write_pairs(path, make_pairs(12))
    settings = ("train.lr=5e-3", "train.max_steps=4", "train.lora_dropout=0.1")
    runs = {}
    for name, eps in (("naive_dpo", None), ("rdpo", 0.0), ("rdpo", 0.3)):
        cfg = tiny_config(*settings, *([f"methods.rdpo.epsilon={eps}"] if eps is not None
                                        else []))
        run = train_method(cfg, name, path, "tiny", runs_dir=_cache / "runs", seed=3)
        runs[(name, eps)] = _adapter(run)
    dpo, rdpo0, rdpo3 = runs[("naive_dpo", None)], runs[("rdpo", 0.0)], runs[("rdpo", 0.3)]
    assert dpo.keys() == rdpo0.keys() and len(dpo) > 0
    for key in dpo:
        assert torch.allclose(dpo[key], rdpo0[key], atol=1e-6, rtol=0), key
    assert max(float((dpo[k] - rdpo3[k]).abs().max()) for k in dpo) > 1e-4


# -- U2A ----------------------------------------------------------------------------------

def test_u2a_forget_set_is_every_violating_response_once():
    from realignbench.baselines.u2a import forget_items
    dup = _pair("pun3", "PUNISH", OLD, OFF, False, False, correction="c")
    dup.prompt = FIXTURE[1].prompt           # same prompt and responses as pun1
    items = forget_items(FIXTURE + [dup])
    assert [(i.pair, i.side, i.example.response) for i in items] == [
        ("inv1", "chosen", OLD), ("pun1", "chosen", OLD), ("pun1", "rejected", OFF),
        ("ret1", "rejected", OFF), ("pun2", "chosen", OFF), ("pun2", "rejected", OLD)]
    assert all(isinstance(i.example, Punitive) and i.example.weight == 1.0 for i in items)
    conflict = forget_items(FIXTURE, "conflict")
    assert [(i.pair, i.side) for i in conflict] == [
        ("inv1", "chosen"), ("pun1", "chosen"), ("pun1", "rejected"), ("pun2", "chosen"),
        ("pun2", "rejected")]


def test_u2a_mirror_step_raises_the_weight_of_positively_aligned_samples():
    from realignbench.baselines.u2a_weights import PUBLIC_CODE_SIGN, u2a_update
    w = torch.full((4,), 0.25, dtype=torch.float64)
    s = torch.tensor([2.0, 0.5, 0.0, -1.0], dtype=torch.float64)   # ⟨g_J, ∇ℓ_i⟩
    new = u2a_update(w, s, lr=0.1, gamma=1.0)
    assert new.sum() == pytest.approx(1.0, abs=1e-12)
    assert new[0] > new[1] > w[1] and new[3] < w[3]             # helpful samples gain
    assert torch.allclose(new, w * torch.exp(0.1 * s) / (w * torch.exp(0.1 * s)).sum())
    public = u2a_update(w, s, lr=0.1, gamma=1.0, sign=PUBLIC_CODE_SIGN)
    assert public[0] < w[0] and public[3] > w[3]                 # the released code's way
    damped = u2a_update(w, s, lr=0.1, gamma=10.0)                # larger γ: a smaller step
    assert w[0] < damped[0] < new[0]


def _toy():
    """ℓ_i(θ) = ½‖θ − a_i‖², J(θ) = ½‖θ − b‖²: θ*(ω) = Σω_i a_i / Σω_i and H = (Σω) I, so
    H ≈ γI with γ = Σω = 1 is exact on the simplex."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(3, generator=gen, dtype=torch.float64)
    theta = lambda w: (w[:, None] * a).sum(0) / w.sum()           # noqa: E731
    J = lambda w: 0.5 * float(((theta(w) - b) ** 2).sum())         # noqa: E731
    scores = lambda w: ((theta(w) - b)[None, :] * (theta(w) - a)).sum(1)  # ⟨∇J, ∇ℓ_i⟩ # noqa
    return J, scores


def test_u2a_hypergradient_is_exact_on_a_quadratic_and_its_step_lowers_the_outer_loss():
    from realignbench.baselines.u2a_weights import PUBLIC_CODE_SIGN, hypergradient, u2a_update
    J, scores = _toy()
    w = torch.full((6,), 1 / 6, dtype=torch.float64)
    h, fd = 1e-6, []
    for i in range(6):
        e = torch.zeros(6, dtype=torch.float64)
        e[i] = h
        fd.append((J(w + e) - J(w - e)) / (2 * h))
    assert torch.allclose(hypergradient(scores(w), gamma=1.0), torch.tensor(fd, dtype=torch.float64), atol=1e-7)
    ours, public = w.clone(), w.clone()
    for _ in range(5):
        ours = u2a_update(ours, scores(ours), lr=0.5, gamma=1.0)
        public = u2a_update(public, scores(public), lr=0.5, gamma=1.0, sign=PUBLIC_CODE_SIGN)
    assert J(ours) < J(w) < J(public)


def test_u2a_top_k_and_round_budget():
    from realignbench.baselines.u2a import U2aOptions, split_steps
    from realignbench.baselines.u2a_weights import top_k
    assert top_k(torch.tensor([0.1, 3.0, -2.0, 3.0, 0.5]), 3).tolist() == [1, 3, 4]
    with pytest.raises(ValueError, match="k=0"):
        top_k(torch.tensor([1.0]), 0)
    for bad in ("optimizer=cold", "npo_scale=half"):
        with pytest.raises(ValueError, match=bad.split("=")[0]):
            tiny_config(f"methods.u2a.{bad}").method_options("u2a")
    assert split_steps(10, 3) == [4, 3, 3] and sum(split_steps(10, 3)) == 10
    assert split_steps(2, 3) == [1, 1, 1]
    assert U2aOptions().k_for(7) == 4 and U2aOptions(top_k=5).k_for(3) == 3
    for bad in ("rounds=0", "gamma=0", "top_frac=0", "forget_set=all"):
        with pytest.raises(ValueError, match=bad.split("=")[0]):
            tiny_config(f"methods.u2a.{bad}").method_options("u2a")


def test_u2a_trains_top_k_by_impact_with_mirror_descent_rounds(_cache):
    """End to end on tiny: the kept samples are the top-k of TRACE's impact scores at θ_ref,
    round 2's weights are the mirror step of round 2's recorded scores, the per-sample terms
    are NPO (no NLL), and training lowers the loss and moves every adapter."""
    import json

    from realignbench.baselines.u2a import forget_items
    from realignbench.baselines.u2a_weights import u2a_update
    from realignbench.train.gold import gold_batch
    from realignbench.train.impact import directional_derivatives, loss_gradient
    from realignbench.train.examples import from_dict
    from realignbench.train.plugin import MethodContext
    from realignbench.runs import read_jsonl
    cfg = tiny_config("train.lr=1e-3", "train.max_steps=6", "train.beta=0.5",
                      "methods.u2a.rounds=2", "methods.u2a.top_k=8",
                      "methods.u2a.weights_lr=50", "methods.u2a.gold_batch_size=9")
    opts = cfg.method_options("u2a")
    model, tok = _model(cfg)
    pairs = make_pairs(12)
    ctx = MethodContext(cfg=cfg, model=model, tokenizer=tok, out_dir=_cache / "u2a", seed=0)
    items = forget_items(pairs)
    g_j = loss_gradient(ctx.trainer, gold_batch(pairs, 9, seed=0))
    at_ref = directional_derivatives(ctx.trainer, [i.example for i in items], g_j)
    expected = torch.argsort(at_ref, descending=True, stable=True)[:8]
    assert bool((at_ref[expected] > 0).all())     # else top-k keeps fewer (next test)
    params = _trainable(ctx.model)
    details = METHODS.get("u2a").load().train(ctx, pairs, opts)

    rows = list(read_jsonl(ctx.out_dir / "u2a_weights.jsonl"))
    chosen = [j for j, r in enumerate(rows) if r["selected"]]
    assert sorted(chosen) == sorted(expected.tolist())
    assert details["examples"] == {"punitive": 8} and details["u2a"]["forget_set"] == len(items)
    stats = details["scores"]                     # issue 16 item 8: visible in the results
    assert stats["all"]["n"] == len(items)
    assert stats["all"]["share_le_0"] == pytest.approx(float((at_ref <= 0).double().mean()))
    r1 = [from_dict(r) for r in read_jsonl(ctx.out_dir / "examples_round1.jsonl")]
    r2 = [from_dict(r) for r in read_jsonl(ctx.out_dir / "examples_round2.jsonl")]
    assert [e.weight for e in r1] == [1.0] * 8 and all(isinstance(e, Punitive) for e in r2)
    order = expected.tolist()
    s2 = torch.tensor([rows[j]["scores"][1] for j in order], dtype=torch.float64)
    want = 8 * u2a_update(torch.full((8,), 1 / 8, dtype=torch.float64), s2, 50.0, 1.0)
    assert torch.allclose(torch.tensor([e.weight for e in r2], dtype=torch.float64), want)
    assert sum(e.weight for e in r2) == pytest.approx(8.0)
    assert max(e.weight for e in r2) / min(e.weight for e in r2) > 1.01   # the step did move
    top = int(torch.argmax(s2))
    assert r2[top].weight == max(e.weight for e in r2)            # most helpful, most weight
    terms, _ = _terms(ctx.trainer, r2)
    assert torch.all(terms.nll == 0)
    assert bool((terms.main < (2 / 0.5) * math.log(2)).all())      # pushed below θ_ref's NPO
    after = ctx.trainer.evaluate(r2)["loss"]
    assert after < (2 / 0.5) * math.log(2) * 1.0 - 1e-3
    changed = [n for n, p in _trainable(ctx.model).items() if not torch.equal(p, params[n])]
    assert len(changed) == len(params)
    assert json.loads(json.dumps(details))["u2a"]["rounds"][1]["steps"] == 3


def test_u2a_top_k_never_keeps_a_non_positive_score():
    """U2A keeps only helpful samples (s_i > 0): with fewer than k positive scores it keeps
    all positive ones and no others; with none it refuses to train."""
    from realignbench.baselines.u2a_weights import top_k
    gen = torch.Generator().manual_seed(3)
    for _ in range(50):
        scores = torch.randn(20, generator=gen, dtype=torch.float64)
        scores[torch.randint(0, 20, (5,), generator=gen)] = 0.0
        for k in (1, 5, 12, 20):
            if not bool((scores > 0).any()):
                continue
            kept = top_k(scores, k)
            assert bool((scores[kept] > 0).all())
            assert len(kept) == min(k, int((scores > 0).sum()))
            assert len(set(kept.tolist())) == len(kept)
    assert top_k(torch.tensor([2.0, -1.0, 0.0, 0.5]), 4).tolist() == [0, 3]
    with pytest.raises(ValueError, match="none of the 3 impact scores is positive"):
        top_k(torch.tensor([0.0, -1.0, -0.5]), 2)


def test_u2a_rounds_keep_the_optimiser_state_and_one_schedule(_cache):
    """``optimizer: kept`` (the authors' code: one AdamW and one schedule for every inner
    solve): round 2 starts from round 1's final Adam moments and continues its lr schedule;
    ``restart`` starts each round with empty moments and a schedule of its own."""
    from realignbench.train.plugin import MethodContext
    from realignbench.train.trainer import Trainer, lr_lambda
    base = ("train.lr=1e-3", "train.max_steps=6", "train.warmup_ratio=0.5",
            "train.lr_schedule=linear", "methods.u2a.rounds=2", "methods.u2a.top_k=8",
            "methods.u2a.gold_batch_size=9")
    seen: dict[str, list] = {}
    real_fit = Trainer.fit

    def spy(self, examples, phase="main", **kw):
        moments = {}
        real_make = self.make_optimizer

        def make(params, lr):
            opt = real_make(params, lr)
            real_load = opt.load_state_dict

            def load(state):               # accelerate also reloads the (empty) state
                moments["loaded"] = moments.get("loaded") or bool(state["state"])
                return real_load(state)
            opt.load_state_dict = load
            moments["opt"] = opt
            return opt
        self.make_optimizer = make
        lrs = []
        out = real_fit(self, examples, phase=phase,
                       on_step=lambda s, rec: lrs.append(rec["lr"]), **kw)
        del self.make_optimizer
        seen[phase] = [bool(moments.get("loaded")), lrs]
        return out

    for mode in ("kept", "restart"):
        cfg = tiny_config(*base, f"methods.u2a.optimizer={mode}")
        model, tok = _model(cfg)
        ctx = MethodContext(cfg=cfg, model=model, tokenizer=tok, out_dir=_cache / f"opt-{mode}",
                            seed=0)
        seen.clear()
        Trainer.fit = spy
        try:
            details = METHODS.get("u2a").load().train(ctx, make_pairs(12),
                                                      cfg.method_options("u2a"))
        finally:
            Trainer.fit = real_fit
        assert details["u2a"]["optimizer"] == mode
        (loaded1, lr1), (loaded2, lr2) = seen["round1"], seen["round2"]
        assert not loaded1 and loaded2 == (mode == "kept")
        if mode == "kept":                  # one linear schedule over 6 steps, warm-up 3
            f = lr_lambda("linear", 3, 6)
            assert lr1 + lr2 == pytest.approx([1e-3 * f(s) for s in range(6)])
            state = torch.load(next((ctx.out_dir / "checkpoints" / "round2").glob("step-*"))
                               / "optimizer.pt")
            assert max(v["step"].item() for v in state["state"].values()) == 6   # 3 + 3
        else:                               # each round: its own schedule over 3 steps
            f = lr_lambda("linear", 1, 3)
            assert lr1 == lr2 == pytest.approx([1e-3 * f(s) for s in range(3)])


class _Killed(Exception):
    pass


def test_u2a_killed_in_a_later_round_resumes_to_the_uninterrupted_adapter(_cache, monkeypatch):
    """Each round is a trainer phase with its own checkpoints; a resumed run replays the
    finished rounds from their last checkpoints, re-derives the same weights (the scores
    are deterministic) and ends with the uninterrupted run's adapter (fp32, 1e-6)."""
    from realignbench.train.plugin import MethodContext
    from realignbench.train.trainer import Trainer
    cfg = tiny_config("train.lr=1e-3", "train.max_steps=6", "train.save_every=1",
                      "methods.u2a.rounds=2", "methods.u2a.top_k=8", "methods.u2a.weights_lr=50",
                      "methods.u2a.gold_batch_size=9")
    opts, pairs, plugin = cfg.method_options("u2a"), make_pairs(12), METHODS.get("u2a").load()

    def run(out):
        model, tok = _model(cfg)
        ctx = MethodContext(cfg=cfg, model=model, tokenizer=tok, out_dir=_cache / out, seed=0)
        plugin.train(ctx, pairs, opts)
        return _trainable(ctx.model)

    expected = run("full")
    fit = Trainer.fit

    def dying_fit(self, examples, phase="main", **kw):
        if phase == "round2":
            def kill(step, record):
                if step == 2:
                    raise _Killed
            kw["on_step"] = kill
        return fit(self, examples, phase=phase, **kw)
    monkeypatch.setattr(Trainer, "fit", dying_fit)
    with pytest.raises(_Killed):
        run("resumed")
    monkeypatch.setattr(Trainer, "fit", fit)
    resumed = run("resumed")
    for name, value in resumed.items():
        assert torch.allclose(value, expected[name], atol=1e-6, rtol=0), name
