"""The results directory's format version, shared by every file of a run, and its history.

``manifest.json`` carries it as ``format_version``, every pyperf suite as
the metadata ``ringbench_format``, ``<host>.probe.json`` as
``format_version``. A reader accepts the versions listed in ``READABLE``.

Format history:

- 1: first version: ``<host>.json`` (pyperf suite, one pyperf run per
  harness process), ``<host>.probe.json``, ``manifest.json`` (plan,
  inventory snapshot, build, per-host and per-benchmark status).
"""

from __future__ import annotations

RESULT_FORMAT = 1
READABLE = frozenset({1})
