"""Small inline-SVG charts for the leaderboard: lines with CI bars, grouped bars, a scatter.

No plotting library, no scripts: plain SVG elements whose every piece of text goes through
``html.escape``. Values arrive already scaled (e.g. percent); ``None`` points are skipped.
"""
from __future__ import annotations

import math
from html import escape
from typing import Sequence

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#e7ba52"]
W, H = 600, 330
LEFT, RIGHT, TOP, BOTTOM = 56, 190, 34, 48
LEGEND_CHARS = 30

Point = tuple  # (x, y, lo, hi) for lines; (y, lo, hi) for bars


def _ok(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def _scale(lo: float, hi: float, a: float, b: float):
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _range(values: Sequence[float], floor0: bool = True) -> tuple[float, float]:
    vals = [v for v in values if _ok(v)]
    if not vals:
        return 0.0, 1.0
    lo, hi = min(vals), max(vals)
    lo = min(lo, 0.0) if floor0 else lo - 0.05 * ((hi - lo) or 1)
    return lo, hi + 0.08 * ((hi - lo) or 1)


def _frame(title: str, x_label: str, y_label: str, y0: float, y1: float, fy) -> list[str]:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" '
             f'height="{H}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<text x="{W / 2}" y="18" text-anchor="middle" class="t">{escape(title)}</text>',
             f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" class="ax"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}" class="ax"/>',
             f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 10}" text-anchor="middle">'
             f"{escape(x_label)}</text>",
             f'<text x="14" y="{(TOP + H - BOTTOM) / 2}" text-anchor="middle" '
             f'transform="rotate(-90 14 {(TOP + H - BOTTOM) / 2})">{escape(y_label)}</text>']
    for i in range(5):
        v = y0 + (y1 - y0) * i / 4
        y = fy(v)
        parts.append(f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" '
                     f'class="grid"/><text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f"{v:.0f}</text>")
    return parts


def _legend(names: Sequence[str]) -> list[str]:
    out = []
    for i, name in enumerate(names):
        y = TOP + 14 + 18 * i
        short = name if len(name) <= LEGEND_CHARS else name[:LEGEND_CHARS - 1] + "…"
        out.append(f'<rect x="{W - RIGHT + 10}" y="{y - 9}" width="10" height="10" '
                   f'fill="{PALETTE[i % len(PALETTE)]}"/><text x="{W - RIGHT + 25}" y="{y}">'
                   f"<title>{escape(name)}</title>{escape(short)}</text>")
    return out


def line_chart(title: str, x_label: str, y_label: str,
               series: dict[str, list[Point]], x_ticks: Sequence[tuple[float, str]]) -> str:
    """Lines over numeric x with 95% CI bars; ``x_ticks`` = [(x, label)]."""
    xs = [x for x, _ in x_ticks] or [0.0, 1.0]
    fx = _scale(min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1, LEFT + 20, W - RIGHT - 20)
    y0, y1 = _range([v for pts in series.values() for p in pts for v in p[1:]])
    fy = _scale(y0, y1, H - BOTTOM, TOP)
    parts = _frame(title, x_label, y_label, y0, y1, fy)
    parts += [f'<text x="{fx(x):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">'
              f"{escape(label)}</text>" for x, label in x_ticks]
    for i, (name, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        good = [p for p in pts if _ok(p[1])]
        if len(good) > 1:
            path = " ".join(f"{fx(p[0]):.1f},{fy(p[1]):.1f}" for p in good)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                         f'stroke-width="2"/>')
        for x, y, lo, hi in good:
            if _ok(lo) and _ok(hi):
                parts.append(f'<line x1="{fx(x):.1f}" y1="{fy(lo):.1f}" x2="{fx(x):.1f}" '
                             f'y2="{fy(hi):.1f}" stroke="{color}"/>')
            parts.append(f'<circle cx="{fx(x):.1f}" cy="{fy(y):.1f}" r="3.5" fill="{color}">'
                         f"<title>{escape(name)}: {y:.1f}</title></circle>")
    return "\n".join(parts + _legend(list(series)) + ["</svg>"])


def bar_chart(title: str, y_label: str, groups: Sequence[str],
              series: dict[str, list[Point]], refs: Sequence[float | None] = ()) -> str:
    """Grouped bars (one group per entry of ``groups``) with CI whiskers; ``refs`` draws a
    dashed reference line per group (e.g. the chance level)."""
    y0, y1 = _range([v for pts in series.values() for p in pts for v in p] + list(refs))
    fy = _scale(y0, y1, H - BOTTOM, TOP)
    parts = _frame(title, "", y_label, y0, y1, fy)
    gw = (W - RIGHT - LEFT) / max(len(groups), 1)
    bw = gw * 0.8 / max(len(series), 1)
    for g, group in enumerate(groups):
        gx = LEFT + g * gw + gw * 0.1
        parts.append(f'<text x="{gx + gw * 0.4:.1f}" y="{H - BOTTOM + 16}" '
                     f'text-anchor="middle">{escape(group)}</text>')
        for i, (name, pts) in enumerate(series.items()):
            y, lo, hi = pts[g] if g < len(pts) else (None, None, None)
            if not _ok(y):
                continue
            x = gx + i * bw
            top, base = fy(y), fy(max(y0, 0.0))
            parts.append(f'<rect x="{x:.1f}" y="{min(top, base):.1f}" width="{bw * 0.9:.1f}" '
                         f'height="{abs(base - top):.1f}" fill="{PALETTE[i % len(PALETTE)]}">'
                         f"<title>{escape(name)} / {escape(group)}: {y:.1f}</title></rect>")
            if _ok(lo) and _ok(hi):
                cx = x + bw * 0.45
                parts.append(f'<line x1="{cx:.1f}" y1="{fy(lo):.1f}" x2="{cx:.1f}" '
                             f'y2="{fy(hi):.1f}" stroke="#222"/>')
        ref = refs[g] if g < len(refs) else None
        if _ok(ref):
            parts.append(f'<line x1="{gx:.1f}" y1="{fy(ref):.1f}" x2="{gx + gw * 0.8:.1f}" '
                         f'y2="{fy(ref):.1f}" class="ref"><title>chance {ref:.0f}</title></line>')
    return "\n".join(parts + _legend(list(series)) + ["</svg>"])


def scatter(title: str, x_label: str, y_label: str,
            points: Sequence[tuple[str, float | None, float | None]]) -> str:
    """Labelled points (name, x, y)."""
    good = [p for p in points if _ok(p[1]) and _ok(p[2])]
    x0, x1 = _range([p[1] for p in good], floor0=False)
    y0, y1 = _range([p[2] for p in good], floor0=False)
    fx, fy = _scale(x0, x1, LEFT + 10, W - RIGHT - 10), _scale(y0, y1, H - BOTTOM, TOP)
    parts = _frame(title, x_label, y_label, y0, y1, fy)
    for i in range(5):
        v = x0 + (x1 - x0) * i / 4
        parts.append(f'<text x="{fx(v):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">'
                     f"{v:.0f}</text>")
    for i, (name, x, y) in enumerate(good):
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<circle cx="{fx(x):.1f}" cy="{fy(y):.1f}" r="5" fill="{color}">'
                     f"<title>{escape(name)}: ({x:.1f}, {y:.1f})</title></circle>")
    return "\n".join(parts + _legend([p[0] for p in good]) + ["</svg>"])
