"""What ansible-core itself resolves for each host of an inventory: the oracle
ringbench's inventory is held against (``tests/test_inventory_ansible.py``).

:func:`ansible_resolve` (one inventory) and :func:`ansible_resolve_many` (a
corpus) run ansible-core in a child process (this file run as a script with
``sys.executable``), so that ansible's global configuration,
plugin loaders and display stay out of the test process. The child is
isolated: ``ANSIBLE_CONFIG`` is an empty file, ``HOME``, ``ANSIBLE_HOME`` and
the temporary directories are under ``tmp``, and it runs in ``tmp`` so no
playbook-adjacent ``group_vars`` are read.

For every host of the ``all`` pattern the child takes the VariableManager's
variables and resolves them as a task's connection would
(``TaskExecutor._set_connection_options``): ``ansible_connection`` templated
(``ssh`` when unset, the default transport); for the ssh family, the
connection plugin itself loaded, its option variables templated
(``_resolve_option_variables``) and set, and ``host``, ``port``,
``remote_user`` and ``private_key_file`` read back with ``get_option``: that
is where ``ansible_ssh_host`` beats ``ansible_host`` and a port ``0022``
becomes 22. A template that cannot be rendered gives the value
``"<error: ...>"`` for the fields it spoils.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TIMEOUT_S = 120
SSH_FAMILY = {  # ansible_connection values whose options are read off a plugin
    "ssh": "ssh",
    "smart": "ssh",
    "ansible.builtin.ssh": "ssh",
    "paramiko": "paramiko_ssh",
    "paramiko_ssh": "paramiko_ssh",
    "ansible.builtin.paramiko_ssh": "paramiko_ssh",
}
MARKER = "@@ringbench-oracle case "
FIELDS = ("address", "port", "user", "key_file", "ssh_common_args", "ssh_extra_args")


class OracleError(RuntimeError):
    """ansible-core could not be run on the sources (its stderr's tail is the message)."""


def ansible_resolve(sources: Sequence[Path], tmp: Path) -> dict[str, dict[str, object]]:
    """What ansible-core resolves for each host of ``sources`` (in order, as ``-i`` options).

    ``{NAME: {"connection", "address", "port", "user", "key_file",
    "ssh_common_args", "ssh_extra_args", "groups"}}`` in ansible-core's host
    order, plain JSON: ``port`` is an int or None (ssh's default),
    ``key_file`` the option as written (templated, not expanded: ``~`` is the
    caller's to expand, the child's home is not the user's); the ssh fields
    are None for a host of another connection. Raises :class:`OracleError`
    when ansible-core cannot read the sources.
    """
    result = ansible_resolve_many([sources], tmp)[0]
    if "error" in result:
        raise OracleError(
            f"ansible-core cannot read {', '.join(map(str, sources))}: {result['error']}"
        )
    hosts: dict[str, dict[str, object]] = result["hosts"]
    return hosts


def isolated_env(tmp: Path) -> dict[str, str]:
    """The variables that keep ansible-core off the user's home and configuration: an
    empty ``ansible.cfg``, ``HOME``, ``ANSIBLE_HOME`` and its temporary directory, all
    under ``tmp`` (made here)."""
    home = tmp / "home"
    (home / "local-tmp").mkdir(parents=True, exist_ok=True)
    config = tmp / "ansible.cfg"
    config.write_text("")
    return {
        "HOME": str(home),
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_HOME": str(home / ".ansible"),
        "ANSIBLE_LOCAL_TEMP": str(home / "local-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
    }


def ansible_resolve_many(cases: Sequence[Sequence[Path]], tmp: Path) -> list[dict[str, Any]]:
    """:func:`ansible_resolve` for each list of sources, in one child process.

    ansible-core takes most of a second to import: a corpus is resolved in
    one child, each case with its own loader, inventory and variables. Each
    result is ``{"hosts": {...}, "order": [NAME...], "warnings": [LINE...]}``
    (``hosts`` as :func:`ansible_resolve` returns them, ``warnings``
    ansible's own ``[WARNING]`` lines), or ``{"error": MESSAGE, "warnings":
    [...]}`` when ansible-core cannot read that case's sources.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    jobs = tmp / "cases.json"
    jobs.write_text(json.dumps([[str(s.resolve()) for s in sources] for sources in cases]))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        **isolated_env(tmp),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1",  # no source read: an error, not no hosts
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    timeout = TIMEOUT_S + 5 * len(cases)
    try:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), str(jobs)],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise OracleError(f"ansible-core took over {timeout} s on {len(cases)} cases") from None
    if proc.returncode != 0:
        raise OracleError(f"ansible-core failed: {proc.stderr.strip()[-2000:]}")
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    # The child writes MARKER and the case's number to stderr before each case.
    warnings: dict[int, list[str]] = {}
    index = -1
    for line in proc.stderr.splitlines():
        if line.startswith(MARKER):
            index = int(line[len(MARKER) :])
        elif line.startswith("[WARNING]"):
            warnings.setdefault(index, []).append(line.strip())
    for i, result in enumerate(results):
        result["warnings"] = warnings.get(i, [])
    return results


# Everything below runs in the child process, with ansible-core imported (it ships no
# type hints: each first import of one of its modules is ignored for mypy).


def _error(exc: BaseException) -> str:
    return f"<error: {' '.join(str(exc).split())[:300]}>"


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _resolve_host(loader: Any, variables: dict[str, Any], name: str) -> dict[str, Any]:
    from ansible.playbook.play_context import PlayContext  # type: ignore[import-untyped]
    from ansible.plugins.loader import connection_loader  # type: ignore[import-untyped]
    from ansible.template import Templar  # type: ignore[import-untyped]

    templar = Templar(loader=loader, variables=variables)
    out: dict[str, Any] = dict.fromkeys(FIELDS)
    out["groups"] = sorted(str(g) for g in variables.get("group_names", ()))
    try:
        connection = str(templar.template(variables.get("ansible_connection", "ssh")))
    except Exception as exc:  # any rendering failure is the host's value
        out.update(dict.fromkeys(("connection", *FIELDS), _error(exc)))
        return out
    out["connection"] = connection
    plugin_name = SSH_FAMILY.get(connection)
    if plugin_name is None:  # local, winrm, network_cli...: no ssh options to read
        return out
    plugin = connection_loader.get(plugin_name, PlayContext())
    try:
        options = plugin._resolve_option_variables(variables, templar)
        plugin.set_options(var_options=options)
    except Exception as exc:  # as above
        out.update(dict.fromkeys(FIELDS, _error(exc)))
        return out
    names = {
        "address": ("host", "remote_addr"),
        "port": ("port",),
        "user": ("remote_user",),
        "key_file": ("private_key_file", "key_filename"),
        "ssh_common_args": ("ssh_common_args",),
        "ssh_extra_args": ("ssh_extra_args",),
    }
    for field, candidates in names.items():
        for option in candidates:
            if plugin.has_option(option):
                value = plugin.get_option(option)
                out[field] = value if field == "port" and value is None else _text(value)
                break
    if out["port"] is not None:
        out["port"] = int(out["port"])
    out["address"] = out["address"] or name  # ssh: get_option('host') or remote_addr
    return out


def _resolve_case(sources: list[str]) -> dict[str, Any]:
    from ansible.errors import AnsibleError  # type: ignore[import-untyped]
    from ansible.inventory.manager import InventoryManager  # type: ignore[import-untyped]
    from ansible.parsing.dataloader import DataLoader  # type: ignore[import-untyped]
    from ansible.vars.manager import VariableManager  # type: ignore[import-untyped]

    loader = DataLoader()
    try:
        inventory = InventoryManager(loader=loader, sources=sources)
        manager = VariableManager(loader=loader, inventory=inventory)
        hosts: dict[str, Any] = {}
        for host in inventory.get_hosts("all"):
            variables = manager.get_vars(host=host, include_hostvars=True)
            hosts[host.name] = _resolve_host(loader, variables, host.name)
    except AnsibleError as exc:
        return {"error": " ".join(str(exc).split())[:1000]}
    return {"hosts": hosts, "order": list(hosts)}


def _main(jobs: str) -> int:
    from ansible.plugins.loader import init_plugin_loader
    from ansible.utils.display import Display  # type: ignore[import-untyped]

    init_plugin_loader([])
    display = Display()
    results = []
    for index, sources in enumerate(json.loads(Path(jobs).read_text())):
        display._warns.clear()  # each case warns as if it ran alone
        print(f"{MARKER}{index}", file=sys.stderr, flush=True)
        results.append(_resolve_case(sources))
        sys.stderr.flush()
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
