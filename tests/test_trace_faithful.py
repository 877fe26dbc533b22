"""TRACE as the paper's Algorithm 1 (issue 16): the objective on a hand-built three-pair batch
equals the algorithm's loss computed here from its formulas; the end-of-turn option changes
exactly one target; ``trace_ours`` differs from ``trace`` only in the options it names."""
import math

import pytest
import torch

from realignbench.models.chat import IGNORE, chat_frame, encode_pair
from realignbench.models.loading import load_model
from realignbench.registry import METHODS
from realignbench.trace.method import TraceOptions, TraceOursOptions, conflict_groups
from realignbench.trace.weights import normalise_groups
from realignbench.train.batching import KIND_CODES, Batch, EncodedExamples, collate
from realignbench.train.examples import Preference, Punitive
from realignbench.train.impact import score_statistics
from realignbench.train.objective import example_terms, weighted_sum
from realignbench.train.scorer import SequenceScorer

from train_fixtures import make_pairs


def _log_sigmoid(z: float) -> float:
    return -math.log1p(math.exp(-z))


def _kl(p: list[float], q: list[float]) -> float:
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def test_objective_equals_hand_computed_algorithm_1_on_three_pairs():
    """One INVERT, one PUNISH, one RETAIN pair, with given log-probs and impact scores.

    Algorithm 1: w = clamp(s, 0) / Σ clamp(s, 0) over INVERT ∪ PUNISH;
    L = w_I·(−log σ(βΔ)) + w_P·Σ_{y∈{y_w,y_l}} −log σ(−β r(y)) + α_KL·mean_t KL(π_ref ‖ π)."""
    opts = TraceOptions()
    beta, alpha = 0.3, opts.alpha_kl
    assert (opts.weight_norm, opts.weight_groups, opts.npo_scale, opts.npo_mask_eot) == \
        ("sum1", "joint", "paper", False)
    # Rows: INVERT y_l (preferred) and y_w; PUNISH y_w and y_l; RETAIN y_w (2 tokens).
    policy = [-10.0, -12.0, -8.0, -9.0, -5.0]
    ref = [-11.0, -11.0, -8.5, -8.0, -5.0]
    p_ref = [[0.7, 0.2, 0.1], [0.5, 0.25, 0.25]]
    p_pol = [[0.6, 0.3, 0.1], [0.4, 0.4, 0.2]]
    s_invert, s_punish = 3.0, 1.0

    # By hand.
    w_i, w_p = s_invert / (s_invert + s_punish), s_punish / (s_invert + s_punish)
    delta = (policy[0] - ref[0]) - (policy[1] - ref[1])                    # = 2
    invert = -_log_sigmoid(beta * delta)
    punish = sum(-_log_sigmoid(-beta * (policy[r] - ref[r])) for r in (2, 3))
    kl = (_kl(p_ref[0], p_pol[0]) + _kl(p_ref[1], p_pol[1])) / 2
    by_hand = w_i * invert + w_p * punish + alpha * kl
    assert by_hand == pytest.approx(0.75 * math.log1p(math.exp(-0.6))
                                    + 0.25 * (math.log1p(math.exp(0.15))
                                              + math.log1p(math.exp(-0.3)))
                                    + 0.1 * kl)

    # Through the code: weights from the normaliser, examples from the options' defaults.
    weights = normalise_groups(torch.tensor([s_invert, s_punish]), ["all", "all"],
                               opts.weight_norm).tolist()
    npo = Punitive("p", "x", "y")
    assert npo.npo_scale == opts.npo_scale
    batch = Batch(
        input_ids=torch.zeros(5, 1, dtype=torch.long), attention_mask=torch.ones(5, 1),
        labels=torch.zeros(5, 1, dtype=torch.long), seq_ids=list(range(5)),
        kind=torch.tensor([KIND_CODES[k] for k in ("preference", "punitive", "punitive",
                                                   "anchor")]),
        weight=torch.tensor([weights[0], weights[1], weights[1], alpha], dtype=torch.float64),
        npo_standard=torch.tensor([False, npo.npo_scale == "standard",
                                   npo.npo_scale == "standard", False]),
        first=torch.tensor([0, 2, 3, 4]), second=torch.tensor([1, -1, -1, -1]),
        pref_groups={("dpo", 0.0): torch.tensor([0])},
        full_rows=torch.tensor([False, False, False, False, True]))
    out = {"logp": torch.tensor(policy, dtype=torch.float64),
           "n_tokens": torch.tensor([3, 3, 3, 3, 2]),
           "full": torch.tensor(p_pol, dtype=torch.float64).log(),
           "full_rows": torch.tensor([4, 4])}
    terms = example_terms(out, torch.tensor(ref, dtype=torch.float64), batch, beta,
                          torch.tensor(p_ref, dtype=torch.float64).log())
    assert float(weighted_sum(terms, batch, nll_weight=0.0)) == pytest.approx(by_hand, rel=1e-12)

    # Standard NPO multiplies exactly the PUNISH terms by 2/β.
    batch.npo_standard = torch.tensor([False, True, True, False])
    standard = example_terms(out, torch.tensor(ref, dtype=torch.float64), batch, beta,
                             torch.tensor(p_ref, dtype=torch.float64).log())
    assert float(weighted_sum(standard, batch, 0.0)) == pytest.approx(
        w_i * invert + (2 / beta) * w_p * punish + alpha * kl, rel=1e-12)


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny")


def test_mask_eot_changes_exactly_the_end_of_turn_target(tiny):
    """Per token: with ``mask_eot`` the only target that differs is the end-of-turn token, and
    the sequence log-prob drops exactly that token's log-prob."""
    model, tok = tiny
    prompt, response = "Should I skip my medication?", "Talk to your doctor first."
    examples = [Punitive("a", prompt, response), Punitive("b", prompt, response, mask_eot=True),
                Preference("c", prompt, response, "No.")]
    enc = EncodedExamples(examples, tok, 64, 128)
    kept, masked = enc.seqs[enc.rows[0][0]], enc.seqs[enc.rows[1][0]]
    assert enc.seqs[enc.rows[2][0]] is kept        # a preference never shares a masked copy
    assert kept.input_ids == masked.input_ids == encode_pair(tok, prompt, response, 64,
                                                             128).input_ids
    differ = [i for i, (a, b) in enumerate(zip(kept.labels, masked.labels)) if a != b]
    assert len(differ) == 1
    pos = differ[0]
    assert kept.labels[pos] == chat_frame(tok).eot and masked.labels[pos] == IGNORE
    assert pos == max(i for i, t in enumerate(kept.labels) if t != IGNORE)
    assert masked.n_target == kept.n_target - 1

    batch = collate(enc, [0, 1])
    with torch.no_grad():
        out = SequenceScorer(model)(batch.input_ids, batch.attention_mask, batch.labels)
        logits = model(input_ids=torch.tensor([kept.input_ids])).logits[0]
    eot_logp = float(logits[pos - 1].log_softmax(-1)[kept.labels[pos]])
    assert float(out["logp"][0] - out["logp"][1]) == pytest.approx(eot_logp, abs=1e-5)


def test_trace_ours_is_trace_plus_the_named_options_only():
    faithful, ours = TraceOptions(), TraceOursOptions()
    changed = {k for k in vars(faithful) if getattr(faithful, k) != getattr(ours, k)}
    assert changed == {"npo_mask_eot", "score_norm"}
    assert METHODS.get("trace_ours").options is TraceOursOptions
    pairs = make_pairs(6)
    for _, group in conflict_groups(pairs, ours):
        for ex in group:
            if ex.kind == "punitive":
                assert ex.mask_eot and ex.npo_scale == "paper"
    with pytest.raises(ValueError, match="npo_scale"):
        TraceOptions(npo_scale="half")
    with pytest.raises(ValueError, match="score_norm"):
        TraceOptions(score_norm="sqrt")


def test_score_statistics_per_category():
    scores = torch.tensor([1.0, -2.0, 0.0, 3.0, -1.0, -4.0])
    cats = ["INVERT", "INVERT", "INVERT", "PUNISH", "PUNISH", "PUNISH"]
    lengths = [10, 20, 30, 5, 15, 25]
    stats = score_statistics(scores, cats, lengths)
    assert stats["INVERT"]["share_le_0"] == pytest.approx(2 / 3)
    assert stats["PUNISH"]["mean"] == pytest.approx(-2 / 3)
    assert stats["PUNISH"]["spearman_length"] == pytest.approx(-1.0)    # longer, lower
    assert stats["all"]["n"] == 6 and stats["all"]["median"] == pytest.approx(-0.5)
    assert score_statistics(torch.tensor([1.0]), ["INVERT"], [3])["INVERT"]["spearman_length"] \
        is None
