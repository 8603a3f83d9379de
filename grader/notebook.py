"""Parse and validate an uploaded notebook before anything else touches it.

The checks run cheapest first, and the JSON shape is measured on the raw text before it is parsed, so a small
upload cannot make the parser recurse deeply or build millions of objects (a JSON bomb).
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

import nbformat
from nbformat import NotebookNode
from nbformat.validator import ValidationError

from grader.errors import NotebookInvalid

MAX_JSON_DEPTH = 64
MAX_JSON_CONTAINERS = 200_000  # objects + arrays; a 20 MB notebook of real work holds a few tens of thousands
MAX_JSON_VALUES = 1_000_000  # elements of all objects and arrays (commas + 1, roughly)
PYTHON_LANGUAGES = {"python", "python2", "python3", "ipython", "ipython3", ""}
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def _measure_json(text: str) -> None:
    """Refuse JSON nested too deeply or holding too many values, judging the text with its strings removed."""
    skeleton = _STRING.sub('""', text)
    containers = skeleton.count("{") + skeleton.count("[")
    if containers > MAX_JSON_CONTAINERS:
        raise NotebookInvalid(
            f"the upload holds {containers} JSON objects and arrays; the limit is {MAX_JSON_CONTAINERS}")
    values = skeleton.count(",") + 1
    if values > MAX_JSON_VALUES:
        raise NotebookInvalid(f"the upload holds about {values} JSON values; the limit is {MAX_JSON_VALUES}")
    depth = 0
    for match in _BRACKET.finditer(skeleton):
        depth += 1 if match.group() in "{[" else -1
        if depth > MAX_JSON_DEPTH:
            raise NotebookInvalid(f"the upload nests JSON deeper than {MAX_JSON_DEPTH} levels")


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookInvalid(
            f"the upload is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} cannot be decoded"
        ) from exc
    return text.removeprefix("\ufeff")


def _load_json(text: str) -> dict[str, Any]:
    _measure_json(text)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookInvalid(
            f"the upload is not a notebook: line {exc.lineno} column {exc.colno} is not JSON ({exc.msg})"
        ) from exc
    except (ValueError, RecursionError) as exc:  # e.g. an integer literal with more digits than Python converts
        raise NotebookInvalid(f"the upload is not a notebook: its JSON cannot be read ({exc})") from exc
    if not isinstance(raw, dict):
        raise NotebookInvalid("the upload is not a notebook: the top-level JSON value is not an object")
    return raw


def _language(nb: NotebookNode) -> tuple[str, str]:
    """The notebook's declared language and the name to show for its kernel."""
    kernelspec = nb.metadata.get("kernelspec") or {}
    language_info = nb.metadata.get("language_info") or {}
    language = kernelspec.get("language") or language_info.get("name") or ""
    shown = kernelspec.get("display_name") or kernelspec.get("name") or language
    return str(language).strip().lower(), str(shown)


def parse_notebook(data: bytes, max_bytes: int) -> NotebookNode:
    """Return the upload as an nbformat v4 notebook, or raise NotebookInvalid saying what is wrong."""
    if not data:
        raise NotebookInvalid("the upload is empty")
    if len(data) > max_bytes:
        raise NotebookInvalid(f"the upload is {len(data)} bytes; the limit is {max_bytes} bytes")
    text = _decode(data)
    raw = _load_json(text)
    major = raw.get("nbformat")
    if not isinstance(major, int) or isinstance(major, bool):
        raise NotebookInvalid("the upload is not a notebook: it has no integer 'nbformat' field")
    if major < 3 or major > 4:
        raise NotebookInvalid(f"notebook format {major} is not supported; save it as nbformat 4 (Jupyter 4 or later)")
    try:
        # built from the JSON already parsed above: `nbformat.reads` would parse and validate it all over again
        nb = cast(NotebookNode, nbformat.versions[major].to_notebook_json(raw))  # joins multi-line sources
        if major != 4:
            nb = cast(NotebookNode, nbformat.convert(nb, 4))
        nbformat.validate(nb)
    except ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        raise NotebookInvalid(f"the notebook does not follow nbformat 4 at {where}: {exc.message}") from exc
    except Exception as exc:  # nbformat raises a mix of errors for malformed documents
        raise NotebookInvalid(f"the notebook could not be read as nbformat 4: {exc}") from exc
    language, shown = _language(nb)
    if language not in PYTHON_LANGUAGES:
        raise NotebookInvalid(
            f"the notebook's kernel is {shown!r} (language {language!r}); only Python notebooks are graded")
    if not any(cell.cell_type == "code" for cell in nb.cells):
        raise NotebookInvalid("the notebook has no code cells")
    return nb
