"""How much of a notebook's output a page shows: per cell and per notebook, the first and the last part.

A per-batch print loop writes hundreds of stream outputs; each is capped on its own by `notebook_view`, but together
they made a page 400,000 px long. Here consecutive stream outputs of one cell are merged and capped as one text
(head and tail), a cell keeps at most `CELL_OUTPUT_LIMIT_CHARS` of output, and a notebook at most
`NOTEBOOK_OUTPUT_LIMIT_CHARS`: the first cells' and the last cells' outputs, the middle replaced by a line that says
how much is not shown (the executed notebook, downloadable from the page, has all of it).
"""

from __future__ import annotations

from dataclasses import replace

from server.dashboard.notebook_parts import CellView, OutputView, capped_text

CELL_OUTPUT_LIMIT_CHARS = 20_000
NOTEBOOK_OUTPUT_LIMIT_CHARS = 120_000
IMAGE_WEIGHT_CHARS = 2_000  # an image counts as this much text: a page of 500 figures is long too


def output_size(view: OutputView) -> int:
    return IMAGE_WEIGHT_CHARS if view.kind == "image" else len(view.text) + len(view.html)


def _merged_streams(outputs: list[OutputView]) -> list[OutputView]:
    merged: list[tuple[OutputView, int]] = []  # (view, how many outputs it was made of)
    for view in outputs:
        last, parts = merged[-1] if merged else (None, 0)
        if view.kind == "stream" and last is not None and last.kind == "stream" and last.label == view.label:
            merged[-1] = (replace(last, text=last.text + view.text), parts + 1)
        else:
            merged.append((view, 1))
    # a single output was capped already (its marker counts what it left out); merged ones are capped together
    return [replace(v, text=capped_text(v.text, CELL_OUTPUT_LIMIT_CHARS)) if parts > 1 else v for v, parts in merged]


def _ends(sizes: list[int], budget: int) -> tuple[int, int]:
    """How many items from the start and from the end fit in half the budget each (at least one of each)."""
    head, used = 0, 0
    while head < len(sizes) and (head == 0 or used + sizes[head] <= budget // 2):
        used, head = used + sizes[head], head + 1
    tail, used = 0, 0
    while tail < len(sizes) - head and (tail == 0 or used + sizes[-1 - tail] <= budget // 2):
        used, tail = used + sizes[-1 - tail], tail + 1
    return head, tail


def _omitted(count: int, chars: int, where: str) -> OutputView:
    return OutputView("omitted", label=f"{count} output(s), {chars:,} characters, {where}")


def capped_cell(outputs: list[OutputView]) -> list[OutputView]:
    """A cell's outputs within `CELL_OUTPUT_LIMIT_CHARS`: streams merged, then the first and the last outputs."""
    views = _merged_streams(outputs)
    sizes = [output_size(v) for v in views]
    if sum(sizes) <= CELL_OUTPUT_LIMIT_CHARS:
        return views
    head, tail = _ends(sizes, CELL_OUTPUT_LIMIT_CHARS)
    middle = views[head:len(views) - tail]
    if not middle:
        return views
    note = _omitted(len(middle), sum(sizes[head:len(views) - tail]),
                    f"over this cell's {CELL_OUTPUT_LIMIT_CHARS:,} characters")
    return [*views[:head], note, *views[len(views) - tail:]]


def capped_notebook(cells: list[CellView]) -> tuple[list[CellView], str]:
    """Every cell's outputs capped, and the whole notebook's within `NOTEBOOK_OUTPUT_LIMIT_CHARS`; the problem line
    says how much was left out (empty when nothing was)."""
    capped = [replace(c, outputs=capped_cell(c.outputs)) for c in cells]
    sizes = [sum(output_size(v) for v in c.outputs) for c in capped]
    total = sum(sizes)
    if total <= NOTEBOOK_OUTPUT_LIMIT_CHARS:
        return capped, ""
    with_output = [i for i, s in enumerate(sizes) if s]
    head, tail = _ends([sizes[i] for i in with_output], NOTEBOOK_OUTPUT_LIMIT_CHARS)
    hidden = set(with_output[head:len(with_output) - tail])
    out = [replace(c, outputs=[_omitted(len(c.outputs), sizes[i], "over the notebook's "
                                        f"{NOTEBOOK_OUTPUT_LIMIT_CHARS:,} characters on this page")])
           if i in hidden else c for i, c in enumerate(capped)]
    shown = total - sum(sizes[i] for i in hidden)
    return out, (f"The notebook printed {total:,} characters of output; this page shows {shown:,} of them: the first "
                 f"and the last cells' outputs. The executed notebook has all of it.") if hidden else ""
