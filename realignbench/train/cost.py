"""What a method costs in oracle work (Table 7): judged responses and written corrections.

At the paper's scale each judgement or correction is an LLM call (GPT-4o); on SynthValueBench
the label oracle answers them exactly, but the count is the same, so methods compare fairly.
Each method declares its share on its plug-in (``Method.judged_per_pair``, ``corrections``):
Naive Oracle DPO and rDPO only ask "does the old chosen violate π_new?"; triage (TRACE) and U2A
judge both responses; DPO-Gold and TRACE's oracle_punish also need a correction per PUNISH pair.
"""
from __future__ import annotations

from typing import Any, Sequence

from realignbench.data.schema import Pair


def oracle_calls(plugin: Any, opts: Any, pairs: Sequence[Pair]) -> int:
    """Oracle calls ``plugin`` (a :class:`~realignbench.train.plugin.Method`) with options
    ``opts`` makes to train on ``pairs``."""
    judged = plugin.judged_per_pair * len(pairs)
    if not plugin.needs_corrections(opts):
        return judged
    return judged + sum(p.category == "PUNISH" for p in pairs)
