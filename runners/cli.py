"""The ``ringbench`` command: the only module that prints to the user and exits.

Each command is a plain function taking typed arguments (tests call them
directly, without argparse); :func:`main` parses the command line, calls one,
and turns a :class:`UserError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.table import Table

from runners import __version__
from runners.errors import UserError
from runners.execute import DEFAULT, FAST, BenchOutcome, RunConfig, Status
from runners.inventory import Host, load_inventory
from runners.pipeline import (
    HostOutcome,
    Run,
    RunInterrupted,
    RunPlan,
    check_workdir,
    inventory_snapshot,
    plan_hosts,
)
from runners.progress import ProgressReporter
from runners.store import ResultStore
from runners.transport import LocalConnection
from suites.build import build
from suites.catalog import Catalog, load_catalog

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_INVENTORY = Path("inventory.yaml")
LOCAL_HOST = Host(
    name="localhost", connection="local", address="localhost", user=None, port=22,
    key_file=None, ssh_common_args=None, virt_class=None, machine="localhost",
    baseline=None, hypervisor=None, groups=(), line=0,
)


def format_seconds(value: float) -> str:
    """``2.31e-07`` -> ``231 ns``: three significant digits in the best unit."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if value >= scale or unit == "ns":
            return f"{value / scale:.3g} {unit}"
    raise AssertionError("unreachable")


def cmd_build(console: Console, force: bool) -> int:
    info = build(force=force)
    console.print(f"built {info.path}")
    console.print(f"sha256 {info.sha256}  (sources {info.source_sha256[:12]}, {info.compiler})")
    return EXIT_OK


def cmd_list(console: Console, workdir: str) -> int:
    info = build()
    catalog = load_catalog(info.path, Path(workdir))
    table = Table(title=f"ringbench-bench {catalog.version} ({catalog.arch}), "
                        f"{len(catalog.benchmarks)} benchmarks")
    for column in ("benchmark", "family", "mechanism", "unit", "here", "what one operation is"):
        table.add_column(column)
    for b in catalog.benchmarks:
        here = "yes" if b.supported else f"no: {b.reason}"
        table.add_row(b.name, b.family, b.mechanism, b.unit, here, b.description)
    console.print(table)
    return EXIT_OK


def parse_params(specs: Sequence[str], catalog: Catalog) -> dict[str, dict[str, int]]:
    """``BENCH:KEY=VALUE`` options into ``{bench: {key: value}}``, checked against the catalog."""
    out: dict[str, dict[str, int]] = {}
    for spec in specs:
        bench_name, sep, rest = spec.partition(":")
        key, eq, raw = rest.partition("=")
        if not sep or not eq:
            raise UserError(f"--param {spec!r}: write BENCH:KEY=VALUE, e.g. "
                            "mem-chase-4k:size_bytes=67108864")
        bench = catalog.get(bench_name)
        known = {p.name for p in bench.params}
        if key not in known:
            names = ", ".join(sorted(known)) or "none"
            raise UserError(f"--param {spec!r}: {bench.name} has no parameter '{key}' "
                            f"(its parameters: {names})")
        try:
            value = int(raw, 0)
        except ValueError:
            raise UserError(f"--param {spec!r}: '{raw}' is not an integer") from None
        if value < 0:
            raise UserError(f"--param {spec!r}: the value must not be negative")
        out.setdefault(bench.name, {})[key] = value
    return out


def summary_table(host: str, outcomes: list[BenchOutcome]) -> Table:
    table = Table(title=f"{host}: median of all values; cv of the per-process medians")
    table.add_column("benchmark", no_wrap=True)
    table.add_column("median", justify="right", no_wrap=True)
    table.add_column("per")
    table.add_column("cv(processes)", justify="right")
    table.add_column("processes", justify="right")
    table.add_column("status")
    for o in outcomes:
        if o.status is Status.SUCCESS:
            values = [v.value_s for p in o.processes for v in p.result.values]
            medians = [statistics.median(v.value_s for v in p.result.values)
                       for p in o.processes]
            cv = (statistics.stdev(medians) / statistics.fmean(medians)
                  if len(medians) > 1 else math.nan)
            table.add_row(o.bench.name, format_seconds(statistics.median(values)),
                          o.bench.operation, f"{cv:.1%}" if not math.isnan(cv) else "-",
                          str(len(o.processes)), "ok")
        else:
            table.add_row(o.bench.name, "-", o.bench.operation, "-", str(len(o.processes)),
                          f"{o.status.value}: {o.reason}")
    return table


def cmd_run(
    console: Console,
    *,
    local: bool,
    inventory: Path,
    host_patterns: Sequence[str],
    bench_names: Sequence[str],
    families: Sequence[str],
    config: RunConfig,
    param_specs: Sequence[str],
    results: Path,
    argv: Sequence[str] = (),
) -> int:
    """Measure the selected benchmarks on the selected hosts into a new run directory."""
    info = build()
    catalog = load_catalog(info.path)
    benchmarks = tuple(catalog.select(bench_names, families))
    params = parse_params(param_specs, catalog)
    if local:
        hosts: tuple[Host, ...] = (LOCAL_HOST,)
        snapshot = inventory_snapshot(None)
    else:
        inv = load_inventory(inventory)
        hosts = plan_hosts(inv.select(host_patterns))
        snapshot = inventory_snapshot(inventory)
    if any(h.is_local for h in hosts):
        # Checked before the run directory exists: bad input leaves nothing behind.
        check_workdir(LocalConnection(), config.workdir)
    plan = RunPlan(hosts=hosts, benchmarks=benchmarks, config=config, params=params)
    run_dir = ResultStore(results).create()
    console.print(f"run {run_dir.run_id}: {len(benchmarks)} benchmarks x {len(hosts)} host(s), "
                  f"{config.processes} processes each, min time {config.min_time_s} s")
    extra = {"command": list(argv), **snapshot}
    with ProgressReporter(console, total=len(hosts) * len(benchmarks) * config.processes) as rep:
        try:
            outcomes = Run(plan, run_dir, info, rep, extra).execute()
        except RunInterrupted as exc:
            console.print(f"[yellow]{exc}[/yellow]")
            return EXIT_INTERRUPTED
    return report_outcomes(console, run_dir.path, outcomes)


def report_outcomes(console: Console, path: Path, outcomes: dict[str, HostOutcome]) -> int:
    failed = False
    for host in outcomes.values():
        if host.outcomes:
            console.print(summary_table(host.host, host.outcomes))
        if host.status == "failed":
            failed = True
            console.print(f"[red]{host.host}: failed: {host.reason}[/red]")
        failed = failed or any(o.status is Status.FAILED for o in host.outcomes)
    console.print(f"results in {path}/ (read them with: python -m pyperf stats {path}/<host>.json)")
    return EXIT_FAILED if failed else EXIT_OK


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
    where.add_argument("--hosts", action="append", default=[], metavar="PATTERN",
                       help="inventory hosts or groups to run on (repeatable; default all)")
    p.add_argument("--inventory", type=Path, default=DEFAULT_INVENTORY)
    p.add_argument("--bench", action="append", default=[], metavar="NAME", help="repeatable")
    p.add_argument("--family", action="append", default=[], metavar="F", help="repeatable")
    p.add_argument("--fast", action="store_true", help="a quick look: fewer, shorter processes")
    p.add_argument("--processes", type=_positive_int)
    p.add_argument("--values", type=_positive_int)
    p.add_argument("--warmups", type=_non_negative_int)
    p.add_argument("--min-time", type=_positive_float, metavar="S")
    p.add_argument("--cpu", type=_cpu_choice, default="auto", metavar="C|auto|none",
                   help="pin every process to CPU C; auto (default): the host's last allowed "
                        "CPU; none: no pinning")
    p.add_argument("--dir", default=".", help="where file benchmarks create their files")
    p.add_argument("--param", action="append", default=[], metavar="BENCH:KEY=VALUE")
    p.add_argument("--results", type=Path, default=Path("results"))
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    console = Console()
    errors = Console(stderr=True)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "build":
            return cmd_build(console, args.force)
        if args.command == "list":
            return cmd_list(console, args.dir)
        return cmd_run(
            console, local=args.local, inventory=args.inventory, host_patterns=args.hosts,
            bench_names=args.bench, families=args.family, config=config_from_args(args),
            param_specs=args.param, results=args.results, argv=["ringbench", *argv],
        )
    except UserError as exc:
        errors.print(f"ringbench: error: {exc}", highlight=False, markup=False, soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        errors.print("ringbench: interrupted", highlight=False)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
