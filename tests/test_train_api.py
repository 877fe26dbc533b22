"""train_method / load_trained / likelihood TPA / the `train` CLI, end to end on tiny."""
import json

import pytest
import torch

from realignbench.data.schema import Pair
from realignbench.models.loading import load_model
from realignbench.train.api import load_trained, train_method
from realignbench.bench.likelihood_tpa import compliant_and_violating, likelihood_tpa
from realignbench.train.pairs import TriageMissing

from train_fixtures import make_pairs, tiny_config, write_fixture
from train_fixtures import isolated_one_thread  # noqa: F401 (a fixture)


pytestmark = pytest.mark.usefixtures("isolated_one_thread")


def _logps(model, tok, pairs):
    return likelihood_tpa(model, tok, pairs, 64, 128, implicit=False, n_boot=10)[
        "likelihood_tpa/per_token_margin"]["value"]


def test_m_ref_then_trace_runs_save_what_later_stages_load(tmp_path):
    path = write_fixture(tmp_path / "pairs.jsonl", 18)
    cfg = tiny_config("methods.old_alignment.sft_max_steps=2",
                      "methods.old_alignment.dpo_max_steps=2", "train.max_steps=2",
                      "methods.trace.gold_batch_size=6")
    m_ref = train_method(cfg, "old_alignment", path, "tiny", runs_dir=tmp_path / "runs")
    assert (m_ref.dir / "model" / "config.json").exists()
    res = m_ref.results()
    assert [p["phase"] for p in res["training"]["phases"]] == ["sft", "dpo"]
    assert res["training"]["examples"] == {"sft": 36, "dpo": 18}
    assert res["provenance"]["nll_weight"] == cfg.train.nll_weight
    log = [json.loads(x) for x in (m_ref.dir / "train_log.jsonl").open()]
    assert {r["phase"] for r in log} == {"sft", "dpo"} and "sft/loss" in log[0]
    env = json.loads((m_ref.dir / "env.json").read_text())
    assert env["chat_template_hash"] and env["seed"] == 0

    trace = train_method(cfg, "trace", path, m_ref, runs_dir=tmp_path / "runs")
    assert (trace.dir / "adapter" / "adapter_config.json").exists()
    assert (trace.dir / "weighted_dataset.jsonl").exists()
    assert json.loads((trace.dir / "base.json").read_text())["spec"] == str(m_ref.dir / "model")
    weights = trace.results()["training"]["weights"]
    assert sum(weights["kept"].values()) + sum(weights["dropped"].values()) == 12
    # The same call is skipped: the completed run is reused.
    again = train_method(cfg, "trace", path, m_ref, runs_dir=tmp_path / "runs")
    assert again.dir == trace.dir
    # Loading the run gives a model that differs from M_ref, and M_ref loads as saved.
    pairs = make_pairs(18)
    trained, tok = load_trained(trace)
    base, _ = load_trained(m_ref)
    assert _logps(trained, tok, pairs) != _logps(base, tok, pairs)
    merged, _ = load_trained(trace, merge=True)
    assert _logps(merged, tok, pairs) == pytest.approx(_logps(trained, tok, pairs), abs=1e-4)


def test_likelihood_tpa_compares_per_token_logprob_of_the_old_responses():
    pairs = make_pairs(9)
    inv = pairs[0]
    both = Pair(**{**pairs[2].__dict__, "verdicts": {"chosen": pairs[2].verdicts["chosen"],
                                                     "rejected": pairs[2].verdicts["chosen"]}})
    model, tok = load_model("tiny")
    out = likelihood_tpa(model, tok, pairs + [both], 64, 128, n_boot=50)
    # Primary form: INVERT and RETAIN pairs with one compliant old response; PUNISH and the
    # both-compliant pair are skipped. The secondary (correction) form skips only the latter.
    assert out["skipped_pairs"] == {"old responses": 4, "correction": 1}
    assert out["likelihood_tpa/per_token"]["n"] == 6
    assert out["likelihood_tpa/per_token/INVERT"]["n"] == 3
    assert out["likelihood_tpa/correction/per_token"]["n"] == 9
    assert "likelihood_tpa/implicit" not in out           # no adapters: no reference
    # By hand for one INVERT pair: mean log-prob per response token, old rejected vs chosen.
    from realignbench.models.chat import encode_pair
    from realignbench.train.scorer import SequenceScorer
    one = likelihood_tpa(model, tok, [inv], 64, 128, n_boot=10)
    lp = []
    for text in (inv.rejected, inv.chosen):
        e = encode_pair(tok, inv.prompt, text, 64, 128)
        with torch.no_grad():
            r = SequenceScorer(model)(torch.tensor([e.input_ids]), torch.ones(1, len(e.input_ids),
                                      dtype=torch.long), torch.tensor([e.labels]))
        lp.append(float(r["logp"][0]) / e.n_target)
    assert one["likelihood_tpa/per_token_margin"]["value"] == pytest.approx(lp[0] - lp[1],
                                                                            abs=1e-5)
    assert one["likelihood_tpa/per_token"]["value"] == float(lp[0] > lp[1])


def test_untriaged_pairs_give_a_named_error(tmp_path):
    p = make_pairs(3)[0]
    bare = Pair(p.id, p.prompt, p.chosen, p.rejected, p.source, p.labels)
    with pytest.raises(TriageMissing, match=r"p000.*verdicts.chosen.compliant"):
        compliant_and_violating(bare)


def test_cli_lists_methods_and_trains(tmp_path, capsys):
    from realignbench.cli import main
    path = write_fixture(tmp_path / "pairs.jsonl", 12)
    assert main(["ls", "methods"]) == 0
    listed = capsys.readouterr().out
    for m in ("old_alignment", "trace", "trace_no_triage", "trace_no_impact", "trace_no_kl",
              "trace_oracle_punish"):
        assert f"  {m} " in listed
    code = main(["train", "--preset", "tiny", "--method", "dpo", "--train", str(path),
                 "--ref", "tiny", "--runs-dir", str(tmp_path / "runs"), "train.max_steps=1"])
    assert code == 0
    assert "train dpo:" in capsys.readouterr().out
