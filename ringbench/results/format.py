"""The results directory's format version, shared by every file of a run, and its history.

``manifest.json`` carries it as ``format_version``, every pyperf suite as
the metadata ``ringbench_format``. A reader accepts the versions listed in
``READABLE``. (The probe document carries its own ``format_version``:
:mod:`runners.probe`.)

Format history:

- 1: first version: ``<host>.json`` (pyperf suite, one pyperf run per
  harness process), ``<host>.probe.json``, ``manifest.json`` (plan,
  inventory snapshot, build, per-host and per-benchmark status).
- 2: a host's files live where no host name can reach the run's own files
  or another host's: ``hosts/<host>.json`` and ``probes/<host>.json``
  (:mod:`ringbench.results.layout`), for host names that
  :func:`~ringbench.results.layout.host_file_problem` accepts. What a run
  holds is range-checked when it is read (:mod:`ringbench.results.read`,
  :mod:`ringbench.results.manifest`). Runs of format 1 are read as they
  are (their files at the run's root).
"""

from __future__ import annotations

RESULT_FORMAT = 2
READABLE = frozenset({1, 2})
