"""The ``group_vars/`` and ``host_vars/`` beside an inventory source, found and read as
ansible-core's ``host_group_vars`` vars plugin finds and reads them.

For a source's base directory (the directory given as the inventory, or the directory
of the file given), and for each group and each host the inventory holds, Ansible's
``DataLoader.find_vars_files(DIR/group_vars, NAME)`` looks for ``NAME``, ``NAME.yml``,
``NAME.yaml`` and ``NAME.json`` in that order and takes **the first that exists**
only: a file, or a directory whose files are read recursively in sorted order
(hidden entries and names ending in ``~`` skipped; files with an extension other
than those three skipped; subdirectories with an extension skipped). Host names
starting with ``/`` (chroot hosts) have no ``host_vars``.

Each file is one :data:`~runners.inventory.model.Vars`, read as Ansible's loader
reads it: JSON first, then YAML (through :mod:`.reading`, bounded, one-line errors).
A file whose value is empty (nothing, ``null``, ``{}``, ``[]``, ``""``) gives no
variables; any other value that is not a mapping is refused in one line, as Ansible
refuses it. A file encrypted with ansible-vault as a whole (its text starts with
``$ANSIBLE_VAULT``) is not decrypted: it is one ``Vars`` holding the single key
:data:`VAULT_FILE_KEY` (a :class:`~runners.inventory.model.Tagged` value,
``!vault-file``, whose origin is the file), so that the caller can mark what needs a
value from it; any variable in it is unknown to ringbench.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import yaml

from ringbench.errors import UserError
from runners.inventory.listjson import decode_json
from runners.inventory.model import Origin, Tagged, Var, Vars, VarsFiles
from runners.inventory.reading import compose, construct, mapping_vars, read_text

VAULT_FILE_KEY = "__vault_file__"  # the one key of a vault-encrypted file's Vars
VAULT_FILE_TAG = "!vault-file"
VAULT_HEADER = "$ANSIBLE_VAULT"  # what ansible-vault's is_encrypted looks for
EXTENSIONS = ("", ".yml", ".yaml", ".json")  # Ansible's YAML_FILENAME_EXTENSIONS, '' first
MAX_FILES = 10_000  # variables files read per base directory
MAX_ENTRIES = 100_000  # names listed in one group_vars/ or host_vars/ directory
MAX_DEPTH = 32  # directories nested below group_vars/NAME/


class _Budget:
    """Files read so far for one base directory (bounded by :data:`MAX_FILES`)."""

    def __init__(self, basedir: Path) -> None:
        self.basedir = basedir
        self.files = 0

    def take(self, path: Path) -> None:
        self.files += 1
        if self.files > MAX_FILES:
            raise Origin(path, 1).error(
                f"over {MAX_FILES} variables files under {self.basedir}'s group_vars/ and "
                "host_vars/: ringbench reads at most that many; merge them into fewer files"
            )


def load_vars_files(
    basedir: Path,
    groups: Iterable[str],
    hosts: Iterable[str],
    *,
    warnings: list[str] | None = None,
    digest: hashlib._Hash | None = None,
) -> VarsFiles:
    """The ``group_vars/`` and ``host_vars/`` files of ``basedir`` for ``groups`` and
    ``hosts`` (names the inventory holds; no other file is read).

    ``warnings`` receives Ansible's warning when ``group_vars`` or ``host_vars`` is not
    a directory; ``digest`` is updated with the bytes of every file read, in order.
    """
    real = Path(os.path.realpath(basedir))
    found = VarsFiles(basedir)
    budget = _Budget(real)
    for subdir, names, into in (
        ("group_vars", groups, found.groups),
        ("host_vars", hosts, found.hosts),
    ):
        top = real / subdir
        if not top.is_dir():
            if top.exists() and warnings is not None:
                warnings.append(f"{top}: is not a directory: skipped, as Ansible skips it")
            continue
        listing = _listing(top)
        for name in names:
            if not name or name.startswith(os.sep):
                continue
            files = _find(top, name, listing)
            if files:
                into[name] = [_read(path, budget, digest) for path in files]
    return found


def _listing(directory: Path) -> set[str]:
    """The names in ``directory`` (bounded), to test many names without a stat each."""
    names: set[str] = set()
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                names.add(entry.name)
                if len(names) > MAX_ENTRIES:
                    raise Origin(directory, 1).error(
                        f"holds over {MAX_ENTRIES} entries: ringbench reads at most that "
                        "many; check the path"
                    )
    except OSError as exc:
        raise Origin(directory, 1).error(
            f"cannot list the directory ({exc.strerror or exc}): check its permissions"
        ) from None
    return names


def _find(top: Path, name: str, listing: set[str]) -> list[Path]:
    """Ansible's ``find_vars_files(top, name)``: the first of NAME, NAME.yml, NAME.yaml,
    NAME.json that exists (a directory: its files)."""
    head, _, tail = name.partition(os.sep)
    for ext in EXTENSIONS:
        if tail:  # a name with a '/' (Ansible joins it as a path): test it on disk
            candidate = top / (name + ext)
            if not candidate.exists():
                continue
        elif head + ext not in listing:
            continue
        else:
            candidate = top / (head + ext)
            if not candidate.exists():  # a dangling symlink: Ansible's path_exists says no
                continue
        if candidate.is_dir():
            return _dir_files(candidate, 0)
        return [candidate]
    return []


def _dir_files(directory: Path, depth: int) -> list[Path]:
    """Ansible's ``_get_dir_vars_files``: files of ``directory``, recursively, sorted."""
    if depth > MAX_DEPTH:
        raise Origin(directory, 1).error(
            f"variables directories nested over {MAX_DEPTH} deep (a symlink loop?): flatten them"
        )
    try:
        names = sorted(entry.name for entry in directory.iterdir())
    except OSError as exc:
        raise Origin(directory, 1).error(
            f"cannot list the directory ({exc.strerror or exc}): check its permissions"
        ) from None
    found: list[Path] = []
    for name in names:
        if name.startswith(".") or name.endswith("~"):
            continue
        path = directory / name
        ext = path.suffix
        if path.is_dir() and not ext:
            found.extend(_dir_files(path, depth + 1))
        elif path.is_file() and ext in EXTENSIONS:
            found.append(path)
    return found


def _read(path: Path, budget: _Budget, digest: hashlib._Hash | None) -> Vars:
    """One variables file's top-level variables."""
    budget.take(path)
    text, _ = read_text(path, "a variables file")
    if digest is not None:
        digest.update(text.encode("utf-8"))
    if text.startswith(VAULT_HEADER):
        return {VAULT_FILE_KEY: Var(Tagged(VAULT_FILE_TAG), Origin(path, 1))}
    value = decode_json(text)
    if value is not None:
        return _json_vars(value, path, text)
    node = compose(text, path)
    if node is None:
        return {}
    if isinstance(node, yaml.MappingNode):
        return mapping_vars(node, path)
    return _not_a_mapping(construct(node), path, node.start_mark.line + 1)


def _json_vars(value: object, path: Path, text: str) -> Vars:
    if not isinstance(value, dict):
        return _not_a_mapping(value, path, 1)
    lines = _key_lines(text, path)
    return {
        key: Var(item, Origin(path, lines.get(key, 1)))
        for key, item in value.items()
        if isinstance(key, str)
    }


def _key_lines(text: str, path: Path) -> dict[str, int]:
    """The line of each top-level key of a JSON document (when it composes as YAML)."""
    try:
        node = compose(text, path)
    except UserError:  # lines are a nicety: JSON that YAML cannot compose has none
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {
        str(k.value): k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)
    }


def _not_a_mapping(value: object, path: Path, line: int) -> Vars:
    if not value:  # Ansible's load_found_files skips an empty value ({}, [], "", null)
        return {}
    if isinstance(value, Tagged):
        kind = f"a value tagged {value.tag}"
    elif isinstance(value, list):
        kind = "a list"
    else:
        kind = f"the value {str(value)[:40]!r}"
    raise Origin(path, line).error(
        f"a variables file must be a mapping of 'NAME: VALUE' lines, not {kind} "
        "(Ansible refuses it too): write it as a mapping"
    )


__all__ = ["VAULT_FILE_KEY", "VAULT_FILE_TAG", "load_vars_files"]
