"""Loading an inventory: the hosts ringbench measures, built from the resolved sources.

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
import difflib
import functools
import gc
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ringbench.errors import UserError
from ringbench.results import host_file_problem
from runners.inventory.checks import check_baselines, check_machines, check_names, resolve_machines
from runners.inventory.host import CONNECTIONS, VIRT_CLASSES, Host, Inventory
from runners.inventory.model import LOCALHOST_NAMES, InventoryData, Origin, Tagged, Var, Vars, quote
from runners.inventory.resolve import Resolved, ResolvedHost, resolve
from runners.inventory.sources import read_sources
from runners.inventory.template import OMIT, TemplateContext, is_template, render
from runners.inventory.values import key_problem, parse_cpus, parse_proxy_jump
from runners.inventory.vars_files import VAULT_FILE_KEY

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
    built = check_names(built)
    built = check_baselines(resolved, built)
    hosts = resolve_machines({n: h for n, h in built.items()})
    check_machines(resolved, hosts)
    return Inventory(
        path=sources[0],
        hosts=tuple(hosts.values()),
        sha256=sha256,
        sources=tuple(sources),
        warnings=tuple(warnings),
        implicit_localhost=_implicit_localhost(data, resolved, context),
    )
