"""Judging 200 pairs through a misbehaving OpenAI-compatible server, and the key's absence."""
import hashlib
import json
import logging
from pathlib import Path

import pytest
from fakes.openai_server import fake_openai  # noqa: F401

from realignbench.cli import main
from realignbench.config import load_config
from realignbench.data.schema import Pair, read_pairs, write_pairs
from realignbench.oracle.judge_cache import JudgeCache
from realignbench.oracle.judge_pairs import judge_pairs
from realignbench.oracle.llm import LLMJudge
from realignbench.policies.spec import load_policy

POLICY = load_policy("pku_new")
FAST = ["judge.model=fake-judge", "judge.timeout_s=0.5",
        "judge.backoff_base_s=0.01", "judge.backoff_max_s=0.05", "judge.concurrency=8",
        "judge.max_retries=6"]


CATS = ["Endangering National Security", "Insulting Behavior", "Discriminatory Behavior",
        "Endangering Public Health", "Copyright Issues", "Violence", "Drugs", "Privacy Violation",
        "Economic Crime", "Mental Manipulation", "Human Trafficking", "Physical Harm",
        "Sexual Content", "Cybercrime", "Disrupting Public Order", "Environmental Damage",
        "Psychological Harm", "White-Collar Crime", "Animal Abuse"]


def pku_rows(path: Path, n: int) -> Path:
    """``n`` invented rows in PKU-SafeRLHF's schema; "FORBIDDEN" marks what the fake judge
    calls non-compliant, so every category occurs."""
    rows = []
    for i in range(n):
        r0 = f"Safe answer {i}: talk to a professional." + (" FORBIDDEN" if i % 3 == 0 else "")
        r1 = f"[describes risky step {i}]" + (" FORBIDDEN" if i % 2 == 0 else "")
        row = {"prompt": f"Question {i}: how would one do thing {i}?", "prompt_source": "test",
               "response_0": r0, "response_1": r1, "better_response_id": 0,
               "safer_response_id": 0}
        for j, (text, safe) in enumerate(((r0, True), (r1, False))):
            row.update({f"response_{j}_source": "Alpaca-7B",
                        f"response_{j}_sha256": hashlib.sha256(text.encode()).hexdigest(),
                        f"is_response_{j}_safe": safe, f"response_{j}_severity_level": 0 if safe
                        else 2, f"response_{j}_harm_category": {c: (not safe and c == "Drugs")
                                                                for c in CATS}})
        rows.append(json.dumps(row))
    path.write_text("\n".join(rows) + "\n")
    return path


def make_pairs(path: Path, n: int) -> None:
    write_pairs(path, [Pair(id=f"p{i}", prompt=f"Question {i}?", chosen=f"Answer {i}.",
                            rejected=f"Other {i}." + (" FORBIDDEN" if i % 2 else ""),
                            source="pku_saferlhf/test", labels={"chosen": {}, "rejected": {}})
                       for i in range(n)])


def triage_args(rows: Path, runs: Path, *extra: str) -> list[str]:
    return ["triage", "--benchmark", "pku", "--path", str(rows), "--preset", "tiny",
            "--runs-dir", str(runs), "data.triage_oracle=llm", "data.n_test=40",
            "data.n_train_pool=160", "data.train_sizes=[80,160]", "data.noise_levels=[0.0,0.1]",
            *FAST, *extra]


def triage_run_dir(runs: Path) -> Path:
    (run,) = [p for p in (runs / "triage").iterdir() if (p / "COMPLETED").exists()]
    return run


def test_triage_200_pairs_with_20pct_faults_loses_nothing_and_rerun_makes_no_calls(
        fake_openai, tmp_path):
    fake_openai.fault_rate, fake_openai.hang_s = 0.2, 2.5      # hangs outlast timeout_s=1.5
    rows = pku_rows(tmp_path / "pku.jsonl", 200)
    # bad_json / missing_field repeat on every attempt (a judge that keeps answering wrongly):
    # with on_unusable=record their last answers are kept as unparseable verdicts.
    assert main(triage_args(rows, tmp_path / "runs", "judge.timeout_s=1.5",
                            "judge.on_unusable=record")) == 0
    run = triage_run_dir(tmp_path / "runs")
    results = json.loads((run / "results.json").read_text())

    judged = read_pairs(run / "train.pool.jsonl") + read_pairs(run / "test.jsonl")
    assert len(judged) == 200 and len({p.id for p in judged}) == 200      # none lost
    n_unparseable = 0
    for pair in judged:
        assert pair.category in ("INVERT", "PUNISH", "RETAIN")
        for side in ("chosen", "rejected"):
            v = pair.verdicts[side]
            assert v["status"] in ("ok", "unparseable")
            if v["status"] == "ok":
                assert v["compliant"] == ("FORBIDDEN" not in getattr(pair, side))
            else:
                assert v["compliant"] is False
                n_unparseable += 1
    faults, struck = fake_openai.faults, fake_openai.fault_items
    assert sum(faults.values()) >= 50 and faults["hang"] > 0         # ~20% of 400 items
    usage = results["judge_usage"]
    assert json.loads((run / "judge_usage.json").read_text()) == usage
    persistent = struck.get("bad_json", set()) | struck.get("missing_field", set())
    assert n_unparseable == len(persistent) == usage["unparseable"] > 0
    reasons = usage["retry_reasons"]
    assert (reasons["429"], reasons["5xx"]) == (faults["429"], faults["500"])
    assert reasons["timeout"] >= faults["hang"]      # a slow machine may add a genuine one
    assert usage["retries"] == sum(reasons.values()) > 0
    assert usage["requests"] == len(fake_openai.requests) == 400 + usage["retries"]
    # Unparseable answers are asked for again (missing_field repeats on every attempt).
    assert usage["calls"] == 400 + reasons.get("unparseable", 0)
    assert usage["prompt_tokens"] > 400 * 500
    assert results["oracle"] == "llm:fake-judge@v1"

    # The same triage in a fresh runs directory: every verdict comes from the cache.
    fake_openai.reset_counts()
    assert main(triage_args(rows, tmp_path / "runs2", "judge.on_unusable=record")) == 0
    again = triage_run_dir(tmp_path / "runs2")
    assert fake_openai.requests == []
    usage2 = json.loads((again / "results.json").read_text())["judge_usage"]
    assert (usage2["calls"], usage2["requests"], usage2["cache_hits"]) == (0, 0, 400)
    assert usage2["verdicts"] == usage["verdicts"] == {"ok": 400 - n_unparseable,
                                                       "unparseable": n_unparseable}
    assert read_pairs(again / "test.jsonl") == read_pairs(run / "test.jsonl")


def test_api_key_is_written_nowhere(fake_openai, tmp_path, capsys):
    key = fake_openai.api_key
    log_file = tmp_path / "all.log"
    handler = logging.FileHandler(log_file)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)           # openai/httpx debug logs included
    try:
        make_pairs(tmp_path / "pairs.jsonl", 6)
        fake_openai.queue_faults("echo_auth", "429", "500", "bad_json")   # key echoed in a 400
        rc = main(["judge-pairs", "--pairs", str(tmp_path / "pairs.jsonl"), "--policy", "pku_new",
                   "--preset", "tiny", "--runs-dir", str(tmp_path / "runs"), *FAST])
        assert rc == 0
        fake_openai.queue_faults("echo_auth")
        rows = pku_rows(tmp_path / "pku.jsonl", 60)
        assert main(triage_args(rows, tmp_path / "runs", "data.n_test=20",
                                "data.train_sizes=[40]", "data.n_train_pool=40")) == 0
        # A failing run too: its error message must not carry the key either.
        fake_openai.queue_faults(*["500"] * 3)
        with pytest.raises(Exception) as err:
            cfg = load_config("tiny", FAST + ["judge.max_retries=2", "judge.model=other",
                                     "judge.concurrency=1"])
            judge = LLMJudge(cfg, cache=JudgeCache(tmp_path / "cache"))
            judge_pairs(cfg, tmp_path / "pairs.jsonl", POLICY, judge=judge,
                        runs_dir=tmp_path / "runs")
        assert key not in str(err.value)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    out = capsys.readouterr()
    assert key not in out.out and key not in out.err
    files = [p for p in tmp_path.rglob("*") if p.is_file()]       # runs, cache, logs, inputs
    assert any(p.name == "train.pool.jsonl" for p in files)
    assert any(p.name == "judge.log" for p in files) and log_file.stat().st_size > 0
    assert any("shard-" in p.name for p in files)
    for path in files:
        assert key.encode() not in path.read_bytes(), f"API key found in {path}"
    # The key was really used and really echoed: the scrubbed rationale proves it.
    assert b"[REDACTED]" in b"".join(p.read_bytes() for p in files if p.suffix == ".jsonl")
