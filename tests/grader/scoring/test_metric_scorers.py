"""The classifier-metric scorers (recall, precision, F1, balanced accuracy, top-k, the per-class recall floor) on
hand-built evaluation results and a small hidden split (no kernels): the numbers, the partial credit, and messages
that name classes by their declared names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.data.lab_data import LabData
from grader.evaluation.result import ArchitectureFacts, EvaluationResult, ModelResult
from grader.scoring.scorers import SCORERS, ScoringInputs, score_checks
from grader.spec.dataset import DatasetSpec
from grader.spec.lab import LabSpec

# 40 malignant (label 0), 60 benign (label 1)
TUMOUR_Y = np.array([0] * 40 + [1] * 60)
# 36 of the malignant found, 6 benign called malignant
TUMOUR_PREDICTED = [0] * 36 + [1] * 4 + [0] * 6 + [1] * 54
# three species: 10 each; the last species is often mistaken for the second
SPECIES_Y = np.array([0] * 10 + [1] * 10 + [2] * 10)
SPECIES_PREDICTED = [0] * 10 + [1] * 9 + [0] + [2] * 4 + [1] * 5 + [0]
TUMOURS = DatasetSpec(id="tumours", title="tumour", classes=("malignant", "benign"), input_shape=(3,))
SPECIES = DatasetSpec(id="species", title="species", classes=("ash", "birch", "cedar"), input_shape=(3,))


@pytest.fixture
def lab(tmp_path: Path) -> LabData:
    lab = LabData(tmp_path, "metrics")
    lab.hidden.mkdir(parents=True)
    lab.visible.mkdir(parents=True)
    for name, y in (("tumours", TUMOUR_Y), ("species", SPECIES_Y)):
        np.savez(lab.hidden / f"{name}.npz", x=np.zeros((len(y), 3), np.float32), y=y)
        np.savez(lab.visible / f"{name}.npz", x_train=np.zeros((4, 3), np.float32), y_train=y[:4])
    return lab


def check(kind: str, dataset: str, full: float, none: float, **extra: Any) -> dict[str, Any]:
    return {"id": kind, "title": kind, "kind": kind, "model": f"{dataset}_model", "dataset": dataset, "points": 10,
            "full_credit_at": full, "no_credit_at": none, **extra}


def model(name: str, predicted: list[int], ranked: list[list[int]] | None = None, outputs: int = 3) -> ModelResult:
    facts = ArchitectureFacts(framework="torch", dense_layers=2, parameters=100, input_size=3, output_size=outputs)
    return ModelResult(name=name, found=True, via="contract", source=f"`{name}`", framework="torch", facts=facts,
                       preprocessing="raw", preprocessing_words="inputs used as they are", predictions=predicted,
                       ranked=ranked)


def grade(lab: LabData, *checks: dict[str, Any], models: tuple[ModelResult, ...] = ()) -> dict[str, Any]:
    spec = LabSpec.model_validate({"id": "metrics", "title": "metrics", "datasets": [TUMOURS, SPECIES],
                                   "checks": list(checks)})
    results = score_checks(spec, EvaluationResult(models=list(models)), lab, "")
    return {r.id: r for r in results}


def test_every_metric_kind_is_registered() -> None:
    assert {"recall", "precision", "f1", "balanced_accuracy", "top_k_accuracy", "min_class_recall"} <= set(SCORERS)


def test_recall_of_the_named_class_with_partial_credit(lab: LabData) -> None:
    got = grade(lab, check("recall", "tumours", 0.95, 0.85, **{"class": "malignant"}),
                models=(model("tumours_model", TUMOUR_PREDICTED, outputs=2),))["recall"]
    assert (got.passed, got.score, got.measured) == (False, 5.0, 0.9)
    assert got.message == (
        "`tumours_model` (inputs used as they are) reached recall 0.900 on the malignant class (36 of 40 hidden "
        "malignant samples predicted malignant) (full credit at 0.95, none at or below 0.85): partial credit, 5 of 10 "
        "points; the network misses malignant samples: weight the malignant class more in the loss (class weights), "
        "oversample it, or train longer")


def test_precision_f1_and_balanced_accuracy_of_a_binary_lab(lab: LabData) -> None:
    got = grade(lab, check("precision", "tumours", 0.8, 0.5, **{"class": "malignant"}),
                check("f1", "tumours", 0.95, 0.75, **{"class": "malignant"}),
                check("balanced_accuracy", "tumours", 0.9, 0.5),
                models=(model("tumours_model", TUMOUR_PREDICTED, outputs=2),))
    assert got["precision"].measured == round(36 / 42, 4) and got["precision"].passed
    assert "(36 of the 42 hidden samples it predicted malignant are malignant)" in got["precision"].message
    f1 = 2 * (36 / 42) * 0.9 / (36 / 42 + 0.9)
    assert got["f1"].measured == round(f1, 4)
    assert got["f1"].score == round(10 * (f1 - 0.75) / 0.2, 4)
    assert "F1 0.878 on the malignant class (precision 0.857, recall 0.900)" in got["f1"].message
    assert (got["balanced_accuracy"].passed, got["balanced_accuracy"].measured) == (True, 0.9)
    assert got["balanced_accuracy"].message.endswith(
        "balanced accuracy 0.900, the mean recall over the 2 classes of the hidden data (lowest: malignant, 0.900) "
        "(full credit at 0.90, none at or below 0.50): full credit")


def test_macro_f1_min_class_recall_and_top_k_name_the_weakest_class(lab: LabData) -> None:
    ranked = [[p, (p + 1) % 3] for p in SPECIES_PREDICTED]  # the second guess is the next class
    got = grade(lab, check("f1", "species", 0.9, 0.5, average="macro"),
                check("min_class_recall", "species", 0.8, 0.3),
                check("top_k_accuracy", "species", 0.9, 0.5, k=2),
                models=(model("species_model", SPECIES_PREDICTED, ranked),))
    # per class: ash P 10/12 R 1, birch P 9/14 R .9, cedar P 1 R .4
    macro = np.mean([2 * (10 / 12) / (10 / 12 + 1), 2 * (9 / 14) * 0.9 / (9 / 14 + 0.9), 2 * 0.4 / 1.4])
    assert got["f1"].measured == round(float(macro), 4)
    assert "macro F1 0.744, the mean F1 over the 3 classes of the hidden data (lowest: cedar, 0.571)" in \
        got["f1"].message
    assert (got["min_class_recall"].measured, got["min_class_recall"].score) == (0.4, 2.0)
    assert ("a recall of 0.400 on its weakest class, cedar (4 of 10 hidden cedar samples predicted cedar, mistaken "
            "most often for birch), the lowest of 3 classes") in got["min_class_recall"].message
    # top-2: every cedar mistaken for birch ranks cedar second (birch + 1); the one cedar called ash ranks birch
    assert got["top_k_accuracy"].measured == round(29 / 30, 4)
    assert "top-2 accuracy 0.967 on 30 hidden species samples (the true class among its 2 highest scores)" in \
        got["top_k_accuracy"].message


def test_top_k_without_a_ranking_says_why(lab: LabData) -> None:
    got = grade(lab, check("top_k_accuracy", "species", 0.9, 0.5, k=2),
                models=(model("species_model", SPECIES_PREDICTED),))["top_k_accuracy"]
    assert (got.passed, got.score) == (False, 0.0)
    assert "graded before the lab had this check: a regrade measures it" in got.message
    one = grade(lab, check("top_k_accuracy", "species", 0.9, 0.5, k=2),
                models=(model("species_model", SPECIES_PREDICTED, outputs=1),))["top_k_accuracy"]
    assert "it has 1 output, and a top-2 check needs one score per class" in one.message


def test_a_missing_model_fails_every_metric_with_the_usual_sentence(lab: LabData) -> None:
    got = grade(lab, check("recall", "tumours", 0.9, 0.5, **{"class": "benign"}))["recall"]
    assert (got.passed, got.score) == (False, 0.0)
    assert got.message.startswith("no trained model named `tumours_model` was found")


def test_a_class_absent_from_the_hidden_data_blames_the_lab(lab: LabData, tmp_path: Path) -> None:
    np.savez(lab.hidden / "tumours.npz", x=np.zeros((3, 3), np.float32), y=np.array([1, 1, 1]))
    got = grade(lab, check("recall", "tumours", 0.9, 0.5, **{"class": "malignant"}),
                models=(model("tumours_model", [1, 1, 1], outputs=2),))["recall"]
    assert got.message.startswith("the hidden tumour data holds no sample of class malignant")


def test_scoring_inputs_are_what_every_scorer_reads() -> None:
    # cutoff: the grader's limit that stopped the run (the early-stopping check gives no credit to what it ended)
    assert set(ScoringInputs.__dataclass_fields__) == {"spec", "output", "lab", "context", "cutoff"}


def test_a_declared_class_absent_from_the_hidden_split_is_reported_not_counted(lab: LabData) -> None:
    """Four declared species, none of the fourth among the hidden rows: the means and the floor run over the three
    present (a recall of a class with no sample is undefined), and each message names the one left out."""
    four = SPECIES.model_copy(update={"classes": ("ash", "birch", "cedar", "dogwood")})
    spec = LabSpec.model_validate({"id": "metrics", "title": "metrics", "datasets": [TUMOURS, four], "checks": [
        check("f1", "species", 0.9, 0.5, average="macro"), check("balanced_accuracy", "species", 0.9, 0.5),
        check("min_class_recall", "species", 0.8, 0.3)]})
    results = {r.id: r for r in score_checks(spec, EvaluationResult(models=[
        model("species_model", SPECIES_PREDICTED, outputs=4)]), lab, "")}
    note = "; not counted: dogwood, which has no sample in the hidden data (declared 4 classes)"
    assert f"the mean F1 over the 3 classes of the hidden data (lowest: cedar, 0.571{note})" in results["f1"].message
    assert results["balanced_accuracy"].measured == round((1 + 0.9 + 0.4) / 3, 4)
    assert ("balanced accuracy 0.767, the mean recall over the 3 classes of the hidden data (lowest: cedar, 0.400"
            f"{note})") in results["balanced_accuracy"].message
    assert f"the lowest of 3 classes{note} (full credit at 0.80" in results["min_class_recall"].message
