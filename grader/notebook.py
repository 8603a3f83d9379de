"""Parse and validate an uploaded notebook before anything else touches it."""

from __future__ import annotations

import json
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.validator import ValidationError

from grader.errors import NotebookInvalid

MAX_JSON_DEPTH = 64
SUPPORTED_LANGUAGES = {"python", "python3", ""}


def _depth_ok(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def parse_notebook(data: bytes, max_bytes: int) -> NotebookNode:
    """Return the upload as an nbformat v4 notebook, or raise NotebookInvalid saying what is wrong."""
    if not data:
        raise NotebookInvalid("the upload is empty")
    if len(data) > max_bytes:
        raise NotebookInvalid(f"the upload is {len(data)} bytes; the limit is {max_bytes} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookInvalid(
            f"the upload is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} cannot be decoded"
        ) from exc
    try:
        raw = json.loads(text)
    except RecursionError as exc:
        raise NotebookInvalid(f"the upload nests JSON deeper than {MAX_JSON_DEPTH} levels") from exc
    except json.JSONDecodeError as exc:
        raise NotebookInvalid(
            f"the upload is not a notebook: line {exc.lineno} column {exc.colno} is not JSON ({exc.msg})"
        ) from exc
    if not isinstance(raw, dict):
        raise NotebookInvalid("the upload is not a notebook: the top-level JSON value is not an object")
    if not _depth_ok(raw, MAX_JSON_DEPTH):
        raise NotebookInvalid(f"the upload nests JSON deeper than {MAX_JSON_DEPTH} levels")
    major = raw.get("nbformat")
    if not isinstance(major, int):
        raise NotebookInvalid("the upload is not a notebook: it has no integer 'nbformat' field")
    if major < 3 or major > 4:
        raise NotebookInvalid(f"notebook format {major} is not supported; save it as nbformat 4 (Jupyter 4 or later)")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        raise NotebookInvalid(f"the notebook does not follow nbformat 4 at {where}: {exc.message}") from exc
    except Exception as exc:  # nbformat raises a mix of errors for malformed documents
        raise NotebookInvalid(f"the notebook could not be read as nbformat 4: {exc}") from exc
    language = str(nb.metadata.get("kernelspec", {}).get("language", "python")).lower()
    if language not in SUPPORTED_LANGUAGES:
        raise NotebookInvalid(f"the notebook's kernel language is {language!r}; only Python notebooks are graded")
    if not any(cell.cell_type == "code" for cell in nb.cells):
        raise NotebookInvalid("the notebook has no code cells")
    return nb
