"""The NumPy model kinds without a kernel: networks of a student's own framework (04-OwnFramework) and perceptron
weights (03-Perceptron), exported by the same source text the kernel runs and evaluated by the clean evaluator.

Labels here are what a known network predicts, so the grader's predictions must equal that network's on hidden inputs:
the orientation of square layers, a perceptron's bias column and the preprocessing are all recovered from weights and
visible data, never from the student's forward() on hidden inputs."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from grader.errors import NetworkRefused
from grader.evaluation.evaluator import DatasetInputs, SlotRequest, evaluate
from grader.evaluation.harness_output import HarnessExport, read_harness_output
from grader.evaluation.in_kernel import harness_source
from grader.evaluation.network import build_network
from grader.evaluation.preprocessing import named_preprocessings
from grader.evaluation.result import EvaluationResult

RNG = np.random.default_rng(1)
IMAGES = RNG.integers(0, 256, (400, 28, 28)).astype(np.uint8)
HIDDEN = RNG.integers(0, 256, (200, 28, 28)).astype(np.uint8)
NUMPY_KINDS = ("numpy_network", "perceptron")


# ---------------------------------------------------------------- what students write (the curriculum's shapes)

class Linear:
    """The curriculum's layer: W (nout, nin), b (1, nout), forward x @ W.T + b."""

    def __init__(self, nin: int, nout: int, dtype: Any = np.float64) -> None:
        self.W = RNG.normal(0, 1.0 / np.sqrt(nin), (nout, nin)).astype(dtype)
        self.b = RNG.normal(0, 0.1, (1, nout)).astype(dtype)
        self.dW = np.zeros_like(self.W)  # gradients kept beside the weights

    def forward(self, x: Any) -> Any:
        self.x = x
        return np.dot(x, self.W.T) + self.b


class Dense:
    """The other orientation: W (nin, nout), forward x @ W + b, biases 1-D."""

    def __init__(self, nin: int, nout: int) -> None:
        self.weights = RNG.normal(0, 1.0 / np.sqrt(nin), (nin, nout))
        self.biases = RNG.normal(0, 0.1, nout)

    def forward(self, x: Any) -> Any:
        return x @ self.weights + self.biases


class Tanh:
    def forward(self, x: Any) -> Any:
        return np.tanh(x)


class ReLU:
    def forward(self, x: Any) -> Any:
        return np.maximum(x, 0)


class Softmax:
    def forward(self, z: Any) -> Any:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


class CrossEntropyLoss:
    def forward(self, p: Any, y: Any) -> Any:
        return -np.log(p[np.arange(len(y)), y]).mean()


class Net:
    """The curriculum's network: a `layers` list and add()."""

    def __init__(self) -> None:
        self.layers: list[Any] = []

    def add(self, layer: Any) -> None:
        self.layers.append(layer)

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer.forward(x)
        return x


class TwoLayer:
    """Layers kept as attributes, in the order forward() uses them."""

    def __init__(self) -> None:
        self.fc1, self.act, self.fc2 = Linear(784, 20), ReLU(), Linear(20, 10)
        self.loss = CrossEntropyLoss()

    def forward(self, x: Any) -> Any:
        return self.fc2.forward(self.act.forward(self.fc1.forward(x)))


class Layer_Dense:  # the class names of "Neural Networks from Scratch", as students copy them
    def __init__(self, n_inputs: int, n_neurons: int) -> None:
        self.weights = 0.05 * RNG.normal(size=(n_inputs, n_neurons))
        self.biases = 0.1 * RNG.normal(size=(1, n_neurons))

    def forward(self, inputs: Any, training: bool) -> None:
        self.output = np.dot(inputs, self.weights) + self.biases


class Activation_ReLU:
    def forward(self, inputs: Any, training: bool) -> None:
        self.output = np.maximum(0, inputs)


class Activation_Softmax_Loss_CategoricalCrossentropy:  # softmax and loss in one: skipped, argmax unchanged
    def forward(self, inputs: Any, y_true: Any) -> None:
        self.output = inputs


class Layer_Input:
    def forward(self, inputs: Any, training: bool) -> None:
        self.output = inputs


class Model:
    def __init__(self) -> None:
        self.input_layer = Layer_Input()
        self.layers: list[Any] = [Layer_Dense(784, 32), Activation_ReLU(), Layer_Dense(32, 10)]
        self.loss = Activation_Softmax_Loss_CategoricalCrossentropy()

    def forward(self, X: Any, training: bool = False) -> Any:
        self.input_layer.forward(X, training)
        output = self.input_layer.output
        for layer in self.layers:
            layer.forward(output, training)
            output = layer.output
        return output


def net_of(*layers: Any) -> Net:
    net = Net()
    for layer in layers:
        net.add(layer)
    return net


# ---------------------------------------------------------------- running the harness and the evaluator

def export(harness: dict[str, Any], tmp_path: Path, user_ns: dict[str, Any], slots: tuple[str, ...] = (),
           kinds: tuple[str, ...] = NUMPY_KINDS) -> HarnessExport:
    np.save(tmp_path / "sample.npy", IMAGES)
    request = {"nonce": "n" * 32, "output": str(tmp_path / "out.json"),
               "samples": {"mnist": str(tmp_path / "sample.npy")}, "classes": {"mnist": 10},
               "slots": [{"name": s, "dataset": "mnist"} for s in slots], "histories": [],
               "model_kinds": list(kinds)}
    (tmp_path / "request.json").write_text(json.dumps(request))
    harness["run"](str(tmp_path / "request.json"), user_ns)
    return read_harness_output(tmp_path / "out.json", "n" * 32)


def flat(x: Any) -> Any:
    return x.reshape(len(x), -1).astype(np.float64) / 255.0


def grade(exported: HarnessExport, labels: Any, *slots: tuple[str, str]) -> EvaluationResult:
    data = {"mnist": DatasetInputs(hidden_x=HIDDEN, sample_x=IMAGES, sample_y=labels)}
    return evaluate(exported, [SlotRequest(name, "mnist", architecture) for name, architecture in slots], [], data)


def predictions_of(model: Any, x: Any) -> list[int]:
    return [int(p) for p in np.asarray(model.forward(flat(x))).argmax(axis=1)]


# ---------------------------------------------------------------- NumPy networks

@pytest.mark.parametrize(("build", "dense"), [
    (lambda: net_of(Linear(784, 10), Softmax()), 1),
    (lambda: net_of(Linear(784, 30), Tanh(), Linear(30, 10), Softmax()), 2),
    (lambda: net_of(Dense(784, 16), ReLU(), Dense(16, 16), Tanh(), Dense(16, 10)), 3),  # square (in, out)
    (lambda: net_of(Linear(784, 16), Tanh(), Linear(16, 16), Tanh(), Linear(16, 10), Softmax()), 3),
    (TwoLayer, 2),
    (lambda: Linear(784, 10), 1),  # a lone layer is a one-layer network
    (Model, 2),
], ids=["one-layer", "two-layer", "square-in-out", "three-layer", "attributes", "lone-layer", "nnfs-model"])
def test_a_numpy_network_is_evaluated_from_its_weights(harness: dict[str, Any], tmp_path: Path, build: Any,
                                                       dense: int) -> None:
    net = build()
    exported = export(harness, tmp_path, {"net": net}, slots=("net",))
    entry = exported.networks[0]
    assert (entry.framework, entry.error, entry.dtype) == ("numpy_network", None, "float64")
    result = grade(exported, np.asarray(predictions_of(net, IMAGES)), ("net", "any"))
    model = result.model("net")
    assert model is not None and model.error is None, model
    assert model.predictions == predictions_of(net, HIDDEN)
    assert (model.preprocessing, model.train_accuracy) == ("scaled_255", None)
    assert model.facts is not None and model.facts.dense_layers == dense
    assert model.facts.framework == "numpy_network" and model.facts.describe().startswith("NumPy network")


def test_square_layers_read_against_the_students_forward(harness: dict[str, Any], tmp_path: Path) -> None:
    """Both readings of a square (in, out) layer chain; the export takes the one forward() computes on visible rows."""
    net = net_of(Dense(784, 16), ReLU(), Dense(16, 16), ReLU(), Dense(16, 10))
    exported = export(harness, tmp_path, {"net": net})
    arrays = {key: payload.decode() for key, payload in exported.arrays.items()}
    weights = [arrays[op.weight] for op in exported.networks[0].ops if op.op == "linear"]
    assert [w.shape for w in weights] == [(16, 784), (16, 16), (10, 16)]
    assert np.array_equal(weights[1], net.layers[2].weights.T)


class LossNet(Net):
    """A forward() that needs the labels (it returns the loss), as some students write it: it cannot settle a square
    layer's orientation, so the evaluator tries both on the visible sample."""

    def forward(self, x: Any, y: Any = None) -> Any:
        if y is None:
            raise TypeError("forward() needs the labels")
        return super().forward(x)

    def predict(self, x: Any) -> Any:
        return super().forward(x)


def test_square_layers_forward_cannot_settle_are_read_by_accuracy(harness: dict[str, Any], tmp_path: Path) -> None:
    net = LossNet()
    for layer in (Dense(784, 16), Tanh(), Dense(16, 16), Tanh(), Dense(16, 10)):
        net.add(layer)
    exported = export(harness, tmp_path, {"net": net}, slots=("net",))
    assert [getattr(op, "transposable", None) for op in exported.networks[0].ops] == [False, None, True, None, False]
    labels = np.asarray(net.predict(flat(IMAGES))).argmax(axis=1)
    model = grade(exported, labels, ("net", "any")).model("net")
    assert model is not None and model.predictions == [int(p) for p in net.predict(flat(HIDDEN)).argmax(axis=1)]
    assert model.preprocessing_words == ("inputs scaled /255, square weight matrices read as inputs times weights "
                                         "(x @ W)")


def test_dense_layers_count_discovery_per_slot(harness: dict[str, Any], tmp_path: Path) -> None:
    """The own-framework lab's 1-, 2- and 3-layer slots each get the network of that depth, by discovery."""
    nets = {"one": net_of(Linear(784, 10)), "two": net_of(Linear(784, 24), Tanh(), Linear(24, 10)),
            "three": net_of(Linear(784, 24), Tanh(), Linear(24, 24), Tanh(), Linear(24, 10))}
    exported = export(harness, tmp_path, dict(nets))
    labels = np.asarray(predictions_of(nets["three"], IMAGES))
    result = grade(exported, labels, ("slot3", "multi_dense:3"), ("slot1", "single_dense:1"),
                   ("slot2", "multi_dense:2"))
    assert {name: (result.model(name) or pytest.fail()).source for name in ("slot1", "slot2", "slot3")} == {
        "slot1": "`one`", "slot2": "`two`", "slot3": "`three`"}
    assert (result.model("slot3") or pytest.fail()).predictions == predictions_of(nets["three"], HIDDEN)


def test_a_float32_network_stays_float32(harness: dict[str, Any], tmp_path: Path) -> None:
    net = net_of(Linear(784, 10, dtype=np.float32))
    exported = export(harness, tmp_path, {"net": net})
    assert exported.networks[0].dtype == "float32"


def test_numpy_networks_are_found_only_where_the_lab_declares_them(harness: dict[str, Any], tmp_path: Path) -> None:
    net = net_of(Linear(784, 10), Softmax())
    exported = export(harness, tmp_path, {"net": net, "mnist_model": net}, slots=("mnist_model",),
                      kinds=("torch", "keras"))
    assert exported.networks == []
    slot = exported.slot("mnist_model")
    assert slot is not None and slot.error == "`mnist_model` is a Net, not a trained torch.nn.Module or keras.Model"


def test_a_layer_the_grader_does_not_know_is_refused_with_the_reason(harness: dict[str, Any], tmp_path: Path) -> None:
    class Swish:
        def forward(self, x: Any) -> Any:
            return x / (1 + np.exp(-x))

    exported = export(harness, tmp_path, {"net": net_of(Linear(784, 20), Swish(), Linear(20, 10))}, slots=("net",))
    assert exported.networks[0].error == (
        "its layer 1 (`Swish`) is neither a dense layer with weight arrays nor one of the activations the grader "
        "evaluates (tanh, relu, sigmoid, softmax, log-softmax, leaky relu, flatten, dropout)")
    result = grade(exported, np.zeros(len(IMAGES), np.int64), ("net", "any"))
    model = result.model("net")
    assert model is not None and model.predictions is None
    assert model.error is not None and model.error.startswith("could not be evaluated from its layers: its layer 1")


class MaxPerGroup:
    """A maximum over each of 10 groups of the previous layer's outputs (a nearest-template vote per class)."""

    def forward(self, x: Any) -> Any:
        return x.reshape(len(x), 10, -1).max(axis=2)


class NearestLabel:
    """The label stored beside the best-scoring row."""

    def __init__(self, rows: int) -> None:
        self.labels = np.arange(rows) % 10

    def forward(self, x: Any) -> Any:
        return self.labels[np.argmax(x, axis=1)]


@pytest.mark.parametrize(("select", "ops"), [(MaxPerGroup(), ["linear", "reshape", "reduce_max"]),
                                             (NearestLabel(40), ["linear", "gather", "reshape", "reduce_max"])])
def test_a_numpy_selection_layer_is_read_as_the_operations_it_computes(harness: dict[str, Any], tmp_path: Path,
                                                                       select: Any, ops: list[str]) -> None:
    """Read on visible inputs, exported as standard operations; a lab of convolutional networks computes them (and
    predicts what the student's forward() does), a dense lab refuses them (tests/grader/evaluation/test_op_policy.py,
    tests/lab_tasks/own_framework/test_attacks.py)."""
    net = net_of(Linear(784, 40), select)

    def predicted(x: Any) -> list[int]:
        out = np.asarray(net.forward(flat(x)))
        return [int(p) for p in (out if out.ndim == 1 else out.argmax(axis=1))]

    exported = export(harness, tmp_path, {"net": net}, slots=("net",))
    assert [op.op for op in exported.networks[0].ops] == ops
    assert {op.layer for op in exported.networks[0].ops[1:]} == {type(select).__name__}
    model = grade(exported, np.array(predicted(IMAGES)), ("net", "any")).model("net")
    assert model is not None and model.predictions == predicted(HIDDEN)


class BareMLP:
    """Numbered weight arrays on the network itself; the activations exist only in forward()."""

    def __init__(self, hidden: str) -> None:
        self.W1, self.b1 = RNG.normal(0, 0.05, (784, 24)), np.zeros(24)
        self.params = {"W2": RNG.normal(0, 0.3, (24, 24)), "b2": RNG.normal(0, 0.1, 24)}
        self.W3, self.b3 = RNG.normal(0, 0.3, (24, 10)), RNG.normal(0, 0.1, 10)
        self.hidden = hidden

    def feedforward(self, x: Any) -> Any:
        activations: dict[str, Callable[[Any], Any]] = {"relu": lambda v: np.maximum(v, 0), "tanh": np.tanh,
                                                        "square": np.square}
        act = activations[self.hidden]
        z = act(act(x @ self.W1 + self.b1) @ self.params["W2"] + self.params["b2"]) @ self.W3 + self.b3
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    forward = feedforward


@pytest.mark.parametrize("hidden", ["relu", "tanh"])
def test_bare_weight_arrays_take_the_activations_forward_computes(harness: dict[str, Any], tmp_path: Path,
                                                                  hidden: str) -> None:
    net = BareMLP(hidden)
    exported = export(harness, tmp_path, {"mlp": net}, slots=("mlp",))
    assert [op.op for op in exported.networks[0].ops] == ["linear", hidden, "linear", hidden, "linear", "softmax"]
    result = grade(exported, np.asarray(predictions_of(net, IMAGES)), ("mlp", "multi_dense:3"))
    model = result.model("mlp")
    assert model is not None and model.predictions == predictions_of(net, HIDDEN)


def test_bare_weight_arrays_with_a_forward_of_no_standard_chain_are_refused(harness: dict[str, Any],
                                                                            tmp_path: Path) -> None:
    exported = export(harness, tmp_path, {"mlp": BareMLP("square")}, slots=("mlp",))
    assert exported.networks[0].error == (
        "it keeps bare weight arrays and its forward() on visible inputs computes no chain of them with standard "
        "activations (relu, tanh, sigmoid, leaky relu; softmax at the end)")


# ---------------------------------------------------------------- attacks: weights decide, never forward()

class LyingReLU:
    """Called ReLU by its class name's words, computes nothing: the grader computes a real ReLU."""

    def forward(self, x: Any) -> Any:
        return x


LyingReLU.__name__ = "ReLU"


class Oracle:
    """A forward() that answers from a table of labels (as if it had seen the hidden ones): never asked."""

    def __init__(self, answers: Any) -> None:
        self.layers = [Linear(784, 10)]
        self.answers = answers

    def forward(self, x: Any) -> Any:
        return np.eye(10)[self.answers[:len(x)]]


def test_predictions_come_from_standard_operations_not_the_students_classes(harness: dict[str, Any],
                                                                           tmp_path: Path) -> None:
    lying = net_of(Linear(784, 24), LyingReLU(), Linear(24, 10))
    honest = net_of(lying.layers[0], ReLU(), lying.layers[2])
    exported = export(harness, tmp_path, {"lying": lying}, slots=("lying",))
    result = grade(exported, np.asarray(predictions_of(honest, IMAGES)), ("lying", "any"))
    model = result.model("lying")
    assert model is not None and model.predictions == predictions_of(honest, HIDDEN)
    assert model.predictions != predictions_of(lying, HIDDEN)


def test_a_forward_that_looks_up_answers_earns_only_what_its_weights_compute(harness: dict[str, Any],
                                                                             tmp_path: Path) -> None:
    oracle = Oracle(RNG.integers(0, 10, 1000))
    exported = export(harness, tmp_path, {"oracle": oracle}, slots=("oracle",))
    result = grade(exported, np.asarray(predictions_of(oracle, IMAGES)), ("oracle", "any"))
    model = result.model("oracle")
    assert model is not None and model.predictions is not None
    chosen = next(p for p in named_preprocessings(IMAGES) if p.name == model.preprocessing)
    weights_say = net_of(*oracle.layers).forward(chosen(HIDDEN).reshape(len(HIDDEN), -1)).argmax(axis=1)
    assert model.predictions == [int(p) for p in weights_say]
    assert model.predictions != [int(p) for p in oracle.answers[:len(HIDDEN)]]


def test_absurd_arrays_are_refused_before_they_are_copied(harness: dict[str, Any], tmp_path: Path) -> None:
    huge = Linear(784, 10)
    huge.W = np.broadcast_to(np.float64(0.5), (40_000_000, 784))  # 250 GB claimed, no memory behind it
    layered = Net()
    layered.layers = [Linear(784, 10)] * 100_000
    exported = export(harness, tmp_path, {"huge": net_of(huge), "layered": layered}, slots=("huge", "layered"))
    assert exported.networks[0].error == (
        "its layer 0 (`Linear`) holds an array of 31,360,000,000 weights, over the grader's 16,777,216")
    assert exported.slot("layered") is not None
    assert (exported.slot("layered") or pytest.fail()).error == (
        "`layered` is a Net, not a trained network of NumPy layers or perceptron weight matrix")


# ---------------------------------------------------------------- perceptrons

TEACHER = RNG.normal(0, 1, (10, 785))


class MultiClassPerceptron:
    """Weights kept in an object, (features + 1, classes), as several public solutions do."""

    def __init__(self, w: Any) -> None:
        self.w = w
        self.num_class = w.shape[1]


def perceptron_labels(x: Any, bias: str) -> Any:
    inputs = flat(x)
    if bias == "none":
        return (inputs @ TEACHER[:, :784].T).argmax(axis=1)
    columns, constant = (TEACHER[:, 1:], TEACHER[:, 0]) if bias == "first" else (TEACHER[:, :-1], TEACHER[:, -1])
    return (inputs @ columns.T + constant * 100).argmax(axis=1)  # a bias large enough to matter


def perceptron_weights(bias: str) -> Any:
    if bias == "none":
        return TEACHER[:, :784]
    if bias == "first":
        return np.concatenate([TEACHER[:, :1] * 100, TEACHER[:, 1:]], axis=1)
    return np.concatenate([TEACHER[:, :-1], TEACHER[:, -1:] * 100], axis=1)


@pytest.mark.parametrize(("shape", "bias"), [
    ("matrix", "last"), ("matrix", "first"), ("matrix", "none"), ("transposed", "last"), ("columns", "last"),
    ("vectors", "first"), ("stacked_columns", "last"), ("by_digit", "none"), ("object", "last"),
])
def test_a_perceptron_in_each_of_its_shapes(harness: dict[str, Any], tmp_path: Path, shape: str, bias: str) -> None:
    matrix = perceptron_weights(bias)
    value = {"matrix": matrix, "transposed": matrix.T, "columns": [row.reshape(-1, 1) for row in matrix],
             "vectors": list(matrix), "stacked_columns": matrix[:, :, None],
             "by_digit": {digit: row for digit, row in enumerate(matrix)},
             "object": MultiClassPerceptron(matrix.T)}[shape]
    exported = export(harness, tmp_path, {"weights": value, "x_train": IMAGES.reshape(400, 784)})
    assert [n.framework for n in exported.networks] == ["perceptron"]
    result = grade(exported, perceptron_labels(IMAGES, bias), ("perceptron_model", "single_dense:1"))
    model = result.model("perceptron_model")
    assert model is not None and model.error is None, model
    assert model.predictions == [int(p) for p in perceptron_labels(HIDDEN, bias)]
    assert model.facts is not None and (model.facts.dense_layers, model.facts.input_size) == (1, 784)
    words = {"none": "", "first": ", the bias weight taken as the first column (a constant input of 1)",
             "last": ", the bias weight taken as the last column (a constant input of 1)"}[bias]
    assert model.preprocessing_words == f"inputs scaled /255{words}"


def test_arrays_that_are_no_perceptron_are_not_candidates(harness: dict[str, Any], tmp_path: Path) -> None:
    class Unreadable:
        weights = perceptron_weights("none")

        def __getattribute__(self, name: str) -> Any:
            if name == "__class__":
                return object.__getattribute__(self, name)
            raise RuntimeError("no")

    user_ns = {"x_train": IMAGES.reshape(400, 784).astype(np.float32), "confusion": np.zeros((10, 10)),
               "pixels": np.zeros(784), "one_class": np.zeros((785, 1)), "labels": np.arange(10),
               "mixed_keys": {1: "a", "b": 2}, "unreadable": Unreadable(), "slice": np.zeros((10, 784))[:, :5],
               "weights": perceptron_weights("last")}
    exported = export(harness, tmp_path, user_ns)
    assert [n.label for n in exported.networks] == ["`weights`"]
    assert export(harness, tmp_path, user_ns, kinds=("numpy_network",)).networks == []


def test_a_lab_harness_carries_only_the_exporters_of_its_kinds() -> None:
    """The harness runs in whatever memory the notebook left: a PyTorch/Keras lab's carries no NumPy exporter."""
    frameworks = harness_source(("torch", "keras"))
    assert "def export_torch(" in frameworks and "def export_keras(" in frameworks
    assert "def export_numpy_network(" not in frameworks
    numpy_only = harness_source(("numpy_network",))
    assert "def export_numpy_network(" in numpy_only and "def export_torch(" not in numpy_only
    assert "def export_torch(" not in harness_source(("perceptron", "keras"))


def test_a_perceptron_operation_is_validated_like_the_others() -> None:
    payload = {"dtype": "float64", "shape": [10, 785],
               "data": base64.b64encode(np.zeros((10, 785), "<f8").tobytes()).decode()}

    def exported(bias: str) -> HarnessExport:
        return HarnessExport.model_validate({
            "nonce": "n", "arrays": {"a0": payload}, "networks": [
                {"id": 0, "label": "`w`", "framework": "perceptron", "dtype": "float64",
                 "ops": [{"op": "perceptron", "weight": "a0", "bias_feature": bias}]}]})

    with pytest.raises(ValidationError, match="bias_feature"):
        exported("middle")
    network = build_network(exported("none"), exported("none").networks[0])
    with pytest.raises(NetworkRefused, match=r"^a perceptron of 785 inputs given \(784,\)$"):
        network.scores(np.zeros((3, 784)))
    assert network.scores(np.zeros((3, 785))).shape == (3, 10)
    assert [v.reading for v in build_network(exported("last"), exported("last").networks[0]).variants()] == [
        "the bias weight taken as the last column (a constant input of 1)",
        "the bias weight taken as the first column (a constant input of 1)"]


# ---------------------------------------------------------------- weight forms students keep (issue 22)

class NielsenNetwork:
    """Nielsen's `Network`: lists of weight (out, in) and bias (out, 1) arrays, feedforward on one column vector."""

    def __init__(self, sizes: list[int]) -> None:
        self.num_layers, self.sizes = len(sizes), sizes
        self.biases = [RNG.normal(0, 1, (y, 1)) for y in sizes[1:]]
        self.weights = [RNG.normal(0, 1 / np.sqrt(x), (y, x)) for x, y in itertools.pairwise(sizes)]

    def feedforward(self, a: Any) -> Any:
        for b, w in zip(self.biases, self.weights, strict=True):
            a = 1.0 / (1.0 + np.exp(-(np.dot(w, a) + b)))
        return a


def nielsen_predictions(net: NielsenNetwork, x: Any) -> list[int]:
    return [int(p) for p in net.feedforward(flat(x).T).argmax(axis=0)]


class Perceptron:
    """One binary perceptron per digit, kept in a list: `weights` and a scalar `bias`."""

    def __init__(self, weights: Any, bias: float) -> None:
        self.weights, self.bias = weights, bias


def test_an_mlp_kept_as_lists_of_weight_and_bias_arrays_is_read(harness: dict[str, Any], tmp_path: Path) -> None:
    net = NielsenNetwork([784, 30, 10])
    exported = export(harness, tmp_path, {"net": net}, slots=("net",))
    entry = exported.networks[0]
    assert (entry.framework, entry.error) == ("numpy_network", None)
    assert [op.op for op in entry.ops] == ["linear", "sigmoid", "linear", "sigmoid"]
    result = grade(exported, np.asarray(nielsen_predictions(net, IMAGES)), ("net", "multi_dense:2"))
    model = result.model("net")
    assert model is not None and model.error is None and model.predictions == nielsen_predictions(net, HIDDEN)


def test_a_list_of_perceptron_objects_is_one_perceptron_per_class(harness: dict[str, Any], tmp_path: Path) -> None:
    matrix = perceptron_weights("last")
    perceptrons = [Perceptron(row[:-1], float(row[-1])) for row in matrix]
    exported = export(harness, tmp_path, {"perceptrons": perceptrons, "x_train": IMAGES.reshape(400, 784)})
    assert [(n.framework, n.label) for n in exported.networks] == [("perceptron", "`perceptrons`")]
    result = grade(exported, perceptron_labels(IMAGES, "last"), ("perceptron_model", "single_dense:1"))
    model = result.model("perceptron_model")
    assert model is not None and model.error is None, model
    assert model.predictions == [int(p) for p in perceptron_labels(HIDDEN, "last")]
    assert model.preprocessing_words == "inputs scaled /255, the bias weight taken as the last column (a constant " \
                                        "input of 1)"
    unbiased = [Perceptron(row, 0.0) for row in perceptron_weights("none")]
    odd = [Perceptron(row, "high") for row in perceptron_weights("none")]  # a bias that is no number: not read
    assert [n.label for n in export(harness, tmp_path, {"unbiased": unbiased, "odd": odd}).networks] == ["`unbiased`"]


# ---------------------------------------------------------------- preprocessing observed, not guessed (issue 22)

def test_the_training_arrays_in_the_namespace_decide_the_preprocessing(harness: dict[str, Any],
                                                                       tmp_path: Path) -> None:
    """A perceptron trained on x/256 (the course's habit), with labels that per-feature standardisation would fit
    better: the grader applies what the notebook did, and says so."""
    matrix = perceptron_weights("none")
    standardised = (flat(IMAGES) * 255 - (flat(IMAGES) * 255).mean(axis=0)) / ((flat(IMAGES) * 255).std(axis=0) + 1e-6)
    labels = (standardised @ matrix.T).argmax(axis=1)  # what a best fit would reward
    features = IMAGES.reshape(400, 784).astype(np.float32) / 256.0
    shuffled = features[RNG.permutation(400)[:300]]  # a train_test_split of them: other order, fewer rows
    user_ns = {"weights": matrix, "features_train": shuffled, "labels": np.arange(10)}
    exported = export(harness, tmp_path, user_ns)
    (entry,) = exported.preprocessed
    assert (entry.dataset, entry.function, entry.observed) == ("mnist", "features_train", True)
    result = grade(exported, labels, ("perceptron_model", "single_dense:1"))
    model = result.model("perceptron_model")
    assert model is not None and model.error is None, model
    assert model.preprocessing_words == ("inputs divided by 256 (observed: the notebook's `features_train` holds its "
                                         "training rows so)")
    assert model.predictions == [int(p) for p in (HIDDEN.reshape(200, 784) / 256.0 @ matrix.T).argmax(axis=1)]
    guessed = grade(export(harness, tmp_path, {"weights": matrix}), labels, ("perceptron_model", "single_dense:1"))
    best_fit = guessed.model("perceptron_model")
    assert best_fit is not None and best_fit.preprocessing_words == "inputs standardised per feature"


def test_an_observed_array_of_a_named_preprocessing_keeps_its_words(harness: dict[str, Any], tmp_path: Path) -> None:
    matrix = perceptron_weights("none")
    user_ns = {"weights": matrix, "x_train": IMAGES.reshape(400, 784).astype(np.float64) / 255.0,
               "noise": RNG.normal(0, 1, (400, 784))}  # same width, no visible row in it: not a training array
    exported = export(harness, tmp_path, user_ns)
    assert [(p.function, p.observed) for p in exported.preprocessed] == [("x_train", True)]
    result = grade(exported, perceptron_labels(IMAGES, "none"), ("perceptron_model", "single_dense:1"))
    model = result.model("perceptron_model")
    assert model is not None and model.preprocessing_words == "inputs scaled /255"
