"""The harness output is untrusted input: whatever the sandbox wrote, reading it raises only HarnessOutputInvalid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.evaluation.harness_output import HarnessOutputInvalid, read_harness_output

NONCE = "a" * 32


def _refusal(path: Path, text: str) -> str:
    path.write_text(text)
    with pytest.raises(HarnessOutputInvalid) as info:
        read_harness_output(path, NONCE)
    return str(info.value)


def test_json_nested_past_the_parsers_depth_is_malformed_output(tmp_path: Path) -> None:
    message = _refusal(tmp_path / "out.json", "[" * 200_000)
    assert message.startswith("the evaluation output is malformed: maximum recursion depth exceeded")


def test_an_operation_the_grader_does_not_evaluate_is_malformed_output(tmp_path: Path) -> None:
    forged = {"nonce": NONCE, "networks": [{"id": 0, "label": "`net`", "framework": "torch",
                                            "ops": [{"op": "python_lookup", "table": "a0"}]}]}
    message = _refusal(tmp_path / "out.json", json.dumps(forged))
    assert message.startswith("the evaluation output is malformed: 1 validation error for HarnessExport\n"
                              "networks.0.ops.0\n  Input tag 'python_lookup' found using 'op' does not match any of "
                              "the expected tags")


def test_predictions_written_by_the_kernel_are_not_read(tmp_path: Path) -> None:
    forged = {"nonce": NONCE, "models": [{"name": "mnist_multi_model", "found": True, "predictions": [7] * 5000}]}
    path = tmp_path / "out.json"
    path.write_text(json.dumps(forged))
    assert read_harness_output(path, NONCE).networks == []


def test_an_output_of_another_run_is_refused(tmp_path: Path) -> None:
    other = {"nonce": "b" * 32, "models": []}
    assert _refusal(tmp_path / "out.json", json.dumps(other)) == (
        "the evaluation output was not written by this run's evaluation")
