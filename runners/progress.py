"""A rich progress bar for runs: one tick per harness process."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from runners.execute import BenchOutcome, Status
from runners.pipeline import HostOutcome


class ProgressReporter:
    """Implements :class:`runners.pipeline.Reporter` with a progress bar."""

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task("starting", total=total)
        self.planned: dict[str, int] = {}
        self.per_bench = 0

    def __enter__(self) -> ProgressReporter:
        self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.progress.stop()

    def host_started(self, host: str, benchmarks: int, processes: int) -> None:
        self.planned[host] = benchmarks * processes
        self.per_bench = processes
        self.progress.update(self.task, description=f"{host}")

    def process_done(self, host: str, bench: str, index: int) -> None:
        self.progress.update(self.task, advance=1, description=f"{host} {bench}")
        self.planned[host] -= 1

    def bench_done(self, host: str, outcome: BenchOutcome) -> None:
        # Processes that did not run (unsupported, failed) still count as done.
        missing = max(0, self.per_bench - len(outcome.processes))
        self.progress.update(self.task, advance=missing)
        self.planned[host] -= missing
        if outcome.status is Status.FAILED:
            self.console.print(f"[red]{host} {outcome.bench.name}: {outcome.reason}[/red]")

    def host_done(self, host: str, outcome: HostOutcome) -> None:
        self.progress.update(self.task, advance=max(0, self.planned.get(host, 0)))
        self.planned[host] = 0

