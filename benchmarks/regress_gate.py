"""The regression gate on real runs of this machine: false alarms and sensitivity.

Every comparison goes through the gate as ``ringbench regress`` runs it: the
runs are stored in a real results directory, indexed
(:mod:`analysis.history`), and each figure is held against the comparable
runs created before the current one (:func:`analysis.regress.regressions`).

1. False alarms: ``--warmup`` (default 6) runs that only make the history,
   then ``--runs`` (default 21) more of the same benchmarks on this machine
   with the default settings, nothing changed between them; every run is
   compared with the one before it, held against its comparable history (20
   A/A comparisons). Target: no regression reported. The same comparisons
   against the baseline run alone (no store) are reported beside, to show
   what the history is for.
2. Sensitivity: the same benchmarks run under stacked seccomp filters, a
   real slowdown of every system call that leaves CPUID, RDTSC, page faults
   and memory access alone (the filters inspect a system call's first
   argument, so the kernel's cache of always-allowed calls cannot skip them).
   Each level is gated against a clean run measured just before it, with the
   clean runs so far as history; the slowed runs are kept in a store of
   their own, so they never widen the clean history. Targets: the smallest
   slowdown caught is at most +20%, and no CPUID or RDTSC figure (nor any
   other untouched one) is flagged.

Prints both tables, the figures beside their targets (at ``--threshold``,
the gate's default unless given), the same runs judged at the thresholds of
``--sweep``, and exits 1 when a target is missed. Takes about 6 minutes with
the defaults (39 runs of 8 benchmarks); ``--warmup 4 --runs 3 --levels 4,32``
checks it works in about two. ``--keep DIR`` keeps the runs (and their plan,
``plan.json``); ``--reuse DIR`` judges kept runs again without measuring.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import analysis
from analysis.gate_report import held_against
from analysis.history import history, run_settings
from analysis.regress import DEFAULT_THRESHOLD, regressions
from analysis.validity import records
from ringbench.files import atomic_write_json
from ringbench.results import RunDir

SYSCALLS = ["syscall-null", "syscall-read", "syscall-stat"]
UNTOUCHED = ["trap-cpuid", "trap-rdtsc", "fault-anon", "mem-chase-4k", "mem-copy"]
TRAPS = ["trap-cpuid", "trap-rdtsc"]
LEVELS = [1, 2, 4, 8, 16, 32]
TARGET_SMALLEST = 0.20  # the smallest slowdown caught, at most +20%
SWEEP = [5, 8, 10, 12, 15]  # thresholds (%) set side by side over the same runs

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
    """One real ``ringbench run --local`` of the benchmarks, default settings; its run
    directory."""
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
    (new,) = {p for p in set(results.glob("*")) - before if p.is_dir()}
    return new


@dataclass(frozen=True)
class Plan:
    """The runs measured, in order: ``clean`` (the first ``warmup`` only make history),
    then per seccomp level a clean ``bases`` run and its ``slowed`` run."""

    warmup: int
    clean: list[str]
    levels: list[int]
    bases: list[str]
    slowed: list[str]

    def save(self, path: Path) -> None:
        atomic_write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> Plan:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


class Gate:
    """The gate as ``ringbench regress --store`` runs it, over the runs of one plan: each
    current run held against the comparable runs of the clean store created before it
    (the slowed runs live in a store of their own and never enter it)."""

    def __init__(self, root: Path) -> None:
        self.store, self.slowed = root / "results", root / "seccomp"
        self.history = history(self.store)
        self.frames: dict[Path, pd.DataFrame] = {}

    def load(self, run: Path) -> pd.DataFrame:
        if run not in self.frames:
            self.frames[run] = analysis.load(run)
        return self.frames[run]

    def __call__(
        self, base: Path, current: Path, threshold: float, with_history: bool = True
    ) -> pd.DataFrame:
        df_base, df_current = self.load(base), self.load(current)
        if not with_history:
            return regressions(df_base, df_current, threshold=threshold)
        created = RunDir(current).read_manifest().created
        earlier = self.history[self.history["created"] < created]
        settings = run_settings(current)
        return regressions(
            df_base, df_current, threshold=threshold, history=earlier, settings=settings
        )


@dataclass(frozen=True)
class AA:
    """One A/A comparison: what the gate flagged, with history and without."""

    index: int
    with_history: pd.DataFrame
    without: pd.DataFrame


@dataclass(frozen=True)
class Level:
    """One seccomp level: its gate frame against the clean run just before it."""

    filters: int
    result: pd.DataFrame


def measure(root: Path, warmup: int, runs: int, levels: list[int], console: Console) -> Plan:
    """Measure the plan's runs into ``root`` (``results/``, ``seccomp/``, ``plan.json``)."""
    wrapper = build_wrapper(root)
    store, slowed = root / "results", root / "seccomp"
    total = warmup + runs + 2 * len(levels)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("A/A runs", total=total)
        clean: list[str] = []
        for _ in range(warmup + runs):
            clean.append(one_run(store, []).name)
            progress.advance(task)
        bases: list[str] = []
        slow: list[str] = []
        for level in levels:
            progress.update(task, description=f"seccomp x{level}")
            bases.append(one_run(store, []).name)
            slow.append(one_run(slowed, [str(wrapper), str(level)]).name)
            progress.advance(task, 2)
    plan = Plan(warmup, clean, levels, bases, slow)
    plan.save(root / "plan.json")
    return plan


def judge(root: Path, plan: Plan, threshold: float) -> tuple[list[AA], list[Level]]:
    """Every A/A comparison and every seccomp level through the gate at ``threshold``."""
    gate = Gate(root)
    clean = [gate.store / name for name in plan.clean]
    aa = [
        AA(
            i,
            gate(clean[i - 1], clean[i], threshold),
            gate(clean[i - 1], clean[i], threshold, with_history=False),
        )
        for i in range(plan.warmup + 1, len(clean))
    ]
    levels = [
        Level(level, gate(gate.store / base, gate.slowed / slow, threshold))
        for level, base, slow in zip(plan.levels, plan.bases, plan.slowed, strict=True)
    ]
    return aa, levels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=6, help="runs that only make history")
    parser.add_argument("--runs", type=int, default=21, help="A/A runs (comparisons + 1)")
    parser.add_argument(
        "--levels", default=",".join(map(str, LEVELS)), help="numbers of seccomp filters"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD * 100,
        metavar="PCT",
        help="the gate's threshold for the tables and targets (default: the gate's)",
    )
    parser.add_argument(
        "--sweep",
        default=",".join(f"{t:g}" for t in SWEEP),
        metavar="PCT,...",
        help="thresholds to set side by side over the same runs",
    )
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="keep the runs here (default: a temporary dir)"
    )
    parser.add_argument(
        "--reuse", type=Path, metavar="DIR", help="judge the runs kept in DIR, measure nothing"
    )
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x]
    sweep = [float(x) / 100 for x in args.sweep.split(",") if x]
    console = Console(width=None if sys.stdout.isatty() else 150)
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as name:
        root = args.reuse or args.keep or Path(name)
        if args.reuse:
            plan = Plan.load(root / "plan.json")
        else:
            root.mkdir(parents=True, exist_ok=True)
            plan = measure(root, args.warmup, args.runs, levels, console)
        measured = time.monotonic() - start
        aa, pairs = judge(root, plan, args.threshold / 100)
        code = report(console, aa, pairs, args.threshold / 100)
        console.print(sweep_table(root, plan, sweep))
    runs = len(plan.clean) + 2 * len(plan.levels)
    console.print(
        f"{runs} runs; measured in {measured:.0f} s, judged in "
        f"{time.monotonic() - start - measured:.0f} s"
    )
    return code


def _caught(levels: list[Level]) -> tuple[list[float], list[float], list[str]]:
    """The system-call slowdowns caught and missed, and the untouched figures flagged."""
    caught: list[float] = []
    missed: list[float] = []
    wrong: list[str] = []
    for level in levels:
        for r in records(level.result[level.result["view"] == "figure"]):
            bench, regressed = str(r["benchmark"]), r["change"] == "regression"
            if bench in SYSCALLS:
                (caught if regressed else missed).append(float(r["ratio"]))
            elif regressed:
                wrong.append(f"{bench} x{r['ratio']:.3f}")
    return caught, missed, wrong


def _percent(ratios: list[float], pick: Callable[[list[float]], float]) -> str:
    return f"+{(pick(ratios) - 1) * 100:.1f}%" if ratios else "none"


def sweep_table(root: Path, plan: Plan, thresholds: list[float]) -> Table:
    """The same runs through the gate at each threshold: false alarms and sensitivity."""
    table = Table(title="the same runs, other thresholds")
    for column in ("threshold", "A/A false alarms", "smallest caught", "largest missed"):
        table.add_column(column, justify="right")
    table.add_column("untouched flagged", justify="right")
    for threshold in thresholds:
        aa, levels = judge(root, plan, threshold)
        alarms = sum(bool((c.with_history["change"] == "regression").any()) for c in aa)
        caught, missed, wrong = _caught(levels)
        table.add_row(
            f"{threshold:.0%}",
            f"{alarms} of {len(aa)}",
            _percent(caught, min),
            _percent(missed, max),
            str(len(wrong)),
        )
    return table


def _named(rows: pd.DataFrame) -> list[str]:
    """``benchmark xRATIO`` for each flagged row."""
    return [f"{r['benchmark']} x{r['ratio']:.3f}" for r in records(rows)]


def _regressed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["change"] == "regression"]


def report(console: Console, aa: list[AA], pairs: list[Level], threshold: float) -> int:
    """Print the tables and the figures beside their targets; 1 when a target is missed."""
    title = f"A/A: {len(aa)} comparisons of repeated runs, threshold {threshold:.0%}"
    table = Table(title=title)
    for column in ("run", "flagged with history", "flagged without", "largest change"):
        table.add_column(column, justify="right")
    table.add_column("held against")
    alarms = alarms_without = 0
    for c in aa:
        flagged = _named(_regressed(c.with_history))
        flagged_without = _named(_regressed(c.without))
        alarms += bool(flagged)
        alarms_without += bool(flagged_without)
        worst = records(c.with_history.sort_values("ratio", ascending=False).head(1))[0]
        table.add_row(
            str(c.index),
            ", ".join(flagged) or "-",
            ", ".join(flagged_without) or "-",
            f"x{worst['ratio']:.3f} {worst['benchmark']}",
            held_against(worst),
        )
    console.print(table)

    sens = Table(title="sensitivity: stacked seccomp filters against a clean run just before")
    for column in ("filters", *SYSCALLS, "wrongly flagged"):
        sens.add_column(column)
    caught: list[float] = []
    missed: list[float] = []
    wrong: list[str] = []
    traps_flagged: list[str] = []
    for level in pairs:
        rows = {
            str(r["benchmark"]): r for r in records(level.result[level.result["view"] == "figure"])
        }
        regressed = {b for b, r in rows.items() if r["change"] == "regression"}
        wrong_here = [f"{b} x{rows[b]['ratio']:.3f}" for b in sorted(regressed - set(SYSCALLS))]
        wrong += wrong_here
        traps_flagged += [w for w in wrong_here if w.split()[0] in TRAPS]
        cells = []
        for bench in SYSCALLS:
            r = rows[bench]
            ratio = float(r["ratio"])
            (caught if bench in regressed else missed).append(ratio)
            verdict = "caught" if bench in regressed else "missed"
            high = float(r["history_high"]) / float(r["a_s"])
            cells.append(f"x{ratio:.3f} {verdict} (range to x{high:.2f})")
        sens.add_row(str(level.filters), *cells, ", ".join(wrong_here) or "-")
    console.print(sens)

    smallest = min(caught) - 1 if caught else None
    largest_missed = max(missed) - 1 if missed else None
    lines = Table(title="the gate against its targets")
    for column in ("figure", "measured", "target", "met"):
        lines.add_column(column)
    checks = [
        (
            f"false alarms in {len(aa)} A/A comparisons, held against the history",
            str(alarms),
            "0",
            alarms == 0,
        ),
        (
            "false alarms, the baseline run alone (no store)",
            str(alarms_without),
            "(for comparison)",
            None,
        ),
        (
            "smallest seccomp slowdown caught",
            "none" if smallest is None else f"+{smallest * 100:.1f}%",
            f"at most +{TARGET_SMALLEST * 100:.0f}%",
            smallest is not None and smallest <= TARGET_SMALLEST,
        ),
        (
            "largest seccomp slowdown missed",
            "none" if largest_missed is None else f"+{largest_missed * 100:.1f}%",
            "(for comparison)",
            None,
        ),
        (
            "CPUID/RDTSC figures flagged under seccomp",
            str(len(traps_flagged)),
            "0",
            not traps_flagged,
        ),
        ("untouched figures flagged under seccomp", str(len(wrong)), "0", not wrong),
    ]
    for what, measured, target, met in checks:
        lines.add_row(what, measured, target, "-" if met is None else ("yes" if met else "NO"))
    console.print(lines)
    console.print(f"threshold {threshold:.0%} beyond the comparable history's range")
    return 0 if all(met is not False for *_, met in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
