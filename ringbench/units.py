"""How a number reads: three significant digits, a time in the unit that suits it.

One place for the formatting that the terminal tables, the figures, the
notebooks and the dashboard share: ``sig3`` never falls into exponent
notation (``0.00215``, ``2.94``, ``98.8``, ``2243``), ``unit`` picks the
largest unit that keeps a value at least 1. The terminal writes ``us``
(``format_seconds``), pages and figures ``µs`` (``seconds``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Units = Sequence[tuple[float, str]]
# In seconds: for pages and figures (``FIGURES`` adds whole seconds).
SECONDS: Units = [(1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")]
FIGURES: Units = [(1.0, "s"), *SECONDS]
# In seconds, ASCII: for the terminal.
TERMINAL: Units = [(1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")]


def sig3(x: float) -> str:
    """Three significant digits, without exponents: 0.00215, 2.94, 98.8, 2243."""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def unit(value: float, units: Units = SECONDS) -> tuple[float, str]:
    """The scale and name of the largest unit that keeps ``value`` at least 1
    (the smallest unit when none does)."""
    return next(((s, u) for s, u in units if abs(value) >= s), units[-1])


def seconds(value: float, missing: str = "-") -> str:
    """``231 ns``, ``52.0 µs``: a time in the unit that reads best."""
    if not math.isfinite(value):
        return missing
    scale, name = unit(value)
    return f"{sig3(value / scale)} {name}"


def format_seconds(value: float) -> str:
    """``2.31e-07`` -> ``231 ns``: three significant digits in the best unit, ASCII."""
    scale, name = unit(value, TERMINAL)
    return f"{value / scale:.3g} {name}"
