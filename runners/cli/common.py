"""What every command shares: exit codes, argument types, options, and printing host text.

Everything a host sent is printed as plain text (:func:`say`, or a rich
``Text``), never as rich markup: a ``[/red]`` in a harness's message is shown
as it is, not interpreted.
"""

from __future__ import annotations

import argparse
import math
from enum import IntEnum
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.text import Text

from ringbench.errors import UserError
from runners.plan import ConnectOptions

DEFAULT_INVENTORY = Path("inventory.yaml")
DEFAULT_RESULTS = Path("results")


class ExitCode(IntEnum):
    """The process's exit status, one meaning each (the gate's names are aliases)."""

    OK = 0
    FAILED = 1  # a host or a benchmark failed; everything else was measured and stored
    USAGE = 2  # bad input: one line says what to fix
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: what was measured is kept
    REGRESSION = 1  # ringbench regress: the current run regressed
    INVALID = 2  # ringbench regress: the comparison cannot be judged


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


def add_inventory_option(p: argparse.ArgumentParser, help_text: str | None = None) -> None:
    p.add_argument(
        "--inventory",
        type=Path,
        default=DEFAULT_INVENTORY,
        help=help_text or "the inventory (default inventory.yaml)",
    )


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
