"""What a run records of each host as it goes: frozen outcomes, the one mutable holder, the log.

:class:`HostOutcome` is what the pipeline returns and the command line
shows; :class:`HostState` holds a host's current outcome while the pipeline
replaces it, field by field, under its lock. :class:`RunOrigin` is where the
run came from, as its manifest records it. :class:`RunLog` is the run's
``run.log``: what went wrong where, with the tracebacks that a host's one-line
reason leaves out.

Format history of ``run.log`` (plain text, appended; its first line names the format):

1. first version: one header line per entry (``== TIME HOST: WHAT``), then its text.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ringbench.errors import HostError
from ringbench.files import locked
from ringbench.results import BenchEntry, HostEntry, HostStatus, InventorySnapshot, utc_now
from runners.execute import BenchOutcome

LOG_FORMAT = 1
LOG_LOCK_TIMEOUT_S = 5.0
REASON_CHARS = 200  # a host's reason in the manifest and on the terminal: one short line


def one_line(text: str, limit: int = REASON_CHARS) -> str:
    """``text`` as one printable line of at most ``limit`` characters (cut with "...")."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def failure_reason(exc: BaseException, *, expected: bool, log: Path) -> str:
    """What a host's failure says in one line: an expected failure (the host's or the
    user's, :data:`runners.pipeline.HOST_FAILURES`) its message; anything else its type and
    message, said to be an internal error whose traceback is in ``log``."""
    if expected:
        # a host's own error names the host; its reason, stored under the host, need not
        return one_line(exc.detail if isinstance(exc, HostError) else str(exc))
    where = f" (internal error, see {log})"
    return one_line(f"{type(exc).__name__}: {exc}", REASON_CHARS - len(where)) + where


@dataclass(frozen=True, slots=True)
class RunOrigin:
    """Where a run came from, as its manifest records it."""

    command: tuple[str, ...] = ()
    inventory: InventorySnapshot | None = None
    resumed_by: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class HostOutcome:
    """What became of one host: its status, its benchmarks, its timings."""

    host: str
    status: HostStatus = HostStatus.PENDING
    reason: str = ""
    started: str | None = None
    finished: str | None = None
    suite: str | None = None
    outcomes: tuple[BenchOutcome, ...] = ()
    kept: Mapping[str, BenchEntry] = field(default_factory=dict)  # of an earlier attempt
    warnings: tuple[str, ...] = ()
    deploy_path: str | None = None
    uploaded: bool = False
    timings: Mapping[str, float] = field(default_factory=dict)  # seconds, by step
    virt_class: str = ""  # as stored in the results: declared, else detected
    baseline: str | None = None

    def entry(self) -> HostEntry:
        """Its entry in the manifest."""
        benchmarks = dict(self.kept)
        benchmarks.update({o.bench.name: o.entry() for o in self.outcomes})
        return HostEntry(
            status=self.status,
            reason=self.reason,
            started=self.started,
            finished=self.finished,
            suite=self.suite,
            warnings=self.warnings,
            deploy_path=self.deploy_path,
            uploaded=self.uploaded,
            timings=dict(self.timings),
            virt_class=self.virt_class,
            benchmarks=benchmarks,
        )


class HostState:
    """One host's outcome while the pipeline changes it (under the pipeline's lock)."""

    def __init__(self, host: str, kept: Mapping[str, BenchEntry]) -> None:
        self.now = HostOutcome(host, kept=dict(kept))

    def set(self, **changes: object) -> HostOutcome:
        """Replace the fields ``changes`` names; the new outcome."""
        self.now = dataclasses.replace(self.now, **changes)  # type: ignore[arg-type]
        return self.now

    def time(self, step: str, seconds: float) -> None:
        """Record how long ``step`` took."""
        self.set(timings={**self.now.timings, step: round(seconds, 3)})


class RunLog:
    """The run's log file, appended to by every thread (and process) that writes the run.

    Each entry is appended under an interprocess lock on the file, as one write: a header
    line with the time and the host, then the text (a traceback). Writing the log never
    raises: a log that cannot be written must not take a host, or the run, down with it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, host: str, what: str, text: str = "") -> None:
        entry = f"== {utc_now()} {one_line(host, 100)}: {one_line(what, 1000)}\n"
        if text:
            entry += text if text.endswith("\n") else text + "\n"
        with (
            self._lock,
            contextlib.suppress(OSError),
            locked(self.path, timeout_s=LOG_LOCK_TIMEOUT_S),
            self.path.open("a", encoding="utf-8", errors="replace") as fp,
        ):
            if fp.tell() == 0:
                fp.write(f"# ringbench run log, format {LOG_FORMAT}\n")
            fp.write(entry)

    def exception(self, host: str, what: str, exc: BaseException) -> None:
        """An entry holding ``exc``'s traceback."""
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.append(host, what, text)
