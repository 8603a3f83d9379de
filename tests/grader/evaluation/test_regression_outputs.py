"""The evaluator on a regression slot: a real torch network exported by the in-kernel harness, its one output per
hidden row kept as the prediction (and on the visible sample, for the overfitting gap), a network with several
outputs refused, and a slot's limit on the forward pass's time (`max_inference_ms`) measured and enforced."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from grader.evaluation.evaluator import DatasetInputs, SlotRequest, evaluate
from grader.evaluation.harness_output import HarnessExport, read_harness_output

RNG = np.random.default_rng(3)
ROWS = RNG.uniform(0, 50, (200, 6)).astype(np.float32)  # far from standardised: "raw" is the one fitting map


def _export(harness: dict[str, Any], tmp_path: Path, user_ns: dict[str, Any]) -> HarnessExport:
    np.save(tmp_path / "sample.npy", ROWS)
    request = {"nonce": "n" * 32, "output": str(tmp_path / "out.json"), "samples": {"houses": str(tmp_path /
                                                                                             "sample.npy")},
               "slots": [{"name": name, "dataset": "houses"} for name in user_ns], "histories": []}
    (tmp_path / "request.json").write_text(json.dumps(request))
    harness["run"](str(tmp_path / "request.json"), user_ns)
    return read_harness_output(tmp_path / "out.json", "n" * 32)


def _regressor(outputs: int = 1) -> nn.Sequential:
    torch.manual_seed(4)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, outputs))


def _targets(net: nn.Sequential, rows: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        values: np.ndarray = net(torch.tensor(rows))[:, 0].double().numpy()
    return values


def test_a_one_output_network_predicts_the_target(harness: dict[str, Any], tmp_path: Path) -> None:
    net = _regressor()
    exported = _export(harness, tmp_path, {"net": net})
    data = {"houses": DatasetInputs(hidden_x=ROWS[:50], sample_x=ROWS, sample_y=_targets(net, ROWS),
                                    regression=True)}
    entry = evaluate(exported, [SlotRequest("net", "houses")], [], data).models[0]
    assert (entry.found, entry.error, entry.preprocessing, entry.predictions) == (True, None, "raw", None)
    assert entry.outputs is not None and entry.train_outputs is not None
    np.testing.assert_allclose(entry.outputs, _targets(net, ROWS[:50]), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(entry.train_outputs, _targets(net, ROWS), rtol=1e-4, atol=1e-4)
    assert entry.train_loss is not None and entry.train_loss < 1e-6  # the mean squared error on the sample
    assert entry.inference_ms is not None and entry.inference_ms >= 0


def test_a_network_with_several_outputs_is_no_regression_network(harness: dict[str, Any], tmp_path: Path) -> None:
    net = _regressor(outputs=3)
    exported = _export(harness, tmp_path, {"net": net})
    data = {"houses": DatasetInputs(hidden_x=ROWS[:50], sample_x=ROWS, sample_y=_targets(net, ROWS),
                                    regression=True)}
    entry = evaluate(exported, [SlotRequest("net", "houses")], [], data).models[0]
    assert (entry.found, entry.outputs) == (True, None)
    assert entry.error == ("it has 3 outputs; a network of a regression dataset (houses) has one, its prediction of "
                           "the target")


def test_a_network_over_the_slots_inference_limit_fails_with_the_time(harness: dict[str, Any],
                                                                      tmp_path: Path) -> None:
    net = _regressor()
    exported = _export(harness, tmp_path, {"net": net})
    data = {"houses": DatasetInputs(hidden_x=ROWS[:50], sample_x=ROWS, sample_y=_targets(net, ROWS),
                                    regression=True)}
    within, over = (evaluate(exported, [SlotRequest("net", "houses", max_inference_ms=limit)], [], data).models[0]
                    for limit in (60_000, 1e-6))
    assert (within.error, within.outputs is not None) == (None, True)
    assert over.outputs is None and over.inference_ms is not None
    assert over.error is not None and re.fullmatch(
        r"its forward pass over the 50 hidden inputs took (\d+\.\d) ms, over the lab's limit of 1e-06 ms for `net` "
        r"\(max_inference_ms\): use a smaller network", over.error)
