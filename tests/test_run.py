"""`ringbench run --local` end to end: results on disk that pyperf reads unchanged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyperf
import pytest

from ringbench.results import RESULT_FORMAT, RunDir
from runners.cli import main
from runners.execute import RunConfig
from suites.build import BuildInfo
from suites.catalog import Catalog

QUICK = ["--processes", "2", "--values", "2", "--warmups", "1", "--min-time", "0.005"]


def suite_of(run_dir: Path, host: str) -> Path:
    """Where the run keeps the host's pyperf suite (wherever the results layout puts it)."""
    return RunDir(run_dir).suite_path(host)


def only_run(results: Path) -> Path:
    runs = [p for p in results.iterdir() if p.is_dir()]
    assert len(runs) == 1
    return runs[0]


def test_local_run_writes_a_pyperf_suite_and_manifest(
    harness: BuildInfo, tmp_path: Path, workdir: Path
) -> None:
    results = tmp_path / "results"
    code = main(
        [
            "run",
            "--local",
            "--bench",
            "syscall-null",
            "--bench",
            "trap-cpuid",
            *QUICK,
            "--results",
            str(results),
            "--dir",
            str(workdir),
        ]
    )
    assert code == 0
    run_dir = only_run(results)
    suite = pyperf.BenchmarkSuite.load(str(suite_of(run_dir, "localhost")))
    assert sorted(suite.get_benchmark_names()) == ["syscall-null", "trap-cpuid"]
    bench = suite.get_benchmark("syscall-null")
    assert bench.get_nrun() == 2 * 2 and bench.get_unit() == "second"  # sampling: x2 processes
    assert len(bench.get_values()) == 4 * 2
    meta = bench.get_metadata()
    assert meta["binary_sha256"] == harness.sha256
    for key in (
        "host",
        "kernel",
        "cpu_model_name",
        "clocksource",
        "loops",
        "mechanism",
        "ringbench_format",
        "mitigations",
    ):
        assert key in meta, key
    runs = bench.get_runs()
    for key in ("timer_s", "loop_overhead_s", "pid", "date", "clock_skew_s", "duration"):
        assert key in runs[0].get_metadata(), key
    assert "calibrate_loops" in runs[0].get_metadata()
    assert "calibrate_loops" not in runs[1].get_metadata()
    assert runs[0].get_loops() == runs[1].get_loops(), "later processes reuse the calibration"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["format_version"] == RESULT_FORMAT and manifest["status"] == "complete"
    assert manifest["hosts"]["localhost"]["counts"]["success"] == 2
    probe = json.loads(RunDir(run_dir).probe_path("localhost").read_text())
    assert probe["format_version"] == 1 and probe["facts"]["kernel"]
    stats = subprocess.run(
        [sys.executable, "-m", "pyperf", "stats", str(suite_of(run_dir, "localhost"))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert stats.returncode == 0 and "syscall-null" in stats.stdout
    compare = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyperf",
            "compare_to",
            str(suite_of(run_dir, "localhost")),
            str(suite_of(run_dir, "localhost")),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert compare.returncode == 0, compare.stderr


def test_run_on_the_default_inventory_shape(
    harness: BuildInfo, tmp_path: Path, workdir: Path
) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "all:\n  hosts:\n    here:\n      ansible_connection: local\n"
        "      virt_class: hardware-assisted\n"
    )
    results = tmp_path / "results"
    assert (
        main(
            [
                "run",
                "--inventory",
                str(inventory),
                "--family",
                "net",
                *QUICK,
                "--results",
                str(results),
                "--dir",
                str(workdir),
            ]
        )
        == 0
    )
    suite = pyperf.BenchmarkSuite.load(str(suite_of(only_run(results), "here")))
    assert suite.get_benchmark("net-tcp-rr").get_metadata()["virt_class"] == "hardware-assisted"


def test_a_mixed_fleet_runs_on_the_hosts_it_can_and_says_which_it_left_out(
    harness: BuildInfo, tmp_path: Path, workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """An INI inventory, as Ansible users write them, with a Windows host and a host that
    logs in with a password beside the one ringbench can run on."""
    inventory = tmp_path / "hosts"
    inventory.write_text(
        "[bench]\nhere ansible_connection=local\n\n[windows]\nwin1 ansible_connection=winrm\n"
        "\n[legacy]\nold1 ansible_host=192.0.2.9 ansible_password=hunter2\n"
    )
    results = tmp_path / "results"
    argv = ["run", "-i", str(inventory), "--bench", "syscall-null", *QUICK]
    assert main([*argv, "--results", str(results), "--dir", str(workdir)]) == 0
    out = capfd.readouterr().out
    assert f"host 'win1' ({inventory}:5): left out: it connects with 'winrm'" in out
    assert f"host 'old1' ({inventory}:8): left out: it logs in with a password (ansible_pa" in out
    assert "hunter2" not in out
    manifest = json.loads(RunDir(only_run(results)).manifest_path.read_text())
    assert list(manifest["hosts"]) == ["here"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "--local", "--bench", "syscall-nul"], "did you mean 'syscall-null'"),
        (["run", "--local", "--family", "nope"], "unknown family 'nope'"),
        (["run", "--local", "--processes", "zero"], "--processes"),
        (["run", "--local", "--min-time", "-0.1"], "--min-time"),
        (["run", "--local", "--param", "mem-copy:nope=1"], "has no parameter 'nope'"),
        (["run", "--local", "--param", "junk"], "BENCH:KEY=VALUE"),
        (["run", "--local", "--dir", "/proc"], "cannot create files in /proc"),
        (["run", "--inventory", "/nonexistent/inventory.yaml"], "/nonexistent/inventory.yaml"),
        (["frob"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    harness: BuildInfo,
    tmp_path: Path,
    args: list[str],
    words: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    code = main([*args, "--results", str(tmp_path / "r")] if args[0] == "run" else args)
    err = capfd.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("ringbench: error:") and words in err[0], err


def test_unwritable_results_directory(
    harness: BuildInfo, capfd: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--local", "--bench", "syscall-null", "--results", "/proc/results"])
    err = capfd.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "/proc/results" in err[0]


def test_interrupted_run_keeps_whole_files(
    harness: BuildInfo, tmp_path: Path, workdir: Path
) -> None:
    """Ctrl-C after the first benchmark: every file on disk is whole and says so."""
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runners.cli",
            "run",
            "--local",
            "--family",
            "syscall",
            "--processes",
            "3",
            "--min-time",
            "0.05",
            "--results",
            str(results),
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    suite_file = None
    while time.monotonic() < deadline and suite_file is None:
        runs = [p for p in results.iterdir() if p.is_dir()] if results.exists() else []
        found = [suite_of(p, "localhost") for p in runs if suite_of(p, "localhost").exists()]
        suite_file = found[0] if found else None
        time.sleep(0.05)
    assert suite_file is not None, "no benchmark finished within 60 s"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    run_dir = only_run(results)
    assert "interrupted" in out and str(run_dir) in out.replace("\n", "")
    suite = pyperf.BenchmarkSuite.load(str(suite_file))
    assert suite.get_benchmark_names()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert not list(run_dir.rglob(".*.tmp")), "no temporary file left behind"
    assert list(workdir.iterdir()) == [], "the harness removed its files"


def test_clock_check_flags_a_host_clock_outside_the_window() -> None:
    """A process whose reported wall clock lies outside the controller's window is flagged."""
    from runners.execute import CLOCK_TOLERANCE_S, TimedProcess
    from suites.protocol import parse_run_output

    text = (Path(__file__).parent / "data" / "run-syscall-null.jsonl").read_text()
    result = parse_run_output(text)
    start = result.start_realtime_ns / 1e9
    end = result.end_realtime_ns / 1e9
    inside = TimedProcess(result, launched_at=start - 0.01, returned_at=end + 0.01)
    assert inside.clock_ok and inside.clock_skew_s == 0
    behind = TimedProcess(result, launched_at=start + 5, returned_at=end + 6)
    assert not behind.clock_ok and behind.clock_skew_s > CLOCK_TOLERANCE_S


def test_several_hosts_are_summarised_side_by_side(
    harness: BuildInfo,
    tmp_path: Path,
    workdir: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "all:\n  hosts:\n    base:\n      ansible_connection: local\n"
        "    other:\n      ansible_connection: local\n      baseline: base\n"
    )
    assert (
        main(
            [
                "run",
                "--inventory",
                str(inventory),
                "--bench",
                "syscall-null",
                *QUICK,
                "--results",
                str(tmp_path / "r"),
                "--dir",
                str(workdir),
            ]
        )
        == 0
    )
    out = capfd.readouterr().out
    assert "median per operation (x baseline)" in out
    assert "hardware-assisted" in out, "each host's column names its class"
    assert " x" in out.split("median per operation")[1], "the host with a baseline: its ratio"


class Recorder:
    """A :class:`ringbench.progress.Progress` that keeps what the pipeline told it, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []
        self.hosts: list[str] = []  # the host of each process event

    def start(self, task: str, description: str, *, total: float | None = None) -> None:
        self.events.append(("host", task))

    def update(
        self,
        task: str,
        *,
        advance: float = 0,
        description: str | None = None,
        completed: float | None = None,
        total: float | None = None,
    ) -> None:
        if description and advance == 1:  # one harness process: "BENCH k/N"
            bench, _, done = description.partition(" ")
            self.events.append(("process", bench, done.split("/")[0]))
            self.hosts.append(task)

    def finish(self, task: str, description: str, *, ok: bool = True) -> None:
        self.events.append(("done", task))

    def message(self, text: str, *, level: object = None) -> None:
        self.events.append(("message", text))


def test_processes_of_the_benchmarks_take_turns(
    harness: BuildInfo, catalog: Catalog, tmp_path: Path, workdir: Path
) -> None:
    """Process 1 of every benchmark, then process 2 of every benchmark: a slow phase of the
    host lands on one process of several benchmarks, not on every process of one."""
    from ringbench.results import ResultStore
    from runners.pipeline import Pipeline, RunOrigin
    from runners.plan import LOCAL_HOST, RunPlan

    config = RunConfig(processes=3, values=3, warmups=0, min_time_s=0.002, workdir=str(workdir))
    benches = (catalog.get("syscall-stat"), catalog.get("trap-ud2"))
    plan = RunPlan(hosts=(LOCAL_HOST,), benchmarks=benches, config=config)
    recorder = Recorder()
    run_dir = ResultStore(tmp_path).create()
    Pipeline(plan, run_dir, harness, recorder, RunOrigin()).carry_out()
    processes = [e[1:] for e in recorder.events if e[0] == "process"]
    assert processes == [
        ("syscall-stat", "1"),
        ("trap-ud2", "1"),
        ("syscall-stat", "2"),
        ("trap-ud2", "2"),
        ("syscall-stat", "3"),
        ("trap-ud2", "3"),
    ]
    # the benchmarks in the order they finished: the order the host's suite stores them
    stored = json.loads(run_dir.suite_path("localhost").read_text())["benchmarks"]
    assert [b["metadata"]["name"] for b in stored] == ["syscall-stat", "trap-ud2"]


def test_a_benchmark_that_asks_for_more_sampling_gets_it_and_says_so(
    harness: BuildInfo, tmp_path: Path, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """mem-copy is measured with 4x the values and 2x the processes of the run's
    configuration (its catalog entry's sampling); the others as configured."""
    results = tmp_path / "results"
    args = ["run", "--local", "--bench", "mem-copy", "--bench", "syscall-null"]
    args += ["--processes", "2", "--values", "3", "--min-time", "0.002"]
    args += ["--param", "mem-copy:size_bytes=4194304", "--dir", str(workdir)]
    assert main([*args, "--results", str(results)]) == 0
    assert "(syscall-null x2 processes; mem-copy x4 values x2 processes)" in (
        capsys.readouterr().out
    )
    suite = pyperf.BenchmarkSuite.load(str(suite_of(only_run(results), "localhost")))
    copy, null = suite.get_benchmark("mem-copy"), suite.get_benchmark("syscall-null")
    assert (copy.get_nrun(), null.get_nrun()) == (4, 4)
    assert {len(r.values) for r in copy.get_runs()} == {12}
    assert {len(r.values) for r in null.get_runs()} == {3}
    assert copy.get_metadata()["processes"] == 4
    manifest = json.loads((only_run(results) / "manifest.json").read_text())
    assert manifest["hosts"]["localhost"]["benchmarks"]["mem-copy"]["processes"] == 4


def test_hosts_of_one_machine_take_turns_process_by_process(
    harness: BuildInfo, catalog: Catalog, tmp_path: Path, workdir: Path
) -> None:
    """Process k of every benchmark on every host of a machine before process k+1: a guest
    and its baseline are measured seconds apart, never at the same time."""
    import dataclasses

    from ringbench.results import ResultStore
    from runners.pipeline import Pipeline, RunOrigin
    from runners.plan import LOCAL_HOST, RunPlan, plan_hosts

    base = dataclasses.replace(LOCAL_HOST, name="base", machine="box")
    guest = dataclasses.replace(LOCAL_HOST, name="guest", machine="box", baseline="base")
    config = RunConfig(processes=2, values=3, warmups=0, min_time_s=0.002, workdir=str(workdir))
    benches = (catalog.get("syscall-stat"), catalog.get("trap-ud2"))
    plan = RunPlan(hosts=plan_hosts([guest, base]), benchmarks=benches, config=config)
    recorder = Recorder()
    run_dir = ResultStore(tmp_path).create()
    outcomes = Pipeline(plan, run_dir, harness, recorder, RunOrigin()).carry_out()
    assert {o.status.value for o in outcomes.values()} == {"complete"}
    processes = [
        (host, *e[1:])
        for host, e in zip(
            recorder.hosts, [e for e in recorder.events if e[0] == "process"], strict=True
        )
    ]
    assert processes == [
        (host, bench, str(k))
        for k in (1, 2)
        for bench in ("syscall-stat", "trap-ud2")
        for host in ("base", "guest")
    ]


def test_precision_adds_processes_until_the_interval_is_narrow(
    harness: BuildInfo, tmp_path: Path, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A loose precision is reached as soon as a figure has enough processes to judge."""
    from runners.precision import MIN_PROCESSES

    results = tmp_path / "results"
    args = ["run", "--local", "--bench", "trap-rdtsc", "--processes", "2", "--values", "3"]
    args += ["--min-time", "0.002", "--dir", str(workdir), "--results", str(results)]
    assert main([*args, "--precision", "50", "--max-time", "120"]) == 0
    suite = pyperf.BenchmarkSuite.load(str(suite_of(only_run(results), "localhost")))
    assert suite.get_benchmark("trap-rdtsc").get_nrun() == MIN_PROCESSES
    assert "precision: all 1 figures within +-50.0%" in capsys.readouterr().out


def test_precision_stops_at_the_time_budget_and_says_what_fell_short(
    harness: BuildInfo, tmp_path: Path, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    args = ["run", "--local", "--bench", "syscall-null", "--processes", "2", "--values", "3"]
    args += ["--min-time", "0.002", "--dir", str(workdir), "--results", str(results)]
    started = time.monotonic()
    assert main([*args, "--precision", "0.0001", "--max-time", "3"]) == 0
    assert time.monotonic() - started < 60
    out = capsys.readouterr().out
    assert "did not get there within 3 s: localhost syscall-null" in out
    suite = pyperf.BenchmarkSuite.load(str(suite_of(only_run(results), "localhost")))
    assert suite.get_benchmark("syscall-null").get_nrun() > 2


def test_max_time_without_precision_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--local", "--max-time", "5", "--results", str(tmp_path)]) == 2
    assert "give --precision PCT too" in capsys.readouterr().err
