"""The grader's exceptions are one tree, defined and drawn in grader/errors.py."""

from __future__ import annotations

import ast
import builtins
import inspect
from pathlib import Path

import grader
from grader import errors

GRADER = Path(grader.__file__).resolve().parent
IN_KERNEL = GRADER / "evaluation" / "in_kernel"  # runs inside the student's kernel: not the host's tree


def exception_classes_outside_errors() -> list[str]:
    """Classes defined anywhere else in the grader whose bases are exceptions (builtin or the grader's own)."""
    tree_names = {name for name, obj in vars(errors).items() if inspect.isclass(obj) and issubclass(obj, Exception)}
    builtin = {name for name, obj in vars(builtins).items() if inspect.isclass(obj) and issubclass(obj, BaseException)}
    found = []
    for path in sorted(GRADER.rglob("*.py")):
        if path == GRADER / "errors.py" or IN_KERNEL in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else ""
                         for b in node.bases}
                if bases & (tree_names | builtin):
                    found.append(f"{path.relative_to(GRADER.parent)}: {node.name}")
    return found


def test_every_grader_exception_is_in_grader_errors() -> None:
    assert exception_classes_outside_errors() == []


def test_the_tree_in_the_docstring_is_the_tree_in_the_code() -> None:
    """Every exception class appears in the drawing, under its parent."""
    doc = errors.__doc__ or ""
    drawn = [line for line in doc.splitlines() if "──" in line]
    classes = [obj for obj in vars(errors).values()
               if inspect.isclass(obj) and issubclass(obj, errors.GraderError) and obj is not errors.GraderError]
    assert sorted(line.split("── ")[1].split()[0] for line in drawn) == sorted(c.__name__ for c in classes)
    depth = {line.split("── ")[1].split()[0]: line.index("── ") for line in drawn}
    for cls in classes:
        parent = cls.__mro__[1]
        if parent is errors.GraderError:
            assert depth[cls.__name__] == min(depth.values()), cls.__name__
        else:
            assert depth[cls.__name__] > depth[parent.__name__], cls.__name__
    assert all(issubclass(c, errors.GraderError) for c in classes)
