"""What readers and CI see: the report notebooks and the regression dashboard.

- ``*.ipynb``: the overhead report, one host in depth, the regressions;
  :mod:`.render` executes them headless and renders them to HTML, with
  :mod:`.views` shaping the analysis's frames for reading;
- :mod:`.dashboard` (with :mod:`.series_svg`): the static history page;
- :mod:`.check`: the notebooks are stored without outputs.

Imports :mod:`analysis` and :mod:`ringbench` only; the command line
(:mod:`runners.cli.reports`) drives it.
"""
