"""Results into DataFrames: overhead per environment and per mechanism, with intervals.

Every function takes and returns pandas DataFrames (DESIGN.md):

- :func:`load`: result directories into the tidy frame, one row per value;
- :func:`summarize`: median, 95% bootstrap interval and cv per (run, host, benchmark);
- :func:`overhead`: each environment against its baseline, with validity flags;
- :func:`mechanisms`: the cost of one ring transition, VM exit, MMU fault,
  device request, switch and page walk, per environment;
- :func:`validity`: what makes a comparison unsound;
- :func:`calibration`: the ratios whose truth is known by construction, against it;
- :func:`compare`: one run against another, host by host;
- :func:`references.beside_published`: measured ratios beside published ones.

Beside them: :mod:`.history` (the store's index), :mod:`.changepoints`,
:mod:`.regress` (the gate), :mod:`.plots` and :mod:`.export` (what
``ringbench overhead`` writes). The analysis imports only :mod:`ringbench`
(the results directory is read through :mod:`ringbench.results`).
"""

from analysis.calibration import calibration
from analysis.mechanisms import mechanisms
from analysis.overhead import compare, overhead
from analysis.stats import bootstrap, summarize
from analysis.tidy import load
from analysis.validity import validity

__all__ = [
    "bootstrap",
    "calibration",
    "compare",
    "load",
    "mechanisms",
    "overhead",
    "summarize",
    "validity",
]
