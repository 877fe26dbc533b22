"""Prefix-shared packing (``train/prefix_pack.py``): a packed forward reads the same log-probs
as the plain padded one, from the trunk cache or not, and its layout is what it claims."""
import pytest
import torch

from realignbench.models.chat import Encoded, encode_pair
from realignbench.models.loading import load_model
from realignbench.train.adapters import prepare_model
from realignbench.train.prefix_pack import common_prefix, pack
from realignbench.train.scorer import SequenceScorer
from realignbench.train.trunk import TrunkCache

from train_fixtures import make_pairs, perturb_lora, tiny_config
from train_fixtures import isolated_one_thread  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("isolated_one_thread")


def _model(dtype="fp32"):
    cfg = tiny_config("train.lora_layers=2")
    model, tok = load_model("tiny", dtype=dtype)
    model = prepare_model(model, cfg.train, seed=0)
    if dtype == "fp64":
        model = model.double()
    perturb_lora(model, std=0.2)
    return model.eval(), tok


def _groups(tok):
    """Rows of the batch (in order) and the groups packed together: pairs of responses to one
    prompt, a lone sequence, and two responses that share their first words (the common
    prefix runs into the response, so a shared position carries targets of both)."""
    pairs = make_pairs(4)
    seqs = [encode_pair(tok, p.prompt, r, 64, 128) for p in pairs[:3] for r in (p.chosen,
                                                                                   p.rejected)]
    seqs.append(encode_pair(tok, pairs[3].prompt, pairs[3].chosen, 64, 128))
    seqs += [encode_pair(tok, pairs[3].prompt, r, 64, 128)
             for r in ("Here are three steps: rest.", "Here are three steps: walk, then call.")]
    return seqs, [[0, 1], [2, 3], [4, 5], [6], [7, 8]]


def _padded(seqs, pad_id):
    width = max(len(s.input_ids) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id)
    labels = torch.full((len(seqs), width), -100)
    mask = torch.zeros(len(seqs), width, dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, :len(s.input_ids)] = torch.tensor(s.input_ids)
        labels[r, :len(s.labels)] = torch.tensor(s.labels)
        mask[r, :len(s.input_ids)] = 1
    return ids, mask, labels


@pytest.mark.parametrize("dtype,tol", [("fp32", 1e-5), ("fp64", 1e-10)])
@pytest.mark.parametrize("trunk", [False, True])
def test_packed_log_probs_equal_the_padded_forward(dtype, tol, trunk):
    model, tok = _model(dtype)
    seqs, groups = _groups(tok)
    assert common_prefix([seqs[7].input_ids, seqs[8].input_ids]) > \
        next(i for i, t in enumerate(seqs[7].labels) if t != -100)       # shared targets exist
    cache = TrunkCache(model) if trunk else None
    scorer = SequenceScorer(model, cache)
    assert scorer.packable
    ids, mask, labels = _padded(seqs, tok.pad_token_id)
    full_rows = torch.tensor([r in (1, 6, 8) for r in range(len(seqs))])   # KL-anchor rows
    packed = pack(seqs, groups, tok.pad_token_id, scorer.hidden_dtype)
    with torch.no_grad():
        plain = scorer(ids, mask, labels, full_rows)
        got = scorer.forward_packed(packed, len(seqs), full_rows)
    if trunk:
        assert cache.report()["full_forwards"] == 0
    scale = float(plain["logp"].abs().max())
    torch.testing.assert_close(got["logp"], plain["logp"], rtol=0, atol=tol * scale)
    assert torch.equal(got["n_tokens"], plain["n_tokens"].to(got["n_tokens"].dtype))
    assert torch.equal(got["full_rows"], plain["full_rows"])
    torch.testing.assert_close(got["full"], plain["full"], rtol=0, atol=tol * 100)


def test_layout_shares_the_prefix_once_and_masks_other_sequences():
    seqs = [Encoded(input_ids=[1, 2, 3, 4], labels=[-100, -100, 3, 4]),
            Encoded(input_ids=[1, 2, 5], labels=[-100, -100, 5]),
            Encoded(input_ids=[7, 8], labels=[-100, 8])]
    packed = pack(seqs, [[0, 1], [2]], pad_id=0, dtype=torch.float32)
    assert packed.input_ids.tolist() == [[1, 2, 3, 4, 5], [7, 8, 0, 0, 0]]
    assert packed.position_ids[0].tolist() == [0, 1, 2, 3, 2]     # the rest continues the prefix
    allowed = (packed.mask[0, 0] == 0).int().tolist()
    assert allowed[4] == [1, 1, 0, 0, 1]             # token 5 sees the prefix and itself only
    assert allowed[3] == [1, 1, 1, 1, 0]
    # targets: 3 and 4 of sequence 0, 5 of sequence 1 (read off the prefix's last state), 8
    assert packed.target.tolist() == [3, 4, 5, 8]
    assert packed.owner.tolist() == [0, 0, 1, 2]
    assert packed.source.tolist() == [1, 2, 1, 5 + 0]
    assert (packed.mask[1, 0].diagonal() == 0).all()          # pads see themselves: no NaN
