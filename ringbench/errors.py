"""The errors ringbench raises: one hierarchy, caught once by the command line.

Library code raises; only the command line (:mod:`runners.cli`) turns an
error into one line on the terminal and an exit code. Two kinds matter to
a caller:

- :class:`UserError`: something the user can fix (bad input, a missing tool,
  a run that cannot be found); its message is one line that says what is
  wrong and what to do.
- :class:`HostError`: something went wrong on or with one host (it cannot
  be reached, a command failed, the harness cannot be deployed or speaks
  outside its protocol). A run fails that host with the message and goes on
  with the others; the message starts with the host's name when it is known.

::

    RingbenchError
    ├── UserError
    ├── HostError
    │   ├── TransportError (AuthFailure, HostKeyUnknown, HostKeyChanged)
    │   ├── CommandError (UnexpectedExit, CommandTimedOut: runners.transport)
    │   ├── DeployError
    │   └── HarnessError (ProtocolError, UnsupportedBenchmark)
    └── Interrupted
"""

from __future__ import annotations

from typing import Protocol


class RingbenchError(Exception):
    """The root of every error ringbench raises on purpose."""


class UserError(RingbenchError):
    """A problem the user can fix; the command line prints its message as one line."""


class Interrupted(RingbenchError):
    """The user stopped the work (Ctrl-C, SIGTERM); the message says what was kept and where."""


class HostError(RingbenchError):
    """A failure on or with one host; ``host`` is its name ("" where the raiser cannot know
    it, as in a pure parser of the harness's output; its caller names the host)."""

    def __init__(self, message: str, *, host: str = "") -> None:
        super().__init__(f"{host}: {message}" if host else message)
        self.host = host
        self.detail = message


class TransportError(HostError):
    """The host could not be reached, or the connection was lost."""


class AuthFailure(TransportError):
    """The host refused every key offered."""


class HostKeyUnknown(TransportError):
    """The host's key is in no known_hosts file, and new keys are not accepted."""


class HostKeyChanged(TransportError):
    """The host's key differs from the one recorded: refused, always."""


class Output(Protocol):
    """What a command error keeps of the command (``runners.transport.Result``)."""

    @property
    def command(self) -> tuple[str, ...]: ...

    @property
    def stdout(self) -> str: ...

    @property
    def stderr(self) -> str: ...

    @property
    def exited(self) -> int: ...


class CommandError(HostError):
    """A command on the host failed; ``result`` says what ran and how it ended."""

    def __init__(self, message: str, *, host: str, result: Output) -> None:
        super().__init__(message, host=host)
        self.result = result


class DeployError(HostError):
    """The host cannot run the harness (another architecture, a hash that does not match)."""


class HarnessError(HostError):
    """The harness ran but failed, or spoke outside its protocol."""


class ProtocolError(HarnessError):
    """The harness printed something that is not its protocol (``suites/PROTOCOL.md``)."""


class UnsupportedBenchmark(HarnessError):
    """The harness says the benchmark cannot run on this host, and why."""

    def __init__(self, bench: str, reason: str, *, host: str = "") -> None:
        super().__init__(f"{bench} not supported: {reason}", host=host)
        self.bench = bench
        self.reason = reason
