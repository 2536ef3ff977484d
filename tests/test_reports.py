"""The report notebooks, executed for real on real runs, rendered and opened in Chromium."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from rich.console import Console

from reports.check import HERE, dirty_cells
from reports.render import ReportError, execute, render
from runners.cli import main
from suites.build import BuildInfo
from tests.browser import dom, screenshot
from tests.sshd import Sshd
from tests.test_remote_run import QUICK, inventory

BENCHES = ["--bench", "syscall-null", "--bench", "trap-cpuid", "--bench", "fault-anon"]


def test_notebooks_are_stored_without_outputs() -> None:
    books = sorted(HERE.glob("*.ipynb"))
    assert {b.name for b in books} == {
        "overhead.ipynb",
        "host.ipynb",
        "regressions.ipynb",
        "workloads.ipynb",
    }
    for book in books:
        nb = nbformat.read(book, as_version=4)
        assert dirty_cells(nb) == [], book
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{book.name}: one cell tagged 'parameters'"


def two_runs(tmp_path: Path, sshd_factory: Callable[..., Sshd]) -> tuple[Path, list[Path]]:
    """Two real runs of a baseline (local) and a guest through a real loopback sshd."""
    inv = inventory(tmp_path, {"guest": sshd_factory("guest")})
    inv.write_text(
        inv.read_text().replace("machine: m-guest", "machine: box0\n      baseline: native")
    )
    results = tmp_path / "results"
    for _ in range(2):
        args = ["run", "--inventory", str(inv), *BENCHES, *QUICK, "--results", str(results)]
        assert main(args) == 0
    return results, sorted(p for p in results.iterdir() if p.is_dir())


def test_report_of_two_hosts_renders_tables_and_figures(
    harness: BuildInfo, sshd_factory: Callable[..., Sshd], tmp_path: Path
) -> None:
    results, (first, second) = two_runs(tmp_path, sshd_factory)
    out = render([], results, tmp_path / "out")
    assert out == tmp_path / "out" / second.name
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "host-guest.html",
        "host-native.html",
        "index.html",
        "overhead.html",
        "regressions.html",
        "report.json",
    ]
    main_report = (out / "overhead.html").read_text()
    assert "ringbench-report-format" in main_report
    for text in (
        "The environments",
        "Calibration: the ratios whose truth is known",
        "calibration: ",  # the computed line
        "syscall-null",
        "ring transition",
        "Conclusion",
        "guest",
    ):
        assert text in main_report, text
    assert main_report.count("data:image/png;base64") >= 4  # heat map, bars, ECDF, mechanisms
    assert "<table" in main_report
    # No stderr output (a warning, a traceback) made it into the page.
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in main_report
    regress = (out / "regressions.html").read_text()
    assert f"{second.name} against {first.name}" in regress
    host = (out / "host-guest.html").read_text()
    assert "Stability across processes" in host and "data:image/png;base64" in host
    index = (out / "index.html").read_text()
    for page in ("overhead.html", "host-native.html", "regressions.html"):
        assert f'href="{page}"' in index

    screenshot(out / "index.html", "report-index.png")
    screenshot(out / "overhead.html", "report-overhead.png")
    page = dom(out / "index.html")
    assert "ringbench report" in page and "overhead.html" in page


def outputs_text(nb: nbformat.NotebookNode) -> str:
    """Everything the executed cells showed: streams, Markdown, HTML and plain text."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts += [data.get(k, "") for k in ("text/markdown", "text/html", "text/plain")]
    return "\n".join(parts)


def test_the_overhead_report_shows_the_calibration_and_a_durability_flag(tmp_path: Path) -> None:
    """A run of the lab's shape on disk (a container at x1.06 on syscall-null, UML's
    synchronous I/O cheaper than native's disk): the calibration section shows the flagged
    line and its table, the validity section the durability findings."""
    from tests.test_calibration import lab_run

    results = tmp_path / "results"
    run = lab_run(results, container_syscall=106e-9)
    nb = execute(HERE / "overhead.ipynb", {"runs": [run], "results_dir": str(results)})
    text = outputs_text(nb)
    assert "calibration: 5 known-truth ratios, FLAGGED: container syscall-null x1.06" in text
    assert "The run is flagged" in text and "⚑" in text and "✓" in text
    assert "RDTSC not trapped" in text  # UML's row of the table
    assert "durability" in text and "cheaper than the disk beneath it" in text
    assert "- Calibration: 5 known-truth ratios, FLAGGED" in text  # the conclusion's line


def test_report_of_a_local_run_against_nothing(harness: BuildInfo, tmp_path: Path) -> None:
    results = tmp_path / "results"
    assert main(["run", "--local", *BENCHES, *QUICK, "--results", str(results)]) == 0
    console = Console(record=True, width=120)
    from runners.cli.reports import cmd_report

    assert cmd_report(console, [], results, tmp_path / "out") == 0
    (out,) = (tmp_path / "out").iterdir()
    main_report = (out / "overhead.html").read_text()
    assert "No host of this run has a baseline" in main_report
    assert "Only one run: nothing to compare yet" in (out / "regressions.html").read_text()
    assert "localhost" in (out / "host-localhost.html").read_text()


def test_a_failing_cell_names_the_notebook_and_the_cell(tmp_path: Path) -> None:
    book = tmp_path / "broken.ipynb"
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell("assert x == 2, 'x was ' + str(x)"),
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(nb, book)
    with pytest.raises(ReportError, match=r"broken.ipynb: cell 3 failed: AssertionError: x was 5"):
        execute(book, {"x": 5})


def test_report_command_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--results", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no runs" in err and err.strip().count("\n") == 0


def test_the_overhead_report_shows_the_runtime_mechanisms_beside_the_published(
    tmp_path: Path,
) -> None:
    """A run of the lab's shape with gVisor (issue 16) on disk: the mechanisms table has
    its system-call interception and the namespaces of the lab's container, each against
    native, and the published gVisor figures stand beside them."""
    from tests.history_data import run_id, write_run

    figures = {
        "native": {"syscall-null": 200e-9, "trap-rdtsc": 20e-9},
        "container": {"syscall-null": 200e-9, "trap-rdtsc": 20e-9},
        "gvisor": {"syscall-null": 115e-6, "trap-rdtsc": 20e-9},
    }
    facts = {"gvisor": {"virt_class": "application-kernel", "kernel": "4.4.0"}}
    results = tmp_path / "results"
    write_run(results, 0, figures, facts, baseline="native")
    nb = execute(HERE / "overhead.ipynb", {"runs": [run_id(0)], "results_dir": str(results)})
    text = outputs_text(nb)
    for shown in (
        "system-call interception",
        "container namespaces",
        "against native (×57",  # gvisor's interception: 115 µs over 200 ns, x575
        "gvisor against native: ×57",  # beside the published figures
        "gVisor runsc, ptrace platform (gvisor-ant2021",
        "against runc (gvisor-perf",
        "Its application kernel's system-call interception adds 11",
    ):
        assert shown in text, shown
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in text
