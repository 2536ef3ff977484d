"""Every inventory source given, read into one :class:`InventoryData` as ansible-core's
``InventoryManager.parse_sources`` reads them.

Each source, in the order given (the same one given twice is read once):

- a directory: its entries in sorted order, recursively, skipping hidden names,
  ``group_vars``, ``host_vars``, ``vars_plugins`` and names ending in Ansible's
  ``INVENTORY_IGNORE_EXTS`` (:data:`IGNORE_EXTS`: ``.ini`` files are read, ``.cfg``,
  ``.md``, ``.txt``... are not); a file of the directory that does not parse in any
  format (a stray ``Makefile``, a template, broken INI or YAML syntax) is skipped
  with a warning, as Ansible skips it ("Unable to parse");
- a file, tried as Ansible's enabled plugins in order (``host_list``, ``script``,
  ``auto``, ``yaml``, ``ini``, ``toml``): a file the system can execute (``#!``,
  ELF) is a script, and a ``.yml``/``.yaml`` mapping with a ``plugin`` key a plugin
  configuration, both resolved by ``ansible-inventory`` (:mod:`.dynamic`), as is
  ``.toml``; a file named ``.yml``, ``.yaml``, ``.json`` or without extension that
  is a mapping is YAML: the JSON of ``ansible-inventory --list`` (:mod:`.listjson`)
  when it has that shape, else a YAML inventory (:mod:`.yaml_source`); anything
  else is INI (:mod:`.ini`). A YAML syntax error in a file named as YAML is that
  error (Ansible would go on to try it as INI: the YAML message is the one that
  helps); a file given directly that does not parse is an error, not Ansible's
  warning.

After the last source Ansible's ``reconcile_inventory`` runs, then the
``group_vars/`` and ``host_vars/`` of each source's base directory (the directory
given, or the directory of the file given; not those of a directory's
subdirectories, as Ansible) are read for the groups and hosts found
(:mod:`.vars_files`), one :class:`~runners.inventory.model.VarsFiles` per source.
The SHA-256 returned is over the bytes of every file read, in the order read (and
the output of each dynamic source): a single inventory file's is its own SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from ringbench.errors import UserError
from runners.inventory.dynamic import resolve_dynamic
from runners.inventory.ini import read_ini
from runners.inventory.listjson import (
    decode_json,
    looks_like_list_json,
    read_list_json,
)
from runners.inventory.model import InventoryData, Origin
from runners.inventory.reading import FastLoader, compose, construct, read_text
from runners.inventory.vars_files import load_vars_files
from runners.inventory.yaml_source import read_yaml_inventory

# ansible-core's C.INVENTORY_IGNORE_EXTS (REJECT_EXTS + .orig, .cfg, .retry) and the
# names InventoryManager always skips in a directory.
IGNORE_EXTS = (
    *(".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst"),
    *(".orig", ".cfg", ".retry"),
)
IGNORED = re.compile(
    "|".join(
        [r"^\.", "^host_vars$", "^group_vars$", "^vars_plugins$"]
        + [f"{re.escape(ext)}$" for ext in IGNORE_EXTS]
    )
)
YAML_EXTS = (".yml", ".yaml", ".json")  # the yaml plugin's (a name without one too)
PLUGIN_EXTS = (".yml", ".yaml")  # the auto plugin's
EXECUTABLE_MAGIC = (b"#!", b"\x7fELF")
VAULT_HEADER = "$ANSIBLE_VAULT"
MAX_FILES = 10_000  # inventory files read from the sources
MAX_DEPTH = 32  # directories nested in a directory source
MAX_SCRIPT_BYTES = 256 * 2**20
MAX_LINED_JSON = 2**20  # --list JSON larger than this is read without its lines (speed)


def read_sources(paths: Sequence[Path]) -> tuple[InventoryData, str]:
    """``paths`` read, merged in order, reconciled, with their variables files; and the
    SHA-256 of everything read."""
    reader = _Reader()
    data = reader.data
    given: set[str] = set()
    for path in paths:
        key = os.path.realpath(path)
        if key in given:
            continue
        given.add(key)
        data.sources.append(path)
        reader.source(path)
    data.reconcile()
    for source in data.sources:
        basedir = source if source.is_dir() else source.absolute().parent
        data.vars_files.append(
            load_vars_files(
                basedir, data.groups, data.hosts, warnings=data.warnings, digest=reader.digest
            )
        )
    return data, reader.digest.hexdigest()


class _NotParsed(Exception):
    """A file that does not parse in any format: an error for a file given, a warning
    (the file skipped) for a file of a directory, as Ansible's "Unable to parse"."""

    def __init__(self, error: UserError) -> None:
        super().__init__(str(error))
        self.error = error


class _Reader:
    """Reads sources into one :class:`InventoryData`, remembering the files read."""

    def __init__(self) -> None:
        self.data = InventoryData()
        self.digest = hashlib.sha256()
        self.seen: set[str] = set()  # real paths of the files taken
        self.read: list[Path] = []  # the files read, in order (for ``constructed``)

    def source(self, path: Path) -> None:
        if not path.exists():
            hint = (
                " (a host list 'a,b,' is not read: write the hosts in an inventory file)"
                if "," in path.name
                else ""
            )
            raise UserError(f"{path}: no such inventory file or directory{hint}: check the path")
        if path.is_dir():
            self.directory(path, 0)
            return
        try:
            self.file(path)
        except _NotParsed as exc:
            raise exc.error from None

    def directory(self, path: Path, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise Origin(path).error(
                f"directories nested over {MAX_DEPTH} deep in the inventory (a symlink "
                "loop?): flatten them"
            )
        try:
            names = sorted(entry.name for entry in path.iterdir())
        except OSError as exc:
            raise Origin(path).error(
                f"cannot list the inventory directory ({exc.strerror or exc}): check its "
                "permissions"
            ) from None
        for name in names:
            if IGNORED.search(name):
                continue
            full = path / name
            if full.is_dir():
                self.directory(full, depth + 1)
                continue
            try:
                if not full.is_file():
                    raise _NotParsed(Origin(full).error("is not a regular file (a dangling link?)"))
                self.file(full)
            except _NotParsed as exc:
                self.data.warnings.append(
                    f"{exc} (this file of the inventory directory is skipped, as Ansible "
                    "skips a file it cannot parse)"
                )

    def file(self, path: Path) -> None:
        key = os.path.realpath(path)
        if key in self.seen:
            return
        self.seen.add(key)
        if len(self.seen) > MAX_FILES:
            raise Origin(path).error(
                f"the inventory is over {MAX_FILES} files: ringbench reads at most that "
                "many; check the path"
            )
        if _executable(path):
            self.dynamic(path, None)
        else:
            try:
                text, _ = read_text(path, "the inventory")
            except UserError as exc:
                raise _NotParsed(exc) from None
            self.digest.update(text.encode("utf-8"))
            self.static(path, text)
        self.read.append(path)

    def static(self, path: Path, text: str) -> None:
        if text.startswith(VAULT_HEADER):
            raise Origin(path, 1).error(
                "is encrypted with ansible-vault: ringbench does not decrypt inventories; "
                "keep the hosts in plain text (secrets can stay in vault-encrypted "
                "group_vars/ files, which ringbench leaves alone)"
            )
        ext = path.suffix
        if ext == ".toml":
            self.dynamic(path, "")
        elif not (ext in YAML_EXTS or not ext) or not self.yaml(path, text):
            self.ini(path, text)

    def yaml(self, path: Path, text: str) -> bool:
        """Read ``path`` when it is a YAML (or JSON) mapping: True; False for INI to try."""
        value = decode_json(text)  # Ansible's loader tries JSON first
        if isinstance(value, dict) and looks_like_list_json(value) and not value.get("plugin"):
            node = _lines_of(text, path) if len(text) <= MAX_LINED_JSON else None
            read_list_json(self.data, path, value, node)
            return True
        try:
            node = compose(text, path) if path.suffix else _probe(text)
        except (UserError, yaml.YAMLError, RecursionError) as exc:
            if not isinstance(value, dict):
                if not path.suffix or not isinstance(exc, UserError):
                    return False  # not YAML: INI, most likely
                raise _NotParsed(exc) from None
            node = None  # JSON that YAML cannot compose: read without lines
        if node is not None and not isinstance(node, yaml.MappingNode):
            if path.suffix:  # named as YAML: Ansible tries INI; that failing, say why
                self.ini(path, text, instead=_not_mapping(path, node))
                return True
            return False
        if node is None and not isinstance(value, dict):
            return False  # nothing but comments: INI reads it as nothing too
        plugin = _plugin(value if isinstance(value, dict) else None, node)
        if plugin is not None:
            if path.suffix not in PLUGIN_EXTS:
                raise _NotParsed(
                    Origin(path, 1).error(
                        f"a plugin configuration ('plugin: {plugin}') is read by Ansible "
                        "only from a file named *.yml or *.yaml: rename it"
                    )
                )
            self.dynamic(path, plugin)
        elif not isinstance(value, dict) and node is not None and _has_meta(node):
            # YAML holding `ansible-inventory --list --yaml`'s shape. Without `_meta`, a
            # `hosts: [a, b]` is a YAML inventory written wrong: the YAML reader says so.
            read_list_json(self.data, path, construct(node), node)
        elif node is None:
            raise Origin(path, 1).error(
                "is JSON that ringbench's YAML reader cannot follow: write it as YAML, or "
                "as the JSON of 'ansible-inventory --list'"
            )
        else:
            read_yaml_inventory(self.data, path, node)
        return True

    def ini(self, path: Path, text: str, *, instead: UserError | None = None) -> None:
        """Read ``path`` as INI; ``instead`` is the error to give if that fails."""
        try:
            read_ini(self.data, path, text)
        except UserError as exc:
            if instead is None and text.startswith("#!"):
                instead = Origin(path, 1).error(
                    "starts with '#!' but is not executable: Ansible runs an inventory "
                    "script only when it is executable: chmod +x it"
                )
            raise _NotParsed(instead or exc) from None

    def dynamic(self, path: Path, plugin: str | None) -> None:
        """A source ``ansible-inventory`` resolves (``plugin``: see :func:`.dynamic.describe`)."""
        before: list[Path] = []
        if plugin is not None and plugin.rpartition(".")[2] == "constructed":
            before = list(self.read)  # the hosts it works on
        if plugin is None:
            _hash_file(path, self.digest)
        value, output = resolve_dynamic(path, plugin=plugin, before=before)
        self.digest.update(output)
        read_list_json(self.data, path, value)


def _lines_of(text: str, path: Path) -> yaml.Node | None:
    """The YAML nodes of a JSON document, for its lines (none when YAML cannot follow)."""
    try:
        return compose(text, path)
    except UserError:
        return None


def _probe(text: str) -> yaml.Node | None:
    """The YAML of a file without extension, composed by libyaml where present: most
    such files are INI, and the YAML error's message is not wanted then."""
    node: yaml.Node | None = yaml.compose(text, Loader=FastLoader)
    return node


def _executable(path: Path) -> bool:
    """Ansible's script plugin takes an executable file; one the system cannot execute
    (no ``#!``, not ELF) fails there and goes on to the other plugins."""
    if not os.access(path, os.X_OK):
        return False
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head.startswith(EXECUTABLE_MAGIC)


def _hash_file(path: Path, digest: hashlib._Hash) -> None:
    """Add an inventory script's bytes (a script, or a program: bounded) to ``digest``."""
    total = 0
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                total += len(chunk)
                if total > MAX_SCRIPT_BYTES:
                    raise Origin(path).error(
                        f"is over {MAX_SCRIPT_BYTES // 2**20} MiB: not an inventory script; "
                        "check the path"
                    )
                digest.update(chunk)
    except OSError as exc:
        raise Origin(path).error(
            f"cannot read the inventory script ({exc.strerror or exc}): check its permissions"
        ) from None


def _plugin(value: dict[str, object] | None, node: yaml.Node | None) -> str | None:
    """The ``plugin`` a configuration names (Ansible: a true ``plugin`` value), or None."""
    if value is not None:
        plugin = value.get("plugin")
    else:
        plugin = None
        if isinstance(node, yaml.MappingNode):
            for key, item in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == "plugin":
                    plugin = construct(item)
    return str(plugin) if plugin else None


def _not_mapping(path: Path, node: yaml.Node) -> UserError:
    kind = "a list" if isinstance(node, yaml.SequenceNode) else "one value"
    return Origin(path, node.start_mark.line + 1).error(
        f"a YAML inventory is a mapping of groups ('all:', 'GROUP:'), not {kind}, and "
        "the file does not read as INI either: write it as a mapping of groups"
    )


def _has_meta(node: yaml.Node) -> bool:
    """The document has a top-level ``_meta`` key (``ansible-inventory --list``'s)."""
    return isinstance(node, yaml.MappingNode) and any(
        isinstance(key, yaml.ScalarNode) and key.value == "_meta" for key, _ in node.value
    )
