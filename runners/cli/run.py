"""``ringbench run``: measure on this machine or on an inventory's hosts, or resume a run."""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ringbench.errors import UserError
from ringbench.progress import Progress
from ringbench.results import BenchStatus, HostStatus, ResultStore, RunDir
from ringbench.results.text import printable
from ringbench.units import format_seconds
from runners.cli.common import (
    DEFAULT_INVENTORY,
    DEFAULT_RESULTS,
    ExitCode,
    add_inventory_sources,
    add_results_option,
    add_ssh_options,
    connect_options,
    cpu_choice,
    inventory_sources,
    non_negative_int,
    positive_float,
    positive_int,
    say,
)
from runners.cli.progress import LiveProgress
from runners.cli.tables import hosts_table, medians
from runners.execute import DEFAULT, FAST, BenchOutcome, RunConfig
from runners.inventory import Host, load_inventory
from runners.outcome import HostOutcome, RunOrigin
from runners.pipeline import Pipeline, check_workdir
from runners.plan import LOCAL_HOST, ConnectOptions, RunPlan, plan_hosts
from runners.precision import Precision, figure_half_width
from runners.resume import plan_resume, writing
from runners.snapshot import inventory_snapshot
from runners.transport import LocalConnection
from suites.build import build
from suites.catalog import Catalog, Sampling, load_catalog

SAID_AT_START = 20  # inventory warnings and hosts left out, shown before a run


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    add_inventory_sources(p)
    p.add_argument("--bench", action="append", default=[], metavar="NAME", help="repeatable")
    p.add_argument("--family", action="append", default=[], metavar="F", help="repeatable")
    p.add_argument("--fast", action="store_true", help="a quick look: fewer, shorter processes")
    p.add_argument("--processes", type=positive_int)
    p.add_argument("--values", type=positive_int)
    p.add_argument("--warmups", type=non_negative_int)
    p.add_argument("--min-time", type=positive_float, metavar="S")
    p.add_argument(
        "--cpu",
        type=cpu_choice,
        default="auto",
        metavar="C|auto|none",
        help="pin every process to CPU C; auto (default): the host's last allowed "
        "CPU; none: no pinning",
    )
    p.add_argument("--dir", default=".", help="where file benchmarks create their files")
    p.add_argument(
        "--process-timeout",
        type=positive_float,
        metavar="S",
        help="kill a harness process that has not returned after S seconds (default 120, "
        "more for long --values/--min-time); two benchmarks in a row timed out let the host go",
    )
    p.add_argument("--param", action="append", default=[], metavar="BENCH:KEY=VALUE")
    p.add_argument(
        "--precision",
        type=positive_float,
        metavar="PCT",
        help="keep adding processes (interleaved) until every figure's 95%% interval is "
        "within +-PCT%% of it, or --max-time runs out",
    )
    p.add_argument(
        "--max-time",
        type=positive_float,
        metavar="S",
        help="with --precision: the run's time budget in seconds (default 1800)",
    )
    add_results_option(p)
    p.add_argument(
        "--resume", metavar="RUN", help="measure only what RUN (id, path or 'latest') is missing"
    )
    add_ssh_options(p)
    p.set_defaults(func=_run)


# A harness process that has not returned after this long is killed (and two in a row let
# the host go): the slowest process of the default settings takes about 2 s (mem-chase-huge's
# first, calibrating; 1.7 s on a laptop), so 120 s is plenty and a hung host costs little.
PROCESS_TIMEOUT_S = 120.0
# Settings that ask for long processes get this many times what one should take: a
# calibration (about 2 values), the warmups and the values, each at least --min-time (a
# catalog's sampling multiplies the values by up to 4).
TIMEOUT_MARGIN = 50


def process_timeout(values: int, warmups: int, min_time_s: float) -> float:
    """How long one harness process of these settings may take before it is killed."""
    return max(PROCESS_TIMEOUT_S, TIMEOUT_MARGIN * (2 + warmups + values) * min_time_s)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    base = FAST if args.fast else DEFAULT
    values = args.values or base.values
    warmups = base.warmups if args.warmups is None else args.warmups
    min_time_s = args.min_time or base.min_time_s
    return RunConfig(
        processes=args.processes or base.processes,
        values=values,
        warmups=warmups,
        min_time_s=min_time_s,
        cpu=args.cpu,
        workdir=args.dir,
        process_timeout_s=args.process_timeout or process_timeout(values, warmups, min_time_s),
    )


def _run(console: Console, args: argparse.Namespace, argv: Sequence[str]) -> int:
    return cmd_run(
        console,
        local=args.local,
        inventory=inventory_sources(args),
        host_patterns=args.hosts,
        bench_names=args.bench,
        families=args.family,
        config=config_from_args(args),
        param_specs=args.param,
        results=args.results,
        connect_options=connect_options(args),
        resume=args.resume,
        precision=precision_from_args(args),
        argv=["ringbench", *argv],
    )


DEFAULT_MAX_TIME_S = 1800.0


def precision_from_args(args: argparse.Namespace) -> Precision | None:
    if args.precision is None:
        if args.max_time is not None:
            raise UserError("--max-time is the budget of --precision: give --precision PCT too")
        return None
    if args.precision >= 100:
        raise UserError(f"--precision {args.precision:g}: give a percentage below 100, e.g. 2")
    return Precision(args.precision / 100, args.max_time or DEFAULT_MAX_TIME_S)


def parse_params(specs: Sequence[str], catalog: Catalog) -> dict[str, dict[str, int]]:
    """``BENCH:KEY=VALUE`` options into ``{bench: {key: value}}``, checked against the catalog."""
    out: dict[str, dict[str, int]] = {}
    for spec in specs:
        bench_name, sep, rest = spec.partition(":")
        key, eq, raw = rest.partition("=")
        if not sep or not eq:
            raise UserError(
                f"--param {spec!r}: write BENCH:KEY=VALUE, e.g. mem-chase-4k:size_bytes=67108864"
            )
        bench = catalog.get(bench_name)
        known = {p.name for p in bench.params}
        if key not in known:
            names = ", ".join(sorted(known)) or "none"
            raise UserError(
                f"--param {spec!r}: {bench.name} has no parameter '{key}' (its parameters: {names})"
            )
        try:
            value = int(raw, 0)
        except ValueError:
            raise UserError(f"--param {spec!r}: '{raw}' is not an integer") from None
        if value < 0:
            raise UserError(f"--param {spec!r}: the value must not be negative")
        out.setdefault(bench.name, {})[key] = value
    return out


def cmd_run(
    console: Console,
    *,
    local: bool,
    inventory: Path | Sequence[Path] = (DEFAULT_INVENTORY,),
    host_patterns: Sequence[str] = (),
    bench_names: Sequence[str] = (),
    families: Sequence[str] = (),
    config: RunConfig = DEFAULT,
    param_specs: Sequence[str] = (),
    results: Path = DEFAULT_RESULTS,
    connect_options: ConnectOptions | None = None,
    resume: str | None = None,
    precision: Precision | None = None,
    argv: Sequence[str] = (),
) -> int:
    """Measure the selected benchmarks on the selected hosts into a new run directory,
    or, with ``resume``, measure what an earlier run is missing into its directory."""
    info = build()
    catalog = load_catalog(info.path)
    store = ResultStore(results)
    connect_options = connect_options or ConnectOptions()
    if resume is not None:
        run_dir = store.resolve(resume)
        with writing(run_dir):  # read and written by this process alone
            sources = [inventory] if isinstance(inventory, Path) else list(inventory)
            left = plan_resume(run_dir, info, catalog, sources, connect_options, tuple(argv))
            if left is None:
                say(
                    console,
                    f"{run_dir.run_id}: every host and benchmark is measured; nothing to do",
                )
                return ExitCode.OK
            names = ", ".join(h.name for h in left.plan.hosts)
            say(console, f"resuming {run_dir.run_id}: {left.missing} benchmark(s) on {names}")
            return _measure(
                console,
                lambda progress: Pipeline(
                    left.plan,
                    run_dir,
                    info,
                    progress,
                    left.origin,
                    previous=left.previous,
                    kept_suites=left.kept_suites,
                    precision=precision,
                ),
                run_dir.path,
                precision,
            )
    benchmarks = tuple(catalog.select(bench_names, families))
    params = parse_params(param_specs, catalog)
    if local:
        hosts: tuple[Host, ...] = (LOCAL_HOST,)
        snapshot = None
    else:
        inv = load_inventory(inventory)
        hosts = plan_hosts(inv.select(host_patterns))
        snapshot = inventory_snapshot(inv, hosts)
        notes = inv.notes()
        for line in notes[:SAID_AT_START]:
            say(console, printable(line), "yellow")
        if len(notes) > SAID_AT_START:
            unsaid = len(notes) - SAID_AT_START
            say(console, f"... and {unsaid} more: ringbench inventory check lists them", "yellow")
    if any(h.is_local for h in hosts):
        # Checked before the run directory exists: bad input leaves nothing behind.
        check_workdir(LocalConnection(), config.workdir)
    plan = RunPlan(
        hosts=hosts, benchmarks=benchmarks, config=config, params=params, connect=connect_options
    )
    new = store.create()
    more = [f"{b.name} {b.sampling}" for b in benchmarks if b.sampling != Sampling()]
    say(
        console,
        f"run {new.run_id}: {len(benchmarks)} benchmarks x {len(hosts)} host(s), "
        f"{config.processes} processes of {config.values} values each"
        + (f" ({'; '.join(more)})" if more else "")
        + f", min time {config.min_time_s} s",
    )
    origin = RunOrigin(command=tuple(argv), inventory=snapshot)
    with writing(new):  # a --resume of it meanwhile (of "latest") is refused
        return _measure(
            console,
            lambda progress: Pipeline(plan, new, info, progress, origin, precision=precision),
            new.path,
            precision,
        )


def _measure(
    console: Console,
    make: Callable[[Progress], Pipeline],
    path: Path,
    precision: Precision | None,
) -> int:
    """Carry the run out behind a live progress display, then summarise it."""
    with LiveProgress(console) as progress:
        outcomes = make(progress).carry_out()  # Interrupted goes up to the entry point
    code = report_outcomes(console, path, outcomes)
    if precision is not None:
        report_precision(console, outcomes, precision)
    return code


def report_precision(
    console: Console, outcomes: dict[str, HostOutcome], precision: Precision
) -> None:
    """Which figures reached the interval asked for, and which did not (with their width)."""
    short = []
    reached = 0
    for host in outcomes.values():
        for o in host.outcomes:
            if o.status is not BenchStatus.SUCCESS:
                continue
            medians = [p.result.median_s for p in o.processes]
            width = figure_half_width(host.host, o.bench.name, medians)
            if width <= precision.half_width:
                reached += 1
            else:
                shown = "too few processes" if math.isinf(width) else f"+-{width:.1%}"
                short.append(f"{host.host} {o.bench.name} ({shown}, {len(o.processes)} processes)")
    goal = f"+-{precision.half_width:.1%}"
    if not short:
        say(console, f"precision: all {reached} figures within {goal}")
        return
    say(
        console,
        f"precision: {reached} figures within {goal}; {len(short)} did not get there within "
        f"{precision.max_time_s:g} s: " + "; ".join(short),
        "yellow",
    )


def summary_table(host: str, outcomes: Sequence[BenchOutcome]) -> Table:
    table = Table(title=Text(f"{host}: median of all values; cv of the per-process medians"))
    table.add_column("benchmark", no_wrap=True)
    table.add_column("median", justify="right", no_wrap=True)
    table.add_column("per")
    table.add_column("cv(processes)", justify="right")
    table.add_column("processes", justify="right")
    table.add_column("status")
    figures = medians(outcomes)
    for o in outcomes:
        if o.status is BenchStatus.SUCCESS:
            per_process = [p.result.median_s for p in o.processes]
            cv = (
                statistics.stdev(per_process) / statistics.fmean(per_process)
                if len(per_process) > 1
                else math.nan
            )
            cells = [
                format_seconds(figures[o.bench.name]),
                o.bench.operation,
                f"{cv:.1%}" if not math.isnan(cv) else "-",
                str(len(o.processes)),
                "ok",
            ]
        else:
            cells = [
                "-",
                o.bench.operation,
                "-",
                str(len(o.processes)),
                f"{o.status.value}: {o.reason}",
            ]
        table.add_row(o.bench.name, *(Text(c) for c in cells))
    return table


def report_outcomes(console: Console, path: Path, outcomes: dict[str, HostOutcome]) -> int:
    failed = False
    several = sum(1 for h in outcomes.values() if h.outcomes) > 1
    if several:
        console.print(hosts_table(outcomes, full=f"ringbench overhead {path}"))
    for host in outcomes.values():
        if host.outcomes and not several:
            console.print(summary_table(host.host, host.outcomes))
        for o in host.outcomes:
            if o.status is not BenchStatus.SUCCESS and several:
                say(console, f"{host.host} {o.bench.name}: {o.status.value}: {o.reason}")
        if host.status is HostStatus.FAILED:
            failed = True
            say(console, f"{host.host}: failed: {host.reason}", "red")
        failed = failed or any(o.status is BenchStatus.FAILED for o in host.outcomes)
    stored = next((h.host for h in outcomes.values() if h.suite), None)
    if stored is None:
        say(console, f"results in {path}/")
    else:  # wherever the results layout keeps a host's suite
        example = RunDir(path).suite_path(stored)
        say(console, f"results in {path}/ (read them with: python -m pyperf stats {example})")
    if any(h.baseline for h in outcomes.values()):
        say(console, f"overhead against the baselines: ringbench overhead {path.name}")
    return ExitCode.FAILED if failed else ExitCode.OK
