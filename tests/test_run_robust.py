"""A broken or hostile host never takes the run down (issue 14): the pipeline and the CLI.

Real parts throughout: the real harness, real local hosts, real ``ringbench``
processes. Where a fault is needed that no real host produces on demand (a bug of the
pipeline's, a manifest entry that cannot be written), it is injected by a fake named
as such. A harness that misbehaves is the real one behind a shell script standing in
for its binary (:func:`scripted_harness`).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pyperf
import pytest
from rich.console import Console

import runners.pipeline
import runners.plan
import runners.probe
from ringbench.errors import UserError
from ringbench.progress import SILENT, Level
from ringbench.results import BenchStatus, HostEntry, ResultStore, RunDir
from runners.cli.build import catalog_table
from runners.cli.progress import LiveProgress
from runners.cli.run import hosts_table, report_outcomes, summary_table
from runners.execute import BenchOutcome, RunConfig
from runners.inventory import Host
from runners.outcome import HostOutcome
from runners.pipeline import HOST_LEFT, Pipeline, RunOrigin
from runners.plan import LOCAL_HOST, RunPlan, by_machine, plan_hosts
from suites.build import BuildInfo, file_sha256
from suites.catalog import Catalog, parse_catalog
from tests.signals import as_from_a_terminal

MARKUP = ("[/red]", "[bold]x[/]")


def local(name: str, machine: str, baseline: str | None = None) -> Host:
    return dataclasses.replace(LOCAL_HOST, name=name, machine=machine, baseline=baseline)


def quick(workdir: Path, **changes: object) -> RunConfig:
    config = RunConfig(processes=1, values=2, warmups=0, min_time_s=0.002, workdir=str(workdir))
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


def scripted_harness(tmp_path: Path, harness: BuildInfo, cases: Mapping[str, str]) -> BuildInfo:
    """The real harness behind a shell script: ``run NAME`` of a benchmark in ``cases`` runs
    that shell code instead; everything else goes to the real binary. ($STATE is a
    directory of the test's, $REAL the real binary.)"""
    state = tmp_path / "harness-state"
    state.mkdir(exist_ok=True)
    lines = [
        "#!/bin/sh",
        "# a stand-in for ringbench-bench: misbehaves on purpose for some benchmarks",
        f"REAL={shlex.quote(str(harness.path))}",
        f"STATE={shlex.quote(str(state))}",
        'if [ "$1" = run ]; then',
        '  case "$2" in',
    ]
    for bench, code in cases.items():
        lines += [f"    {shlex.quote(bench)})", f"      {code}", "      ;;"]
    lines += ["  esac", "fi", 'exec "$REAL" "$@"', ""]
    script = tmp_path / "ringbench-bench"
    script.write_text("\n".join(lines))
    script.chmod(0o755)
    return dataclasses.replace(harness, path=script, sha256=file_sha256(script))


def carry_out(
    plan: RunPlan, tmp_path: Path, build: BuildInfo
) -> tuple[dict[str, HostOutcome], RunDir]:
    run_dir = ResultStore(tmp_path / "results").create()
    return Pipeline(plan, run_dir, build, SILENT, RunOrigin()).carry_out(), run_dir


def manifest_of(run_dir: RunDir) -> dict:  # type: ignore[type-arg]
    return json.loads(run_dir.manifest_path.read_text())  # type: ignore[no-any-return]


# --- one catch per host ---------------------------------------------------------------


def test_an_unexpected_exception_fails_its_host_alone_and_is_logged(
    harness: BuildInfo,
    catalog: Catalog,
    tmp_path: Path,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A parser's OverflowError in one host's probe, a ValueError from connecting to
    another (as a bad ~/.ssh/config gave): each fails its host with one line, the
    traceback goes to run.log, and every other host, of the same machine too, is
    measured."""
    real_probe, real_connect = runners.probe.probe_host, runners.plan.connect

    def probe_with_a_bug(conn: object, host: Host, binary: str) -> object:  # FAKE: a bug
        if host.name == "overflow":
            raise OverflowError("int too large to convert to float")
        return real_probe(conn, host, binary)  # type: ignore[arg-type]

    def connect_with_a_bug(host: Host, options: object) -> object:  # FAKE: a bad ssh config
        if host.name == "badconfig":
            raise ValueError("invalid literal for int() with base 10: 'abc'")
        return real_connect(host, options)  # type: ignore[arg-type]

    monkeypatch.setattr(runners.pipeline, "probe_host", probe_with_a_bug)
    monkeypatch.setattr(runners.pipeline, "connect", connect_with_a_bug)
    hosts = (
        local("overflow", "box"),
        local("steady", "box"),
        local("badconfig", "other"),
        local("fine", "other"),
    )
    plan = RunPlan(hosts, (catalog.get("trap-cpuid"),), quick(workdir))
    outcomes, run_dir = carry_out(plan, tmp_path, harness)
    assert {n: o.status.value for n, o in outcomes.items()} == {
        "overflow": "failed",
        "steady": "complete",
        "badconfig": "failed",
        "fine": "complete",
    }
    log = run_dir.log_path
    for name, kind in (("overflow", "OverflowError"), ("badconfig", "ValueError")):
        reason = outcomes[name].reason
        assert reason.startswith(f"{kind}: ") and f"(internal error, see {log})" in reason
        assert "\n" not in reason and len(reason) <= 200 + len(str(log)) + 30
    m = manifest_of(run_dir)
    assert m["status"] == "failed"
    assert {n: h["status"] for n, h in m["hosts"].items()} == {
        n: o.status.value for n, o in outcomes.items()
    }
    text = log.read_text()
    assert text.startswith("# ringbench run log, format 1\n")
    assert "Traceback (most recent call last)" in text
    assert "overflow: connecting, deploying and probing" in text
    assert "OverflowError: int too large" in text and "ValueError: invalid literal" in text


def test_an_exception_outside_every_hosts_catch_ends_the_run_all_the_same(
    harness: BuildInfo,
    catalog: Catalog,
    tmp_path: Path,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug in the machine's own loop (in the thread pool): that machine's hosts fail,
    the other machine's are measured, and the manifest ends final."""
    real_measure = Pipeline.measure

    def measure_with_a_bug(self: Pipeline, live: list) -> None:  # type: ignore[type-arg]
        if any(one.host.name == "doomed" for one in live):  # FAKE: a bug of the pipeline's
            raise RuntimeError("a bug in the rounds")
        real_measure(self, live)

    monkeypatch.setattr(Pipeline, "measure", measure_with_a_bug)
    hosts = (local("doomed", "m1"), local("sibling", "m1"), local("elsewhere", "m2"))
    plan = RunPlan(hosts, (catalog.get("trap-cpuid"),), quick(workdir))
    outcomes, run_dir = carry_out(plan, tmp_path, harness)
    m = manifest_of(run_dir)
    assert m["status"] == "failed"
    assert {n: h["status"] for n, h in m["hosts"].items()} == {
        "doomed": "failed",
        "sibling": "failed",
        "elsewhere": "complete",
    }
    assert "RuntimeError: a bug in the rounds" in outcomes["sibling"].reason
    assert "RuntimeError: a bug in the rounds" in run_dir.log_path.read_text()


def test_a_manifest_entry_that_cannot_be_written_fails_that_host_alone(
    harness: BuildInfo,
    catalog: Catalog,
    tmp_path: Path,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_entry = HostOutcome.entry

    def entry_with_nan(self: HostOutcome) -> HostEntry:  # FAKE: a figure JSON cannot hold
        entry = real_entry(self)
        if self.host == "poisoned":
            return dataclasses.replace(entry, timings={"probe_s": float("nan")})
        return entry

    monkeypatch.setattr(HostOutcome, "entry", entry_with_nan)
    hosts = (local("poisoned", "m1"), local("healthy", "m2"))
    plan = RunPlan(hosts, (catalog.get("trap-cpuid"),), quick(workdir))
    outcomes, run_dir = carry_out(plan, tmp_path, harness)
    m = json.loads(run_dir.manifest_path.read_text(), parse_constant=lambda c: 1 / 0)
    assert m["status"] == "failed"
    assert m["hosts"]["healthy"]["status"] == "complete"
    assert m["hosts"]["poisoned"]["status"] == "failed"
    assert "internal error" in m["hosts"]["poisoned"]["reason"]
    assert outcomes["poisoned"].status.value == "failed"


# --- a host that stops answering ------------------------------------------------------


def test_two_benchmarks_in_a_row_timing_out_let_the_host_go(
    harness: BuildInfo, catalog: Catalog, tmp_path: Path, workdir: Path
) -> None:
    """The first host to run syscall-clock-kernel and syscall-stat hangs in both: after the second
    timeout it is let go with what it measured; the other host of its machine goes on
    (one timeout alone does not end a host: syscall-stat was still tried)."""
    hang_once = 'mkdir "$STATE/$2" 2>/dev/null && exec sleep 60'
    fake = scripted_harness(
        tmp_path, harness, {"syscall-clock-kernel": hang_once, "syscall-stat": hang_once}
    )
    names = ("trap-cpuid", "syscall-clock-kernel", "syscall-stat", "trap-ud2")
    plan = RunPlan(
        (local("gone", "box"), local("stays", "box")),
        tuple(catalog.get(n) for n in names),
        quick(workdir, process_timeout_s=1.0),
    )
    outcomes, run_dir = carry_out(plan, tmp_path, fake)
    gone, stays = outcomes["gone"], outcomes["stays"]
    assert gone.status.value == "failed" and gone.reason == HOST_LEFT
    assert {o.bench.name: o.status.value for o in gone.outcomes} == {
        "trap-cpuid": "success",
        "syscall-clock-kernel": "failed",
        "syscall-stat": "failed",
    }, "trap-ud2 was never tried on the host that left"
    assert all("was killed" in o.reason for o in gone.outcomes if o.status.value == "failed")
    kept = pyperf.BenchmarkSuite.load(str(run_dir.suite_path("gone")))
    assert kept.get_benchmark_names() == ["trap-cpuid"], "what it measured is kept"
    assert stays.status.value == "complete"
    assert {o.bench.name for o in stays.outcomes if o.status.value == "success"} == set(names)
    m = manifest_of(run_dir)
    assert m["hosts"]["gone"]["status"] == "failed" and HOST_LEFT in m["hosts"]["gone"]["reason"]


# --- markup from hosts is text --------------------------------------------------------


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=200, color_system=None), out


def test_markup_in_what_a_harness_says_is_shown_as_it_is(
    harness: BuildInfo, catalog: Catalog, tmp_path: Path, workdir: Path
) -> None:
    """Error messages and unsupported reasons holding rich markup: the run goes to its
    end behind the live display and its summary, and the text appears literally."""
    error = json.dumps({"type": "error", "message": f"boom {MARKUP[0]} and {MARKUP[1]}"})
    unsupported = json.dumps(
        {"type": "unsupported", "bench": "syscall-clock-kernel", "reason": f"needs {MARKUP[1]}"}
    )
    fake = scripted_harness(
        tmp_path,
        harness,
        {
            "trap-cpuid": f"printf '%s\\n' {shlex.quote(error)}; exit 1",
            "syscall-clock-kernel": f"printf '%s\\n' {shlex.quote(unsupported)}; exit 3",
        },
    )
    names = ("trap-cpuid", "syscall-clock-kernel", "trap-ud2")
    plan = RunPlan((LOCAL_HOST,), tuple(catalog.get(n) for n in names), quick(workdir))
    run_dir = ResultStore(tmp_path / "results").create()
    console, out = terminal()
    with LiveProgress(console) as progress:
        outcomes = Pipeline(plan, run_dir, fake, progress, RunOrigin()).carry_out()
    code = report_outcomes(console, run_dir.path, outcomes)
    assert code == 1, "a benchmark failed"
    statuses = {o.bench.name: o.status.value for o in outcomes["localhost"].outcomes}
    assert statuses == {
        "trap-cpuid": "failed",
        "syscall-clock-kernel": "unsupported",
        "trap-ud2": "success",
    }
    shown = out.getvalue()
    assert f"boom {MARKUP[0]} and {MARKUP[1]}" in shown
    assert f"needs {MARKUP[1]}" in shown


def test_markup_in_host_names_and_reasons_reaches_tables_and_display_as_text(
    catalog: Catalog,
) -> None:
    console, out = terminal()
    bench = catalog.get("trap-cpuid")
    failed = BenchOutcome(bench, BenchStatus.FAILED, reason=f"died {MARKUP[0]}")
    host = f"h{MARKUP[1]}"
    console.print(summary_table(host, [failed]))
    console.print(hosts_table({host: HostOutcome(host, outcomes=(failed,), virt_class="[red]")}))
    with LiveProgress(console) as progress:
        progress.start(host, f"connecting {MARKUP[0]}", total=2)
        progress.update(host, advance=1, description=f"step {MARKUP[1]}")
        progress.message(f"{host}: {MARKUP[0]}", level=Level.ERROR)
        progress.finish(host, f"failed {MARKUP[0]}", ok=False)
    shown = out.getvalue()
    assert f"died {MARKUP[0]}" in shown and host in shown and "[red]" in shown
    assert f"failed {MARKUP[0]}" in shown and f"{host}: {MARKUP[0]}" in shown


def test_markup_in_the_catalog_is_shown_as_it_is(harness: BuildInfo) -> None:
    listed = subprocess.run(
        [str(harness.path), "list"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    doc = json.loads(listed)
    doc["benchmarks"][0].update(supported=False, reason=f"no {MARKUP[0]} here {MARKUP[1]}")
    console, out = terminal()
    console.print(catalog_table(parse_catalog(json.dumps(doc))))
    assert f"no {MARKUP[0]} here {MARKUP[1]}" in out.getvalue()


# --- planning -------------------------------------------------------------------------


def test_a_thousand_hosts_chained_by_baseline_plan_without_recursion() -> None:
    """1,100 hosts, each the baseline of the next, listed last first: planned (no
    RecursionError), every baseline before the hosts measured against it."""
    n = 1100
    chain = [local(f"h{i}", "box", f"h{i - 1}" if i else None) for i in range(n)]
    ordered = plan_hosts(list(reversed(chain)))
    assert [h.name for h in ordered] == [f"h{i}" for i in range(n)]
    groups = by_machine(list(reversed(chain)))
    assert len(groups) == 1 and [h.name for h in groups[0]] == [f"h{i}" for i in range(n)]


def test_a_cycle_of_baselines_is_refused_in_one_line() -> None:
    hosts = [local("a", "box", "c"), local("b", "box", "a"), local("c", "box", "b")]
    with pytest.raises(UserError, match=r"baselines form a cycle: a -> c -> b -> a") as info:
        plan_hosts(hosts)
    assert "\n" not in str(info.value)


# --- SIGTERM, SIGHUP and the run's lock: real ringbench processes ---------------------


def ringbench(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runners.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        preexec_fn=as_from_a_terminal,
    )


def harness_processes(marker: Path) -> list[int]:
    """Harness processes (not the ringbench command line that starts them) whose command
    line names ``marker`` (the test's own --dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        harness = bool(argv) and Path(os.fsdecode(argv[0])).name.startswith("ringbench-bench")
        if harness and os.fsencode(marker) in argv and b"run" in argv:
            found.append(int(entry.name))
    return found


def wait_for(what: str, ready: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:.0f} s"
        time.sleep(0.02)


def one_run(results: Path) -> RunDir:
    runs = ResultStore(results).runs()
    assert len(runs) == 1
    return runs[0]


def has_manifest(results: Path) -> bool:
    runs = ResultStore(results).runs()
    return bool(runs) and runs[0].manifest_path.exists()


@pytest.fixture
def no_leftovers(workdir: Path) -> Iterator[Path]:
    yield workdir
    for pid in harness_processes(workdir):  # clean up after a failed test only
        os.kill(pid, signal.SIGKILL)


LONG_RUN = ("run", "--local", "--bench", "syscall-null", "--processes", "40", "--min-time", "0.05")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_stops_a_run_as_ctrl_c_does(
    harness: BuildInfo, tmp_path: Path, no_leftovers: Path, sig: signal.Signals
) -> None:
    """Killed mid-process: exit 130, the manifest says interrupted, the harness process
    it was running is gone, and no traceback."""
    results = tmp_path / "results"
    proc = ringbench(*LONG_RUN, "--dir", str(no_leftovers), "--results", str(results))
    wait_for("a harness process", lambda: bool(harness_processes(no_leftovers)))
    wait_for("the manifest", lambda: has_manifest(results))
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert "interrupted" in out
    run = one_run(results)
    m = manifest_of(run)
    assert m["status"] == "interrupted"
    assert m["hosts"]["localhost"]["status"] == "interrupted"
    assert harness_processes(no_leftovers) == [], "no ringbench-bench process left"
    assert list(no_leftovers.iterdir()) == [], "the harness removed its files"


def test_a_second_writer_of_a_run_is_refused_at_once(
    harness: BuildInfo, tmp_path: Path, no_leftovers: Path
) -> None:
    """A run being measured, then being resumed, holds its lock: a resumer of the same
    run meanwhile fails at once, in one line naming the run and the other process."""
    results = tmp_path / "results"
    first = ringbench(*LONG_RUN, "--dir", str(no_leftovers), "--results", str(results))
    wait_for("the manifest", lambda: has_manifest(results))
    run = one_run(results)
    resume = ("run", "--resume", str(run.path), "--results", str(results))

    def refused_while(writer: subprocess.Popen[str]) -> None:
        second = ringbench(*resume)
        out, err = second.communicate(timeout=60)
        lines = err.strip().splitlines()
        assert second.returncode == 2, (out, err)
        assert len(lines) == 1 and lines[0].startswith("ringbench: error: "), lines
        assert (
            f"run {run.run_id} is being written by another ringbench (pid {writer.pid})"
            in (lines[0])
        )
        assert writer.poll() is None, "the writer went on"

    refused_while(first)
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=60)
    assert first.returncode == 130
    assert manifest_of(run)["status"] == "interrupted"
    resumer = ringbench(*resume, "--dir", str(no_leftovers))
    assert resumer.stdout is not None
    assert resumer.stdout.readline().startswith(f"resuming {run.run_id}")
    refused_while(resumer)
    resumer.send_signal(signal.SIGTERM)
    resumer.communicate(timeout=60)
    assert resumer.returncode == 130
    assert manifest_of(run)["status"] == "interrupted", "the refused resumer wrote nothing"


def test_the_run_log_is_appended_under_a_lock_and_says_its_format(tmp_path: Path) -> None:
    from runners.outcome import RunLog

    log = RunLog(tmp_path / "run.log")
    log.append("web", "first", "line one\n")
    try:
        raise ValueError("x [/red]")
    except ValueError as exc:
        log.exception("db", "second", exc)
    text = (tmp_path / "run.log").read_text()
    lines = text.splitlines()
    assert lines[0] == "# ringbench run log, format 1"
    headers = [line for line in lines if line.startswith("== ")]
    assert len(headers) == 2 and headers[0].endswith(" web: first")
    assert "ValueError: x [/red]" in text and (tmp_path / "run.log").stat().st_mode & 0o077 == 0


def test_a_failing_display_fails_neither_host_nor_run(
    catalog: Catalog, harness: BuildInfo, tmp_path: Path, workdir: Path
) -> None:
    """A progress display that raises (as rich did on markup) fails neither the host nor
    the run: the display's error goes to the log."""

    class Broken:  # FAKE: a display that fails on every call
        def start(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("display broke")

        update = finish = message = start

    plan = RunPlan((LOCAL_HOST,), (catalog.get("trap-cpuid"),), quick(workdir))
    run_dir = ResultStore(tmp_path / "results").create()
    outcomes = Pipeline(plan, run_dir, harness, Broken(), RunOrigin()).carry_out()
    assert outcomes["localhost"].status.value == "complete"
    assert "RuntimeError: display broke" in run_dir.log_path.read_text()


def test_the_process_timeout_is_two_minutes_unless_the_settings_need_more() -> None:
    from runners.cli.main import build_parser
    from runners.cli.run import PROCESS_TIMEOUT_S, config_from_args

    def timeout(*args: str) -> float:
        args = build_parser().parse_args(["run", "--local", *args])
        return config_from_args(args).process_timeout_s

    assert PROCESS_TIMEOUT_S == 120.0
    assert timeout() == timeout("--fast") == PROCESS_TIMEOUT_S
    # a warmup and 10 values of at least 5 s each: more than 2 minutes, and then some
    long = timeout("--min-time", "5", "--values", "10", "--warmups", "1")
    assert long > 2 * (1 + 10) * 5
