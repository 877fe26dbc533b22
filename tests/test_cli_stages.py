"""`realignbench --help` names every stage: its folder under the runs directory and the command
that writes it, for every step kind of the pipeline and every ``run_stage`` call."""
from __future__ import annotations

import ast
import shlex
from pathlib import Path

from realignbench.cli import STAGES, build_parser

ROOT = Path(__file__).resolve().parent.parent / "realignbench"
FOLDERS = {folder for folder, _, _ in STAGES}


def stage_names_in_code() -> set[str]:
    """The literal stage names passed to ``run_stage(...)`` anywhere in the package."""
    names = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "run_stage"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                names.add(node.args[0].value)
    return names


def test_every_run_stage_folder_is_listed():
    assert stage_names_in_code() - FOLDERS == set()
    assert FOLDERS - stage_names_in_code() == set()        # and nothing listed is made up


def test_every_pipeline_step_kind_is_a_listed_stage():
    from realignbench.config import load_config
    from realignbench.pipeline.plan import build_plan
    kinds = {step.kind for step in build_plan(load_config("tiny"))}
    assert kinds and kinds - FOLDERS == set()


def test_every_listed_command_exists():
    parser = build_parser()
    for folder, command, _ in STAGES:
        words = [w for w in shlex.split(command) if not w.startswith(("<", "-")) and w != "M"]
        for alternative in words[-1].split("|"):
            node = parser
            for word in [*words[:-1], alternative]:
                sub = next(a for a in node._actions if a.__class__.__name__ == "_SubParsersAction")
                assert word in sub.choices, f"{folder}: no command {command!r}"
                node = sub.choices[word]


def test_top_level_help_names_each_stage_folder_and_command():
    text = build_parser().format_help()
    for folder, command, _ in STAGES:
        assert f"{folder}/" in text and f"realignbench {command}" in text
