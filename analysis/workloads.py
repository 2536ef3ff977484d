"""What a real workload will cost in each environment, predicted from its event counts.

The additive model (issue 17; in the spirit of Wood et al., Middleware 2008, who
priced Xen's overhead per event class by regression, here priced by direct
measurement instead): for a workload measured on a baseline host ``B`` and an
environment ``E`` whose baseline is ``B``,

    predicted_E = measured_B + sum over event classes c of
                  count_B(c) x (price_E(c) - price_B(c))
                  + user_cpu_B x (speed_B / speed_E - 1)

- ``measured_B``: the median of the baseline's timed (untraced) repetitions;
- ``count_B(c)``: the baseline's counts only (what a user can have before moving
  the workload): system calls by class from the counted run, forks, execs,
  threads and minor faults from it, voluntary context switches and user CPU
  time from the timed runs (the counted run's hold the tracer's share);
- ``price_X(c)``: the added cost of one event of class c, a linear combination
  of the *same run's* microbenchmark figures on host X (:data:`EVENTS`, one
  table, each with the assumption it makes);
- user code: ``cpu-user`` (user code alone) gives the speed ratio.

Every prediction carries a 95% interval: each bootstrap replicate of the run's
microbenchmarks (the paired draws of :func:`analysis.stats.bootstrap`: a host
and its baseline draw the same process numbers) prices the counts, and the
baseline's repetitions are resampled beside them. The measured figure of an
environment is the median of its repetitions, with the same resampling.

What the model leaves out, and where its misses come from: cache and TLB
pollution between events (a microbenchmark runs its event hot), batching (a
guest kernel may merge what the baseline does one by one), and a guest kernel
that does other work for the same program (its own counts differ: the
counted runs on every host are kept beside the baseline's for that reason).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.history import baselines
from analysis.stats import LEVEL, N_BOOT, SEED, Bootstrap, bootstrap, group_seed, interval
from ringbench.errors import UserError
from ringbench.results import RunDir
from ringbench.results.text import one_line

FORMAT_VERSION = 1
MAX_COUNT = 2.0**64  # a count or a time beyond this is not one
MAX_NUMBERS = 1024
FloatArray = npt.NDArray[np.float64]

# x86_64 system call numbers of the classes priced apart from the null system call.
READ_WRITE = frozenset({0, 1, 17, 18, 19, 20, 295, 296, 327, 328, 40})  # ... and sendfile
OPEN_CLOSE = frozenset({2, 3, 85, 257, 437})  # open, close, creat, openat, openat2
STAT = frozenset({4, 5, 6, 21, 262, 269, 332, 439})  # stat family, access family, statx
CLOCK = frozenset({96, 201, 228})  # gettimeofday, time, clock_gettime (vDSO ones never count)
SOCKET_IO = frozenset({44, 45, 46, 47, 299, 307})  # sendto, recvfrom, sendmsg, recvmsg, mmsg
SYNC = frozenset({74, 75, 277})  # fsync, fdatasync, sync_file_range
# Priced with the process they belong to (proc-fork forks, exits and waits; proc-exec execs).
PROCESS = frozenset({56, 57, 58, 59, 60, 61, 231, 247, 322, 435})
CLASSED = READ_WRITE | OPEN_CLOSE | STAT | CLOCK | SOCKET_IO | SYNC | PROCESS


@dataclass(frozen=True, slots=True)
class Event:
    """One event class: how to count it in a workload and what one costs on a host."""

    name: str  # the term's words: "system calls"
    price: tuple[tuple[str, float], ...]  # (benchmark, coefficient): one event's cost
    assumption: str


EVENTS: tuple[Event, ...] = (
    Event(
        "system calls",
        (("syscall-null", 1.0),),
        "a system call not classed below costs its entry and exit: what a layer adds to a "
        "call is its interception (ptrace stop, VM exit, sentry), the same for every call",
    ),
    Event(
        "reads and writes",
        (("syscall-read", 1.0),),
        "a read or write (files, pipes) costs what a 1-byte read of /dev/zero does: the data "
        "copied is the same in every environment",
    ),
    Event(
        "opens and closes",
        (("syscall-open-close", 0.5),),
        "an open or a close is half of an open-close pair of a small file",
    ),
    Event(
        "stats",
        (("syscall-stat", 1.0),),
        "a stat, fstat, access or statx costs what stat() of a small file does",
    ),
    Event(
        "clock reads in the kernel",
        (("syscall-clock-kernel", 1.0),),
        "a clock read that entered the kernel (the vDSO ones are never counted)",
    ),
    Event(
        "socket sends and receives",
        (("syscall-read", 1.0), ("net-tcp-rr", 0.25), ("sched-pipe-1cpu", -0.25)),
        "a TCP round trip is two sends, two receives and two context switches: beyond a "
        "system call's entry, a send or receive costs a quarter of what the network stack "
        "adds to a pipe round trip (the switches are priced as such)",
    ),
    Event(
        "fsyncs",
        (("io-write-sync", 1.0), ("syscall-read", -1.0)),
        "an fsync costs a 4 KiB pwrite and fdatasync less the pwrite's entry",
    ),
    Event(
        "processes",
        (("proc-fork", 1.0),),
        "a process costs a fork, its exit and its parent's wait; its page faults are priced "
        "as faults",
    ),
    Event(
        "execs",
        (("proc-exec", 1.0), ("proc-fork", -1.0)),
        "an exec costs an exec of a static binary (what fork-exec-wait adds to fork-wait); "
        "a dynamic program's loading is counted in its faults, opens and maps",
    ),
    Event(
        "threads",
        (("proc-thread", 1.0),),
        "a thread costs a create and join",
    ),
    Event(
        "page faults",
        (("fault-anon", 1.0),),
        "a minor fault costs a fresh anonymous page's (file-backed ones included)",
    ),
    Event(
        "context switches",
        (("sched-pipe-1cpu", 0.5), ("syscall-read", -2.0)),
        "a voluntary switch is half of a pipe round trip on one CPU less its two reads and "
        "writes' entries",
    ),
)
USER_CODE = "cpu-user"
PRICED = sorted({b for e in EVENTS for b, _ in e.price} | {USER_CODE})


def _number(record: Mapping[str, Any], key: str) -> float:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{key}' is not a number")
    if not (math.isfinite(value) and 0 <= value < MAX_COUNT):
        raise ValueError(f"'{key}' {value} out of range")
    return float(value)


def event_counts(count: Mapping[str, Any], times: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The baseline's count of every event class (:data:`EVENTS`), and ``user CPU``
    (seconds), from the harness's records (``count`` and ``time``, PROTOCOL.md): the
    system call classes, processes, execs, threads and faults from the counted run, the
    context switches and user CPU from the timed runs (medians). ``ValueError`` for a
    record out of format."""
    pairs = count.get("by_number")
    if not isinstance(pairs, list) or len(pairs) > MAX_NUMBERS:
        raise ValueError("'by_number' is not a list of [number, count]")
    by: dict[int, float] = {}
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and all(type(x) is int for x in pair)):
            raise ValueError("'by_number' is not a list of [number, count]")
        by[pair[0]] = float(pair[1])

    def calls(numbers: frozenset[int]) -> float:
        return float(sum(n for nr, n in by.items() if nr in numbers))

    classed = calls(CLASSED)
    switches = [_number(t, "nvcsw") for t in times]
    user = [_number(t, "utime_s") for t in times]
    return {
        "system calls": _number(count, "syscalls") - classed,
        "reads and writes": calls(READ_WRITE),
        "opens and closes": calls(OPEN_CLOSE),
        "stats": calls(STAT),
        "clock reads in the kernel": calls(CLOCK),
        "socket sends and receives": calls(SOCKET_IO),
        "fsyncs": calls(SYNC),
        "processes": _number(count, "forks"),
        "execs": _number(count, "execs"),
        "threads": _number(count, "threads"),
        "page faults": _number(count, "minflt"),
        "context switches": float(np.median(switches)) if switches else math.nan,
        "user CPU": float(np.median(user)) if user else math.nan,
    }


@dataclass(frozen=True)
class Prices:
    """The same run's microbenchmark figures, point and replicates, by (host, benchmark)."""

    point: dict[tuple[str, str], float]
    replicates: dict[tuple[str, str], FloatArray]
    n_boot: int

    @classmethod
    def of(cls, df: pd.DataFrame, boot: Bootstrap | None = None) -> Prices:
        """From one run's tidy frame (its microbenchmarks), only the benchmarks priced."""
        wanted = df[df["benchmark"].astype(str).isin(PRICED)]
        if wanted.empty:
            return cls({}, {}, N_BOOT)
        boot = boot or bootstrap(wanted)
        keys = list(
            zip(boot.keys["host"].astype(str), boot.keys["benchmark"].astype(str), strict=True)
        )
        return cls(
            {k: float(boot.point[i]) for i, k in enumerate(keys)},
            {k: boot.replicates[i] for i, k in enumerate(keys)},
            boot.replicates.shape[1],
        )

    def added(self, event: Event, host: str, baseline: str) -> tuple[float, FloatArray] | None:
        """One event's added cost on ``host`` over ``baseline`` (point, replicates), None
        when a benchmark it needs is missing on either."""
        point, reps = 0.0, np.zeros(self.n_boot)
        for bench, coef in event.price:
            a, b = (host, bench), (baseline, bench)
            if a not in self.point or b not in self.point:
                return None
            point += coef * (self.point[a] - self.point[b])
            reps = reps + coef * (self.replicates[a] - self.replicates[b])
        return point, reps

    def cost(self, event: Event, host: str) -> float:
        """One event's whole cost on ``host`` (its price's benchmarks there), NaN when a
        benchmark is missing."""
        total = 0.0
        for bench, coef in event.price:
            if (host, bench) not in self.point:
                return math.nan
            total += coef * self.point[(host, bench)]
        return total

    def user_slowdown(self, host: str, baseline: str) -> tuple[float, FloatArray] | None:
        """``cpu-user`` on ``host`` over ``baseline``, less one (point, replicates)."""
        a, b = (host, USER_CODE), (baseline, USER_CODE)
        if a not in self.point or b not in self.point:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.point[a] / self.point[b] - 1, self.replicates[a] / self.replicates[b] - 1


def _median_replicates(values: Sequence[float], n_boot: int, seed: Iterable[int]) -> FloatArray:
    """Replicates of the median of ``values`` (the repetitions, resampled)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return np.full(n_boot, math.nan)
    rng = np.random.default_rng(list(seed))
    picks = rng.integers(0, len(v), size=(n_boot, len(v)))
    return np.asarray(np.median(v[picks], axis=1), dtype=np.float64)


ROW_COLUMNS = [
    "workload",
    "host",
    "baseline",
    "baseline_s",
    "measured_s",
    "measured_low_s",
    "measured_high_s",
    "predicted_s",
    "predicted_low_s",
    "predicted_high_s",
    "error",
    "unpriced",
]


def predict(
    workload: str,
    host: str,
    baseline: str,
    counts: Mapping[str, float],
    baseline_times: Sequence[float],
    prices: Prices,
    measured_times: Sequence[float] = (),
    level: float = LEVEL,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One prediction: its row (:data:`ROW_COLUMNS`) and its terms (one per event class:
    ``count``, ``added_s`` per event, ``seconds`` with its interval)."""
    n = prices.n_boot
    base_reps = _median_replicates(baseline_times, n, group_seed(SEED, (workload, baseline)))
    base_s = float(np.median(baseline_times)) if len(baseline_times) else math.nan
    total, total_reps = base_s, base_reps.copy()
    terms: list[dict[str, Any]] = []
    unpriced: list[str] = []
    for event in EVENTS:
        count = float(counts.get(event.name, math.nan))
        priced = prices.added(event, host, baseline)
        if priced is None or not math.isfinite(count):
            unpriced.append(event.name)
            continue
        point, reps = priced
        terms.append(_term(event.name, count, point, count * reps, level))
        total += count * point
        total_reps = total_reps + count * reps
    user = float(counts.get("user CPU", math.nan))
    slowdown = prices.user_slowdown(host, baseline)
    if slowdown is None or not math.isfinite(user):
        unpriced.append("user CPU")
    else:
        point, reps = slowdown
        terms.append(_term("user CPU", user, point, user * reps, level))
        total += user * point
        total_reps = total_reps + user * reps
    low, high = interval(total_reps[None, :], level)
    measured = np.asarray(measured_times, dtype=float)
    if len(measured):
        m_reps = _median_replicates(measured_times, n, group_seed(SEED, (workload, host)))
        m_low, m_high = interval(m_reps[None, :], level)
        measured_s, mlo, mhi = float(np.median(measured)), float(m_low[0]), float(m_high[0])
    else:
        measured_s = mlo = mhi = math.nan
    row = {
        "workload": workload,
        "host": host,
        "baseline": baseline,
        "baseline_s": base_s,
        "measured_s": measured_s,
        "measured_low_s": mlo,
        "measured_high_s": mhi,
        "predicted_s": total,
        "predicted_low_s": float(low[0]),
        "predicted_high_s": float(high[0]),
        "error": total / measured_s - 1 if measured_s > 0 else math.nan,
        "unpriced": ", ".join(unpriced),
    }
    return row, terms


def _term(name: str, count: float, per: float, reps: FloatArray, level: float) -> dict[str, Any]:
    low, high = interval(reps[None, :], level)
    return {
        "event": name,
        "count": count,
        "added_s": per,
        "seconds": count * per,
        "seconds_low": float(low[0]),
        "seconds_high": float(high[0]),
    }


def term_text(term: Mapping[str, Any]) -> str:
    """``+0.80 s from 31,000 system calls x 26 us``; user CPU as ``+1.20 s from 0.40 s of
    user CPU x3.0 slower``."""
    seconds = float(term["seconds"])
    sign = "+" if seconds >= 0 else "-"
    if term["event"] == "user CPU":
        speed = 1 + float(term["added_s"])
        return (
            f"{sign}{abs(seconds):.2f} s from {float(term['count']):.2f} s of user CPU x{speed:.2f}"
        )
    per = float(term["added_s"])
    unit, scale = ("us", 1e6) if abs(per) >= 1e-6 else ("ns", 1e9)
    return (
        f"{sign}{abs(seconds):.2f} s from {float(term['count']):,.0f} {term['event']} x "
        f"{per * scale:.3g} {unit}"
    )


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per environment: pairs measured and predicted, median and worst |error|, the
    share within 25%."""
    done = rows[np.isfinite(rows["error"].astype(float))]
    out = []
    for host, g in done.groupby("host", sort=False):
        e = g["error"].abs()
        out.append(
            {
                "host": host,
                "workloads": len(g),
                "median_abs_error": float(e.median()),
                "worst_abs_error": float(e.max()),
                "within_25": float((e <= 0.25).mean()),
            }
        )
    return pd.DataFrame(
        out, columns=["host", "workloads", "median_abs_error", "worst_abs_error", "within_25"]
    )


def _ready(value: Any) -> Any:  # noqa: ANN401 - any JSON value
    """NaN and infinities become null, recursively (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_ready(v) for v in value]
    return value


def document(run: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``<run>/analysis/workloads.json`` (format 1): the rows (:data:`ROW_COLUMNS`, their
    ``terms`` and, where the host was counted too, its own counts ``host_counts``), the
    summary per environment (:func:`summary`) and the model's event table."""
    frame = pd.DataFrame([{k: r[k] for k in ROW_COLUMNS} for r in rows], columns=ROW_COLUMNS)
    out: dict[str, Any] = _ready(
        {
            "format_version": FORMAT_VERSION,
            "run": run,
            "rows": [dict(r) for r in rows],
            "summary": summary(frame).to_dict(orient="records"),
            "events": [
                {"event": e.name, "price": [list(p) for p in e.price], "assumption": e.assumption}
                for e in EVENTS
            ],
        }
    )
    return out


# --- from a run's stored measurements -----------------------------------------------

COUNTS_SUFFIX = ".counts.json"
MAX_COUNTS_BYTES = 16 * 2**20


@dataclass(frozen=True)
class Measured:
    """One workload on one host as ``ringbench workload`` stored it: the ``count`` record
    (None where it was not counted), the ``time`` records, why it was skipped or failed."""

    count: Mapping[str, Any] | None
    times: tuple[Mapping[str, Any], ...]
    skipped: str = ""
    failed: str = ""

    @property
    def seconds(self) -> list[float]:
        return [_number(t, "wall_s") for t in self.times]


def read_measurements(run: RunDir) -> dict[tuple[str, str], Measured]:
    """(workload, host) -> :class:`Measured`, from the run's ``workloads/<host>.counts.json``;
    :class:`UserError` naming the file when one is out of format."""
    out: dict[tuple[str, str], Measured] = {}
    if not run.workloads_dir.is_dir():
        return out
    for path in sorted(run.workloads_dir.glob(f"*{COUNTS_SUFFIX}")):
        try:
            if path.stat().st_size > MAX_COUNTS_BYTES:
                raise ValueError(f"larger than {MAX_COUNTS_BYTES // 2**20} MiB")
            doc = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(doc, dict) or doc.get("format_version") != 1:
                raise ValueError("not a workload counts file of format 1")
            host, workloads = doc.get("host"), doc.get("workloads")
            if not isinstance(host, str) or not isinstance(workloads, dict):
                raise ValueError("no 'host' or no 'workloads' table")
            for name, entry in workloads.items():
                count, times = entry.get("count"), entry.get("times", [])
                ok = (count is None or isinstance(count, dict)) and isinstance(times, list)
                if not ok or not all(isinstance(t, dict) for t in times):
                    raise ValueError(f"workload {str(name)[:40]!r} is not as written")
                measured = Measured(
                    count, tuple(times), str(entry.get("skipped", "")), str(entry.get("failed", ""))
                )
                if count is not None:
                    event_counts(count, times)  # every number checked once, here
                measured.seconds  # noqa: B018 - checked here too
                out[(str(name), host)] = measured
        except (
            OSError,
            UnicodeDecodeError,
            json.JSONDecodeError,
            ValueError,
            AttributeError,
        ) as exc:
            raise UserError(f"{path}: cannot be read: {one_line(exc)}") from None
    return out


def predictions(
    df: pd.DataFrame,
    measured: Mapping[tuple[str, str], Measured],
    prices: Prices | None = None,
) -> list[dict[str, Any]]:
    """Every prediction the measurements allow: for each workload and each host of the
    run with a baseline, counted and timed on that baseline (rows of :data:`ROW_COLUMNS`
    with ``terms`` and the host's own ``host_counts``: every class where it was counted
    too, its context switches and user CPU from its timed runs where it was not)."""
    prices = prices or Prices.of(df)
    rows = []
    pairs = baselines(df)
    for workload in dict.fromkeys(w for w, _ in measured):
        for host, baseline in pairs.items():
            base = measured.get((workload, baseline))
            if base is None or base.count is None or not base.times or base.failed:
                continue
            mine = measured.get((workload, host))
            seconds = mine.seconds if mine is not None and not mine.failed else []
            row, terms = predict(
                workload,
                host,
                baseline,
                event_counts(base.count, base.times),
                base.seconds,
                prices,
                seconds,
            )
            row["terms"] = terms
            if mine is not None and mine.count is not None:
                row["host_counts"] = event_counts(mine.count, mine.times)
            elif mine is not None and mine.times:  # not counted: what its timed runs show
                row["host_counts"] = {
                    "context switches": float(np.median([_number(t, "nvcsw") for t in mine.times])),
                    "user CPU": float(np.median([_number(t, "utime_s") for t in mine.times])),
                }
            rows.append(row)
    return rows


MISS = 0.25  # a prediction this far off (relative) is a large miss: explained from the data
EXPLAINED = 0.5  # the share of a miss a difference of counts must cover to be named its cause


def explain(row: Mapping[str, Any], prices: Prices) -> str:
    """Why a prediction missed, from the data: the miss (measured less predicted) held
    against what the host's own counts differ by from its baseline's (a guest kernel that
    faults, switches or calls more for the same program), each difference priced at the
    host's whole cost of the event, and the user CPU the host's own timed runs show. The
    additive model assumes the baseline's counts everywhere; where no difference covers
    half the miss, the miss is in what no count shows (cache and TLB pollution, batching,
    a device's queueing), and that is said."""
    measured, predicted = float(row["measured_s"]), float(row["predicted_s"])
    if not (math.isfinite(measured) and math.isfinite(predicted)):
        return "not measured on the host"
    miss = measured - predicted
    if abs(miss) <= MISS * measured:
        return f"within {MISS:.0%}"
    mine = row.get("host_counts")
    terms = {t["event"]: t for t in row.get("terms", [])}
    if not isinstance(mine, Mapping):
        return f"{miss:+.2f} s missed; the host was not counted, so no count can say why"
    base_counts = {name: float(t["count"]) for name, t in terms.items()}
    causes = []
    by_name = {e.name: e for e in EVENTS}
    for name, base_count in base_counts.items():
        host_count = float(mine.get(name, math.nan))
        if not math.isfinite(host_count) or (name not in by_name and name != "user CPU"):
            continue
        extra = host_count - base_count
        if name == "user CPU":  # the host's own user CPU beyond what the model gave it
            slowdown = prices.user_slowdown(str(row["host"]), str(row["baseline"]))
            seconds = host_count - base_count * (1 + (slowdown[0] if slowdown else 0.0))
        else:
            seconds = extra * prices.cost(by_name[name], str(row["host"]))
        if math.isfinite(seconds) and seconds * miss > 0:
            causes.append((seconds, name, base_count, host_count))
    causes.sort(key=lambda c: -abs(c[0]))
    text = f"{miss:+.2f} s missed ({miss / measured:+.0%} of the measured time)"
    covered = sum(c[0] for c in causes)
    slowdown = prices.user_slowdown(str(row["host"]), str(row["baseline"]))
    speed = 1 + (slowdown[0] if slowdown else 0.0)

    def said(seconds: float, name: str, base_count: float, host_count: float) -> str:
        if name == "user CPU":  # the guest kernel's own accounting of its user time
            return (
                f"user CPU {host_count:.2f} s against the {base_count * speed:.2f} s the "
                f"model gave it ({base_count:.2f} s x{speed:.2f} from {USER_CODE}), "
                f"{seconds:+.2f} s"
            )
        return f"{name} {host_count:,.0f} against {base_count:,.0f} ({seconds:+.2f} s)"

    named = "; ".join(said(*c) for c in causes[:3])
    if causes and abs(covered) >= EXPLAINED * abs(miss):
        return (
            f"{text}: the host's own counts differ from the baseline's ({named}), "
            f"{covered:+.2f} s at its costs: the baseline's counts do not hold there"
        )
    return (
        f"{text}: the host's own counts cover {covered:+.2f} s of it"
        + (f" ({named})" if causes else "")
        + ": the rest is in what no count shows (cache and TLB pollution between events, "
        "batching, waits on a device), or in a price the microbenchmark sets too high or low"
    )
