"""The in-kernel exporter (run here on real torch and Keras networks, the same source text the kernel runs) and the
clean evaluator that rebuilds the exported networks in NumPy and computes their predictions."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from grader.evaluation.evaluator import DatasetInputs, HistoryRequest, SlotRequest, evaluate
from grader.evaluation.harness_output import HarnessExport, read_harness_output
from grader.evaluation.network import build_network
from grader.evaluation.preprocessing import match_student, named_preprocessings
from grader.evaluation.result import EvaluationResult

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (300, 28, 28)).astype(np.uint8)
LABELS = RNG.integers(0, 10, 300)


def export(harness: dict[str, Any], tmp_path: Path, user_ns: dict[str, Any], slots: tuple[str, ...] = (),
           histories: tuple[str, ...] = (), iris: np.ndarray | None = None) -> HarnessExport:
    np.save(tmp_path / "sample.npy", IMAGES)
    samples = {"mnist": str(tmp_path / "sample.npy")}
    if iris is not None:
        np.save(tmp_path / "iris.npy", iris)
        samples["iris"] = str(tmp_path / "iris.npy")
    request = {"nonce": "n" * 32, "output": str(tmp_path / "out.json"), "samples": samples,
               "slots": [{"name": s, "dataset": "mnist"} for s in slots],
               "histories": [{"name": h, "model": slots[-1] if slots else None} for h in histories]}
    (tmp_path / "request.json").write_text(json.dumps(request))
    harness["run"](str(tmp_path / "request.json"), user_ns)
    return read_harness_output(tmp_path / "out.json", "n" * 32)


def network_of(exported: HarnessExport, label: str) -> Any:
    return next(n for n in exported.networks if n.label == label)


def grade(exported: HarnessExport, *slots: tuple[str, str], history: str | None = None,
          hidden: np.ndarray | None = None) -> EvaluationResult:
    data = {"mnist": DatasetInputs(hidden_x=IMAGES[:100] if hidden is None else hidden, sample_x=IMAGES,
                                   sample_y=LABELS)}
    requests = [SlotRequest(name, "mnist", architecture) for name, architecture in slots]
    wanted = [HistoryRequest(history, slots[-1][0])] if history else []
    return evaluate(exported, requests, wanted, data)


class FunctionalNet(nn.Module):
    """Reshape, scaling and activations written in forward(), invisible in the module list."""

    def __init__(self, activation: bool) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(784, 32), nn.Linear(32, 10)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.fc1(x.view(x.size(0), -1) / 255.0)
        out: torch.Tensor = self.fc2(torch.relu(hidden) if self.activation else hidden)
        return nn.functional.log_softmax(out, dim=1)


class ReLU(nn.Module):
    """Named like an activation, computes nothing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class LookupNet(nn.Module):
    """A genuine Linear-ReLU-Linear whose forward answers from a table keyed by a hash of the input."""

    def __init__(self, width: int = 784) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(width, 32), nn.ReLU(), nn.Linear(32, 10))
        self.table: dict[int, int] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = [self.table.get(hash(row.numpy().tobytes()), 0) for row in x]
        return nn.functional.one_hot(torch.tensor(rows), 10).float() + 0 * self.body(x)


class Impostor:
    """Claims to be an nn.Sequential."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return nn.Sequential

    def __call__(self, x: Any) -> Any:
        return x


class RawParameterNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w1, self.w2 = nn.Parameter(torch.randn(784, 32) * 0.05), nn.Parameter(torch.randn(32, 10) * 0.05)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x.flatten(1) @ self.w1) @ self.w2


def torch_classes(model: nn.Module, x: np.ndarray, dtype: torch.dtype = torch.float32) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        out: np.ndarray = model(torch.tensor(x, dtype=dtype)).argmax(1).numpy()
        return out


def test_torch_networks_are_evaluated_from_their_layers_as_torch_computes_them(harness: dict[str, Any],
                                                                                tmp_path: Path) -> None:
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.2),
                        nn.Linear(64, 10), nn.Softmax(dim=1))
    mlp(torch.rand(16, 784))  # running statistics that are not the identity
    functional = FunctionalNet(activation=True)
    cnn = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 8, 5, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(8 * 13 * 13, 10))
    wide = nn.Sequential(nn.Linear(784, 30, dtype=torch.float64), nn.GELU(), nn.Tanh(),
                         nn.Linear(30, 10, dtype=torch.float64))
    exported = export(harness, tmp_path, {"mlp": mlp, "functional": functional, "cnn": cnn, "wide": wide})
    flat = IMAGES[:100].reshape(100, -1) / 255.0
    for label, model, x, dtype in (("`mlp`", mlp, flat, torch.float32), ("`cnn`", cnn, flat, torch.float32),
                                   ("`functional`", functional, IMAGES[:100].reshape(100, -1), torch.float32),
                                   ("`wide`", wide, flat, torch.float64)):
        network = build_network(exported, network_of(exported, label))
        scores = network.scores(x)
        assert (scores.argmax(1) == torch_classes(model, x, dtype)).all(), label
    assert network_of(exported, "`wide`").dtype == "float64"
    facts = {label: build_network(exported, network_of(exported, label)).facts()
             for label in ("`mlp`", "`functional`", "`cnn`")}
    assert (facts["`mlp`"].dense_layers, facts["`mlp`"].nonlinear_between, facts["`mlp`"].activations) == (
        2, True, ["relu", "softmax"])
    assert (facts["`functional`"].dense_layers, facts["`functional`"].nonlinear_between) == (2, True)
    assert (facts["`cnn`"].conv, facts["`cnn`"].dense_layers) == (True, 1)


def test_what_forward_computes_decides_the_architecture_not_layer_names(harness: dict[str, Any],
                                                                         tmp_path: Path) -> None:
    fake = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), ReLU(), nn.Linear(32, 10))
    affine = FunctionalNet(activation=False)
    exported = export(harness, tmp_path, {"fake": fake, "affine": affine})
    result = grade(exported, ("mnist_multi_model", "multi_dense"))
    assert result.models[0].found is True  # only by the fallback: neither fits a multi-layer slot
    for label in ("`fake`", "`affine`"):
        facts = build_network(exported, network_of(exported, label)).facts()
        assert (facts.dense_layers, facts.nonlinear_between) == (2, False), label


def test_networks_that_do_not_survive_export_are_refused_with_the_reason(harness: dict[str, Any],
                                                                         tmp_path: Path) -> None:
    raw_net = RawParameterNet()
    exported = export(harness, tmp_path, {"mnist_multi_model": LookupNet(), "raw": raw_net, "impostor": Impostor()},
                      slots=("mnist_multi_model",))
    assert [n.label for n in exported.networks] == ["`mnist_multi_model`", "`raw`"]  # the impostor is no network
    lookup, raw = exported.networks
    assert lookup.ops == [] and lookup.error is not None
    assert lookup.error.startswith("its forward() could not be traced as tensor operations")
    assert "; traced on visible inputs, torch.export could not trace it on visible inputs (" in lookup.error
    # raw parameters and `@` are an honest network: torch.fx reads no matmul, torch.export on visible inputs does
    assert (raw.error, raw.path) == (None, "torch.export on visible inputs (torch.fx could not trace it)")
    flat = IMAGES[:50].reshape(50, -1) / 255.0
    assert (build_network(exported, raw).scores(flat).argmax(1) == torch_classes(raw_net, flat)).all()
    result = grade(exported, ("mnist_multi_model", "multi_dense"))
    entry = result.models[0]
    assert (entry.found, entry.predictions) == (True, None)
    assert entry.error is not None and entry.error.startswith(
        "could not be evaluated from its layers: its forward() could not be traced as tensor operations")


def test_an_export_whose_bytes_do_not_match_its_shapes_is_refused(harness: dict[str, Any], tmp_path: Path) -> None:
    exported = export(harness, tmp_path, {"net": nn.Linear(784, 10)})
    payload = exported.arrays["a0"]
    forged = exported.model_copy(update={"arrays": {**exported.arrays,
                                                    "a0": payload.model_copy(update={"shape": [10, 785]})}})
    result = grade(forged, ("mnist_single_model", "single_dense"))
    assert result.models[0].found is False


def test_keras_networks_are_evaluated_from_their_layers(harness: dict[str, Any], tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    keras.utils.set_random_seed(0)

    def relu(x: Any) -> Any:  # named like an activation, computes nothing
        return x

    lookalike = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation=relu)])
    sequential = keras.Sequential([keras.Input((28, 28)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
                                   keras.layers.Dense(32, activation=tf.nn.relu), keras.layers.Dropout(0.2),
                                   keras.layers.Dense(16, activation="gelu"),
                                   keras.layers.BatchNormalization(), keras.layers.Dense(10, activation="softmax")])
    inputs = keras.Input((28, 28, 1))
    hidden = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    hidden = keras.layers.MaxPooling2D(2)(hidden)
    outputs = keras.layers.Dense(10)(keras.layers.Flatten()(hidden))
    functional = keras.Model(inputs, outputs)

    class Subclassed(keras.Model):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.dense = keras.layers.Dense(10)

        def call(self, x: Any) -> Any:
            return self.dense(x)

    class MoreThanLayers(Subclassed):  # type: ignore[misc]
        def call(self, x: Any) -> Any:
            return keras.ops.max(self.dense(x), axis=1, keepdims=True) * keras.ops.ones((1, 10))

    subclassed, more = Subclassed(), MoreThanLayers()
    subclassed(np.zeros((1, 784), np.float32))
    more(np.zeros((1, 784), np.float32))
    exported = export(harness, tmp_path, {"seq": sequential, "fun": functional, "sub": subclassed,
                                          "lookalike": lookalike, "more": more})
    for label, model, shape in (("`seq`", sequential, (100, 28, 28)), ("`fun`", functional, (100, 28, 28, 1)),
                                ("`sub`", subclassed, (100, 784))):
        network = build_network(exported, network_of(exported, label))
        x = IMAGES[:100].reshape(shape).astype(np.float32)
        expected = np.asarray(model(x, training=False)).argmax(1)
        assert (network.scores(x).argmax(1) == expected).all(), label
    assert network_of(exported, "`lookalike`").error == "the activation `relu` is not one the grader evaluates"
    # a subclassed model is read as its layers in order only where they compute what its call() computes
    assert network_of(exported, "`sub`").path == ("its Keras layers in order, checked against its call() on visible "
                                                  "inputs")
    assert network_of(exported, "`more`").error == ("a subclassed Keras model whose call() computes more than its "
                                                    "layers in order")


def test_a_students_preprocessing_is_named_from_visible_rows_only() -> None:
    x = IMAGES[:64]
    flat = x.reshape(64, -1).astype(np.float64)
    named = named_preprocessings(IMAGES)
    scaled, why = match_student("preprocess_mnist", x, flat / 255.0, named)
    assert (scaled and scaled.name, why) == ("scaled_255", "")
    mean_std, _ = match_student("preprocess_mnist", x, (flat / 255 - 0.1307) / 0.3081, named)
    assert mean_std is not None and mean_std.name == "scale_shift"
    assert mean_std.words == "inputs scaled by 0.01273 and shifted by -0.4242 (what `preprocess_mnist` computes)"
    divided, _ = match_student("preprocess_digits", x, flat / 16.0, named)  # the digits lab's X / 16
    assert divided is not None and divided.words == "inputs divided by 16 (what `preprocess_digits` computes)"
    halved, _ = match_student("preprocess_mnist", x, flat * 0.3, named)
    assert halved is not None and halved.words == "inputs scaled by 0.3 (what `preprocess_mnist` computes)"
    own = (flat - flat.mean(axis=0)) / (flat.std(axis=0) + 1e-3)
    per_feature, _ = match_student("preprocess_mnist", x, own, named)
    assert per_feature is not None and per_feature.name == "per_feature_scale_shift"
    norm, _ = match_student("preprocess_mnist", x, flat / np.linalg.norm(flat, axis=1, keepdims=True), named)
    assert norm is not None and norm.name == "l2_rows"
    one_hot = np.eye(10)[LABELS[:64]]
    assert match_student("preprocess_mnist", x, one_hot, named) == (None, (
        "`preprocess_mnist` turns each input of 784 values into 10, so it is not a preprocessing the grader can "
        "apply"))
    squared = flat ** 2
    assert match_student("preprocess_mnist", x, squared, named)[1] == (
        "`preprocess_mnist` computes something other than a scaling of its inputs, so the grader cannot apply it to "
        "hidden data")


def test_a_lookup_inside_preprocess_earns_nothing(harness: dict[str, Any], tmp_path: Path) -> None:
    """The table attack: preprocess returns one-hot answers and a Linear(10, 10) passes them through."""
    table = {IMAGES[i].tobytes(): int(LABELS[i]) for i in range(300)}
    passthrough = nn.Linear(10, 10)
    with torch.no_grad():
        passthrough.weight.copy_(torch.eye(10))
        passthrough.bias.zero_()

    def preprocess_mnist(images: np.ndarray) -> np.ndarray:
        return np.eye(10, dtype=np.float32)[[table.get(image.tobytes(), 0) for image in images]]

    exported = export(harness, tmp_path, {"mnist_single_model": passthrough, "preprocess_mnist": preprocess_mnist},
                      slots=("mnist_single_model",))
    entry = grade(exported, ("mnist_single_model", "single_dense")).models[0]
    assert (entry.found, entry.predictions) == (True, None)
    assert entry.error == ("it does not take mnist inputs (a dense layer of 10 inputs given (784,)); "
                           "`preprocess_mnist` turns each input of 784 values into 10, so it is not a preprocessing "
                           "the grader can apply")


def test_an_exported_history_is_cross_checked_against_its_network(harness: dict[str, Any], tmp_path: Path) -> None:
    untrained = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    forged = {"loss": [0.3, 0.1, 0.05], "val_loss": [0.3, 0.2, 0.25]}
    exported = export(harness, tmp_path, {"mnist_multi_model": untrained, "mnist_multi_history": forged},
                      slots=("mnist_multi_model",), histories=("mnist_multi_history",))
    history = grade(exported, ("mnist_multi_model", "multi_dense"), history="mnist_multi_history").histories[0]
    assert history.consistent is False
    assert history.cross_check.endswith("far above every training loss the history records (0.050 to 0.300): the "
                                        "history does not describe this network")
    honest = {"loss": [2.4, 2.35, 2.33], "val_loss": [2.4, 2.3, 2.35]}
    exported = export(harness, tmp_path, {"mnist_multi_model": untrained, "mnist_multi_history": honest},
                      slots=("mnist_multi_model",), histories=("mnist_multi_history",))
    history = grade(exported, ("mnist_multi_model", "multi_dense"), history="mnist_multi_history").histories[0]
    assert history.consistent is True


@pytest.mark.parametrize(("history", "consistent", "sentence"), [
    # two huge finite training losses once made the sentence 600 characters long and crashed the whole evaluation
    ({"loss": [1e308, 1e308], "val_loss": [2.4, 2.5]}, False,
     "the network's cross-entropy on training data is {loss}, far below every training loss the history records "
     "(1e+308 to 1e+308): the history does not describe this network"),
    ({"loss": [-1e308, 2.3], "val_loss": [2.4, 2.5]}, True,
     "cross-checked: the network's cross-entropy on training data is {loss}, within what the history records "
     "(-1e+308 to 2.300)"),
    ({"val_loss": [2.4, 2.3, 2.5]}, False,
     "it records no training loss, so the grader cannot check that it describes this network: record the training "
     "and the validation loss once per epoch"),
    ({"loss": [float("nan"), float("inf")], "val_loss": [2.4, 2.5]}, False,
     "it records no training loss, so the grader cannot check that it describes this network: record the training "
     "and the validation loss once per epoch"),
    ({"loss": [2.4, 2.35, 2.33], "val_loss": [2.4, 2.3]}, False,
     "it records 3 training losses but 2 validation losses: record one of each per epoch"),
])
def test_any_history_fails_only_its_own_check(harness: dict[str, Any], tmp_path: Path, history: dict[str, Any],
                                              consistent: bool, sentence: str) -> None:
    torch.manual_seed(0)
    untrained = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    exported = export(harness, tmp_path, {"mnist_multi_model": untrained, "mnist_multi_history": history},
                      slots=("mnist_multi_model",), histories=("mnist_multi_history",))
    result = grade(exported, ("mnist_multi_model", "multi_dense"), history="mnist_multi_history")
    assert result.models[0].predictions is not None and result.models[0].train_loss is not None
    entry = result.histories[0]
    assert (entry.found, entry.consistent) == (True, consistent)
    assert entry.cross_check == sentence.format(loss=f"{result.models[0].train_loss:.3f}")


def test_the_kernel_request_holds_no_hidden_input(harness: dict[str, Any], tmp_path: Path) -> None:
    """The export is all the kernel writes: networks, the preprocessed visible rows, histories; no prediction."""
    exported = export(harness, tmp_path, {"net": nn.Linear(784, 10), "preprocess_mnist": lambda x: x / 255.0,
                                          "hist": {"loss": [1.0], "val_loss": [1.0]}}, histories=("h",))
    raw = json.loads((tmp_path / "out.json").read_text())
    assert sorted(raw) == ["arrays", "histories", "networks", "nonce", "preprocessed", "slots"]
    assert "predictions" not in json.dumps(raw["networks"])
    assert exported.preprocessed[0].dataset == "mnist"
    assert exported.arrays[exported.preprocessed[0].output or ""].shape == [300, 28, 28]


def test_models_are_found_in_the_namespace_and_inside_dicts_and_lists(harness: dict[str, Any]) -> None:
    net, other, third = nn.Linear(4, 3), nn.Linear(784, 10), nn.Linear(784, 10)
    namespace = {"net": net, "models": {"big": other}, "history": [third], "_hidden": nn.Linear(4, 3),
                 "loss_fn": nn.CrossEntropyLoss(), "klass": nn.Linear, "number": 3, "impostor": Impostor()}
    found = harness["collect_models"](namespace)
    assert [label for label, _ in found] == ["`net`", "`models['big']`", "`history[0]`"]  # no loss module


def test_histories_are_found_by_shape(harness: dict[str, Any]) -> None:
    namespace = {"hist": {"train_loss": [1.0, 0.5], "val_loss": [1.1, np.float32(0.7)], "train_acc": [0.5, 0.8]},
                 "config": {"loss": "cross-entropy"}, "torch": torch}
    found = harness["collect_histories"](namespace)
    assert [(label, curves) for label, _, curves in found] == [
        ("`hist`", ([1.0, 0.5], [1.1, pytest.approx(0.7)], "a dict of per-epoch lists"))]


def test_paired_lists_are_histories_when_their_names_and_lengths_match(harness: dict[str, Any]) -> None:
    namespace = {
        "train_loss3": [0.9, 0.5, 0.3], "val_loss3": [np.float64(1.0), 0.6, 0.5],  # a pair (tvboelens' names)
        "losses_train": [1.0, 0.8], "losses_val": [1.1, 0.9],  # the words after the noun
        "train_loss1": [0.9] * 600, "val_loss1": [1.0] * 101,  # per-batch and per-epoch values: lengths differ
        "val_loss_only": [1.0, 0.9],  # no training partner
        "interval_loss": [1.0], "train_acc": [0.5, 0.6], "val_acc": [0.4, 0.5],  # 'val' inside a word; accuracies
    }
    found = harness["collect_histories"](namespace)
    assert [(label, curves) for label, _, curves in found] == [
        ("`train_loss3` and `val_loss3`", ([0.9, 0.5, 0.3], [1.0, 0.6, 0.5], "two lists of per-epoch losses")),
        ("`losses_train` and `losses_val`", ([1.0, 0.8], [1.1, 0.9], "two lists of per-epoch losses")),
    ]


def test_rows_of_loss_and_validation_loss_or_accuracy(harness: dict[str, Any]) -> None:
    namespace = {"epochs": [(0.9, 1.0), (0.5, 0.7)], "loss_acc": [[torch.tensor(0.9), 0.9], [torch.tensor(0.4), 0.8]],
                 "epoch_data": [[2.3, 0.41], [0.6, 0.83]],  # [loss, val_acc]: its values say accuracy
                 "matrix": [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]], "names": [("a", "b"), ("c", "d")]}
    found = harness["collect_histories"](namespace)
    assert [(label, curves) for label, _, curves in found] == [
        ("`epochs`", ([0.9, 0.5], [1.0, 0.7], "rows of [loss, validation loss]")),
        ("`loss_acc`", ([pytest.approx(0.9), pytest.approx(0.4)], [], "rows of [loss, accuracy]")),
        ("`epoch_data`", ([2.3, 0.6], [], "rows of [loss, accuracy]")),
    ]


class Logged(nn.Module):
    """What the start-up code leaves on a LightningModule whose steps call self.log()."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)
        self._labgrader_logged = {"train_loss": {0: [3.0, 3], 1: [1.5, 3]}, "val_loss": {0: [2.4, 2], 1: [1.0, 2]},
                                  "val_acc": {0: [1.0, 2]}}


def test_a_lightning_modules_logged_metrics_are_its_history(harness: dict[str, Any]) -> None:
    module = Logged()
    found = harness["collect_histories"]({"net": module})
    assert [(label, curves) for label, _, curves in found] == [
        ("`net`", ([1.0, 0.5], [1.2, 0.5], "the metrics its LightningModule logged"))]
    assert harness["history_owner"](module) is module
    assert harness["history_owner"]({"loss": [1.0]}) is None


def test_a_loss_module_is_not_a_candidate_network(harness: dict[str, Any]) -> None:
    net = nn.Sequential(nn.Linear(784, 10))
    found = harness["collect_models"]({"criterion": nn.CrossEntropyLoss(), "relu": nn.ReLU(), "net": net})
    assert [(label, model) for label, model in found] == [("`net`", net)]


def test_the_evaluator_process_computes_what_the_library_does(harness: dict[str, Any], tmp_path: Path) -> None:
    """The evaluator in its own sandbox (`grader.sandbox.evaluator_room`) answers what the library computes here."""
    import shutil

    from grader.evaluation.runner import run_evaluator
    from grader.sandbox.evaluator_room import evaluator_room
    from grader.sandbox.isolation import SandboxConfig, require_isolation

    torch.manual_seed(0)
    exported = export(harness, tmp_path, {"mnist_single_model": nn.Linear(784, 10),
                                          "preprocess_mnist": lambda x: x.reshape(len(x), -1) / 255.0},
                      slots=("mnist_single_model",))
    config = SandboxConfig(allow_unsandboxed=True)
    (tmp_path / "job").mkdir()
    with evaluator_room(config, require_isolation(config), tmp_path / "job", slot=41) as room:
        paths = {}
        for name, array in (("hidden_x", IMAGES[:100]), ("sample_x", IMAGES), ("sample_y", LABELS)):
            np.save(room.inputs / f"{name}.npy", array)
            paths[name] = str(room.inputs / f"{name}.npy")
        shutil.copy(tmp_path / "out.json", room.inputs / "out.json")
        job = {"nonce": "n" * 32, "export": str(room.inputs / "out.json"), "datasets": {"mnist": paths},
               "slots": [{"name": "mnist_single_model", "dataset": "mnist", "architecture": "single_dense"}],
               "histories": []}
        result, problem = run_evaluator(job, room)
        refused, why = run_evaluator({**job, "nonce": "m" * 32}, room)
    here = grade(exported, ("mnist_single_model", "single_dense")).models[0]
    assert result is not None and problem == ""
    # one math thread there, several here: sums in another order, the same classes; the time of the forward pass is
    # measured on each side
    timeless = {"train_loss": None, "inference_ms": None}
    assert result.models[0].model_copy(update=timeless) == here.model_copy(update=timeless)
    assert result.models[0].inference_ms is not None
    assert result.models[0].train_loss == pytest.approx(here.train_loss, rel=1e-5)
    assert (refused, why) == (None, "the evaluation output was not written by this run's evaluation")


class CastNet(nn.Module):
    """A float64 network whose forward ends in `torch.Tensor(x)`, as a real student's does."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.func, self.fc2 = nn.Linear(784, 16, dtype=float), nn.LeakyReLU(), nn.Linear(16, 10, dtype=float)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.Tensor(self.fc2(self.func(self.fc1(x))))


def test_a_forward_wrapping_its_output_in_torch_tensor_is_exported(harness: dict[str, Any], tmp_path: Path) -> None:
    exported = export(harness, tmp_path, {"net": CastNet()})
    network = network_of(exported, "`net`")
    assert ([op.op for op in network.ops], network.dtype, network.error) == (
        ["linear", "leaky_relu", "linear"], "float64", None)
    assert "__new__" not in vars(torch.Tensor)  # the tracing aid is gone


class Stubborn:
    """An object whose every attribute lookup raises: isinstance() reads `__class__` of it and fails."""

    def __getattribute__(self, name: str) -> Any:
        raise RuntimeError(f"no {name} for you")


def test_an_object_that_refuses_inspection_does_not_hide_the_other_networks(harness: dict[str, Any],
                                                                             tmp_path: Path) -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    exported = export(harness, tmp_path, {"stubborn": Stubborn(), "boxed": [Stubborn()], "net": net}, ("net",))
    assert [n.label for n in exported.networks] == ["`net`"]


def test_a_single_output_network_is_binary_class_1_above_one_half(harness: dict[str, Any], tmp_path: Path) -> None:
    """docs/lab-author.md: one output is the probability of class 1 (end the network with a sigmoid)."""
    torch.manual_seed(0)
    binary = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())
    flat = torch.tensor(IMAGES.reshape(len(IMAGES), -1) / 255.0, dtype=torch.float32)
    with torch.no_grad():
        binary[3].bias -= binary[:4](flat)[:, 0].median()  # half the rows on each side of 0.5
        probability = binary(flat)[:, 0].numpy()
    labels = (probability > 0.5).astype(np.int64)
    assert 0.4 < labels.mean() < 0.6
    exported = export(harness, tmp_path, {"binary": binary}, slots=("binary",))
    data = {"mnist": DatasetInputs(hidden_x=IMAGES[:100], sample_x=IMAGES, sample_y=labels)}
    entry = evaluate(exported, [SlotRequest("binary", "mnist")], [], data).models[0]
    assert (entry.found, entry.source, entry.preprocessing) == (True, "`binary`", "scaled_255")
    assert entry.predictions == labels[:100].tolist()


class LenFlatten(nn.Module):
    """The curriculum's most common flattening: `x.view(len(x), -1)`, which torch.fx cannot trace."""

    def __init__(self, width: int = 784) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, 16), nn.ReLU(), nn.Linear(16, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x.view(len(x), -1))
        return out


class BatchDependent(nn.Module):
    """Computes something else for a batch of another size than the one it was traced on."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(x.view(len(x), -1))
        return out * 2 if len(x) == 37 else out


def test_a_network_torch_fx_cannot_trace_is_exported_on_visible_inputs_and_cross_checked(
        harness: dict[str, Any], tmp_path: Path) -> None:
    torch.manual_seed(0)
    honest, tricky = LenFlatten(), BatchDependent()
    exported = export(harness, tmp_path, {"mnist_multi_model": honest, "tricky": tricky},
                      slots=("mnist_multi_model",))
    entry = network_of(exported, "`mnist_multi_model`")
    assert (entry.error, entry.path, entry.input_width) == (
        None, "torch.export on visible inputs (torch.fx could not trace it)", 784)
    flat = IMAGES[:100].reshape(100, -1).astype(np.float32)
    assert (build_network(exported, entry).scores(flat).argmax(1) == torch_classes(honest, flat)).all()
    result = grade(exported, ("mnist_multi_model", "multi_dense"), ("other", "single_dense"))
    model = result.model("mnist_multi_model")
    assert model is not None and model.predictions is not None
    assert model.export_path == ("torch.export on visible inputs (torch.fx could not trace it); agrees with its "
                                 "forward() on 16 visible inputs")
    # traced on 37 rows, checked on 16: the export of `tricky` doubles what its forward() gives for other batches
    other = result.model("other")
    assert other is not None and other.error is not None
    assert other.error.startswith("could not be evaluated from its layers: read as torch.export on visible inputs "
                                  "(torch.fx could not trace it), it computes other outputs than its own forward() on "
                                  "16 visible inputs (largest difference ")


def test_a_forged_check_only_refuses_the_students_own_network(harness: dict[str, Any], tmp_path: Path) -> None:
    exported = export(harness, tmp_path, {"mnist_single_model": nn.Sequential(nn.Flatten(), nn.Linear(784, 10))},
                      slots=("mnist_single_model",))
    entry = network_of(exported, "`mnist_single_model`")
    assert entry.check is not None and entry.path == "torch.fx symbolic tracing"
    output = exported.arrays[entry.check.output]
    zeros = output.model_copy(update={"data": base64.b64encode(np.zeros(output.shape, "<f4").tobytes()).decode()})
    forged = exported.model_copy(update={"arrays": {**exported.arrays, entry.check.output: zeros}})
    model = grade(forged, ("mnist_single_model", "single_dense")).models[0]
    assert (model.found, model.predictions) == (True, None)
    assert model.error is not None and model.error.startswith(
        "could not be evaluated from its layers: read as torch.fx symbolic tracing, it computes other outputs than its "
        "own forward() on 16 visible inputs")


def test_each_slot_names_the_network_that_took_its_inputs(harness: dict[str, Any], tmp_path: Path) -> None:
    """Two networks that cannot be exported: the Iris slot names the Iris one, the MNIST slot the MNIST one."""
    iris = np.asarray(RNG.random((60, 4)))
    exported = export(harness, tmp_path, {"net": LookupNet(4), "mnist_net": LookupNet()}, iris=iris)
    assert [(n.label, n.input_width) for n in exported.networks] == [("`net`", 4), ("`mnist_net`", 784)]
    data = {"mnist": DatasetInputs(hidden_x=IMAGES[:100], sample_x=IMAGES, sample_y=LABELS),
            "iris": DatasetInputs(hidden_x=iris[:30], sample_x=iris, sample_y=RNG.integers(0, 3, 60))}
    slots = [SlotRequest("iris_model", "iris"), SlotRequest("mnist_single_model", "mnist", "single_dense")]
    result = evaluate(exported, slots, [], data)
    assert [(m.name, m.source) for m in result.models] == [("iris_model", "`net`"),
                                                           ("mnist_single_model", "`mnist_net`")]


def test_a_check_of_too_many_inputs_is_refused_before_it_is_computed(harness: dict[str, Any], tmp_path: Path) -> None:
    exported = export(harness, tmp_path, {"mnist_single_model": nn.Sequential(nn.Flatten(), nn.Linear(784, 10))},
                      slots=("mnist_single_model",))
    entry = network_of(exported, "`mnist_single_model`")
    assert entry.check is not None
    many = exported.arrays[entry.check.input].model_copy(update={
        "shape": [65, 28, 28], "data": base64.b64encode(np.zeros((65, 28, 28), "<f4").tobytes()).decode()})
    forged = exported.model_copy(update={"arrays": {**exported.arrays, entry.check.input: many}})
    model = grade(forged, ("mnist_single_model", "single_dense")).models[0]
    assert model.error == ("could not be evaluated from its layers: the export's check holds 65 inputs with 16 outputs "
                           "(1 to 64 of each)")
