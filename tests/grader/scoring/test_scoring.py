"""The trusted scorer on hand-built evaluation results and a tiny lab data directory (no kernels)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from grader.data.lab_data import LabData
from grader.evaluation.result import ArchitectureFacts, EvaluationResult, HistoryResult, ModelResult
from grader.scoring.report import CellError, CheckResult, Cutoff
from grader.scoring.scorers import (
    ScoringInputs,
    partial_credit,
    score_accuracy,
    score_checks,
    score_early_stopping,
    score_gap,
    with_dataset_note,
)
from grader.spec.dataset import DatasetSpec
from grader.spec.lab import AccuracyCheck, EarlyStoppingCheck, LabSpec, OverfittingGapCheck
from tests.grader.scoring.conftest import HIDDEN_Y, TRAIN_Y

SINGLE = AccuracyCheck(id="single", title="single", kind="accuracy", model="mnist_single_model", dataset="mnist",
                       architecture="single_dense", points=20, full_credit_at=0.9, no_credit_at=0.8)
MULTI = AccuracyCheck(id="multi", title="multi", kind="accuracy", model="mnist_multi_model", dataset="mnist",
                      architecture="multi_dense", points=30, full_credit_at=0.97, no_credit_at=0.9)
GAP = OverfittingGapCheck(id="gap", title="gap", kind="overfitting_gap", model="mnist_multi_model", dataset="mnist",
                          points=15, full_credit_at=0.03, no_credit_at=0.08)
DIGITS = (DatasetSpec(id="mnist", title="MNIST", classes=tuple("0123456789"), input_shape=(28, 28)),)
STOP = EarlyStoppingCheck(id="stop", title="stop", kind="early_stopping", history="mnist_multi_history", patience=3,
                          points=15, model="mnist_multi_model")


def facts(dense: int, *, between: bool = True, conv: bool = False) -> ArchitectureFacts:
    return ArchitectureFacts(framework="torch", dense_layers=dense, activations=["relu"] if between else [],
                             nonlinear_between=between, conv=conv, parameters=101_770, input_size=784, output_size=10)


def correct(labels: np.ndarray, wrong: int) -> list[int]:
    out = labels.copy()
    out[:wrong] = (out[:wrong] + 1) % 10
    return [int(v) for v in out]


def output(*models: ModelResult, histories: tuple[HistoryResult, ...] = ()) -> EvaluationResult:
    return EvaluationResult(models=list(models), histories=list(histories))


WORDS = {"scaled_255": "inputs scaled /255", "raw": "inputs used as they are"}


def named(preprocessing: str) -> dict[str, str]:
    return {"preprocessing": preprocessing, "preprocessing_words": WORDS[preprocessing]}


def inputs(result: EvaluationResult, lab: LabData | None = None, context: str = "",
           cutoff: Cutoff | None = None) -> ScoringInputs:
    spec = LabSpec(id="frameworks", title="t", datasets=DIGITS, checks=(STOP,))
    return ScoringInputs(spec=spec, output=result, lab=lab or LabData(Path("/nonexistent"), "frameworks"),
                         context=context, cutoff=cutoff)


def multi(hidden_wrong: int, train_wrong: int, architecture: ArchitectureFacts | None = None) -> ModelResult:
    return ModelResult(name="mnist_multi_model", found=True, via="discovery", source="`net2`", framework="torch",
                       facts=architecture or facts(3),
                        **named("scaled_255"),
                       predictions=correct(HIDDEN_Y, hidden_wrong), train_predictions=correct(TRAIN_Y, train_wrong))


def test_partial_credit_is_linear_between_thresholds_in_both_directions() -> None:
    assert partial_credit(0.85, 0.9, 0.8, 20) == 10.0
    assert partial_credit(0.95, 0.9, 0.8, 20) == 20.0
    assert partial_credit(0.055, 0.03, 0.08, 15) == 7.5
    assert partial_credit(0.2, 0.03, 0.08, 15) == 0.0


def test_accuracy_full_credit_names_the_model_and_its_preprocessing(lab: LabData) -> None:
    result = score_accuracy(MULTI, inputs(output(multi(2, 0)), lab, ""))
    assert (result.passed, result.score, result.measured) == (True, 30.0, 0.98)
    assert result.message == ("`net2` (inputs scaled /255) reached accuracy 0.980 on 100 hidden MNIST samples (full "
                              "credit at 0.97, none at or below 0.90): full credit")


def test_accuracy_partial_credit_says_what_to_try(lab: LabData) -> None:
    result = score_accuracy(MULTI, inputs(output(multi(6, 0)), lab, ""))
    assert (result.passed, result.score) == (False, 17.1429)
    assert result.message == ("`net2` (inputs scaled /255) reached accuracy 0.940 on 100 hidden MNIST samples (full "
                              "credit at 0.97, none at or below 0.90): partial credit, 17.1429 of 30 points; train "
                              "longer, tune the learning rate, or check the input scaling")


def test_a_cnn_in_the_multi_layer_slot_gets_nothing_and_is_told_why(lab: LabData) -> None:
    result = score_accuracy(MULTI, inputs(output(multi(0, 0, facts(2, conv=True))), lab, ""))
    assert (result.passed, result.score, result.measured) == (False, 0.0, 1.0)
    assert result.message == ("`net2` has convolution layers; this check needs a fully-connected network: at least "
                              "two dense (Linear/Dense) layers with a non-linearity such as ReLU between them, and no "
                              "convolution or recurrent layers (`net2` (inputs scaled /255) reached accuracy 1.000 on "
                              "100 hidden MNIST samples, which counts only for that architecture)")


def test_stacked_linear_layers_without_activation_are_not_multi_layer(lab: LabData) -> None:
    result = score_accuracy(MULTI, inputs(output(multi(0, 0, facts(2, between=False))), lab, ""))
    assert result.score == 0.0
    assert result.message.startswith("`net2` has 2 dense layers but no non-linearity between them, so it computes "
                                     "what one layer could; this check needs a fully-connected network")


def test_parameters_outside_dense_layers_are_not_a_single_layer_network(lab: LabData) -> None:
    hidden = facts(1).model_copy(update={"unrecognised_parameters": 25_408})
    entry = ModelResult(name="mnist_single_model", found=True, via="contract", source="`mnist_single_model`",
                        framework="torch", facts=hidden,
                        **named("raw"), predictions=correct(HIDDEN_Y, 0))
    result = score_accuracy(SINGLE, inputs(output(entry), lab, ""))
    assert (result.passed, result.score) == (False, 0.0)
    assert result.message.startswith(
        "`mnist_single_model` computes with 25,408 parameters outside its dense layers (raw tensors or custom layers "
        "the grader cannot tell apart from other architectures); this check needs a single-layer network")


def test_two_dense_layers_in_the_single_layer_slot_fail(lab: LabData) -> None:
    entry = ModelResult(name="mnist_single_model", found=True, via="contract", source="`mnist_single_model`",
                        framework="torch", facts=facts(2),
                        **named("raw"), predictions=correct(HIDDEN_Y, 0))
    result = score_accuracy(SINGLE, inputs(output(entry), lab, ""))
    assert result.message == ("`mnist_single_model` has 2 dense layers; this check needs a single-layer network: "
                              "exactly one dense (Linear/Dense) layer from the inputs to the classes, no convolution "
                              "or recurrent layers (`mnist_single_model` (inputs used as they are) reached accuracy "
                              "1.000 on 100 hidden MNIST samples, which counts only for that architecture)")


def test_one_class_predictions_are_called_out(lab: LabData) -> None:
    entry = ModelResult(name="mnist_single_model", found=True, via="contract", source="`mnist_single_model`",
                        framework="keras", facts=facts(1, between=False),
                        **named("scaled_255"),
                        predictions=[3] * 100)
    result = score_accuracy(SINGLE, inputs(output(entry), lab, ""))
    assert (result.score, result.measured) == (0.0, 0.1)
    assert result.message == ("`mnist_single_model` (inputs scaled /255) reached accuracy 0.100 on 100 hidden MNIST "
                              "samples (full credit at 0.90, none at or below 0.80): no credit; it predicted class 3 "
                              "for every sample, so it has not learned to tell the classes apart: check that labels "
                              "match inputs, the learning rate and the input scaling")


def test_a_missing_model_says_what_to_assign_and_why_it_may_be_missing(lab: LabData) -> None:
    result = score_accuracy(SINGLE, inputs(output(), lab, "cell 4 raised ValueError: boom"))
    assert result.message == ("no trained model named `mnist_single_model` was found after the notebook ran, and no "
                              "single-layer MNIST model turned up among its variables; train the network and assign "
                              "it to `mnist_single_model` (cell 4 raised ValueError: boom)")


def test_gap_is_training_minus_hidden_accuracy(lab: LabData) -> None:
    result = score_gap(GAP, inputs(output(multi(hidden_wrong=6, train_wrong=0)), lab, ""))
    assert (result.passed, result.score, result.measured) == (False, 6.0, 0.06)
    assert result.message == ("`net2` (inputs scaled /255) classified 1.000 of 50 training samples and 0.940 of the "
                              "hidden samples correctly: gap 0.060 (full credit at or below 0.03, none at or above "
                              "0.08): partial credit, 6 of 15 points; the network memorises its training data: stop "
                              "training at the validation-loss minimum, add dropout or weight decay, or use fewer "
                              "hidden units")
    assert score_gap(GAP, inputs(output(multi(hidden_wrong=2, train_wrong=0)), lab, "")).passed


def test_an_untrained_network_earns_nothing_for_its_small_gap(lab: LabData) -> None:
    gated = GAP.model_copy(update={"min_hidden_accuracy": 0.9})
    # 0.11 hidden, 0.10 training
    result = score_gap(gated, inputs(output(multi(hidden_wrong=89, train_wrong=45)), lab, ""))
    assert (result.passed, result.score, result.measured) == (False, 0.0, -0.01)
    assert result.message == ("`net2` (inputs scaled /255) classified 0.110 of the hidden samples correctly, below the "
                              "0.90 a network must reach before its overfitting gap counts (an untrained network has "
                              "no gap: its gap here is -0.010): no credit; train it until it learns, then keep the "
                              "gap small")
    # gap 0.10
    assert score_gap(gated, inputs(output(multi(hidden_wrong=10, train_wrong=0)), lab, "")).passed is False
    assert score_gap(gated, inputs(output(multi(hidden_wrong=2, train_wrong=0)), lab, "")).passed is True


def history(val_loss: Sequence[float | None], source: str = "`hist`") -> HistoryResult:
    return HistoryResult(name="mnist_multi_history", found=True, via="discovery", source=source,
                         loss=[1.0] * len(val_loss), val_loss=list(val_loss))


def test_early_stopping_passes_within_patience() -> None:
    result = score_early_stopping(STOP, inputs(output(histories=(history([0.5, 0.4, 0.3, 0.31, 0.32, 0.33]),))))
    assert (result.passed, result.score, result.measured) == (True, 15.0, 3.0)
    assert result.message == ("`hist`: validation loss was lowest at epoch 3 of 6; training stopped 3 epochs later, "
                              "within the patience of 3: early stopping worked")


def cut(limit: str = "cell", interrupted: bool = True, clock: str = "cpu") -> Cutoff:
    return Cutoff(limit=limit, cell_number=7, ran_s=70.0, started_after_s=5.0, cell_timeout_s=60,  # type: ignore[arg-type]
                  notebook_timeout_s=900, interrupted=interrupted, clock=clock, cpu_s=60.4)  # type: ignore[arg-type]


def test_early_stopping_gives_no_credit_to_a_history_the_graders_limit_ended() -> None:
    """Issue 25 item 6: validation loss still falling when the limit interrupted the training is the limit's doing,
    not early stopping; the sentence says so and names the cut cell."""
    still_falling = history([0.5, 0.4, 0.3, 0.25])
    for cutoff in (cut(), cut(limit="notebook"), cut(clock="wall")):
        result = score_early_stopping(STOP, inputs(output(histories=(still_falling,)), cutoff=cutoff))
        assert (result.passed, result.score, result.measured) == (False, 0.0, 0.0)
        assert result.message == (f"`hist`: training was still running after epoch 4 when the grader's {cutoff.limit} "
                                   "limit interrupted cell 7, so this history shows where the limit stopped it, not "
                                   "where early stopping would have; no credit for early stopping in a run the limit "
                                   "ended")
    # a run the limit stopped between cells ended its training on its own: credited as before
    between = score_early_stopping(STOP, inputs(output(histories=(still_falling,)), cutoff=cut("notebook", False)))
    assert (between.passed, between.score) == (True, 15.0)
    # an overfitting history fails on its own evidence, the same with or without a cut
    curve = [0.5, 0.4, 0.35, 0.3] + [0.3 + 0.007 * i for i in range(1, 17)]
    assert score_early_stopping(STOP, inputs(output(histories=(history(curve),)), cutoff=cut())).message == \
        score_early_stopping(STOP, inputs(output(histories=(history(curve),)))).message


def test_early_stopping_fails_with_the_epoch_and_rise_of_validation_loss() -> None:
    curve = [0.5, 0.4, 0.35, 0.3] + [0.3 + 0.007 * i for i in range(1, 17)]
    result = score_early_stopping(STOP, inputs(output(histories=(history(curve),))))
    assert (result.passed, result.score, result.measured) == (False, 0.0, 16.0)
    assert result.message == ("`hist`: validation loss was lowest at epoch 4 and 37% higher at epoch 20: the network "
                              "overfits after epoch 4 — stop there or restore the best weights (at most 3 epochs "
                              "after the minimum; this run went on for 16)")


def test_early_stopping_without_a_history_explains_what_to_keep() -> None:
    result = score_early_stopping(STOP, inputs(output()))
    assert result.message == ("no per-epoch training history was found: assign `mnist_multi_history = model.fit(..., "
                              "validation_data=...)` (Keras) or a dict {'loss': [...], 'val_loss': [...]} filled once "
                              "per epoch (PyTorch), so the grader can see where validation loss was lowest")


def test_early_stopping_needs_validation_loss() -> None:
    entry = HistoryResult(name="mnist_multi_history", found=True, via="contract", source="`mnist_multi_history`",
                          loss=[0.5, 0.4])
    result = score_early_stopping(STOP, inputs(output(histories=(entry,))))
    assert result.message == ("`mnist_multi_history` holds training loss for 2 epochs but no validation loss: pass "
                              "validation_data (or validation_split) to fit, or record the loss on held-out data after "
                              "every epoch")


def test_a_diverged_history_is_reported() -> None:
    result = score_early_stopping(STOP, inputs(output(histories=(history([0.5, None, None]),))))
    assert result.message == ("`hist`: validation loss stopped being a finite number after epoch 1: the training "
                              "diverged; lower the learning rate")


def test_a_history_without_its_network_earns_nothing(lab: LabData) -> None:
    spec = LabSpec(id="frameworks", title="t", datasets=DIGITS, checks=(MULTI, GAP, STOP))
    results = score_checks(spec, output(histories=(history([0.5, 0.4, 0.3]),)), lab, "cell 3 raised NameError")
    assert (results[2].id, results[2].passed, results[2].score) == ("stop", False, 0.0)
    assert results[2].message == (
        "`hist` was found, but the network it should record was not: no trained model named `mnist_multi_model` was "
        "found after the notebook ran, and no multi-layer MNIST model turned up among its variables; train the "
        "network and assign it to `mnist_multi_model` (cell 3 raised NameError)")


def test_checks_whose_data_is_not_installed_blame_the_installation_not_the_notebook(tmp_path: Path) -> None:
    bare = LabData(tmp_path, "frameworks")  # no MNIST imported: the harness had nothing to evaluate the models on
    spec = LabSpec(id="frameworks", title="t", datasets=DIGITS, checks=(MULTI, GAP, STOP))
    results = score_checks(spec, output(histories=(history([0.5, 0.4, 0.3]),)), bare, "")
    expected = ("the MNIST data is not installed on this grader, so this check was not measured; this is not a fault "
                "of the notebook: ask your instructor to install it (`labgrader datasets import --lab frameworks "
                "--dataset mnist FILE`) and regrade")
    assert [(r.passed, r.message) for r in results[:2]] == [(False, expected), (False, expected)]
    assert results[2].passed  # the history is judged on its own: whether its network exists cannot be told here


def test_score_checks_scores_every_kind_in_spec_order(lab: LabData) -> None:
    spec = LabSpec(id="frameworks", title="t", datasets=DIGITS, checks=(SINGLE, MULTI, GAP, STOP))
    results = score_checks(spec, output(multi(2, 0), histories=(history([0.3, 0.2]),)), lab, "")
    assert [(r.id, r.passed) for r in results] == [("single", False), ("multi", True), ("gap", True), ("stop", True)]


def test_a_history_the_grader_refutes_earns_nothing(lab: LabData) -> None:
    refuted = history([0.5, 0.4, 0.3]).model_copy(update={
        "consistent": False, "cross_check": "the network's cross-entropy on training data is 2.302, far above every "
                                            "training loss the history records (1.000 to 1.000): the history does not "
                                            "describe this network"})
    spec = LabSpec(id="frameworks", title="t", datasets=DIGITS, checks=(MULTI, GAP, STOP))
    results = score_checks(spec, output(multi(2, 0), histories=(refuted,)), lab, "")
    assert (results[2].passed, results[2].score) == (False, 0.0)
    assert results[2].message == (
        "`hist`: the network's cross-entropy on training data is 2.302, far above every training loss the history "
        "records (1.000 to 1.000): the history does not describe this network; record the loss of the network you "
        "grade, epoch by epoch")


def test_every_check_kind_of_the_spec_has_a_registered_scorer() -> None:
    from typing import get_args

    from grader.scoring.scorers import SCORERS
    from grader.spec.lab import Check

    kinds = {get_args(model.model_fields["kind"].annotation)[0] for model in get_args(get_args(Check)[0])}
    assert kinds == set(SCORERS) == {"accuracy", "overfitting_gap", "early_stopping", "recall", "precision", "f1",
                                     "balanced_accuracy", "top_k_accuracy", "min_class_recall", "mse", "mae", "r2",
                                     "mean_return", "success_rate"}


def test_checks_short_of_full_credit_name_the_dataset_the_notebook_asked_for() -> None:
    error = CellError(cell_index=24, ename="DatasetNotServed",
                      evalue="torchvision.datasets.FashionMNIST is not served here: the grader has no network and "
                             "provides only this lab's data")
    passed = CheckResult(id="iris_accuracy", title="Iris", passed=True, score=20, max_score=20, message="fine")
    failed = CheckResult(id="mnist_multi_layer_accuracy", title="MNIST", passed=False, score=0, max_score=30,
                         message="`mnist_net` reached accuracy 0.098 on 5000 hidden MNIST samples: no credit")
    out = with_dataset_note([passed, failed], [error])
    assert out[0] == passed
    assert out[1].message == (
        "`mnist_net` reached accuracy 0.098 on 5000 hidden MNIST samples: no credit; cell 25 tried to load "
        "torchvision.datasets.FashionMNIST, which the grader cannot download: the sandbox has no network and only the "
        "lab's data is served, so the networks of this lab must be trained on it")
    assert with_dataset_note(out, [error]) == out  # said once
    assert with_dataset_note([failed], []) == [failed]
