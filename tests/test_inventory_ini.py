"""The INI reader and host patterns held against ansible-core itself.

Every INI file below is read by ringbench (:func:`runners.inventory.ini.read_ini`) and by
ansible-core's own ``InventoryManager`` with only its ``ini`` plugin enabled, and the two
must hold the same hosts (in the same order), each host's direct groups and every group
it is in, each group's children, depth, priority and variables, and each host's
variables, as plain Python values. Ansible runs once, in a child process (this file run
as a script), isolated: an empty ``ANSIBLE_CONFIG``, ``HOME`` and ``ANSIBLE_HOME`` in the
test's tmp. Files Ansible refuses must be refused here too, in one line naming the file
and line. The host patterns are held against Ansible's ``parse_address`` and
``expand_hostname_range`` on a few thousand generated patterns.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringbench.errors import UserError
from runners.inventory.ini import read_ini, shell_words
from runners.inventory.model import InventoryData, Origin
from runners.inventory.patterns import MAX_NAMES, expand_hostpattern, split_port

HAVE_ANSIBLE = importlib.util.find_spec("ansible") is not None
needs_ansible = pytest.mark.skipif(not HAVE_ANSIBLE, reason="ansible-core is not installed")
MAGIC = ("inventory_file", "inventory_dir")  # Ansible's, set by add_host: not the reader's

# name -> the INI text (a list of texts: several sources, in order)
CASES: dict[str, str | list[str]] = {
    "plugin documentation": """\
# Example 1
[web]
host1
host2 ansible_port=222 # defined inline, interpreted as an integer

[web:vars]
http_port=8080 # all members of 'web' will inherit these
myvar=23 # defined in a :vars section, interpreted as a string

[web:children] # child groups will automatically add their hosts to parent group
apache
nginx

[apache]
tomcat1
tomcat2 myvar=34 # host specific vars override group vars
tomcat3 mysecret="'03#pa33w0rd'" # proper quoting to prevent value changes

[nginx]
jenkins1

[nginx:vars]
has_java = True # vars in child groups override same in parent

[all:vars]
has_java = False # 'all' is 'top' parent
""",
    "ungrouped hosts first": """\
host1 # this is 'ungrouped'
host2 ansible_host=127.0.0.1 ansible_port=44
host3 ansible_host=127.0.0.1 ansible_port=45

[g1]
host4

[g2]
host4 # same host as above, but member of 2 groups
""",
    "numeric ranges": """\
[web]
www[01:10:3].example.com
node[8:11]
h[0001:0003]-x
[net]
10.0.0.[1:3]
192.168.[0:1].[1:2]
""",
    "letter ranges": """\
[db]
db-[a:c]
x[y:B]z
r[A:C]
""",
    "several ranges in one name": """\
rack[1:2]-node[01:03]-[a:b]
""",
    "children declared before and after": """\
[fleet:children]
web
db

[web]
w1
[db]
d1

[edge:children]
web
""",
    "nested groups three deep": """\
[top:children]
mid
[mid:children]
low
[low]
h1 x=low
[low:vars]
level=3
[mid:vars]
level=2
[top:vars]
level=1
[mid]
h2
""",
    "vars section before its group": """\
[late:vars]
answer=42
[late]
h1
""",
    "children section before a vars section of the child": """\
[parent:children]
child
[child:vars]
x=1
[child]
h1
""",
    "typed host values": """\
h1 a=1 b=0022 c=[1,2] d="{'k': 'v'}" e=True f=None g=1.5 h='quoted' i="a b"
h2 j=(1,2) k={1} l=... m=1+2j n=b'x' o=0x1f p=1_000 q=-3 r=+4 s=1e999 t=foo#bar
h3 u="'\\d'" v='"two words"' w= x=a=b y=yes z=no
h4 aa=[1,(2,3),{'k':(4,)}] bb="[1, 'two']" cc=0 dd=00 ee=-0.5 ff=.5 gg=1.
""",
    "typed vars values": """\
[g]
h1
[g:vars]
port = 8080 # a comment Python ignores
name = foo # a comment kept as text
quoted = 'a b'
empty =
list = [1, 2, "three"]
nested = {"a": [1, {"b": None}]}
eq = a=b
spaced   =   x y z
zero=0022
flag=FALSE
boolean=True
""",
    "comments and blanks": """\
# a comment
; another comment
   # indented comment

[g]   # a comment after a header
  h1   # a comment after a host
h2 x=1 # the rest ignored y=2
\th3\tz=3
""",
    "ports": """\
[p]
h1:2222
10.0.0.1:22
[::1]:2223
[2001:db8::1]:2224
h[1:2]:33
[h9]:44
::1
fe80::1
h0:0
h022:022
[10.0.0.[5:6]]:2225
""",
    "ipv6 hosts": """\
[v6]
2001:db8::1
2001:db8:0:0:0:0:0:2
::ffff:192.0.2.1
[2001:db8::[a:c]]:22
fe80::[1:2]
""",
    "all and ungrouped sections": """\
[all:vars]
everyone=1
[all]
a1
[ungrouped]
u1
[all:children]
g
[g]
g1
""",
    "a host in several groups": """\
[a]
h1 x=1 y=1
[b]
h1 x=2
[c]
h1
[a:vars]
z=a
[b:vars]
z=b
""",
    "a host seen twice keeps its first port": """\
h1:2001 p=1
[g]
h1:2002 q=2
""",
    "inline port beats the pattern's": """\
h1:2001 ansible_port=2002
h2:2003
""",
    "group priority": """\
[a]
h1
[b]
h1
[a:vars]
ansible_group_priority=10
v=a
[b:vars]
ansible_group_priority=5
v=b
""",
    "a host named like a group gives the group its variables": """\
[web]
web x=1 ansible_group_priority=3
[web:vars]
y=2
""",
    "group names Ansible warns about": """\
[web-servers]
h1
[2nd]
h2
[dc.eu]
h3
[groupé]
h4
""",
    "explicit hosts kind": """\
[g:hosts]
h1
""",
    "empty groups": """\
[empty]
[empty:vars]
x=1
[alsoempty:children]
""",
    "quoted host names": """\
"my host" x=1
'other host'
""",
    "CRLF line ends": "[g]\r\nh1 x=1\r\n[g:vars]\r\ny=2\r\n",
    "form feed splits a line as Ansible splits it": "[g]\nh1\x0ch2\n",
    "mapping values merged or replaced": """\
h1 a="{'x': 1}" b=1
h1 a="{'y': 2}" b="{'z': 3}"
""",
    "a child listed twice": """\
[p:children]
c
c
[c]
h1
[q:children]
c
c
""",
    "a big range": "[big]\nh[00001:01500]\n",
    "unicode host names": "[u]\nhôte.example.org\n\u0434\u043e\u043c\u0435\u043d x=ü\n",
    "a group from an earlier source": [
        "[g]\nh1\n[p:children]\ng\n",
        "[g:vars]\nx=1\n[q:children]\ng\np\n[g]\nh2\n",
    ],
    "host vars across sources": [
        "h1 x=1 y=1\n",
        "[g]\nh1 y=2\n",
    ],
}

# (INI text, line of the error, words the message must hold): Ansible refuses each.
ERRORS: list[tuple[str, int, tuple[str, ...]]] = [
    ("[web servers]\nh1\n", 1, ("section header", "[NAME:vars]")),
    ("[g]\nh1\n[g:foo]\n", 3, ("unknown type 'foo'", "[g:children]")),
    ("[g]\nh1\n[g:vars]\nnoequals\n", 4, ("not a variable", "KEY=VALUE")),
    ("[p:children]\nmissing\n[other]\nh\n", 2, ("'missing'", "declares")),
    ("[p:children]\nmissing\n[p2:children]\nmissing\n", 2, ("[p:children]", "'missing'")),
    ("[g:vars]\nx=1\n", 1, ("[g:vars]", "declares")),
    ("[c:vars]\nx=1\n[p:children]\nc\n", 1, ("[c:vars]",)),
    ("h1:\n", 1, ("ends in ':'", "HOST:PORT")),
    ("[g]\nh1\n---\n", 3, ("YAML",)),
    ("---\nall:\n  hosts:\n", 1, ("YAML",)),
    ('h1 x="unclosed\n', 1, ("cannot be split", "quotes")),
    ("h1 foo\n", 1, ("'foo'", "KEY=VALUE")),
    ("[p:children]\na b\n", 2, ("not a group name",)),
    ("[p:children]\nc ; comment\n[c]\n", 2, ("not a group name",)),
    ("[a:children]\nb\n[b:children]\na\n", 4, ("contain each other",)),
    ("[b:children]\na\n[a:children]\nb\n", 4, ("contain each other",)),
    ("[b:children]\na\n[c]\n[a:children]\nc\n[c:children]\nb\n", 7, ("contain each other",)),
    ("[a:children]\na\n", 2, ("its own children",)),
    ("h[a:5]\n", 1, ("[a:5]", "two numbers nor two letters")),
    ("h[1:3:0]\n", 1, ("step of 0",)),
    ("h[1:3:x]\n", 1, ("step",)),
    ("h[01:100]\n", 1, ("leading zero",)),
    ("h[1:]\n", 1, ("no end",)),
    ("h[1:2:3:4]\n", 1, ("BEGIN:END",)),
    ("h[1]\n", 1, ("BEGIN:END",)),
    ("h[1:3\n", 1, ("without its ']'",)),
    ("h[c:a]\n", 1, ("counts down",)),
    ("[::1]\n", 1, ("section header",)),
    ("[::1] x=1\n", 1, ("needs a port", "::1")),
    ("[2001:db8::[1:3]] x=1\n", 1, ("needs a port",)),
    ("[g]\n[fe80::1]\n", 2, ("section header", "needs a port")),
    ("h1 x={[1]:2}\n", 1, ("cannot build", "quote")),
    ("h1 x={{1}}\n", 1, ("cannot build",)),
    ("''\n", 1, ("empty",)),
    ("[g] ; comment\nh1\n", 1, ("section header", "'#' comment")),
    ("\ufeff[g]\nh1\n", 1, ("byte order mark",)),
    ("h1 x=" + "-" * 20000 + "1\n", 1, ("nested too deeply",)),
]

# What Ansible reads as no host at all, silently: refused here, in one line.
EMPTY_IN_ANSIBLE = [
    ("[g]\nh[5:1] x=1\n", 2, ("counts down", "[1:5]")),
    ("[g]\nh[1:5:-1]\n", 2, ("negative step",)),
    ("[g]\nh[e:a]x[3:1]\n", 2, ("counts down",)),  # letters down: Ansible's own error
]


def _generated(count: int) -> list[str]:
    """INI files made of the lines the plugin turns on (seeded): sections of every kind,
    groups used before they are declared, host lines with patterns, ports and typed
    values, comments; mostly the lines a section takes, sometimes any line. No range
    counts down (where ringbench is stricter than Ansible: tested above)."""
    rng = random.Random(1515)
    groups = ["g1", "g2", "g3", "web-a", "all", "ungrouped"]
    hosts = ["h1", "h2", "h[1:3]", "h[a:b]x", "h1:2201", "[::1]:2202", "10.0.0.[1:2]", "'q h'"]
    values = ["1", "0022", "[1,2]", "\"{'k': (1,)}\"", "True", "'s'", "a.b", "x#y", '"a b"']
    values += ["10.0.0.1", "None", "1.5", "-3", "...", "\"'#'\"", "{1}", "b'x'", "=", ""]
    keys = ["k", "v", "ansible_port", "ansible_group_priority"]

    def section() -> tuple[str, str]:
        kind = rng.choice(["hosts", "vars", "children", "vars"])
        written = rng.choice(["", ":hosts"]) if kind == "hosts" else f":{kind}"
        return f"[{rng.choice(groups)}{written}]" + rng.choice(["", "  # c"]), kind

    makers = {
        "hosts": lambda: " ".join(
            [rng.choice(hosts)]
            + [f"{rng.choice(keys[:3])}={rng.choice(values)}" for _ in range(rng.randint(0, 3))]
        ),
        "vars": lambda: (
            f"{rng.choice(keys)}{rng.choice(['=', ' = '])}{rng.choice(values)}"
            + rng.choice(["", " # c"])
        ),
        "children": lambda: rng.choice(groups[:4]) + rng.choice(["", " # c"]),
        "other": lambda: rng.choice(["", "# comment", "; comment", "   "]),
    }
    files = []
    for _ in range(count):
        kind, body = "hosts", []
        for _ in range(rng.randint(1, 14)):
            if rng.random() < 0.25:
                header, kind = section()
                body.append(header)
            elif rng.random() < 0.9:
                body.append(makers[kind]())
            else:
                body.append(makers[rng.choice(list(makers))]())
        if rng.random() < 0.7:  # declare every group at the end: what waits resolves
            body += [f"[{g}]" for g in groups[:4]]
        files.append("\n".join(body) + "\n")
    return files


GENERATED = _generated(400)


def _plain(value: Any) -> Any:
    """A value as JSON holds it: Ansible's tagged values and ringbench's alike."""
    return json.loads(json.dumps(value, default=repr))


def ringbench_view(sources: list[Path]) -> dict[str, Any]:
    data = InventoryData()
    for path in sources:
        data.sources.append(path)
        read_ini(data, path, path.read_bytes().decode("utf-8"))  # no newline translation
    data.reconcile()
    hosts = {
        name: {
            "vars": _plain({k: v.value for k, v in host.vars.items() if k not in MAGIC}),
            "direct": sorted(host.groups),
            "groups": sorted(data.ancestors(host.groups)),
        }
        for name, host in data.hosts.items()
    }
    groups = {
        name: {
            "vars": _plain({k: v.value for k, v in group.vars.items() if k not in MAGIC}),
            "children": sorted(group.children),
            "hosts": list(group.hosts),
            "depth": group.depth,
            "priority": group.priority,
        }
        for name, group in data.groups.items()
    }
    return {"hosts": hosts, "order": list(data.hosts), "groups": groups}


def write_cases(tmp: Path) -> dict[str, list[Path]]:
    tmp.mkdir(parents=True, exist_ok=True)
    paths: dict[str, list[Path]] = {}
    for number, (name, texts) in enumerate(CASES.items()):
        files = []
        for index, text in enumerate([texts] if isinstance(texts, str) else texts):
            path = tmp / f"case{number:02d}-{index}.ini"
            path.write_bytes(text.encode("utf-8"))
            files.append(path)
        paths[name] = files
    for number, text in enumerate(GENERATED):
        path = tmp / f"generated{number:03d}.ini"
        path.write_bytes(text.encode("utf-8"))
        paths[path.name] = [path]
    for kind, cases in (("error", ERRORS), ("empty", EMPTY_IN_ANSIBLE)):
        for number, (text, _, _) in enumerate(cases):
            path = tmp / f"{kind}{number:02d}.ini"
            path.write_bytes(text.encode("utf-8"))
            paths[path.name] = [path]
    return paths


def run_ansible(request: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """This file run as a script with ansible-core: ``request`` in, its answers out."""
    from tests.ansible_oracle import isolated_env  # here: the script itself runs without it

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        **isolated_env(tmp),
        "ANSIBLE_INVENTORY_ENABLED": "ini",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--oracle"],
        input=json.dumps(request),
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer: dict[str, Any] = json.loads(proc.stdout)
    return answer


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[Path]], Any]:
    if not HAVE_ANSIBLE:
        pytest.skip("ansible-core is not installed")
    tmp = tmp_path_factory.mktemp("ini-oracle")
    paths = write_cases(tmp / "cases")
    request = {
        "inventories": {name: [str(p) for p in files] for name, files in paths.items()},
        "patterns": PATTERNS,
    }
    return paths, run_ansible(request, tmp)


def _patterns(count: int) -> list[str]:
    """Host patterns made of the pieces Ansible's grammar turns on (seeded: the same
    every run), with addresses and ports around them."""
    rng = random.Random(15)
    pieces = [
        *"0123456789abfAFz:.[]-_|\n ",
        *("ffff", "::", "0:", "[1:3]", "[a:c]", "[01:10:3]", "[0:f]", ":22", "]:22"),
        *("\u0131", "\u212a", "\u017f", "é", "x_", "-a", "1.2.3.4", "[5:1]", "[1:9:0]"),
    ]
    groups = ["0", "1", "ff", "FFFF", "ffff", "abcd", "12345", "[1:3]", "[a:f]", "g", ""]
    out = []
    for _ in range(count):
        if rng.random() < 0.5:
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 10)))
        else:
            parts = [rng.choice(groups) for _ in range(rng.randint(1, 9))]
            text = parts[0]
            for part in parts[1:]:
                text += rng.choice([":", ":", "::", "."]) + part
        roll = rng.random()
        if roll < 0.3:
            text = f"[{text}]:{rng.randint(0, 99)}"
        elif roll < 0.6:
            text = f"{text}:{rng.randint(0, 99)}"
        out.append(text)
    return out


PATTERNS = [
    *_patterns(6000),
    *("www[01:50:2].example.com", "db-[a:f]", "host:2222", "[::1]:2222", "10.0.0.[1:3]"),
    *("[fe80::1%eth0]:22", "h_:22", "-h:22", "[h:22]:33", "a|b[1:2", "a|1:3["),
]


@needs_ansible
@pytest.mark.parametrize("name", list(CASES))
def test_an_ini_file_reads_as_ansible_reads_it(
    name: str, oracle: tuple[dict[str, list[Path]], Any]
) -> None:
    paths, answers = oracle
    theirs = answers["inventories"][name]
    assert "error" not in theirs, theirs
    ours = ringbench_view(paths[name])
    assert ours["order"] == theirs["order"]
    assert ours["hosts"] == theirs["hosts"]
    assert ours["groups"] == theirs["groups"]


@needs_ansible
def test_generated_ini_files_read_as_ansible_reads_them(oracle: Any) -> None:
    paths, answers = oracle
    read = refused = 0
    for number, text in enumerate(GENERATED):
        path = paths[f"generated{number:03d}.ini"][0]
        theirs = answers["inventories"][path.name]
        try:
            ours = ringbench_view([path])
        except UserError as exc:
            message = str(exc)
            assert message.startswith(f"{path}:") and "\n" not in message
            if "ansible_group_priority" not in text:  # Ansible fails there, ringbench warns
                assert "error" in theirs, (text, message)
            refused += 1
            continue
        if "error" in theirs:
            # Ansible fails on int() of a priority that is not a number; the model warns
            assert "ansible_group_priority" in text, text
            continue
        if set(ours["hosts"]) & set(ours["groups"]):
            # a host named like a group, left in no group: Ansible's reconcile puts the
            # *group* under 'ungrouped' (add_child finds the group first); not followed
            continue
        assert ours == theirs, text
        read += 1
    assert read > 150 and refused > 50  # both outcomes are exercised


@needs_ansible
@pytest.mark.parametrize(("number", "case"), list(enumerate(ERRORS)))
def test_what_ansible_refuses_is_one_line_naming_the_line(
    number: int, case: tuple[str, int, tuple[str, ...]], oracle: Any
) -> None:
    _, line, words = case
    paths, answers = oracle
    path = paths[f"error{number:02d}.ini"][0]
    assert "error" in answers["inventories"][path.name], "Ansible reads it"
    with pytest.raises(UserError) as info:
        ringbench_view([path])
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: ")
    for word in words:
        assert word in message


@needs_ansible
@pytest.mark.parametrize(("number", "case"), list(enumerate(EMPTY_IN_ANSIBLE)))
def test_a_range_ansible_expands_to_nothing_is_refused(
    number: int, case: tuple[str, int, tuple[str, ...]], oracle: Any
) -> None:
    _, line, words = case
    paths, answers = oracle
    path = paths[f"empty{number:02d}.ini"][0]
    theirs = answers["inventories"][path.name]
    if "error" not in theirs:  # Ansible: the line gives no host, its variables are lost
        assert theirs["order"] == []
    with pytest.raises(UserError) as info:
        ringbench_view([path])
    assert str(info.value).startswith(f"{path}:{line}: ")
    for word in words:
        assert word in str(info.value)


@needs_ansible
def test_host_patterns_expand_as_ansible_expands_them(oracle: Any) -> None:
    _, answers = oracle
    origin = Origin(Path("inv.ini"), 3)
    checked = refused = 0
    for text, theirs in zip(PATTERNS, answers["patterns"], strict=True):
        try:
            ours: Any = list(expand_hostpattern(text, origin))
        except UserError as exc:
            message = str(exc)
            assert message.startswith("inv.ini:3: ") and "\n" not in message, message
            if theirs == "error":
                continue
            names = theirs[0]
            # Stricter than Ansible where it silently gives nothing, or too much:
            assert names == [] or len(names) > MAX_NAMES, (text, theirs, message)
            refused += 1
            continue
        assert theirs != "error", (text, ours)
        assert ours == theirs, text
        checked += 1
    assert checked > 1000  # the comparison is not vacuous
    assert refused < checked


def test_ports_addresses_and_ranges() -> None:
    origin = Origin(Path("inv.ini"), 1)
    assert expand_hostpattern("www[01:10:3].example.com", origin) == (
        ["www01.example.com", "www04.example.com", "www07.example.com", "www10.example.com"],
        None,
    )
    assert expand_hostpattern("db-[a:c]", origin) == (["db-a", "db-b", "db-c"], None)
    assert expand_hostpattern("[::1]:2222", origin) == (["::1"], 2222)
    assert expand_hostpattern("host:0022", origin) == (["host"], 22)
    assert expand_hostpattern("r[1:2]n[a:b]:9", origin) == (["r1na", "r1nb", "r2na", "r2nb"], 9)
    assert split_port("fe80::1") == ("fe80::1", None)  # no brackets: every ':' is the address
    assert split_port("h_:22") == ("h_:22", None)  # not a host name: kept whole, no port


def test_the_expansion_is_bounded_per_pattern_and_per_file(tmp_path: Path) -> None:
    origin = Origin(tmp_path / "inv.ini", 1)
    started = time.monotonic()
    with pytest.raises(UserError, match="more than 100,000 host names"):
        expand_hostpattern("h[0:99999999999999]", origin)
    with pytest.raises(UserError, match="more than 100,000 host names"):
        expand_hostpattern("a[1:1000]b[1:1000]", origin)
    with pytest.raises(UserError, match="MiB of host names"):
        expand_hostpattern("h[1:99999]" + "x" * 1000, origin)
    with pytest.raises(UserError, match=r"inv.ini:3: .* past 100,000 host names"):
        read_ini(InventoryData(), tmp_path / "inv.ini", "[a]\nh[1:60000]\ng[1:60000]\n")
    assert time.monotonic() - started < 5


def test_a_bad_group_priority_is_a_warning(tmp_path: Path) -> None:
    """Ansible fails on ``int('high')``; the lead's model warns and keeps priority 1."""
    data = InventoryData()
    read_ini(data, tmp_path / "inv.ini", "[g]\nh1\n[g:vars]\nansible_group_priority=high\n")
    assert data.groups["g"].priority == 1
    assert any("inv.ini:4: " in w and "ansible_group_priority" in w for w in data.warnings)


def test_origins_name_the_line_and_odd_group_names_warn_once(tmp_path: Path) -> None:
    path = tmp_path / "inv.ini"
    data = InventoryData()
    read_ini(data, path, "# hosts\n[web-a]\nh1 x=1\n[web-b]\nh2\n[web-a:vars]\ny=2\n")
    assert str(data.hosts["h1"].origin) == f"{path}:3"
    assert str(data.hosts["h1"].vars["x"].origin) == f"{path}:3"
    assert str(data.groups["web-a"].vars["y"].origin) == f"{path}:7"
    assert str(data.groups["web-a"].origin) == f"{path}:2"
    assert data.warnings == [
        f"{path}:2: group name 'web-a' (and 1 other group) holds characters other than "
        "letters, digits and '_' (or starts with a digit): kept as written, as Ansible "
        "keeps it; Ansible warns about it too"
    ]


SHELL_PIECES = st.sampled_from([*"ab '\"\\#\t=x", "''", '""', '\\"', "\\\\", "é", "\\#"])


@settings(max_examples=2000, deadline=None)
@given(st.lists(SHELL_PIECES, max_size=14).map("".join))
def test_host_lines_split_as_shlex_splits_them(line: str) -> None:
    try:
        expected: object = shlex.split(line, comments=True)
    except ValueError:
        expected = ValueError
    try:
        got: object = shell_words(line)
    except ValueError:
        got = ValueError
    assert got == expected


def test_the_fast_paths_type_as_literal_eval_does(tmp_path: Path) -> None:
    """Plain words and numbers skip ``ast.literal_eval``: they must come out the same."""
    import ast

    words = ["web1", "a.b", "a-b", "True", "None", "False", "_x", "0", "7", "00", "1e3"]
    words += ["True-1", "a.1", "x.-1", "if", "lambda", "9" * 18, "9" * 19, "inf", "nan"]
    line = "h1 " + " ".join(f"v{i}={w}" for i, w in enumerate(words))
    data = InventoryData()
    read_ini(data, tmp_path / "inv.ini", line)
    for i, word in enumerate(words):
        try:
            expected: object = ast.literal_eval(word)
        except (ValueError, SyntaxError):
            expected = word
        got = data.hosts["h1"].vars[f"v{i}"].value
        assert (type(got), got) == (type(expected), expected), word


# fmt: off
INI_PIECES = st.sampled_from([
    "[g]", "[g:vars]", "[g:children]", "[all:vars]", "[h:foo]", "[a b]", "[x", "g", "h1",
    "h[1:3]", "h[a:c]", "h[5:1]", "h:22", "[::1]:22", "[::1]", "h:", "---", "x=1", "k=[1,",
    "k='a b'", '"q', "'", "\\", "#", ";", " ", "\t", "=", ":", "[", "]", "{", "}", "(", ")",
    "0022", "True", "...", "1j", "b'x'", "{{1}}", "-" * 50, "\ufeff", "\n", "\n", "\n",
    "\r\n", "\x0c", "é", "\x00",
])
# fmt: on


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(INI_PIECES, st.text(max_size=5)), max_size=40))
def test_any_text_is_read_or_refused_in_one_line(pieces: list[str]) -> None:
    path = Path("fuzz.ini")
    data = InventoryData()
    try:
        read_ini(data, path, "".join(pieces))
        data.reconcile()
    except UserError as exc:
        message = str(exc)
        assert message.startswith("fuzz.ini:") and "\n" not in message, message


# Below: the child process, with ansible-core imported (never in the test process).


def _oracle_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _oracle_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_oracle_plain(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def _oracle_inventory(loader: Any, sources: list[str]) -> dict[str, Any]:
    from ansible.inventory.manager import InventoryManager

    try:
        inventory = InventoryManager(loader=loader, sources=sources)
    except Exception as exc:
        return {"error": " ".join(str(exc).split())[:500]}
    hosts = {}
    for name, host in inventory.hosts.items():
        direct = [g for g, group in inventory.groups.items() if host in group.hosts]
        hosts[name] = {
            "vars": _oracle_plain({k: v for k, v in host.vars.items() if k not in MAGIC}),
            "direct": sorted(direct),
            "groups": sorted(g.name for g in host.get_groups()),
        }
    groups = {
        name: {
            "vars": _oracle_plain({k: v for k, v in group.vars.items() if k not in MAGIC}),
            "children": sorted(c.name for c in group.child_groups),
            "hosts": [h.name for h in group.hosts],
            "depth": group.depth,
            "priority": group.priority,
        }
        for name, group in inventory.groups.items()
    }
    return {"hosts": hosts, "order": list(inventory.hosts), "groups": groups}


def _oracle_pattern(text: str) -> Any:
    from ansible.parsing.utils.addresses import parse_address
    from ansible.plugins.inventory import detect_range, expand_hostname_range

    try:
        pattern, port = parse_address(text, allow_ranges=True)
    except Exception:
        pattern, port = text, None
    try:
        names = expand_hostname_range(pattern) if detect_range(pattern) else [pattern]
    except Exception:
        return "error"
    return [names if len(names) <= MAX_NAMES else names[: MAX_NAMES + 1], port]


def _oracle_main() -> int:
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader

    request = json.loads(sys.stdin.read())
    init_plugin_loader([])
    loader = DataLoader()
    answer = {
        "inventories": {
            name: _oracle_inventory(loader, sources)
            for name, sources in request["inventories"].items()
        },
        "patterns": [_oracle_pattern(text) for text in request["patterns"]],
    }
    json.dump(answer, sys.stdout, default=repr)
    return 0


if __name__ == "__main__" and sys.argv[1:] == ["--oracle"]:
    sys.exit(_oracle_main())
