"""Generated documentation blocks (``realignbench docs``): marker handling, the results summary,
and the committed README.md / docs/data.md being exactly what the generators write."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from realignbench.reports import generated_docs
from realignbench.reports.marked_blocks import BlockError, replace_blocks

REPO = Path(__file__).resolve().parent.parent


def test_committed_docs_match_what_realignbench_docs_generates():
    stale = [str(path.relative_to(REPO)) for path, (committed, generated)
             in generated_docs.render(REPO).items() if committed != generated]
    assert stale == [], "run `make docs` (realignbench docs) and commit the result"


def test_replace_blocks_rewrites_only_the_bodies():
    text = ("# Title\nprose stays\n<!-- generated:a -->\nold a\nold a 2\n<!-- /generated:a -->\n"
            "middle\n<!-- generated:b -->\n<!-- /generated:b -->\nend\n")
    out = replace_blocks(text, {"a": lambda: "new a", "b": lambda: "new b\n"}, "doc.md")
    assert out == ("# Title\nprose stays\n<!-- generated:a -->\nnew a\n<!-- /generated:a -->\n"
                   "middle\n<!-- generated:b -->\nnew b\n<!-- /generated:b -->\nend\n")
    assert replace_blocks(out, {"a": lambda: "new a", "b": lambda: "new b"}, "doc.md") == out


@pytest.mark.parametrize("text, message", [
    ("x\n<!-- generated:a -->\nbody\n", "doc.md:2: block 'a' is never closed"),
    ("<!-- /generated:a -->\n", "doc.md:1: closing marker for 'a'"),
    ("<!-- generated:a -->\n<!-- generated:b -->\n", "doc.md:2: block 'b' opens inside"),
    ("<!-- generated:a -->\n<!-- /generated:a -->\n<!-- generated:a -->\n<!-- /generated:a -->\n",
     "doc.md:3: block 'a' appears twice"),
    ("<!-- generated:a -->\n<!-- /generated:a -->\n<!-- generated:zzz -->\n"
     "<!-- /generated:zzz -->\n", "blocks without a generator ['zzz']"),
    ("no markers\n", "generators without a block ['a']"),
])
def test_bad_markers_are_errors_naming_file_and_line(text, message):
    with pytest.raises(BlockError) as err:
        replace_blocks(text, {"a": lambda: ""}, "doc.md")
    assert message in str(err.value)


def test_results_block_says_plainly_when_nothing_is_committed(tmp_path):
    text = generated_docs.results_block(tmp_path, "smol")
    assert "No results are committed yet" in text and "`results/smol/`" in text
    assert not any(ch.isdigit() for ch in text.replace("smol", ""))    # no numbers at all


def _claims_json(results: Path) -> None:
    provenance = {"preset": "smol", "model": "smol", "benchmark": "synthvaluebench",
                  "shift": "default", "seeds": [0, 1, 2], "judge": ["embedding"],
                  "nll_weight": ["1.0"], "n_runs": 9, "simulated": True, "human": False}
    part = {"a": "TRACE", "b": "Naive", "relation": ">", "diff": 0.052, "diff_ci": [0.011, 0.093],
            "scale": 100, "verdict": "reproduced"}
    claims = [{"claim": "TRACE > Naive", "verdict": "reproduced", "parts": [part]},
              {"claim": "TRACE ≥ DPO-Gold", "verdict": "inconclusive",
               "parts": [{**part, "diff": -0.02, "diff_ci": [-0.07, 0.03]}]},
              {"claim": "U2A | rDPO", "verdict": "not evaluated",
               "parts": [{"a": "U2A", "b": "rDPO", "verdict": "not evaluated", "reason": "x"}]}]
    results.mkdir(parents=True)
    (results / "claims.json").write_text(json.dumps({"claims": claims, "provenance": provenance}))
    (results / "CLAIMS.md").write_text("# claims\n")
    (results / "tables").mkdir()
    (results / "tables" / "table-5.md").write_text("| a |\n")


def test_results_block_summarises_the_committed_claims(tmp_path):
    _claims_json(tmp_path / "results" / "smol")
    text = generated_docs.results_block(tmp_path, "smol")
    assert "**Committed results (`results/smol/`).** Provenance: preset smol" in text
    assert "seeds 0, 1, 2" in text and "SIMULATED" in text
    assert "| TRACE > Naive | **reproduced** | TRACE vs Naive: +5.2 [+1.1, +9.3] |" in text
    assert "DPO-Gold | **inconclusive** | TRACE vs Naive: -2.0 [-7.0, +3.0] |" in text
    assert "| U2A \\| rDPO | **not evaluated** | U2A vs rDPO: not evaluated |" in text
    assert "Claims: 1 reproduced, 1 inconclusive, 1 not evaluated." in text
    assert "[`results/smol/CLAIMS.md`](results/smol/CLAIMS.md)" in text
    assert "[`results/smol/tables/table-5.md`](results/smol/tables/table-5.md)" in text


def test_docs_command_check_then_write(tmp_path, monkeypatch, capsys):
    from realignbench.cli import main
    monkeypatch.setattr(generated_docs, "category_mix_block", lambda: "| mix |")
    for name in ("README.md", "docs/data.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    data_md = tmp_path / "docs" / "data.md"
    before = data_md.read_text()
    assert main(["docs", "--check", "--root", str(tmp_path)]) == 1       # the mix differs
    assert data_md.read_text() == before and "docs/data.md: STALE" in capsys.readouterr().out
    assert main(["docs", "--root", str(tmp_path)]) == 0
    assert "<!-- generated:category-mix -->\n| mix |\n<!-- /generated:category-mix -->" \
        in data_md.read_text()
    assert main(["docs", "--check", "--root", str(tmp_path)]) == 0


def test_docs_command_names_a_missing_document(tmp_path, capsys):
    from realignbench.cli import main
    assert main(["docs", "--check", "--root", str(tmp_path)]) == 2
    assert f"{tmp_path / 'docs' / 'data.md'}: not found" in capsys.readouterr().err
