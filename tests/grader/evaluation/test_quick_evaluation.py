"""An export without networks is evaluated on the host, without the evaluator's room, and answers exactly what the
evaluator answers; anything else (a network, a large or invalid export) is left to the evaluator."""

from __future__ import annotations

import json
from pathlib import Path

from grader.data.lab_data import LabData
from grader.evaluation.__main__ import run_job
from grader.evaluation.request import QUICK_EXPORT_BYTES, build_evaluation_job, evaluate_without_networks
from grader.evaluation.result import EvaluationResult
from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR
from tests.lab_data import frameworks_data

NONCE = "c" * 32
NO_NETWORK = {
    "nonce": NONCE,
    "slots": [{"name": "iris_model", "error": "`iris_model` is a str, not a trained network"},
              {"name": "mnist_single_model", "network": 3}],  # a network index the export does not hold
    "preprocessed": [{"dataset": "mnist", "function": "preprocess_mnist", "error": "ValueError"}],
    "histories": [{"name": "mnist_multi_history", "found": True, "via": "contract", "source": "`mnist_multi_history`",
                   "loss": [0.9, 0.5, 0.4], "val_loss": [0.8, 0.6, 0.7], "shape": "a Keras History"}],
}
ONE_NETWORK = {"nonce": NONCE, "networks": [{"id": 0, "label": "`net`", "framework": "torch",
                                             "ops": [{"op": "relu"}]}]}


def _by_the_evaluator(tmp_path: Path, lab: LabData, export: Path) -> EvaluationResult:
    spec = discover_labs(LABS_DIR)["frameworks"]
    host = tmp_path / "evaluator-in"
    host.mkdir()
    answer = run_job(build_evaluation_job(spec, lab, host, export, NONCE))
    return EvaluationResult.model_validate(answer["result"])


def test_an_export_without_networks_gets_the_evaluators_answer_without_it(tmp_path: Path) -> None:
    export = tmp_path / "export.json"
    export.write_text(json.dumps(NO_NETWORK))
    spec, lab = discover_labs(LABS_DIR)["frameworks"], frameworks_data(tmp_path / "lab")
    quick = evaluate_without_networks(spec, lab, export, NONCE)
    assert quick == _by_the_evaluator(tmp_path, lab, export)
    assert quick is not None
    assert [(m.name, m.found, m.error) for m in quick.models] == [
        ("iris_model", False, "`iris_model` is a str, not a trained network"),
        ("mnist_single_model", True, "could not be evaluated from its layers: the export does not hold it"),
        ("mnist_multi_model", False, None),
    ]
    assert [(h.name, h.found, h.consistent, h.cross_check) for h in quick.histories] == [
        ("mnist_multi_history", True, None, "not cross-checked: the network it records was not evaluated")]


def test_an_export_with_a_network_a_foreign_nonce_or_a_large_size_is_left_to_the_evaluator(tmp_path: Path) -> None:
    spec, lab = discover_labs(LABS_DIR)["frameworks"], frameworks_data(tmp_path / "lab")
    export = tmp_path / "export.json"
    export.write_text(json.dumps(ONE_NETWORK))
    assert evaluate_without_networks(spec, lab, export, NONCE) is None
    export.write_text(json.dumps({**NO_NETWORK, "nonce": "d" * 32}))
    assert evaluate_without_networks(spec, lab, export, NONCE) is None
    export.write_text(json.dumps({**NO_NETWORK, "padding": "x" * QUICK_EXPORT_BYTES}))
    assert evaluate_without_networks(spec, lab, export, NONCE) is None
    export.write_text("[" * 200_000)
    assert evaluate_without_networks(spec, lab, export, NONCE) is None
    assert evaluate_without_networks(spec, lab, tmp_path / "missing.json", NONCE) is None
