"""``ringbench run``: measure on this machine or on an inventory's hosts, or resume a run."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path

import pyperf
from rich.console import Console
from rich.table import Table

from runners.errors import UserError
from runners.execute import BenchOutcome, RunConfig, Status
from runners.inventory import Host, load_inventory
from runners.pipeline import HostOutcome, Run, RunInterrupted, check_workdir, inventory_snapshot
from runners.plan import LOCAL_HOST, ConnectOptions, RunPlan, plan_hosts
from runners.progress import ProgressReporter
from runners.store import ResultStore, RunDir
from runners.transport import LocalConnection
from runners.units import format_seconds
from suites.build import BuildInfo, build
from suites.catalog import Catalog, load_catalog

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


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
            medians = [statistics.median(v.value_s for v in p.result.values) for p in o.processes]
            cv = (
                statistics.stdev(medians) / statistics.fmean(medians)
                if len(medians) > 1
                else math.nan
            )
            table.add_row(
                o.bench.name,
                format_seconds(statistics.median(values)),
                o.bench.operation,
                f"{cv:.1%}" if not math.isnan(cv) else "-",
                str(len(o.processes)),
                "ok",
            )
        else:
            table.add_row(
                o.bench.name,
                "-",
                o.bench.operation,
                "-",
                str(len(o.processes)),
                f"{o.status.value}: {o.reason}",
            )
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
    connect_options: ConnectOptions | None = None,
    resume: str | None = None,
    argv: Sequence[str] = (),
) -> int:
    """Measure the selected benchmarks on the selected hosts into a new run directory,
    or, with ``resume``, measure what an earlier run is missing into its directory."""
    info = build()
    catalog = load_catalog(info.path)
    store = ResultStore(results)
    connect_options = connect_options or ConnectOptions()
    if resume is not None:
        return resume_run(
            console, store.resolve(resume), info, catalog, inventory, connect_options, argv
        )
    benchmarks = tuple(catalog.select(bench_names, families))
    params = parse_params(param_specs, catalog)
    if local:
        hosts: tuple[Host, ...] = (LOCAL_HOST,)
        snapshot = inventory_snapshot(None)
    else:
        hosts = plan_hosts(load_inventory(inventory).select(host_patterns))
        snapshot = inventory_snapshot(inventory)
    if any(h.is_local for h in hosts):
        # Checked before the run directory exists: bad input leaves nothing behind.
        check_workdir(LocalConnection(), config.workdir)
    plan = RunPlan(
        hosts=hosts, benchmarks=benchmarks, config=config, params=params, connect=connect_options
    )
    run_dir = store.create()
    console.print(
        f"run {run_dir.run_id}: {len(benchmarks)} benchmarks x {len(hosts)} host(s), "
        f"{config.processes} processes each, min time {config.min_time_s} s"
    )
    reporter = ProgressReporter(console)
    return execute(
        console, Run(plan, run_dir, info, reporter, {"command": list(argv), **snapshot}), reporter
    )


def execute(console: Console, run: Run, reporter: ProgressReporter) -> int:
    """Carry the run out behind a live progress display; summarise, or say where it stopped."""
    with reporter:
        try:
            outcomes = run.execute()
        except RunInterrupted as exc:
            console.print(f"[yellow]{exc}[/yellow]")
            return EXIT_INTERRUPTED
    return report_outcomes(console, run.run_dir.path, outcomes)


def resume_run(
    console: Console,
    run_dir: RunDir,
    info: BuildInfo,
    catalog: Catalog,
    inventory: Path,
    connect_options: ConnectOptions,
    argv: Sequence[str],
) -> int:
    """Measure only what ``run_dir`` lacks: hosts that failed or stopped, benchmarks missing."""
    manifest = run_dir.read_manifest()
    if manifest["build"]["sha256"] != info.sha256:
        raise UserError(
            f"{run_dir.path} was measured with harness "
            f"{manifest['build']['sha256'][:12]}, this checkout builds "
            f"{info.sha256[:12]}: resuming would mix binaries; start a new run"
        )
    config = RunConfig(**manifest["config"])
    benchmarks = tuple(catalog.get(name) for name in manifest["benchmarks"])
    recorded = manifest.get("inventory")
    if recorded is None:
        hosts: tuple[Host, ...] = (LOCAL_HOST,)
    else:
        inv = load_inventory(Path(recorded["path"]) if recorded.get("path") else inventory)
        hosts = plan_hosts([inv.get(name) for name in manifest["hosts"]])
    done: dict[str, frozenset[str]] = {}
    kept: dict[str, list[pyperf.Benchmark]] = {}
    todo = []
    for host in hosts:
        suite = run_dir.load_suite(host.name)
        stored = set(suite.get_benchmark_names()) if suite else set()
        entries = manifest["hosts"].get(host.name, {}).get("benchmarks", {})
        finished = frozenset(
            n
            for n, e in entries.items()
            if e["status"] in ("success", "unsupported")
            and (n in stored or e["status"] == "unsupported")
        )
        done[host.name] = finished
        kept[host.name] = [b for b in suite if b.get_name() in finished] if suite else []
        if any(b.name not in finished for b in benchmarks):
            todo.append(host)
    if not todo:
        console.print(f"{run_dir.run_id}: every host and benchmark is measured; nothing to do")
        return EXIT_OK
    plan = RunPlan(
        hosts=tuple(todo),
        benchmarks=benchmarks,
        config=config,
        params=manifest.get("params", {}),
        connect=connect_options,
        done=done,
    )
    missing = sum(len(plan.remaining(h.name)) for h in todo)
    console.print(
        f"resuming {run_dir.run_id}: {missing} benchmark(s) on {', '.join(h.name for h in todo)}"
    )
    extra = {
        "command": manifest.get("command", []),
        "inventory": recorded,
        "resumed_by": [*manifest.get("resumed_by", []), list(argv)],
    }
    reporter = ProgressReporter(console)
    run = Run(plan, run_dir, info, reporter, extra, previous=manifest, kept_suites=kept)
    return execute(console, run, reporter)


def _medians(host: HostOutcome) -> dict[str, float]:
    return {
        o.bench.name: statistics.median(v.value_s for p in o.processes for v in p.result.values)
        for o in host.outcomes
        if o.status is Status.SUCCESS
    }


def hosts_table(outcomes: dict[str, HostOutcome]) -> Table:
    """Every host side by side: median per operation, and x its baseline where it has one."""
    hosts = [h for h in outcomes.values() if h.outcomes]
    medians = {h.host: _medians(h) for h in hosts}
    table = Table(title="median per operation (x baseline)")
    table.add_column("benchmark", no_wrap=True)
    for h in hosts:
        table.add_column(
            f"{h.host}\n{h.virt_class or '?'}", justify="right", overflow="fold"
        )  # a narrow terminal wraps, never truncates
    names = list(dict.fromkeys(o.bench.name for h in hosts for o in h.outcomes))
    for name in names:
        row = [name]
        for h in hosts:
            value = medians[h.host].get(name)
            base = medians.get(h.baseline or "", {}).get(name) if h.baseline else None
            cell = format_seconds(value) if value is not None else "-"
            if value is not None and base:
                cell += f" x{value / base:.3g}"
            row.append(cell)
        table.add_row(*row)
    return table


def report_outcomes(console: Console, path: Path, outcomes: dict[str, HostOutcome]) -> int:
    failed = False
    several = sum(1 for h in outcomes.values() if h.outcomes) > 1
    if several:
        console.print(hosts_table(outcomes))
    for host in outcomes.values():
        if host.outcomes and not several:
            console.print(summary_table(host.host, host.outcomes))
        for o in host.outcomes:
            if o.status is not Status.SUCCESS and several:
                console.print(
                    f"{host.host} {o.bench.name}: {o.status.value}: {o.reason}", highlight=False
                )
        if host.status == "failed":
            failed = True
            console.print(f"[red]{host.host}: failed: {host.reason}[/red]")
        failed = failed or any(o.status is Status.FAILED for o in host.outcomes)
    console.print(f"results in {path}/ (read them with: python -m pyperf stats {path}/<host>.json)")
    if any(h.baseline for h in outcomes.values()):
        console.print(f"overhead against the baselines: ringbench overhead {path.name}")
    return EXIT_FAILED if failed else EXIT_OK
