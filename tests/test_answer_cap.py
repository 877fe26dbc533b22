"""The answer cap covers the longest reference answer; an explicit cap below it is caught."""
import pytest

from realignbench.bench.answer_cap import answer_tokens, choose_cap, measure
from realignbench.models.loading import load_model

from train_fixtures import make_pairs


@pytest.fixture(scope="module")
def tok():
    return load_model("tiny")[1]


def test_cap_covers_the_longest_reference_answer(tok):
    pairs = make_pairs(9)
    long = pairs[4]
    pairs[4] = type(long)(**{**long.__dict__, "correction": "word " * 150})
    m = measure(tok, pairs)
    assert m["n"] == 27                                   # chosen, rejected, correction each
    assert m["longest"] == {"pair": long.id, "field": "correction"}
    every = [answer_tokens(tok, p.prompt, getattr(p, f)) for p in pairs
             for f in ("chosen", "rejected", "correction")]
    assert m["max"] == max(every) > 150                  # end-of-turn counted too
    cap = choose_cap(m, 0, 1.5, "error")
    assert cap["tokens"] >= 1.5 * m["max"] and cap["reference_answers_over_cap"] == 0
    assert all(n <= cap["tokens"] for n in every)


def test_answer_tokens_counts_the_end_of_turn(tok):
    from realignbench.models.chat import encode_prompt
    text = "Please see a doctor."
    body = tok(text, add_special_tokens=False)["input_ids"]
    assert answer_tokens(tok, "q", text) == len(body) + 1
    assert encode_prompt(tok, "q", 64)                   # the same template frame


def test_explicit_cap_below_the_measurement_errors_or_warns(tok, caplog):
    m = measure(tok, make_pairs(6))
    with pytest.raises(ValueError, match=r"eval.max_new_tokens=5 is below .*answer_cap_check"):
        choose_cap(m, 5, 1.5, "error")
    cap = choose_cap(m, 5, 1.5, "warn")
    assert cap["tokens"] == 5 and cap["reference_answers_over_cap"] == m["n"]
    assert "would be cut" in caplog.text
    assert choose_cap(m, m["max"], 1.5, "error")["reference_answers_over_cap"] == 0
