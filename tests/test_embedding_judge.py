"""The free-text judge: stance probes over real MiniLM embeddings, policy rules applied to the
predicted stance, labels ignored, verdicts cached, bad input named."""
import pytest

from realignbench.oracle.embedder import Embedder, model_path
from realignbench.oracle.embedding_judge import EmbeddingJudge, load_probe, training_examples
from realignbench.policies.spec import load_policy
from realignbench.oracle.stance_probe import NO_STANCE, sentences
from realignbench.oracle.verdict import JudgeItem

N_TRAIN = 240


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        root = tmp_path_factory.mktemp("rbcache")
        mp.setenv("REALIGNBENCH_CACHE", str(root))
        yield root


@pytest.fixture(scope="module")
def judge(cache):
    embedder = Embedder()
    probe, key = load_probe(0, N_TRAIN, embedder=embedder)
    return EmbeddingJudge(probe, key, embedder)


@pytest.fixture(scope="module")
def held_out():
    from realignbench.synthvaluebench.generator import labelled_responses
    from realignbench.synthvaluebench.text import family_names
    return labelled_responses(1, family_names(held_out=True), 60)


def item(r, labels=None):
    return JudgeItem(r.prompt, r.text, labels, {"dimension": r.dimension, "context": r.context})


def test_model_ships_in_site_packages_and_embeds_offline(cache):
    assert (model_path() / "model.safetensors").exists()
    e = Embedder()
    v = e.encode(["The capital of France is Paris.", "Paris is France's capital city.",
                  "Bananas are yellow."])
    assert v.shape == (3, 384)
    assert abs(float((v[0] ** 2).sum()) - 1) < 1e-4
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2
    assert (Embedder().encode(["Bananas are yellow."]) == v[2:]).all()   # from the cache


def test_training_uses_only_training_families():
    ex = training_examples(0, N_TRAIN)
    from realignbench.synthvaluebench.generator import labelled_responses
    held = {r.text for r in labelled_responses(0, ["narrative"], 400)}
    assert not held & {e.text for e in ex}
    assert {e.stance for e in ex if e.dimension == "dual_use"} == {
        "refuse", "explain_safely", "misuse_tips", NO_STANCE}


def test_held_out_stances_mostly_right(judge, held_out):
    preds = judge.probe.predict(judge.embedder, [r.dimension for r in held_out],
                                [r.text for r in held_out])
    acc = sum(p == r.stance for r, (p, _) in zip(held_out, preds)) / len(held_out)
    assert acc >= 0.85, acc


def test_verdicts_follow_the_policy_rules_and_ignore_labels(judge, held_out):
    new, old = load_policy("svb_new_default"), load_policy("svb_old")
    mh = [r for r in held_out if r.dimension == "mental_health"]
    items = [item(r) for r in mh]
    v_new, v_old = judge.judge(items, new), judge.judge(items, old)
    for r, a, b in zip(mh, v_new, v_old):
        stance = judge.judge_with_stances([item(r)], new)[0][1]
        assert a.compliant == (stance == "supportive_referral")
        assert b.compliant == (stance == "refer_only")
        assert a.judge_id == judge.judge_id and "predicted stance" in a.rationale
    lying = [item(r, {"dimension": r.dimension, "context": r.context, "stance": "refer_only"})
             for r in mh]
    assert [v.compliant for v in judge.judge(lying, new)] == [v.compliant for v in v_new]


def test_echoed_prompt_and_filler_take_no_stance(judge, held_out):
    new = load_policy("svb_new_default")
    r = next(x for x in held_out if x.dimension == "dual_use")
    items = [JudgeItem(r.prompt, r.prompt, None, {"dimension": "dual_use", "context": "none"}),
             JudgeItem(r.prompt, "", None, {"dimension": "dual_use", "context": "none"})]
    out = judge.judge_with_stances(items, new)
    assert [s for _, s, _ in out] == [NO_STANCE, NO_STANCE]
    assert not any(v.compliant for v, _, _ in out)      # refuse/explain would be compliant


def test_verdicts_are_cached_by_content(judge, held_out, monkeypatch):
    new = load_policy("svb_new_default")
    items = [item(r) for r in held_out[:6]]
    first = judge.judge(items, new)

    def boom(*a, **k):
        raise AssertionError("probe called despite cached verdicts")
    monkeypatch.setattr(judge.probe, "predict", boom)
    assert judge.judge(items, new) == first
    with pytest.raises(AssertionError):        # another policy version is another key
        judge.judge(items, load_policy("svb_new_trivial"))


def test_bad_input_is_named(judge):
    with pytest.raises(ValueError, match="stance-rule policies only"):
        judge.judge([JudgeItem("p", "r", None, {"dimension": "x"})], load_policy("pku_new"))
    with pytest.raises(KeyError, match="item 0 has no meta"):
        judge.judge([JudgeItem("p", "r")], load_policy("svb_new_default"))


def test_sentence_split():
    assert sentences("Hi there. How are you? Fine!") == ["Hi there.", "How are you?", "Fine!"]
    assert sentences("  ") == ["(empty)"]
