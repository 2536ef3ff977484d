"""One run, as a short pipeline per host: connect, deploy, probe, measure, store.

Machines run in parallel, the hosts of one machine one after another
(:mod:`runners.plan`). After every benchmark the host's pyperf suite and the
manifest are rewritten atomically, so an interruption or a failing host never
loses what was measured. A host that fails (unreachable, refused, timed out,
killed) is marked failed with its reason and the others go on.

:class:`Pipeline` carries out a :class:`~runners.plan.RunPlan` into a run
directory and returns each host's :class:`HostOutcome`, a frozen record;
what happens as it goes is told through a :class:`ringbench.progress.Progress`
(one task per host, one step per harness process).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import pyperf

from ringbench.errors import HostError, Interrupted, TransportError, UserError
from ringbench.progress import Level, Progress
from ringbench.results import (
    BenchEntry,
    BenchStatus,
    HostEntry,
    HostStatus,
    InventorySnapshot,
    Manifest,
    RunDir,
    RunStatus,
    utc_now,
)
from runners.deploy import deploy
from runners.execute import BenchMeasurement, BenchOutcome
from runners.hostfacts import Metadata
from runners.inventory import Host
from runners.plan import RunPlan, by_machine, connect
from runners.probe import probe_host
from runners.record import host_metadata, to_pyperf_benchmark
from runners.transport import Connection
from suites.build import BuildInfo
from suites.catalog import Benchmark

CHECK_TIMEOUT_S = 60.0
MAX_PARALLEL_MACHINES = 32
POLL_S = 0.2
# What fails one host and not the run: anything the host did, a problem of its own the user
# can fix (its working directory), a local file that could not be read or written for it.
HOST_FAILURES = (HostError, UserError, OSError)


@dataclass(frozen=True, slots=True)
class RunOrigin:
    """Where a run came from, as its manifest records it."""

    command: tuple[str, ...] = ()
    inventory: InventorySnapshot | None = None
    resumed_by: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class HostOutcome:
    """What became of one host: its status, its benchmarks, its timings."""

    host: str
    status: HostStatus = HostStatus.PENDING
    reason: str = ""
    started: str | None = None
    finished: str | None = None
    suite: str | None = None
    outcomes: tuple[BenchOutcome, ...] = ()
    kept: Mapping[str, BenchEntry] = field(default_factory=dict)  # of an earlier attempt
    warnings: tuple[str, ...] = ()
    deploy_path: str | None = None
    uploaded: bool = False
    timings: Mapping[str, float] = field(default_factory=dict)  # seconds, by step
    virt_class: str = ""  # as stored in the results: declared, else detected
    baseline: str | None = None

    def entry(self) -> HostEntry:
        """Its entry in the manifest."""
        benchmarks = dict(self.kept)
        benchmarks.update({o.bench.name: o.entry() for o in self.outcomes})
        return HostEntry(
            status=self.status,
            reason=self.reason,
            started=self.started,
            finished=self.finished,
            suite=self.suite,
            warnings=self.warnings,
            deploy_path=self.deploy_path,
            uploaded=self.uploaded,
            timings=dict(self.timings),
            virt_class=self.virt_class,
            benchmarks=benchmarks,
        )


def check_workdir(conn: Connection, workdir: str) -> None:
    """The harness creates and removes files in ``workdir``: make sure it can."""
    # One round trip; the directory is an argument of the fixed script, never its text.
    script = 'f=$(mktemp -p "$1" ringbench-check.XXXXXX) && rm -f -- "$f"'
    probe = conn.run(["sh", "-c", script, "sh", workdir], timeout_s=CHECK_TIMEOUT_S, check=False)
    if not probe.ok:
        raise UserError(
            f"{conn.host}: cannot create files in {workdir}: choose a writable directory with --dir"
        )


def inventory_snapshot(path: Path | None) -> InventorySnapshot | None:
    if path is None:
        return None
    try:
        return InventorySnapshot(str(path), path.read_text(encoding="utf-8"))
    except OSError:
        return InventorySnapshot(str(path), None)


class _HostState:
    """One host's outcome while the pipeline changes it (under the pipeline's lock)."""

    def __init__(self, host: str, kept: Mapping[str, BenchEntry]) -> None:
        self.now = HostOutcome(host, kept=dict(kept))

    def set(self, **changes: object) -> HostOutcome:
        self.now = dataclasses.replace(self.now, **changes)  # type: ignore[arg-type]
        return self.now

    def time(self, step: str, seconds: float) -> None:
        self.set(timings={**self.now.timings, step: round(seconds, 3)})


class Pipeline:
    """Carry out a :class:`RunPlan` into a run directory.

    ``previous`` is the manifest of the run being resumed and ``kept_suites``
    the benchmarks of its suites that are kept as they are
    (:mod:`runners.resume`).
    """

    def __init__(
        self,
        plan: RunPlan,
        run_dir: RunDir,
        build: BuildInfo,
        progress: Progress,
        origin: RunOrigin,
        *,
        previous: Manifest | None = None,
        kept_suites: Mapping[str, list[pyperf.Benchmark]] | None = None,
    ) -> None:
        self.plan = plan
        self.run_dir = run_dir
        self.build = build
        self.progress = progress
        self.origin = origin
        self.kept_suites = dict(kept_suites or {})
        self.created = (previous.created if previous else "") or utc_now()
        before = previous.hosts if previous else {}
        # On --resume, hosts with nothing left to measure keep their entries as they were.
        self.finished_hosts = {n: e for n, e in before.items() if n not in plan.host_names}
        self.states = {
            h.name: _HostState(
                h.name,
                {
                    name: entry
                    for name, entry in (
                        before[h.name].benchmarks if h.name in before else {}
                    ).items()
                    if name in plan.done.get(h.name, ())
                },
            )
            for h in plan.hosts
        }
        self.started = time.monotonic()
        self.stop = threading.Event()
        self.lock = threading.RLock()

    @property
    def outcomes(self) -> dict[str, HostOutcome]:
        return {name: state.now for name, state in self.states.items()}

    def manifest(self, status: RunStatus) -> None:
        with self.lock:
            hosts = {**self.finished_hosts, **{n: s.now.entry() for n, s in self.states.items()}}
            self.run_dir.write_manifest(
                Manifest(
                    run_id=self.run_dir.run_id,
                    status=status,
                    created=self.created,
                    updated=utc_now(),
                    elapsed_s=time.monotonic() - self.started,
                    config=dataclasses.asdict(self.plan.config),
                    params=self.plan.params,
                    benchmarks=tuple(b.name for b in self.plan.benchmarks),
                    build=self.build.to_json(),
                    hosts=hosts,
                    command=self.origin.command,
                    inventory=self.origin.inventory,
                    resumed_by=self.origin.resumed_by,
                )
            )

    def carry_out(self) -> dict[str, HostOutcome]:
        """Measure every host of the plan; raises :class:`Interrupted` on Ctrl-C, after the
        manifest says so."""
        self.manifest(RunStatus.RUNNING)
        groups = by_machine(self.plan.hosts)
        try:
            if len(groups) == 1:
                self.run_machine(groups[0])
            else:
                self.run_parallel(groups)
        except KeyboardInterrupt:
            self.stop.set()
            with self.lock:
                for state in self.states.values():
                    if state.now.status.active:
                        state.set(status=HostStatus.INTERRUPTED, finished=utc_now())
            self.manifest(RunStatus.INTERRUPTED)
            raise Interrupted(
                f"interrupted; the results measured so far are in {self.run_dir.path} "
                f"(continue with --resume {self.run_dir.run_id})"
            ) from None
        failed = any(s.now.status is HostStatus.FAILED for s in self.states.values()) or any(
            e.status is HostStatus.FAILED for e in self.finished_hosts.values()
        )
        self.manifest(RunStatus.FAILED if failed else RunStatus.COMPLETE)
        return self.outcomes

    def run_parallel(self, groups: list[list[Host]]) -> None:
        workers = min(len(groups), MAX_PARALLEL_MACHINES)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="machine")
        try:
            futures = [pool.submit(self.run_machine, group) for group in groups]
            pending = set(futures)
            while pending:  # short waits, so that Ctrl-C is seen at once
                done, pending = wait(pending, timeout=POLL_S, return_when=FIRST_EXCEPTION)
                for future in done:
                    future.result()
        finally:
            self.stop.set()  # machines still running stop after their current process
            pool.shutdown(wait=True, cancel_futures=True)

    def run_machine(self, hosts: list[Host]) -> None:
        for host in hosts:
            if self.stop.is_set():
                return
            self.run_host(host)

    def fail(self, state: _HostState, reason: str) -> None:
        with self.lock:
            state.set(status=HostStatus.FAILED, reason=reason, finished=utc_now())
        self.manifest(RunStatus.RUNNING)
        self.progress.finish(state.now.host, "failed", ok=False)
        self.progress.message(reason, level=Level.ERROR)

    def run_host(self, host: Host) -> None:
        state = self.states[host.name]
        state.set(status=HostStatus.RUNNING, started=utc_now())
        benchmarks = self.plan.remaining(host.name)
        total = max(1, len(benchmarks) * self.plan.config.processes)
        self.progress.start(host.name, "connecting", total=total)
        conn = connect(host, self.plan.connect)
        clock = time.monotonic()
        try:
            self.measure_host(host, conn, state, benchmarks)
        except HOST_FAILURES as exc:
            self.fail(state, str(exc))
        finally:
            conn.close()
            state.time("total_s", time.monotonic() - clock)

    def measure_host(
        self, host: Host, conn: Connection, state: _HostState, benchmarks: list[Benchmark]
    ) -> None:
        config = self.plan.config
        clock = time.monotonic()
        binary = deploy(conn, self.build)  # connects, on first use
        check_workdir(conn, config.workdir)
        state.set(deploy_path=binary.path, uploaded=binary.uploaded)
        state.time("connect_deploy_s", time.monotonic() - clock)
        clock = time.monotonic()
        found = probe_host(conn, host, binary.path)
        state.time("probe_s", time.monotonic() - clock)
        self.run_dir.write_probe(host.name, found.document)
        if found.warning:
            self.warn(state, found.warning)
        common = host_metadata(host, found, self.build, config)
        state.set(virt_class=str(common["virt_class"]), baseline=host.baseline)
        state.time("measure_s", 0.0)
        # Round robin: process 1 of every benchmark, then process 2 of every benchmark...
        # A host's slow phase (seconds long on shared and nested hosts) then lands on one
        # process of many benchmarks, which the median of process medians absorbs, instead
        # of on every process of one benchmark, which no statistic can tell from a change.
        turns = [
            BenchMeasurement(conn, binary.path, bench, config, self.plan.params.get(bench.name))
            for bench in benchmarks
        ]
        try:
            while any(t.pending for t in turns) and not self.stop.is_set():
                for turn in turns:
                    if self.stop.is_set() or not turn.pending:
                        continue
                    turn.step()
                    if turn.status is BenchStatus.SUCCESS:
                        self.progress.update(
                            host.name,
                            advance=1,
                            description=f"{turn.bench.name} {len(turn.done)}/{config.processes}",
                        )
                    if not turn.pending:
                        self.finish_bench(host.name, state, turn.outcome(), common)
        except KeyboardInterrupt:
            self.keep_begun(host.name, state, turns, common, "interrupted")
            raise
        except TransportError:
            self.keep_begun(host.name, state, turns, common, "host lost")
            raise
        if self.stop.is_set():
            self.keep_begun(host.name, state, turns, common, "stopped")
            return
        now = state.now
        measured = any(o.status is BenchStatus.SUCCESS for o in now.outcomes) or bool(
            self.kept_suites.get(host.name)
        )
        state.set(
            status=HostStatus.COMPLETE if measured else HostStatus.FAILED,
            reason="" if measured else "no benchmark could be measured",
            finished=utc_now(),
        )
        self.progress.finish(host.name, "done" if measured else "failed", ok=measured)
        if not measured:
            self.progress.message(f"{host.name}: no benchmark could be measured", level=Level.ERROR)

    def warn(self, state: _HostState, warning: str) -> None:
        state.set(warnings=(*state.now.warnings, warning))
        self.progress.message(f"{state.now.host}: {warning}", level=Level.WARNING)

    def keep_begun(
        self,
        host: str,
        state: _HostState,
        turns: list[BenchMeasurement],
        common: Metadata,
        why: str,
    ) -> None:
        """On a stop: store the processes of the benchmarks begun and not finished."""
        for turn in turns:
            if turn.pending and turn.done:
                self.finish_bench(host, state, turn.interrupted(why), common)

    def finish_bench(
        self, host: str, state: _HostState, outcome: BenchOutcome, common: Metadata
    ) -> None:
        """A benchmark's last process is done: store it, warn about the clock, report."""
        state.set(outcomes=(*state.now.outcomes, outcome))
        skews = [p.clock_skew_s for p in outcome.processes if not p.clock_ok]
        if skews and not any(w.startswith("clock") for w in state.now.warnings):
            self.warn(
                state,
                f"clock: the host's clock lay {max(skews):.2f} s outside the "
                f"controller's window around a process ({outcome.bench.name}); "
                "see clock_skew_s in the results",
            )
        state.time("measure_s", state.now.timings.get("measure_s", 0.0) + outcome.duration_s)
        stored = [*self.kept_suites.get(host, [])]
        stored += [to_pyperf_benchmark(o, common) for o in state.now.outcomes if o.processes]
        suite = self.run_dir.write_suite(host, stored)
        if suite is not None:
            state.set(suite=suite.name)
        self.manifest(RunStatus.RUNNING)
        # Processes that did not run (unsupported, failed) count as done.
        missing = max(0, self.plan.config.processes - len(outcome.processes))
        self.progress.update(host, advance=missing)
        if outcome.status is BenchStatus.FAILED:
            self.progress.message(
                f"{host} {outcome.bench.name}: {outcome.reason}", level=Level.ERROR
            )
