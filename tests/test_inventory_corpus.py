"""Malformed inventories: each is one line, ``PATH:LINE: what is wrong: what to do``.

The corpus lives in ``tests/data/inventories/``; the table below gives each
file's expected line and a part of its message. Random text and random
structures must parse or fail the same way, never with another exception.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringbench.errors import UserError
from runners.inventory import VIRT_CLASSES, load_inventory

CORPUS = Path(__file__).parent / "data" / "inventories"

EXPECTED: dict[str, tuple[int, str]] = {
    # YAML syntax
    "syntax-tab-indent.yaml": (4, "indent with spaces, not tabs"),
    "syntax-unclosed-bracket.yaml": (6, "close the '['"),
    "syntax-unclosed-brace.yaml": (4, "close the '{'"),
    "syntax-bad-indent.yaml": (6, "line this entry up with the entries before it"),
    "syntax-mapping-in-value.yaml": (5, "quote a value containing ': '"),
    "syntax-unclosed-quote.yaml": (6, "close the quotes"),
    "syntax-undefined-alias.yaml": (3, "undefined alias 'common'"),
    "syntax-two-documents.yaml": (5, "keep one document"),
    "syntax-control-character.yaml": (5, "U+0007"),
    "not-utf8.yaml": (5, "not UTF-8 text (byte 0xe9): save the inventory as UTF-8"),
    "binary.yaml": (1, "binary data"),
    # wrong types and values of what ringbench reads
    "port-as-text.yaml": (5, "ansible_port must be an integer port, got 'twenty-two'"),
    "port-as-list.yaml": (5, "host 'tcg': ansible_port must be an integer port, got '[22, 2222]'"),
    "port-out-of-range.yaml": (5, "host 'tcg': ansible_port 70000 is out of range"),
    "port-zero-in-group-vars.yaml": (4, "host 'tcg': ansible_ssh_port 0 is out of range"),
    "hosts-as-list.yaml": (4, "hosts of group 'all' must be a mapping"),
    "children-as-list.yaml": (4, "children of group 'all' must be a mapping"),
    "host-as-scalar.yaml": (4, "host 'native' must be a mapping"),
    "text-as-list.yaml": (5, "host 'native': machine must be one value, not a list"),
    "key-as-list.yaml": (4, "a key is a list or a mapping"),
    "merge-key-scalar.yaml": (5, "'<<' in host 'native' must merge other mappings"),
    "virt-class-unknown.yaml": (
        5,
        "virt_class 'hardware_assisted': did you mean 'hardware-assisted'?",
    ),
    # baselines
    "baseline-unknown.yaml": (6, "unknown baseline 'natve': did you mean 'native'?"),
    "baseline-cycle-2.yaml": (5, "baselines form a cycle: a -> b -> a"),
    "baseline-cycle-3.yaml": (7, "baselines form a cycle: a -> b -> c -> a"),
    "baseline-other-machine.yaml": (8, "overhead needs the same hardware"),
    "baseline-self.yaml": (5, "host 'native': is its own baseline"),
    # ssh arguments
    "proxycommand.yaml": (5, "ProxyCommand is not supported: use -o ProxyJump="),
    "proxyjump-bad-spec.yaml": (5, "ProxyJump 'bastion:twenty' is not [USER@]HOST[:PORT]"),
    "ssh-args-unclosed-quote.yaml": (5, "No closing quotation: close the quotes"),
    # the shape of the file
    "empty.yaml": (1, "the inventory has no hosts"),
    "comments-only.yaml": (1, "the inventory has no hosts"),
    "no-hosts.yaml": (1, "the inventory has no hosts"),
    "unknown-key-top-group.yaml": (1, "no hosts: list them under 'all:' 'hosts:' (YAML)"),
    "all-as-list.yaml": (1, "(and {CORPUS}/all-as-list.yaml:2: 'all' is not a group"),
    "top-level-list.yaml": (2, "a YAML inventory is a mapping of groups"),
    "group-contains-itself.yaml": (8, "group 'guests' under 'guests' makes the groups contain"),
    "groups-contain-each-other.yaml": (9, "group 'a' under 'b' makes the groups contain each"),
    "all-as-child.yaml": (2, "group 'all' is among the children of group 'lab'"),
    "recursive-alias.yaml": (6, "group 'again' under 'again' makes the groups contain"),
}
# What Ansible reads (ringbench too), with a warning: file -> a part of the warning.
WARNED: dict[str, str] = {
    "duplicate-key-in-host.yaml": "6: 'machine' appears twice in host 'native' (line 5 and here)",
    "duplicate-host.yaml": "8: 'native' appears twice in hosts of group 'all'",
    "unknown-key-host.yaml": "5: unknown key 'ansible_usr': did you mean 'ansible_user'?",
    "unknown-key-ringbench.yaml": "5: unknown key 'hypervisr': did you mean 'hypervisor'?",
    "unknown-key-group.yaml": "5: unknown key 'childs' in group 'all' (did you mean 'children'?)",
    "unknown-key-vars.yaml": "4: unknown key 'basline': did you mean 'baseline'?",
    "key-file-missing.yaml": "host 'tcg': key file {CORPUS}/keys/no-such-key does not exist",
}
# Hosts listed and left out, the rest of the file working: file -> (host, a part of why).
LEFT_OUT: dict[str, tuple[str, str]] = {
    "vault-value.yaml": ("native", "ansible_user is vault-encrypted"),
    "connection-winrm.yaml": ("win", "it connects with 'winrm'"),
    "password-host.yaml": ("tcg", "it logs in with a password (ansible_password, {CORPUS}/"),
    "password-group-vars.yaml": ("tcg", "it logs in with a password (ansible_ssh_pass,"),
    "host-name-space.yaml": ("web server", "its name holds ' '"),
    "host-name-leading-dot.yaml": (".hidden", "its name starts with '.'"),
}
# Read as Ansible reads them, nothing to say: file -> the hosts.
READ: dict[str, tuple[str, ...]] = {
    "duplicate-alias-and-name.yaml": ("tcg",),
    "vars-as-scalar.yaml": ("native",),
    "text-empty.yaml": ("native",),
    "host-name-range.yaml": ("web01.lab", "web02.lab", "web03.lab"),
    "top-level-scalar.yaml": ("inventory",),
}


def assert_one_line_error(path: Path, line: int | None = None, words: str = "") -> str:
    """Load ``path`` expecting a one-line ``PATH:LINE:`` :class:`UserError`; its message."""
    with pytest.raises(UserError) as info:
        load_inventory(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    found = re.match(rf"{re.escape(str(path))}:([0-9]+): \S", message)
    assert found, message
    assert line is None or int(found[1]) == line, message
    assert words in message, message
    return message


def test_the_corpus_and_the_tables_agree() -> None:
    tables = [*EXPECTED, *WARNED, *LEFT_OUT, *READ]
    assert sorted(p.name for p in CORPUS.glob("*.yaml")) == sorted(tables)
    assert len(tables) == len(set(tables)) and len(EXPECTED) >= 30


@pytest.mark.parametrize(
    ("name", "line", "words"), [(name, line, words) for name, (line, words) in EXPECTED.items()]
)
def test_each_malformed_inventory_is_one_line(name: str, line: int, words: str) -> None:
    assert_one_line_error(CORPUS / name, line, words.replace("{CORPUS}", str(CORPUS)))


@pytest.mark.parametrize(("name", "words"), WARNED.items())
def test_what_ansible_reads_with_a_warning_is_read_with_one(name: str, words: str) -> None:
    inv = load_inventory(CORPUS / name)
    expected = words.replace("{CORPUS}", str(CORPUS))
    found = [w for w in inv.warnings if expected in w]
    assert len(found) == 1 and found[0].startswith(f"{CORPUS / name}:"), inv.warnings
    assert inv.usable and all("\n" not in w for w in inv.warnings)


@pytest.mark.parametrize(("name", "case"), LEFT_OUT.items())
def test_a_host_ringbench_cannot_use_is_left_out_alone(name: str, case: tuple[str, str]) -> None:
    host, words = case
    inv = load_inventory(CORPUS / name)
    reason = inv.get(host).unusable or ""
    assert words.replace("{CORPUS}", str(CORPUS)) in reason and "\n" not in reason, reason
    assert host not in [h.name for h in inv.usable]


@pytest.mark.parametrize(("name", "hosts"), READ.items())
def test_what_ansible_reads_plainly_is_read(name: str, hosts: tuple[str, ...]) -> None:
    inv = load_inventory(CORPUS / name)
    assert tuple(h.name for h in inv.hosts) == hosts and not inv.warnings


def test_nesting_beyond_the_parser_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("all: " + "[" * 5000 + "]" * 5000 + "\n")
    assert_one_line_error(path, 1, "nested too deeply")


def test_aliases_that_expand_exponentially_stay_cheap(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    levels = [
        f"    g{i}: &g{i}\n      children: {{"
        + ", ".join(f"c{i}x{j}: *g{i - 1}" for j in range(9))
        + "}\n"
        for i in range(1, 10)
    ]
    path.write_text("all:\n  children:\n    g0: &g0 {hosts: {h: {}}}\n" + "".join(levels))
    assert load_inventory(path).get("h").groups[0] == "g0"


def test_unreadable_and_oversized_files(tmp_path: Path) -> None:
    assert_one_line_error(tmp_path, 1, "the inventory has no hosts")  # an empty directory
    with pytest.raises(UserError, match=r"absent\.yaml: no such inventory file or directory"):
        load_inventory(tmp_path / "absent.yaml")
    huge = tmp_path / "huge.yaml"
    huge.write_text("# " + "x" * (5 * 2**20) + "\n")
    assert_one_line_error(huge, 1, "larger than")


YAMLISH = st.text(
    alphabet=st.sampled_from(list("all:hosts children vars-{}[]\n #'\"ab12_&*<!|>,?\t")),
    max_size=160,
)
KEYS = st.sampled_from(
    [
        "all",
        "hosts",
        "children",
        "vars",
        "a",
        "b",
        "native",
        "g",
        "web server",
        "ansible_host",
        "ansible_ssh_host",
        "ansible_port",
        "ansible_ssh_port",
        "ansible_user",
        "ansible_connection",
        "ansible_ssh_common_args",
        "ansible_ssh_private_key_file",
        "ansible_password",
        "ansible_become",
        "virt_class",
        "virt_clas",
        "machine",
        "baseline",
        "hypervisor",
        "hots",
    ]
) | st.text(max_size=8)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-5, 70000)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "local",
            "ssh",
            "winrm",
            "-J b",
            "-o ProxyJump=u@j:2",
            "-o ProxyCommand=x",
            "native",
            "a",
            "b",
            "m1",
            "22",
            *VIRT_CLASSES,
        ]
    )
)
ANYTHING = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=25,
)
# Mostly well-formed: groups of hosts with plausible variables, some of them wrong.
VARIABLES = st.dictionaries(
    st.sampled_from(
        [
            "ansible_host",
            "ansible_port",
            "ansible_user",
            "ansible_connection",
            "machine",
            "baseline",
            "virt_class",
            "hypervisor",
            "ansible_ssh_common_args",
            "app_var",
        ]
    ),
    st.sampled_from(
        [
            "local",
            "ssh",
            "native",
            "a",
            "b",
            "m1",
            "m2",
            22,
            2222,
            "-J j1,u@j2:22",
            "-o StrictHostKeyChecking=no",
            *VIRT_CLASSES,
        ]
    )
    | LEAVES,
    max_size=4,
)
HOSTS = st.dictionaries(
    st.sampled_from(["a", "b", "native", "tcg", "web server"]), st.none() | VARIABLES, max_size=3
)
GROUP = st.recursive(
    st.fixed_dictionaries({}, optional={"hosts": HOSTS, "vars": VARIABLES}),
    lambda group: st.fixed_dictionaries(
        {},
        optional={
            "hosts": HOSTS,
            "vars": VARIABLES,
            "children": st.dictionaries(
                st.sampled_from(["g1", "g2", "g3", "all"]), group, max_size=3
            ),
        },
    ),
    max_leaves=6,
)
STRUCTURES = st.dictionaries(
    st.sampled_from(["all", "g1", "g2"]), GROUP, min_size=1, max_size=2
) | st.dictionaries(KEYS, ANYTHING, max_size=3)


def load_or_one_line_error(path: Path) -> None:
    try:
        inv = load_inventory(path)
    except UserError as exc:
        message = str(exc)
        assert len(message.splitlines()) == 1, message
        assert re.match(rf"{re.escape(str(path))}:[0-9]+: \S", message), message
        return
    names = {h.name for h in inv.hosts}
    for host in inv.hosts:
        assert 1 <= host.port <= 65535
        if not host.usable:  # listed with its reason, one line, and never run
            assert host.unusable and "\n" not in host.unusable
            assert host not in inv.select() if inv.usable else True
            continue
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", host.name)
        assert host.connection in ("local", "ssh")
        assert host.virt_class is None or host.virt_class in VIRT_CLASSES
        if host.baseline is not None:
            assert host.baseline in names and host.baseline != host.name
            assert inv.get(host.baseline).machine == host.machine


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=YAMLISH)
def test_any_text_is_an_inventory_or_a_one_line_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("inv") / "inventory.yaml"
    path.write_text(text, encoding="utf-8")
    load_or_one_line_error(path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=STRUCTURES)
def test_any_structure_is_an_inventory_or_a_one_line_error(
    tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any]
) -> None:
    path = tmp_path_factory.mktemp("inv") / "inventory.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    load_or_one_line_error(path)
