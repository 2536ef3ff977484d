"""Facts about a host that a reader of its figures needs, gathered by small collectors.

Each ``collect_*`` function reads a few files or commands through a
:class:`HostReader` and adds keys to a metadata dict (pyperf's naming where
pyperf has a name for the fact: ``hostname``, ``cpu_model_name``,
``cpu_count``, ``platform``, ``boot_time``). A fact that cannot be read is
left out, never guessed. The reader is the only thing that knows whether the
host is this machine or a remote one.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from ringbench.errors import CommandError
from runners.transport import Connection

Metadata = dict[str, str | int | float]
READ_TIMEOUT_S = 20.0
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
    """``{path: (kind, text)}`` from the output of :data:`_READ_SCRIPT`."""
    found: dict[str, tuple[str, str]] = {}
    for chunk in output.split(f"\n{boundary} ")[1:]:
        path, _, rest = chunk.partition("\n")
        kind, _, text = rest.partition("\n")
        found[path] = (kind, text)
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
        kind, text = self._get(path)
        return text.split() if kind == "d" else None

    def command(self, argv: list[str]) -> str | None:
        """The command's stdout, or None when it is missing or fails."""
        try:
            result = self.conn.run(argv, timeout_s=READ_TIMEOUT_S, check=False)
        except (CommandError, OSError):
            return None
        return result.stdout if result.ok else None


def first_line(text: str | None) -> str | None:
    """The first line of ``text``, stripped; None when there is none."""
    if text is None or not text.strip():
        return None
    return text.strip().splitlines()[0].strip()


def _put(metadata: Metadata, key: str, value: str | int | float | None) -> None:
    if isinstance(value, str):
        value = " ".join(value.split())
    if value is not None and value != "":
        metadata[key] = value


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
        match = re.search(r"^btime\s+(\d+)", stat, re.MULTILINE)
        if match:
            boot = datetime.fromtimestamp(int(match.group(1)), tz=UTC)
            _put(metadata, "boot_time", boot.strftime("%Y-%m-%d %H:%M:%S"))


def parse_cpuinfo(text: str) -> Metadata:
    """CPU model, count and whether the ``hypervisor`` flag is set, from /proc/cpuinfo."""
    out: Metadata = {}
    processors = re.findall(r"^processor\s*:", text, re.MULTILINE)
    if processors:
        out["cpu_count"] = len(processors)
    for key, field in (("cpu_model_name", "model name"), ("cpu_vendor", "vendor_id")):
        match = re.search(rf"^{field}\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            out[key] = " ".join(match.group(1).split())
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
        match = re.search(rf"^{field}:\s+(\d+)", meminfo, re.MULTILINE)
        if match:
            metadata[key] = int(match.group(1))


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
