"""The executed notebook as view data: hostile rich outputs are dropped or sanitised, text stays text, images are
checked, long text keeps its head and tail."""

from __future__ import annotations

import base64
import json

from server.dashboard.notebook_parts import TEXT_LIMIT_CHARS, OutputView
from server.dashboard.notebook_view import image_data_uri, notebook_view

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
PNG_B64 = base64.b64encode(PNG).decode()


def _nb(*outputs: dict[str, object], source: str = "x") -> bytes:
    cell = {"cell_type": "code", "source": source, "execution_count": 1, "outputs": list(outputs), "metadata": {}}
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def test_javascript_and_svg_outputs_are_dropped_and_named_and_script_only_html_too() -> None:
    output = {"output_type": "display_data", "metadata": {}, "data": {
        "text/html": "<script>alert(1)</script>", "application/javascript": "alert(2)",
        "image/svg+xml": "<svg onload='alert(3)'/>", "text/plain": "<IPython.core.display.HTML object>"}}
    cell = notebook_view(_nb(output)).cells[0]
    assert cell.outputs == [OutputView("text", text="<IPython.core.display.HTML object>"),
                            OutputView("omitted", label="application/javascript, image/svg+xml, text/html")]


def test_a_pandas_table_is_rendered_through_the_sanitiser_without_attributes_links_or_scripts() -> None:
    html = ('<div><style scoped>.x{color:red}</style><table border="1" class="dataframe" onclick="alert(1)">'
            '<thead><tr style="text-align: right;"><th></th><th colspan="2">acc</th></tr></thead>'
            '<tbody><tr><th>0</th><td id="x">0.93<script>alert(2)</script></td>'
            '<td><a href="javascript:alert(3)">link</a><img src=x onerror=alert(4)></td></tr></tbody></table></div>')
    output = {"output_type": "execute_result", "execution_count": 1, "metadata": {},
              "data": {"text/html": html, "text/plain": "   acc\n0  0.93"}}
    (view,) = notebook_view(_nb(output)).cells[0].outputs
    assert view.kind == "html"
    assert str(view.html) == ('<div><table><thead><tr><th></th><th colspan="2">acc</th></tr></thead>'
                              '<tbody><tr><th>0</th><td>0.93</td><td>link</td></tr></tbody></table></div>')


def test_png_and_jpeg_become_data_uris_only_when_their_bytes_match() -> None:
    assert image_data_uri("image/png", PNG_B64) == f"data:image/png;base64,{PNG_B64}"
    assert image_data_uri("image/png", PNG_B64[:8] + "\n" + PNG_B64[8:]) == f"data:image/png;base64,{PNG_B64}"
    assert image_data_uri("image/png", base64.b64encode(b"<svg onload=alert(1)>").decode()) is None
    assert image_data_uri("image/png", "not base64!") is None
    assert image_data_uri("image/svg+xml", PNG_B64) is None
    assert image_data_uri("image/jpeg", base64.b64encode(b"\xff\xd8\xff\xe0rest").decode()) is not None
    cell = notebook_view(_nb({"output_type": "display_data", "metadata": {},
                              "data": {"image/png": "PHN2Zz4=", "text/plain": "<Figure>"}})).cells[0]
    assert cell.outputs == [OutputView("omitted", label="image/png (not a valid image)")]


def test_streams_and_errors_are_text_without_colour_codes() -> None:
    cell = notebook_view(_nb(
        {"output_type": "stream", "name": "stdout", "text": ["<b>bold?</b>\n"]},
        {"output_type": "error", "ename": "ValueError", "evalue": "bad",
         "traceback": ["\x1b[0;31mValueError\x1b[0m: bad"]})).cells[0]
    assert cell.outputs == [OutputView("stream", text="<b>bold?</b>\n", label="stdout"),
                            OutputView("error", text="ValueError: bad", label="ValueError: bad")]


def test_long_outputs_keep_their_head_and_tail_with_a_count_between() -> None:
    text = "h" * TEXT_LIMIT_CHARS + "m" * 5 + "t" * TEXT_LIMIT_CHARS
    cell = notebook_view(_nb({"output_type": "stream", "name": "stdout", "text": text}))
    half = TEXT_LIMIT_CHARS // 2
    assert cell.cells[0].outputs[0].text == (
        "h" * half + f"\n... ({TEXT_LIMIT_CHARS + 5} characters in the middle not shown; download the notebook for "
        "all of it) ...\n" + "t" * half)


def test_unreadable_notebooks_say_why() -> None:
    assert notebook_view(None).problem == "the executed notebook is not available yet"
    assert notebook_view(b"{nope").problem == "the executed notebook is not valid JSON"
    assert notebook_view(b'{"cells": 3}').problem == "the executed notebook has no list of cells"
