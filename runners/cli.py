"""The ``ringbench`` command: the only module that prints to the user and exits.

Each command is a plain function taking typed arguments (tests call them
directly, without argparse); :func:`main` parses the command line, calls one,
and turns a :class:`UserError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.table import Table

from runners import __version__
from runners.cmd_hosts import cmd_inventory_check, cmd_inventory_show, cmd_probe
from runners.cmd_lab import cmd_lab_down, cmd_lab_status, cmd_lab_up
from runners.cmd_run import EXIT_INTERRUPTED, EXIT_OK, cmd_run
from runners.errors import UserError
from runners.execute import DEFAULT, FAST, RunConfig
from runners.plan import ConnectOptions
from suites.build import build
from suites.catalog import load_catalog

EXIT_USAGE = 2
DEFAULT_INVENTORY = Path("inventory.yaml")


def cmd_build(console: Console, force: bool) -> int:
    info = build(force=force)
    console.print(f"built {info.path}")
    console.print(f"sha256 {info.sha256}  (sources {info.source_sha256[:12]}, {info.compiler})")
    return EXIT_OK


def cmd_list(console: Console, workdir: str) -> int:
    info = build()
    catalog = load_catalog(info.path, Path(workdir))
    table = Table(
        title=f"ringbench-bench {catalog.version} ({catalog.arch}), "
        f"{len(catalog.benchmarks)} benchmarks"
    )
    for column in ("benchmark", "family", "mechanism", "unit", "here", "what one operation is"):
        table.add_column(column)
    for b in catalog.benchmarks:
        here = "yes" if b.supported else f"no: {b.reason}"
        table.add_row(b.name, b.family, b.mechanism, b.unit, here, b.description)
    console.print(table)
    return EXIT_OK


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    if text.strip() == "0":
        return 0
    return _positive_int(text)


def _cpu_choice(text: str) -> int | Literal["auto"] | None:
    if text == "auto":
        return "auto"
    if text == "none":
        return None
    try:
        return _non_negative_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a CPU number, auto or none") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ringbench", description="Measure what virtualization costs.")
    parser.add_argument("--version", action="version", version=f"ringbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("build", help="build the static harness (cached)")
    p.add_argument("--force", action="store_true", help="rebuild even when cached")
    p = sub.add_parser("list", help="the catalog of benchmarks")
    p.add_argument("--dir", default=".", help="directory the file benchmarks would use")
    p = sub.add_parser("run", help="measure on this machine or on the inventory's hosts")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="this machine only, no inventory")
    where.add_argument(
        "--hosts",
        action="append",
        default=[],
        metavar="PATTERN",
        help="inventory hosts or groups to run on (repeatable; default all)",
    )
    p.add_argument("--inventory", type=Path, default=DEFAULT_INVENTORY)
    p.add_argument("--bench", action="append", default=[], metavar="NAME", help="repeatable")
    p.add_argument("--family", action="append", default=[], metavar="F", help="repeatable")
    p.add_argument("--fast", action="store_true", help="a quick look: fewer, shorter processes")
    p.add_argument("--processes", type=_positive_int)
    p.add_argument("--values", type=_positive_int)
    p.add_argument("--warmups", type=_non_negative_int)
    p.add_argument("--min-time", type=_positive_float, metavar="S")
    p.add_argument(
        "--cpu",
        type=_cpu_choice,
        default="auto",
        metavar="C|auto|none",
        help="pin every process to CPU C; auto (default): the host's last allowed "
        "CPU; none: no pinning",
    )
    p.add_argument("--dir", default=".", help="where file benchmarks create their files")
    p.add_argument("--param", action="append", default=[], metavar="BENCH:KEY=VALUE")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument(
        "--resume", metavar="RUN", help="measure only what RUN (id, path or 'latest') is missing"
    )
    _ssh_options(p)
    p = sub.add_parser("inventory", help="check or show the inventory")
    p.add_argument("action", choices=["check", "show"])
    p.add_argument("--inventory", type=Path, default=DEFAULT_INVENTORY)
    p.add_argument("--hosts", action="append", default=[], metavar="PATTERN")
    p = sub.add_parser("probe", help="what each host is: facts and virtualization layers")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="this machine only, no inventory")
    where.add_argument("--hosts", action="append", default=[], metavar="PATTERN")
    p.add_argument("--inventory", type=Path, default=DEFAULT_INVENTORY)
    p.add_argument("--json", action="store_true", help="print the probe documents as JSON")
    p.add_argument("--out", type=Path, metavar="DIR", help="write <host>.probe.json files here")
    _ssh_options(p)
    p = sub.add_parser("lab", help="the local lab: one host per environment class (root)")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument(
        "--inventory",
        type=Path,
        default=DEFAULT_INVENTORY,
        help="where 'up' writes the lab's hosts (default inventory.yaml)",
    )
    p.add_argument(
        "--lab-dir",
        type=Path,
        metavar="DIR",
        help="the lab's cache and state (default $RINGBENCH_LAB_DIR or /var/cache/ringbench-lab)",
    )
    p = sub.add_parser(
        "overhead", help="each environment against its baseline: ratios, mechanisms, validity"
    )
    p.add_argument("run", nargs="?", default="latest", help="run id or directory (default latest)")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument(
        "--out", type=Path, metavar="DIR", help="tables and figures (default <run>/analysis)"
    )
    p.add_argument("--no-plots", action="store_true", help="tables only, no figures")
    p = sub.add_parser("report", help="render the report notebooks of a run to HTML")
    p.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="the run to report on, after the runs to compare it with (default: the latest "
        "run, against the one before it)",
    )
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--out", type=Path, default=Path("reports/out"), metavar="DIR")
    p = sub.add_parser(
        "regress", help="the CI gate: exit 1 when the current run regressed, 2 when invalid"
    )
    p.add_argument("--baseline", required=True, metavar="RUN", help="run id, path or 'latest'")
    p.add_argument("--current", default="latest", metavar="RUN", help="default: latest")
    p.add_argument(
        "--threshold",
        type=_positive_float,
        metavar="PCT",
        help="smallest change that counts, in percent (default 15)",
    )
    p.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="write a Markdown summary here")
    p.add_argument("--store", "--results", dest="results", type=Path, default=Path("results"))
    p = sub.add_parser(
        "dashboard", help="a static HTML dashboard of every run's history, change points marked"
    )
    p.add_argument("--store", "--results", dest="results", type=Path, default=Path("results"))
    p.add_argument("--out", type=Path, default=Path("reports/out/dashboard"), metavar="DIR")
    p = sub.add_parser("compare", help="run B against run A, host by host")
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B")
    p.add_argument("--results", type=Path, default=Path("results"))
    return parser


def _ssh_options(p: argparse.ArgumentParser) -> None:
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


def config_from_args(args: argparse.Namespace) -> RunConfig:
    base = FAST if args.fast else DEFAULT
    return RunConfig(
        processes=args.processes or base.processes,
        values=args.values or base.values,
        warmups=base.warmups if args.warmups is None else args.warmups,
        min_time_s=args.min_time or base.min_time_s,
        cpu=args.cpu,
        workdir=args.dir,
        process_timeout_s=base.process_timeout_s,
    )


ANALYSIS_COMMANDS = {"overhead", "report", "regress", "dashboard", "compare"}


def analysis_command(console: Console, args: argparse.Namespace) -> int:
    """The commands that read results: imported here, so that pandas, scipy and matplotlib
    load only for them and not on every ``ringbench run``."""
    from runners import cmd_analysis as c

    if args.command == "overhead":
        return c.cmd_overhead(
            console, args.run, results=args.results, out=args.out, plots=not args.no_plots
        )
    if args.command == "report":
        return c.cmd_report(console, args.runs, results=args.results, out=args.out)
    if args.command == "regress":
        return c.cmd_regress(
            console,
            args.baseline,
            args.current,
            results=args.results,
            threshold_pct=args.threshold,
            junit=args.junit,
            markdown_out=args.markdown,
        )
    if args.command == "dashboard":
        return c.cmd_dashboard(console, args.results, args.out)
    return c.cmd_compare(console, args.run_a, args.run_b, results=args.results)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    console = Console(soft_wrap=True)  # messages stay whole lines; tables still fit
    errors = Console(stderr=True)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "build":
            return cmd_build(console, args.force)
        if args.command == "list":
            return cmd_list(console, args.dir)
        if args.command == "inventory":
            if args.action == "check":
                return cmd_inventory_check(console, args.inventory)
            return cmd_inventory_show(console, args.inventory, args.hosts)
        if args.command == "lab":
            if args.action == "up":
                return cmd_lab_up(console, inventory=args.inventory, lab_dir=args.lab_dir)
            if args.action == "down":
                return cmd_lab_down(console, lab_dir=args.lab_dir)
            return cmd_lab_status(console, lab_dir=args.lab_dir)
        if args.command == "probe":
            return cmd_probe(
                console,
                args.inventory,
                args.hosts,
                options=connect_options(args),
                local=args.local,
                as_json=args.json,
                out=args.out,
            )
        if args.command in ANALYSIS_COMMANDS:
            return analysis_command(console, args)
        return cmd_run(
            console,
            local=args.local,
            inventory=args.inventory,
            host_patterns=args.hosts,
            bench_names=args.bench,
            families=args.family,
            config=config_from_args(args),
            param_specs=args.param,
            results=args.results,
            connect_options=connect_options(args),
            resume=args.resume,
            argv=["ringbench", *argv],
        )
    except UserError as exc:
        errors.print(f"ringbench: error: {exc}", highlight=False, markup=False, soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        errors.print("ringbench: interrupted", highlight=False)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
