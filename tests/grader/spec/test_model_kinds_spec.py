"""`model_kinds` and `dense_layers` in lab.toml: validated by the schema, carried to the kernel's request and to the
evaluator's slots, and enforced by the accuracy scorer (the own-framework lab's 1-, 2- and 3-layer checks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.data.lab_data import LabData
from grader.errors import SpecInvalid
from grader.evaluation.evaluator import architecture_fits
from grader.evaluation.request import build_request
from grader.evaluation.result import ArchitectureFacts, EvaluationResult, ModelResult
from grader.scoring.scorers import ScoringInputs, score_accuracy
from grader.spec.dataset import DatasetSpec
from grader.spec.lab import AccuracyCheck, LabSpec, load_spec
from grader.spec.slots import role_of, slot_architectures

HIDDEN_Y = np.arange(100) % 10
CHECK = """
[[checks]]
id = "three_layers"
title = "A 3-layer network"
points = 10
kind = "accuracy"
model = "mnist_three_layer"
dataset = "mnist"
architecture = "{architecture}"
dense_layers = {dense}
full_credit_at = 0.9
no_credit_at = 0.5

[[datasets]]
id = "mnist"
title = "MNIST"
classes = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
"""


def write_lab(tmp_path: Path, head: str, architecture: str = "multi_dense", dense: int = 3) -> Path:
    folder = tmp_path / "own"
    folder.mkdir(exist_ok=True)
    path = folder / "lab.toml"
    path.write_text(f'id = "own"\ntitle = "Own framework"\n{head}\n' + CHECK.format(architecture=architecture,
                                                                                   dense=dense))
    return path


def test_a_lab_declares_its_model_kinds(tmp_path: Path) -> None:
    spec = load_spec(write_lab(tmp_path, 'model_kinds = ["numpy_network", "perceptron"]'))
    assert spec.model_kinds == ("numpy_network", "perceptron")
    check = spec.checks[0]
    assert isinstance(check, AccuracyCheck) and check.dense_layers == 3
    assert slot_architectures(spec) == {"mnist_three_layer": ("mnist", "multi_dense:3")}
    assert role_of("multi_dense:3", "MNIST") == "3-layer MNIST model"


def test_without_model_kinds_a_lab_takes_pytorch_and_keras(tmp_path: Path) -> None:
    assert load_spec(write_lab(tmp_path, "")).model_kinds == ("torch", "keras")


@pytest.mark.parametrize(("head", "architecture", "dense", "problem"), [
    ('model_kinds = ["xgboost"]', "multi_dense", 3,
     "lab.toml:3: model_kinds: Input should be 'torch', 'keras', 'numpy_network', 'perceptron' or 'sklearn'"),
    ("model_kinds = []", "multi_dense", 3,
     "lab.toml:3: model_kinds: Tuple should have at least 1 item after validation, not 0"),
    ('model_kinds = ["torch", "torch"]', "multi_dense", 3, "lab.toml:1: (top level): model_kinds names a kind twice"),
    ("", "single_dense", 2,
     "lab.toml:5: checks[0]: check three_layers: dense_layers = 2 contradicts architecture = 'single_dense'"),
    ("", "multi_dense", 1,
     "lab.toml:5: checks[0]: check three_layers: dense_layers = 1 contradicts architecture = 'multi_dense'"),
    ("", "multi_dense", 0, "lab.toml:13: checks[0].dense_layers: Input should be greater than or equal to 1"),
])
def test_a_wrong_model_kind_or_layer_count_names_its_key_and_line(tmp_path: Path, head: str, architecture: str,
                                                                  dense: int, problem: str) -> None:
    with pytest.raises(SpecInvalid) as caught:
        load_spec(write_lab(tmp_path, head, architecture, dense))
    assert str(caught.value) == f"{tmp_path / 'own'}/{problem}"


def test_the_kernels_request_carries_the_kinds_and_class_counts(tmp_path: Path) -> None:
    lab = LabData(tmp_path / "data", "own")
    lab.visible.mkdir(parents=True)
    lab.hidden.mkdir(parents=True)
    np.savez(lab.visible / "mnist.npz", x_train=np.zeros((30, 28, 28), np.uint8), y_train=np.arange(30) % 10)
    np.savez(lab.hidden / "mnist.npz", x=np.zeros((10, 28, 28), np.uint8), y=np.arange(10))
    spec = load_spec(write_lab(tmp_path, 'model_kinds = ["numpy_network"]'))
    private = tmp_path / "private"
    private.mkdir()
    request = build_request(spec, lab, private, "n" * 32, tmp_path / "out.json")
    assert (request["model_kinds"], request["classes"]) == (["numpy_network"], {"mnist": 10})


def facts(dense: int) -> ArchitectureFacts:
    return ArchitectureFacts(framework="numpy_network", dense_layers=dense, activations=["tanh"],
                             nonlinear_between=dense > 1, parameters=26_506, input_size=784, output_size=10)


@pytest.mark.parametrize(("requirement", "dense", "fits"), [
    ("multi_dense:3", 3, True), ("multi_dense:3", 2, False), ("multi_dense:3", 4, False), ("single_dense:1", 1, True),
    ("any:2", 2, True), ("any:2", 1, False), ("multi_dense", 4, True), ("any", 1, True),
])
def test_discovery_takes_only_a_network_of_the_asked_depth(requirement: str, dense: int, fits: bool) -> None:
    assert architecture_fits(facts(dense), requirement) is fits


@pytest.fixture
def lab(tmp_path: Path) -> LabData:
    lab = LabData(tmp_path, "own")
    lab.hidden.mkdir(parents=True)
    lab.visible.mkdir(parents=True)
    np.savez(lab.hidden / "mnist.npz", x=np.zeros((100, 28, 28), np.uint8), y=HIDDEN_Y)
    np.savez(lab.visible / "mnist.npz", x_train=np.zeros((50, 28, 28), np.uint8), y_train=np.arange(50) % 10)
    return lab


def scored(lab: LabData, tmp_path: Path, dense: int) -> str:
    spec = load_spec(write_lab(tmp_path, 'model_kinds = ["numpy_network"]'))
    check = spec.checks[0]
    assert isinstance(check, AccuracyCheck)
    entry = ModelResult(name="mnist_three_layer", found=True, via="contract", source="`mnist_three_layer`",
                        framework="numpy_network", facts=facts(dense), preprocessing="scaled_255",
                        preprocessing_words="inputs scaled /255", predictions=[int(v) for v in HIDDEN_Y])
    result = score_accuracy(check, ScoringInputs(spec=spec, output=EvaluationResult(models=[entry]), lab=lab,
                                                 context=""))
    return f"{result.score} {result.message}"


def test_a_network_of_another_depth_earns_nothing_and_is_told_why(lab: LabData, tmp_path: Path) -> None:
    assert scored(lab, tmp_path, 2) == (
        "0.0 `mnist_three_layer` has 2 dense layers; this check needs a network of exactly 3 dense layers "
        "(`mnist_three_layer` (inputs scaled /255) reached accuracy 1.000 on 100 hidden MNIST samples, which counts "
        "only for that architecture)")
    assert scored(lab, tmp_path, 3).startswith("10.0 `mnist_three_layer` (inputs scaled /255) reached accuracy 1.000")


def test_the_report_names_a_numpy_network_and_a_perceptron() -> None:
    assert facts(3).describe() == "NumPy network, 3 dense layers, tanh, 26,506 parameters, cpu"
    perceptron = ArchitectureFacts(framework="perceptron", dense_layers=1, parameters=7_850)
    assert perceptron.describe() == "perceptron, 1 dense layer, 7,850 parameters, cpu"
    assert LabSpec(id="x", title="x", checks=(AccuracyCheck(
        id="c", title="c", kind="accuracy", points=1, model="m", dataset="mnist", full_credit_at=0.9,
        no_credit_at=0.5),), datasets=(DatasetSpec(id="mnist", title="MNIST"),)).model_kinds == ("torch", "keras")
