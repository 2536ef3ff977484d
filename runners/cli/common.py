"""What every command shares: exit codes, argument types, options, the console, and
printing host text.

Everything a host sent is printed as plain text (:func:`say`, or a rich
``Text``), never as rich markup: a ``[/red]`` in a harness's message is shown
as it is, not interpreted.

Off a terminal (a file, a pipe, a CI log) the console is :data:`WIDE` columns
(``COLUMNS`` to choose), and a table is printed as wide as its longest words
need, a cell that must still narrow folding onto the next line, never cut with
an ellipsis (:class:`WholeTables`); on a terminal rich fits tables to the
terminal, as it always did.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path
from typing import Literal

from rich.console import Console, ConsoleOptions, ConsoleRenderable, RenderHook, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from ringbench.errors import UserError
from runners.plan import ConnectOptions

DEFAULT_INVENTORY = Path("inventory.yaml")
DEFAULT_RESULTS = Path("results")
WIDE = 200  # columns of a line written to a file or a log, when COLUMNS does not say
NARROWEST = 40  # a COLUMNS below this (or not a number) is not taken
UNBOUNDED = 1_000_000  # the width a table is measured in, to find its longest words


class ExitCode(IntEnum):
    """The process's exit status, one meaning each (the gate's names are aliases)."""

    OK = 0
    FAILED = 1  # a host or a benchmark failed; everything else was measured and stored
    USAGE = 2  # bad input: one line says what to fix
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: what was measured is kept
    REGRESSION = 1  # ringbench regress: the current run regressed
    INVALID = 2  # ringbench regress: the comparison cannot be judged


def log_width(columns: str | None) -> int:
    """The width of output that is not a terminal: ``COLUMNS`` when it is a number of at
    least :data:`NARROWEST`, else :data:`WIDE` (a wrong ``COLUMNS`` is no error)."""
    text = (columns or "").strip()
    if text.isdigit() and int(text) >= NARROWEST:
        return int(text)
    return WIDE


class WholeTable:
    """A table that is printed whole: at least as wide as its longest words, and where
    a column must still narrow, its text folds onto the next line instead of being cut
    with an ellipsis. Wider than the console when it has to be (lines are not cropped:
    the console soft-wraps)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = copy.copy(self.table)  # the caller's table is left as it was
        table.columns = [
            dataclasses.replace(c, overflow="fold") if c.overflow == "ellipsis" else c
            for c in table.columns
        ]
        least = Measurement.get(console, options.update_width(UNBOUNDED), table).minimum
        yield from console.render(table, options.update_width(max(options.max_width, least)))


class WholeTables(RenderHook):
    """Every table a console prints, printed as a :class:`WholeTable`."""

    def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
        return [WholeTable(r) if isinstance(r, Table) else r for r in renderables]


def make_console(*, terminal: bool, columns: str | None) -> Console:
    """The console the commands print on (standard output). On a terminal, rich's own:
    tables fit the terminal. Off a terminal: :func:`log_width` columns, and tables whole
    (:class:`WholeTables`): rich alone would squeeze them into 80 columns and cut
    their cells ("hardware-ass…"). Messages stay whole lines either way."""
    if terminal:
        return Console(soft_wrap=True)
    console = Console(soft_wrap=True, width=log_width(columns))
    console.push_render_hook(WholeTables())
    return console


def say(console: Console, text: str, style: str | None = None) -> None:
    """One line of plain text (markup in it is shown, not interpreted)."""
    console.print(Text(text, style=style or ""), soft_wrap=True, highlight=False)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit code 2, like every user error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message} (see --help)")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    if text.strip() == "0":
        return 0
    return positive_int(text)


def cpu_choice(text: str) -> int | Literal["auto"] | None:
    if text == "auto":
        return "auto"
    if text == "none":
        return None
    try:
        return non_negative_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a CPU number, auto or none") from None


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def add_inventory_sources(p: argparse.ArgumentParser) -> None:
    """``--inventory SOURCE``, repeatable: files or directories merged in the order given,
    as Ansible merges several ``-i``; :func:`inventory_sources` reads them."""
    p.add_argument(
        "--inventory",
        "-i",
        type=Path,
        action="append",
        metavar="SOURCE",
        help="an inventory file or directory; repeat to merge several in order "
        "(default inventory.yaml)",
    )


def inventory_sources(args: argparse.Namespace) -> tuple[Path, ...]:
    """The sources of :func:`add_inventory_sources`: as given, else the default."""
    given: Sequence[Path] | None = args.inventory
    return tuple(given) if given else (DEFAULT_INVENTORY,)


def add_results_option(p: argparse.ArgumentParser, *aliases: str) -> None:
    p.add_argument(
        "--results",
        *aliases,
        dest="results",
        type=Path,
        default=DEFAULT_RESULTS,
        metavar="DIR",
        help="the results directory (default results/)",
    )


def add_ssh_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--accept-new-host-keys",
        action="store_true",
        help="record unknown host keys (changed keys are still refused)",
    )
    p.add_argument(
        "--known-hosts",
        type=Path,
        metavar="FILE",
        help="the project's own known_hosts file (default ~/.config/ringbench/known_hosts)",
    )


def connect_options(args: argparse.Namespace) -> ConnectOptions:
    return ConnectOptions(
        accept_new_host_keys=args.accept_new_host_keys, known_hosts=args.known_hosts
    )
