"""The own-framework lab graded as the curriculum's students wrote it (issue 22): the course's pickle read from
`../mnist.pkl`, a network kept as Nielsen's lists of weight and bias arrays (column vectors, sigmoid), the lesson's
`np.NAN`, and the x/256 scaling the notebook applied. Real sandboxed kernels."""

from __future__ import annotations

from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.lab_tasks.bundled import grade_written, scores

LAB = "own_framework"

NETWORK = '''
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Network:
    def __init__(self, sizes):
        self.num_layers, self.sizes = len(sizes), sizes
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]
        self.weights = [np.random.randn(y, x) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])]

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def update_mini_batch(self, x, y, eta):
        activations, zs = [x], []
        for b, w in zip(self.biases, self.weights):
            zs.append(np.dot(w, activations[-1]) + b)
            activations.append(sigmoid(zs[-1]))
        delta = (activations[-1] - y) * activations[-1] * (1 - activations[-1])
        nabla_w, nabla_b = [None] * len(self.weights), [None] * len(self.biases)
        for layer in range(1, self.num_layers):
            if layer > 1:
                s = sigmoid(zs[-layer])
                delta = np.dot(self.weights[-layer + 1].T, delta) * s * (1 - s)
            nabla_w[-layer] = np.dot(delta, activations[-layer - 1].T)
            nabla_b[-layer] = delta.sum(axis=1, keepdims=True)
        m = x.shape[1]
        self.weights = [w - eta / m * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - eta / m * nb for b, nb in zip(self.biases, nabla_b)]

    def SGD(self, X, Y, epochs, batch_size, eta):
        best = np.NAN  # as the lesson's train_and_plot starts, written for NumPy 1
        for epoch in range(epochs):
            order = np.random.permutation(X.shape[1])
            for k in range(0, len(order), batch_size):
                self.update_mini_batch(X[:, order[k:k + batch_size]], Y[:, order[k:k + batch_size]], eta)
        return best
'''


@pytest.mark.slow
def test_nielsens_network_on_the_course_pickle_is_read_from_its_weight_and_bias_lists(mnist_workdir: Path,
                                                                                     tmp_path: Path) -> None:
    nb = new_notebook(cells=[new_code_cell(c) for c in (
        "import pickle\nimport numpy as np\nnp.random.seed(0)\nwith open('../mnist.pkl', 'rb') as f:\n"
        "    MNIST = pickle.load(f)",
        "features = MNIST['Train']['Features'].astype(np.float32) / 256\nlabels = MNIST['Train']['Labels']\n"
        "targets = np.eye(10)[labels].T",
        NETWORK,
        "net = Network([784, 40, 10])\nnet.SGD(features.T, targets, epochs=2, batch_size=20, eta=3.0)\n"
        "print((net.feedforward(features[:2000].T).argmax(axis=0) == labels[:2000]).mean())",
    )])
    path = tmp_path / "nielsen.ipynb"
    report = grade_written(mnist_workdir, LAB, nb, path)
    assert report["note"] is None, report["note"]
    by_id = {check["id"]: check for check in report["checks"]}
    assert scores(report)["two_layer_accuracy"] > 0, report["checks"]
    assert by_id["two_layer_accuracy"]["message"].startswith(
        "`net` (inputs divided by 256 (observed: the notebook's `features` holds its training rows so)) reached "
        "accuracy 0.9"), by_id["two_layer_accuracy"]["message"]
