"""The NumPy model kinds graded through the real pipeline (real kernels): a lab written under tmp_path declares
`model_kinds`, the curriculum's own-framework networks (1, 2 and 3 layers, one variable reused) and perceptrons in
their shapes earn their points, and hostile NumPy objects earn none.

The data is the frameworks lab's small MNIST (6,000 visible training images): the thresholds are low enough for a
few epochs of plain NumPy training and far above chance.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grader.data.lab_data import LabData
from grader.spec.lab import LabSpec, load_spec
from tests.lab_data import frameworks_data
from tests.lab_tasks.frameworks.conftest import Grade, notebook, sandboxed_grader

pytestmark = pytest.mark.slow


def _accuracy(check_id: str, model: str, extra: str = "") -> str:
    return textwrap.dedent(f"""
        [[checks]]
        id = "{check_id}"
        title = "{check_id}"
        points = 1
        kind = "accuracy"
        model = "{model}"
        dataset = "mnist"
        full_credit_at = 0.75
        no_credit_at = 0.4
        {extra}
        """)


def _lab(tmp_path: Path, lab_id: str, kinds: str, checks: str) -> LabSpec:
    folder = tmp_path / "labs" / lab_id
    folder.mkdir(parents=True)
    (folder / "lab.toml").write_text(f'id = "{lab_id}"\ntitle = "{lab_id}"\nmodel_kinds = {kinds}\n{MNIST}{checks}')
    return load_spec(folder / "lab.toml")


# the MNIST declaration of the frameworks lab, whose prepared data (small MNIST) these labs are graded on
MNIST = textwrap.dedent("""
    [[datasets]]
    id = "mnist"
    title = "MNIST"
    classes = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
    input_shape = [28, 28]
    dtype = "uint8"
    [datasets.source]
    file = "mnist.npz"
    [datasets.split]
    kind = "test_half"
    seed = 20240902
    """)


@pytest.fixture
def grade(tmp_path: Path) -> Grade:
    return sandboxed_grader(tmp_path / "jobs")


@pytest.fixture(scope="module")
def mnist_lab(tmp_path_factory: pytest.TempPathFactory) -> LabData:
    return frameworks_data(tmp_path_factory.mktemp("small-data"))


FRAMEWORK = """
import numpy as np
import labdata
(x_train, y_train), (x_test, y_test) = labdata.load_mnist(flatten=True)
x_train = x_train.astype(np.float64) / 255.0

class Linear:
    def __init__(self, nin, nout):
        self.W = np.random.normal(0, 1.0 / np.sqrt(nin), (nout, nin))
        self.b = np.zeros((1, nout))
    def forward(self, x):
        self.x = x
        return np.dot(x, self.W.T) + self.b
    def backward(self, dz):
        dx = np.dot(dz, self.W)
        self.dW = np.dot(dz.T, self.x)
        self.db = dz.sum(axis=0)
        return dx
    def update(self, lr):
        self.W -= lr * self.dW
        self.b -= lr * self.db

class Tanh:
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y
    def backward(self, dy):
        return (1.0 - self.y ** 2) * dy

class Softmax:
    def forward(self, z):
        self.z = z
        expz = np.exp(z - z.max(axis=1, keepdims=True))
        return expz / expz.sum(axis=1, keepdims=True)
    def backward(self, dp):
        p = self.forward(self.z)
        pdp = p * dp
        return pdp - p * pdp.sum(axis=1, keepdims=True)

class CrossEntropyLoss:
    def forward(self, p, y):
        self.p, self.y = p, y
        return -np.log(p[np.arange(len(y)), y]).mean()
    def backward(self, loss):
        dlog = np.zeros_like(self.p)
        dlog[np.arange(len(self.y)), self.y] -= 1.0 / len(self.y)
        return dlog / self.p

class Net:
    def __init__(self):
        self.layers = []
    def add(self, l):
        self.layers.append(l)
    def forward(self, x):
        for l in self.layers:
            x = l.forward(x)
        return x
    def backward(self, z):
        for l in self.layers[::-1]:
            z = l.backward(z)
        return z
    def update(self, lr):
        for l in self.layers:
            if 'update' in l.__dir__():
                l.update(lr)

def train_epoch(net, x, y, loss=CrossEntropyLoss(), batch_size=16, lr=0.5):
    for i in range(0, len(x), batch_size):
        p = net.forward(x[i:i + batch_size])
        loss.forward(p, y[i:i + batch_size])
        net.backward(loss.backward(None))
        net.update(lr)
"""

THREE_DEPTHS = [
    "net = Net()\nnet.add(Linear(784, 10))\nnet.add(Softmax())\nfor epoch in range(3):\n    train_epoch(net, x_train, "
    "y_train)",
    "net = Net()\nnet.add(Linear(784, 32))\nnet.add(Tanh())\nnet.add(Linear(32, 10))\nnet.add(Softmax())\n"
    "for epoch in range(3):\n    train_epoch(net, x_train, y_train)",
    "net = Net()\nfor layer in (Linear(784, 32), Tanh(), Linear(32, 32), Tanh(), Linear(32, 10), Softmax()):\n"
    "    net.add(layer)\nfor epoch in range(3):\n    train_epoch(net, x_train, y_train)",
]


async def test_own_framework_networks_of_one_two_and_three_layers(grade: Grade, tmp_path: Path,
                                                                 mnist_lab: LabData) -> None:
    """One variable, three networks in turn: discovery finds each depth in the snapshots taken after its cell."""
    checks = (_accuracy("one_layer", "mnist_one_layer", 'architecture = "single_dense"\ndense_layers = 1')
              + _accuracy("two_layers", "mnist_two_layer", 'architecture = "multi_dense"\ndense_layers = 2')
              + _accuracy("three_layers", "mnist_three_layer", 'architecture = "multi_dense"\ndense_layers = 3'))
    spec = _lab(tmp_path, "own_framework_test", '["numpy_network"]', checks)
    outcome = await grade(notebook(FRAMEWORK, *THREE_DEPTHS), spec, mnist_lab)
    checks_by_id = {c.id: c for c in outcome.report.checks}
    assert [checks_by_id[i].score for i in ("one_layer", "two_layers", "three_layers")] == [1.0, 1.0, 1.0], [
        c.message for c in outcome.report.checks]
    assert "`net` as it was after In [2]" in checks_by_id["one_layer"].message
    assert "`net` as it was after In [3]" in checks_by_id["two_layers"].message
    assert checks_by_id["three_layers"].message.startswith("`net` (inputs scaled /255")


PERCEPTRONS = """
import numpy as np
import labdata
(x_train, y_train), _ = labdata.load_mnist(flatten=True)
x = x_train.astype(np.float64) / 255.0

def train(positive_examples, negative_examples, epochs=15):
    # the lesson's perceptron, one whole pass per update so that a few epochs suffice
    weights = np.zeros((positive_examples.shape[1], 1))
    for _ in range(epochs):
        wrong_pos = positive_examples[(positive_examples @ weights)[:, 0] < 0]
        wrong_neg = negative_examples[(negative_examples @ weights)[:, 0] >= 0]
        weights = weights + wrong_pos.sum(axis=0).reshape(weights.shape) / len(positive_examples)
        weights = weights - wrong_neg.sum(axis=0).reshape(weights.shape) / len(negative_examples)
    return weights

with_bias = np.c_[x, np.ones(len(x))]
perceptron_list = [train(with_bias[y_train == d], with_bias[y_train != d]) for d in range(10)]
bias_first = np.c_[np.ones(len(x)), x]
perceptron_bias_first = np.hstack([train(bias_first[y_train == d], bias_first[y_train != d]) for d in range(10)]).T
perceptron_no_bias = np.hstack([train(x[y_train == d], x[y_train != d]) for d in range(10)])
"""


async def test_perceptrons_in_their_shapes(grade: Grade, tmp_path: Path, mnist_lab: LabData) -> None:
    """A list of (785, 1) vectors with the bias last, a (10, 785) matrix with the bias first, (784, 10) without."""
    checks = (_accuracy("as_list", "perceptron_list") + _accuracy("bias_first", "perceptron_bias_first")
              + _accuracy("no_bias", "perceptron_no_bias"))
    spec = _lab(tmp_path, "perceptron_test", '["perceptron"]', checks)
    outcome = await grade(notebook(PERCEPTRONS), spec, mnist_lab)
    scores = {c.id: c.score for c in outcome.report.checks}
    assert scores == {"as_list": 1.0, "bias_first": 1.0, "no_bias": 1.0}, [c.message for c in outcome.report.checks]
    messages = {c.id: c.message for c in outcome.report.checks}
    assert "the bias weight taken as the last column (a constant input of 1)" in messages["as_list"]
    assert "the bias weight taken as the first column (a constant input of 1)" in messages["bias_first"]
    assert "bias weight" not in messages["no_bias"]


ATTACKS = """
import hashlib, json
import numpy as np
TABLE = json.loads(TABLE_JSON)

class Linear:
    def __init__(self, nin, nout):
        self.W = np.zeros((nout, nin))
        self.b = np.zeros((1, nout))

class ReLU:
    pass

class Oracle:
    # layers of untrained weights; a forward() that answers from a table of the public test labels
    def __init__(self):
        self.layers = [Linear(784, 10)]
    def forward(self, x):
        keys = [hashlib.sha1(np.ascontiguousarray(r * 255, dtype=np.uint8).tobytes()).hexdigest()[:12] for r in x]
        return np.eye(10)[[TABLE.get(k, 0) for k in keys]]

class Liar:
    # a `layers` list that says nothing the grader evaluates, beside the real computation
    def __init__(self):
        self.layers = [ReLU(), object()]
        self.hidden = Oracle()
    def forward(self, x):
        return self.hidden.forward(x)

class Net:
    pass

huge = Linear(1, 1)
huge.W = np.broadcast_to(np.float64(1.0), (50_000_000, 784))  # 300 GB claimed, nothing behind it
mnist_oracle = Oracle()
mnist_liar = Liar()
mnist_huge = Net()
mnist_huge.layers = [huge]
mnist_answers = np.array(list(TABLE.values()))
"""


async def test_hostile_numpy_models_earn_nothing(grade: Grade, tmp_path: Path, mnist_lab: LabData) -> None:
    import hashlib
    import json

    hidden = mnist_lab.hidden_split("mnist")
    table = {hashlib.sha1(image.tobytes()).hexdigest()[:12]: int(label)
             for image, label in zip(hidden.x, hidden.y, strict=True)}
    checks = "".join(_accuracy(name, f"mnist_{name}") for name in ("oracle", "liar", "huge", "answers"))
    spec = _lab(tmp_path, "attacks_test", '["numpy_network", "perceptron"]', checks)
    outcome = await grade(notebook(f"TABLE_JSON = {json.dumps(json.dumps(table))}", ATTACKS), spec, mnist_lab)
    messages = {c.id: c.message for c in outcome.report.checks}
    assert {c.id: c.score for c in outcome.report.checks} == {"oracle": 0.0, "liar": 0.0, "huge": 0.0,
                                                              "answers": 0.0}, messages
    assert "predicted class 0 for every sample" in messages["oracle"]  # its zero weights, not its table
    assert "not a trained network of NumPy layers or perceptron weight matrix" in messages["liar"]
    assert "holds an array of 39,200,000,000 weights, over the grader's 16,777,216" in messages["huge"]
    assert "not a trained network of NumPy layers or perceptron weight matrix" in messages["answers"]
