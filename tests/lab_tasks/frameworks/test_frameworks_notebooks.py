"""The frameworks lab end to end: real sandboxed kernels grade notebooks through `grade_notebook`.

Fast tests use the MNIST subset the repository ships and the small-data thresholds (see conftest); the slow one runs
`labgrader labs test frameworks` (the lab's expectations.toml: the reference solutions trained on the full arrays
against the lab's own thresholds, and the starter) as an instructor does.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from grader.data.lab_data import LabData
from grader.pipeline import GradingOutcome
from grader.scoring.plots import LEARNING_CURVE
from grader.spec.lab import LabSpec
from tests.lab_tasks.bundled import import_mnist, lab_test, solutions
from tests.lab_tasks.frameworks import notebook_cells as cells
from tests.lab_tasks.frameworks.conftest import Grade, notebook

LAB = Path(__file__).resolve().parents[3] / "lab_tasks" / "frameworks"
ALL_CHECKS = ("iris_accuracy", "mnist_single_layer_accuracy", "mnist_multi_layer_accuracy", "overfitting_gap",
              "early_stopping")


def passed(outcome: GradingOutcome) -> dict[str, bool]:
    return {check.id: check.passed for check in outcome.report.checks}


def expect_failing(outcome: GradingOutcome, *failing: str) -> None:
    assert passed(outcome) == {check: check not in failing for check in ALL_CHECKS}, [
        c.message for c in outcome.report.checks]


def message(outcome: GradingOutcome, check_id: str) -> str:
    return next(c.message for c in outcome.report.checks if c.id == check_id)


NUMBER = r"\d+\.\d{3}"
# how discovery says why it chose a network: the only one of its role, or the most accurate of several
CHOICE = (r"(the only [\w -]+ network found|the best of \d+ [\w -]+ networks found, \d\.\d{3} on the visible "
          r"training sample)")


async def test_torch_contract_notebook_passes_every_check(grade: Grade, small_spec: LabSpec,
                                                         small_lab: LabData) -> None:
    nb = notebook(cells.TORCH_IRIS, cells.TORCH_MNIST, cells.TORCH_SINGLE, cells.TORCH_MULTI)
    outcome = await grade(nb, small_spec, small_lab)
    expect_failing(outcome)
    report = outcome.report
    assert report.discovery[:2] == (
        "Iris model: `iris_model` (contract name; PyTorch, 2 dense layers, relu, 131 parameters, cpu), inputs "
        "standardised per feature (what `preprocess_iris` computes)",
        "single-layer MNIST model: `mnist_single_model` (contract name; PyTorch, 1 dense layer, 7,850 parameters, cpu),"
        " inputs scaled /255 (what `preprocess_mnist` computes)",
    )
    assert report.discovery[3].startswith("training history: `mnist_multi_history` (contract name), ")
    assert list(report.history) == ["mnist_multi_history"]
    assert len(report.history["mnist_multi_history"]["val_loss"]) >= 4
    assert outcome.artifacts[LEARNING_CURVE].startswith(b"\x89PNG\r\n\x1a\n")
    assert re.fullmatch(r"`mnist_multi_history`: validation loss was lowest at epoch \d+ of \d+; training stopped 3 "
                        r"epochs later, within the patience of 3: early stopping worked",
                        message(outcome, "early_stopping"))


async def test_a_cnn_in_the_multi_layer_slot_fails_only_that_check(grade: Grade, small_spec: LabSpec,
                                                                     small_lab: LabData) -> None:
    nb = notebook(cells.TORCH_IRIS, cells.TORCH_MNIST, cells.TORCH_SINGLE, cells.TORCH_CNN_AS_MULTI)
    outcome = await grade(nb, small_spec, small_lab)
    expect_failing(outcome, "mnist_multi_layer_accuracy")
    assert re.fullmatch(
        r"`mnist_multi_model` has convolution layers; this check needs a fully-connected network: at least two dense "
        r"\(Linear/Dense\) layers with a non-linearity such as ReLU between them, and no convolution or recurrent "
        rf"layers \(`mnist_multi_model` \(inputs scaled /255 \(what `preprocess_mnist` computes\)\) reached accuracy "
        rf"{NUMBER} on 799 "
        r"hidden MNIST samples, which counts only for that architecture\)",
        message(outcome, "mnist_multi_layer_accuracy"))


async def test_two_layers_in_the_single_layer_slot_fail_only_that_check(grade: Grade, small_spec: LabSpec,
                                                                          small_lab: LabData) -> None:
    nb = notebook(cells.TORCH_IRIS, cells.TORCH_MNIST, cells.TORCH_TWO_LAYERS_AS_SINGLE, cells.TORCH_MULTI)
    outcome = await grade(nb, small_spec, small_lab)
    expect_failing(outcome, "mnist_single_layer_accuracy")
    assert message(outcome, "mnist_single_layer_accuracy").startswith(
        "`mnist_single_model` has 2 dense layers; this check needs a single-layer network: exactly one dense "
        "(Linear/Dense) layer from the inputs to the classes, no convolution or recurrent layers (")


async def test_200_epochs_without_early_stopping_fail_early_stopping_and_measure_the_gap(
        grade: Grade, small_spec: LabSpec, small_lab: LabData) -> None:
    nb = notebook(cells.TORCH_IRIS, cells.TORCH_MNIST, cells.TORCH_SINGLE, cells.TORCH_MULTI_200_EPOCHS)
    outcome = await grade(nb, small_spec, small_lab)
    assert passed(outcome)["early_stopping"] is False
    assert passed(outcome)["iris_accuracy"] and passed(outcome)["mnist_single_layer_accuracy"]
    assert re.fullmatch(r"`mnist_multi_history`: validation loss was lowest at epoch (\d+) and \d+% higher at epoch "
                        r"200: the network overfits after epoch \1 — stop there or restore the best weights \(at most "
                        r"3 epochs after the minimum; this run went on for \d+\)", message(outcome, "early_stopping"))
    gap = next(c for c in outcome.report.checks if c.id == "overfitting_gap")
    assert gap.measured is not None and gap.measured > 0.02
    assert len(outcome.report.history["mnist_multi_history"]["loss"]) == 200


async def test_a_model_predicting_one_class_is_told_so(grade: Grade, small_spec: LabSpec, small_lab: LabData) -> None:
    nb = notebook(cells.TORCH_IRIS, cells.TORCH_ONE_CLASS_IRIS, cells.TORCH_MNIST, cells.TORCH_SINGLE,
                  cells.TORCH_MULTI)
    outcome = await grade(nb, small_spec, small_lab)
    expect_failing(outcome, "iris_accuracy")
    assert message(outcome, "iris_accuracy") == (
        "`iris_model` (inputs standardised per feature (what `preprocess_iris` computes)) reached accuracy 0.333 on 30 "
        "hidden Iris samples (full credit at 0.93, none at or below 0.70): no credit; it predicted class virginica for "
        "every sample, so it has not learned to tell the classes apart: check that labels match inputs, the learning "
        "rate and the input scaling")


async def test_without_a_history_early_stopping_fails_and_says_why(grade: Grade, small_spec: LabSpec,
                                                                     small_lab: LabData) -> None:
    nb = notebook(cells.TORCH_IRIS, cells.TORCH_MNIST, cells.TORCH_SINGLE, cells.TORCH_MULTI_WITHOUT_HISTORY)
    outcome = await grade(nb, small_spec, small_lab)
    expect_failing(outcome, "early_stopping")
    assert message(outcome, "early_stopping") == (
        "no per-epoch training history was found: assign `mnist_multi_history = model.fit(..., validation_data=...)` "
        "(Keras) or a dict {'loss': [...], 'val_loss': [...]} filled once per epoch (PyTorch), so the grader can see "
        "where validation loss was lowest")
    assert outcome.artifacts == {}


async def test_a_notebook_raising_in_part_2_still_gets_part_1_scored(grade: Grade, small_spec: LabSpec,
                                                                       small_lab: LabData) -> None:
    nb = notebook(cells.TORCH_IRIS, cells.RAISE_IN_PART_2)
    outcome = await grade(nb, small_spec, small_lab)
    expect_failing(outcome, *ALL_CHECKS[1:])
    assert message(outcome, "mnist_single_layer_accuracy") == (
        "no trained model named `mnist_single_model` was found after the notebook ran, and no single-layer MNIST model "
        "turned up among its variables; train the network and assign it to `mnist_single_model` (cell 2 raised "
        "ValueError: the training images do not fit the network)")


async def test_keras_logits_without_softmax_are_scored_by_argmax(grade: Grade, small_spec: LabSpec,
                                                                  small_lab: LabData) -> None:
    outcome = await grade(notebook(cells.KERAS_LOGITS), small_spec, small_lab)
    expect_failing(outcome)
    assert outcome.report.discovery[2] == (
        "multi-layer MNIST model: `mnist_multi_model` (contract name; Keras, 2 dense layers, relu, 101,770 parameters, "
        "cpu), inputs scaled /255")


async def test_curriculum_style_pytorch_notebook_is_graded_without_edits(grade: Grade, small_spec: LabSpec,
                                                                         small_lab: LabData) -> None:
    outcome = await grade(notebook(*cells.CURRICULUM_TORCH), small_spec, small_lab)
    expect_failing(outcome)
    discovery = outcome.report.discovery
    assert re.fullmatch(rf"Iris model: `net` after cell 1 \(found by discovery: {CHOICE}; PyTorch, 2 dense layers, "
                        r"sigmoid, 83 parameters, cpu\), inputs standardised per feature", discovery[0]), discovery[0]
    assert re.fullmatch(rf"single-layer MNIST model: `net` \(found by discovery: {CHOICE}; PyTorch, 1 dense layer, "
                        r"logsoftmax, 7,850 parameters, cpu\), inputs standardised with the training set's overall "
                        r"mean and std", discovery[1]), discovery[1]
    assert re.fullmatch(rf"multi-layer MNIST model: `net2` \(found by discovery: {CHOICE}; PyTorch, 2 dense layers, "
                        r"logsoftmax, relu, 79,510 parameters, cpu\), inputs standardised with the training set's "
                        r"overall mean and std", discovery[2]), discovery[2]
    epochs = len(outcome.report.history["mnist_multi_history"]["loss"])
    assert re.fullmatch(
        rf"training history: `hist` \(found by discovery; a dict of per-epoch lists\), {epochs} epochs with "
        rf"validation loss; cross-checked: the network's cross-entropy on training data is {NUMBER}, within what the "
        rf"history records \({NUMBER} to {NUMBER}\)", discovery[3])


async def test_curriculum_style_keras_notebook_is_graded_without_edits(grade: Grade, small_spec: LabSpec,
                                                                       small_lab: LabData) -> None:
    outcome = await grade(notebook(*cells.CURRICULUM_KERAS), small_spec, small_lab)
    expect_failing(outcome)
    discovery = outcome.report.discovery
    assert re.fullmatch(rf"Iris model: `model` after cell 1 \(found by discovery: {CHOICE}; Keras, 2 dense layers, "
                        r"relu, softmax, 83 parameters, cpu\), inputs standardised per feature",
                        discovery[0]), discovery[0]
    assert re.fullmatch(rf"single-layer MNIST model: `model` \(found by discovery: {CHOICE}; Keras, 1 dense layer, "
                        r"softmax, 7,850 parameters, cpu\), inputs scaled /255", discovery[1]), discovery[1]
    assert re.fullmatch(rf"multi-layer MNIST model: `model2` \(found by discovery: {CHOICE}; Keras, 2 dense layers, "
                        r"relu, softmax, 79,510 parameters, cpu\), inputs scaled /255", discovery[2]), discovery[2]
    assert discovery[3].startswith("training history: `hist` (found by discovery; a Keras History), ")


async def test_the_starter_notebook_scores_zero_and_says_what_is_missing(grade: Grade, lab_spec: LabSpec,
                                                                         small_lab: LabData) -> None:
    outcome = await grade(nbformat.read(LAB / "starter.ipynb", as_version=4), lab_spec, small_lab)
    assert outcome.report.score == 0
    assert [c.message for c in outcome.report.checks] == [
        "no trained model named `iris_model` was found after the notebook ran, and no Iris model turned up among its "
        "variables; train the network and assign it to `iris_model`",
        "no trained model named `mnist_single_model` was found after the notebook ran, and no single-layer MNIST model "
        "turned up among its variables; train the network and assign it to `mnist_single_model`",
        "no trained model named `mnist_multi_model` was found after the notebook ran, and no multi-layer MNIST model "
        "turned up among its variables; train the network and assign it to `mnist_multi_model`",
        "no trained model named `mnist_multi_model` was found after the notebook ran, and no multi-layer MNIST model "
        "turned up among its variables; train the network and assign it to `mnist_multi_model`",
        "no per-epoch training history was found: assign `mnist_multi_history = model.fit(..., validation_data=...)` "
        "(Keras) or a dict {'loss': [...], 'val_loss': [...]} filled once per epoch (PyTorch), so the grader can see "
        "where validation loss was lowest",
    ]
    assert outcome.report.cell_errors == ()


@pytest.mark.slow
def test_labs_test_finds_the_solutions_full_and_the_starter_empty(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`labgrader labs test frameworks` on the full MNIST arrays and the lab's own thresholds: its expectations.toml
    (both reference solutions every point, the starter none), each notebook graded once."""
    root = tmp_path_factory.mktemp("frameworks")
    assert "prepared frameworks/mnist: " in import_mnist(root)
    graded = lab_test(root, "frameworks")
    assert sorted(graded) == ["solutions/" + p.name for p in solutions("frameworks")] + ["starter.ipynb"]
    for name, checks in graded.items():
        assert sorted(checks) == sorted([*ALL_CHECKS, "total"])
        assert checks["total"][0] == (0 if name == "starter.ipynb" else 100), checks
