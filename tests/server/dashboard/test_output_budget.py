"""Output that fits on a page: per cell and per notebook, the first and the last part (dashboard.output_budget)."""

from __future__ import annotations

import json

from server.dashboard.notebook_view import notebook_view
from server.dashboard.output_budget import CELL_OUTPUT_LIMIT_CHARS, NOTEBOOK_OUTPUT_LIMIT_CHARS, output_size


def _notebook(cells: list[list[dict[str, object]]]) -> bytes:
    return json.dumps({"cells": [{"cell_type": "code", "source": f"step({i})", "execution_count": i + 1,
                                  "outputs": outputs} for i, outputs in enumerate(cells)],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def _stream(text: str, name: str = "stdout") -> dict[str, object]:
    return {"output_type": "stream", "name": name, "text": text}


def test_a_per_batch_print_loop_becomes_one_capped_text_with_its_first_and_last_lines() -> None:
    """874,000 characters in 252 outputs of one cell (what a student's training loop printed)."""
    lines = [_stream(f"batch {i:04d} loss {1 / (i + 1):.6f}".ljust(3467) + "\n") for i in range(252)]
    view = notebook_view(_notebook([lines]))
    outputs = view.cells[0].outputs
    assert [o.kind for o in outputs] == ["stream"]
    text = outputs[0].text
    assert len(text) < CELL_OUTPUT_LIMIT_CHARS + 200
    assert text.startswith("batch 0000 loss 1.000000")
    assert text.rstrip().endswith(f"batch 0251 loss {1 / 252:.6f}")
    assert "characters in the middle not shown; download the notebook for all of it" in text
    assert view.problem == ""


def test_a_cell_with_many_kinds_of_output_keeps_the_first_and_the_last() -> None:
    outputs: list[dict[str, object]] = []
    for i in range(40):  # streams split by results, so they cannot be merged
        outputs += [_stream(f"epoch {i}\n" + "x" * 3000), {"output_type": "execute_result", "execution_count": 1,
                                                          "metadata": {}, "data": {"text/plain": f"result {i}"}}]
    cell = notebook_view(_notebook([outputs])).cells[0]
    assert sum(output_size(o) for o in cell.outputs) < CELL_OUTPUT_LIMIT_CHARS + 3100
    assert cell.outputs[0].text.startswith("epoch 0\n")
    assert cell.outputs[-1].text == "result 39"
    omitted = [o for o in cell.outputs if o.kind == "omitted"]
    assert len(omitted) == 1
    assert omitted[0].label.endswith("characters, over this cell's 20,000 characters")


def test_a_notebook_over_its_budget_shows_its_first_and_last_cells_and_says_how_much_is_not_shown() -> None:
    cells = [[_stream(f"cell {i}\n" + "y" * 15_000)] for i in range(30)]  # 450,230 characters
    view = notebook_view(_notebook(cells))
    shown = sum(output_size(o) for c in view.cells for o in c.outputs if o.kind != "omitted")
    assert shown <= NOTEBOOK_OUTPUT_LIMIT_CHARS
    assert view.cells[0].outputs[0].text.startswith("cell 0\n")
    assert view.cells[-1].outputs[0].text.startswith("cell 29\n")
    assert view.cells[15].outputs[0].kind == "omitted"
    assert view.cells[15].outputs[0].label == ("1 output(s), 15,008 characters, over the notebook's 120,000 "
                                               "characters on this page")
    assert view.problem == (f"The notebook printed 450,230 characters of output; this page shows {shown:,} of them: "
                            "the first and the last cells' outputs. The executed notebook has all of it.")
