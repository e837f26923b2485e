"""The import graph of the packages: no cycle in the plugin core, nothing imports the facade.

Built from the source's AST, imports inside functions included (a lazy import is
still a dependency), so a cycle cannot hide in a function body.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pytest_ipfs_accel", "hardware_markers", "generators", "api_facade")
BELOW_FACADE = ("pytest_ipfs_accel", "hardware_markers", "generators")
#: edges allowed for now, each with the reason (none: the facade owns its serve command)
KNOWN_FACADE_IMPORTS: set[tuple[str, str]] = set()


KNOWN_CYCLES: list[list[str]] = []  # none: merge_file lives in merge, beside settle


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest known module ``name`` refers to (``a.b.func`` -> ``a.b``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (module level and inside functions)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        package = module if is_package else module.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                # "from pkg import mod" depends on the submodule; "from mod import name" on mod
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            else:
                continue
            for target in targets:
                resolved = _resolve(target, modules)
                if resolved is not None and resolved != module:
                    edges.add(resolved)
        graph[module] = edges
    return graph


def _cycles(graph: dict[str, set[str]], within: str) -> list[list[str]]:
    """The strongly connected components (more than one module) among modules under ``within``."""
    nodes = [n for n in graph if n == within or n.startswith(within + ".")]
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in nodes:
                continue
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in nodes:
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_sees_imports_inside_functions(graph: dict[str, set[str]]) -> None:
    # cli loads its commands by name; commands.browser imports hardware_markers inside run()
    assert "hardware_markers.browser_assets" in graph["pytest_ipfs_accel.commands.browser"]
    assert "pytest_ipfs_accel.keys" in graph["pytest_ipfs_accel.recorder"]


@pytest.mark.parametrize("package", ["pytest_ipfs_accel", "hardware_markers", "generators"])
def test_no_import_cycle(graph: dict[str, set[str]], package: str) -> None:
    cycles = [c for c in _cycles(graph, package) if c not in KNOWN_CYCLES]
    assert not cycles, "modules that import each other (directly or round a loop): " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


def test_nothing_below_the_facade_imports_it(graph: dict[str, set[str]]) -> None:
    upward = {
        (module, target)
        for module, targets in graph.items()
        if module.startswith(BELOW_FACADE)
        for target in targets
        if target.split(".")[0] == "api_facade"
    }
    assert upward - KNOWN_FACADE_IMPORTS == set(), "imports into api_facade from below it"


def test_the_cycle_finder_finds_a_cycle() -> None:
    looped = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}}
    assert _cycles(looped, "p") == [["p.a", "p.b", "p.c"]]
