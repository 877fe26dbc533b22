"""What a method costs in oracle work (Table 7): judged responses and written corrections.

At the paper's scale each judgement or correction is an LLM call (GPT-4o); on SynthValueBench
the label oracle answers them exactly, but the count is the same, so methods compare fairly.
"""
from __future__ import annotations

from typing import Sequence

from realignbench.data.schema import Pair

# Which old responses a method needs judged under π_new: Naive Oracle DPO and rDPO only ask
# "does the old chosen violate π_new?"; triage (TRACE) and U2A judge both responses.
_JUDGED = {"naive_dpo": 1, "rdpo": 1, "old_alignment": 0, "dpo": 0, "sft": 0}
# Methods that need a π_new-compliant correction for every PUNISH pair.
_CORRECTS = {"dpo_gold", "trace_oracle_punish"}


def oracle_calls(method: str, pairs: Sequence[Pair]) -> int:
    judged = _JUDGED.get(method, 2) * len(pairs)
    corrections = sum(p.category == "PUNISH" for p in pairs) if method in _CORRECTS else 0
    return judged + corrections
