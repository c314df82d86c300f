"""The layers hold: data flows up from sources through the registry, never back down.

Sources write to the registry's narrow side and know nothing of HomeKit, the outputs or
the running app; outputs follow the registry and never reach into the app; the registry
knows none of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from repo import ROOT

PACKAGE = ROOT / "mihomekit"

#: Module prefixes that a folder's modules must never import.
FORBIDDEN = {
    "sources": (
        "mihomekit.app",
        "mihomekit.hubs",
        "mihomekit.outputs",
        "mihomekit.accessories",
        "mihomekit.persistence",
        "mihomekit.commands",
    ),
    "outputs": ("mihomekit.app", "mihomekit.commands"),
    "registry": (
        "mihomekit.sources",
        "mihomekit.outputs",
        "mihomekit.accessories",
        "mihomekit.hubs",
        "mihomekit.app",
        "mihomekit.homekit",
    ),
    "decoders": (
        "mihomekit.registry",
        "mihomekit.sources",
        "mihomekit.outputs",
        "mihomekit.accessories",
        "mihomekit.app",
    ),
    "accessories": ("mihomekit.sources", "mihomekit.outputs", "mihomekit.app"),
}


def _statements(path: Path) -> list[tuple[str, list[str]]]:
    """``path``'s imports as (module, names taken from it): absolute module names, relative
    imports resolved; ``import x`` takes no names."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    if path.name == "__init__.py":
        package = module.removesuffix(".__init__")
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.append((base, [alias.name for alias in node.names]))
    return found


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, and every ``module.name`` it takes."""
    names: set[str] = set()
    for base, taken in _statements(path):
        names.add(base)
        names.update(f"{base}.{name}" for name in taken)
    return names


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_import_runs_back_up(folder: str) -> None:
    offences = []
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        for name in sorted(_imports(path)):
            if name.startswith(FORBIDDEN[folder]):
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offences == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The parser above resolves relative imports (so the test can fail)."""
    probe = PACKAGE / "sources" / "gateway" / "source.py"
    assert "mihomekit.registry" in _imports(probe)
    assert "mihomekit.sources.SourceStatus" in _imports(probe)


def _module_graph() -> dict[str, set[str]]:
    """Each module of the package → the modules of the package it imports.

    ``from pkg import sub`` imports the module ``pkg.sub``: ``pkg`` counts only when the
    statement takes a name defined in it.
    """
    modules: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str] = set()
        for base, taken in _statements(path):
            subs = {f"{base}.{name}" for name in taken}
            targets.update(subs & modules.keys())
            if not taken or not subs <= modules.keys():
                targets.add(base)
        graph[module] = (targets & modules.keys()) - {module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    """No two modules import each other, even through others or only for type checking."""
    assert _cycles(_module_graph()) == []


def test_the_circle_check_sees_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
