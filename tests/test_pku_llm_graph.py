"""PKU-SafeRLHF end to end with the LLM judge (the paper's setting), offline on tiny.

The fixture's 35 rows, the fake OpenAI-compatible server as GPT-4o (non-compliant iff the
judged text contains "FORBIDDEN", which no fixture response does), LLM triage, LLM judge
validation against the label oracle, and TPA and ASR of the base model judged by the LLM.
"""
import json
from pathlib import Path

from fakes.openai_server import fake_openai  # noqa: F401

from realignbench.cli import main
from realignbench.config import load_config
from realignbench.pipeline.graph import execute
from realignbench.pipeline.plan import build_plan

FIXTURE = Path(__file__).parent / "fixtures" / "pku_saferlhf_sample.jsonl"
PKU_LLM = ["data.benchmark=pku_saferlhf", f"data.pku_path={FIXTURE}", "data.n_test=10",
           "data.n_train_pool=20", "data.train_sizes=[10,20]", "data.noise_levels=[0.0]",
           "data.triage_oracle=llm", "eval.judge=llm", "judge.model=fake-judge",
           "judge.timeout_s=5", "eval.asr_n_prompts=2", "eval.tpa_likelihood=false"]


def _results(runs: Path, stage: str, name: str = "") -> dict:
    (done,) = [p for p in (runs / stage).iterdir()
               if p.name.startswith(name) and (p / "COMPLETED").exists()]
    return json.loads((done / "results.json").read_text())


def test_pku_graph_with_llm_judge_validates_the_judge_and_judges_tpa_and_asr(
        fake_openai, tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    args = ["reproduce", "--preset", "tiny", "--tables", "1", "--jobs", "1",
            "--runs-dir", str(runs), "--out", str(out), *PKU_LLM]
    assert main(args) == 0
    table = json.loads((out / "tables" / "table-1.json").read_text())
    assert table["cells"] and all(c["value"] is not None for c in table["cells"])

    val = _results(runs, "judge_validation")
    samples = [json.loads(line) for line in
               next((runs / "judge_validation").glob("*/samples.jsonl")).read_text().splitlines()]
    # The fake judge calls every fixture response compliant: agreement is the share the
    # labels call compliant under π_new, recomputed here from the samples.
    assert all(s["judge_compliant"] for s in samples)
    share = sum(s["label_compliant"] for s in samples) / len(samples)
    assert val["metrics"]["agreement"]["value"] == share
    assert val["metrics"]["agreement"]["n"] == len(samples) == 2 * 10
    assert 0 < share < 1                         # the fixture has violating responses
    assert val["judge"]["id"] == "llm:fake-judge@v1"
    # Triage judged the same responses under π_new with the same judge: all cache hits.
    distinct = {(s["prompt"], s["response"]) for s in samples}
    assert val["judge_usage"]["calls"] == 0
    assert val["judge_usage"]["cache_hits"] == len(distinct)

    # TPA and ASR of the base model, judged by the LLM judge through the same graph steps.
    requests = len(fake_openai.requests)
    cfg = load_config("tiny", overrides=[*PKU_LLM, f"runs_dir={runs}"])
    wanted = {"data", "judge_validation", "base", "eval_tpa/base", "eval_asr/base"}
    execute([s for s in build_plan(cfg) if s.name in wanted], echo=lambda line: None)
    tpa, asr = _results(runs, "eval_tpa", "base-"), _results(runs, "eval_asr", "base-")
    assert tpa["provenance"]["judge"] == asr["provenance"]["judge"] == "llm:fake-judge@v1"
    assert tpa["metrics"]["tpa"]["value"] == 1.0            # nothing FORBIDDEN generated
    assert "tpa_old" not in tpa["metrics"]                  # no paid π_old pass
    assert asr["metrics"]["asr"]["value"] == 0.0
    assert len(fake_openai.requests) > requests             # generated text was judged


def test_pku_asr_attacks_the_categories_both_policies_tolerate_no_harm_in():
    from realignbench.bench.asr import forbidden_dimensions
    from realignbench.policies.spec import load_policy
    old, new = load_policy("pku_old"), load_policy("pku_new")
    zero_new = {c for t in new.rules["tiers"].values() if t["max_severity"] == 0
                for c in t["categories"]}
    assert set(old.rules["tiers"]) == {"all"} and old.rules["tiers"]["all"]["max_severity"] == 0
    assert forbidden_dimensions(old, new) == [c for c in new.dimensions if c in zero_new]
    assert set(forbidden_dimensions(old, new)) == {
        "Human Trafficking", "Physical Harm", "Sexual Content",
        "Endangering National Security", "Violence"}
