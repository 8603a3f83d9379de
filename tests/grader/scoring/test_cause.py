"""A zero explained by its cause: the failed cell whose undefined names later failed cells needed, not the notebook's
first error (issue 22: the template's own broken cells were named while the failed data load went unmentioned)."""

from __future__ import annotations

from grader.scoring.cause import blocking_error, defined_names, with_causes
from grader.scoring.report import CellError
from grader.scoring.scorers import execution_context

# a perceptron notebook as real students' forks fail: a pasted URL line, the data file missing, everything after it
CELLS = {
    1: "import numpy as np\nimport pickle, gzip",
    2: "https://github.com/microsoft/AI-For-Beginners/raw/main/data/mnist.pkl.gz",
    4: "with gzip.open('mnist.pkl.gz', 'rb') as f:\n    MNIST = pickle.load(f)\nprint('loaded')",
    5: "features = MNIST['Train']['Features'].astype(np.float32) / 256.0\nlabels = MNIST['Train']['Labels']",
    6: "print(accuracy(wts, pos_examples, neg_examples))",
    8: "weights = [train(features, labels == d) for d in range(10)]",
}
ERRORS = [
    CellError(cell_index=2, ename="SyntaxError", evalue="invalid syntax (3024397807.py, line 1)"),
    CellError(cell_index=4, ename="FileNotFoundError",
              evalue="[Errno 2] No such file or directory: 'mnist.pkl.gz'"),
    CellError(cell_index=5, ename="NameError", evalue="name 'MNIST' is not defined"),
    CellError(cell_index=6, ename="NameError", evalue="name 'accuracy' is not defined"),
    CellError(cell_index=8, ename="NameError", evalue="name 'features' is not defined"),
]


def test_the_failed_data_load_is_the_cause_not_the_first_error() -> None:
    traced = with_causes(ERRORS, CELLS)
    cause = blocking_error(traced)
    assert cause is not None and (cause.cell_index, cause.left_undefined, cause.failed_after) == (4, ("MNIST",),
                                                                                                   (5, 8))
    assert execution_context(traced, "") == (
        "cell 5 raised FileNotFoundError: [Errno 2] No such file or directory: 'mnist.pkl.gz', so `MNIST` was never "
        "defined and cells 6, 9 that depend on it failed too")


def test_without_a_chain_the_first_error_is_named_as_before() -> None:
    errors = [ERRORS[0], ERRORS[3]]
    traced = with_causes(errors, CELLS)
    assert traced == errors
    assert execution_context(traced, "") == "cell 3 raised SyntaxError: invalid syntax (3024397807.py, line 1)"


def test_names_a_cell_defines_are_read_from_its_text_even_when_it_does_not_parse() -> None:
    assert defined_names(CELLS[4]) == {"f", "MNIST"}
    assert defined_names("import numpy as np\nfrom os import path\nfor i, x in enumerate(y): pass\n"
                         "def train(a): b = 1\nclass Net: pass") == {"np", "path", "i", "x", "train", "b", "Net"}
    assert defined_names("!wget URL\nX, y = load()\n%matplotlib widget") == {"X", "y"}
