"""The executed notebook as plain view data, for templates that escape every string.

Student outputs are hostile: JavaScript, SVG and every other rich type are dropped (the page says which);
`image/png` and `image/jpeg` survive as `data:` URIs after their bytes are checked to be what they claim, and
`text/html` (pandas tables) survives only through nh3's allow-list sanitiser: table and text tags, no attributes
but `colspan`/`rowspan`/`align`, no headings, links, images, styles or scripts; the page shows it in a bordered
box labelled as the notebook's output, so it cannot pass for the page's own text. Markdown is shown as its source text.
Long text keeps its head and its tail (an error is usually at the end).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import nh3
from markupsafe import Markup

from server.dashboard.notebook_parts import CellView, NotebookView, OutputView, capped_text
from server.dashboard.output_budget import capped_notebook

HTML_LIMIT_CHARS = 200_000
HTML_TAGS = {"table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "colgroup", "col", "div", "span", "p",
             "br", "b", "i", "em", "strong", "code", "pre", "small", "sub", "sup", "ul", "ol", "li", "hr"}
# no headings: a student's <h1>Score: 100</h1> keeps its text but not its size; the page also boxes and labels it
HTML_ATTRIBUTES = {"th": {"colspan", "rowspan", "align"}, "td": {"colspan", "rowspan", "align"}}
IMAGE_LIMIT_BYTES = 2 * 1024 * 1024
CELL_LIMIT = 500
IMAGE_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}


def _joined(value: Any) -> str:
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def sanitised_html(html: str) -> Markup | None:
    """Student HTML through nh3's allow-list (tables and text only); None when it is too large to show."""
    if len(html) > HTML_LIMIT_CHARS:
        return None
    cleaned = nh3.clean(html, tags=HTML_TAGS, clean_content_tags={"script", "style"}, attributes=HTML_ATTRIBUTES,
                        url_schemes=set(), strip_comments=True)
    return Markup(cleaned)  # noqa: S704 - the output of an allow-list sanitiser


def image_data_uri(mime: str, payload: Any) -> str | None:
    """A `data:` URI for a PNG or JPEG whose bytes really are one; None for anything else."""
    magic = IMAGE_MAGIC.get(mime)
    if magic is None or not isinstance(payload, str | list):
        return None
    text = re.sub(r"\s+", "", _joined(payload))
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) > IMAGE_LIMIT_BYTES or not raw.startswith(magic):
        return None
    return f"data:{mime};base64,{base64.b64encode(raw).decode()}"


def _rich_output(output: dict[str, Any]) -> list[OutputView]:
    data = output.get("data")
    if not isinstance(data, dict):
        return []
    views: list[OutputView] = []
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            uri = image_data_uri(mime, data[mime])
            views.append(OutputView("image", data_uri=uri, label=mime) if uri else
                         OutputView("omitted", label=f"{mime} (not a valid image)"))
    shown = {"image/png", "image/jpeg", "text/plain"}
    if not views and "text/html" in data:
        html = sanitised_html(_joined(data["text/html"]))
        if html is not None and html.strip():
            views.append(OutputView("html", html=html, label="text/html"))
            shown.add("text/html")
    if not views and "text/plain" in data:
        views.append(OutputView("text", text=capped_text(_joined(data["text/plain"]))))
    dropped = sorted(k for k in data if k not in shown)
    if dropped:
        views.append(OutputView("omitted", label=", ".join(str(k)[:80] for k in dropped[:10])))
    return views


def output_views(output: Any) -> list[OutputView]:
    if not isinstance(output, dict):
        return []
    kind = output.get("output_type")
    if kind == "stream":
        return [OutputView("stream", text=capped_text(_joined(output.get("text"))), label=str(output.get("name", "")))]
    if kind in ("execute_result", "display_data"):
        return _rich_output(output)
    if kind == "error":
        trace = "\n".join(t for t in output.get("traceback", []) if isinstance(t, str)) if isinstance(
            output.get("traceback"), list) else ""
        summary = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
        return [OutputView("error", text=capped_text(trace or summary), label=capped_text(summary, 500))]
    return []


def notebook_view(data: bytes | None) -> NotebookView:
    """Cells with their source and safe outputs; a problem message instead when the file cannot be read."""
    if data is None:
        return NotebookView([], "the executed notebook is not available yet")
    try:
        nb = json.loads(data)
    except ValueError:
        return NotebookView([], "the executed notebook is not valid JSON")
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        return NotebookView([], "the executed notebook has no list of cells")
    views = []
    for index, cell in enumerate(cells[:CELL_LIMIT]):
        if not isinstance(cell, dict):
            continue
        count = cell.get("execution_count")
        outputs = [v for o in cell.get("outputs", []) or [] for v in output_views(o)] if isinstance(
            cell.get("outputs", []), list) else []
        views.append(CellView(index, str(cell.get("cell_type", "code"))[:20], capped_text(_joined(cell.get("source"))),
                              count if isinstance(count, int) else None, outputs))
    views, budget_note = capped_notebook(views)
    problem = f"only the first {CELL_LIMIT} cells are shown" if len(cells) > CELL_LIMIT else ""
    return NotebookView(views, " ".join(p for p in (problem, budget_note) if p))
