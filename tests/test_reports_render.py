"""Tables 1-8 from synthetic run records, in all four formats; numbers trace back to records."""
import csv
import io
import json
import math
import re
from pathlib import Path

import pytest

from synthruns import default_value, populate, write_run, metric
from realignbench.config import load_config
from realignbench.reports.build import build_table
from realignbench.reports.cells import across_seeds, t975
from realignbench.reports.records import load_records
from realignbench.reports.render import to_json, to_latex, to_markdown, write_table
from realignbench.reports.spec import SpecError, load_spec

SEEDS = [0, 1, 2]
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    # All four local suites (the tiny preset itself runs only the two loglikelihood ones).
    suites = "[local_knowledge_mcq,local_arith_exact,local_commonsense_completion,local_hard_mcq]"
    cfg = load_config("tiny", [f"seeds={SEEDS}", f"eval.capability_suites={suites}"]).to_dict()
    populate(root, cfg)
    return cfg, load_records(root)


def _cell(table, row, col):
    return next(c for c in table["cells"] if c["row"] == row and c["column"] == col)


@pytest.mark.parametrize("number", range(1, 9))
def test_every_table_renders_in_every_format(world, number, tmp_path):
    cfg, recs = world
    table = build_table(load_spec(number, cfg), recs, cfg)
    paths = write_table(table, tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        f"table-{number}.{e}" for e in ("md", "csv", "tex", "json"))
    md = (tmp_path / "tables" / f"table-{number}.md").read_text()
    assert md.startswith(f"### Table {number}.") and "Provenance: preset tiny" in md
    data = json.loads((tmp_path / "tables" / f"table-{number}.json").read_text())
    assert data["table"] == number and len(data["cells"]) == len(data["rows"]) * len(
        data["columns"])
    rows = list(csv.DictReader(io.StringIO((tmp_path / "tables" / f"table-{number}.csv")
                                           .read_text())))
    assert len(rows) == len(data["cells"])
    tex = (tmp_path / "tables" / f"table-{number}.tex").read_text()
    assert tex.count(r"\\") >= len(data["rows"]) + 1 and r"\begin{tabular}" in tex
    # Every "ok" cell names the runs it came from, and those runs exist.
    for c in data["cells"]:
        if c["status"] == "ok" and not c.get("diff"):
            assert c["runs"] and all(Path(r).is_dir() for r in c["runs"])


def test_multi_seed_cell_is_mean_with_t_interval_across_seeds(world):
    cfg, recs = world
    table = build_table(load_spec(5, cfg), recs, cfg)
    cell = _cell(table, "48", "trace")
    vals = [default_value("eval_tpa", {"method": "trace", "train_size": 48, "seed": s}, "tpa")
            for s in SEEDS]
    assert cell["value"] == pytest.approx(sum(vals) / 3)
    sd = math.sqrt(sum((v - cell["value"]) ** 2 for v in vals) / 2)
    assert cell["ci"][1] - cell["value"] == pytest.approx(t975(2) * sd / math.sqrt(3))
    assert cell["ci_kind"] == "t-across-seeds" and cell["seeds"] == SEEDS and cell["n"] == 72
    # Δ column: paired per-seed differences of the two cells of the row.
    delta = _cell(table, "48", "delta")
    assert delta["value"] == pytest.approx(cell["value"] - _cell(table, "48", "naive_dpo")["value"])
    assert delta["ci_kind"] == "paired-t"
    md = to_markdown(table)
    assert f"{cell['value'] * 100:.1f}" in md and "+40.0" in md


def test_single_seed_cell_keeps_the_runs_bootstrap_ci(tmp_path):
    cfg = load_config("tiny", ["seeds=[0]"]).to_dict()
    populate(tmp_path, cfg, tables=[5])
    table = build_table(load_spec(5, cfg), load_records(tmp_path), cfg)
    cell = _cell(table, "24", "trace")
    assert cell["ci_kind"] == "bootstrap"
    assert cell["ci"] == pytest.approx([cell["value"] - 0.05, cell["value"] + 0.05])
    assert "[65.2, 75.2] n=24" in to_markdown(table)


def test_across_seeds_matches_a_hand_computation():
    mean, (lo, hi) = across_seeds([0.6, 0.7, 0.8])
    assert mean == pytest.approx(0.7) and hi - mean == pytest.approx(4.303 * 0.1 / math.sqrt(3))


def test_paper_values_sit_beside_ours_and_setting_differences_are_stated(world):
    cfg, recs = world
    md = to_markdown(build_table(load_spec(5, cfg), recs, cfg))
    # tiny has sizes 24/48: smallest ↔ the paper's 5k, largest ↔ 20k.
    assert re.search(r"\| 24 pairs \| [^|]+ \| 35\.9 \| [^|]+ \| 55\.9 \|", md)
    assert re.search(r"\| 48 pairs \| [^|]+ \| 52\.2 \| [^|]+ \| 70\.7 \|", md)
    assert "Setting differs" in md and "Llama-3.1-8B" in md and "synthvaluebench" in md


def test_capability_columns_are_local_suites_with_chance_levels(world):
    cfg, recs = world
    table = build_table(load_spec(3, cfg), recs, cfg)
    labels = [c["label"] for c in table["columns"]]
    assert all("local suite" in l for l in labels)
    assert not any(re.search(r"MMLU|GSM8K|HellaSwag|GPQA", l) for l in labels)
    md = to_markdown(table)
    assert "Knowledge MCQ (local suite) (chance 25%)" in md and "(chance 0%)" in md
    assert "NOT MMLU" in md                     # the caption says what they are not
    # The paper's "Base Model" numbers sit on the M_ref row, with the footnote saying why.
    assert re.search(r"M_ref \(π_old-aligned, untouched\) † \| [^|]+ \| 70\.6 ± 0\.8", md)


def test_record_chance_overrides_the_suites_file(tmp_path):
    cfg = load_config("tiny", ["seeds=[0]"]).to_dict()
    populate(tmp_path, cfg, tables=[3],
             skip=lambda stage, s: s.get("method") == "base")
    write_run(tmp_path, "eval_capability", {"method": "base", "preset": "tiny",
                                            "shift": "default"},
              {s: {**metric(0.5), "chance": 0.5} for s in cfg["eval"]["capability_suites"]})
    table = build_table(load_spec(3, cfg), load_records(tmp_path), cfg)
    assert _cell(table, "base", "local_knowledge_mcq")["chance"] == 0.5
    assert _cell(table, "trace", "local_knowledge_mcq")["chance"] == 0.25


def test_human_table_caption_says_simulated(world, tmp_path):
    cfg, recs = world
    table = build_table(load_spec(2, cfg), recs, cfg)
    for text in (to_markdown(table), to_latex(table)):
        assert "SIMULATED" in text
    assert _cell(table, "u2a", "win_vs_u2a")["status"] == "n/a"
    # A human panel says so instead.
    populate(tmp_path, cfg, tables=[2], simulated=False)
    human = build_table(load_spec(2, cfg), load_records(tmp_path), cfg)
    assert "SIMULATED" not in to_markdown(human) and "human annotators" in to_markdown(human)


def test_undefined_values_render_as_undefined_everywhere(tmp_path):
    cfg = load_config("tiny", ["seeds=[0]"]).to_dict()
    populate(tmp_path, cfg, tables=[2], value_fn=lambda st, s, m: 0.5)
    run = next((tmp_path / "human_eval").iterdir())
    res = json.loads((run / "results.json").read_text())
    res["metrics"]["alpha/trace"] = {"value": None, "ci": [None, None], "n": 0}
    (run / "results.json").write_text(json.dumps(res))
    table = build_table(load_spec(2, cfg), load_records(tmp_path), cfg)
    assert "| undef. |" in to_markdown(table)
    assert json.loads(to_json(table))["cells"][7]["value"] is None     # strict JSON: null
    assert "undef." in to_latex(table)


def test_latex_escapes_specials(world):
    cfg, recs = world
    tex = to_latex(build_table(load_spec(4, cfg), recs, cfg))
    assert r"nll\_weight" in tex and r"(\%)" in tex and "≻" not in tex
    assert re.search(r"(?<!\\)%", tex.split(r"\begin{tabular}")[1]) is None


def test_spec_errors_name_file_and_field(tmp_path):
    bad = tmp_path / "table-9.yaml"
    bad.write_text("table: 9\ntitle: x\nrows: [{id: a, colour: red}]\ncolumns: []\n")
    with pytest.raises(SpecError, match=r"table-9.yaml: rows\[0\]: unknown key\(s\) \['colour'\]"):
        load_spec(bad, load_config("tiny", []).to_dict())
    bad.write_text("table: 9\ntitle: x\ndefaults: {metric: '$data.nope'}\nrows: []\ncolumns: []\n")
    with pytest.raises(SpecError, match=r"defaults.metric: cannot resolve '\$data.nope'"):
        load_spec(bad, load_config("tiny", []).to_dict())


@pytest.mark.skipif(not (SHARED / "seeds" / "paper-tables.txt").exists(),
                    reason="the paper texts in ../shared are not available")
def test_paper_values_are_quoted_from_the_sources():
    """Every paper number in the specs appears in the cited paper texts (no typos, no inventions)."""
    sources = "".join((SHARED / p).read_text() for p in (
        "seeds/paper-tables.txt", "seeds/paper-summary.txt", "reference/paper-protocol.md"))
    cfg = load_config("smol", []).to_dict()
    for n in range(1, 9):
        for row in load_spec(n, cfg).paper.get("values", {}).values():
            for value in row.values():
                number = re.match(r"[+−-]?[\d.]+( ± [\d.]+)?", str(value)).group(0)
                assert number.lstrip("+") in sources, (n, value)
