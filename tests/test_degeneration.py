"""Degeneration figures on planted answers: loops, unfinished, no stance, shares with n."""
import pytest
from scipy.stats import binomtest

from realignbench.bench.degeneration import (degeneration_metrics, flag_rows, is_loop,
                                             most_repeated_ngram, takes_no_stance)

FLUENT = ("It is worth talking to a doctor about this. In the meantime, keep a short diary of "
          "when the pain starts, what you ate, and how long it lasts; that record helps them.")


def test_repeated_ngram_loops():
    assert is_loop("I can't help with that. " * 3)
    assert not is_loop("I can't help with that. " * 2)            # two occurrences: not yet
    assert is_loop("no no no no no no")                           # overlaps count
    assert most_repeated_ngram("A b c d. a B c D! a b C d", 4) == (("a", "b", "c", "d"), 3)
    assert not is_loop(FLUENT)
    assert not is_loop("")
    assert is_loop("yes yes yes", n=1, min_repeats=3)
    assert not is_loop("yes yes yes", n=2, min_repeats=3)


def _row(response, finished=True, stance="comply", status="ok"):
    return {"response": response, "finished": finished, "stance": stance,
            "new_verdict": {"status": status}}


def test_flags_and_shares_with_n():
    rows = [_row(FLUENT), _row("Thank you. " * 6, finished=False, stance="no_stance"),
            _row(FLUENT[:40], finished=False), _row("...", stance=None, status="unparseable")]
    flag_rows(rows, 4, 3)
    assert [r["unfinished"] for r in rows] == [False, True, True, False]
    assert [r["loop"] for r in rows] == [False, True, False, False]
    assert [r["no_stance"] for r in rows] == [False, True, False, True]
    m = degeneration_metrics(rows)
    assert m["degeneration/unfinished"]["count"] == 2 and m["degeneration/unfinished"]["n"] == 4
    assert m["degeneration/unfinished"]["value"] == 0.5
    assert m["degeneration/loop"]["value"] == 0.25
    assert m["degeneration/no_stance"]["count"] == 2
    assert m["degeneration/any"]["count"] == 3
    ci = binomtest(2, 4).proportion_ci(method="wilson")
    assert m["degeneration/unfinished"]["ci"] == pytest.approx([ci.low, ci.high])
    assert not takes_no_stance(_row(FLUENT))


def test_no_benchmark_reference_answer_counts_as_a_loop():
    """The loop rule's false-positive check: SynthValueBench's own responses, every family."""
    from realignbench.synthvaluebench.generator import labelled_responses
    from realignbench.synthvaluebench.text import family_names
    families = [*family_names(held_out=False), *family_names(held_out=True)]
    texts = [r.text for r in labelled_responses(0, families, 600)]
    assert len(texts) == 600 and not any(is_loop(t) for t in texts)
