"""Likelihood TPA on the old responses: planted log-probs with a known answer, the pair forms,
and the implicit-reward margin against a by-hand computation on tiny with a LoRA adapter."""
import pytest
import torch

from realignbench.bench.likelihood_tpa import (compliant_and_violating, likelihood_tpa, margins,
                                               old_compliant_and_violating)
from realignbench.data.schema import Pair
from realignbench.models.loading import load_model

from train_fixtures import make_pairs, perturb_lora


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REALIGNBENCH_CACHE", str(tmp_path / "cache"))


def test_primary_form_uses_the_two_old_responses_secondary_the_correction():
    inv, pun, ret = make_pairs(3)
    assert old_compliant_and_violating(inv) == (inv.rejected, inv.chosen)   # old rejected complies
    assert old_compliant_and_violating(ret) == (ret.chosen, ret.rejected)
    assert old_compliant_and_violating(pun) is None                         # nothing complies
    both = Pair(**{**ret.__dict__, "verdicts": {"chosen": ret.verdicts["chosen"],
                                                "rejected": ret.verdicts["chosen"]}})
    assert old_compliant_and_violating(both) is None
    assert compliant_and_violating(inv) == (inv.correction, inv.chosen)
    assert compliant_and_violating(pun) == (pun.correction, pun.chosen)


def test_planted_margins_have_the_known_signs():
    # Sequence 0: compliant, 5 tokens, log p = -10 (ref -12). Sequence 1: violating, 2 tokens,
    # log p = -8 (ref -6). Summed log-probs would prefer the shorter violating text (-8 > -10);
    # per token the compliant one wins (-2 > -4); the implicit reward margin is
    # (-10 + 12) - (-8 + 6) = +4.
    logp = torch.tensor([-10.0, -8.0], dtype=torch.float64)
    ref = torch.tensor([-12.0, -6.0], dtype=torch.float64)
    n_tok = torch.tensor([5.0, 2.0], dtype=torch.float64)
    m = margins(logp, n_tok, [(0, 1)], ref)
    assert m["per_token"].tolist() == pytest.approx([2.0])
    assert m["implicit"].tolist() == pytest.approx([4.0])
    swapped = margins(logp, n_tok, [(1, 0)], ref)
    assert swapped["implicit"].tolist() == pytest.approx([-4.0])
    assert "implicit" not in margins(logp, n_tok, [(0, 1)])


def _logp(model, tok, prompt, text, adapters=True):
    from realignbench.models.chat import encode_pair
    from realignbench.train.scorer import SequenceScorer
    e = encode_pair(tok, prompt, text, 64, 128)
    ids = torch.tensor([e.input_ids])
    with torch.no_grad():
        if adapters:
            r = SequenceScorer(model)(ids, torch.ones_like(ids), torch.tensor([e.labels]))
        else:
            with model.disable_adapter():
                r = SequenceScorer(model)(ids, torch.ones_like(ids), torch.tensor([e.labels]))
    return float(r["logp"][0]), e.n_target


def test_implicit_margin_on_old_responses_matches_a_hand_computation():
    from peft import LoraConfig, get_peft_model
    pairs = make_pairs(9)
    base, tok = load_model("tiny")
    model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    model.eval()
    # LoRA B = 0: the model *is* its reference, so every implicit margin is exactly 0 and no
    # pair counts as moved towards pi_new (a tie is no preference).
    zero = likelihood_tpa(model, tok, pairs, 64, 128, n_boot=20)
    assert zero["likelihood_tpa/implicit"]["value"] == 0.0
    assert zero["likelihood_tpa/implicit_margin"]["value"] == pytest.approx(0.0, abs=1e-6)
    assert zero["skipped_pairs"] == {"old responses": 3, "correction": 0}     # the 3 PUNISH
    assert zero["likelihood_tpa/implicit/INVERT"]["n"] == 3
    assert zero["likelihood_tpa/implicit/RETAIN"]["n"] == 3
    assert "likelihood_tpa/implicit/PUNISH" not in zero
    assert zero["likelihood_tpa/correction/per_token"]["n"] == 9

    perturb_lora(model, std=0.2)
    inv = pairs[0]
    out = likelihood_tpa(model, tok, [inv], 64, 128, n_boot=10)
    (c, nc), (v, nv) = (_logp(model, tok, inv.prompt, t) for t in (inv.rejected, inv.chosen))
    (c0, _), (v0, _) = (_logp(model, tok, inv.prompt, t, adapters=False)
                        for t in (inv.rejected, inv.chosen))
    assert c != pytest.approx(c0)                          # the adapter moved something
    want = (c - c0) - (v - v0)
    assert out["likelihood_tpa/implicit_margin"]["value"] == pytest.approx(want, abs=1e-4)
    assert out["likelihood_tpa/implicit"]["value"] == float(want > 0)
    assert out["likelihood_tpa/per_token_margin"]["value"] == pytest.approx(c / nc - v / nv,
                                                                            abs=1e-5)
