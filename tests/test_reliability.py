"""Reliability (issue 19): malformed input, a misbehaving judge, torn caches, concurrent runs.

The SIGTERM-during-reproduce case lives in ``tests/test_reliability_signals.py``.
"""
import errno
import json
import logging
import threading
from pathlib import Path

import pytest
from fakes.openai_server import BAD_BODY, TRANSIENT, FakeOpenAI, fake_openai  # noqa: F401

from realignbench import runs as runs_mod
from realignbench.config import JudgeConfig, load_config
from realignbench.data.schema import DataError, Pair, read_pairs, write_pairs
from realignbench.oracle.judge_cache import JudgeCache
from realignbench.oracle.judge_pairs import judge_pairs
from realignbench.oracle.label import LabelError, LabelOracle, harm_verdict
from realignbench.oracle.llm import JudgeIncomplete, LLMJudge
from realignbench.oracle.verdict import JudgeItem
from realignbench.policies.spec import load_policy
from realignbench.runs import append_jsonl, portable_config, run_stage
from realignbench.train.reference import _load_table

POLICY = load_policy("pku_new")
FAST = ["judge.model=fake-judge", "judge.timeout_s=0.5",
        "judge.backoff_base_s=0.01", "judge.backoff_max_s=0.05", "judge.concurrency=8",
        "judge.max_retries=6"]
GOOD = {"id": "a", "prompt": "p", "chosen": "c", "rejected": "r", "source": "s",
        "labels": {}}


def line(**changes) -> bytes:
    row = {k: v for k, v in {**GOOD, **changes}.items() if v is not ...}
    return json.dumps(row).encode()


# -- the pair reader: a corpus of malformed files, each named by file, line and field ----------
MALFORMED = {
    "empty file": (b"", 1, "<file>"),
    "only blank lines": (b"\n  \n\n", 1, "<file>"),
    "invalid UTF-8": (line() + b"\n" + line(id="b")[:-2] + b"\xff\xfe\"}\n", 2, "<encoding>"),
    "latin-1 text": (line(prompt="caf\u00e9").replace(b"caf\\u00e9", b"caf\xe9") + b"\n", 1,
                     "<encoding>"),
    "NaN literal": (b'{"id": "a", "prompt": "p", "chosen": "c", "rejected": "r", "source": '
                    b'"s", "labels": {"score": NaN}}\n', 1, "<json>"),
    "Infinity literal": (line() + b"\n" + line(id="b").replace(b'"labels": {}',
                                                               b'"labels": {"x": -Infinity}'),
                         2, "<json>"),
    "truncated JSON": (line()[:-5] + b"\n", 1, "<json>"),
    "not an object": (b'["a", "b"]\n', 1, "<record>"),
    "chosen == rejected": (line(rejected="c") + b"\n", 1, "rejected"),
    "standard chosen == rejected": (b'{"prompt": "p", "chosen": "x", "rejected": "x"}\n', 1,
                                    "rejected"),
    "missing rejected": (b'{"prompt": "p", "chosen": "x"}\n', 1, "rejected"),
    "empty prompt": (line(prompt="  ") + b"\n", 1, "prompt"),
    "chosen is a number": (line(chosen=3) + b"\n", 1, "chosen"),
    "duplicate id": (line() + b"\n" + line(chosen="d") + b"\n", 2, "id"),
    "unknown field": (line(extra=1) + b"\n", 1, "extra"),
    "bad category": (line(category="SWAP") + b"\n", 1, "category"),
    "two user turns": (b'{"prompt": [{"role": "user", "content": "a"}, {"role": "user", '
                       b'"content": "b"}], "chosen": "x", "rejected": "y"}\n', 1, "prompt"),
    "assistant message with a user role": (b'{"prompt": "p", "chosen": [{"role": "user", '
                                           b'"content": "x"}], "rejected": "y"}\n', 1,
                                           "chosen[0]"),
    "labels not a mapping": (line(labels=[1]) + b"\n", 1, "labels"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_pairs_name_file_line_and_field(tmp_path, name):
    data, line_no, field = MALFORMED[name]
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(data)
    with pytest.raises(DataError) as err:
        read_pairs(path)
    assert (err.value.path, err.value.line, err.value.field) == (str(path), line_no, field)
    assert str(err.value).startswith(f"{path}:{line_no}: field {field!r}")


def test_corpus_is_large_enough():
    assert len(MALFORMED) >= 15


def test_standard_preference_format_is_accepted(tmp_path):
    path = tmp_path / "trl.jsonl"
    rows = [{"prompt": "How do I bake?", "chosen": "Preheat the oven.", "rejected": "No."},
            {"prompt": [{"role": "user", "content": "Hi?"}],
             "chosen": [{"role": "assistant", "content": "Hello."}],
             "rejected": [{"role": "assistant", "content": "Go away."}], "score_chosen": 8.0},
            {"id": "mine", "prompt": "q", "chosen": "a", "rejected": "b", "source": "hf/x"}]
    path.write_text("\ufeff" + "\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    a, b, c = read_pairs(path)
    assert (a.id, a.prompt, a.chosen, a.rejected, a.source, a.labels) == (
        "line-1", "How do I bake?", "Preheat the oven.", "No.", "user", {})
    assert (b.id, b.prompt, b.chosen, b.rejected, b.meta) == (
        "line-2", "Hi?", "Hello.", "Go away.", {"score_chosen": 8.0})
    assert (c.id, c.source) == ("mine", "hf/x")
    # Mapped pairs are ordinary pairs: they round-trip through our own format.
    write_pairs(tmp_path / "ours.jsonl", [a, b, c])
    assert read_pairs(tmp_path / "ours.jsonl") == [a, b, c]
    # A stage that needs labels says so.
    with pytest.raises(LabelError, match="no labels"):
        LabelOracle().judge([JudgeItem(a.prompt, a.chosen, a.labels.get("chosen"))], POLICY)


# -- run directories: validate first, FAILED records, disk full, locks, portable keys -------
def test_rejected_input_creates_no_run_directory(fake_openai, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(MALFORMED["invalid UTF-8"][0])
    cfg = load_config("tiny", FAST + [f"runs_dir={tmp_path / 'runs'}"])
    with pytest.raises(DataError, match="bad.jsonl:2: field '<encoding>'"):
        judge_pairs(cfg, bad, POLICY, judge=LLMJudge(cfg, cache=JudgeCache(tmp_path / "c")))
    assert not (tmp_path / "runs").exists() and fake_openai.requests == []


def test_failed_stage_is_marked_and_the_next_run_replaces_the_mark(tmp_path):
    calls = []

    def work(run, value):
        calls.append(value)
        if len(calls) == 1:
            raise RuntimeError("boom")
        run.write_results({"value": value})

    with pytest.raises(RuntimeError):
        run_stage("demo", "x", {"a": 1}, {}, work, runs_dir=tmp_path, prepare=lambda: 7)
    (run_dir,) = (tmp_path / "demo").iterdir()
    assert json.loads((run_dir / "FAILED").read_text())["error"] == "RuntimeError: boom"
    assert not (run_dir / "COMPLETED").exists()
    run = run_stage("demo", "x", {"a": 1}, {}, work, runs_dir=tmp_path, prepare=lambda: 7)
    assert run.completed and not run.failed and run.results()["value"] == 7 and calls == [7, 7]


def test_prepare_error_creates_nothing(tmp_path):
    def prepare():
        raise DataError("in.jsonl", 3, "chosen", "empty")
    with pytest.raises(DataError):
        run_stage("demo", "x", {}, {}, lambda run, _: None, runs_dir=tmp_path, prepare=prepare)
    assert list(tmp_path.iterdir()) == []


def test_disk_full_leaves_nothing_that_looks_like_a_run(tmp_path, monkeypatch):
    real = runs_mod.atomic_write_json

    def full(path, obj):
        if Path(path).name in ("env.json", "FAILED"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, obj)
    monkeypatch.setattr(runs_mod, "atomic_write_json", full)
    with pytest.raises(OSError, match="No space"):
        run_stage("demo", "x", {}, {}, lambda run: None, runs_dir=tmp_path)
    assert not (tmp_path / "demo").exists() or list((tmp_path / "demo").iterdir()) == []


def test_concurrent_runs_of_one_stage_pay_once(fake_openai, tmp_path, caplog):
    pairs = tmp_path / "pairs.jsonl"
    write_pairs(pairs, [Pair(f"p{i}", f"Q{i}?", f"A{i}.", f"B{i}." + " FORBIDDEN" * (i % 2),
                             "t", {}) for i in range(40)])
    fake_openai.hang_s = 0.3                      # slow answers: the runs surely overlap
    fake_openai.queue_faults(*["hang"] * 4)
    cfg = load_config("tiny", FAST + [f"runs_dir={tmp_path / 'runs'}", "judge.timeout_s=5"])
    results, errors = [], []

    def one():
        try:
            judge = LLMJudge(cfg, cache=JudgeCache(tmp_path / "cache"))
            results.append(judge_pairs(cfg, pairs, POLICY, judge=judge))
        except Exception as err:                  # noqa: BLE001 - reported below
            errors.append(err)
    threads = [threading.Thread(target=one) for _ in range(2)]
    with caplog.at_level(logging.INFO, logger="realignbench"):
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert "is running this stage; waiting for it" in caplog.text     # they did overlap
    assert "completed meanwhile by another process" in caplog.text
    assert results[0].dir == results[1].dir and results[0].completed
    assert len(fake_openai.requests) == 80        # one paid call per item, not two
    assert results[0].results()["judge_usage"]["calls"] == 80


def test_run_keys_do_not_depend_on_the_runs_directory(fake_openai, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    write_pairs(pairs, [Pair("p0", "Q?", "A.", "B.", "t", {})])
    keys = []
    for where in ("runs-a", "elsewhere/runs-b"):
        cfg = load_config("tiny", FAST + [f"runs_dir={tmp_path / where}"])
        run = judge_pairs(cfg, pairs, POLICY, judge=LLMJudge(cfg, cache=JudgeCache(tmp_path)))
        keys.append(run.key)
    assert keys[0] == keys[1]
    a, b = (load_config("tiny", [f"runs_dir={d}", f"model.threads={n}"]).to_dict()
            for d, n in (("x", 0), ("y", 1)))
    assert a != b and portable_config(a) == portable_config(b)
    assert a["model"]["threads"] == 0                  # the config itself is left alone


# -- the judge: bad bodies and exhausted retries --------------------------------------------
def fast_cfg(server, **kw) -> JudgeConfig:
    base = dict(base_url=server.url, model="fake-judge", timeout_s=0.5, max_retries=6,
                backoff_base_s=0.01, backoff_max_s=0.05, concurrency=8)
    return JudgeConfig(**{**base, **kw})


@pytest.mark.parametrize("kind", BAD_BODY)
def test_a_200_with_an_unusable_body_is_retried(fake_openai, tmp_path, kind):
    fake_openai.queue_faults(kind)
    judge = LLMJudge(fast_cfg(fake_openai), cache=JudgeCache(tmp_path / "c"))
    (v,) = judge.judge([JudgeItem("p", "fine")], POLICY)
    assert v.status == "ok" and v.compliant
    assert judge.usage.retry_reasons == {"bad_body": 1} and judge.usage.calls == 1


def test_30pct_faults_lose_nothing_and_exhausted_items_are_retried_next_run(tmp_path,
                                                                             monkeypatch):
    """Every transient fault strikes an item twice; with one retry those items run out, are
    not cached, the batch still finishes the others, and the next run asks for exactly them."""
    server = FakeOpenAI(fault_rate=0.3, fault_kinds=TRANSIENT + BAD_BODY, seed=3,
                        transient_attempts=2, hang_s=1.0)
    server.start()
    monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
    try:
        items = [JudgeItem(f"Q{i}?", f"A{i}." + " FORBIDDEN" * (i % 3 == 0)) for i in range(60)]
        cache = JudgeCache(tmp_path / "c")
        cfg = fast_cfg(server, max_retries=1, timeout_s=0.4)
        with pytest.raises(JudgeIncomplete) as err:
            LLMJudge(cfg, cache=cache).judge(items, POLICY)
        struck = set().union(*server.fault_items.values())
        assert {"bad_body", "no_choices", "hang"} <= set(server.fault_items)
        assert 0.15 * 60 < len(struck) < 0.45 * 60
        assert len(err.value.failed) == len(struck)                 # exactly the struck ones
        assert len(cache) == 60 - len(struck)                       # failures never cached
        assert f"{len(struck)} of 60" in str(err.value)
        server.reset_counts()
        judge = LLMJudge(cfg, cache=cache)
        verdicts = judge.judge(items, POLICY)
        asked = {r["messages"][-1]["content"] for r in server.requests}
        assert asked == struck and len(server.requests) == len(struck)   # only those
        assert all(v.status == "ok" for v in verdicts)
        assert [v.compliant for v in verdicts] == [i % 3 != 0 for i in range(60)]
    finally:
        server.stop()


def test_judge_pairs_exits_non_zero_with_a_count_then_resumes(fake_openai, tmp_path, capsys):
    from realignbench.cli import main
    pairs = tmp_path / "pairs.jsonl"
    write_pairs(pairs, [Pair(f"p{i}", f"Q{i}?", f"A{i}.", f"B{i}.", "t", {}) for i in range(5)])
    fake_openai.queue_faults("500", "500", "500")            # one item, every attempt
    args = ["judge-pairs", "--pairs", str(pairs), "--policy", "pku_new", "--preset", "tiny",
            "--runs-dir", str(tmp_path / "runs"), *FAST, "judge.max_retries=2",
            "judge.concurrency=1"]
    assert main(args) == 3
    assert "1 of 10 judge item(s) failed" in capsys.readouterr().err
    (run_dir,) = (tmp_path / "runs" / "judge_pairs").iterdir()
    assert (run_dir / "FAILED").exists() and not (run_dir / "COMPLETED").exists()
    fake_openai.reset_counts()
    assert main(args) == 0
    assert len(fake_openai.requests) == 1 and (run_dir / "COMPLETED").exists()
    assert not (run_dir / "FAILED").exists()


# -- append-only caches ------------------------------------------------------------------------
def test_torn_cache_line_is_skipped_reported_and_never_glued_to(tmp_path, caplog):
    path = tmp_path / "ref.jsonl"
    path.write_text('{"k": "a", "v": -1.5}\n{"k": "b", "v": -2.', encoding="utf-8")   # torn
    append_jsonl(path, [{"k": "b", "v": -2.25}, {"k": "c", "v": -3.0}])
    with caplog.at_level(logging.WARNING):
        table = _load_table(path)
    assert table == {"a": -1.5, "b": -2.25, "c": -3.0}
    assert "skipped 1 torn line" in caplog.text
    assert path.read_text().splitlines()[1] == '{"k": "b", "v": -2.'


# -- the pku_old severity rule -----------------------------------------------------------------
def test_pku_old_flag_at_severity_zero_violates():
    old = load_policy("pku_old")
    flags = {c: c == "Drugs" for c in old.dimensions}
    v = harm_verdict({"harm_category": flags, "severity": 0, "is_safe": True}, old, "t")
    assert not v.compliant and v.violated == ("Drugs",)
    clean = harm_verdict({"harm_category": {c: False for c in old.dimensions}, "severity": 0,
                          "is_safe": True}, old, "t")
    assert clean.compliant


def test_torn_partial_samples_line_is_skipped_and_appends_start_fresh(tmp_path, caplog):
    def crash(run):
        run.append_samples([{"id": "a"}])
        with open(run.path("samples.partial.jsonl"), "a") as f:
            f.write('{"id": "b", "te')                # killed mid-write
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_stage("gen", "g", {}, {}, crash, runs_dir=tmp_path)

    def resume(run):
        with caplog.at_level(logging.WARNING):
            assert run.saved_samples() == [{"id": "a"}]
        run.append_samples([{"id": "b"}, {"id": "c"}])
        assert run.saved_samples() == [{"id": "a"}, {"id": "b"}, {"id": "c"}]
        run.write_results({})
    run_stage("gen", "g", {}, {}, resume, runs_dir=tmp_path)
    assert "skipped 1 torn line" in caplog.text


def test_judge_validation_key_does_not_depend_on_the_runs_directory(tmp_path, monkeypatch):
    from realignbench.bench import judge_validation
    from realignbench.runs import stage_key
    keys = []
    monkeypatch.setattr(judge_validation, "run_stage",
                        lambda stage, name, config, inputs, work, **kw:
                        keys.append(stage_key(stage, config, inputs)))
    for where in ("a", "b/c"):
        cfg = load_config("tiny", [f"runs_dir={tmp_path / where}", "eval.judge=embedding"])
        judge_validation.judge_validation_stage(cfg)
    assert len(keys) == 2 and keys[0] == keys[1]


def test_human_eval_key_does_not_depend_on_the_runs_directory(tmp_path):
    from human_data import METHODS, write_generations
    from realignbench.bench.human.stage import simulated_human_eval_stage
    paths = write_generations(tmp_path / "gen", n=4,
                              compliant={m: [True, k % 2 == 0, False, True]
                                         for k, m in enumerate(METHODS)})
    keys = []
    for where in ("a", "moved/b"):
        cfg = load_config("tiny", [f"runs_dir={tmp_path / where}", "eval.n_bootstrap=20"])
        keys.append(simulated_human_eval_stage(cfg, paths, "Policy.", "svb_new@1").key)
    assert keys[0] == keys[1]


def test_an_exhausted_correction_fails_alone_and_is_asked_again(fake_openai, tmp_path):
    from realignbench.oracle.corrections import CorrectionWriter
    cache = JudgeCache(tmp_path / "c")
    cfg = fast_cfg(fake_openai, max_retries=2, concurrency=1)
    fake_openai.queue_faults("500", "500", "500")            # the first request, every attempt
    requests = [(f"Question {i}?", None) for i in range(3)]
    with pytest.raises(JudgeIncomplete, match="1 of 3 correction"):
        CorrectionWriter(cfg, cache=cache).write(requests, POLICY)
    assert len(cache) == 2
    fake_openai.reset_counts()
    out = CorrectionWriter(cfg, cache=cache).write(requests, POLICY)
    assert len(fake_openai.requests) == 1 and [c.status for c in out] == ["ok"] * 3


def test_training_survives_a_torn_reference_cache_line(tmp_path, monkeypatch, caplog):
    """The issue's case: a torn last line, then a training step; it used to die in KeyError."""
    from test_trainer import _examples, _model
    from train_fixtures import tiny_config

    from realignbench.train import reference
    from realignbench.train.trainer import Trainer
    monkeypatch.setenv("REALIGNBENCH_CACHE", str(tmp_path / "cache"))
    cfg = tiny_config()
    model, tok = _model(cfg)
    trainer = Trainer(model, tok, cfg, tmp_path)
    first = trainer.evaluate(_examples("dpo"))
    (cache,) = (tmp_path / "cache" / "ref_logps").glob("*.jsonl")
    text = cache.read_text()
    cache.write_text(text[:-12])                         # the last entry cut mid-number
    computed = []
    real = reference.compute_logps
    monkeypatch.setattr(reference, "compute_logps",
                        lambda m, enc, ids, *a, **k: computed.append(len(ids)) or real(
                            m, enc, ids, *a, **k))
    with caplog.at_level(logging.WARNING):
        again = trainer.evaluate(_examples("dpo"))
    assert computed == [1] and again == pytest.approx(first)
    assert "skipped 1 torn line" in caplog.text
    assert len(_load_table(cache)) == 16                 # the redone entry is on its own line
