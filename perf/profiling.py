"""Where the time goes: the top operators of one call under ``torch.profiler``."""
from __future__ import annotations

from typing import Callable


def top_ops(fn: Callable[[], object], limit: int = 12) -> dict:
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) or 1
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return {
        "total_self_cpu_s": round(total / 1e6, 3),
        "top": [{"op": e.key, "calls": e.count, "self_cpu_s": round(e.self_cpu_time_total / 1e6, 3),
                 "share": round(e.self_cpu_time_total / total, 3)} for e in events[:limit]],
    }
