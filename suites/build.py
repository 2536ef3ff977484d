"""Build ``ringbench-bench``: one static binary, reproducibly.

The same sources, flags and compiler give the same bytes, so the sha256 of
the binary identifies what ran on every host. The build is cached: it runs
again only when the key (sources, flags, compiler) changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ringbench.errors import UserError
from ringbench.files import atomic_write_json

BINARY_NAME = "ringbench-bench"
BUILD_FORMAT = 1
SOURCE_DIR = Path(__file__).resolve().parent / "src"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
CFLAGS = ("-O2", "-static", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-pthread")
COMPILE_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class BuildInfo:
    """What was built, from what, and its identity."""

    path: Path
    sha256: str
    source_sha256: str
    compiler: str
    flags: tuple[str, ...]
    arch: str

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["flags"] = list(self.flags)
        data["format_version"] = BUILD_FORMAT
        return data


def default_build_dir() -> Path:
    """``$RINGBENCH_BUILD_DIR``, else ``build/`` at the project root (git-ignored)."""
    env = os.environ.get("RINGBENCH_BUILD_DIR")
    return Path(env) if env else PROJECT_ROOT / "build"


def sources(source_dir: Path = SOURCE_DIR) -> list[Path]:
    """The C sources and headers, in a stable order."""
    found = sorted([*source_dir.glob("*.c"), *source_dir.glob("*.h")])
    if not any(p.suffix == ".c" for p in found):
        raise UserError(f"{source_dir}: no C sources; is this a complete ringbench checkout?")
    return found


def source_hash(source_dir: Path = SOURCE_DIR) -> str:
    """sha256 over the sources' names and contents: identifies the source of a build."""
    digest = hashlib.sha256()
    for path in sources(source_dir):
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fp:
        for block in iter(lambda: fp.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def compiler_identity(cc: str) -> str:
    """First line of ``cc --version``, e.g. ``gcc (Debian 12.2.0-14) 12.2.0``."""
    exe = shutil.which(cc)
    if exe is None:
        raise UserError(
            f"no C compiler '{cc}' on PATH: install one (Debian: apt-get install gcc libc6-dev)"
        )
    out = subprocess.run(
        [exe, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    first = out.stdout.splitlines()[0].strip() if out.stdout else ""
    if out.returncode != 0 or not first:
        raise UserError(f"'{cc} --version' failed: {out.stderr.strip()[:200]}")
    return first


def _compile(cc: str, srcs: list[Path], output: Path) -> None:
    c_files = [p.name for p in srcs if p.suffix == ".c"]
    # Compile from inside the source directory with relative names and map the
    # directory away, so no absolute path ends up in the binary.
    argv = [cc, *CFLAGS, f"-ffile-prefix-map={SOURCE_DIR}=.", "-o", str(output), *c_files]
    try:
        proc = subprocess.run(
            argv,
            cwd=SOURCE_DIR,
            capture_output=True,
            text=True,
            timeout=COMPILE_TIMEOUT_S,
            check=False,
            env={**os.environ, "LC_ALL": "C", "SOURCE_DATE_EPOCH": "0"},
        )
    except subprocess.TimeoutExpired as exc:
        raise UserError(f"compiling {BINARY_NAME} took over {COMPILE_TIMEOUT_S:.0f} s") from exc
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-5:]
        if any("cannot find -lc" in line or "cannot find -lpthread" in line for line in tail):
            raise UserError(
                "static C library missing, needed for the static harness: "
                "apt-get install libc6-dev (Debian) or glibc-static (Fedora)"
            )
        raise UserError(f"building {BINARY_NAME} failed: " + " | ".join(tail))


def build(build_dir: Path | None = None, *, cc: str = "cc", force: bool = False) -> BuildInfo:
    """Build the harness into ``build_dir`` (cached) and return what was built."""
    build_dir = build_dir or default_build_dir()
    srcs = sources()
    compiler = compiler_identity(cc)
    src_sha = source_hash()
    binary = build_dir / BINARY_NAME
    info_path = build_dir / f"{BINARY_NAME}.json"
    if not force and binary.exists() and info_path.exists():
        cached = _read_info(info_path)
        if (
            cached is not None
            and cached.source_sha256 == src_sha
            and cached.compiler == compiler
            and cached.flags == CFLAGS
            and file_sha256(binary) == cached.sha256
        ):
            return replace(cached, path=binary)
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create build directory {build_dir}: {exc.strerror}") from exc
    with tempfile.TemporaryDirectory(dir=build_dir, prefix=".build-") as tmp:
        out = Path(tmp) / BINARY_NAME
        _compile(cc, srcs, out)
        out.replace(binary)
    info = BuildInfo(
        path=binary,
        sha256=file_sha256(binary),
        source_sha256=src_sha,
        compiler=compiler,
        flags=CFLAGS,
        arch=platform.machine(),
    )
    atomic_write_json(info_path, info.to_json())
    return info


def _read_info(path: Path) -> BuildInfo | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format_version") != BUILD_FORMAT:
            return None
        return BuildInfo(
            path=Path(data["path"]),
            sha256=str(data["sha256"]),
            source_sha256=str(data["source_sha256"]),
            compiler=str(data["compiler"]),
            flags=tuple(data["flags"]),
            arch=str(data["arch"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
