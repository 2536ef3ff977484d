"""``ringbench build`` and ``ringbench list``: the harness and its catalog."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from runners.cli.common import ExitCode, say
from suites.build import build
from suites.catalog import Catalog, load_catalog


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("build", help="build the static harness (cached)")
    p.add_argument("--force", action="store_true", help="rebuild even when cached")
    p.set_defaults(func=lambda console, args, argv: cmd_build(console, args.force))
    p = sub.add_parser("list", help="the catalog of benchmarks")
    p.add_argument("--dir", default=".", help="directory the file benchmarks would use")
    p.set_defaults(func=lambda console, args, argv: cmd_list(console, args.dir))


def cmd_build(console: Console, force: bool) -> int:
    info = build(force=force)
    say(console, f"built {info.path}")
    say(console, f"sha256 {info.sha256}  (sources {info.source_sha256[:12]}, {info.compiler})")
    return ExitCode.OK


def cmd_list(console: Console, workdir: str) -> int:
    info = build()
    console.print(catalog_table(load_catalog(info.path, Path(workdir))))
    return ExitCode.OK


def catalog_table(catalog: Catalog) -> Table:
    """The catalog, one benchmark a row; what the harness says is text, never markup (an
    unsupported benchmark's reason may hold a ``[``)."""
    table = Table(
        title=Text(
            f"ringbench-bench {catalog.version} ({catalog.arch}), "
            f"{len(catalog.benchmarks)} benchmarks"
        )
    )
    for column in ("benchmark", "family", "mechanism", "unit", "here", "what one operation is"):
        table.add_column(column)
    for b in catalog.benchmarks:
        here = "yes" if b.supported else f"no: {b.reason}"
        cells = (b.name, b.family, b.mechanism, b.unit, here, b.description)
        table.add_row(*(Text(str(c)) for c in cells))
    return table
