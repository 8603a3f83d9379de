"""Upload validation: every refusal comes with the exact message a student sees."""

from __future__ import annotations

import json
import time
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.errors import NotebookInvalid
from grader.upload.notebook import MAX_JSON_CONTAINERS, MAX_JSON_DEPTH, MAX_JSON_VALUES, check_upload, parse_notebook

LIMIT = 20 * 1024 * 1024


def _bytes(nb: Any) -> bytes:
    return nbformat.writes(nb).encode()


def _refusal(data: bytes, max_bytes: int = LIMIT) -> str:
    """The message both the API's check and the grader's parser give; they must agree."""
    messages = []
    for validate in (check_upload, parse_notebook):
        with pytest.raises(NotebookInvalid) as info:
            validate(data, max_bytes)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    return messages[0]


def _accepted(data: bytes) -> nbformat.NotebookNode:
    check_upload(data, LIMIT)
    return parse_notebook(data, LIMIT)


def test_a_valid_v4_notebook_is_returned_as_is() -> None:
    nb = new_notebook(cells=[new_markdown_cell("# Lab"), new_code_cell("x = 1")])
    parsed = _accepted(_bytes(nb))
    assert parsed.nbformat == 4
    assert [c.source for c in parsed.cells] == ["# Lab", "x = 1"]


def test_a_byte_order_mark_is_accepted() -> None:
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    assert _accepted(b"\xef\xbb\xbf" + _bytes(nb)).cells[0].source == "x = 1"


def test_empty_upload() -> None:
    assert _refusal(b"") == "the upload is empty"


def test_size_limit() -> None:
    data = _bytes(new_notebook(cells=[new_code_cell("x = 1" * 100)]))
    assert _refusal(data, max_bytes=100) == f"the upload is {len(data)} bytes; the limit is 100 bytes"


def test_not_utf8() -> None:
    assert _refusal(b'{"cells": "\xff\xfe"}') == (
        "the upload is not UTF-8 text: byte 0xff at offset 11 cannot be decoded")


def test_not_json() -> None:
    assert _refusal(b"print('hello')\n") == (
        "the upload is not a notebook: line 1 column 1 is not JSON (Expecting value)")


def test_top_level_not_an_object() -> None:
    assert _refusal(b"[1, 2]") == "the upload is not a notebook: the top-level JSON value is not an object"


def test_no_nbformat_field() -> None:
    assert _refusal(b'{"cells": []}') == "the upload is not a notebook: it has no integer 'nbformat' field"


@pytest.mark.parametrize("major", [1, 2, 5])
def test_unsupported_formats_are_refused(major: int) -> None:
    assert _refusal(json.dumps({"nbformat": major, "cells": []}).encode()) == (
        f"notebook format {major} is not supported; save it as nbformat 4 (Jupyter 4 or later)")


def test_v3_is_converted_to_v4() -> None:
    v3 = {
        "nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "old"},
        "worksheets": [{"cells": [{"cell_type": "code", "input": "x = 41 + 1", "language": "python",
                                   "outputs": [], "collapsed": False, "metadata": {}}], "metadata": {}}],
    }
    parsed = _accepted(json.dumps(v3).encode())
    assert parsed.nbformat == 4
    assert [(c.cell_type, c.source) for c in parsed.cells] == [("code", "x = 41 + 1")]


def test_v4_schema_violation_says_where() -> None:
    nb = json.loads(_bytes(new_notebook(cells=[new_code_cell("x = 1")])))
    nb["cells"][0]["execution_count"] = "one"
    assert _refusal(json.dumps(nb).encode()) == (
        "the notebook does not follow nbformat 4 at cells/0/execution_count: 'one' is not of type 'integer', 'null'"
    )


def test_deep_nesting_is_refused_before_parsing() -> None:
    bomb = b'{"nbformat": 4, "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert _refusal(bomb) == "the upload nests JSON deeper than 64 levels"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 500, 5_000])
def test_nesting_one_level_too_deep_is_refused_after_parsing(depth: int) -> None:
    nesting = depth - 2  # the notebook object and its metadata object are two levels
    nb = b'{"nbformat": 4, "nbformat_minor": 5, "cells": [], "metadata": {"x": ' + b"[" * nesting + b"]" * nesting
    assert _refusal(nb + b"}}") == f"the upload nests JSON deeper than {MAX_JSON_DEPTH} levels"


def test_nesting_at_the_limit_is_allowed() -> None:
    nesting = MAX_JSON_DEPTH - 2
    nb = json.loads(_bytes(new_notebook(cells=[new_code_cell("x = 1")])))
    nb["metadata"]["x"] = json.loads("[" * nesting + "]" * nesting)
    assert _accepted(json.dumps(nb).encode()).cells[0].source == "x = 1"


def test_deep_nesting_inside_strings_is_fine() -> None:
    nb = new_notebook(cells=[new_code_cell("x = " + "[" * 1000 + "]" * 1000)])
    assert _accepted(_bytes(nb)).cells[0].source.count("[") == 1000


def test_huge_array_of_tiny_objects_is_refused_quickly() -> None:
    count = 5_000_000
    bomb = b'{"nbformat": 4, "metadata": {"x": [' + b",".join([b"{}"] * count) + b"]}}"
    started = time.monotonic()
    assert _refusal(bomb) == (
        f"the upload holds {count + 3} JSON objects and arrays; the limit is {MAX_JSON_CONTAINERS}")
    assert time.monotonic() - started < 5


def test_huge_array_of_numbers_is_refused() -> None:
    bomb = b'{"nbformat": 4, "metadata": {"x": [' + b",".join([b"0"] * 3_000_000) + b"]}}"
    assert _refusal(bomb) == f"the upload holds about 3000001 JSON values; the limit is {MAX_JSON_VALUES}"


def test_number_with_too_many_digits_is_refused() -> None:
    assert _refusal(b'{"nbformat": ' + b"9" * 10_000 + b"}") == (
        "the upload is not a notebook: its JSON cannot be read (Exceeds the limit (4300 digits) for integer string "
        "conversion: value has 10000 digits; use sys.set_int_max_str_digits() to increase the limit)")


@pytest.mark.parametrize(("kernelspec", "language_info", "shown", "language"), [
    ({"name": "ir", "display_name": "R", "language": "R"}, {}, "R", "r"),
    ({"name": "julia-1.10", "display_name": "Julia 1.10.0", "language": "julia"}, {}, "Julia 1.10.0", "julia"),
    ({}, {"name": "javascript"}, "javascript", "javascript"),
])
def test_non_python_kernels_are_refused(kernelspec: dict[str, str], language_info: dict[str, str], shown: str,
                                        language: str) -> None:
    metadata = {key: value for key, value in (("kernelspec", kernelspec), ("language_info", language_info)) if value}
    nb = new_notebook(cells=[new_code_cell("x <- 1")], metadata=metadata)
    assert _refusal(_bytes(nb)) == (
        f"the notebook's kernel is {shown!r} (language {language!r}); only Python notebooks are graded")


def test_python_kernel_with_a_custom_name_is_accepted() -> None:
    nb = new_notebook(cells=[new_code_cell("x = 1")], metadata={
        "kernelspec": {"name": "conda-env-ml-py", "display_name": "Python [conda env:ml]", "language": "python"}})
    assert _accepted(_bytes(nb)).metadata.kernelspec.name == "conda-env-ml-py"


def test_no_code_cells() -> None:
    assert _refusal(_bytes(new_notebook(cells=[new_markdown_cell("only words")]))) == "the notebook has no code cells"
