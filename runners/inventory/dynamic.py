"""Dynamic inventory sources, resolved by ansible-core itself.

An executable inventory script, an inventory plugin configuration (a YAML file with a
``plugin:`` key: ``aws_ec2``, ``constructed``, ``generator``...) or any other source
only Ansible's own plugins read (TOML) is resolved by running::

    ansible-inventory --list --export -i SOURCE

when ``ansible-inventory`` is on ``PATH``: an argument list (no shell), in the
source's directory (its ``ansible.cfg`` applies, as when the user runs it), stdin
``/dev/null``, its own session, killed with its process group at the timeout, its
output bounded (:data:`MAX_STDOUT`, :data:`MAX_STDERR`). ``--export`` keeps group
variables in their groups (ringbench applies Ansible's precedence itself), and
Ansible's vars plugins are turned off in the child (``ANSIBLE_VARS_ENABLED=``):
ringbench reads the ``group_vars/`` and ``host_vars/`` beside each source itself
(:mod:`.vars_files`). A source that Ansible cannot parse fails the command
(``ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED``) instead of giving an empty inventory.
A ``constructed`` configuration works on the hosts of the sources before it: those
are given first (``before``), as ``-i`` options in order.

The printed JSON (:mod:`.listjson` reads it) is returned parsed. Every failure is one
line naming the source: ansible-core not installed, a timeout, a non-zero exit (with
the reason from its stderr, escaped and shortened), output that is not JSON.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from ringbench.errors import UserError
from runners.inventory.listjson import decode_json
from runners.transport import Captured, read_until_exit

TIMEOUT_S = 60.0
MAX_STDOUT = 64 * 2**20
MAX_STDERR = 2**20  # its first MiB is kept
REASON_CHARS = 300
EXE = "ansible-inventory"
CHILD_ENV = {
    "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
    "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
    "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True",
    "ANSIBLE_VARS_ENABLED": "",  # ringbench reads group_vars/ and host_vars/ itself
    "ANSIBLE_DEPRECATION_WARNINGS": "False",
    "ANSIBLE_NOCOLOR": "1",
    "ANSIBLE_FORCE_COLOR": "0",
}
GRACE_S = 2.0


def describe(plugin: str | None) -> str:
    """What the source is, for messages: ``plugin`` is its ``plugin:`` value, ``None``
    for an executable script, ``""`` for another format only Ansible reads."""
    if plugin is None:
        return "an executable inventory script"
    if plugin:
        return f"an inventory plugin configuration ('plugin: {plugin}')"
    return "an inventory format only Ansible's own plugins read"


def resolve_dynamic(
    path: Path,
    *,
    plugin: str | None = None,
    timeout_s: float = TIMEOUT_S,
    before: Sequence[Path] = (),
) -> tuple[object, bytes]:
    """The parsed JSON that ``ansible-inventory --list`` prints for ``path`` (``plugin``
    as for :func:`describe`), and the bytes it printed."""
    what = describe(plugin)
    exe = shutil.which(EXE)
    if exe is None:
        raise UserError(
            f"{path}: {what}: ringbench resolves it with 'ansible-inventory --list', "
            "which is not installed here: install ansible-core (pip install ansible-core) "
            f"or give the output of 'ansible-inventory --list -i {path}' as the inventory"
        )
    argv = [exe, "--list", "--export"]
    for source in (*before, path):
        argv += ["-i", str(source.absolute())]
    shown = f"'ansible-inventory --list -i {path}'"
    returncode, stdout, stderr = _run(argv, path, timeout_s, shown)
    if returncode != 0:
        raise UserError(
            f"{path}: {what}: {shown} failed (exit {returncode}): {reason(stderr)}: "
            "fix the source (or its credentials), or give its output as the inventory"
        )
    value = decode_json(stdout.decode("utf-8", errors="replace"))
    if not isinstance(value, dict):
        raise UserError(
            f"{path}: {what}: {shown} did not print an inventory as JSON "
            f"({_escape(stdout.decode('utf-8', errors='replace'))[:80]!r}): check "
            "the source and the ansible-core installed"
        )
    return value, stdout


def _run(argv: list[str], path: Path, timeout_s: float, shown: str) -> tuple[int, bytes, bytes]:
    """Run ``argv`` bounded in time and output: (exit status, stdout, stderr)."""
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=path.absolute().parent,
            env={**os.environ, **CHILD_ENV},
            start_new_session=True,
        )
    except OSError as exc:
        raise UserError(
            f"{path}: cannot run {argv[0]} ({exc.strerror or exc}): check the ansible-core "
            "installation"
        ) from None
    captured = Captured(stdout=MAX_STDOUT, stderr=MAX_STDERR)
    try:
        finished = read_until_exit(proc, captured, time.monotonic() + timeout_s)
        if captured.stdout.over:
            _kill(proc)
            raise UserError(
                f"{path}: {shown} printed over {MAX_STDOUT // 2**20} MiB: ringbench reads "
                "at most that much; narrow the inventory (filters in the plugin's "
                "configuration)"
            )
        if not finished:
            _kill(proc)
            raise UserError(
                f"{path}: {shown} did not finish in {timeout_s:g} s: check that the source "
                "can reach what it lists (network, credentials), or give its output as "
                "the inventory"
            )
    except BaseException:
        _kill(proc)
        raise
    finally:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    return proc.returncode, bytes(captured.stdout.data), bytes(captured.stderr.data)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """End the command's process group (the script it runs included) and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=GRACE_S)


def reason(stderr: bytes) -> str:
    """Why ``ansible-inventory`` failed, in one short line, from its stderr: the first
    plugin's failure, what a script printed on its stderr, a plugin that did not load."""
    lines = [line.strip() for line in stderr.decode("utf-8", errors="replace").splitlines()]
    failed = loading = script = ""
    for index, line in enumerate(lines):
        if not failed and line.startswith("[WARNING]: Failed to parse inventory with"):
            failed = line.removeprefix("[WARNING]: ")
        elif not loading and line.startswith("[WARNING]: Error loading plugin"):
            loading = line.removeprefix("[WARNING]: ")
        elif not script and line == "Standard error from inventory script:":
            block = []
            for following in lines[index + 1 :]:
                if not following:
                    break
                block.append(following)
            script = block[-1] if block else ""
    parts = [p for p in (failed, loading) if p]
    if script:
        parts.append(f"the script's stderr: {script}")
    if not parts:
        errors = [line for line in lines if line.startswith("[ERROR]")]
        last = errors[-1] if errors else next((x for x in reversed(lines) if x), "")
        parts = [last or "no message on stderr"]
    text = _escape("; ".join(parts))
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 3] + "..."


def _escape(text: str) -> str:
    """One line of printable text (control characters shown as ``\\xNN``)."""
    flat = " ".join(text.split())
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in flat)
