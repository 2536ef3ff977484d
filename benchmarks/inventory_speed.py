"""How fast a large inventory loads (``nox -s perf``).

Target (issue 15): a 30,000-host inventory resolves in under 3 s, from the
files to every host built (``runners.inventory.load_inventory``: reading,
groups, group_vars/host_vars, variable precedence, templates, ringbench's
checks).

Shapes, each written in a temporary directory as a user would write it:

- flat YAML: ``all:`` with a user, 30 groups of 1,000 hosts with their machine,
  each host with its ``ansible_host`` (a generated fleet, the common case);
- YAML: ``all:`` with vars, 30 groups of 1,000 hosts, each group with its own
  vars and two parent groups (a rack and a role), every host with its own
  variables; a third of the hosts have ``ansible_host`` as a Jinja2
  template over their group's and their own variables; ``group_vars/``
  files beside it;
- INI: the same fleet as INI sections, ``[g:vars]`` and ``[g:children]``,
  one host per line with inline ``key=value`` variables, the last group
  written as host ranges.

Each is loaded three times; the best time is the figure. Prints the figures
against the target and exits 1 when it is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from runners.inventory import load_inventory

TARGET_S = 3.0
HOSTS = 30_000
GROUPS = 30
ROLES = ("web", "db", "cache")


def _octets(index: int) -> tuple[int, int]:
    return index // 250 % 250, index % 250 + 1


def write_yaml(root: Path, hosts: int = HOSTS) -> Path:
    """The YAML shape (and its group_vars/) under ``root``; returns the inventory's path."""
    per_group = hosts // GROUPS
    lines = [
        "all:",
        "  vars:",
        "    ansible_user: bench",
        "    ansible_ssh_common_args: -o StrictHostKeyChecking=accept-new",
        "  children:",
    ]
    for g in range(GROUPS):
        lines += [
            f"    rack{g:02d}:",
            "      vars:",
            f"        rack_net: 10.{g}",
            "        ansible_port: 22",
            f"        machine: box{g:02d}",
            "      hosts:",
        ]
        for i in range(g * per_group, (g + 1) * per_group):
            third, fourth = _octets(i)
            lines.append(f"        h{i:05d}:")
            if i % 3 == 0:
                lines += [
                    f"          octets: '{third}.{fourth}'",
                    '          ansible_host: "{{ rack_net }}.{{ octets }}"',
                ]
            else:
                lines.append(f"          ansible_host: 10.{g}.{third}.{fourth}")
            lines.append(f"          asset_id: {i}")
    for role in ROLES:
        lines += [f"    {role}:", "      children:"]
        lines += [
            f"        rack{g:02d}:" for g in range(GROUPS) if g % len(ROLES) == ROLES.index(role)
        ]
    path = root / "yaml" / "hosts.yml"
    (root / "yaml" / "group_vars").mkdir(parents=True)
    (root / "yaml" / "group_vars" / "all.yml").write_text("ntp_server: ntp.example.com\n")
    (root / "yaml" / "group_vars" / "web.yml").write_text("http_port: 8080\n")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_ini(root: Path, hosts: int = HOSTS) -> Path:
    """The INI shape under ``root``; returns the inventory's path."""
    per_group = hosts // GROUPS
    lines = ["[all:vars]", "ansible_user=bench", ""]
    for g in range(GROUPS):
        lines += [f"[rack{g:02d}:vars]", "ansible_port=22", f"machine=box{g:02d}", ""]
        lines.append(f"[rack{g:02d}]")
        if g == GROUPS - 1:  # the last rack as ranges, 250 hosts a line
            first = g * per_group
            for start in range(first, first + per_group, 250):
                lines.append(f"r{start:05d}-[001:{min(250, first + per_group - start):03d}]")
        else:
            for i in range(g * per_group, (g + 1) * per_group):
                third, fourth = _octets(i)
                lines.append(f"h{i:05d} ansible_host=10.{g}.{third}.{fourth} asset_id={i}")
        lines.append("")
    for role in ROLES:
        lines.append(f"[{role}:children]")
        lines += [f"rack{g:02d}" for g in range(GROUPS) if g % len(ROLES) == ROLES.index(role)]
        lines.append("")
    path = root / "ini" / "hosts"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines))
    return path


def write_flat_yaml(root: Path, hosts: int = HOSTS) -> Path:
    """The common case: a generated fleet, groups with one variable, hosts with their
    address."""
    per_group = max(1, hosts // GROUPS)
    lines = ["all:", "  vars:", "    ansible_user: deploy", "  children:"]
    for g in range(GROUPS):
        lines += [
            f"    rack{g:02d}:",
            "      vars:",
            f"        machine: rack{g:02d}",
            "      hosts:",
        ]
        for i in range(g * per_group, (g + 1) * per_group):
            third, fourth = _octets(i)
            lines.append(
                f"        node{i:05d}.dc1.example.com: {{ansible_host: 10.{g}.{third}.{fourth}}}"
            )
    path = root / "flat" / "inventory.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def best_of(path: Path, runs: int) -> tuple[float, int]:
    """The fastest of ``runs`` loads of ``path`` and the number of hosts it found."""
    times = []
    count = 0
    for _ in range(runs):
        start = time.perf_counter()
        inventory = load_inventory([path])
        times.append(time.perf_counter() - start)
        count = len(inventory.hosts)
    return min(times), count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hosts", type=int, default=HOSTS, help="hosts in each inventory")
    parser.add_argument("--runs", type=int, default=3, help="loads of each; the best counts")
    args = parser.parse_args(argv)
    console = Console()
    table = Table(title=f"inventory load, {args.hosts:,} hosts (best of {args.runs})")
    for column in ("shape", "hosts", "bytes", "load", "target", "verdict"):
        table.add_column(column, justify="left" if column == "shape" else "right")
    missed = False
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for shape, path in (
            ("flat YAML: groups, an address per host", write_flat_yaml(root, args.hosts)),
            ("YAML, group_vars/, templates for a third", write_yaml(root, args.hosts)),
            ("INI, [g:vars]/[g:children], ranges", write_ini(root, args.hosts)),
        ):
            seconds, count = best_of(path, args.runs)
            met = seconds < TARGET_S and count == args.hosts
            missed |= not met
            table.add_row(
                escape(shape),
                f"{count:,}",
                f"{path.stat().st_size:,}",
                f"{seconds:.2f} s",
                f"< {TARGET_S:.0f} s",
                "met" if met else "MISSED",
            )
    console.print(table)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
