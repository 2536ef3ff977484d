"""The hosts ringbench measures, built from the resolved inventory.

An existing Ansible inventory works as it is (:mod:`.sources` reads every format
Ansible reads, :mod:`.resolve` applies its precedence, :mod:`.template` renders the
templates in the values ringbench uses). ringbench's own keys are ``virt_class``,
``machine``, ``baseline``, ``hypervisor``, ``placement``, ``harness_cpu``,
``controller_cpus`` and ``disk``; of Ansible's it reads the connection's: the
address, port, user and key file as the ssh connection plugin reads them (of
``ansible_host`` and ``ansible_ssh_host``, ``ansible_port`` and ``ansible_ssh_port``...
the second wins where both are set, as in Ansible), ``ansible_connection``, and a
``ProxyJump`` in ``ansible_ssh_common_args``/``ansible_ssh_extra_args``.

A host ringbench cannot run on is listed with the reason and left out of runs
(:attr:`Host.unusable`): another connection plugin (winrm, network_cli...), a login
password (ringbench logs in with keys only; become passwords are never read), a
vault-encrypted connection value, a template that cannot be rendered, a name that
cannot name the host's result files (or would name another's: ``h1`` and ``H1``). A
missing or unprotected key file is a warning, an error only when that host is
connected to (:func:`key_problem`). Every error is one line,
``PATH:LINE: what is wrong: what to do``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import fnmatch
import functools
import gc
import os
import re
import shlex
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ringbench.errors import UserError
from ringbench.results import host_file_key, host_file_problem
from runners.inventory.model import LOCALHOST_NAMES, InventoryData, Origin, Tagged, Var, Vars
from runners.inventory.resolve import Resolved, ResolvedHost, resolve
from runners.inventory.sources import read_sources
from runners.inventory.template import OMIT, TemplateContext, is_template, render
from runners.inventory.vars_files import VAULT_FILE_KEY
from runners.inventory.yaml_source import quote

VIRT_CLASSES = (
    "bare-metal",
    "paravirtualized",
    "binary-translation",
    "hardware-assisted",
    "container",
)
CONNECTIONS = {  # ansible_connection -> how ringbench connects
    "local": "local",
    "ansible.builtin.local": "local",
    "ssh": "ssh",
    "smart": "ssh",
    "paramiko": "ssh",
    "paramiko_ssh": "ssh",
    "ansible.builtin.ssh": "ssh",
    "ansible.builtin.paramiko_ssh": "ssh",
}
# The variables the ssh connection plugin reads for each option: the last one set wins.
CONNECTION_VARS = {
    "address": ("ansible_host", "ansible_ssh_host"),
    "port": ("ansible_port", "ansible_ssh_port"),
    "user": ("ansible_user", "ansible_ssh_user"),
    "key_file": ("ansible_private_key_file", "ansible_ssh_private_key_file"),
    "connection": ("ansible_connection",),
    "common_args": ("ansible_ssh_common_args",),
    "extra_args": ("ansible_ssh_extra_args",),
}
OWN_KEYS = (
    "virt_class",
    "machine",
    "baseline",
    "hypervisor",
    "placement",
    "harness_cpu",
    "controller_cpus",
    "disk",
)
# The login passwords of Ansible's ssh and paramiko connections. Become passwords
# (ansible_become_password...) are never read: ringbench never becomes root.
LOGIN_PASSWORDS = (
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_paramiko_pass",
    "ansible_paramiko_password",
)
KNOWN_KEYS = (*(k for keys in CONNECTION_VARS.values() for k in keys), *OWN_KEYS)
_JUMP_HOP = re.compile(r"(?:[^@\s,]+@)?(?:\[[0-9A-Fa-f:.%\w]+\]|[A-Za-z0-9._-]+)(?::([0-9]{1,5}))?")


@dataclass(frozen=True, slots=True)
class Host:
    """One host of the inventory, with every inherited variable resolved."""

    name: str
    connection: str  # local or ssh; for an unusable host, ansible_connection as written
    address: str
    user: str | None
    port: int
    key_file: str | None
    ssh_common_args: str | None
    proxy_jump: str | None  # raw ssh -J spec, [USER@]HOST[:PORT][,...], or None
    virt_class: str | None
    machine: str
    baseline: str | None
    hypervisor: str | None
    groups: tuple[str, ...]
    line: int
    placement: str | None = None  # where the host's own processes run (the lab says)
    harness_cpu: int | None = None  # the host CPU the harness pins itself to under --cpu auto
    controller_cpus: tuple[int, ...] = ()  # where the controller keeps its own work
    disk: str | None = None  # how the host's disk is backed (what its fsync/O_DIRECT reach)
    unusable: str | None = None  # why ringbench cannot run on it; None: usable
    source: str = ""  # PATH:LINE where the host was first written

    @property
    def is_local(self) -> bool:
        return self.connection == "local"

    @property
    def usable(self) -> bool:
        return self.unusable is None

    @property
    def own_vars(self) -> dict[str, str]:
        """ringbench's own keys that are set, as text."""
        values = {
            "virt_class": self.virt_class,
            "machine": self.machine or None,
            "baseline": self.baseline,
            "hypervisor": self.hypervisor,
            "placement": self.placement,
            "harness_cpu": None if self.harness_cpu is None else str(self.harness_cpu),
            "controller_cpus": ",".join(map(str, self.controller_cpus)) or None,
            "disk": self.disk,
        }
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True, slots=True)
class Inventory:
    path: Path  # the first source
    hosts: tuple[Host, ...]  # every host, usable or not
    sha256: str = ""  # of the bytes the hosts were read from
    sources: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()
    implicit_localhost: Host | None = None  # Ansible's, when no localhost is written

    @property
    def usable(self) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.usable)

    def get(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        if self.implicit_localhost is not None and name == self.implicit_localhost.name:
            return self.implicit_localhost
        raise UserError(f"{self.path}: no host '{name}'")

    def select(self, patterns: Sequence[str] = ()) -> list[Host]:
        """Usable hosts whose name or one of whose groups matches a shell pattern (all
        when none); a pattern that names an unusable host exactly is an error."""
        if not patterns:
            chosen = list(self.usable)
            if not chosen:
                raise UserError(f"{self.path}: no usable host: {self._left_out()}")
            return chosen
        for pattern in patterns:
            named = next((h for h in self.hosts if h.name == pattern), None)
            if named is not None and not named.usable:
                raise UserError(
                    f"{named.source or self.path}: host {quote(named.name)} cannot be run "
                    f"on: {named.unusable}"
                )
        chosen = [
            h
            for h in self.usable
            if any(fnmatch.fnmatchcase(n, p) for p in patterns for n in (h.name, *h.groups))
        ]
        local = self.implicit_localhost
        if local is not None and local.name in patterns:
            chosen.append(local)
        if not chosen:
            names = ", ".join(h.name for h in self.usable) or "none usable"
            raise UserError(f"{self.path}: no host matches {', '.join(patterns)} (hosts: {names})")
        return chosen

    def _left_out(self) -> str:
        reasons = [f"{h.name}: {h.unusable}" for h in self.hosts[:3]]
        more = f" (and {len(self.hosts) - 3} more)" if len(self.hosts) > 3 else ""
        return "; ".join(reasons) + more


@functools.lru_cache(maxsize=4096)  # a fleet shares a few: 30,000 hosts, one string
def parse_proxy_jump(args: str) -> str | None:
    """The ``ProxyJump`` spec in ssh arguments (``-J SPEC``, ``-o ProxyJump=SPEC``...).

    Raises :class:`ValueError` saying what to change for unbalanced quotes, a
    ``ProxyCommand`` or a spec that is not ``[USER@]HOST[:PORT][,...]``.
    Other options are left to ssh's defaults; the first jump given wins.
    """
    if not args.strip():
        return None
    try:
        words = shlex.split(args)
    except ValueError as exc:
        raise ValueError(f"{exc}: close the quotes") from None
    found: str | None = None
    rest = iter(words)
    for word in rest:
        spec: str | None = None
        if word.startswith("-J"):
            spec = word[2:] or next(rest, "")
        elif word.startswith("-o"):
            option = re.match(
                r"\s*([A-Za-z]+)\s*(?:=\s*|\s+|$)(.*)", word[2:] or next(rest, ""), re.DOTALL
            )
            key, value = (option[1].lower(), option[2].strip()) if option else ("", "")
            if key == "proxycommand" and value.lower() != "none":
                raise ValueError(
                    "ProxyCommand is not supported: use -o ProxyJump=USER@BASTION "
                    "(or -J USER@BASTION)"
                )
            if key == "proxyjump":
                spec = value or next(rest, "")
        if spec is None or found is not None:
            continue
        if spec.lower() != "none" and not all(
            (hop := _JUMP_HOP.fullmatch(part)) and int(hop[1] or 22) <= 65535
            for part in spec.split(",")
        ):
            raise ValueError(
                f"ProxyJump {quote(spec)} is not [USER@]HOST[:PORT][,...]: "
                "write the jump hosts that way"
            )
        found = spec
    return found


def parse_cpus(text: str) -> tuple[int, ...]:
    """A CPU list as the kernel writes one: ``0``, ``0,2``, ``0-3,6`` (sorted, unique)."""
    cpus: set[int] = set()
    for part in text.replace(" ", "").split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError("write CPU numbers and ranges, e.g. 0 or 0-1,3")
        first, last = int(low), int(high) if dash else int(low)
        if last < first or last > 4095:
            raise ValueError(f"the range {part} is empty or beyond CPU 4095")
        cpus.update(range(first, last + 1))
    return tuple(sorted(cpus))


def key_problem(path: Path) -> str | None:
    """Why ssh would not use the key file at ``path`` (what is wrong: what to do), or None."""
    fix = (
        "fix ansible_ssh_private_key_file (relative paths start at the inventory's "
        "directory) or create the key"
    )
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return f"key file {path} is not a file: {fix}"
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            # As OpenSSH: "UNPROTECTED PRIVATE KEY FILE", and it will not use the key.
            return (
                f"permissions 0{info.st_mode & 0o777:03o} for {path} are too open "
                f"(others can read the private key; ssh refuses it): "
                f"chmod 600 {shlex.quote(str(path))}"
            )
        with path.open("rb"):
            return None
    except FileNotFoundError:
        return f"key file {path} does not exist: {fix}"
    except OSError as exc:
        return f"key file {path} cannot be read ({exc.strerror or exc}): {fix}"


class _Unusable(Exception):
    """The host cannot be run on: the reason."""


class _HostBuilder:
    """Reads the values ringbench uses from one resolved host: rendered, checked."""

    def __init__(self, host: ResolvedHost, context: TemplateContext, base: Path) -> None:
        self.host = host
        self.context = context
        self.base = base
        self.warnings: list[str] = []
        self.values: dict[str, object] = {}

    def fail(self, var: Var | None, message: str) -> UserError:
        origin = var.origin if var is not None and var.origin.line else self.host.origin
        return origin.error(f"host {quote(self.host.name)}: {message}")

    def render(self, key: str, var: Var) -> object:
        """The value of ``key``, rendered when a template; None when null or omit."""
        value = var.value
        if isinstance(value, Tagged):
            raise _Unusable(
                f"{key} is vault-encrypted ({var.origin}): ringbench does not decrypt vaults"
            )
        if is_template(value):
            try:
                value = render(
                    value, self.host.name, self.host.vars, var.origin, self.context, key=key
                )
            except UserError as exc:
                raise _Unusable(str(exc)) from None
        return None if value is OMIT else value

    def raw(self, key: str) -> object:
        """The rendered value of ``key`` (:meth:`build` renders the keys read, once)."""
        return self.values.get(key)

    def last(self, option: str) -> tuple[str | None, object]:
        """The ssh plugin's value of ``option``: the last of its variables that is set."""
        found: tuple[str | None, object] = (None, None)
        for key in CONNECTION_VARS[option]:
            value = self.values.get(key)
            if value is not None:
                found = (key, value)
        return found

    def text(self, key: str | None, value: object) -> str | None:
        if value is None or key is None:
            return None
        if type(value) is str:  # nearly always: one strip and done
            stripped = value.strip()
            if stripped or key.endswith("_args"):
                return stripped
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            kind = type(value).__name__
            raise self.fail(
                self.host.vars.get(key),
                f"{key} must be one value, not a {kind}: write '{key}: VALUE'",
            )
        text = str(value).strip()
        if not text and not key.endswith("_args"):
            raise self.fail(
                self.host.vars.get(key), f"{key} is empty: give it a value or remove it"
            )
        return text

    def own(self, key: str) -> str | None:
        value = self.values.get(key)
        if value is None:
            return None
        return (
            value.strip() or self.text(key, value) if type(value) is str else self.text(key, value)
        )

    def port(self) -> int:
        key, value = self.last("port")
        if key is None:
            return 22
        var = self.host.vars.get(key)
        try:
            # As Ansible's int option: int("0022") is 22; a YAML 0022 is already 18.
            number = None if isinstance(value, bool | float) else int(str(value).strip())
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise self.fail(
                var,
                f"{key} must be an integer port, got {quote(str(value))}: write e.g. '{key}: 22'",
            )
        if not 1 <= number <= 65535:
            raise self.fail(var, f"{key} {number} is out of range: use a port from 1 to 65535")
        return number

    def build(self) -> Host:
        host, name = self.host, self.host.name
        for key in LOGIN_PASSWORDS:
            var = host.vars.get(key)
            if var is not None and var.value not in (None, ""):
                raise _Unusable(
                    f"it logs in with a password ({key}, {var.origin}): ringbench logs in "
                    "with keys only: give it ansible_ssh_private_key_file or use ssh-agent"
                )
        problem = host_file_problem(name)
        if problem is not None:
            raise _Unusable(f"its name {problem}: rename the host")
        # Only the keys set are rendered (in a fixed order: the first error is the one said).
        present = host.vars
        self.values = {key: self.render(key, present[key]) for key in KNOWN_KEYS if key in present}
        conn_key, conn_value = self.last("connection")
        written = self.text(conn_key, conn_value)
        connection = written or "ssh"
        if connection not in CONNECTIONS:
            raise _Unusable(
                f"it connects with {quote(connection)}: ringbench runs commands over ssh "
                "or on this machine (ansible_connection ssh, paramiko or local)"
            )
        addr_key, addr_value = self.last("address")
        address = self.text(addr_key, addr_value) or name
        user_key, user_value = self.last("user")
        key_key, key_value = self.last("key_file")
        key_file = self.text(key_key, key_value)
        if key_file is not None:
            try:
                key_file = str(self.base / Path(key_file).expanduser())
            except RuntimeError:  # ~user with no such user, or no home directory
                raise self.fail(
                    host.vars.get(key_key or ""),
                    f"key file {quote(key_file)}: cannot expand '~': write the path in full",
                ) from None
            problem = key_problem(Path(key_file)) if CONNECTIONS[connection] == "ssh" else None
            if problem:  # an error only when the host is connected to (runners.plan.connect)
                var = host.vars.get(key_key or "")
                where = var.origin if var is not None and var.origin.line else host.origin
                self.warnings.append(f"{where}: host {quote(name)}: {problem}")
        common_key, common = self.last("common_args")
        extra_key, extra = self.last("extra_args")
        jump: str | None = None
        for args_key, args in ((common_key, common), (extra_key, extra)):
            try:
                jump = jump or parse_proxy_jump(self.text(args_key, args) or "")
            except ValueError as exc:
                raise self.fail(host.vars.get(args_key or ""), f"{args_key}: {exc}") from None
        virt_class = self.own("virt_class")
        if virt_class is not None and virt_class not in VIRT_CLASSES:
            close = difflib.get_close_matches(virt_class, VIRT_CLASSES, n=1)
            hint = (
                f"did you mean '{close[0]}'?" if close else f"use one of {', '.join(VIRT_CLASSES)}"
            )
            raise self.fail(host.vars.get("virt_class"), f"virt_class {quote(virt_class)}: {hint}")
        harness_cpu = self.own("harness_cpu")
        if harness_cpu is not None and not harness_cpu.isdigit():
            raise self.fail(
                host.vars.get("harness_cpu"),
                f"harness_cpu {quote(harness_cpu)}: write a CPU number, e.g. 1",
            )
        controller = self.own("controller_cpus")
        try:
            controller_cpus = parse_cpus(controller) if controller else ()
        except ValueError as exc:
            raise self.fail(
                host.vars.get("controller_cpus"),
                f"controller_cpus {quote(controller or '')}: {exc}",
            ) from None
        return Host(
            name=name,
            connection=CONNECTIONS[connection],
            address=address,
            user=self.text(user_key, user_value),
            port=self.port() if CONNECTIONS[connection] == "ssh" else 22,
            key_file=key_file,
            ssh_common_args=self.text(common_key, common),
            proxy_jump=jump,
            virt_class=virt_class,
            machine=self.own("machine") or "",
            baseline=self.own("baseline"),
            hypervisor=self.own("hypervisor"),
            groups=host.groups,
            line=host.origin.line,
            placement=self.own("placement"),
            harness_cpu=int(harness_cpu) if harness_cpu is not None else None,
            controller_cpus=controller_cpus,
            disk=self.own("disk"),
            source=str(host.origin),
        )

    def left_out(self, reason: str) -> Host:
        """The host as listed, marked unusable (what could be read of it, nothing more)."""
        vars_ = self.host.vars

        def plain(key: str) -> str | None:
            var = vars_.get(key)
            value = None if var is None else var.value
            return str(value) if isinstance(value, str | int) and not is_template(value) else None

        def last(option: str) -> str | None:
            found = None
            for key in CONNECTION_VARS[option]:
                found = plain(key) or found
            return found

        port = last("port")
        return Host(
            name=self.host.name,
            connection=last("connection") or "ssh",
            address=last("address") or self.host.name,
            user=last("user"),
            port=int(port) if port and port.isdigit() and 0 < int(port) < 65536 else 22,
            key_file=last("key_file"),
            ssh_common_args=None,
            proxy_jump=None,
            virt_class=None,
            machine=plain("machine") or "",
            baseline=None,
            hypervisor=None,
            groups=self.host.groups,
            line=self.host.origin.line,
            unusable=reason,
            source=str(self.host.origin),
        )


def _check_names(hosts: dict[str, Host]) -> dict[str, Host]:
    """Two names with one :func:`ringbench.results.host_file_key` (``h1`` and ``H1``)
    would be one file on a case-insensitive disk: the second is left out."""
    taken: dict[str, str] = {}  # host_file_key -> the first host with it
    out = dict(hosts)
    for name, host in hosts.items():
        if not host.usable:
            continue
        other = taken.setdefault(host_file_key(name), name)
        if other != name:
            out[name] = dataclasses.replace(
                host,
                unusable=f"its name differs only in case from host {quote(other)} "
                f"({hosts[other].source}): their result files would be one file on a "
                "case-insensitive disk: rename one of them",
            )
    return out


def _resolve_machines(hosts: dict[str, Host]) -> dict[str, Host]:
    """A host that names no machine runs on its baseline's (or is its own machine).

    Each chain of baselines is walked once (baselines are known and acyclic here).
    """
    machine: dict[str, str] = {}
    for host in hosts.values():
        chain: list[str] = []
        cursor = host
        while cursor.name not in machine and not cursor.machine and cursor.baseline:
            chain.append(cursor.name)
            cursor = hosts[cursor.baseline]
        end = machine.setdefault(cursor.name, cursor.machine or cursor.name)
        machine.update(dict.fromkeys(chain, end))
    return {
        name: h if h.machine == machine[name] else dataclasses.replace(h, machine=machine[name])
        for name, h in hosts.items()
    }


def _baseline_origin(resolved: Resolved, name: str) -> Origin:
    var = resolved.hosts[name].vars.get("baseline")
    return var.origin if var is not None and var.origin.line else resolved.hosts[name].origin


def _check_baselines(resolved: Resolved, hosts: dict[str, Host]) -> dict[str, Host]:
    """Every baseline is another host of the inventory, and no chain of them loops; a
    host whose baseline is left out is left out too.

    Each host is walked past once: a chain stops at a host already known to end.
    """

    def fail(name: str, message: str) -> UserError:
        return _baseline_origin(resolved, name).error(f"host {quote(name)}: {message}")

    for host in hosts.values():
        if not host.usable:
            continue
        if host.baseline == host.name:
            raise fail(
                host.name,
                "is its own baseline: name another host on the same machine, "
                "or set baseline only on the hosts measured against this one",
            )
        if host.baseline is not None and host.baseline not in hosts:
            close = difflib.get_close_matches(host.baseline, hosts, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "name a host of this inventory"
            raise fail(host.name, f"unknown baseline {quote(host.baseline)}: {hint}")
    ends: set[str] = set()  # hosts whose chain of baselines is known to end
    for start in hosts:
        chain: dict[str, None] = {}  # this walk, in order
        cursor: str | None = start
        while cursor is not None and cursor not in ends:
            if cursor in chain:
                walked = list(chain)
                ring = [*walked[walked.index(cursor) :], cursor]
                raise fail(
                    ring[0],
                    f"baselines form a cycle: {' -> '.join(ring)}: "
                    "a baseline host has no baseline of its own",
                )
            chain[cursor] = None
            cursor = hosts[cursor].baseline if hosts[cursor].usable else None
        ends.update(chain)
    out = dict(hosts)
    for name in hosts:  # in file order; a chain of left-out baselines is followed to its end
        walker = out[name]
        seen = 0
        while walker.usable and walker.baseline is not None and seen < len(hosts):
            base = out[walker.baseline]
            if not base.usable:
                out[name] = dataclasses.replace(
                    out[name],
                    unusable=f"its baseline {quote(base.name)} is left out ({base.unusable})",
                )
                break
            walker, seen = base, seen + 1
    return out


def _check_machines(resolved: Resolved, hosts: dict[str, Host]) -> None:
    for host in hosts.values():
        base = hosts[host.baseline] if host.baseline and host.usable else None
        if base is not None and base.machine != host.machine:
            raise _baseline_origin(resolved, host.name).error(
                f"host {quote(host.name)}: runs on machine {quote(host.machine)} but its "
                f"baseline {quote(base.name)} on {quote(base.machine)}: overhead needs "
                "the same hardware (set 'machine' on both)"
            )


def _implicit_localhost(
    data: InventoryData, resolved: Resolved, context: TemplateContext
) -> Host | None:
    """Ansible's implicit localhost (local connection, the vars of group all), when no
    host of the inventory is a localhost."""
    if any(name in data.hosts for name in LOCALHOST_NAMES):
        return None
    all_vars = dict(data.groups["all"].vars)
    all_vars["ansible_connection"] = Var("local", Origin(Path("-")))
    entry = ResolvedHost(
        "localhost", Origin(data.sources[0] if data.sources else Path("-")), all_vars, ()
    )
    try:
        return _HostBuilder(entry, context, Path()).build()
    except (_Unusable, UserError):
        return None


def _typo_warnings(data: InventoryData) -> list[str]:
    """A variable whose name is one letter off one ringbench reads (``basline``,
    ``ansible_usr``): Ansible takes any name, so a warning, once per place written."""
    out: list[str] = []
    seen: set[str] = set()
    layers: list[Vars] = [g.vars for g in data.groups.values()]
    layers.extend(h.vars for h in data.hosts.values())
    for source in data.vars_files:
        for files in (*source.groups.values(), *source.hosts.values()):
            layers.extend(files)
    for layer in layers:
        for key, var in layer.items():
            if key == VAULT_FILE_KEY:
                out.append(
                    f"{var.origin.path}: is vault-encrypted: not read (ringbench never "
                    "decrypts vaults): a connection value set only there is not seen"
                )
                continue
            if key in seen or key in KNOWN_KEYS:
                continue
            seen.add(key)
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=0.85)
            if close:
                out.append(f"{var.origin}: unknown key {quote(key)}: did you mean '{close[0]}'?")
    return out


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Python's cyclic garbage collector paused: reading builds hundreds of thousands of
    objects (YAML nodes, variables) and none of them is garbage, yet each allocation
    threshold passed scans them all again: a 30,000-host YAML file composes in 0.9 s
    without it and 2.3 s with it. Reference counting frees as always."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_inventory(paths: Path | Sequence[Path]) -> Inventory:
    """Read, resolve and check the inventory sources ``paths`` (files or directories,
    merged in order); raises :class:`UserError` as ``PATH:LINE: message``."""
    with _no_cyclic_gc():
        return _load(paths)


def _load(paths: Path | Sequence[Path]) -> Inventory:
    sources = [paths] if isinstance(paths, Path) else list(paths)
    if not sources:
        raise UserError("no inventory given: give a file or a directory")
    data, sha256 = read_sources(sources)
    if not data.hosts:
        skipped = f" (and {data.warnings[0]})" if data.warnings else ""
        raise Origin(sources[0], 1).error(
            "the inventory has no hosts: list them under 'all:' 'hosts:' (YAML) or "
            f"under a [group] line (INI){skipped}"
        )
    resolved = resolve(data)

    def hostvars(name: str) -> Mapping[str, Var] | None:
        found = resolved.hosts.get(name)
        return None if found is None else found.vars

    context = TemplateContext(groups=resolved.groups, hostvars=hostvars)
    built: dict[str, Host] = {}
    warnings = [*data.warnings, *_typo_warnings(data)]
    parents = functools.cache(lambda path: path.parent)
    for name, host in resolved.hosts.items():
        builder = _HostBuilder(host, context, parents(host.origin.path))
        try:
            built[name] = builder.build()
            warnings.extend(builder.warnings)
        except _Unusable as why:
            built[name] = builder.left_out(str(why))
    built = _check_names(built)
    built = _check_baselines(resolved, built)
    hosts = _resolve_machines({n: h for n, h in built.items()})
    _check_machines(resolved, hosts)
    return Inventory(
        path=sources[0],
        hosts=tuple(hosts.values()),
        sha256=sha256,
        sources=tuple(sources),
        warnings=tuple(warnings),
        implicit_localhost=_implicit_localhost(data, resolved, context),
    )
