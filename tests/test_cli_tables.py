"""Tables off a terminal (a pipe, a file, a CI log) and a fleet's tables: through the real
command line, the real console and the real table builders.

Off a terminal the console is 200 columns (``COLUMNS`` to choose) and a table is printed
whole however wide its cells are; on a terminal rich fits it to the terminal as before.
A table with a column per host lists a fleet of more than eight with a row per host.
"""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from ringbench.results import BenchStatus, HostStatus
from runners.cli import main
from runners.cli.common import WIDE, log_width, make_console
from runners.cli.tables import MAX_ACROSS, hosts_table
from runners.execute import BenchOutcome, TimedProcess
from runners.outcome import HostOutcome
from suites.catalog import Benchmark
from suites.protocol import ProcessResult, Sample, parse_run_output

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parent.parent

# Real fleets name hosts by their fully qualified names, and the hypervisor strings are
# long: the table's longest words alone are wider than 200 columns.
FQDN = "compute-node-0042.rack-12.row-c.datacenter-east.bench.example.org"
HYPERVISOR = "QEMU/KVM-9.2.0-debian-1:9.2.0+ds-1~bpo12+1-with-vhost-net-and-vfio"


def wide_inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "fleet.yaml"
    inv.write_text(
        "all:\n  hosts:\n    native:\n      ansible_connection: local\n"
        f"    {FQDN}:\n      ansible_user: bench\n      baseline: native\n"
        f"      machine: native\n      virt_class: hardware-assisted\n"
        f"      hypervisor: {HYPERVISOR}\n"
    )
    return inv


def longest_line(text: str) -> int:
    return max(len(line) for line in text.splitlines())


@pytest.mark.parametrize("columns", [None, "80", "not-a-number"])
def test_a_table_off_a_terminal_is_printed_whole(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    columns: str | None,
) -> None:
    """Standard output captured (not a terminal): every cell whole, no ellipsis, whatever
    COLUMNS says (a CI that sets 80, a COLUMNS that is no number: no traceback)."""
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    inv = wide_inventory(tmp_path)
    assert main(["inventory", "show", str(inv)]) == 0
    out = capfd.readouterr().out
    assert FQDN in out and HYPERVISOR in out and "hardware-assisted" in out
    assert "…" not in out
    assert longest_line(out) > WIDE, "wider than the console: the table was not squeezed"


def test_the_real_command_piped_prints_whole_tables(tmp_path: Path) -> None:
    """``ringbench inventory show FILE | tee``: a real process whose stdout is a pipe."""
    inv = wide_inventory(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run(
        [sys.executable, "-m", "runners.cli", "inventory", "show", str(inv)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert FQDN in done.stdout and HYPERVISOR in done.stdout and "…" not in done.stdout
    assert done.stderr == ""


def test_messages_off_a_terminal_stay_whole_lines(capsys: pytest.CaptureFixture[str]) -> None:
    console = make_console(terminal=False, columns=None)
    line = "word " * 100
    console.print(line.strip())
    assert capsys.readouterr().out == line.strip() + "\n"


def test_on_a_terminal_tables_still_fit_the_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A terminal's behaviour is rich's own: the table fits the terminal's width."""
    monkeypatch.setenv("COLUMNS", "100")
    console = make_console(terminal=True, columns="100")
    table = Table()
    for i in range(6):
        table.add_column(f"column {i}")
    table.add_row(*([FQDN] * 6))
    console.print(table)
    assert longest_line(capsys.readouterr().out) <= 100


def test_the_width_of_a_log() -> None:
    assert log_width(None) == WIDE and log_width("") == WIDE
    assert log_width("300") == 300 and log_width(" 120 ") == 120
    assert log_width("12") == WIDE and log_width("-5") == WIDE and log_width("1e3") == WIDE


def test_a_table_off_a_terminal_leaves_the_callers_table_as_it_was(
    capsys: pytest.CaptureFixture[str],
) -> None:
    console = make_console(terminal=False, columns=None)
    table = Table()
    table.add_column("host")
    table.add_row(FQDN)
    console.print(table)
    assert table.columns[0].overflow == "ellipsis"
    assert FQDN in capsys.readouterr().out


# --- a fleet: more hosts than fit side by side ----------------------------------------

BENCHES = ("syscall-null", "trap-cpuid", "mem-chase-4k", "file-fsync")
RESULT = parse_run_output((DATA / "run-syscall-null.jsonl").read_text())


def bench(name: str) -> Benchmark:
    family = name.split("-")[0]
    return Benchmark(name, family, family, "s/call", f"one {name}", (), True, "")


def outcome(name: str, value_s: float) -> BenchOutcome:
    loops = RESULT.calibration.loops
    values = tuple(Sample(i, loops, value_s * loops, value_s) for i in range(3))
    result: ProcessResult = dataclasses.replace(RESULT, bench=name, values=values)
    return BenchOutcome(bench(name), BenchStatus.SUCCESS, (TimedProcess(result, 0.0, 1.0),))


def fleet(hosts: int) -> dict[str, HostOutcome]:
    """``native`` and ``hosts - 1`` guests measured against it, each a little slower; the
    last guest's file-fsync failed."""
    out = {
        "native": HostOutcome(
            "native",
            HostStatus.COMPLETE,
            outcomes=tuple(outcome(b, 1e-7) for b in BENCHES),
            virt_class="bare-metal",
        )
    }
    for i in range(1, hosts):
        name = f"guest-{i:02d}"
        measured = [outcome(b, 1e-7 * (1 + i / 100)) for b in BENCHES]
        if i == hosts - 1:
            measured[-1] = BenchOutcome(bench(BENCHES[-1]), BenchStatus.FAILED, reason="boom")
        out[name] = HostOutcome(
            name,
            HostStatus.COMPLETE,
            outcomes=tuple(measured),
            virt_class="hardware-assisted",
            baseline="native",
        )
    return out


def rendered(table: Table, width: int = 120) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(table)
    return buffer.getvalue()


def rows_of(out: str) -> dict[str, list[str]]:
    """The table's body rows by their first cell."""
    rows = {}
    for line in out.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            rows[cells[0]] = cells
    return rows


def test_sixty_hosts_are_listed_a_row_each_every_one_named() -> None:
    outcomes = fleet(60)
    out = rendered(hosts_table(outcomes, full="ringbench overhead results/RUN"))
    assert longest_line(out) <= 120 and "…" not in out
    rows = rows_of(out)
    assert set(outcomes) <= set(rows), "every host named"
    for name, host in outcomes.items():
        assert all(rows[name]), f"an empty cell in {name}'s row: {rows[name]}"
        assert rows[name][1] == host.virt_class
    assert rows["guest-10"][2:5] == ["native", "4 of 4", "x1.1"], "its median ratio to native"
    assert rows["guest-59"][3] == "3 of 4, 1 failed"
    assert rows["native"][2:5] == ["-", "4 of 4", "-"]
    assert "60 hosts: a row per host" in out
    assert "every benchmark of every host: ringbench overhead results/RUN" in out


def test_a_few_hosts_stay_side_by_side() -> None:
    outcomes = fleet(MAX_ACROSS)
    out = rendered(hosts_table(outcomes), width=400)
    header = next(line for line in out.splitlines() if "guest-01" in line)
    assert all(name in header for name in outcomes), "one column per host"
    assert "x1.07" in out, "guest-07's syscall-null against native's"


def test_the_analysis_tables_list_a_fleet_a_row_per_host() -> None:
    """``ringbench overhead`` on twelve environments: the overhead and mechanism tables
    give each host its rows, every figure there, instead of twelve squeezed columns."""
    import numpy as np

    import analysis
    from analysis import bootstrap, mechanisms, summarize, validity
    from runners.cli.tables import mechanism_table, overhead_table
    from tests.analysis_data import Host, frame

    base = {"syscall-null": 100e-9, "fault-anon": 1100e-9}
    hosts = [Host("native", virt_class="bare-metal", medians=base)] + [
        Host(f"guest-{i:02d}", baseline="native", medians={k: v * 2 for k, v in base.items()})
        for i in range(1, 12)
    ]
    df = frame(hosts, np.random.default_rng(15), processes=3, values=5)
    boot = bootstrap(df)
    flags = validity(df, summarize(df, boot), boot)
    table = analysis.overhead(df, boot, flags)
    out = rendered(overhead_table(table, flags), width=120)
    assert longest_line(out) <= 120 and "…" not in out
    rows = rows_of(out)
    for host in hosts[1:]:
        row = rows[host.name]
        assert row[1:4] == ["hardware-assisted", "native", "fault-anon"]
        assert 1.8 < float(row[4].split()[0].removeprefix("x")) < 2.2, row
    assert "11 hosts: a row per host and benchmark" in out
    out = rendered(mechanism_table(mechanisms(df, boot)), width=120)
    assert longest_line(out) <= 120 and "…" not in out
    assert all(f" {h.name} " in out for h in hosts) and "ring transition" in out
    assert "12 hosts: a row per mechanism and host" in out


def test_the_run_tables_load_no_pandas() -> None:
    """``ringbench run`` prints :func:`hosts_table`: the module loads neither pandas nor the
    analysis until a DataFrame table is asked for."""
    code = (
        "import sys, runners.cli.main, runners.cli.tables; "
        "assert 'pandas' not in sys.modules and 'analysis.validity' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=ROOT)
