"""The classifier-metric check kinds' spec models: a class named by its declared name, F1's average, top-k's k."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from grader.spec.lab import LabSpec


def _metric_lab(check: dict[str, object], classes: list[str] | None = None) -> dict[str, object]:
    dataset = {"id": "tumours", "title": "tumour", "classes": classes if classes is not None else ["malignant",
                                                                                                  "benign"]}
    return {"id": "metrics", "title": "m", "datasets": [dataset],
            "checks": [{"id": "c", "title": "c", "points": 10, "model": "m", "dataset": "tumours",
                        "full_credit_at": 0.9, "no_credit_at": 0.5, **check}]}


def test_a_metric_check_names_a_declared_class() -> None:
    spec = LabSpec.model_validate(_metric_lab({"kind": "recall", "class": "malignant"}))
    assert spec.checks[0].thresholds() == {"class": "malignant", "full_credit_at": 0.9, "no_credit_at": 0.5}
    with pytest.raises(ValidationError, match="dataset 'tumours' has no class 'malign'; its classes are malignant, "
                                              "benign"):
        LabSpec.model_validate(_metric_lab({"kind": "precision", "class": "malign"}))
    with pytest.raises(ValidationError, match="declare its `classes`"):
        LabSpec.model_validate(_metric_lab({"kind": "recall", "class": "malignant"}, classes=[]))


def test_f1_names_its_class_only_when_binary_and_top_k_ranks_at_least_two() -> None:
    assert LabSpec.model_validate(_metric_lab({"kind": "f1", "average": "macro"})).checks[0].thresholds() == {
        "average": "macro", "full_credit_at": 0.9, "no_credit_at": 0.5}
    with pytest.raises(ValidationError, match="average = \"binary\" names its positive class"):
        LabSpec.model_validate(_metric_lab({"kind": "f1"}))
    with pytest.raises(ValidationError, match="average = \"binary\" names its positive class"):
        LabSpec.model_validate(_metric_lab({"kind": "f1", "average": "macro", "class": "benign"}))
    with pytest.raises(ValidationError, match="greater than or equal to 2"):
        LabSpec.model_validate(_metric_lab({"kind": "top_k_accuracy", "k": 1}))
    with pytest.raises(ValidationError, match="no_credit_at must be below full_credit_at"):
        LabSpec.model_validate(_metric_lab({"kind": "balanced_accuracy", "no_credit_at": 0.95}))
