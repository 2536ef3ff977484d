"""Execute the report notebooks headless and render them to HTML.

``render(runs, results, out)`` executes each notebook of this folder with
nbclient in a fresh kernel, its inputs injected after the cell tagged
``parameters`` (papermill's convention, so papermill runs them unchanged),
and writes ``<out>/<run-id>/``: ``overhead.html``, one ``host-<name>.html``
per host, ``regressions.html``, ``workloads.html`` where ``ringbench workload``
measured real programs in the run, and an ``index.html`` that links them, every
figure embedded as data, so the folder opens from ``file://`` or publishes
as it is. A failing cell stops the rendering with :class:`ReportError`,
which names the notebook, the cell and the error.

No file name comes from what a host wrote: a host's page is named after the
host its probe document's file is named after (a name checked when it was
written, :func:`ringbench.results.host_file_problem`), a name that does not
pass that check, or that another host's takes on a case-insensitive disk,
gets a numbered page; every path written is checked to lie inside the
output folder. Probe documents that cannot be read are left out, each named
in a warning through ``progress``.
"""

from __future__ import annotations

import html
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter

from analysis.tidy import load_hosts
from analysis.validity import records
from ringbench import __version__
from ringbench.errors import UserError
from ringbench.files import atomic_write_text
from ringbench.progress import SILENT, Level, Progress
from ringbench.results import ResultStore, RunDir, host_file_key, host_file_problem
from ringbench.results.text import one_line, printable

REPORT_FORMAT = 1
HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
CELL_TIMEOUT_S = 600


class ReportError(UserError):
    """A notebook cell failed: the message holds the notebook, the cell and the error."""


@dataclass(frozen=True)
class Page:
    notebook: str  # file name in reports/
    html: str  # file name in the output folder
    title: str
    parameters: dict[str, Any]


def inject(nb: nbformat.NotebookNode, parameters: dict[str, Any]) -> None:
    """Insert a cell of assignments after the cell tagged ``parameters`` (papermill's way)."""
    lines = [f"{name} = {value!r}" for name, value in parameters.items()]
    cell = nbformat.v4.new_code_cell(
        "# Injected by reports.render\n" + "\n".join(lines),
        metadata={"tags": ["injected-parameters"]},
    )
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    nb.cells.insert(tagged[0] + 1 if tagged else 0, cell)


def execute(path: Path, parameters: dict[str, Any]) -> nbformat.NotebookNode:
    """Run the notebook at ``path`` in a fresh kernel, from the project's root."""
    nb = nbformat.read(path, as_version=4)
    inject(nb, parameters)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(PROJECT)}},
    )
    # The kernel's own stderr (its start-up warnings) goes to a log, shown if it dies.
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log:
        try:
            client.execute(stderr=log)
        except CellExecutionError as exc:
            raise ReportError(_failure(path, nb, exc)) from exc
        except (CellTimeoutError, DeadKernelError) as exc:
            log.seek(0)
            tail = " | ".join(log.read().strip().splitlines()[-3:])
            raise ReportError(f"{path.name}: {type(exc).__name__}: {exc} (kernel: {tail})") from exc
    return nb


def _failure(path: Path, nb: nbformat.NotebookNode, exc: CellExecutionError) -> str:
    """The failing cell (by number and first lines) and the error's last line."""
    for number, cell in enumerate(nb.cells, 1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                source = "\n    ".join(cell.source.splitlines()[:6])
                return (
                    f"{path.name}: cell {number} failed: {output.ename}: {output.evalue}\n"
                    f"    {source}"
                )
    return f"{path.name}: {str(exc).strip().splitlines()[-1]}"


def to_html(nb: nbformat.NotebookNode, title: str) -> str:
    """The notebook as one self-contained HTML page, code cells hidden."""
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    meta = f'<meta name="ringbench-report-format" content="{REPORT_FORMAT}">'
    return body.replace("<head>", f"<head>\n{meta}", 1)


def host_pages(hosts: Sequence[str]) -> dict[str, str]:
    """Each host's page file name: ``host-<name>.html``, or ``host-<n>.html`` for a name
    that cannot be a file name or would share one with another's on a case-insensitive
    disk (the pages of the report are taken too)."""
    taken = {host_file_key(n) for n in ("index.html", "overhead.html", "regressions.html")}
    names: dict[str, str] = {}
    for number, host in enumerate(hosts, 1):
        name = f"host-{host}.html"
        if host_file_problem(host) is not None or host_file_key(name) in taken:
            name = f"host-{number}.html"
            while host_file_key(name) in taken:
                name = name.removesuffix(".html") + "-.html"
        taken.add(host_file_key(name))
        names[host] = name
    return names


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, :class:`UserError` unless it lies inside ``folder``."""
    path = folder / name
    if path.resolve().parent != folder.resolve():
        raise UserError(f"{one_line(name, 80)!r}: not a file name inside {folder}")
    return path


def pages(run: Path, compare_with: Sequence[Path], results: Path) -> list[Page]:
    """What to render for one run: the main report, each host, the regressions."""
    hosts = sorted(load_hosts(run)["host"])
    common = {"results_dir": str(results.resolve())}
    out = [Page("overhead.ipynb", "overhead.html", "Overhead", {"runs": [str(run)], **common})]
    out += [
        Page(
            "host.ipynb",
            page,
            f"Host {h}",
            {"runs": [str(run)], "host": h, **common},
        )
        for h, page in host_pages(hosts).items()
    ]
    history = [str(p) for p in compare_with] + [str(run)]
    out.append(
        Page("regressions.ipynb", "regressions.html", "Regressions", {"runs": history, **common})
    )
    if RunDir(run).workloads_dir.is_dir():  # ringbench workload measured real programs here
        out.append(
            Page("workloads.ipynb", "workloads.html", "Workloads", {"runs": [str(run)], **common})
        )
    return out


def _e(value: object) -> str:
    """Text for HTML: control characters as visible escapes, then ``html.escape``."""
    return html.escape(printable(value))


def _index(run: Path, rendered: list[Page], hosts: list[dict[str, Any]]) -> str:
    items = "\n".join(f'<li><a href="{_e(p.html)}">{_e(p.title)}</a></li>' for p in rendered)
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{_e(h[k])}</td>" for k in ("host", "virt_class", "layers")) + "</tr>"
        for h in hosts
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="ringbench-report-format" content="{REPORT_FORMAT}">
<title>ringbench report {_e(run.name)}</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; line-height: 1.4; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 0.3em 0.6em; }}
</style>
</head>
<body>
<h1>ringbench report: run {_e(run.name)}</h1>
<p>Written by ringbench {_e(__version__)} from <code>{_e(run)}</code>.</p>
<h2>Reports</h2>
<ul>
{items}
</ul>
<h2>Hosts</h2>
<table>
<tr><th>host</th><th>class</th><th>layers</th></tr>
{rows}
</table>
</body>
</html>
"""


def render(
    runs: Sequence[str],
    results: Path,
    out_root: Path,
    progress: Progress = SILENT,
) -> Path:
    """Render the reports of the last of ``runs`` (the others: its history, oldest first).

    With no run, the latest in ``results``, compared with the one before it.
    Returns the output folder ``out_root/<run-id>``.
    """
    store = ResultStore(results)
    if runs:
        chosen = [store.resolve(r).path for r in runs]
    else:
        every = [r.path for r in store.runs()]
        if not every:
            raise UserError(f"no runs in {results}: run 'ringbench run' or 'nox -s bench' first")
        chosen = every[-2:]
    run, history = chosen[-1], chosen[:-1]
    folder = run.resolve().name
    if host_file_problem(folder) is not None:
        raise UserError(f"{run}: a report folder cannot be named {one_line(folder, 80)!r}")
    out_root.mkdir(parents=True, exist_ok=True)
    out = inside(out_root, folder)
    out.mkdir(parents=True, exist_ok=True)
    found = load_hosts(run)
    for line in found.attrs.get("skipped", []):
        progress.message(f"left out of the report: {line}", level=Level.WARNING)
    rendered: list[Page] = []
    todo = pages(run, history, results)
    progress.start("reports", "executing the notebooks", total=len(todo))
    for page in todo:
        progress.update("reports", completed=len(rendered), description=f"executing {page.title}")
        nb = execute(HERE / page.notebook, page.parameters)
        atomic_write_text(inside(out, page.html), to_html(nb, f"{page.title}: {run.name}"))
        rendered.append(page)
    hosts = found[["host", "virt_class", "layers"]].astype(str)
    atomic_write_text(inside(out, "index.html"), _index(run, rendered, records(hosts)))
    progress.finish("reports", "rendered")
    atomic_write_text(
        inside(out, "report.json"),
        json.dumps(
            {
                "format_version": REPORT_FORMAT,
                "run": run.name,
                "history": [p.name for p in history],
                "pages": [p.html for p in rendered],
            },
            indent=2,
        ),
    )
    return out
