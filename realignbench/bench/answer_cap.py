"""The generation cap for judged answers, set from the measured length of the reference answers.

A stance often sits in an answer's last clause ("…, but please see a doctor"); an answer cut
before it is judged on the wrong text. So TPA and ASR generate until end-of-turn, and the cap
only stops answers that run past anything the benchmark itself would say: every reference
answer of the test split — each pair's old chosen and rejected response and its correction —
is tokenised exactly as training scores it (the model's tokenizer and chat template; the
end-of-turn token counted), and the cap is the longest × ``eval.answer_cap_margin`` (rounded
up). An explicit ``eval.max_new_tokens`` is checked against the same measurement. The
measurement and the cap go into the run's results.
"""
from __future__ import annotations

import logging
import math
from typing import Sequence

import numpy as np

from realignbench.data.schema import Pair
from realignbench.models.chat import encode_pair

log = logging.getLogger(__name__)
REFERENCE_FIELDS = ("chosen", "rejected", "correction")
# Room for any response when counting: encode_pair cuts responses to fit max_length.
_NO_LIMIT = 1 << 20


def answer_tokens(tokenizer, prompt: str, response: str) -> int:
    """Tokens a model generates to give ``response``: its tokens plus end-of-turn."""
    return encode_pair(tokenizer, prompt, response, _NO_LIMIT // 2, _NO_LIMIT).n_target


def measure(tokenizer, pairs: Sequence[Pair]) -> dict:
    """Token lengths of every reference answer: n, max (and which), median, p90, p99."""
    lengths, where = [], []
    for p in pairs:
        for name in REFERENCE_FIELDS:
            text = getattr(p, name)
            if text:
                lengths.append(answer_tokens(tokenizer, p.prompt, text))
                where.append({"pair": p.id, "field": name})
    if not lengths:
        raise ValueError("answer cap: the test split has no reference answer to measure")
    x = np.asarray(lengths)
    k = int(x.argmax())
    return {"n": len(lengths), "max": int(x[k]), "longest": where[k],
            "median": float(np.median(x)), "p90": float(np.percentile(x, 90)),
            "p99": float(np.percentile(x, 99)), "fields": list(REFERENCE_FIELDS),
            "lengths": lengths}


def choose_cap(measured: dict, max_new_tokens: int, margin: float, check: str) -> dict:
    """``{"tokens", "source", "margin", "reference_answers_over_cap"}``; raises ValueError when an
    explicit cap would cut a reference answer and ``check`` is ``error``."""
    longest = measured["max"]
    if max_new_tokens == 0:
        cap, source = math.ceil(longest * margin), f"derived: longest reference answer × {margin:g}"
    else:
        cap, source = max_new_tokens, "eval.max_new_tokens"
    over = sum(n > cap for n in measured["lengths"])
    if over:
        msg = (f"eval.max_new_tokens={cap} is below the longest reference answer of the test "
               f"split ({longest} tokens with end-of-turn, pair {measured['longest']['pair']!r} "
               f"field {measured['longest']['field']!r}): {over} of {measured['n']} reference "
               "answers would be cut before they end; set eval.max_new_tokens=0 (derived) or at "
               f"least {longest}")
        if check == "error":
            raise ValueError(msg + " (or eval.answer_cap_check=warn to run anyway)")
        log.warning(msg)
    return {"tokens": cap, "source": source, "margin": margin,
            "reference_answers_over_cap": over}


def answer_cap(cfg, tokenizer, pairs: Sequence[Pair]) -> dict:
    """The cap for ``cfg.eval`` on ``pairs`` with its measurement, for a run's results."""
    measured = measure(tokenizer, pairs)
    cap = choose_cap(measured, cfg.eval.max_new_tokens, cfg.eval.answer_cap_margin,
                     cfg.eval.answer_cap_check)
    summary = {k: v for k, v in measured.items() if k != "lengths"}
    log.info("answer cap %d tokens (%s; reference answers: max %d, p90 %.0f, n %d)",
             cap["tokens"], cap["source"], measured["max"], measured["p90"], measured["n"])
    return {**cap, "reference_answer_tokens": summary}
