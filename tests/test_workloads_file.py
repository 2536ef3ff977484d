"""suites/workloads.toml: the shipped list loads, and a malformed one is refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringbench.errors import UserError
from runners.lab.rootfs import INCLUDE
from suites.workloads import load_workloads, select

GOOD = """format_version = 1
[[workload]]
name = "w"
exercises = "x"
packages = ["p"]
programs = ["sh"]
native_s = 1.0
setup = ""
command = "true"
"""


def test_the_shipped_workloads_load_and_their_packages_are_in_the_lab() -> None:
    workloads = load_workloads()
    names = [w.name for w in workloads]
    assert len(names) == len(set(names)) >= 8
    assert {"compile", "spawn", "python-start", "sqlite-sync", "tar-gzip", "tree-walk",
            "http-loopback", "compute"} <= set(names)  # fmt: skip
    for w in workloads:
        assert w.command and 0 < w.native_s <= 5
        assert set(w.packages) <= set(INCLUDE), w.name
        assert w.argv(w.command) == ["sh", "-c", w.command]
    assert [w.name for w in select(workloads, ["spawn", "compile"])] == ["compile", "spawn"]
    with pytest.raises(UserError, match="no workload 'nope'"):
        select(workloads, ["nope"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("this is [ not toml", "not TOML"),
        (GOOD.replace("format_version = 1", "format_version = 2"), "format_version must be 1"),
        (GOOD + 'colour = "red"\n', "unknown key 'colour'"),
        (GOOD.replace('name = "w"', 'name = "W!"'), "is not \\[a-z\\]"),
        (GOOD.replace("native_s = 1.0", "native_s = -1"), "native_s -1 is not in"),
        (GOOD.replace('command = "true"', 'command = ""'), "an empty command"),
        (GOOD.replace('programs = ["sh"]', 'programs = ["a b"]'), "'programs' holds a name"),
        (GOOD.replace('packages = ["p"]', 'packages = "p"'), "'packages' must be list"),
        (GOOD + GOOD.split("\n", 1)[1], "workload 'w' twice"),
    ],
)
def test_a_malformed_list_is_one_line_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "workloads.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as info:
        load_workloads(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
