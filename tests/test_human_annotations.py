import json

import pytest

from human_data import write_generations
from realignbench.bench.human.annotations import (
    AnnotationError, load_annotations, read_rows, unblind)
from realignbench.bench.human.export import export_study
from realignbench.bench.human.study import read_keys, read_study


@pytest.fixture
def study(tmp_path):
    out = export_study(tmp_path / "study", write_generations(tmp_path / "gen", n=3), "Policy.",
                       baseline="u2a", seed=0, with_page=False)
    s = read_study(out["triplets"])
    return s, read_keys(out["keys"], s)


def _json(path, rows, study_id=None):
    path.write_text(json.dumps({"format": "realignbench-annotations/1", "study_id": study_id,
                                "annotations": rows}))
    return path


def _good_rows(s, annotator="ann1"):
    return [{"item_id": it.item_id, "annotator_id": annotator, "choice": 1} for it in s.items]


def test_good_json_and_csv_files_ingest_and_unblind(study, tmp_path):
    s, keys = study
    j = _json(tmp_path / "a.json", _good_rows(s), s.study_id)
    c = tmp_path / "b.csv"
    c.write_text("study_id,item_id,annotator_id,choice,choice_key\n" + "".join(
        f"{s.study_id},{it.item_id},ann2,,{it.responses[2].key}\n" for it in s.items))
    anns = load_annotations([j, c], s)
    assert len(anns) == 6
    assert {a.choice for a in anns if a.annotator_id == "ann2"} == {3}   # derived from the key
    methods = [ch.method for ch in unblind(anns, keys) if ch.annotator_id == "ann1"]
    assert methods == [keys.method_of(it.item_id, it.responses[0].key) for it in s.items]


@pytest.mark.parametrize("bad, message", [
    ({"item_id": "nope", "annotator_id": "a", "choice": 1}, r"row 2: unknown item_id 'nope'"),
    ({"item_id": "ITEM", "annotator_id": "  ", "choice": 1}, r"row 2: missing annotator_id"),
    ({"item_id": "ITEM", "annotator_id": "b", "choice": 4}, r"row 2: choice 4 out of range 1\.\.3"),
    ({"item_id": "ITEM", "annotator_id": "b", "choice": 0}, r"row 2: choice 0 out of range 1\.\.3"),
    ({"item_id": "ITEM", "annotator_id": "b", "choice": "two"}, r"row 2: choice 'two' is not a whole"),
    ({"item_id": "ITEM", "annotator_id": "b"}, r"row 2: missing choice"),
    ({"item_id": "ITEM", "annotator_id": "b", "choice": 1, "choice_key": "rXXX"},
     r"row 2: choice_key 'rXXX' does not match choice 1"),
    ({"item_id": "ITEM", "annotator_id": "a", "choice": 2}, r"row 2: duplicate annotation by 'a' "
                                                            r"of item 'ITEM' \(first at .*row 1\)"),
    ({"study_id": "sOTHER", "item_id": "ITEM", "annotator_id": "b", "choice": 1},
     r"row 2: study_id 'sOTHER' is not this study"),
])
def test_each_bad_row_gives_its_named_error_with_file_and_row(study, tmp_path, bad, message):
    s, _ = study
    item = s.items[0].item_id
    first = {"item_id": item, "annotator_id": "a", "choice": 1}
    bad = {k: (item if v == "ITEM" else v) for k, v in bad.items()}
    message = message.replace("ITEM", item)
    path = _json(tmp_path / "bad.json", [first, bad])
    with pytest.raises(AnnotationError, match=r"bad\.json: " + message):
        load_annotations([path], s)


def test_duplicates_across_files_and_csv_line_numbers(study, tmp_path):
    s, _ = study
    it = s.items[1].item_id
    a = _json(tmp_path / "a.json", [{"item_id": it, "annotator_id": "x", "choice": 2}])
    b = tmp_path / "b.csv"
    b.write_text(f"item_id,annotator_id,choice\n{s.items[0].item_id},y,1\n{it},x,3\n")
    with pytest.raises(AnnotationError) as err:
        load_annotations([a, b], s)
    assert f"b.csv: row 2 (line 3): duplicate annotation by 'x' of item '{it}'" in str(err.value)
    assert "a.json: row 1" in str(err.value)


def test_all_problems_are_reported_together(study, tmp_path):
    s, _ = study
    rows = [{"item_id": "zz", "annotator_id": "a", "choice": 1},
            {"item_id": s.items[0].item_id, "annotator_id": "", "choice": 1}]
    with pytest.raises(AnnotationError, match=r"2 bad annotation row\(s\)") as err:
        load_annotations([_json(tmp_path / "x.json", rows)], s)
    assert "row 1: unknown item_id 'zz'" in str(err.value)
    assert "row 2: missing annotator_id" in str(err.value)


def test_wrong_file_shapes(study, tmp_path):
    s, _ = study
    (tmp_path / "n.json").write_text("{not json")
    with pytest.raises(AnnotationError, match=r"n\.json: not valid JSON"):
        read_rows(tmp_path / "n.json")
    (tmp_path / "h.csv").write_text("item,who\n1,2\n")
    with pytest.raises(AnnotationError, match=r"h\.csv: CSV header lacks \['annotator_id', 'item_id'\]"):
        read_rows(tmp_path / "h.csv")
    with pytest.raises(AnnotationError, match=r"gone\.json: annotation file not found"):
        read_rows(tmp_path / "gone.json")
    with pytest.raises(AnnotationError, match="no annotations"):
        load_annotations([_json(tmp_path / "e.json", [], s.study_id)], s)
