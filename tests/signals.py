"""Signals as a user's terminal delivers them, whatever launched the tests."""

from __future__ import annotations

import signal


def as_from_a_terminal() -> None:
    """A ``preexec_fn``: SIGINT and SIGHUP back to their default disposition.

    A test suite started in the background (``cmd &`` without job control) or under
    ``nohup`` inherits SIGINT or SIGHUP ignored, and so would every process it starts:
    Python then installs no KeyboardInterrupt handler and ringbench rightly leaves an
    ignored SIGHUP ignored. The tests that send those signals mean the user's Ctrl-C and
    a closed terminal, so their processes start as a terminal's would.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
