"""Notebooks the browser tests upload: a quick Iris one with a training history, and one with hostile outputs."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from tests.conftest import IRIS_CODE, notebook_bytes

# The validation-loss minimum is at epoch 3 of 6: passes early stopping with patience 3, fails with patience 1.
HISTORY = ("mnist_multi_history = {'loss': [1.0, 0.6, 0.4, 0.3, 0.25, 0.2], "
           "'val_loss': [1.1, 0.6, 0.5, 0.55, 0.6, 0.7]}")

HOSTILE_CELLS = [
    "from IPython.display import HTML, SVG, Javascript, display\n"
    "display(HTML(\"<script>window.__pwned = 1; alert('html script')</script><b id='injected'>bold</b>\"))",
    "display(HTML('<a id=\"jslink\" href=\"javascript:alert(1)\">click me</a>'))",
    "display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(2)\" width=\"10\" height=\"10\">"
    "<script>alert(3)</script></svg>'))",
    "display(Javascript('window.__pwned = 2; alert(4)'))",
    "import base64\n"
    "display({'image/png': base64.b64encode(b'<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(5)\"/>')"
    ".decode(), 'text/plain': 'fake png'}, raw=True)",
    "print('<script>alert(6)</script><img src=x onerror=alert(7)>')",
    "raise ValueError('<img src=x onerror=alert(8)>')",
]


def iris_with_history() -> bytes:
    return notebook_bytes(IRIS_CODE, HISTORY)


def hostile() -> bytes:
    nb = new_notebook(cells=[new_markdown_cell("# Lab\n<script>alert(9)</script>[link](javascript:alert(10))"),
                             *(new_code_cell(source) for source in HOSTILE_CELLS)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb).encode()  # type: ignore[no-untyped-call,no-any-return]


STUDENT_OUTPUTS = [
    "import matplotlib.pyplot as plt\n"
    "plt.plot([1.0, 0.6, 0.4, 0.3], label='loss'); plt.plot([1.1, 0.7, 0.6, 0.65], label='val_loss')\n"
    "plt.legend(); plt.title('my training'); plt.show()",
    "import pandas as pd\npd.DataFrame({'val_accuracy': [0.91, 0.95], 'epoch': [1, 2]})",
    "print('x' * 60000)\nprint('THE END: loss 0.05')",
]


def student_outputs() -> bytes:
    """A figure drawn with plt.show(), a pandas table and a 60,000-character output whose last line matters."""
    return notebook_bytes(*STUDENT_OUTPUTS)
