"""The regression gate on real runs of this machine: false alarms and sensitivity.

1. False alarms: ``--warmup`` (default 6) runs that only make the history,
   then ``--runs`` (default 21) more of the same benchmarks on this machine,
   nothing changed between them; every run is compared with the one before
   it by the gate at its default settings, the runs before the pair as its
   history, as ``ringbench regress`` does with a results store (20 A/A
   comparisons). Target: no regression reported. The same comparisons
   without history are reported beside, to show what the history is for.
2. Sensitivity: the same benchmarks run under stacked seccomp filters, a
   real slowdown of every system call that leaves CPUID, RDTSC, page faults
   and memory access alone (the filters inspect a system call's first
   argument, so the kernel's cache of always-allowed calls cannot skip them).
   Each level is gated against a clean run measured just before it. Target:
   the system-call benchmarks are flagged, and nothing else is; the smallest
   slowdown caught is reported.

Prints both tables and exits 1 when a target is missed. Takes about 6
minutes with the defaults.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import analysis
from analysis.regress import DEFAULT_THRESHOLD, regressions
from analysis.stats import summarize
from analysis.validity import records

SYSCALLS = ["syscall-null", "syscall-read", "syscall-stat"]
UNTOUCHED = ["trap-cpuid", "trap-rdtsc", "fault-anon", "mem-chase-4k", "mem-copy"]
LEVELS = [1, 2, 4, 8, 16, 32]

WRAPPER = r"""
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

/* seccomp-wrap N COMMAND...: install N seccomp filters, then exec COMMAND. Each filter
   reads the system call's first argument, so its verdict is not constant per call number
   and the kernel runs it on every system call. */
int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: seccomp-wrap N COMMAND...\n"); return 2; }
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x5eccf117u, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = sizeof code / sizeof code[0], .filter = code };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) { perror("no_new_privs"); return 1; }
    for (int i = 0; i < atoi(argv[1]); i++)
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) { perror("seccomp"); return 1; }
    execvp(argv[2], argv + 2);
    perror("exec");
    return 127;
}
"""


def build_wrapper(tmp: Path) -> Path:
    source, binary = tmp / "seccomp-wrap.c", tmp / "seccomp-wrap"
    source.write_text(WRAPPER)
    subprocess.run(["cc", "-O2", "-o", str(binary), str(source)], check=True, timeout=120)
    return binary


def one_run(results: Path, prefix: list[str]) -> Path:
    """One real ``ringbench run --local`` of the benchmarks; its run directory."""
    before = set(results.glob("*")) if results.exists() else set()
    benches = [a for b in SYSCALLS + UNTOUCHED for a in ("--bench", b)]
    command = [*prefix, sys.executable, "-m", "runners.cli", "run", "--local", *benches]
    subprocess.run(
        [*command, "--results", str(results)],
        check=True,
        timeout=600,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (new,) = set(results.glob("*")) - before
    return new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=6, help="runs that only make history")
    parser.add_argument("--runs", type=int, default=21, help="A/A runs (comparisons + 1)")
    parser.add_argument(
        "--levels", default=",".join(map(str, LEVELS)), help="numbers of seccomp filters"
    )
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    console = Console()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        wrapper = build_wrapper(tmp)
        results = tmp / "results"
        total = args.warmup + args.runs + 2 * len(levels)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task("A/A runs", total=total)
            clean: list[pd.DataFrame] = []
            for _ in range(args.warmup + args.runs):
                clean.append(analysis.load(one_run(results, [])))
                progress.advance(task)
            pairs: list[Pair] = []
            for level in levels:
                progress.update(task, description=f"seccomp x{level}")
                base = analysis.load(one_run(results, []))
                slow = analysis.load(one_run(results, [str(wrapper), str(level)]))
                pairs.append((level, base, slow))
                progress.advance(task, 2)
    return report(console, clean, pairs, args.warmup)


Pair = tuple[int, pd.DataFrame, pd.DataFrame]


def medians(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The history the gate sees: each run's median per (host, benchmark), in order."""
    if not frames:
        return pd.DataFrame(columns=["run", "host", "benchmark", "median_s"])
    return pd.concat([summarize(f)[["run", "host", "benchmark", "median_s"]] for f in frames])


def _named(rows: pd.DataFrame) -> list[str]:
    """``benchmark xRATIO`` for each flagged row."""
    return [f"{r['benchmark']} x{r['ratio']:.3f}" for r in records(rows)]


def report(console: Console, clean: list[pd.DataFrame], pairs: list[Pair], warmup: int) -> int:
    compared = len(clean) - warmup - 1
    aa = Table(title=f"A/A: {compared} comparisons of repeated runs, default gate")
    for column in ("run", "flagged with history", "flagged without", "largest change"):
        aa.add_column(column, justify="right")
    alarms = alarms_without = 0
    for i in range(warmup + 1, len(clean)):
        before, after = clean[i - 1], clean[i]
        with_history = regressions(before, after, history=medians(clean[: i - 1]))
        without = regressions(before, after)
        flagged = _named(with_history[with_history["change"] == "regression"])
        flagged_without = _named(without[without["change"] == "regression"])
        alarms += bool(flagged)
        alarms_without += bool(flagged_without)
        worst = records(without.sort_values("ratio", ascending=False).head(1))[0]
        aa.add_row(
            str(i),
            ", ".join(flagged) or "-",
            ", ".join(flagged_without) or "-",
            f"x{worst['ratio']:.3f} {worst['benchmark']}",
        )
    console.print(aa)
    console.print(
        f"false alarms: {alarms} of {compared} A/A comparisons reported a regression with the "
        f"history (target 0), {alarms_without} without it (threshold {DEFAULT_THRESHOLD:.0%})"
    )
    sens = Table(title="sensitivity: stacked seccomp filters against a clean run just before")
    for column in ("filters", *SYSCALLS, "wrongly flagged"):
        sens.add_column(column)
    caught: list[float] = []
    missed: list[float] = []
    wrong_total = 0
    for level, base, slow in pairs:
        result = regressions(base, slow, history=medians(clean)).set_index("benchmark")
        flagged = set(result.index[result["change"] == "regression"])
        wrong = [f"{b} x{result.at[b, 'ratio']:.3f}" for b in sorted(flagged - set(SYSCALLS))]
        wrong_total += len(wrong)
        cells = []
        for bench in SYSCALLS:
            ratio = float(result.at[bench, "ratio"])
            (caught if bench in flagged else missed).append(ratio)
            cells.append(f"x{ratio:.3f} {'caught' if bench in flagged else 'missed'}")
        sens.add_row(str(level), *cells, ", ".join(wrong) or "-")
    console.print(sens)
    smallest = min(caught) if caught else None
    largest_missed = max(missed) if missed else None
    console.print(
        "smallest slowdown caught: "
        + ("none" if smallest is None else f"+{(smallest - 1) * 100:.1f}%")
        + "; largest missed: "
        + ("none" if largest_missed is None else f"+{(largest_missed - 1) * 100:.1f}%")
        + f"; benchmarks wrongly flagged: {wrong_total} (target 0)"
    )
    return 1 if alarms or wrong_total or smallest is None else 0


if __name__ == "__main__":
    sys.exit(main())
