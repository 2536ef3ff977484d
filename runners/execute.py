"""Run one benchmark on one host: several fresh processes, the first calibrates.

As pyperf does, the first process doubles its loop count until one value
takes at least ``min_time``; every later process measures the same number of
operations, so the spread across processes is layout and scheduling noise,
not a change of method. Each process is checked against the controller's
clock.

What a process prints is the host's data (:mod:`suites.protocol` bounds and
checks it): whatever it is, and whatever the exit code, a process that did
not produce a result ends its benchmark FAILED (or UNSUPPORTED) with one
line naming the host, never with an exception out of :meth:`BenchMeasurement.step`
other than a lost host.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ringbench.errors import CommandError, HarnessError, ProtocolError, UnsupportedBenchmark
from ringbench.results import BenchEntry, BenchStatus
from runners.transport import CommandTimedOut, Connection
from suites.catalog import Benchmark
from suites.protocol import MAX_MESSAGE_CHARS, ProcessResult, excerpt, parse_run_output

# Tolerance of the clock check: a guest clock this far outside the
# controller's window around a process is reported.
CLOCK_TOLERANCE_S = 0.5
EXIT_OK = 0
EXIT_UNSUPPORTED = 3  # PROTOCOL.md, "Exit codes"


@dataclass(frozen=True, slots=True)
class RunConfig:
    """How much to measure: processes x (warmups + values), each at least ``min_time_s``.

    Many short values per process, summarised by their median, shrug off the
    millisecond-scale interference bursts of shared and nested hosts that a
    few long values would average in. ``cpu="auto"`` pins every process to the
    host's highest-numbered allowed CPU; ``None`` leaves placement to the
    scheduler.
    """

    processes: int = 5
    values: int = 10
    warmups: int = 1
    min_time_s: float = 0.01
    cpu: int | Literal["auto"] | None = "auto"
    workdir: str = "."
    process_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.processes < 1 or self.values < 1 or self.warmups < 0:
            raise ValueError("processes and values must be >= 1 and warmups >= 0")
        if not self.min_time_s > 0:
            raise ValueError("min_time must be > 0")
        if isinstance(self.cpu, int) and self.cpu < 0:
            raise ValueError("cpu must be >= 0")

    def for_benchmark(self, bench: Benchmark) -> RunConfig:
        """This configuration as ``bench`` is measured: its values and processes
        multiplied by the benchmark's :class:`~suites.catalog.Sampling`."""
        factor = bench.sampling
        if factor.values == 1 and factor.processes == 1:
            return self
        return dataclasses.replace(
            self, values=self.values * factor.values, processes=self.processes * factor.processes
        )


DEFAULT = RunConfig()
FAST = RunConfig(processes=2, values=5, warmups=1, min_time_s=0.005)


@dataclass(frozen=True, slots=True)
class TimedProcess:
    """One harness process and the controller's wall-clock window around it."""

    result: ProcessResult
    launched_at: float
    returned_at: float

    @property
    def clock_ok(self) -> bool:
        return self.clock_skew_s <= CLOCK_TOLERANCE_S

    @property
    def clock_skew_s(self) -> float:
        """How far the host's clock lay outside the controller's window (0 when inside)."""
        start = self.result.start_realtime_ns / 1e9
        end = self.result.end_realtime_ns / 1e9
        before = max(0.0, self.launched_at - start)
        after = max(0.0, end - self.returned_at)
        return max(before, after)


@dataclass(frozen=True, slots=True)
class BenchOutcome:
    """What became of one benchmark on one host."""

    bench: Benchmark
    status: BenchStatus
    processes: tuple[TimedProcess, ...] = ()
    reason: str = ""
    duration_s: float = 0.0

    def entry(self) -> BenchEntry:
        """Its line in the manifest."""
        return BenchEntry(self.status, self.reason, len(self.processes), self.duration_s)


def harness_argv(
    binary: str, bench: Benchmark, config: RunConfig, loops: int, params: dict[str, int]
) -> list[str]:
    """The command line of one harness process (an argument list: no shell)."""
    argv = [
        binary,
        "run",
        bench.name,
        "--loops",
        str(loops),
        "--values",
        str(config.values),
        "--warmups",
        str(config.warmups),
        "--min-time",
        repr(config.min_time_s),
        "--dir",
        config.workdir,
    ]
    if config.cpu is not None:
        argv += ["--cpu", str(config.cpu)]
    for key, value in sorted(params.items()):
        argv += ["--param", f"{key}={value}"]
    return argv


def _stderr_tail(stderr: str) -> str:
    """The last line of stderr, printable and short."""
    lines = stderr.strip().splitlines()[-1:] or ["no message"]
    return excerpt(lines[0].strip(), MAX_MESSAGE_CHARS)


def _named(exc: HarnessError, host: str) -> HarnessError:
    """``exc`` again, its message starting with the host's name."""
    if isinstance(exc, UnsupportedBenchmark):
        return UnsupportedBenchmark(exc.bench, exc.reason, host=host)
    return type(exc)(exc.detail, host=host)


def run_process(conn: Connection, argv: list[str], timeout_s: float) -> TimedProcess:
    """Run one harness process and parse what it printed.

    Exit 0 must come with a result, exit 3 with an ``unsupported`` record;
    another exit code is the ``error`` record's message, or the code and the
    last line of stderr (and what was wrong with stdout, when it was out of
    format). Every error names the host.
    """
    launched = time.time()
    try:
        result = conn.run(argv, timeout_s=timeout_s, check=False)
    except UnicodeDecodeError:
        raise ProtocolError(
            "the harness printed bytes that are not UTF-8", host=conn.host
        ) from None
    returned = time.time()
    try:
        parsed = parse_run_output(result.stdout)
    except ProtocolError as exc:
        if result.exited == EXIT_OK:
            raise ProtocolError(exc.detail, host=conn.host) from None
        why = f"harness exited {result.exited}: {_stderr_tail(result.stderr)}"
        raise ProtocolError(f"{why} (stdout: {exc.detail})", host=conn.host) from None
    except HarnessError as exc:
        raise _named(exc, conn.host) from None
    if result.exited == EXIT_OK:
        return TimedProcess(parsed, launched, returned)
    if result.exited == EXIT_UNSUPPORTED:
        raise ProtocolError("harness exited 3 (unsupported) but printed a result", host=conn.host)
    why = f"harness exited {result.exited}: {_stderr_tail(result.stderr)}"
    raise HarnessError(f"{why} (after printing a whole result)", host=conn.host)


class BenchMeasurement:
    """One benchmark on one host, measured a process at a time (:meth:`step`).

    The first process calibrates the loop count, later ones reuse it. An
    unsupported benchmark or a failing process ends the benchmark with its
    reason; it never raises for them, so one benchmark cannot sink a run. A
    lost host (:class:`TransportError`) does raise: the caller fails the host.
    """

    def __init__(
        self,
        conn: Connection,
        binary: str,
        bench: Benchmark,
        config: RunConfig,
        params: dict[str, int] | None = None,
    ) -> None:
        self.conn, self.binary, self.bench = conn, binary, bench
        self.config = config.for_benchmark(bench)
        self.params = params or {}
        self.done: list[TimedProcess] = []
        # Processes wanted: the configuration's, raised by --precision while a figure's
        # interval is wider than asked (runners.precision).
        self.target = self.config.processes
        self.status = BenchStatus.SUCCESS
        self.reason = ""
        self.timed_out = False  # the last step's process was killed at its timeout
        self.duration_s = 0.0
        self._loops = 0
        self._ended = False

    @property
    def pending(self) -> bool:
        return not self._ended and len(self.done) < self.target

    def step(self) -> None:
        """Run the next process (the caller checks :attr:`pending` first)."""
        started = time.monotonic()
        self.timed_out = False
        try:
            argv = harness_argv(self.binary, self.bench, self.config, self._loops, self.params)
            proc = run_process(self.conn, argv, self.config.process_timeout_s)
            self.done.append(proc)
            self._loops = proc.result.loops
        except UnsupportedBenchmark as exc:
            self._end(BenchStatus.UNSUPPORTED, exc.reason)
            self.done.clear()
        except CommandTimedOut as exc:
            self.timed_out = True
            self._end(
                BenchStatus.FAILED, f"a process took over {exc.timeout_s:.0f} s and was killed"
            )
        except (HarnessError, CommandError) as exc:
            # the reason without the host's name: whoever shows it names the host
            self._end(BenchStatus.FAILED, exc.detail)  # a TransportError (host lost) goes up
        except OSError as exc:
            self._end(BenchStatus.FAILED, str(exc))
        finally:
            self.duration_s += time.monotonic() - started

    def _end(self, status: BenchStatus, reason: str) -> None:
        self.status, self.reason, self._ended = status, reason, True

    def interrupted(self, why: str) -> BenchOutcome:
        """What a stopped run keeps of a benchmark it had begun: the processes done, marked
        failed so that ``--resume`` measures the benchmark again, whole."""
        reason = f"{why} after {len(self.done)} of {self.target} processes"
        return BenchOutcome(
            self.bench,
            BenchStatus.FAILED,
            tuple(self.done),
            reason=reason,
            duration_s=self.duration_s,
        )

    def outcome(self) -> BenchOutcome:
        return BenchOutcome(
            self.bench,
            self.status,
            tuple(self.done),
            reason=self.reason,
            duration_s=self.duration_s,
        )


def measure_benchmark(
    conn: Connection,
    binary: str,
    bench: Benchmark,
    config: RunConfig,
    *,
    params: dict[str, int] | None = None,
    on_process: Callable[[int], None] | None = None,
) -> BenchOutcome:
    """Measure ``bench`` in fresh processes on ``conn``'s host, one after another
    (:class:`BenchMeasurement`), as many as ``config.for_benchmark(bench)`` says."""
    run = BenchMeasurement(conn, binary, bench, config, params)
    while run.pending:
        run.step()
        if on_process is not None and run.status is BenchStatus.SUCCESS:
            on_process(len(run.done))
    return run.outcome()
