"""The house's rules, read from the source with ``ast``: imports go down only, no cycles,
and only the command line prints, exits or touches rich.

Every import counts: at the top of a module, inside a function, under
``if TYPE_CHECKING``. ``from a.b import c`` is an import of the module
``a.b.c`` when that is a module of the project, else of ``a.b``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ringbench", "suites", "runners", "analysis", "reports")
# Which layers each layer may import (DESIGN.md: cli -> reports -> analysis -> ringbench;
# cli -> runners -> suites -> ringbench).
ALLOWED = {
    "ringbench": {"ringbench"},
    "suites": {"ringbench", "suites"},
    "runners": {"ringbench", "suites", "runners"},
    "analysis": {"ringbench", "analysis"},
    "reports": {"ringbench", "analysis", "reports"},
    "cli": {"ringbench", "suites", "runners", "analysis", "reports", "cli"},
}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = modules()


def layer(module: str) -> str:
    if module == "runners.cli" or module.startswith("runners.cli."):
        return "cli"
    return module.split(".")[0]


def imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported project module, line) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in MODULES else base), node.lineno


GRAPH = {
    name: sorted({target for target, _ in imports(name, path) if target != name})
    for name, path in MODULES.items()
}


def test_every_import_names_a_module_of_the_project() -> None:
    unknown = [
        f"{MODULES[name].relative_to(ROOT)}:{line}: {target}"
        for name, path in MODULES.items()
        for target, line in imports(name, path)
        if target not in MODULES
    ]
    assert not unknown, "imports of modules that do not exist:\n" + "\n".join(unknown)


def test_imports_go_down_only() -> None:
    wrong = sorted(
        {
            f"{MODULES[name].relative_to(ROOT)}:{line}: {layer(name)} imports {target} "
            f"({layer(target)})"
            for name, path in MODULES.items()
            for target, line in imports(name, path)
            if layer(target) not in ALLOWED[layer(name)]
        }
    )
    assert not wrong, "upward imports:\n" + "\n".join(wrong)


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), and self-loops."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        # iterative, so that a deep chain cannot overflow the interpreter's stack
        work = [(node, iter(graph.get(node, ())))]
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        while work:
            current, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = counter[0]
                    counter[0] += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph.get(target, ()))))
                    break
                if target in on_stack:
                    low[current] = min(low[current], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[current])
                if low[current] == index[current]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == current:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert cycles({"a": ["b"], "b": []}) == []


def test_no_module_imports_itself_in_a_circle() -> None:
    found = cycles(GRAPH)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_package_imports_itself_in_a_circle() -> None:
    packages: dict[str, set[str]] = {}
    for name, targets in GRAPH.items():
        packages.setdefault(layer(name), set()).update(
            layer(t) for t in targets if layer(t) != layer(name)
        )
    found = cycles({p: sorted(t) for p, t in packages.items()})
    assert not found, f"package cycles: {found}"


def test_the_bottom_package_imports_no_other_package_of_the_project() -> None:
    for name in MODULES:
        if layer(name) == "ringbench":
            assert all(layer(t) == "ringbench" for t in GRAPH[name]), name


def test_only_the_command_line_prints_exits_or_uses_rich() -> None:
    wrong = []
    for name, path in MODULES.items():
        if layer(name) == "cli":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                names.append(getattr(node, "module", None) or "")
                if any(n == "rich" or n.startswith("rich.") for n in names):
                    wrong.append(f"{where}: imports rich")
            elif isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id in ("print", "exit", "quit"):
                    wrong.append(f"{where}: calls {func.id}()")
                if (
                    isinstance(func, ast.Attribute)
                    and func.attr == "exit"
                    and isinstance(func.value, ast.Name)
                    and func.value.id == "sys"
                ):
                    wrong.append(f"{where}: calls sys.exit()")
    assert not wrong, "library code that talks to the user:\n" + "\n".join(wrong)
