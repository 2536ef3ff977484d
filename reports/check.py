"""The notebooks of reports/ are stored without outputs (``ringbench notebooks``, in lint).

Outputs belong to a rendering (``nox -s report``), not to the source: they
bloat the history and leak one machine's results into everyone's diff.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from ringbench.files import atomic_write_text

HERE = Path(__file__).resolve().parent
NOTEBOOKS = tuple(sorted(HERE.glob("*.ipynb")))


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def dirty_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Numbers (from 1) of the code cells that carry outputs or an execution count."""
    return [
        i
        for i, cell in enumerate(nb.cells, 1)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]


def strip_outputs(path: Path, nb: nbformat.NotebookNode) -> None:
    """Remove every output and execution count, and write the notebook back."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    atomic_write_text(path, nbformat.writes(nb) + "\n")
