"""``realignbench results``: the committed results directory re-renders from its JSON."""
import json
from pathlib import Path

import pytest

from synthruns import populate
from realignbench.cli import main
from realignbench.config import load_config
from realignbench.reports.build import build_table
from realignbench.reports.claims import evaluate_claims, write_claims
from realignbench.reports.leaderboard import build_leaderboard, write_leaderboard
from realignbench.reports.records import load_records
from realignbench.reports.render import write_table
from realignbench.reports.results_dir import ResultsError, copy_results, rerender, run_commits
from realignbench.reports.spec import load_spec, table_numbers
from realignbench.runs import atomic_write_json

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    """A full report directory as ``reproduce`` writes it, from synthetic run records."""
    runs, out = tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("out")
    cfg = load_config("tiny", ["seeds=[0,1]"]).to_dict()
    populate(runs, cfg)
    records = load_records(runs)
    for n in table_numbers():
        write_table(build_table(load_spec(n, cfg), records, cfg, strict=False), out)
    write_leaderboard(build_leaderboard(records, cfg), out)
    write_claims(evaluate_claims(records, cfg, strict=False), out)
    atomic_write_json(out / "expected.json", {})
    return out


def test_a_report_directory_re_renders_from_its_json_and_copies_whole(report_dir, tmp_path):
    assert rerender(report_dir) == []
    dst = copy_results(report_dir, tmp_path / "results" / "tiny")
    assert rerender(dst) == []
    copied = {p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file()}
    assert {"CLAIMS.md", "claims.json", "leaderboard.md", "leaderboard.json", "provenance.json",
            "tables/table-1.md", "tables/table-1.json"} <= copied
    prov = json.loads((dst / "provenance.json").read_text())
    assert prov["seeds"] == [0, 1] and prov["copied_from"] == str(report_dir)
    assert sum(prov["run_commits"].values()) > 0
    assert not list(dst.parent.glob("*.partial")) and not list(dst.parent.glob("*.old"))


def test_run_commits_name_the_code_that_made_the_cited_runs(tmp_path):
    for name, git in (("a", {"commit": "c1", "dirty": False}), ("b", {"commit": "c1"}),
                      ("c", {"commit": "c2", "dirty": True})):
        atomic_write_json(tmp_path / "runs" / name / "env.json", {"git": git})
    runs = [str(tmp_path / "runs" / n) for n in "abcd"]            # d: no longer on disk
    table = tmp_path / "table-1.json"
    atomic_write_json(table, {"cells": [{"runs": runs[:2]}, {"runs": runs[1:]}, {}]})
    assert run_commits([table]) == {"c1": 2, "c2-dirty": 1, "unknown": 1}


def test_a_hand_edit_is_found_and_refused(report_dir, tmp_path):
    edited = tmp_path / "edited"
    copy_results(report_dir, edited)
    md = edited / "tables" / "table-1.md"
    md.write_text(md.read_text().replace("|", "¦", 3))
    (edited / "CLAIMS.md").write_text((edited / "CLAIMS.md").read_text() + "\nbetter!\n")
    stale = rerender(edited)
    assert any("table-1.md" in s for s in stale) and any("CLAIMS.md" in s for s in stale)
    target = tmp_path / "target"
    with pytest.raises(ResultsError, match="does not re-render"):
        copy_results(edited, target)
    assert not target.exists()             # nothing half-written


def test_an_unfinished_pass_is_refused_before_anything_is_written(tmp_path, capsys):
    (tmp_path / "out" / "tables").mkdir(parents=True)
    rc = main(["results", "--src", str(tmp_path / "out"), "--dst", str(tmp_path / "res")])
    assert rc != 0 and "not a full reproduce pass" in capsys.readouterr().err
    assert not (tmp_path / "res").exists()


@pytest.mark.parametrize("directory", sorted((ROOT / "results").glob("*/")) or [None],
                         ids=lambda d: d.name if d else "none-committed")
def test_committed_results_re_render_from_their_json(directory):
    if directory is None:
        pytest.skip("no results/<preset>/ committed yet")
    assert rerender(directory) == [], "results/ was edited by hand or the renderers changed"
