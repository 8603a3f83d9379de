"""Parse and validate an uploaded notebook before anything else touches it.

The checks run cheapest first. The number of JSON values is bounded on the raw text before it is parsed, so a small
upload cannot make the parser build millions of objects (a JSON bomb); nesting is bounded by the parser's recursion
limit, then measured on the parsed value. `check_upload` is the API's path (it never builds a NotebookNode),
`parse_notebook` the grader's; both refuse the same uploads with the same messages.
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


def _measure_json(text: str) -> None:
    """Refuse JSON holding too many values before it is parsed, judging the text with its strings removed."""
    # Upper bounds first: every bracket and comma, those inside strings included (about 1 ms per MB). A real
    # notebook stays far below the limits, so the exact count (strings removed: ~6 ms per MB) runs only for the
    # uploads that come near them. Depth is measured after parsing (`_measure_depth`): it cannot build objects.
    if (text.count("{") + text.count("[") <= MAX_JSON_CONTAINERS
            and text.count(",") + 1 <= MAX_JSON_VALUES):
        return
    skeleton = _STRING.sub('""', text)
    containers = skeleton.count("{") + skeleton.count("[")
    if containers > MAX_JSON_CONTAINERS:
        raise NotebookInvalid(
            f"the upload holds {containers} JSON objects and arrays; the limit is {MAX_JSON_CONTAINERS}")
    values = skeleton.count(",") + 1
    if values > MAX_JSON_VALUES:
        raise NotebookInvalid(f"the upload holds about {values} JSON values; the limit is {MAX_JSON_VALUES}")


def _measure_depth(raw: Any) -> None:
    """Refuse parsed JSON nested deeper than MAX_JSON_DEPTH, level by level (no recursion)."""
    level: list[Any] = [raw]
    depth = 1
    while level:
        if depth > MAX_JSON_DEPTH:
            raise NotebookInvalid(f"the upload nests JSON deeper than {MAX_JSON_DEPTH} levels")
        level = [child for value in level for child in (value.values() if isinstance(value, dict) else value)
                 if isinstance(child, dict | list)]
        depth += 1


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
    except RecursionError as exc:  # the C parser stops at Python's recursion limit (~1,000 levels)
        raise NotebookInvalid(f"the upload nests JSON deeper than {MAX_JSON_DEPTH} levels") from exc
    except ValueError as exc:  # e.g. an integer literal with more digits than Python converts
        raise NotebookInvalid(f"the upload is not a notebook: its JSON cannot be read ({exc})") from exc
    if not isinstance(raw, dict):
        raise NotebookInvalid("the upload is not a notebook: the top-level JSON value is not an object")
    _measure_depth(raw)
    return raw


def _language(metadata: dict[str, Any]) -> tuple[str, str]:
    """The notebook's declared language and the name to show for its kernel."""
    kernelspec = metadata.get("kernelspec") or {}
    language_info = metadata.get("language_info") or {}
    language = kernelspec.get("language") or language_info.get("name") or ""
    shown = kernelspec.get("display_name") or kernelspec.get("name") or language
    return str(language).strip().lower(), str(shown)


def _notebook_json(data: bytes, max_bytes: int) -> tuple[dict[str, Any], int]:
    """The upload's JSON object and its major nbformat version, after the checks that need no schema."""
    if not data:
        raise NotebookInvalid("the upload is empty")
    if len(data) > max_bytes:
        raise NotebookInvalid(f"the upload is {len(data)} bytes; the limit is {max_bytes} bytes")
    raw = _load_json(_decode(data))
    major = raw.get("nbformat")
    if not isinstance(major, int) or isinstance(major, bool):
        raise NotebookInvalid("the upload is not a notebook: it has no integer 'nbformat' field")
    if major < 3 or major > 4:
        raise NotebookInvalid(f"notebook format {major} is not supported; save it as nbformat 4 (Jupyter 4 or later)")
    return raw, major


def _validate_v4(nb: dict[str, Any]) -> None:
    """Check a v4 notebook (a NotebookNode or the plain JSON) against the schema and the grader's own rules."""
    try:
        nbformat.validate(nb)
    except ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        raise NotebookInvalid(f"the notebook does not follow nbformat 4 at {where}: {exc.message}") from exc
    except Exception as exc:  # nbformat raises a mix of errors for malformed documents
        raise NotebookInvalid(f"the notebook could not be read as nbformat 4: {exc}") from exc
    language, shown = _language(nb["metadata"])
    if language not in PYTHON_LANGUAGES:
        raise NotebookInvalid(
            f"the notebook's kernel is {shown!r} (language {language!r}); only Python notebooks are graded")
    if not any(cell["cell_type"] == "code" for cell in nb["cells"]):
        raise NotebookInvalid("the notebook has no code cells")


def check_upload(data: bytes, max_bytes: int) -> None:
    """Refuse an upload exactly as `parse_notebook` would, without building the notebook (the API's hot path)."""
    raw, major = _notebook_json(data, max_bytes)
    if major == 4:
        _validate_v4(raw)  # the schema accepts multi-line sources as lists, as written on disk
    else:
        parse_notebook(data, max_bytes)  # older formats: convert, then validate the result


def parse_notebook(data: bytes, max_bytes: int) -> NotebookNode:
    """Return the upload as an nbformat v4 notebook, or raise NotebookInvalid saying what is wrong."""
    raw, major = _notebook_json(data, max_bytes)
    try:
        # built from the JSON already parsed above: `nbformat.reads` would parse and validate it all over again
        nb = cast(NotebookNode, nbformat.versions[major].to_notebook_json(raw))  # joins multi-line sources
        if major != 4:
            nb = cast(NotebookNode, nbformat.convert(nb, 4))
    except Exception as exc:  # nbformat raises a mix of errors for malformed documents
        raise NotebookInvalid(f"the notebook could not be read as nbformat 4: {exc}") from exc
    _validate_v4(nb)
    return nb
