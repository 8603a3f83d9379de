"""Stored scoring inputs: packed and read back, bounded, and judged against a changed spec (no kernels)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest

from grader.data.lab_data import LabData
from grader.evaluation.result import EvaluationResult, HistoryResult
from grader.scoring.report import CellError
from grader.scoring.stored import (
    DIGEST_CACHE,
    MAX_STORED_EVALUATION_BYTES,
    StoredEvaluation,
    StoredOutputUnreadable,
    evaluation_plan,
    pack_evaluation,
    rescore_report,
    score_report,
    unpack_evaluation,
)
from grader.spec.lab import LabSpec
from grader.spec.metric_checks import RecallCheck, TopKAccuracyCheck
from tests.grader.scoring.conftest import HIDDEN_Y, TRAIN_Y
from tests.grader.scoring.test_scoring import DIGITS, GAP, MULTI, SINGLE, STOP, multi

SPEC = LabSpec(id="frameworks", title="t", datasets=DIGITS, checks=(SINGLE, MULTI, GAP, STOP))


def inputs_for(spec: LabSpec, lab: LabData, hidden_wrong: int = 1) -> StoredEvaluation:
    history = HistoryResult(name="mnist_multi_history", found=True, via="contract", source="`h`",
                            loss=[1.0, 0.5, 0.4], val_loss=[1.0, 0.6, 0.7])
    output = EvaluationResult(models=[multi(hidden_wrong, 0)], histories=[history])
    return StoredEvaluation(plan=evaluation_plan(spec, lab), output=output)


def test_pack_and_unpack_give_back_the_same_inputs_and_the_same_report(lab: LabData) -> None:
    inputs = inputs_for(SPEC, lab)
    packed = pack_evaluation(inputs)
    assert packed is not None
    assert unpack_evaluation(packed) == inputs
    errors = (CellError(cell_index=2, ename="ValueError", evalue="bad"),)
    first = score_report(SPEC, inputs, lab, cell_errors=errors, execution_note="", device="cpu", isolation="bwrap",
                         timings_s={"execute": 1.0})
    again = rescore_report(SPEC, first, unpack_evaluation(packed), lab)
    assert again == first
    assert [c.score for c in first.checks] == [0.0, 30.0, 15.0, 15.0]


def test_a_changed_threshold_and_point_value_are_applied(lab: LabData) -> None:
    inputs = inputs_for(SPEC, lab, hidden_wrong=5)  # hidden accuracy 0.95
    first = score_report(SPEC, inputs, lab)
    stricter = SPEC.model_copy(update={"checks": (SINGLE, MULTI.model_copy(update={
        "points": 60, "full_credit_at": 0.99, "no_credit_at": 0.91}), GAP, STOP)})
    assert inputs.cannot_answer(evaluation_plan(stricter, lab)) == ""
    multi_check = rescore_report(stricter, first, inputs, lab).checks[1]
    assert (multi_check.score, multi_check.max_score, multi_check.passed) == (30.0, 60, False)
    assert "(full credit at 0.99, none at or below 0.91)" in multi_check.message


def test_what_stored_inputs_cannot_answer_is_named(lab: LabData) -> None:
    inputs = inputs_for(SPEC, lab)
    new_slot = SINGLE.model_copy(update={"id": "conv", "model": "mnist_conv_model"})
    with_slot = SPEC.model_copy(update={"checks": (*SPEC.checks, new_slot)})
    assert inputs.cannot_answer(evaluation_plan(with_slot, lab)) == (
        "the lab now evaluates a model slot `mnist_conv_model` (single-layer MNIST model) that was not evaluated then")
    stricter_slot = SPEC.model_copy(update={"checks": (SINGLE.model_copy(update={"architecture": "multi_dense"}),)})
    assert inputs.cannot_answer(evaluation_plan(stricter_slot, lab)) == (
        "model slot `mnist_single_model` now requires architecture `multi_dense` (then `single_dense`): the grader "
        "may pick a different network")
    new_history = STOP.model_copy(update={"id": "stop2", "history": "other_history"})
    assert inputs.cannot_answer(evaluation_plan(SPEC.model_copy(update={"checks": (new_history,)}), lab)) == (
        "the lab now reads a training history `other_history` that was not looked for then")
    # a metric of the same predictions rescores; a top-k check needs class rankings the run did not keep
    recall = RecallCheck.model_validate({"id": "sevens", "title": "t", "kind": "recall", "model": "mnist_multi_model",
                                         "dataset": "mnist", "class": "7", "points": 5, "full_credit_at": 0.9,
                                         "no_credit_at": 0.5})
    assert inputs.cannot_answer(evaluation_plan(SPEC.model_copy(update={"checks": (*SPEC.checks, recall)}), lab)) == ""
    top = TopKAccuracyCheck(id="top3", title="t", kind="top_k_accuracy", model="mnist_multi_model", dataset="mnist",
                            k=3, points=5, full_credit_at=0.9, no_credit_at=0.5)
    assert inputs.cannot_answer(evaluation_plan(SPEC.model_copy(update={"checks": (*SPEC.checks, top)}), lab)) == (
        "model slot `mnist_multi_model` now has a top-3 check, and its class scores were not ranked then")
    np.savez(lab.hidden / "mnist.npz", x=np.zeros((100, 28, 28), np.uint8), y=HIDDEN_Y[::-1].copy())
    assert inputs.cannot_answer(evaluation_plan(SPEC, lab)) == (
        "the data of dataset `mnist` changed since then (a new hidden or training split)")


def test_rewriting_the_same_arrays_keeps_the_data_digest(lab: LabData) -> None:
    before = evaluation_plan(SPEC, lab)
    np.savez_compressed(lab.visible / "mnist.npz", x_train=np.zeros((50, 28, 28), np.uint8), y_train=TRAIN_Y)
    assert evaluation_plan(SPEC, lab) == before


def test_corrupt_oversized_and_outdated_stored_forms_are_refused(lab: LabData) -> None:
    with pytest.raises(StoredOutputUnreadable, match=r"^the stored evaluation output is corrupt: "):
        unpack_evaluation(b"not zlib")
    with pytest.raises(StoredOutputUnreadable, match=r"over its limit$"):
        unpack_evaluation(b"x" * (MAX_STORED_EVALUATION_BYTES + 1))
    with pytest.raises(StoredOutputUnreadable, match=r"^the stored evaluation output unpacks past its limit$"):
        unpack_evaluation(zlib.compress(b" " * (40 * 1024 * 1024)))
    with pytest.raises(StoredOutputUnreadable, match=r"^the stored evaluation output is in a format this grader no "
                                                     r"longer reads \(1 field\(s\) differ\)$"):
        unpack_evaluation(zlib.compress(b'{"format": "stored-evaluation/0", "plan": {}}'))


def test_an_output_too_large_to_keep_is_not_packed(lab: LabData) -> None:
    noise = np.random.default_rng(0).integers(0, 2**31 - 1, 190_000).tolist()
    big = [multi(0, 0).model_copy(update={"name": f"m{i}", "predictions": noise}) for i in range(4)]
    inputs = StoredEvaluation(plan=evaluation_plan(SPEC, lab), output=EvaluationResult(models=big))
    assert pack_evaluation(inputs) is None


def _digest_in_a_fresh_process(lab: LabData, dataset: str) -> str:
    code = ("import sys\nfrom pathlib import Path\nfrom grader.data.lab_data import LabData\n"
            "from grader.scoring.stored import dataset_sha256\n"
            "print(dataset_sha256(LabData(Path(sys.argv[1]), sys.argv[2]), sys.argv[3]))")
    done = subprocess.run([sys.executable, "-c", code, str(lab.data_dir), lab.lab_id, dataset], check=True,
                          capture_output=True, text=True, timeout=120)
    return done.stdout.strip()


def test_a_datasets_digest_is_kept_in_the_lab_directory_for_the_next_process_until_a_file_changes(
        lab: LabData) -> None:
    """Issue 27 item 2: `labgrader grade` (a process per job) read every array of the hidden and visible data to
    digest them for the stored evaluation; the digests are kept per (file, inode, size, mtime) in the lab's
    directory, never in `visible/` (which is copied into jobs)."""
    first = _digest_in_a_fresh_process(lab, "mnist")
    cache_path = lab.root / DIGEST_CACHE
    cache = json.loads(cache_path.read_text())
    assert sorted(cache) == [str(lab.hidden / "mnist.npz"), str(lab.visible / "mnist.npz")]
    assert not (lab.visible / DIGEST_CACHE).exists()
    # the next process takes the kept digests instead of reading the arrays: a planted one shows it
    planted = {path: [*entry[:3], "0" * 64] for path, entry in cache.items()}
    cache_path.write_text(json.dumps(planted))
    assert _digest_in_a_fresh_process(lab, "mnist") != first
    # a file that changed (new mtime) is read again, and its digest kept anew
    os.utime(lab.hidden / "mnist.npz", ns=(1, 1))
    os.utime(lab.visible / "mnist.npz", ns=(1, 1))
    assert _digest_in_a_fresh_process(lab, "mnist") == first
    assert all(entry[2] == 1 and entry[3] != "0" * 64 for entry in json.loads(cache_path.read_text()).values())
