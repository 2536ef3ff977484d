"""``ringbench workload``: real programs measured, counted and predicted in every environment.

Without a command: every shipped workload (``suites/workloads.toml``) on every
selected host of the inventory, counted on each host and timed in interleaved
repetitions, stored in the priced run's ``workloads/``; each environment's
time predicted from its baseline's counts and the run's microbenchmarks
(:mod:`analysis.workloads`) and printed beside the measurement, with the
terms, the median and the worst error; ``<run>/analysis/workloads.json``.

With ``-- CMD ARG...`` and ``--hosts BASELINE``: the user's command, counted
and timed on the baseline only, predicted for every environment of the run
whose baseline it is (``--measure`` runs it there too and gives the error).
The command's arguments are never written to a file (they may hold a secret):
only its program's name.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ringbench.errors import HostError, Interrupted, UserError
from ringbench.files import atomic_write_json
from ringbench.results import ResultStore
from ringbench.results.text import printable
from ringbench.units import format_seconds
from runners.cli.common import (
    ExitCode,
    add_inventory_sources,
    add_results_option,
    add_ssh_options,
    connect_options,
    inventory_sources,
    positive_int,
    say,
)
from runners.cli.progress import LiveProgress
from runners.inventory import Host, load_inventory
from runners.plan import ConnectOptions
from runners.workloads import USER_WORKLOAD, HostResult, HostSession, Task, run_tasks, store
from suites.build import build
from suites.workloads import load_workloads, select

DEFAULT_REPETITIONS = 3
EMULATED = "binary-translation"
WORKLOADS_FILE = "workloads.json"
TERMS_SHOWN = 3


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "workload",
        help="real workloads (or your command) measured and predicted in every environment",
    )
    add_inventory_sources(p)
    p.add_argument(
        "--hosts", nargs="+", default=[], metavar="PATTERN", help="the inventory's hosts to use"
    )
    add_results_option(p)
    p.add_argument("--run", default="latest", help="the run whose microbenchmarks price the events")
    p.add_argument(
        "--workloads", default="", metavar="A,B", help="shipped workloads to run (default all)"
    )
    p.add_argument("--repetitions", type=positive_int, default=DEFAULT_REPETITIONS)
    p.add_argument(
        "--measure", action="store_true", help="with a command: run it in every environment too"
    )
    p.add_argument(
        "--count-all",
        action="store_true",
        help="count on emulated hosts too (their counts explain misses; it takes minutes)",
    )
    add_ssh_options(p)
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARG...: your own command")
    p.set_defaults(func=_workload)


def _workload(console: Console, args: argparse.Namespace, argv: Sequence[str]) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    return cmd_workload(
        console,
        inventory=inventory_sources(args),
        host_patterns=args.hosts,
        results=args.results,
        run=args.run,
        workload_names=[n for n in args.workloads.split(",") if n],
        repetitions=args.repetitions,
        command=command,
        measure=args.measure,
        count_all=args.count_all,
        connect_options=connect_options(args),
    )


def cmd_workload(
    console: Console,
    *,
    inventory: Sequence[Path],
    host_patterns: Sequence[str] = (),
    results: Path,
    run: str = "latest",
    workload_names: Sequence[str] = (),
    repetitions: int = DEFAULT_REPETITIONS,
    command: Sequence[str] = (),
    measure: bool = False,
    count_all: bool = False,
    connect_options: ConnectOptions | None = None,
) -> int:
    import analysis

    run_dir = ResultStore(results).resolve(run)
    df = analysis.load(run_dir.path)
    from analysis.history import baselines

    pairs = baselines(df)
    measured_hosts = {str(h) for h in df["host"].unique()}
    inv = load_inventory(inventory)
    chosen = [h for h in inv.select(host_patterns) if h.name in measured_hosts]
    if command:
        if len(host_patterns) != 1 or len(chosen) != 1:
            raise UserError(
                "workload -- CMD: name the one baseline host to count and time it on "
                "(--hosts BASELINE)"
            )
        baseline = chosen[0].name
        envs = [h for h, b in pairs.items() if b == baseline]
        if not envs:
            raise UserError(
                f"{run_dir.run_id}: no host has {baseline} as its baseline: nothing to predict"
            )
        tasks = [Task(USER_WORKLOAD, None, list(command))]
        if measure:
            chosen += [h for h in inv.select(envs) if h.name in envs]
        count_on: list[str] | None = [baseline]
    else:
        tasks = [Task.of(w) for w in select(load_workloads(), list(workload_names))]
        # Counting under an emulator costs minutes and the model needs only the baselines'
        # counts: the other hosts are counted for the notebook's explanations of misses.
        count_on = [h.name for h in chosen if count_all or h.virt_class != EMULATED]
    if not chosen:
        raise UserError(
            f"no host of the inventory was measured in {run_dir.run_id}: run 'ringbench run' "
            "on them first (their microbenchmarks price the events)"
        )
    say(
        console,
        f"{len(tasks)} workload(s) x {len(chosen)} host(s), {repetitions} repetitions, "
        f"priced by run {run_dir.run_id}",
    )
    info = build()
    found: dict[tuple[str, str], HostResult] = {}
    try:
        left_out = _measure(console, chosen, info, connect_options or ConnectOptions(), tasks,
                            repetitions, count_on, found)  # fmt: skip
    except (Interrupted, KeyboardInterrupt):
        if not command:  # what was measured before the interruption is kept
            store(run_dir, {k: r for k, r in found.items() if r.times or r.count})
        raise
    from analysis.workloads import predictions, read_measurements

    if command:
        rows = predictions(df, _measured(found))
        for row in rows:
            row["workload"] = _program(command)
    else:
        for line in store(run_dir, found):
            say(console, f"wrote {line}")
        rows = predictions(df, read_measurements(run_dir))
    from analysis.workloads import document

    doc = document(run_dir.run_id, rows)
    _print(console, rows, doc["summary"])
    if not command:
        path = run_dir.analysis_dir / WORKLOADS_FILE
        run_dir.analysis_dir.mkdir(exist_ok=True)
        atomic_write_json(path, doc)
        say(console, f"wrote {path}")
    failed = left_out or any(r.failed for r in found.values())
    return ExitCode.FAILED if failed else ExitCode.OK


def _program(command: Sequence[str]) -> str:
    return Path(command[0]).name if command else ""


def _measure(
    console: Console,
    hosts: Sequence[Host],
    info: Any,  # noqa: ANN401 - BuildInfo
    options: ConnectOptions,
    tasks: Sequence[Task],
    repetitions: int,
    count_on: Sequence[str] | None,
    found: dict[tuple[str, str], HostResult],
) -> int:
    """Open a session on every host (one that cannot be reached or deployed to is left
    out, one line), run the tasks on the others into ``found``; how many were left out."""
    sessions: dict[str, HostSession] = {}
    try:
        for host in hosts:
            try:
                sessions[host.name] = HostSession(host, info, options)
            except HostError as exc:
                say(console, f"{host.name}: left out: {printable(str(exc))}", "yellow")
        with LiveProgress(console) as progress:
            run_tasks(
                sessions, tasks, repetitions, count_on=count_on, progress=progress, results=found
            )
        return len(hosts) - len(sessions)
    finally:
        for session in sessions.values():
            session.close()


def _measured(found: dict[tuple[str, str], HostResult]) -> dict[tuple[str, str], Any]:
    """What :func:`analysis.workloads.predictions` reads, from results in memory."""
    from analysis.workloads import Measured

    return {
        key: Measured(
            r.count.record() if r.count else None,
            tuple(t.record() for t in r.times),
            r.skipped,
            r.failed,
        )
        for key, r in found.items()
    }


def _interval(low: float, high: float) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return ""
    return f" [{format_seconds(low)}-{format_seconds(high)}]"


def _print(console: Console, rows: list[dict[str, Any]], summary: list[dict[str, Any]]) -> None:
    from analysis.workloads import term_text

    table = Table(title="workloads: predicted from the baseline's counts, and measured")
    for column in (
        "workload",
        "host",
        "baseline",
        "measured",
        "predicted",
        "error",
        "largest terms",
    ):
        table.add_column(column, overflow="fold")
    for r in rows:
        measured = r["measured_s"]
        shown = sorted(r["terms"], key=lambda t: -abs(float(t["seconds"])))[:TERMS_SHOWN]
        table.add_row(
            printable(str(r["workload"])),
            r["host"],
            f"{r['baseline']} {format_seconds(r['baseline_s'])}",
            (format_seconds(measured) + _interval(r["measured_low_s"], r["measured_high_s"]))
            if math.isfinite(measured)
            else "-",
            format_seconds(r["predicted_s"])
            + _interval(r["predicted_low_s"], r["predicted_high_s"]),
            f"{r['error'] * 100:+.1f}%" if math.isfinite(r["error"]) else "-",
            "; ".join(term_text(t) for t in shown),
        )
    console.print(table)
    for s in summary:
        say(
            console,
            f"{s['host']}: {s['workloads']} workloads, median |error| "
            f"{s['median_abs_error'] * 100:.1f}%, worst {s['worst_abs_error'] * 100:.1f}%, "
            f"{s['within_25'] * 100:.0f}% within 25%",
        )
