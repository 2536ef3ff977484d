"""How library code tells its caller how long work is going: one Protocol, shown by the CLI.

Library code never prints. Work that takes more than a moment (a run over
many hosts, the lab's build and boots, rendering the reports, indexing a
history) takes a :class:`Progress` and reports through it: a *task* per unit
the user waits for (a host, a build step, a notebook), steps as they are
done, a closing note, and messages. The command line implements it with
rich's live display (:mod:`runners.cli.progress`); tests record it or pass
:data:`SILENT`. Implementations must be safe to call from several threads.

Messages and descriptions are plain text, never markup: whatever a host sent
may be in them. :class:`Guarded` keeps a display that fails from failing the
work it shows.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Protocol


class Level(Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Progress(Protocol):
    """What long work reports as it goes."""

    def start(self, task: str, description: str, *, total: float | None = None) -> None:
        """Task ``task`` begins; ``total`` steps when known (None: a spinner)."""

    def update(
        self,
        task: str,
        *,
        advance: float = 0,
        completed: float | None = None,
        total: float | None = None,
        description: str | None = None,
    ) -> None:
        """Steps done (``advance`` more, or ``completed`` in all), a new total or description."""

    def finish(self, task: str, description: str, *, ok: bool = True) -> None:
        """The task ended (all its steps count as done); ``ok`` False when it failed."""

    def message(self, text: str, *, level: Level = Level.INFO) -> None:
        """A line for the user (a warning about a host, a failed benchmark)."""


class Silent:
    """A :class:`Progress` that shows nothing."""

    def start(self, task: str, description: str, *, total: float | None = None) -> None:
        del task, description, total

    def update(
        self,
        task: str,
        *,
        advance: float = 0,
        completed: float | None = None,
        total: float | None = None,
        description: str | None = None,
    ) -> None:
        del task, advance, completed, total, description

    def finish(self, task: str, description: str, *, ok: bool = True) -> None:
        del task, description, ok

    def message(self, text: str, *, level: Level = Level.INFO) -> None:
        del text, level


SILENT: Progress = Silent()


class Guarded:
    """A :class:`Progress` that hands what its ``inner`` display raises to ``failed(task,
    what, exc)`` instead of to the work being shown: a display going wrong never stops it."""

    def __init__(self, inner: Progress, failed: Callable[[str, str, Exception], None]) -> None:
        self.inner = inner
        self.failed = failed

    def _safely(self, task: str, show: Callable[[], None]) -> None:
        try:
            show()
        except Exception as exc:
            self.failed(task, "the progress display", exc)

    def start(self, task: str, description: str, *, total: float | None = None) -> None:
        self._safely(task, lambda: self.inner.start(task, description, total=total))

    def update(
        self,
        task: str,
        *,
        advance: float = 0,
        completed: float | None = None,
        total: float | None = None,
        description: str | None = None,
    ) -> None:
        self._safely(
            task,
            lambda: self.inner.update(
                task, advance=advance, completed=completed, total=total, description=description
            ),
        )

    def finish(self, task: str, description: str, *, ok: bool = True) -> None:
        self._safely(task, lambda: self.inner.finish(task, description, ok=ok))

    def message(self, text: str, *, level: Level = Level.INFO) -> None:
        self._safely("-", lambda: self.inner.message(text, level=level))
