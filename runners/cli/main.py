"""The entry point: parse, call the command, turn every error into one line and an exit code.

Each command group is a module of this package with an ``add_parser(sub)``
that declares its arguments beside the command and sets ``func`` (asv's
``commands/`` style); :func:`main` parses, calls ``args.func``, and is the
one place where exceptions become messages and exit codes:

=================================  =====  ===========================================
raised                             exit   printed
=================================  =====  ===========================================
nothing                            0/1/2  what the command returns (ExitCode)
``UserError`` (and bad arguments)  2      ``ringbench: error: MESSAGE``
``HostError`` that reached here    1      ``ringbench: error: MESSAGE``
``Interrupted``, Ctrl-C, SIGTERM   130    what was kept and where
=================================  =====  ===========================================

SIGTERM and SIGHUP stop a command as Ctrl-C does (:func:`signals_interrupt`): the
run's manifest says "interrupted", the harness processes it started are killed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType

from rich.console import Console

from ringbench import __version__
from ringbench.errors import HostError, Interrupted, UserError
from runners.cli import analysis, build, hosts, lab, reports, run, workload
from runners.cli.common import ExitCode, Parser, make_console, say

COMMAND_GROUPS = (build, run, hosts, lab, analysis, reports, workload)
# Signals that stop a command as Ctrl-C does (SIGINT is Python's KeyboardInterrupt already).
STOPPING = (signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`KeyboardInterrupt` in the main
    thread, so that every Ctrl-C path runs (what was measured is kept and said, the
    harness's process groups are killed). A signal the process was started ignoring
    (``nohup``) stays ignored; the default handlers are restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    installed = [sig for sig in STOPPING if signal.getsignal(sig) is signal.SIG_DFL]
    try:
        for sig in installed:
            signal.signal(sig, _interrupt)
        yield
    finally:
        for sig in installed:
            signal.signal(sig, signal.SIG_DFL)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ringbench", description="Measure what virtualization costs.")
    parser.add_argument("--version", action="version", version=f"ringbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in COMMAND_GROUPS:
        group.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Tables fit a terminal, and are printed whole in a file or a CI log.
    console = make_console(terminal=sys.stdout.isatty(), columns=os.environ.get("COLUMNS"))
    errors = Console(stderr=True)
    try:
        args = build_parser().parse_args(argv)
        with signals_interrupt():
            return int(args.func(console, args, argv))
    except UserError as exc:
        say(errors, f"ringbench: error: {exc}")
        return ExitCode.USAGE
    except HostError as exc:
        say(errors, f"ringbench: error: {exc}")
        return ExitCode.FAILED
    except Interrupted as exc:
        say(console, str(exc), "yellow")
        return ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        say(errors, "ringbench: interrupted")
        return ExitCode.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
