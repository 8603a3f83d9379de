"""The executed notebook as view data: hostile rich outputs are dropped, text stays text, images are checked."""

from __future__ import annotations

import base64
import json

from server.dashboard.notebook_view import TEXT_LIMIT_CHARS, OutputView, image_data_uri, notebook_view

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
PNG_B64 = base64.b64encode(PNG).decode()


def _nb(*outputs: dict[str, object], source: str = "x") -> bytes:
    cell = {"cell_type": "code", "source": source, "execution_count": 1, "outputs": list(outputs), "metadata": {}}
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def test_html_javascript_and_svg_outputs_are_dropped_and_named() -> None:
    output = {"output_type": "display_data", "metadata": {}, "data": {
        "text/html": "<script>alert(1)</script>", "application/javascript": "alert(2)",
        "image/svg+xml": "<svg onload='alert(3)'/>", "text/plain": "<IPython.core.display.HTML object>"}}
    cell = notebook_view(_nb(output)).cells[0]
    assert cell.outputs == [OutputView("text", text="<IPython.core.display.HTML object>"),
                            OutputView("omitted", label="application/javascript, image/svg+xml, text/html")]


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


def test_long_outputs_are_cut_with_a_count() -> None:
    cell = notebook_view(_nb({"output_type": "stream", "name": "stdout", "text": "y" * (TEXT_LIMIT_CHARS + 5)}))
    assert cell.cells[0].outputs[0].text == "y" * TEXT_LIMIT_CHARS + "\n... (5 more characters not shown)"


def test_unreadable_notebooks_say_why() -> None:
    assert notebook_view(None).problem == "the executed notebook is not available yet"
    assert notebook_view(b"{nope").problem == "the executed notebook is not valid JSON"
    assert notebook_view(b'{"cells": 3}').problem == "the executed notebook has no list of cells"
