"""The house's arrows point one way: a short AST check over every module of `server/`, `grader/` and `lab_tasks/`.

Rules (see docs/architecture.md, whose drawing this test checks):
- `grader` imports nothing of `server` or `lab_tasks` (the labs folder comes from settings or arguments);
- `lab_tasks` imports nothing of `server` (labs are data; their preparation may use `grader`'s front door);
- `server` reaches the grader only through its front door (`from grader import ...`), never into its modules;
- no circle between the units of the house: the three wings, the grader's rooms (sub-packages and top modules), the
  service's packages and modules. `server.db` and every `server/*/models.py` are one unit, the schema: foreign keys
  cross domains and the session factory registers every table, so they are one layer below every service.

Every import counts, also those inside functions and under `TYPE_CHECKING`.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WINGS = ("server", "lab_tasks", "grader")  # top to bottom
SCHEMA = "server.db"  # the unit that holds the engine, the sessions and every table


@dataclass(frozen=True)
class Arrow:
    source: str  # importing module
    target: str  # imported module (the nearest module or package of the house that the name resolves to)
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def house_modules() -> dict[str, Path]:
    return {module_name(p): p for wing in WINGS for p in sorted((ROOT / wing).rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def arrows(modules: dict[str, Path]) -> Iterator[Arrow]:
    """Every import of a house module by a house module."""
    for source, path in modules.items():
        package = source if path.name == "__init__.py" else source.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if (target := _resolve(alias.name, modules)) is not None:
                        yield Arrow(source, target, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    if f"{base}.{alias.name}" in modules:
                        yield Arrow(source, f"{base}.{alias.name}", node.lineno)
                    elif (target := _resolve(base, modules)) is not None:
                        yield Arrow(source, target, node.lineno)


def unit(module: str) -> str:
    """The room a module belongs to: a wing's sub-package or top module; the schema is one unit."""
    parts = module.split(".")
    if parts[0] == "server" and (parts[-1] == "models" or module == SCHEMA):
        return SCHEMA
    return ".".join(parts[:2])


def unit_graph(found: list[Arrow]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for arrow in found:
        graph.setdefault(unit(arrow.source), set())
        graph.setdefault(unit(arrow.target), set())
        if unit(arrow.source) != unit(arrow.target):
            graph[unit(arrow.source)].add(unit(arrow.target))
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one unit (Tarjan)."""
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
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def found() -> list[Arrow]:
    return list(arrows(house_modules()))


def _wrong(found: list[Arrow], source_wing: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{a.source}:{a.line} imports {a.target}" for a in found
            if a.source.split(".")[0] == source_wing and a.target.split(".")[0] in forbidden]


def test_grader_imports_nothing_of_server_or_lab_tasks(found: list[Arrow]) -> None:
    assert _wrong(found, "grader", ("server", "lab_tasks")) == []


def test_lab_tasks_import_nothing_of_server(found: list[Arrow]) -> None:
    assert _wrong(found, "lab_tasks", ("server",)) == []


def test_server_and_labs_use_the_grader_front_door(found: list[Arrow]) -> None:
    reaching_in = [f"{a.source}:{a.line} imports {a.target}" for a in found
                   if a.source.split(".")[0] in ("server", "lab_tasks") and a.target.startswith("grader.")]
    assert reaching_in == []


def test_no_circles(found: list[Arrow]) -> None:
    assert circles(unit_graph(found)) == []
    wings = {w: {t.split(".")[0] for t in ts} - {w} for w, ts in unit_graph(found).items()}
    merged: dict[str, set[str]] = {}
    for source, targets in wings.items():
        merged.setdefault(source.split(".")[0], set()).update(targets)
    assert circles(merged) == []


def test_the_check_sees_a_wrong_arrow() -> None:
    """The rules fail on the arrows they forbid (a grader module importing the service, a circle)."""
    bad = [Arrow("grader.kernel.pipeline", "server.jobs.ledger", 1),
           Arrow("grader.scoring.scorers", "grader.kernel.pipeline", 2),
           Arrow("grader.kernel.pipeline", "grader.scoring.report", 3)]
    assert _wrong(bad, "grader", ("server",)) == ["grader.kernel.pipeline:1 imports server.jobs.ledger"]
    assert circles(unit_graph(bad)) == [["grader.kernel", "grader.scoring"]]


def test_front_door_names_resolve() -> None:
    """Every name `grader.__all__` promises loads, from the module the type checker is told about."""
    import grader

    tree = ast.parse((ROOT / "grader" / "__init__.py").read_text(encoding="utf-8"))
    typed = {alias.asname or alias.name: node.module for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) and node.module for alias in node.names
             if node.module.startswith("grader.")}
    exports = grader._EXPORTS
    assert typed == exports
    for name, module in exports.items():
        assert getattr(grader, name) is getattr(importlib.import_module(module), name)
