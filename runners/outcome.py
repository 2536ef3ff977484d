"""What a run records of each host as it goes: frozen outcomes, and the one mutable holder.

:class:`HostOutcome` is what the pipeline returns and the command line
shows; :class:`HostState` holds a host's current outcome while the pipeline
replaces it, field by field, under its lock. :class:`RunOrigin` is where the
run came from, as its manifest records it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from ringbench.results import BenchEntry, HostEntry, HostStatus, InventorySnapshot
from runners.execute import BenchOutcome


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
