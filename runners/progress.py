"""A live progress display for runs: one bar per host, one tick per harness process."""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from runners.execute import BenchOutcome, Status
from runners.pipeline import HostOutcome


class ProgressReporter:
    """Implements :class:`runners.pipeline.Reporter`; safe to call from several threads."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.fields[host]:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
        )
        self.tasks: dict[str, TaskID] = {}
        self.per_bench: dict[str, int] = {}
        self.lock = threading.Lock()

    def __enter__(self) -> ProgressReporter:
        self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()

    def host_started(self, host: str, benchmarks: int, processes: int) -> None:
        with self.lock:
            self.per_bench[host] = processes
            self.tasks[host] = self.progress.add_task(
                "connecting", total=max(1, benchmarks * processes), host=host
            )

    def process_done(self, host: str, bench: str, index: int) -> None:
        self.progress.update(self.tasks[host], advance=1, description=bench)

    def bench_done(self, host: str, outcome: BenchOutcome) -> None:
        # Processes that did not run (unsupported, failed) count as done.
        missing = max(0, self.per_bench[host] - len(outcome.processes))
        self.progress.update(self.tasks[host], advance=missing)
        if outcome.status is Status.FAILED:
            self.console.print(f"[red]{host} {outcome.bench.name}: {outcome.reason}[/red]")

    def warn(self, host: str, message: str) -> None:
        self.console.print(f"[yellow]{host}: {message}[/yellow]", highlight=False)

    def host_done(self, host: str, outcome: HostOutcome) -> None:
        task = self.tasks[host]
        total = self.progress.tasks[task].total if task < len(self.progress.tasks) else None
        label = "done" if outcome.status == "complete" else f"[red]{outcome.status}[/red]"
        self.progress.update(task, completed=total, description=label)
        if outcome.status == "failed":
            self.console.print(f"[red]{outcome.reason}[/red]", highlight=False)
