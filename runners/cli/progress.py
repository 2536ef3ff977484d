"""The live progress display: :class:`ringbench.progress.Progress` on a rich console.

One row per task (a host, a lab step, a notebook): its name, a bar (a
spinner while the total is unknown), steps done, time elapsed and what it is
doing. Messages print above the display. Descriptions and messages are plain
text: whatever a host sent is shown, never interpreted as markup. When the
console is not a terminal, rich prints no live display; messages and what
the command prints at its end stay readable lines.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as RichBar
from rich.text import Text

from ringbench.progress import Level

STYLES = {Level.INFO: "", Level.WARNING: "yellow", Level.ERROR: "red"}


class PlainDescription(ProgressColumn):
    """A task's description as plain text (never read as markup), in its task's style."""

    def render(self, task: Task) -> Text:
        return Text(task.description, style=str(task.fields.get("style", "")))


class LiveProgress:
    """Implements :class:`ringbench.progress.Progress`; a context manager; thread-safe.

    With ``delay_s``, the display appears only once the work has lasted that
    long (a dashboard of a small history needs none).
    """

    def __init__(self, console: Console, *, width: int = 14, delay_s: float = 0.0) -> None:
        self.console = console
        self.bar = RichBar(
            SpinnerColumn(),
            TextColumn(f"{{task.fields[key]:<{width}}}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            PlainDescription(),
            console=console,
            transient=delay_s > 0,
        )
        self.tasks: dict[str, TaskID] = {}
        self.lock = threading.Lock()
        self.delay_s = delay_s
        self.began = time.monotonic()
        self.live = False

    def __enter__(self) -> LiveProgress:
        if self.delay_s <= 0:
            self._show()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.live:
            self.bar.stop()
            self.live = False

    def _show(self) -> None:
        if not self.live:
            self.bar.start()
            self.live = True

    def _maybe_show(self) -> None:
        if not self.live and self.delay_s > 0 and time.monotonic() - self.began >= self.delay_s:
            self._show()

    def start(self, task: str, description: str, *, total: float | None = None) -> None:
        with self.lock:
            self._maybe_show()
            self.tasks[task] = self.bar.add_task(description, total=total, key=task, style="")

    def update(
        self,
        task: str,
        *,
        advance: float = 0,
        completed: float | None = None,
        total: float | None = None,
        description: str | None = None,
    ) -> None:
        with self.lock:
            self._maybe_show()
            if task not in self.tasks:
                self.tasks[task] = self.bar.add_task("", total=total, key=task, style="")
            changes: dict[str, object] = {"advance": advance}
            if completed is not None:
                changes["completed"] = completed
            if total is not None:
                changes["total"] = total
            if description is not None:
                changes["description"] = description
            self.bar.update(self.tasks[task], **changes)  # type: ignore[arg-type]

    def finish(self, task: str, description: str, *, ok: bool = True) -> None:
        with self.lock:
            if task not in self.tasks:
                self.tasks[task] = self.bar.add_task("", total=1, key=task, style="")
            tid = self.tasks[task]
            total = self.bar.tasks[self._index(tid)].total or 1
            style = "" if ok else "red"
            self.bar.update(tid, total=total, completed=total, description=description, style=style)

    def _index(self, tid: TaskID) -> int:
        return next(i for i, t in enumerate(self.bar.tasks) if t.id == tid)

    def message(self, text: str, *, level: Level = Level.INFO) -> None:
        line = Text(text, style=STYLES[level])
        with self.lock:
            self.bar.console.print(line, soft_wrap=True, highlight=False)
