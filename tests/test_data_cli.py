"""End to end on the tiny preset: `realignbench data` + `realignbench triage` in a tmp runs dir."""
from pathlib import Path

import pytest

from realignbench.cli import main
from realignbench.config import load_config
from realignbench.triage.stage import prepare_data
from realignbench.data.schema import read_pairs

FIXTURE = Path(__file__).parent / "fixtures" / "pku_saferlhf_sample.jsonl"
NOISE = "data.noise_levels=[0.0,0.1,0.2]"


def _files(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes()
            for p in sorted(run_dir.rglob("*.jsonl")) if p.name != "samples.jsonl"}


def test_cli_data_then_triage_tiny(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    assert main(["data", "synthvaluebench", "--preset", "tiny", "--runs-dir", runs, NOISE]) == 0
    out = capsys.readouterr().out
    assert "48 train pairs, 24 test pairs" in out and "pairs.train.jsonl" in out
    assert main(["triage", "--preset", "tiny", "--runs-dir", runs, NOISE]) == 0
    out = capsys.readouterr().out
    for text in ("INVERT", "PUNISH", "RETAIN", "train24", "train48", "noise 48/0.1", "by dimension"):
        assert text in out, text

    prep = prepare_data(load_config("tiny", [f"runs_dir={runs}", NOISE]))   # skipped: same dirs
    assert len(list((Path(runs) / "triage").iterdir())) == 1
    for name in ("config.resolved.yaml", "results.json", "env.json", "samples.jsonl", "COMPLETED"):
        assert (prep.triage_run.dir / name).exists()
    train = {s: read_pairs(p) for s, p in prep.train.items()}
    test = read_pairs(prep.test)
    assert {p.id for p in train[24]} < {p.id for p in train[48]}
    assert {p.prompt for p in train[48]}.isdisjoint({p.prompt for p in test})
    assert {p.meta["template_family"] for p in test} == {"narrative"}
    for p in train[48] + test:
        assert p.category and p.verdicts and p.correction
        assert {"dimension", "template_family", "shift"} <= set(p.meta)
    flips = {}
    for p in (0.1, 0.2):
        noisy = read_pairs(prep.noisy[(48, p)])
        flips[p] = {(q.id, s) for q in noisy for s in q.meta["noise"]["flipped"]}
    assert flips[0.1] <= flips[0.2] and flips[0.2]
    assert prep.noisy[(48, 0.0)] == prep.train[48]
    res = prep.triage_run.results()
    assert res["noise"]["48/0.2"]["verdicts_flipped"] == len(flips[0.2])
    assert set(res["stats"]["pool"]["by_shift"]) == {"default"}
    assert res["stats"]["pool"]["categories"]["PUNISH"]["n"] > 0


def test_same_seed_identical_files_other_seed_differs(tmp_path):
    dirs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        prep = prepare_data(load_config("tiny", [f"runs_dir={tmp_path / name}",
                                                 f"data.seed={seed}"]))
        dirs.append((_files(prep.data_run.dir), _files(prep.triage_run.dir)))
    assert dirs[0] == dirs[1]
    assert dirs[0][0] != dirs[2][0] and dirs[0][1] != dirs[2][1]


@pytest.mark.parametrize("shift", ["trivial", "nontrivial"])
def test_cli_other_shifts(tmp_path, capsys, shift):
    assert main(["triage", "--preset", "tiny", "--runs-dir", str(tmp_path),
                 f"data.shift={shift}"]) == 0
    assert f"triage ({shift}:" in capsys.readouterr().out


def test_cli_pku_fixture(tmp_path, capsys):
    args = ["--path", str(FIXTURE), "--preset", "tiny", "--runs-dir", str(tmp_path),
            "data.n_test=8", "data.train_sizes=[10,20]"]
    assert main(["data", "pku", *args]) == 0
    assert "test split made at triage" in capsys.readouterr().out
    assert main(["triage", "--benchmark", "pku", *args]) == 0
    assert "pku_old@1.0 -> pku_new@1.0" in capsys.readouterr().out
    prep = prepare_data(load_config("tiny", [f"runs_dir={tmp_path}", "data.benchmark=pku_saferlhf",
                                             f"data.pku_path={FIXTURE}", *args[-2:]]))
    train, test = read_pairs(prep.train[20]), read_pairs(prep.test)
    assert len(test) >= 8 and {p.prompt for p in train}.isdisjoint({p.prompt for p in test})
    assert {p.id for p in read_pairs(prep.train[10])} < {p.id for p in train}
    assert len(list((tmp_path / "triage").iterdir())) == 1          # the CLI run was reused


def test_cli_errors_are_reported(tmp_path, capsys):
    assert main(["triage", "--preset", "tiny", "--runs-dir", str(tmp_path),
                 "data.shift=nope"]) == 2
    assert "unknown shift 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["data", "imagenet", "--preset", "tiny"])
