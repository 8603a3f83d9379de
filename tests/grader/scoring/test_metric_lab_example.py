"""docs/lab-author.md's worked example of the classifier metrics, as a tested lab: the TOML block between its
`metric-example` markers is loaded as the lab, its scikit-learn data prepared as the service prepares it, a student's
one-output PyTorch network (a logit, trained with BCEWithLogitsLoss) exported by the in-kernel harness and evaluated
by the evaluator's own job runner, then scored: recall of the malignant class, precision, F1, balanced accuracy."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from grader.data.lab_data import LabData
from grader.data.prepare import prepare_dataset
from grader.evaluation.__main__ import run_job
from grader.evaluation.request import build_evaluation_job, build_request
from grader.evaluation.result import EvaluationResult
from grader.scoring.report import CheckResult
from grader.scoring.scorers import score_checks
from grader.spec.lab import LabSpec

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "lab-author.md"


def example_spec() -> LabSpec:
    page = GUIDE.read_text(encoding="utf-8")
    block = page.split("<!-- metric-example:start -->")[1].split("<!-- metric-example:end -->")[0]
    return LabSpec.model_validate(tomllib.loads(block.split("```toml")[1].split("```")[0]))


def trained(x: np.ndarray, y: np.ndarray, epochs: int) -> nn.Module:
    """A student's network: standardised inputs, one output, a logit (no sigmoid), BCEWithLogitsLoss."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 1))
    inputs = torch.tensor((x - x.mean(0)) / x.std(0), dtype=torch.float32)
    target = torch.tensor(y, dtype=torch.float32)[:, None]  # 1 = benign, the second declared class
    optimiser = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(epochs):
        optimiser.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(net(inputs), target).backward()  # type: ignore[no-untyped-call]
        optimiser.step()
    return net


def graded(spec: LabSpec, lab: LabData, tmp_path: Path, user_ns: dict[str, Any],
           harness: dict[str, Any]) -> dict[str, CheckResult]:
    private, host = tmp_path / "private", tmp_path / "host"
    private.mkdir(exist_ok=True)
    host.mkdir(exist_ok=True)
    nonce = "n" * 32
    request = build_request(spec, lab, private, nonce, private / "export.json")
    (private / "request.json").write_text(json.dumps(request))
    harness["run"](str(private / "request.json"), user_ns)
    answer = run_job(build_evaluation_job(spec, lab, host, private / "export.json", nonce))
    results = score_checks(spec, EvaluationResult.model_validate(answer["result"]), lab, "")
    return {r.id: r for r in results}


def test_the_guides_metric_lab_grades_a_logit_network(harness: dict[str, Any], tmp_path: Path) -> None:
    spec = example_spec()
    assert [c.kind for c in spec.checks] == ["recall", "precision", "f1", "balanced_accuracy"]
    lab = LabData(tmp_path / "data", spec.id)
    prepare_dataset(lab, spec.dataset("cancer"))
    with np.load(lab.visible / "cancer.npz") as visible:
        x, y = visible["x_train"], visible["y_train"]
    assert x.dtype == np.float64 and set(np.unique(y)) == {0, 1}
    hidden = lab.hidden_split("cancer")

    good = graded(spec, lab, tmp_path, {"cancer_model": trained(x, y, 300)}, harness)
    assert all(r.passed for r in good.values()), {k: r.message for k, r in good.items()}
    malignant = int((hidden.y == 0).sum())
    recall = good["malignant_recall"]
    assert recall.message.startswith("`cancer_model` (inputs standardised per feature) reached recall ")
    assert "hidden malignant samples predicted malignant) (full credit at 0.90" in recall.message
    assert f" of {malignant} hidden malignant samples" in recall.message

    # labels swapped in training: every check earns nothing, and the messages name the malignant class
    (tmp_path / "again").mkdir()
    poor = graded(spec, lab, tmp_path / "again", {"cancer_model": trained(x, 1 - y, 300)}, harness)
    assert {k: r.score for k, r in poor.items()} == dict.fromkeys(good, 0.0)
    assert "on the malignant class (" in poor["malignant_recall"].message
