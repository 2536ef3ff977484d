"""Templates in inventory values: rendered as ansible-core 2.19 renders them, sandboxed,
bounded, every failure one line naming the file, line, host and key."""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType

import pytest

from ringbench.errors import UserError
from runners.inventory.model import Origin, Tagged, Unsafe, Var
from runners.inventory.template import (
    MAX_DEPTH,
    OMIT,
    TemplateContext,
    VaultEncrypted,
    is_template,
    render,
    short_name,
)
from tests.ansible_oracle import isolated_env

INV = Path("/inv/hosts.yml")
HERE = Origin(INV, 7)
GROUPS = {
    "all": ["web1.example.com", "bastion", "10.0.0.5"],
    "ungrouped": ["bastion"],
    "web": ["web1.example.com"],
    "prod": ["web1.example.com", "10.0.0.5"],
    "db": ["10.0.0.5"],
}


def var_map(values: Mapping[str, object], first_line: int = 10) -> dict[str, Var]:
    return {
        key: Var(value, Origin(INV, first_line + i))
        for i, (key, value) in enumerate(values.items())
    }


def fleet(hosts: Mapping[str, Mapping[str, object]]) -> TemplateContext:
    vars_of = {name: var_map(values) for name, values in hosts.items()}
    return TemplateContext(groups=GROUPS, hostvars=vars_of.get)


def run(
    value: object,
    host_values: Mapping[str, object] | None = None,
    *,
    host: str = "web1.example.com",
    key: str = "ansible_host",
    others: Mapping[str, Mapping[str, object]] | None = None,
) -> object:
    own = var_map(host_values or {})
    context = fleet({**(others or {}), host: host_values or {}})
    return render(value, host, own, HERE, context, key=key)


def error(value: object, host_values: Mapping[str, object] | None = None, **kw: object) -> str:
    with pytest.raises(UserError) as caught:
        run(value, host_values, **kw)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# --- what is a template, and what comes back -------------------------------------------


def test_a_template_is_a_string_with_jinja2_markers_and_never_unsafe() -> None:
    assert is_template("{{ x }}") and is_template("a {% if x %}b{% endif %}")
    assert is_template("{# a comment #}")
    assert not is_template("plain") and not is_template("{ x }") and not is_template(22)
    assert not is_template(Unsafe("{{ x }}"))
    assert run("10.0.0.1") == "10.0.0.1" and run(2222) == 2222 and run(None) is None


def test_one_expression_keeps_its_native_type_text_around_it_makes_text() -> None:
    vars_ = {"base": 2221, "prefix": "lab", "flag": True}
    assert run("{{ base + 1 }}", vars_) == 2222
    assert run("{{ base }}\n", vars_) == 2221, "jinja2 drops one trailing newline"
    assert run("{{ prefix }}\n", vars_) == "lab\n", "Ansible keeps a text's newlines"
    assert run(" {{ base }}", vars_) == " 2221"
    assert run("{{ base }}{{ base }}", vars_) == "22212221"
    assert run("{{ flag }}", vars_) is True
    assert run("{{ '0022' }}", vars_) == "0022", "no literal_eval of text, as Ansible 2.19"
    assert run("{{ (1, 2) }}", vars_) == [1, 2]
    assert run("{# nothing #}", vars_) is None
    assert type(run("{{ {'a': 1} | tojson }}")) is str, "jinja2's Markup as plain text"


def test_a_variable_that_is_a_template_is_rendered_when_read_lists_elementwise() -> None:
    vars_ = {
        "a": "{{ b }}.{{ c }}",
        "b": "{{ c | upper }}",
        "c": "x",
        "addrs": ["{{ c }}1", 2, {"k": "{{ b }}"}],
    }
    assert run("{{ a }}", vars_) == "X.x"
    assert run("{{ addrs }}", vars_) == ["x1", 2, {"k": "X"}]
    assert run(["{{ c }}", {"k": "{{ a }}"}], vars_) == ["x", {"k": "X.x"}]


def test_unsafe_values_are_never_rendered() -> None:
    vars_ = {"raw": Unsafe("{{ c }}"), "c": "x"}
    assert run(Unsafe("{{ c }}"), vars_) == "{{ c }}"
    assert run("{{ raw }}-{{ c }}", vars_) == "{{ c }}-x"


def test_omit_is_not_set_and_drops_out_of_lists_and_text() -> None:
    assert run("{{ omit }}") is OMIT
    assert run("{{ [1, omit] }}") == [1]
    assert run("{{ {'a': omit, 'b': 1} }}") == {"b": 1}
    assert run("x{{ omit }}") == "x"
    assert run("{{ port }}", {"port": "{{ omit }}"}) is OMIT


# --- magic variables -----------------------------------------------------------------


def test_magic_variables() -> None:
    vars_ = {"inventory_dir": "/inv", "inventory_file": "/inv/hosts.yml"}
    assert run("{{ inventory_hostname }}", vars_) == "web1.example.com"
    assert run("{{ inventory_hostname_short }}", vars_) == "web1"
    assert run("{{ group_names }}", vars_) == ["prod", "web"], "sorted, without all"
    assert run("{{ group_names }}", host="bastion") == ["ungrouped"]
    assert run("{{ groups['prod'] | length }}", vars_) == 2
    assert run("{{ inventory_dir }}/{{ inventory_file | length }}", vars_) == "/inv/14"
    assert error("{{ inventory_dir }}").endswith(
        "'inventory_dir' is undefined: define it in the inventory, group_vars or host_vars"
    )


def test_inventory_hostname_short_keeps_addresses_whole() -> None:
    assert short_name("10.0.0.5") == "10.0.0.5" and short_name("::1") == "::1"
    assert short_name("fe80::1.example") == "fe80::1"
    assert short_name("db.lab.example") == "db" and short_name("db") == "db"
    assert run("{{ inventory_hostname_short }}", host="10.0.0.5") == "10.0.0.5"


def test_hostvars_renders_another_host_in_its_own_scope_lazily() -> None:
    others = {
        "bastion": {
            "ansible_host": "{{ prefix }}-jump.{{ inventory_hostname }}",
            "prefix": "bj",
            "broken": "{{ nowhere }}",  # never read: never an error
        }
    }
    vars_ = {"prefix": "web", "jump": "{{ hostvars['bastion']['ansible_host'] }}"}
    assert run("{{ jump }}", vars_, others=others) == "bj-jump.bastion"
    assert run("{{ hostvars.bastion.prefix }}", vars_, others=others) == "bj"
    assert run("{{ hostvars[inventory_hostname].prefix }}", vars_, others=others) == "web"
    message = error("{{ hostvars['nohost'].ansible_host }}", vars_, others=others)
    assert message.endswith(
        "hostvars['nohost'] is undefined: there is no host 'nohost' in the inventory"
    )
    message = error("{{ hostvars['bastion'].broken }}", others=others)
    assert message.startswith(
        "/inv/hosts.yml:12: broken of host 'bastion' (read by "
        "ansible_host of host 'web1.example.com'): 'nowhere' is undefined"
    )


# --- errors: one line, file:line, host, key --------------------------------------------


def test_an_undefined_variable_names_the_file_line_host_key_and_variable() -> None:
    assert error("{{ lookup_ip }}", key="ansible_host") == (
        "/inv/hosts.yml:7: ansible_host of host 'web1.example.com': 'lookup_ip' is undefined: "
        "define it in the inventory, group_vars or host_vars"
    )
    message = error("{{ a }}", {"a": "{{ b }}x", "b": "{{ nope }}"})
    assert message.startswith("/inv/hosts.yml:11: b (read by ansible_host) of host ")
    assert message.endswith(
        "'nope' is undefined: define it in the inventory, group_vars or host_vars"
    )
    assert "has no attribute 'nope'" in error("{{ d.nope }}", {"d": {"k": 1}})


def test_variables_that_refer_to_each_other_are_one_line() -> None:
    message = error("{{ a }}", {"a": "{{ b }}", "b": "{{ a }}"})
    assert "variables refer to each other: a -> b -> a:" in message
    message = error("{{ ansible_host }}-x", {"ansible_host": "{{ ansible_host }}-x"})
    assert "refer to each other: ansible_host -> ansible_host" in message


def test_templates_nest_at_most_max_depth_variables() -> None:
    def chain(n: int) -> dict[str, object]:
        out: dict[str, object] = {f"v{i}": f"{{{{ v{i + 1} | lower }}}}" for i in range(n)}
        return {**out, f"v{n}": "END"}

    assert run("{{ v0 }}", chain(MAX_DEPTH - 1)) == "end"
    assert f"more than {MAX_DEPTH} variables deep" in error("{{ v0 }}", chain(MAX_DEPTH))
    assert f"more than {MAX_DEPTH} variables deep" in error("{{ v0 }}", chain(400))


def test_syntax_errors_and_ansible_filters_tests_and_lookups_are_one_line() -> None:
    assert "template syntax error: unexpected 'end of print statement'" in error("{{ 1 + }}")
    assert error("{{ x | regex_replace('a', 'b') }}", {"x": "a"}).endswith(
        "filter 'regex_replace' is Ansible's: ringbench renders jinja2's own filters only: "
        "write the value out"
    )
    assert "filter 'ipaddr' is Ansible's" in error("{{ x | ipaddr }}", {"x": "a"})
    assert "filter 'b64decode' is Ansible's" in error("{{ x | b64decode }}", {"x": "a"})
    assert "filter 'ansible.utils.ipaddr' is Ansible's" in error("{{ 1 | ansible.utils.ipaddr }}")
    assert "filter 'frobnicate' is not one of jinja2's" in error("{{ 1 | frobnicate }}")
    assert "test 'match' is Ansible's" in error("{{ 'a' is match('a') }}")
    assert "lookups are not supported" in error("{{ lookup('env', 'HOME') }}")
    assert "lookups are not supported" in error("{{ query('inventory_hostnames', 'all') }}")


def test_sandbox_violations_are_refused() -> None:
    assert "unsafe access refused" in error("{{ ''.__class__.__mro__ }}")
    assert "unsafe access refused" in error("{{ l.append(1) }}", {"l": [1]})
    assert "unsafe access refused" in error("{{ cycler.__init__.__globals__ }}")


def test_python_errors_are_one_line_never_a_traceback() -> None:
    assert "TypeError" in error("{{ 1 + 'a' }}")
    assert "ZeroDivisionError" in error("{{ 1 // 0 }}")
    assert "nest too deeply" in error("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")


def test_vault_values_are_never_decrypted() -> None:
    with pytest.raises(VaultEncrypted, match=r"^/inv/hosts.yml:7: ansible_user of host "):
        run(Tagged("!vault"), key="ansible_user")
    with pytest.raises(VaultEncrypted) as caught:
        run("{{ secret }}", {"secret": Tagged("!vault")})
    assert str(caught.value).startswith(
        "/inv/hosts.yml:10: secret (read by ansible_host) of host 'web1.example.com' is "
        "vault-encrypted (!vault): ringbench does not decrypt vaults"
    )
    message = error("{{ odd }}", {"odd": Tagged("!custom")})
    assert "is a YAML value ringbench does not read (!custom)" in message
    assert "vault" not in message


# --- bounds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x' * 100000 }}",
        "{{ ['x'] * 100000 }}",
        "{{ 10 ** 1000000 }}",
        "{{ 'x' | center(1000000000) }}",
        "{{ 'x'.ljust(1000000000) }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ range(50000) | join('-' * 60000) }}",
        "{{ ('x' * 60000) | replace('', 'y' * 60000) }}",
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        "{% for i in range(60000) %}{{ 'xx' }}{% endfor %}",
    ],
)
def test_no_template_builds_a_value_over_64_kib(template: str) -> None:
    assert "64 KiB" in error(template) or "is over 65536" in error(template)


def test_a_render_is_bounded_in_steps() -> None:
    message = error("{% for i in range(100000) %}{% for j in range(100) %}{% endfor %}{% endfor %}")
    assert "takes more than 100000 steps: simplify it" in message


def test_30000_hosts_render_well_under_a_second() -> None:
    names = [f"node{i}.lab" for i in range(30_000)]
    shared = {"prefix": Var("10.9", HERE)}
    hosts = {
        name: {**shared, "ansible_host": Var("{{ prefix }}.{{ inventory_hostname }}", HERE)}
        for name in names
    }
    context = TemplateContext(groups={"all": names}, hostvars=hosts.get)
    start = time.process_time()
    out = [
        render(hosts[n]["ansible_host"].value, n, hosts[n], HERE, context, key="a") for n in names
    ]
    assert time.process_time() - start < 1.0
    assert out[0] == "10.9.node0.lab" and out[-1] == "10.9.node29999.lab"


# --- held against ansible-core ------------------------------------------------------------

ANSIBLE_INVENTORY = """\
all:
  vars:
    prefix: lab
    base: 2221
    site: EU-West-1
    port_text: "0022"
    none_var: null
    shared_list: ["{{ prefix }}", 2]
  children:
    web:
      vars:
        role: frontend
      hosts:
        web1.example.com:
          t_native: "{{ base + 1 }}"
          t_text: "{{ prefix }}.{{ inventory_hostname_short }}"
          t_chain: "{{ t_mid }}!"
          t_mid: "{{ role }}-{{ t_text }}"
          t_groups: "{{ group_names | join(',') }}"
          t_group_hosts: "{{ groups['prod'] | sort | first }}"
          t_hostvars: "{{ hostvars['bastion']['ansible_host'] }}"
          t_default: "{{ nowhere | default('fallback') }}"
          t_filters: "{{ site | lower | replace('-', '_') }}"
          t_int: "{{ port_text | int + 1 }}"
          t_list: "{{ shared_list }}"
          t_dict: "{{ {'a': prefix, 'n': base} }}"
          t_none: "{{ none_var }}"
          t_omit_list: "{{ [1, omit, 2] }}"
          t_newline: "{{ prefix }}\\n"
          t_loop: "{% for h in groups['web'] %}{{ h }};{% endfor %}"
          t_if: "{{ 'yes' if base > 2000 else 'no' }}"
          t_backslash: "{{ 'a\\\\b' }}"
          t_dir: "{{ inventory_dir | length > 0 }}"
          t_trim: "{% if true %}\\nx{% endif %}"
    prod:
      children:
        web: {}
        db: {}
    db:
      hosts:
        10.0.0.5:
          t_short: "{{ inventory_hostname_short }}"
          t_names: "{{ group_names }}"
  hosts:
    bastion:
      ansible_host: "{{ prefix }}-jump"
      prefix: bj
"""
MAGIC = {
    "ansible_config_file", "ansible_facts", "ansible_playbook_python", "ansible_version",
    "group_names", "groups", "inventory_hostname", "inventory_hostname_short", "playbook_dir",
    "omit", "hostvars",
}  # fmt: skip


@pytest.fixture(scope="module")
def ansible(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ModuleType]]:
    """ansible-core's modules, imported with its home, temp and config in tmp."""
    env = isolated_env(tmp_path_factory.mktemp("ansible"))
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        pytest.importorskip("ansible", reason="ansible-core is a test dependency")
        names = ("parsing.dataloader", "inventory.manager", "vars.manager", "vars.hostvars")
        yield {
            **{name: importlib.import_module(f"ansible.{name}") for name in names},
            "template": importlib.import_module("ansible.template"),
        }


def test_renders_as_ansible_core_renders(ansible: dict[str, ModuleType], tmp_path: Path) -> None:
    source = tmp_path / "hosts.yml"
    source.write_text(ANSIBLE_INVENTORY)
    loader = ansible["parsing.dataloader"].DataLoader()
    inventory = ansible["inventory.manager"].InventoryManager(loader=loader, sources=[str(source)])
    manager = ansible["vars.manager"].VariableManager(loader=loader, inventory=inventory)
    ansible["vars.hostvars"].HostVars(inventory, manager, loader)
    templar_class = ansible["template"].Templar
    trust = ansible["template"].trust_as_template

    def plain(value: object) -> object:  # ansible's tagged values as builtins
        return json.loads(json.dumps(value))

    ours: dict[str, dict[str, Var]] = {}
    for host in inventory.get_hosts():
        raw = manager.get_vars(host=host, include_hostvars=False)
        ours[str(plain(host.name))] = {
            key: Var(plain(value), Origin(source, 1))
            for key, value in raw.items()
            if key not in MAGIC
        }
    groups = plain(inventory.get_groups_dict())
    assert isinstance(groups, dict)
    context = TemplateContext(groups=groups, hostvars=ours.get)
    compared = 0
    for host in inventory.get_hosts():
        templar = templar_class(loader=loader, variables=manager.get_vars(host=host))
        name = str(plain(host.name))
        for key, var in ours[name].items():
            if not key.startswith("t_"):
                continue
            expected = plain(templar.template(trust("{{ " + key + " }}")))
            got = render(var.value, name, ours[name], var.origin, context, key=key)
            assert got == expected, f"{name} {key}: ours {got!r}, ansible-core {expected!r}"
            assert type(got) is type(expected), key
            compared += 1
    assert compared == 22


def test_undefined_and_cycles_fail_where_ansible_core_fails(
    ansible: dict[str, ModuleType],
) -> None:
    templar = ansible["template"].Templar(
        variables={"a": ansible["template"].trust_as_template("{{ b }}"),
                   "b": ansible["template"].trust_as_template("{{ a }}")}
    )  # fmt: skip
    for template in ("{{ nowhere }}", "{{ a }}"):
        with pytest.raises(Exception, match=r"undefined|Recursive loop"):
            templar.template(ansible["template"].trust_as_template(template))
        with pytest.raises(UserError):
            run(template, {"a": "{{ b }}", "b": "{{ a }}"})


def test_dot_names_read_variables_never_the_scopes_own_attributes(tmp_path: Path) -> None:
    """``hostvars['h'].host`` is h's variable ``host`` (undefined here), not the name of
    the object that holds h's variables; the same for ``vars`` and ``state``."""
    from runners.inventory import load_inventory

    path = tmp_path / "hosts.yml"
    path.write_text(
        "all:\n  hosts:\n    h: {ansible_host: 10.0.0.1, host: 10.9.9.9}\n"
        "    a: {ansible_host: \"{{ hostvars['h'].host }}\"}\n"
        "    b: {ansible_host: \"{{ hostvars['h'].state }}\"}\n"
    )
    inv = load_inventory(path)
    assert inv.get("a").address == "10.9.9.9"
    assert "'state' is undefined" in (inv.get("b").unusable or ""), inv.get("b").unusable
