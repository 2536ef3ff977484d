"""Lint: the notebooks of reports/ are stored without outputs (``python -m reports.check``).

Outputs belong to a rendering (``nox -s report``), not to the source: they
bloat the history and leak one machine's results into everyone's diff.
``--strip`` removes them in place.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from runners.files import atomic_write_text

HERE = Path(__file__).resolve().parent


def dirty_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Numbers (from 1) of the code cells that carry outputs or an execution count."""
    return [
        i
        for i, cell in enumerate(nb.cells, 1)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]


def strip(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strip", action="store_true", help="remove the outputs in place")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    failed = 0
    for path in args.notebooks or sorted(HERE.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cells = dirty_cells(nb)
        if not cells:
            continue
        if args.strip:
            strip(nb)
            atomic_write_text(path, nbformat.writes(nb) + "\n")
            print(f"{path}: outputs removed from cells {cells}")
        else:
            failed += 1
            print(
                f"{path}: cells {cells} carry outputs; remove them with "
                "'python -m reports.check --strip'",
                file=sys.stderr,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
