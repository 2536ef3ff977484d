"""The Ansible-style inventory: typed hosts, one-line errors with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runners.errors import UserError
from runners.inventory import load_inventory
from runners.pipeline import plan_hosts

LAB = """\
all:
  vars:
    ansible_user: bench
    machine: box1
  hosts:
    native:
      ansible_connection: local
      virt_class: hardware-assisted
  children:
    guests:
      vars:
        baseline: native
        ansible_port: 2222
      hosts:
        tcg:
          ansible_host: 127.0.0.1
          virt_class: binary-translation
          hypervisor: QEMU TCG, type 2
        uml:
          ansible_host: 10.77.0.2
          ansible_port: 22
          some_other_tool_var: kept out
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    return path


def test_vars_are_inherited_group_to_host(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, LAB))
    native, tcg, uml = inv.get("native"), inv.get("tcg"), inv.get("uml")
    assert native.is_local and native.baseline is None and native.machine == "box1"
    assert tcg.connection == "ssh" and tcg.port == 2222 and tcg.user == "bench"
    assert tcg.baseline == "native" and tcg.hypervisor == "QEMU TCG, type 2"
    assert uml.port == 22, "host vars win over group vars"
    assert uml.groups == ("guests",)
    assert [h.name for h in inv.select(["guests"])] == ["tcg", "uml"]
    assert [h.name for h in plan_hosts(inv.select(["t*", "native"]))] == ["native", "tcg"]


def test_repository_inventory_is_valid() -> None:
    inv = load_inventory(Path(__file__).parent.parent / "inventory.yaml")
    assert all(h.is_local for h in inv.hosts)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("all:\n  hosts:\n    a:\n      virt_clas: container\n", 4, "did you mean 'virt_class'"),
        ("all:\n  hosts:\n    a:\n      virt_class: containr\n", 4, "did you mean 'container'"),
        ("all:\n  hosts:\n    a:\n      ansible_port: twenty\n", 4, "must be an integer"),
        ("all:\n  hosts:\n    a:\n      ansible_port: 70000\n", 4, "out of range"),
        ("all:\n  hosts:\n    a: {}\n    a: {}\n", 4, "appears twice"),
        ("all:\n  hosts:\n    a:\n      baseline: b\n", 4, "unknown baseline 'b'"),
        ("all:\n  hosts:\n    a:\n      baseline: b\n    b:\n      baseline: a\n", 4, "cycle"),
        ("all:\n  hosts:\n    a:\n      baseline: b\n      machine: m1\n    b:\n"
         "      machine: m2\n", 4, "same hardware"),
        ("all:\n  hots:\n    a: {}\n", 2, "did you mean 'hosts'"),
        ("all:\n  hosts:\n    a: [\n", 4, "YAML syntax error"),
        ("all:\n  hosts:\n    a:\n      ansible_connection: winrm\n", 4, "not local or ssh"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_inventory(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert words in message and "\n" not in message


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="empty"):
        load_inventory(write(tmp_path, ""))
    with pytest.raises(UserError, match="cannot read"):
        load_inventory(tmp_path / "missing.yaml")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("all:hosts children vars-{}[]\n #'\"ab12_")),
               max_size=120))
def test_any_text_is_an_inventory_or_a_user_error(tmp_path_factory: pytest.TempPathFactory,
                                                  text: str) -> None:
    path = tmp_path_factory.mktemp("inv") / "inventory.yaml"
    path.write_text(text)
    try:
        load_inventory(path)
    except UserError as exc:
        assert "\n" not in str(exc)
