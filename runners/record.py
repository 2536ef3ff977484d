"""What a host's measurements become in the results: pyperf benchmarks with ringbench's keys.

:func:`host_metadata` is what every pyperf run of a host carries (who the
host is, what measured it, its facts); :func:`to_pyperf_benchmark` turns one
benchmark's processes into a pyperf ``Benchmark``, one pyperf run per
harness process, values in seconds per operation. The keys are those of
:mod:`ringbench.results.keys`, which the analysis reads back.

Only range-checked numbers are written: a process's numbers were checked
when its output was parsed (:class:`suites.protocol.ProcessResult` refuses
any out of range), and a host fact that is not a finite number within int64
(or a string of at most :data:`runners.hostfacts.MAX_FACT_CHARS`) is left
out and named in ``facts_unparsable``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pyperf

from ringbench.results import RESULT_FORMAT
from ringbench.results import keys as k
from runners.execute import BenchOutcome, RunConfig, TimedProcess
from runners.hostfacts import MAX_FACT_CHARS, UNPARSABLE, Metadata, unparsable
from runners.inventory import Host
from runners.probe import ProbedHost
from suites.build import BuildInfo


def host_metadata(host: Host, probed: ProbedHost, build: BuildInfo, config: RunConfig) -> Metadata:
    """The metadata every pyperf run of this host carries.

    ``virt_class`` is the inventory's declaration when there is one (a
    hypervisor's type, or a container the probe cannot confirm, is only known
    to the inventory), else what the probe found; both are recorded.
    """
    found = probed.classification
    meta: Metadata = {
        k.FORMAT: RESULT_FORMAT,
        k.HOST: host.name,
        k.VIRT_CLASS: host.virt_class or found.virt_class,
        k.VIRT_CLASS_DETECTED: found.virt_class,
        k.VIRT_CLASS_DECLARED: host.virt_class or "undeclared",
        k.VIRT_LAYERS: found.technologies(),
        k.MACHINE: host.machine,
        k.BASELINE: host.baseline or host.name,
        k.BINARY_SHA256: build.sha256,
        k.SOURCE_SHA256: build.source_sha256,
        k.COMPILER: build.compiler,
        k.PROCESSES: config.processes,
    }
    if host.hypervisor:
        meta[k.HYPERVISOR] = host.hypervisor
    if host.placement:
        meta[k.PLACEMENT] = host.placement
    if host.disk:
        meta[k.DISK] = host.disk
    if probed.warning:
        meta[k.VIRT_CLASS_WARNING] = " ".join(probed.warning.split())
    for key, value in probed.facts.items():
        if key == UNPARSABLE:
            for name in str(value).split():
                unparsable(meta, name)
        elif key in meta:
            continue
        elif storable(value):
            meta[key] = value
        else:
            unparsable(meta, key)
    return meta


INT64 = (-(2**63), 2**63 - 1)


def storable(value: object) -> bool:
    """Whether a metadata value may be written: an int within int64, a finite float, or a
    one-line, non-blank string of at most :data:`~runners.hostfacts.MAX_FACT_CHARS` (as
    pyperf accepts them; a bool is none of them)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return INT64[0] <= value <= INT64[1]
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) < 2.0**63
    if not isinstance(value, str):
        return False
    one_line = "\n" not in value and "\r" not in value and value.strip() != ""
    return one_line and len(value) <= MAX_FACT_CHARS + 3  # + "..." of a cut


def _process_metadata(
    outcome: BenchOutcome, proc: TimedProcess, first: bool, common: Metadata
) -> Metadata:
    bench, result = outcome.bench, proc.result
    cal = result.calibration
    meta: Metadata = dict(common)
    meta.update(
        {
            k.NAME: bench.name,
            k.UNIT: "second",
            k.LOOPS: result.loops,
            k.FAMILY: bench.family,
            k.MECHANISM: bench.mechanism,
            k.OPERATION: bench.operation,
            k.DESCRIPTION: bench.description,
            "pid": result.pid,
            k.DATE: datetime.fromtimestamp(result.start_realtime_ns / 1e9, tz=UTC).isoformat(
                sep=" ", timespec="seconds"
            ),
            "duration": max(result.wall_s, 0.0),
            "min_time": cal.min_time_s,
            "timer_s": cal.timer_s,
            "loop_overhead_s": cal.loop_s,
            "overhead_fraction": cal.overhead_fraction,
            "overhead_subtracted": "yes" if cal.subtracted else "no",
            k.CLOCK_SKEW_S: round(proc.clock_skew_s, 6),
            k.CLOCK_CHECK: "ok" if proc.clock_ok else "OFF: host clock disagrees with controller",
        }
    )
    if bench.sampling.processes > 1 and isinstance(common.get(k.PROCESSES), int):
        meta[k.PROCESSES] = int(common[k.PROCESSES]) * bench.sampling.processes
    if result.cpu >= 0:
        meta["cpu_affinity"] = str(result.cpu)
    if first and cal.calibrated:
        meta["calibrate_loops"] = cal.loops
    if result.steal_ticks is not None:
        meta[k.STEAL_TICKS] = result.steal_ticks
    for key in ("minflt", "majflt", "nvcsw", "nivcsw"):
        if key in result.rusage:
            meta[f"rusage_{key}"] = int(result.rusage[key])
    for key, value in result.params.items():
        meta[f"{k.PARAM_PREFIX}{key}"] = value
    return meta


def to_pyperf_benchmark(outcome: BenchOutcome, common: Metadata) -> pyperf.Benchmark:
    """One pyperf benchmark: one pyperf run per harness process."""
    if not outcome.processes:
        raise ValueError(f"{outcome.bench.name}: no process to store")
    runs = []
    for i, proc in enumerate(outcome.processes):
        result = proc.result
        runs.append(
            pyperf.Run(
                [v.value_s for v in result.values],
                warmups=[(w.loops, w.value_s) for w in result.warmups] or None,
                metadata=_process_metadata(outcome, proc, i == 0, common),
                collect_metadata=False,
            )
        )
    return pyperf.Benchmark(runs)
