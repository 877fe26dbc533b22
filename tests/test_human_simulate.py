import json

import numpy as np
import pytest

from human_data import METHODS, write_generations
from realignbench.bench.human.export import build_study, load_method_generations
from realignbench.bench.human.simulate import PanelSpec, judge_pick, simulate_panel
from realignbench.bench.human.stage import simulated_human_eval_stage
from realignbench.bench.human.study import StudyError
from realignbench.cli import main
from realignbench.config import load_config

# Per prompt: dpo_gold always compliant; trace compliant on 0,1,2; u2a only on 3 (all compliant).
N = 8
VERDICTS = {"dpo_gold": [True] * N, "trace": [True, True, True] + [False] * 5,
            "u2a": [False, False, False, True] + [False] * 4}


def _study(tmp_path, n=N, verdicts=VERDICTS):
    gens = load_method_generations(write_generations(tmp_path, n=n, compliant=verdicts))
    comp = {m: {pid: g.compliant for pid, g in rows.items()} for m, rows in gens.items()}
    study, keys = build_study(gens, "Policy.", baseline="u2a", seed=0)
    return study, keys, comp


def test_judge_rule():
    rng = np.random.default_rng(0)
    assert {judge_pick([False, True, False], 1.0, rng) for _ in range(50)} == {1}
    assert {judge_pick([False, True, False], 0.0, rng) for _ in range(50)} == {0, 2}
    assert {judge_pick([True, True, False], 1.0, rng) for _ in range(80)} == {0, 1}
    ties = [judge_pick([True, True, True], 0.9, rng) for _ in range(3000)]
    assert np.bincount(ties).min() > 900                       # uniform when no preference
    assert np.bincount([judge_pick([False] * 3, 0.9, rng) for _ in range(3000)]).min() > 900
    rates = np.mean([judge_pick([True, False], 0.8, rng) == 0 for _ in range(4000)])
    assert abs(rates - 0.8) < 0.03


def test_panel_is_reproducible_and_follows_the_oracle(tmp_path):
    study, keys, comp = _study(tmp_path)
    spec = PanelSpec(n_judges=4, accuracy=1.0, seed=3)
    rows = simulate_panel(study, keys, comp, spec)
    assert rows == simulate_panel(study, keys, comp, spec)
    assert len(rows) == 4 * N and all(r["simulated"] for r in rows)
    idx = {it.item_id: it for it in study.items}
    for r in rows:
        method = keys.method_of(r["item_id"], idx[r["item_id"]].responses[r["choice"] - 1].key)
        assert comp[method][r["item_id"]]            # accuracy 1: always a compliant response
    more = simulate_panel(study, keys, comp, PanelSpec(n_judges=5, accuracy=1.0, seed=3))
    assert [r["choice"] for r in more if r["annotator_id"] == "sim-judge-1"] == \
           [r["choice"] for r in rows if r["annotator_id"] == "sim-judge-1"]


def test_missing_verdict_is_an_error(tmp_path):
    study, keys, comp = _study(tmp_path)
    del comp["trace"]["p02"]
    with pytest.raises(StudyError, match="no oracle verdict for method 'trace' on item 'p02'"):
        simulate_panel(study, keys, comp, PanelSpec())


def test_simulated_stage_writes_a_labelled_record(tmp_path):
    paths = write_generations(tmp_path / "gen", n=N, compliant=VERDICTS)
    cfg = load_config("tiny", ["eval.human_sim_judges=3", "eval.human_sim_accuracy=1.0",
                               "eval.n_bootstrap=200"])
    run = simulated_human_eval_stage(cfg, paths, "Policy.", "svb_new@1", runs_dir=tmp_path / "r")
    res = run.results()
    assert res["stage"] == "human_eval" and res["provenance"]["simulated"] is True
    assert res["caption"].startswith("SIMULATED") and "simulated" in res["provenance"]["judge"]
    assert res["subject"]["methods"] == METHODS and res["subject"]["baseline"] == "u2a"
    # accuracy 1: prompts 0-2 (dpo_gold, trace compliant) never pick u2a; prompts 4-7
    # (only dpo_gold compliant) pick dpo_gold; prompt 3 (all compliant) is a uniform tie.
    samples = [json.loads(line) for line in run.path("samples.jsonl").read_text().splitlines()]
    assert len(samples) == 3 * N and all(s["simulated"] for s in samples)
    assert all(s["method"] == "dpo_gold" for s in samples if s["item_id"] >= "p04")
    u2a_picks = sum(s["method"] == "u2a" for s in samples)
    assert u2a_picks == sum(s["method"] == "u2a" for s in samples if s["item_id"] == "p03")
    win = res["metrics"]["win/dpo_gold_vs_u2a"]
    assert win["value"] == pytest.approx(1 - u2a_picks / (u2a_picks + sum(
        s["method"] == "dpo_gold" for s in samples)))
    assert res["annotators"]["n_annotators"] == 3 and res["annotators"]["items_with_2plus"] == N
    assert (run.dir / "keys.json").exists() and (run.dir / "annotations.simulated.json").exists()
    again = simulated_human_eval_stage(cfg, paths, "Policy.", "svb_new@1", runs_dir=tmp_path / "r")
    assert again.dir == run.dir                                # completed run is reused


def test_cli_export_simulate_and_ingest(tmp_path, capsys):
    paths = write_generations(tmp_path / "gen", n=N, compliant=VERDICTS)
    (tmp_path / "policy.txt").write_text("Follow the new policy.")
    gen_args = [a for m, p in paths.items() for a in ("--gen", f"{m}={p}")]
    common = ["--preset", "tiny", "--runs-dir", str(tmp_path / "runs"), "eval.n_bootstrap=50"]
    assert main(["human", "simulate", *gen_args, "--policy-file", str(tmp_path / "policy.txt"),
                 *common]) == 0
    assert "SIMULATED" in capsys.readouterr().out
    assert main(["human", "export", *gen_args, "--out", str(tmp_path / "study"), "--seed", "5",
                 "--policy-file", str(tmp_path / "policy.txt"), *common]) == 0
    triplets = json.loads((tmp_path / "study" / "triplets.json").read_text())
    ann = [{"item_id": it["item_id"], "annotator_id": "ann", "choice": 1}
           for it in triplets["items"]]
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    assert main(["human", "ingest", "--triplets", str(tmp_path / "study" / "triplets.json"),
                 "--keys", str(tmp_path / "study" / "keys.json"),
                 "--annotations", str(tmp_path / "ann.json"), "--train-seed", "2", *common]) == 0
    out = capsys.readouterr().out
    assert "1 human annotator." in out and "win/trace_vs_u2a" in out
    (human_run,) = (tmp_path / "runs" / "human_eval").glob("tiny-human-*")
    res = json.loads((human_run / "results.json").read_text())
    assert res["provenance"]["simulated"] is False and "SIMULATED" not in res["caption"]
    assert res["provenance"]["judge"] == "human-panel(n=1)" and res["provenance"]["shuffle_seed"] == 5
    assert res["subject"]["seed"] == 2          # the compared models' training seed
    (tmp_path / "bad.json").write_text(json.dumps([{**ann[0], "choice": 9}]))
    assert main(["human", "ingest", "--triplets", str(tmp_path / "study" / "triplets.json"),
                 "--keys", str(tmp_path / "study" / "keys.json"),
                 "--annotations", str(tmp_path / "bad.json"), *common]) == 2
    assert "bad.json: row 1: choice 9 out of range 1..3" in capsys.readouterr().err
