"""Leaderboard HTML/Markdown from synthetic records, escaping, and the report commands."""
import json
import re
from html.parser import HTMLParser

import pytest

from synthruns import metric, populate, write_run
from realignbench.cli import main
from realignbench.config import load_config
from realignbench.reports.leaderboard import build_leaderboard, to_html, to_markdown
from realignbench.reports.records import CellError, load_records

XSS_METHOD = "<script>window.__pwned=1</script>evil"
XSS_TEXT = "Sure! <script>window.__pwned=2</script><img src=x onerror=\"window.__pwned=3\">"


def add_hostile_rows(runs, cfg):
    """A method id and a generation that carry markup, as an untrusted submission might."""
    for seed in cfg["seeds"]:
        subject = {"method": XSS_METHOD, "preset": "tiny", "shift": "default", "seed": seed,
                   "train_size": cfg["data"]["train_sizes"][-1]}
        write_run(runs, "eval_tpa", subject, {"tpa": metric(0.42)},
                  samples=[{"prompt_id": "p1", "generation": XSS_TEXT}])
    want = {"method": "trace", "seed": cfg["seeds"][0], "noise": 0.0,
            "train_size": cfg["data"]["train_sizes"][-1]}
    (trace,) = [r for r in (runs / "eval_tpa").iterdir() if want.items() <= json.loads(
        (r / "results.json").read_text())["subject"].items()]
    (trace / "samples.jsonl").write_text(json.dumps({"generation": XSS_TEXT}) + "\n")


@pytest.fixture(scope="module")
def board_world(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    cfg = load_config("tiny", ["seeds=[0]"]).to_dict()
    populate(runs, cfg)
    add_hostile_rows(runs, cfg)
    return runs, cfg


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_page_is_self_contained_and_escapes_everything(board_world):
    runs, cfg = board_world
    html = to_html(build_leaderboard(load_records(runs), cfg))
    parser = Tags()
    parser.feed(html)
    names = [t for t, _ in parser.tags]
    assert "script" not in names and "img" not in names and "link" not in names
    assert not re.search(r"(src|href)=\"?https?:", html)
    assert names.count("svg") == 4                           # the four inline plots
    text = "".join(parser.text)
    assert XSS_METHOD in text and "<script>window.__pwned=2</script>" in text
    csp = next(a for t, a in parser.tags if t == "meta" and "http-equiv" in a)
    assert "default-src 'none'" in csp["content"]


def test_rows_include_base_mref_methods_ablations_and_extras(board_world):
    runs, cfg = board_world
    board = build_leaderboard(load_records(runs), cfg)
    ids = [r["id"] for r in board["rows"]]
    assert ids[:7] == ["base", "old_alignment", "naive_dpo", "rdpo", "dpo_gold", "u2a", "trace"]
    assert {"no_triage", "no_kl", "no_impact", "oracle_punish", XSS_METHOD} <= set(ids)
    prov = {r["id"]: r["provenance"] for r in board["rows"]}
    assert prov["base"].startswith("preset tiny · built once")
    assert "1 seed(s)" in prov["trace"] and prov["trace"].endswith("reproduced")
    assert prov[XSS_METHOD].endswith("extra (not in the paper's tables)")
    assert board["human"]["simulated"]
    md = to_markdown(board)
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;evil" in md and "<script>" not in md
    assert "SIMULATED" in md


def test_missing_cells_are_shown_or_fail_when_strict(tmp_path):
    cfg = load_config("tiny", ["seeds=[0]"]).to_dict()
    populate(tmp_path, cfg, skip=lambda stage, s: stage == "eval_asr" and s.get("method") == "u2a")
    board = build_leaderboard(load_records(tmp_path), cfg)
    # ASR and its degeneration figures: two cells of one missing run
    assert len(board["missing"]) == 2 and all("'eval_asr' run" in m for m in board["missing"])
    assert "2 cell(s) missing" in to_html(board)
    with pytest.raises(CellError, match="row 'u2a', column 'asr'"):
        build_leaderboard(load_records(tmp_path), cfg, strict=True)


def test_commands_write_outputs_and_fail_on_missing_cells(tmp_path, capsys):
    runs, out = tmp_path / "runs", tmp_path / "out"
    cfg = load_config("tiny", ["seeds=[0]"]).to_dict()
    populate(runs, cfg, skip=lambda stage, s: stage == "eval_tpa" and s.get("noise") == 0.2)
    common = ["--preset", "tiny", "--runs-dir", str(runs), "--out", str(out)]
    assert main(["table", "all", "seeds=[0]", *common]) == 2          # table 8 lacks p=0.2
    err = capsys.readouterr().err
    assert "table 8: 4 cell(s) missing" in err and "row '0.2', column 'trace'" in err
    built = sorted(p.name for p in (out / "tables").iterdir())
    assert "table-5.md" in built and not any(n.startswith("table-8") for n in built)
    assert main(["claims", *common, "seeds=[0]"]) == 2
    assert main(["claims", "--allow-missing", *common, "seeds=[0]"]) == 0
    assert "not evaluated" in (out / "CLAIMS.md").read_text()
    assert main(["leaderboard", *common, "seeds=[0]"]) == 0
    assert (out / "leaderboard.html").exists() and (out / "leaderboard.md").exists()
    assert main(["table", "5", "--needs", *common]) == 0
    needs = [json.loads(l) for l in capsys.readouterr().out.splitlines() if l.startswith("{")]
    assert {n["subject"]["method"] for n in needs} == {"trace", "naive_dpo"}
    assert all(n["stage"] == "eval_tpa" and n["metrics"] == ["tpa"] for n in needs)


def test_degeneration_figures_are_shown_per_method(tmp_path):
    from synthruns import default_value
    cfg = load_config("tiny", ["seeds=[0]"]).to_dict()
    planted = {"degeneration/unfinished": 0.375, "degeneration/loop": 0.125,
               "degeneration/no_stance": 0.0625}

    def value(stage, subject, name):
        if stage == "eval_tpa" and subject.get("method") == "trace" and name in planted:
            return planted[name]
        return default_value(stage, subject, name)
    populate(tmp_path, cfg, value_fn=value)
    md = to_markdown(build_leaderboard(load_records(tmp_path), cfg, strict=True))
    header = next(line for line in md.splitlines() if line.startswith("| Method"))
    for label in ("TPA answers unfinished", "n-gram loops", "no stance", "ASR answers degenerate"):
        assert label in header
    (trace,) = [line for line in md.splitlines() if line.startswith("| TRACE |")]
    assert "37.5" in trace and "12.5" in trace and "6.2" in trace
    assert "unfinished = cap reached without end-of-turn" in md       # the columns are defined
