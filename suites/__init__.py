"""The microbenchmarks: the C sources of ``ringbench-bench`` and everything about its output.

- ``src/``: one table of benchmarks, one timing driver (``PROTOCOL.md`` is
  the contract of what the binary prints);
- :mod:`.build`: one static binary, reproducibly, cached by its sources;
- :mod:`.protocol`: the parsers of what the harness prints (``run``'s JSON
  lines, ``probe``), with the one format version;
- :mod:`.catalog`: the catalog as the harness lists it (``list``).

Imports only :mod:`ringbench`.
"""
