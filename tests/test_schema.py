import json

import pytest

from realignbench.data.schema import DataError, Pair, read_pairs, write_pairs

GOOD = {"id": "p1", "prompt": "q?", "chosen": "a", "rejected": "b", "source": "test",
        "labels": {"chosen": {}, "rejected": {}}}


def _write(tmp_path, rows):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("bad, line, field, text", [
    ('{"id": "p2", "prompt": ', 2, "<json>", "malformed JSON"),
    ({k: v for k, v in GOOD.items() if k != "chosen"} | {"id": "p2"}, 2, "chosen", "missing"),
    (GOOD | {"id": "p2", "labels": "safe"}, 2, "labels", "expected dict, got str"),
    (GOOD | {"id": "p2", "prompt": "   "}, 2, "prompt", "empty"),
    (GOOD | {"id": "p2", "rejected": ""}, 2, "rejected", "empty"),
    (GOOD, 2, "id", "duplicate id 'p1' (first on line 1)"),
    (GOOD | {"id": "p2", "category": "SWAP"}, 2, "category", "unknown category 'SWAP'"),
    (GOOD | {"id": "p2", "extra": 1}, 2, "extra", "unknown field"),
    ([1, 2], 2, "<record>", "expected a JSON object"),
])
def test_bad_lines_name_file_line_field(tmp_path, bad, line, field, text):
    path = _write(tmp_path, [GOOD, bad])
    with pytest.raises(DataError) as err:
        read_pairs(path)
    assert (err.value.line, err.value.field) == (line, field)
    assert str(path) in str(err.value) and f":{line}:" in str(err.value) and text in str(err.value)


def test_round_trip_and_no_half_written_file(tmp_path):
    pairs = [Pair(**GOOD), Pair(**(GOOD | {"id": "p2", "category": "INVERT"}))]
    out = tmp_path / "out.jsonl"
    write_pairs(out, pairs)
    assert [p.id for p in read_pairs(out)] == ["p1", "p2"]
    before = out.read_bytes()
    with pytest.raises(DataError):
        write_pairs(out, [Pair(**GOOD), Pair(**(GOOD | {"chosen": ""}))])
    assert out.read_bytes() == before
