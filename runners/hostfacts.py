"""Facts about a host that a reader of its figures needs, gathered by small collectors.

Each ``collect_*`` function reads a few files or commands through a
:class:`HostReader` and adds keys to a metadata dict (pyperf's naming where
pyperf has a name for the fact: ``hostname``, ``cpu_model_name``,
``cpu_count``, ``platform``, ``boot_time``). A fact that cannot be read is
left out, never guessed. The reader is the only thing that knows whether the
host is this machine or a remote one.

What a host's files say is data: a file longer than :data:`MAX_FILE_CHARS`
counts as unreadable, text facts are made printable and cut to
:data:`MAX_FACT_CHARS`, and a number that is not a plain integer within its
range (``btime`` in /proc/stat within 2000..2100, memory sizes within
int64) is left out and named in ``facts_unparsable``: these facts only
inform a reader, so a weird line costs the fact, not the host. Output that
is not even the reading script's (more than :data:`MAX_BATCH_CHARS`, text
that is not UTF-8) is that host's :class:`ProtocolError`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from ringbench.errors import CommandError, ProtocolError
from runners.transport import Connection
from suites.protocol import EPOCH_2000_S, EPOCH_2100_S, excerpt, parse_uint

Metadata = dict[str, str | int | float]
READ_TIMEOUT_S = 20.0
MAX_FILE_CHARS = 1024 * 1024  # /proc/cpuinfo of 256 CPUs is ~0.4 MB
MAX_BATCH_CHARS = 16 * 1024 * 1024
MAX_FACT_CHARS = 4096  # the longest kernel command line Linux accepts
MAX_LISTING = 256  # entries of a directory listing
UNPARSABLE = "facts_unparsable"  # the facts left out because the host's text made no sense
_ENTRY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
VULNERABILITIES = "/sys/devices/system/cpu/vulnerabilities"
_CPUFREQ = "/sys/devices/system/cpu/cpu0/cpufreq"
# Every path the collectors read, fetched in one round trip.
FACT_PATHS = (
    "/proc/sys/kernel/hostname",
    "/proc/sys/kernel/osrelease",
    "/proc/sys/kernel/arch",
    "/proc/sys/kernel/version",
    "/proc/cmdline",
    "/proc/stat",
    "/proc/cpuinfo",
    "/proc/meminfo",
    f"{_CPUFREQ}/scaling_governor",
    f"{_CPUFREQ}/scaling_driver",
    "/sys/devices/system/cpu/cpufreq/boost",
    "/sys/devices/system/cpu/intel_pstate/no_turbo",
    "/sys/devices/system/clocksource/clocksource0/current_clocksource",
    "/sys/kernel/mm/transparent_hugepage/enabled",
    "/proc/sys/kernel/randomize_va_space",
    VULNERABILITIES,
    # the ones Linux 6.x knows, so that their states come in the same round trip
    *(
        f"{VULNERABILITIES}/{name}"
        for name in (
            "gather_data_sampling",
            "ghostwrite",
            "indirect_target_selection",
            "itlb_multihit",
            "l1tf",
            "mds",
            "meltdown",
            "mmio_stale_data",
            "old_microcode",
            "reg_file_data_sampling",
            "retbleed",
            "spec_rstack_overflow",
            "spec_store_bypass",
            "spectre_v1",
            "spectre_v2",
            "srbds",
            "tsa",
            "tsx_async_abort",
            "vmscape",
        )
    ),
)


# Reads many paths in one round trip: the paths are the script's arguments
# ("$@"), never part of its text, so nothing the user wrote is interpreted.
# Each path is announced by a fresh random boundary, then its kind: f (a
# readable file, its text follows), d (a directory, its entries follow), e
# (exists, unreadable) or n (missing).
_READ_SCRIPT = (
    'b=$1; shift; for f do printf "\\n%s %s\\n" "$b" "$f"; '
    'if [ -d "$f" ]; then echo d; ls -1A -- "$f" 2>/dev/null; '
    'elif [ -f "$f" ] && [ -r "$f" ]; then echo f; cat -- "$f" 2>/dev/null; '
    'elif [ -e "$f" ]; then echo e; else echo n; fi; done'
)


def parse_batch(output: str, boundary: str) -> dict[str, tuple[str, str]]:
    """``{path: (kind, text)}`` from the output of :data:`_READ_SCRIPT`.

    A kind other than f/d/e/n, or a file longer than :data:`MAX_FILE_CHARS`,
    counts as unreadable (``e``); the first answer for a path wins.
    """
    if len(output) > MAX_BATCH_CHARS:
        raise ProtocolError(f"reading files printed more than {MAX_BATCH_CHARS} characters")
    found: dict[str, tuple[str, str]] = {}
    for chunk in output.split(f"\n{boundary} ")[1:]:
        path, _, rest = chunk.partition("\n")
        kind, _, text = rest.partition("\n")
        if kind not in ("f", "d", "e", "n") or len(text) > MAX_FILE_CHARS:
            kind, text = "e", ""
        found.setdefault(path, (kind, text))
    return found


class HostReader:
    """Reads files and short commands on a host through its connection.

    :meth:`prefetch` reads a list of paths in one remote command (a round
    trip to a remote host costs a new SSH session); :meth:`read`,
    :meth:`exists` and :meth:`listdir` answer from what was fetched, and fetch
    what was not.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._seen: dict[str, tuple[str, str]] = {}

    def prefetch(self, paths: Iterable[str]) -> None:
        todo = [p for p in dict.fromkeys(paths) if p not in self._seen and "\n" not in p]
        if not todo:
            return
        boundary = f"ringbench-{secrets.token_hex(8)}"
        try:
            result = self.conn.run(
                ["sh", "-c", _READ_SCRIPT, "sh", boundary, *todo],
                timeout_s=READ_TIMEOUT_S,
                check=False,
            )
            found = parse_batch(result.stdout, boundary)
        except CommandError:
            found = {}
        except UnicodeDecodeError:  # a local host's files, decoded strictly
            raise ProtocolError(
                "reading files printed text that is not UTF-8", host=self.conn.host
            ) from None
        except ProtocolError as exc:
            raise ProtocolError(exc.detail, host=self.conn.host) from None
        for path in todo:
            self._seen[path] = found.get(path, ("n", ""))

    def _get(self, path: str) -> tuple[str, str]:
        self.prefetch([path])
        return self._seen.get(path, ("n", ""))

    def read(self, path: str) -> str | None:
        """The file's text, or None when it cannot be read."""
        kind, text = self._get(path)
        return text if kind == "f" else None

    def exists(self, path: str) -> bool:
        return self._get(path)[0] != "n"

    def listdir(self, path: str) -> list[str] | None:
        """The entries of a directory whose names are plain (letters, digits, ``_.-``; at
        most :data:`MAX_LISTING` of them), or None when it cannot be listed."""
        kind, text = self._get(path)
        if kind != "d":
            return None
        names = [
            name for name in text.split() if _ENTRY.fullmatch(name) and name not in (".", "..")
        ]
        return names[:MAX_LISTING]

    def command(self, argv: list[str]) -> str | None:
        """The command's stdout (at most :data:`MAX_FILE_CHARS`), or None when it is
        missing, fails or prints more or other than text."""
        try:
            result = self.conn.run(argv, timeout_s=READ_TIMEOUT_S, check=False)
        except (CommandError, OSError, UnicodeDecodeError):
            return None
        return result.stdout if result.ok and len(result.stdout) <= MAX_FILE_CHARS else None


def first_line(text: str | None) -> str | None:
    """The first line of ``text``, stripped; None when there is none."""
    if text is None or not text.strip():
        return None
    return text.strip().splitlines()[0].strip()


def clean(text: str) -> str:
    """A text fact as it is stored: whitespace runs as one space, printable, at most
    :data:`MAX_FACT_CHARS` characters."""
    return excerpt(" ".join(text.split()), MAX_FACT_CHARS)


def _put(metadata: Metadata, key: str, value: str | int | float | None) -> None:
    if isinstance(value, str):
        value = clean(value)
    if value is not None and value != "":
        metadata[key] = value


def unparsable(metadata: Metadata, key: str) -> None:
    """Record that the fact ``key`` was left out because the host's text made no sense."""
    known = str(metadata.get(UNPARSABLE, "")).split()
    metadata[UNPARSABLE] = " ".join(sorted({*known, key}))


def _field(text: str, name: str, metadata: Metadata, key: str, *, lo: int, hi: int) -> int | None:
    """The integer after ``name`` at the start of a line of ``text``, in ``lo..hi``; a
    field that is there but no such integer is recorded as unparsable."""
    match = re.search(rf"^{name}[ \t]+(\S*)", text, re.MULTILINE)
    if match is None:
        return None
    try:
        return parse_uint(match.group(1), name, lo=lo, hi=hi)
    except ProtocolError:
        unparsable(metadata, key)
        return None


def collect_system(reader: HostReader, metadata: Metadata) -> None:
    """Host name, kernel, architecture, boot time, kernel command line."""
    names: list[str | None] = [
        first_line(reader.read(f"/proc/sys/kernel/{n}")) for n in ("hostname", "osrelease", "arch")
    ]
    if names[2] is None:  # /proc/sys/kernel/arch is recent: ask uname(1)
        names = list((reader.command(["uname", "-n", "-r", "-m"]) or "").split()) or names
    if len(names) == 3 and all(names):
        hostname, kernel, arch = (str(n) for n in names)
        _put(metadata, "hostname", hostname)
        _put(metadata, "kernel", kernel)
        _put(metadata, "arch", arch)
        _put(metadata, "platform", f"Linux-{kernel}-{arch}")
    _put(metadata, "kernel_version", first_line(reader.read("/proc/sys/kernel/version")))
    _put(metadata, "kernel_cmdline", first_line(reader.read("/proc/cmdline")))
    stat = reader.read("/proc/stat")
    if stat:
        btime = _field(stat, "btime", metadata, "boot_time", lo=EPOCH_2000_S, hi=EPOCH_2100_S)
        if btime is not None:
            boot = datetime.fromtimestamp(btime, tz=UTC)
            _put(metadata, "boot_time", boot.strftime("%Y-%m-%d %H:%M:%S"))


def parse_cpuinfo(text: str) -> Metadata:
    """CPU model, count and whether the ``hypervisor`` flag is set, from /proc/cpuinfo."""
    out: Metadata = {}
    processors = re.findall(r"^processor\s*:", text, re.MULTILINE)
    if processors:
        out["cpu_count"] = len(processors)
    for key, field in (("cpu_model_name", "model name"), ("cpu_vendor", "vendor_id")):
        match = re.search(rf"^{field}\s*:\s*(.+)$", text, re.MULTILINE)
        if match and match.group(1).strip():
            out[key] = clean(match.group(1))
    flags = re.search(r"^flags\s*:\s*(.*)$", text, re.MULTILINE)
    if flags:
        out["cpu_hypervisor_flag"] = "yes" if "hypervisor" in flags.group(1).split() else "no"
    return out


def collect_cpu(reader: HostReader, metadata: Metadata) -> None:
    """CPU model and count, frequency governor, turbo/boost state."""
    cpuinfo = reader.read("/proc/cpuinfo")
    if cpuinfo:
        metadata.update(parse_cpuinfo(cpuinfo))
    cpufreq = "/sys/devices/system/cpu/cpu0/cpufreq"
    _put(metadata, "cpu_governor", first_line(reader.read(f"{cpufreq}/scaling_governor")))
    _put(metadata, "cpu_driver", first_line(reader.read(f"{cpufreq}/scaling_driver")))
    boost = first_line(reader.read("/sys/devices/system/cpu/cpufreq/boost"))
    no_turbo = first_line(reader.read("/sys/devices/system/cpu/intel_pstate/no_turbo"))
    if boost is not None:
        _put(metadata, "cpu_boost", "on" if boost == "1" else "off")
    elif no_turbo is not None:
        _put(metadata, "cpu_boost", "off" if no_turbo == "1" else "on")


def parse_mitigations(files: dict[str, str]) -> str:
    """One line from /sys/devices/system/cpu/vulnerabilities/*: the ones that cost time."""
    active = []
    for name in sorted(files):
        state = " ".join(files[name].split())
        if state.startswith("Mitigation"):
            active.append(f"{name}={state.removeprefix('Mitigation: ')}")
        elif state.startswith("Vulnerable"):
            active.append(f"{name}=vulnerable")
    return " | ".join(active) if active else "none"


def collect_kernel_tuning(reader: HostReader, metadata: Metadata) -> None:
    """Clock source, THP, ASLR and CPU vulnerability mitigations."""
    base = "/sys/devices/system/clocksource/clocksource0"
    _put(metadata, "clocksource", first_line(reader.read(f"{base}/current_clocksource")))
    thp = first_line(reader.read("/sys/kernel/mm/transparent_hugepage/enabled"))
    if thp:
        match = re.search(r"\[(\w+)\]", thp)
        _put(metadata, "thp", match.group(1) if match else thp)
    _put(metadata, "aslr", first_line(reader.read("/proc/sys/kernel/randomize_va_space")))
    listing = reader.listdir(VULNERABILITIES)
    if listing:
        reader.prefetch(f"{VULNERABILITIES}/{name}" for name in listing)
        vulns = {}
        for name in listing:
            text = reader.read(f"/sys/devices/system/cpu/vulnerabilities/{name}")
            if text:
                vulns[name] = text
        if vulns:
            _put(metadata, "mitigations", parse_mitigations(vulns))


def collect_memory(reader: HostReader, metadata: Metadata) -> None:
    """Total memory and reserved huge pages."""
    meminfo = reader.read("/proc/meminfo")
    if not meminfo:
        return
    for key, field in (("mem_total_kib", "MemTotal"), ("hugepages_total", "HugePages_Total")):
        value = _field(meminfo, f"{field}:", metadata, key, lo=0, hi=2**63 - 1)
        if value is not None:
            metadata[key] = value


COLLECTORS: tuple[Callable[[HostReader, Metadata], None], ...] = (
    collect_system,
    collect_cpu,
    collect_kernel_tuning,
    collect_memory,
)


def collect_host_metadata(conn: Connection, reader: HostReader | None = None) -> Metadata:
    """Run every collector against the host behind ``conn``."""
    reader = reader or HostReader(conn)
    reader.prefetch(FACT_PATHS)
    metadata: Metadata = {}
    for collect in COLLECTORS:
        collect(reader, metadata)
    return metadata
