"""Real workloads on the inventory's hosts: timed untraced, counted under ptrace, apart.

``ringbench workload`` (issue 17) runs each shipped workload (:mod:`suites.workloads`),
or a command of the user's, on every selected host with the deployed harness:

- **Counts** first: one ``ringbench-bench count`` of the command on each host, in a
  fresh directory prepared by the workload's ``setup``. The counts never feed a timed
  figure: counting stops the command twice per system call.
- **Times** then: ``repetitions`` fresh runs of ``ringbench-bench time`` per host, each
  in a fresh directory with its own untimed ``setup``, interleaved across the hosts
  (repetition k on every host before repetition k+1), as the microbenchmarks take turns,
  so that a slow phase of the machine falls on every host's k-th repetition alike.

A workload whose programs a host lacks is skipped there, with the packages to install;
a workload that fails (exit status, timeout, the host lost) is that host's failure for
that workload, one line, and the others go on. Whatever a host sends is parsed by
:mod:`suites.counting` (bounded, range-checked).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pyperf

from ringbench.errors import CommandError, HarnessError, HostError, ProtocolError, UserError
from ringbench.files import atomic_write_json
from ringbench.progress import SILENT, Level, Progress
from ringbench.results import RunDir
from ringbench.results.layout import checked_host
from ringbench.results.text import one_line
from runners.deploy import deploy
from runners.inventory import Host
from runners.plan import ConnectOptions, connect
from runners.transport import Connection
from suites.build import BuildInfo
from suites.counting import CommandCount, CommandTime, parse_count_output, parse_time_output
from suites.workloads import Workload

COMMAND_TIMEOUT_S = 60.0
WORKLOAD_TIMEOUT_S = 900.0  # one setup, timed run or counted run of a workload
GRACE_S = 30.0  # beyond the harness's own timeout: its reply over SSH
USER_WORKLOAD = "user-command"
MAX_COUNTS_BYTES = 16 * 2**20
PROGRESS_TASK = "workloads"


@dataclass(frozen=True, slots=True)
class Task:
    """What to run: a shipped workload, or the user's command (``argv``, no setup)."""

    name: str
    setup: list[str] | None
    argv: list[str]
    programs: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()

    @classmethod
    def of(cls, workload: Workload) -> Task:
        setup = workload.argv(workload.setup) if workload.setup else None
        argv = workload.argv(workload.command)
        return cls(workload.name, setup, argv, workload.programs, workload.packages)


@dataclass
class HostResult:
    """One task on one host: its timed repetitions, its count, or why there are none."""

    host: str
    task: str
    times: list[CommandTime] = field(default_factory=list)
    count: CommandCount | None = None
    skipped: str = ""
    failed: str = ""

    @property
    def usable(self) -> bool:
        return not self.skipped and not self.failed


class HostSession:
    """A connection to one host with the harness deployed and a scratch directory."""

    def __init__(self, host: Host, info: BuildInfo, options: ConnectOptions) -> None:
        self.host = host
        self.conn: Connection = connect(host, options)
        try:
            deployed = deploy(self.conn, info)
            self.binary = deployed.path
            where = ["-p", deployed.home] if deployed.home.startswith("/") else ["-t"]
            made = self.conn.run(
                ["mktemp", "-d", *where, ".ringbench-workloads.XXXXXX"],
                timeout_s=COMMAND_TIMEOUT_S,
            )
            self.scratch = made.stdout.strip()
            if not self.scratch.startswith("/"):
                raise HostError("mktemp -d gave no directory", host=host.name)
        except BaseException:
            self.conn.close()
            raise

    def missing(self, programs: Sequence[str]) -> list[str]:
        """The programs not found on the host's PATH (absolute ones: not executable)."""
        if not programs:
            return []
        script = 'for p; do command -v "$p" > /dev/null 2>&1 || printf "%s\\n" "$p"; done'
        out = self.conn.run(["sh", "-c", script, "sh", *programs], timeout_s=COMMAND_TIMEOUT_S)
        return [line for line in out.stdout.splitlines() if line in programs]

    def _harness(self, mode: str, directory: str, argv: list[str]) -> str:
        command = [self.binary, mode, "--dir", directory, "--timeout", f"{WORKLOAD_TIMEOUT_S:g}"]
        result = self.conn.run(
            [*command, "--", *argv], timeout_s=WORKLOAD_TIMEOUT_S + GRACE_S, check=False
        )
        return result.stdout

    def prepared(self, task: Task) -> str:
        """A fresh directory under the scratch directory, the task's setup run in it."""
        made = self.conn.run(["mktemp", "-d", "-p", self.scratch], timeout_s=COMMAND_TIMEOUT_S)
        directory = made.stdout.strip()
        if not directory.startswith(self.scratch + "/"):
            raise HostError("mktemp -d gave no directory", host=self.host.name)
        if task.setup:
            done = parse_time_output(self._harness("time", directory, task.setup))
            if not done.succeeded:
                raise HarnessError(f"{task.name}: its setup failed (exit {done.exit_code})")
        return directory

    def remove(self, directory: str) -> None:
        with contextlib.suppress(CommandError):
            self.conn.run(["rm", "-rf", "--", directory], timeout_s=COMMAND_TIMEOUT_S)

    def _ran(self, task: Task, mode: str) -> str:
        """The harness's output of one ``mode`` run of ``task`` in a fresh directory."""
        directory = self.prepared(task)
        try:
            return self._harness(mode, directory, task.argv)
        finally:
            self.remove(directory)

    def timed(self, task: Task) -> CommandTime:
        return parse_time_output(self._ran(task, "time"))

    def counted(self, task: Task) -> CommandCount:
        return parse_count_output(self._ran(task, "count"))

    def close(self) -> None:
        self.remove(self.scratch)
        self.conn.close()


def _attempt(result: HostResult, what: Callable[[], CommandTime | CommandCount]) -> None:
    """Run one counted or timed run of ``result``'s task and keep it; a failure of it (the
    command's exit status included) is the task's, on that host, and ends it there."""
    try:
        ran = what()
        if not ran.succeeded:
            how = f"signal {ran.signal}" if ran.signal else f"exit status {ran.exit_code}"
            raise HarnessError(f"the command ended with {how}")
    except (HarnessError, ProtocolError, CommandError, HostError) as exc:
        result.failed = f"{result.task} on {result.host}: {exc}"
        return
    if isinstance(ran, CommandCount):
        result.count = ran
    else:
        result.times.append(ran)


def run_tasks(
    sessions: dict[str, HostSession],
    tasks: Sequence[Task],
    repetitions: int,
    *,
    count_on: Sequence[str] | None = None,
    progress: Progress = SILENT,
    results: dict[tuple[str, str], HostResult] | None = None,
) -> dict[tuple[str, str], HostResult]:
    """Every task on every session's host: counted once (on ``count_on``, default every
    host), then ``repetitions`` timed runs taking turns across the hosts. ``results``, when
    given, is filled as the runs end, so that what was measured before an interruption
    is the caller's to keep."""
    results = {} if results is None else results
    counting = list(sessions) if count_on is None else list(count_on)
    steps = len(tasks) * (len([h for h in sessions if h in counting]) + repetitions * len(sessions))
    progress.start(PROGRESS_TASK, "workloads", total=steps)
    for task in tasks:
        for name, session in sessions.items():
            result = results[(task.name, name)] = HostResult(name, task.name)
            try:
                lacking = session.missing(task.programs)
            except HostError as exc:
                result.failed = f"{task.name} on {name}: {exc}"
                continue
            if lacking:
                packages = ", ".join(task.packages) or "its programs"
                result.skipped = f"{', '.join(lacking)} not found: install {packages}"
                progress.message(f"{task.name} on {name}: {result.skipped}", level=Level.WARNING)
        for name, session in sessions.items():
            result = results[(task.name, name)]
            if name in counting:
                progress.update(
                    PROGRESS_TASK, advance=1, description=f"{task.name}: counting on {name}"
                )
                if result.usable:
                    _attempt(result, partial(session.counted, task))
        for k in range(repetitions):
            for name, session in sessions.items():
                result = results[(task.name, name)]
                progress.update(
                    PROGRESS_TASK,
                    advance=1,
                    description=f"{task.name}: {k + 1} of {repetitions} on {name}",
                )
                if result.usable:
                    _attempt(result, partial(session.timed, task))
        for name in sessions:
            if results[(task.name, name)].failed:
                progress.message(results[(task.name, name)].failed, level=Level.WARNING)
    progress.finish(PROGRESS_TASK, "workloads")
    return results


# --- stored beside the run's microbenchmarks -------------------------------------------

COUNTS_SUFFIX = ".counts.json"


def _benchmark(task: str, times: Sequence[CommandTime]) -> pyperf.Benchmark:
    runs = [
        pyperf.Run(
            [t.wall_s],
            metadata={"name": f"workload-{task}", "unit": "second", "loops": 1},
            collect_metadata=False,
        )
        for t in times
    ]
    return pyperf.Benchmark(runs)


def store(run_dir: RunDir, results: Mapping[tuple[str, str], HostResult]) -> list[str]:
    """Write every host's results into ``run_dir``'s ``workloads/``: the timed repetitions
    as a pyperf suite (one benchmark ``workload-NAME`` per workload, one process per
    repetition) and everything measured, counted, skipped or failed in
    ``<host>.counts.json`` (format 1), merged with what an earlier ``ringbench workload``
    wrote there for other workloads. Returns the files written."""
    by_host: dict[str, dict[str, HostResult]] = {}
    for (task, host), result in results.items():
        by_host.setdefault(host, {})[task] = result
    written = []
    for host, tasks in by_host.items():
        checked_host(host)
        path = run_dir.workloads_dir / f"{host}{COUNTS_SUFFIX}"
        document = read_counts_document(path) or {"workloads": {}}
        for task, r in tasks.items():
            document["workloads"][task] = {
                "count": r.count.record() if r.count else None,
                "times": [t.record() for t in r.times],
                "skipped": r.skipped,
                "failed": r.failed,
            }
        run_dir.workloads_dir.mkdir(exist_ok=True)
        atomic_write_json(
            path, {"format_version": 1, "host": host, "workloads": document["workloads"]}
        )
        written.append(str(path))
        benches = [
            _benchmark(task, entry_times)
            for task, entry in sorted(document["workloads"].items())
            if (entry_times := [parse_time_output(json.dumps(t)) for t in entry["times"]])
        ]
        suite = run_dir.write_workloads(host, benches)
        if suite:
            written.append(str(suite))
    return written


def read_counts_document(path: Path) -> dict[str, Any] | None:
    """A ``<host>.counts.json`` as written by :func:`store`, every record checked again
    (:mod:`suites.counting`); None when there is none; :class:`UserError` naming the file
    when it cannot be read as one."""
    if not path.exists():
        return None
    try:
        if path.stat().st_size > MAX_COUNTS_BYTES:
            raise UserError(f"{path}: larger than {MAX_COUNTS_BYTES // 2**20} MiB")
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("format_version") != 1:
            raise UserError(f"{path}: not a workload counts file of format 1")
        workloads = doc.get("workloads")
        if not isinstance(workloads, dict):
            raise UserError(f"{path}: no 'workloads' table")
        for name, entry in workloads.items():
            if not isinstance(entry, dict):
                raise UserError(f"{path}: workload {str(name)[:40]!r} is not a table")
            if entry.get("count") is not None:
                parse_count_output(json.dumps(entry["count"]))
            for t in entry.get("times", []):
                parse_time_output(json.dumps(t))
            for key in ("skipped", "failed"):
                if not isinstance(entry.get(key, ""), str):
                    raise UserError(f"{path}: workload {name}: '{key}' is not text")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot be read: {one_line(exc)}") from None
    except (ProtocolError, HarnessError, TypeError) as exc:
        raise UserError(f"{path}: a record in it is out of format: {one_line(exc)}") from None
    return doc
