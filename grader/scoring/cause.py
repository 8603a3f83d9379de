"""Which failed cell kept a notebook from training its models, traced through the names cells define and use.

A cell that raised left undefined what it would have assigned after the failing line; a later cell that raised
NameError on such a name failed because of it (and left its own names undefined in turn). The error at the root of
the most such failures is the cause a report names, with the names it left undefined and the cells that needed them,
not the notebook's first error (a broken cell of the template that nothing depends on). Only the cells' text and
their errors are read: no code runs.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

from grader.scoring.report import CellError

NAME_ERROR = re.compile(r"name '([A-Za-z_][A-Za-z0-9_]*)' is not defined")
ASSIGNED = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*(?:\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*)\s*=[^=]", re.MULTILINE)
MAX_NAMES = 6


def defined_names(source: str) -> set[str]:
    """The names a cell assigns at its top level (assignments, loops, imports, functions, classes, `with ... as`)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython syntax (`!wget`, `%matplotlib`) or a broken line: assignments read by pattern
        return {name.strip() for found in ASSIGNED.findall(source) for name in found.split(",")}
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def with_causes(errors: Sequence[CellError], sources: dict[int, str]) -> list[CellError]:
    """The errors, each that left undefined a name a later failed cell needed annotated with those names and cells
    (`sources`: cell index -> its code)."""
    defined = {e.cell_index: defined_names(sources.get(e.cell_index, "")) for e in errors}
    parent: dict[int, tuple[int, str]] = {}  # failed cell -> (the failed cell whose name it lacked, the name)
    for error in errors:
        missing = NAME_ERROR.search(error.evalue) if error.ename == "NameError" else None
        if missing is None:
            continue
        earlier = [e.cell_index for e in errors if e.cell_index < error.cell_index
                   and missing.group(1) in defined[e.cell_index]]
        if earlier:
            parent[error.cell_index] = (earlier[-1], missing.group(1))
    names: dict[int, list[str]] = {}
    cells: dict[int, list[int]] = {}
    for child, (cell, name) in sorted(parent.items()):
        root = cell
        while root in parent:
            root = parent[root][0]
        if name not in names.setdefault(root, []) and cell == root:
            names[root].append(name)
        cells.setdefault(root, []).append(child)
    return [e.model_copy(update={"left_undefined": tuple(names.get(e.cell_index, ())[:MAX_NAMES]),
                                 "failed_after": tuple(cells[e.cell_index])}) if e.cell_index in cells else e
            for e in errors]


def blocking_error(errors: Sequence[CellError]) -> CellError | None:
    """The error at the root of the most failures; the first error when none left a name undefined."""
    if not errors:
        return None
    return max(errors, key=lambda e: (len(e.failed_after), -e.cell_index))
