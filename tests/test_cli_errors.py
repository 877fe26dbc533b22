"""A user error is one line; ``-v`` adds the traceback (issue 18, item 8)."""
from __future__ import annotations

import pytest

from realignbench.cli import main

# A ConfigError (unknown key), a KeyError (unknown method) and a ValueError (a method option
# its dataclass rejects), each raised while the config is resolved, before any output exists.
CASES = [
    ("train.bogus=1", "unknown key(s) ['bogus']", "ConfigError"),
    ("methods.no_such_method={}", "unknown method 'no_such_method'", "KeyError"),
    ("methods.trace.variant=nope", "methods.trace.variant: 'nope'", "ValueError"),
]


@pytest.mark.parametrize("override, message, kind", CASES, ids=[c[2] for c in CASES])
def test_error_is_one_line_without_verbose(capsys, tmp_path, override, message, kind):
    code = main(["validate", "--preset", "tiny", "--runs-dir", str(tmp_path), override])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("realignbench validate: error: ")
    assert message in lines[0]
    assert not any(tmp_path.iterdir())          # nothing written before the error


@pytest.mark.parametrize("override, message, kind", CASES, ids=[c[2] for c in CASES])
def test_verbose_error_shows_the_traceback(capsys, tmp_path, override, message, kind):
    code = main(["-v", "validate", "--preset", "tiny", "--runs-dir", str(tmp_path), override])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback (most recent call last)" in err
    tb_last = err[:err.index("realignbench validate: error: ")].rstrip().splitlines()[-1]
    assert kind in tb_last and message in tb_last      # the exception line of the traceback
    assert err.rstrip().splitlines()[-1].startswith("realignbench validate: error: ")


def test_a_failed_judge_batch_exits_3_with_one_line(monkeypatch, capsys):
    """JudgeError from any command (e.g. triage with the LLM judge) is a clean exit 3."""
    from realignbench import cli
    from realignbench.oracle.chat_client import JudgeError

    def fail(args):
        raise JudgeError("2 of 10 judge item(s) failed")
    monkeypatch.setattr(cli, "_cmd_env", fail)
    assert cli.main(["env"]) == 3
    err = capsys.readouterr().err
    assert "realignbench env: error: 2 of 10 judge item(s) failed" in err and "Traceback" not in err
