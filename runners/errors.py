"""The errors ringbench raises.

Library code raises; only :mod:`runners.cli` prints them and exits. A
:class:`UserError` is something the user can fix (bad input, a missing tool):
its message is one line that says what is wrong and what to do.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the CLI prints its message as one line."""


class HarnessError(Exception):
    """The harness ran but failed or spoke outside its protocol."""


class ProtocolError(HarnessError):
    """The harness printed something that is not format-1 JSON lines."""


class UnsupportedBenchmark(HarnessError):
    """The harness says the benchmark cannot run on this host, and why."""

    def __init__(self, bench: str, reason: str) -> None:
        super().__init__(f"{bench} not supported: {reason}")
        self.bench = bench
        self.reason = reason
