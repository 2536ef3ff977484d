"""One figure's history as a small inline SVG: the median per run, its 95% interval as a
band, change points as labelled vertical lines.

Drawn from the numbers, without matplotlib: a dashboard of 4 hosts x 30
benchmarks x 50 runs is 120 of these, about 1 MB, and a browser draws them
at once. Each run's point carries a ``<title>`` (its id, time, median and
interval), shown on hover; each change point links to its row of the
dashboard's table.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from ringbench.units import seconds, sig3, unit

WIDTH, HEIGHT = 300, 132
LEFT, RIGHT, TOP, BOTTOM = 46, 292, 20, 108  # the plot area
TIMES = "\N{MULTIPLICATION SIGN}"


def ticks(low: float, high: float, count: int = 3) -> list[float]:
    """About ``count`` round values (1, 2 or 5 times a power of ten apart) within
    [low, high], at least two when the span is not zero."""
    span = high - low
    if span <= 0:
        return [low]
    power = 10 ** math.floor(math.log10(span / count))
    steps = [m * power for m in (10, 5, 2, 1, 0.5)]  # coarse to fine
    coarsest = max(i for i, s in enumerate(steps) if s >= span / count)
    values: list[float] = []
    for step in steps[coarsest:]:
        first = math.ceil(low / step) * step
        values = [first + k * step for k in range(int((high - first) / step + 1e-9) + 1)]
        if len(values) >= 2:
            break
    return [round(v, 12) for v in values]


def _or(value: float, default: float) -> float:
    return float(value) if math.isfinite(value) else float(default)


def _when(created: str) -> str:
    """``2026-11-25T05:53:26+00:00`` -> ``11-25 05:53``."""
    return created[5:16].replace("T", " ")


def series_svg(
    points: Sequence[dict[str, Any]],
    run_index: dict[str, int],
    changes: Sequence[tuple[int, str, float]] = (),
) -> str:
    """The SVG of one (host, benchmark) history.

    ``points`` are history rows (``run``, ``created``, ``median_s``,
    ``ci_low_s``, ``ci_high_s``) in run order; ``run_index`` places every run
    of the store on the x axis, so the figures of one page line up;
    ``changes`` are (anchor number, first run after, ratio) per change point.
    """
    n = max(len(run_index), 1)

    def xi(i: float) -> float:
        return (LEFT + RIGHT) / 2 if n == 1 else LEFT + (RIGHT - LEFT) * i / (n - 1)

    def x(run: str) -> float:
        return xi(run_index[run])

    finite = [p for p in points if math.isfinite(p["median_s"])]
    lows: list[float] = [_or(p["ci_low_s"], p["median_s"]) for p in finite]
    highs: list[float] = [_or(p["ci_high_s"], p["median_s"]) for p in finite]
    if not finite:
        return f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" class="series"></svg>'
    scale, name = unit(sorted(p["median_s"] for p in finite)[len(finite) // 2])
    low, high = min(lows) / scale, max(highs) / scale
    pad = (high - low) * 0.08 or abs(high) * 0.05 or 1.0
    low, high = low - pad, high + pad

    def y(seconds_: float) -> float:
        return BOTTOM - (BOTTOM - TOP) * (seconds_ / scale - low) / (high - low)

    out = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" class="series" role="img">',
        f'<rect x="{LEFT}" y="{TOP}" width="{RIGHT - LEFT}" height="{BOTTOM - TOP}" class="area"/>',
    ]
    for t in ticks(low, high):
        ty = BOTTOM - (BOTTOM - TOP) * (t - low) / (high - low)
        out.append(f'<line x1="{LEFT}" x2="{RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 3}" y="{ty + 3:.1f}" class="tick">{sig3(t)}</text>')
    out.append(f'<text x="3" y="{TOP - 8}" class="unit">{name}</text>')
    band = [f"{x(p['run']):.1f},{y(h):.1f}" for p, h in zip(finite, highs, strict=True)]
    band += [
        f"{x(p['run']):.1f},{y(lo):.1f}" for p, lo in reversed(list(zip(finite, lows, strict=True)))
    ]
    out.append(f'<polygon points="{" ".join(band)}" class="band"/>')
    line = " ".join(f"{x(p['run']):.1f},{y(p['median_s']):.1f}" for p in finite)
    out.append(f'<polyline points="{line}" class="median"/>')
    for p, lo, hi in zip(finite, lows, highs, strict=True):
        tip = (
            f"{p['run']} ({_when(str(p['created']))}): {seconds(p['median_s'])} "
            f"[{seconds(lo)}, {seconds(hi)}]"
        )
        out.append(
            f'<circle cx="{x(p["run"]):.1f}" cy="{y(p["median_s"]):.1f}" r="2.2">'
            f"<title>{html.escape(tip)}</title></circle>"
        )
    for anchor, run, ratio in changes:
        cx = xi(run_index[run] - 0.5)
        out.append(
            f'<a href="#cp-{anchor}"><line x1="{cx:.1f}" x2="{cx:.1f}" y1="{TOP - 6}" '
            f'y2="{BOTTOM}" class="change"/><text x="{cx + 2:.1f}" y="{TOP - 8}" '
            f'class="change">{TIMES}{ratio:.2f}</text></a>'
        )
    first, last = str(finite[0]["created"]), str(finite[-1]["created"])
    out.append(f'<text x="{LEFT}" y="{BOTTOM + 14}" class="when">{_when(first)}</text>')
    if len(finite) > 1:
        end = f'<text x="{RIGHT}" y="{BOTTOM + 14}" class="when end">{_when(last)}</text>'
        out.append(end)
    out.append("</svg>")
    return "".join(out)
