"""One run: every host connected, deployed and probed, then measured in turns, and stored.

Machines run in parallel; the hosts of one machine are never measured at the
same time, but they take turns process by process (:meth:`Pipeline.run_machine`):
process k of every benchmark on every host of the machine before process
k+1, each benchmark's processes on each host one after the other. A guest
and its baseline are then measured seconds apart, not minutes, so a slow
phase of the machine (seconds to minutes long on shared and nested hosts)
lands on both, which their ratio cancels, and on one process of many
benchmarks, which the median of process medians absorbs, instead of on every
process of one benchmark, which no statistic can tell from a change.

With ``--precision`` (:class:`~runners.precision.Precision`), rounds go on,
still interleaved, for the figures whose 95% interval is wider than asked,
until each is narrow enough or the time budget is spent.

After every benchmark the host's pyperf suite and the manifest are rewritten
atomically, so an interruption or a failing host never loses what was
measured. A host that fails (unreachable, refused, timed out, killed, or
anything at all raised while it is connected, deployed, probed or measured)
is marked failed with a one-line reason, the whole story in the run's log,
and the others go on; a host whose benchmarks time out twice in a row has
stopped answering and is let go with what it measured
(:data:`TIMEOUTS_IN_A_ROW`). What happens is told through a
:class:`ringbench.progress.Progress` (one task per host, one step per harness
process); a display that fails is logged, never fatal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import pyperf

from ringbench.errors import HostError, Interrupted, TransportError, UserError
from ringbench.progress import Guarded, Level, Progress
from ringbench.results import (
    BenchStatus,
    HostEntry,
    HostStatus,
    Manifest,
    RunDir,
    RunStatus,
    utc_now,
)
from runners.affinity import controller_kept_to
from runners.deploy import deploy
from runners.execute import BenchMeasurement, BenchOutcome
from runners.hostfacts import Metadata
from runners.inventory import Host
from runners.outcome import (
    HostOutcome,
    HostState,
    RunLog,
    RunOrigin,
    failure_reason,
    one_line,
)
from runners.plan import RunPlan, by_machine, connect
from runners.precision import Precision, figure_half_width
from runners.probe import probe_host
from runners.record import host_metadata, to_pyperf_benchmark
from runners.transport import Connection
from suites.build import BuildInfo

CHECK_TIMEOUT_S = 60.0
MAX_PARALLEL_MACHINES = 32
POLL_S = 0.2
# What fails one host and not the run: anything the host did, a problem of its own the user
# can fix (its working directory), a local file that could not be read or written for it.
HOST_FAILURES = (HostError, UserError, OSError)
# A host whose benchmarks end by a timeout this many times in a row, no process returning in
# between, has stopped answering: it is let go, what it measured kept, instead of holding its
# machine for a timeout per benchmark left.
TIMEOUTS_IN_A_ROW = 2
HOST_LEFT = f"{TIMEOUTS_IN_A_ROW} benchmarks in a row timed out: host left, the results so far kept"

__all__ = [
    "HOST_FAILURES",
    "HOST_LEFT",
    "HostLeft",
    "HostOutcome",
    "Pipeline",
    "RunOrigin",
    "check_workdir",
]


def check_workdir(conn: Connection, workdir: str) -> None:
    """The harness creates and removes files in ``workdir``: make sure it can."""
    # One round trip; the directory is an argument of the fixed script, never its text.
    script = 'f=$(mktemp -p "$1" ringbench-check.XXXXXX) && rm -f -- "$f"'
    probe = conn.run(["sh", "-c", script, "sh", workdir], timeout_s=CHECK_TIMEOUT_S, check=False)
    if not probe.ok:
        raise UserError(
            f"{conn.host}: cannot create files in {workdir}: choose a writable directory with --dir"
        )


class HostLeft(HostError):
    """The host stopped answering: benchmarks timed out one after another."""


@dataclass(slots=True)
class _Live:
    """A host of the machine being measured: its connection, its metadata, its benchmarks."""

    host: Host
    conn: Connection
    state: HostState
    common: Metadata = field(default_factory=dict)
    turns: dict[str, BenchMeasurement] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    timeouts: int = 0  # benchmarks ended by a timeout since a process last returned


def _close(conn: Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()


class Pipeline:
    """Carry out a :class:`RunPlan` into a run directory.

    ``previous`` is the manifest of the run being resumed and ``kept_suites``
    the benchmarks of its suites that are kept as they are
    (:mod:`runners.resume`).

    One catch per host: whatever one host's connection, deployment, probe or
    measurement raises (an :class:`Exception`, not Ctrl-C) fails that host with one
    line, its traceback in the run's log (:class:`~runners.outcome.RunLog`), and the
    other hosts go on; the manifest ends with every host in a final state.
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
        precision: Precision | None = None,
    ) -> None:
        self.plan = plan
        self.run_dir = run_dir
        self.build = build
        self.log = RunLog(run_dir.log_path)
        self.progress: Progress = Guarded(progress, self.log.exception)
        self.origin = origin
        self.precision = precision
        self.kept_suites = dict(kept_suites or {})
        self.created = (previous.created if previous else "") or utc_now()
        before = previous.hosts if previous else {}
        # On --resume, hosts with nothing left to measure keep their entries as they were.
        self.finished_hosts = {n: e for n, e in before.items() if n not in plan.host_names}
        self.states = {}
        for h in plan.hosts:
            old = before[h.name].benchmarks if h.name in before else {}
            done = plan.done.get(h.name, frozenset())
            self.states[h.name] = HostState(h.name, {n: e for n, e in old.items() if n in done})
        self.started = time.monotonic()
        self.deadline = self.started + precision.max_time_s if precision else float("inf")
        self.stop = threading.Event()
        self.lock = threading.RLock()
        # Hosts whose manifest entry could not be written, and why: failed at the end.
        self.unwritable: dict[str, str] = {}

    @property
    def outcomes(self) -> dict[str, HostOutcome]:
        return {name: state.now for name, state in self.states.items()}

    def manifest(self, status: RunStatus) -> None:
        with self.lock:
            hosts = dict(self.finished_hosts)
            hosts.update({n: self.entry(s) for n, s in self.states.items()})
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

    def entry(self, state: HostState) -> HostEntry:
        """The host's manifest entry. One that cannot be written as JSON is replaced by a
        failed entry (the host is failed when the run ends): it never blocks the others'."""
        now = state.now
        if now.host not in self.unwritable:
            try:
                entry = now.entry()
                json.dumps(entry.to_json(), allow_nan=False)
                return entry
            except Exception as exc:
                self.log.exception(now.host, "its manifest entry cannot be written", exc)
                reason = failure_reason(exc, expected=False, log=self.run_dir.log_path)
                self.unwritable[now.host] = reason
        return HostEntry(
            status=HostStatus.FAILED,
            reason=self.unwritable[now.host],
            started=now.started if isinstance(now.started, str) else None,
            finished=utc_now(),
        )

    def write_manifest(self, status: RunStatus) -> None:
        """The manifest at the start or the end of the run; a second Ctrl-C while it is
        written does not leave it half-said, and a manifest that cannot be written is the
        user's one line (a full disk, a results directory made read-only)."""
        for _ in range(3):
            try:
                self.manifest(status)
                return
            except KeyboardInterrupt:
                continue  # interrupted again while writing: write it again
            except Exception as exc:
                self.log.exception("-", f"writing the manifest ({status.value})", exc)
                raise UserError(
                    f"{self.run_dir.manifest_path}: cannot be written "
                    f"({one_line(f'{type(exc).__name__}: {exc}')}); "
                    f"what was measured is in {self.run_dir.path}"
                ) from None

    def settle(self, status: HostStatus, reason: str = "") -> None:
        """Every host still pending or running gets ``status``; a host whose entry could
        not be written is failed."""
        with self.lock:
            for name, state in self.states.items():
                if name in self.unwritable:
                    state.set(status=HostStatus.FAILED, reason=self.unwritable[name])
                elif state.now.status.active:
                    state.set(status=status, reason=reason, finished=utc_now())

    def carry_out(self) -> dict[str, HostOutcome]:
        """Measure every host of the plan; raises :class:`Interrupted` on Ctrl-C (SIGTERM),
        after the manifest says so. Whatever else happens, every host ends complete, failed
        or interrupted, and so does the run."""
        self.write_manifest(RunStatus.RUNNING)
        groups = by_machine(self.plan.hosts)
        try:
            try:
                with controller_kept_to(self.plan.hosts, self.progress):
                    if len(groups) == 1:
                        self.run_machine(groups[0])
                    else:
                        self.run_parallel(groups)
            except Exception as exc:  # outside every host's own catch: a bug of the run's
                self.log.exception("-", "the run", exc)
                self.settle(
                    HostStatus.FAILED,
                    failure_reason(exc, expected=False, log=self.run_dir.log_path),
                )
        except KeyboardInterrupt:
            self.stop.set()
            self.settle(HostStatus.INTERRUPTED)
            self.write_manifest(RunStatus.INTERRUPTED)
            raise Interrupted(
                f"interrupted; the results measured so far are in {self.run_dir.path} "
                f"(continue with --resume {self.run_dir.run_id})"
            ) from None
        except BaseException:
            self.stop.set()
            self.settle(HostStatus.INTERRUPTED)
            self.write_manifest(RunStatus.INTERRUPTED)
            raise
        self.settle(
            HostStatus.FAILED, f"left unfinished (internal error, see {self.run_dir.log_path})"
        )
        failed = any(s.now.status is HostStatus.FAILED for s in self.states.values()) or any(
            e.status is HostStatus.FAILED for e in self.finished_hosts.values()
        )
        self.write_manifest(RunStatus.FAILED if failed else RunStatus.COMPLETE)
        return self.outcomes

    def run_parallel(self, groups: list[list[Host]]) -> None:
        workers = min(len(groups), MAX_PARALLEL_MACHINES)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="machine")
        try:
            futures = {pool.submit(self.run_machine, group): group for group in groups}
            pending = set(futures)
            while pending:  # short waits, so that Ctrl-C is seen at once
                done, pending = wait(pending, timeout=POLL_S)
                for future in done:
                    exc = future.exception()
                    if isinstance(exc, Exception):  # the last guard: run_machine catches
                        self.lose_group(futures[future], [], exc)
        finally:
            self.stop.set()  # machines still running stop after their current process
            pool.shutdown(wait=True, cancel_futures=True)

    def run_machine(self, hosts: list[Host]) -> None:
        """The hosts of one machine: each prepared in turn, then measured in turns."""
        live: list[_Live] = []
        try:
            for host in hosts:
                if self.stop.is_set():
                    return
                prepared = self.prepare(host)
                if prepared is not None:
                    live.append(prepared)
            self.measure(live)
        except Exception as exc:  # outside each host's own catch: the machine's hosts fail
            self.lose_group(hosts, live, exc)
        finally:
            for one in live:
                _close(one.conn)
                one.state.time("total_s", time.monotonic() - one.started)

    def lose_group(self, hosts: list[Host], live: list[_Live], exc: Exception) -> None:
        """An exception no host's own catch took: every unfinished host of the machine
        fails with it, keeping what it measured."""
        self.log.exception(",".join(h.name for h in hosts), "the machine's hosts", exc)
        reason = failure_reason(exc, expected=False, log=self.run_dir.log_path)
        begun = {one.host.name: one for one in live}
        for host in hosts:
            state = self.states[host.name]
            if not state.now.status.active:
                continue
            if host.name in begun:
                self.keep(begun[host.name], "failed")
            self.fail(state, reason)

    def fail(self, state: HostState, reason: str) -> None:
        """The host failed: said in the manifest and on the display; never raises."""
        host = state.now.host
        with self.lock:
            state.set(status=HostStatus.FAILED, reason=reason, finished=utc_now())
        try:
            self.manifest(RunStatus.RUNNING)
        except Exception as exc:
            self.log.exception(host, "writing the manifest after the host failed", exc)
        shown = reason if reason.startswith(f"{host}:") else f"{host}: {reason}"
        self.progress.finish(host, "failed", ok=False)
        self.progress.message(shown, level=Level.ERROR)

    def lose(self, state: HostState, exc: Exception, what: str) -> None:
        """The host fails with ``exc``: one line in the manifest and on the display (its
        message, or for an unexpected exception its type and a pointer to the log), all of
        it in the run's log."""
        expected = isinstance(exc, HOST_FAILURES)
        if expected:
            self.log.append(state.now.host, what, str(exc))
        else:
            self.log.exception(state.now.host, what, exc)
        self.fail(state, failure_reason(exc, expected=expected, log=self.run_dir.log_path))

    def drop(self, one: _Live, exc: Exception, why: str) -> None:
        """A host being measured fails: the benchmarks it had begun are kept (marked failed
        with ``why``, so that ``--resume`` measures them again), then it fails with ``exc``."""
        self.keep(one, why)
        self.lose(one.state, exc, f"measuring ({why})")

    def keep(self, one: _Live, why: str) -> None:
        """:meth:`keep_begun`, whose own failure is logged and goes no further."""
        try:
            self.keep_begun(one, why)
        except Exception as exc:
            self.log.exception(one.host.name, f"keeping its begun benchmarks ({why})", exc)

    def prepare(self, host: Host) -> _Live | None:
        """Connect, deploy, check the working directory, probe; None when the host failed."""
        state = self.states[host.name]
        started = time.monotonic()
        conn: Connection | None = None
        try:
            state.set(status=HostStatus.RUNNING, started=utc_now())
            benchmarks = self.plan.remaining(host.name)
            total = max(1, sum(self.plan.config.for_benchmark(b).processes for b in benchmarks))
            self.progress.start(host.name, "connecting", total=total)
            conn = connect(host, self.plan.connect)
            one = _Live(host, conn, state, started=started)
            config = self.plan.config
            if config.cpu == "auto" and host.harness_cpu is not None:
                # the lab measures every host on one CPU: the harness pins itself where it says
                config = dataclasses.replace(config, cpu=host.harness_cpu)
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
            one.common = host_metadata(host, found, self.build, config)
            state.set(virt_class=str(one.common["virt_class"]), baseline=host.baseline)
            state.time("measure_s", 0.0)
            one.turns = {
                b.name: BenchMeasurement(
                    one.conn, binary.path, b, config, self.plan.params.get(b.name)
                )
                for b in benchmarks
            }
            self.progress.update(host.name, description="measuring")
            return one
        except Exception as exc:
            _close(conn)
            state.time("total_s", time.monotonic() - started)
            self.lose(state, exc, "connecting, deploying and probing")
            return None
        except BaseException:
            _close(conn)
            raise

    def measure(self, live: list[_Live]) -> None:
        """Rounds over the machine's hosts until every benchmark has its processes (and, with
        ``--precision``, its interval); then each host's outcome."""
        try:
            while self.round(live, bounded=False):
                pass
            while self.precision is not None and self.widen(live) and self.round(live):
                pass
        except KeyboardInterrupt:
            for one in live:
                self.keep(one, "interrupted")
            raise
        for one in live:
            if one.state.now.status is not HostStatus.RUNNING:
                continue  # lost during the rounds: already failed
            try:
                if self.stop.is_set():
                    self.keep_begun(one, "stopped")
                    continue
                self.keep_begun(one, "out of time")  # --precision's extra processes, if any
                self.conclude(one)
            except Exception as exc:
                self.drop(one, exc, "failed")

    def round(self, live: list[_Live], *, bounded: bool = True) -> bool:
        """One process of every pending benchmark on every host, benchmark by benchmark;
        False when there was nothing left to do, the run stops, or (``bounded``, the rounds
        that ``--precision`` adds) the time budget is spent."""
        progressed = False
        for bench in self.plan.benchmarks:
            for one in live:
                if self.stop.is_set() or (bounded and time.monotonic() > self.deadline):
                    return False
                turn = one.turns.get(bench.name)
                if (
                    turn is None
                    or not turn.pending
                    or one.state.now.status is not HostStatus.RUNNING
                ):
                    continue
                try:
                    self.step(one, turn)
                except Exception as exc:
                    why = (
                        "host lost"
                        if isinstance(exc, TransportError)
                        else "host left"
                        if isinstance(exc, HostLeft)
                        else "failed"
                    )
                    self.drop(one, exc, why)
                progressed = True
        return progressed

    def widen(self, live: list[_Live]) -> bool:
        """Ask one more process of every figure whose interval is still wider than asked;
        False when none is, or the time budget is spent."""
        assert self.precision is not None
        if time.monotonic() > self.deadline:
            return False
        wider = False
        for one in live:
            if one.state.now.status is not HostStatus.RUNNING:
                continue
            try:
                wider = self.widen_host(one, self.precision.half_width) or wider
            except Exception as exc:
                self.drop(one, exc, "failed")
        return wider

    def widen_host(self, one: _Live, half_width: float) -> bool:
        wider = False
        for name, turn in one.turns.items():
            if turn.status is not BenchStatus.SUCCESS or turn.pending or not turn.done:
                continue
            medians = [p.result.median_s for p in turn.done]
            if figure_half_width(one.host.name, name, medians) > half_width:
                turn.target += 1
                wider = True
                self.progress.update(one.host.name, total=self.total(one))
        return wider

    def total(self, one: _Live) -> int:
        return sum(t.target for t in one.turns.values())

    def step(self, one: _Live, turn: BenchMeasurement) -> None:
        """One process of ``turn``; raises :class:`HostLeft` when it is the
        :data:`TIMEOUTS_IN_A_ROW`-th benchmark in a row to end by a timeout."""
        host = one.host.name
        turn.step()
        one.timeouts = one.timeouts + 1 if turn.timed_out else 0
        if turn.status is BenchStatus.SUCCESS:
            self.progress.update(
                host, advance=1, description=f"{turn.bench.name} {len(turn.done)}/{turn.target}"
            )
        if not turn.pending:
            self.finish_bench(one, turn.outcome())
        if one.timeouts >= TIMEOUTS_IN_A_ROW:
            raise HostLeft(HOST_LEFT, host=host)

    def conclude(self, one: _Live) -> None:
        """Every benchmark done: the host is complete when one was measured."""
        host = one.host.name
        now = one.state.now
        measured = any(o.status is BenchStatus.SUCCESS for o in now.outcomes) or bool(
            self.kept_suites.get(host)
        )
        why = "no benchmark could be measured"
        first = next((o.reason for o in now.outcomes if o.reason), "")
        if first:
            why = one_line(f"{why} ({first})")
        one.state.set(
            status=HostStatus.COMPLETE if measured else HostStatus.FAILED,
            reason="" if measured else why,
            finished=utc_now(),
        )
        self.progress.finish(host, "done" if measured else "failed", ok=measured)
        if not measured:
            self.progress.message(f"{host}: {why}", level=Level.ERROR)

    def warn(self, state: HostState, warning: str) -> None:
        state.set(warnings=(*state.now.warnings, warning))
        self.progress.message(f"{state.now.host}: {warning}", level=Level.WARNING)

    def keep_begun(self, one: _Live, why: str) -> None:
        """On a stop: store the benchmarks begun and not finished. One that has its
        configured processes (it was getting more for ``--precision``) is whole; one that
        has fewer is marked failed, so that ``--resume`` measures it again."""
        for turn in one.turns.values():
            if turn.pending and turn.done:
                whole = len(turn.done) >= turn.config.processes
                self.finish_bench(one, turn.outcome() if whole else turn.interrupted(why))

    def finish_bench(self, one: _Live, outcome: BenchOutcome) -> None:
        """A benchmark has its processes: store it, warn about the clock, report."""
        host, state = one.host.name, one.state
        # A benchmark given more processes by --precision replaces its earlier outcome.
        earlier = [o for o in state.now.outcomes if o.bench.name != outcome.bench.name]
        state.set(outcomes=(*earlier, outcome))
        skews = [p.clock_skew_s for p in outcome.processes if not p.clock_ok]
        if skews and not any(w.startswith("clock") for w in state.now.warnings):
            self.warn(
                state,
                f"clock: the host's clock lay {max(skews):.2f} s outside the "
                f"controller's window around a process ({outcome.bench.name}); "
                "see clock_skew_s in the results",
            )
        state.time("measure_s", sum(o.duration_s for o in state.now.outcomes))
        stored = [*self.kept_suites.get(host, [])]
        stored += [to_pyperf_benchmark(o, one.common) for o in state.now.outcomes if o.processes]
        suite = self.run_dir.write_suite(host, stored)
        if suite is not None:
            state.set(suite=str(suite.relative_to(self.run_dir.path)))
        self.manifest(RunStatus.RUNNING)
        # Processes that did not run (unsupported, failed) count as done.
        wanted = self.plan.config.for_benchmark(outcome.bench).processes
        missing = max(0, wanted - len(outcome.processes))
        self.progress.update(host, advance=missing)
        if outcome.status is BenchStatus.FAILED:
            self.progress.message(
                f"{host} {outcome.bench.name}: {outcome.reason}", level=Level.ERROR
            )
