"""``ringbench workload`` for real: a local baseline and a guest behind a real sshd (the
same machine: the prediction should find what was measured), shipped workloads and a
command of the user's."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyperf
import pytest
from rich.console import Console

from analysis.workloads import PRICED
from reports.render import execute
from ringbench.errors import UserError
from ringbench.results import RunDir
from runners.cli import main
from runners.cli.workload import cmd_workload
from runners.plan import LOCAL_HOST, ConnectOptions
from runners.workloads import HostResult, HostSession, Task, read_counts_document, run_tasks
from suites.build import BuildInfo
from suites.counting import CommandTime
from suites.workloads import load_workloads
from tests.sshd import Sshd, inventory_lines

REPORTS = Path(__file__).resolve().parent.parent / "reports"
QUICK = ["--processes", "3", "--values", "3", "--warmups", "1", "--min-time", "0.005"]


@pytest.fixture
def priced(
    harness: BuildInfo, sshd_factory: Callable[..., Sshd], tmp_path: Path
) -> tuple[Path, Path, RunDir]:
    """An inventory (native, local; guest over sshd, its baseline native) and a run of the
    microbenchmarks the model prices with."""
    lines = ["all:", "  hosts:", "    native:", "      ansible_connection: local",
             "      machine: box0"]  # fmt: skip
    lines += inventory_lines({"guest": sshd_factory("guest")})
    text = "\n".join(lines).replace("machine: m-guest", "machine: box0\n      baseline: native")
    inv = tmp_path / "inventory.yaml"
    inv.write_text(text + "\n")
    results = tmp_path / "results"
    benches = [a for b in PRICED for a in ("--bench", b)]
    assert main(["run", "--inventory", str(inv), *benches, *QUICK, "--results", str(results)]) == 0
    (run,) = [p for p in results.iterdir() if p.is_dir()]
    return inv, results, RunDir(run)


def test_shipped_workloads_are_measured_counted_stored_and_predicted(
    priced: tuple[Path, Path, RunDir],
) -> None:
    inv, results, run = priced
    console = Console(record=True, width=200)
    code = cmd_workload(
        console,
        inventory=[inv],
        results=results,
        workload_names=["spawn", "compute"],
        repetitions=3,
    )
    assert code == 0, console.export_text()
    text = console.export_text()
    assert "spawn" in text and "compute" in text and "median |error|" in text
    # stored beside the run's microbenchmarks: a pyperf suite and the counts, per host
    for host in ("native", "guest"):
        suite = pyperf.BenchmarkSuite.load(str(run.workloads_dir / f"{host}.json"))
        bench = suite.get_benchmark("workload-spawn")
        assert bench.get_nrun() == 3 and all(v > 0 for v in bench.get_values())
        doc = read_counts_document(run.workloads_dir / f"{host}.counts.json")
        assert doc is not None
        spawn = doc["workloads"]["spawn"]
        assert spawn["count"]["forks"] >= 300 and spawn["count"]["execs"] >= 301
        assert len(spawn["times"]) == 3 and spawn["failed"] == "" and spawn["skipped"] == ""
    document = json.loads((run.analysis_dir / "workloads.json").read_text())
    assert document["format_version"] == 1 and document["run"] == run.run_id
    rows = {r["workload"]: r for r in document["rows"]}
    assert set(rows) == {"spawn", "compute"}
    for r in rows.values():
        assert r["host"] == "guest" and r["baseline"] == "native"
        assert r["predicted_low_s"] <= r["predicted_s"] <= r["predicted_high_s"]
        assert r["measured_low_s"] <= r["measured_s"] <= r["measured_high_s"]
        events = {t["event"] for t in r["terms"]}
        assert {"processes", "execs", "page faults", "user CPU"} <= events
        assert "host_counts" in r
    # The same machine on both sides: the model adds what the microbenchmarks differ by,
    # which is within their noise, so the prediction is the baseline's time give or take;
    # the guest's measured time is the same program's on the same CPU. Far beyond the noise
    # would be a model that prices the wrong thing (an error of a factor).
    for r in rows.values():
        assert abs(r["error"]) < 0.5, r
    (s,) = document["summary"]
    assert s["host"] == "guest" and s["workloads"] == 2
    # the notebook, executed for real on the run, from the stored files
    nb = execute(
        REPORTS / "workloads.ipynb", {"runs": [str(run.path)], "results_dir": str(results)}
    )
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "2 workloads" in outputs and "image/png" in outputs and "median_abs_error" in outputs
    assert "no workload" not in outputs.lower()


def test_the_users_command_is_counted_on_the_baseline_and_predicted(
    priced: tuple[Path, Path, RunDir], tmp_path: Path
) -> None:
    inv, results, run = priced
    console = Console(record=True, width=200)
    secret = "hunter2-not-a-file"
    command = ["sh", "-c", f"for i in 1 2 3 4 5; do ls / > /dev/null; done # {secret}"]
    code = cmd_workload(
        console, inventory=[inv], host_patterns=["native"], results=results, command=command
    )
    assert code == 0, console.export_text()
    text = console.export_text()
    assert "guest" in text and "native" in text and "predicted" in text
    assert not run.workloads_dir.exists(), "the user's command is not stored"
    for path in tmp_path.rglob("*.json"):
        assert secret not in path.read_text(errors="replace"), path


def test_the_users_command_needs_one_baseline(priced: tuple[Path, Path, RunDir]) -> None:
    inv, results, _ = priced
    with pytest.raises(UserError, match="name the one baseline host"):
        cmd_workload(Console(), inventory=[inv], results=results, command=["true"])
    with pytest.raises(UserError, match="no host has guest as its baseline"):
        cmd_workload(
            Console(), inventory=[inv], host_patterns=["guest"], results=results, command=["true"]
        )


def test_a_failing_workload_fails_alone(priced: tuple[Path, Path, RunDir]) -> None:
    """A command that exits 3: its failure is one line per host, the exit code 1, and the
    run's other files untouched."""
    inv, results, _ = priced
    console = Console(record=True, width=200)
    code = cmd_workload(
        console,
        inventory=[inv],
        host_patterns=["native"],
        results=results,
        command=["sh", "-c", "exit 3"],
    )
    assert code == 1
    assert "the command ended with exit status 3" in console.export_text()


def test_no_run_to_price_with_is_one_line(tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text("all:\n  hosts:\n    native:\n      ansible_connection: local\n")
    with pytest.raises(UserError, match="run 'ringbench run' first"):
        cmd_workload(Console(), inventory=[inv], results=tmp_path / "none")


class InterruptedOnTheSecondRepetition(HostSession):
    """A FAKE fault: a real local session whose second timed run is interrupted (Ctrl-C
    at a chosen moment cannot be produced for real on demand)."""

    calls = 0

    def timed(self, task: Task) -> CommandTime:
        type(self).calls += 1
        if type(self).calls == 2:
            raise KeyboardInterrupt
        return super().timed(task)


def test_what_was_measured_before_an_interruption_is_kept(harness: BuildInfo) -> None:
    session = InterruptedOnTheSecondRepetition(LOCAL_HOST, harness, ConnectOptions())
    (spawn,) = [Task.of(w) for w in load_workloads() if w.name == "spawn"]
    found: dict[tuple[str, str], HostResult] = {}
    try:
        with pytest.raises(KeyboardInterrupt):
            run_tasks({LOCAL_HOST.name: session}, [spawn], 3, results=found)
    finally:
        session.close()
    (result,) = found.values()
    assert result.count is not None and result.count["forks"] >= 300
    assert len(result.times) == 1 and result.times[0].succeeded


def test_a_host_that_cannot_be_reached_is_left_out_in_one_line(
    priced: tuple[Path, Path, RunDir], tmp_path: Path
) -> None:
    """The guest's sshd port closed: the guest is left out with one line, the baseline is
    still measured and stored, the exit code says something failed."""
    inv, results, run = priced
    text = inv.read_text()
    port = next(line.split(":")[1].strip() for line in text.splitlines() if "ansible_port" in line)
    dead = tmp_path / "dead.yaml"
    dead.write_text(text.replace(f"ansible_port: {port}", "ansible_port: 1"))
    console = Console(record=True, width=200)
    code = cmd_workload(
        console, inventory=[dead], results=results, workload_names=["compute"], repetitions=1
    )
    assert code == 1
    out = console.export_text()
    assert "guest: left out:" in out
    assert (run.workloads_dir / "native.json").exists()
    assert not (run.workloads_dir / "guest.json").exists()
