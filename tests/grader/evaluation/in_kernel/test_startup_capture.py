"""in_kernel/startup_capture.py: after each cell the models and histories of the namespace (one level into its dicts,
lists and tuples) are noted once each, at most 32 of each; Lightning's self.log() values are kept per epoch."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
import torch
from torch import nn

from tests.grader.evaluation.in_kernel.conftest import sources


@pytest.fixture
def capture(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setitem(sys.modules, "_labgrader_seen", None)  # restored after the test: seen_module replaces it
    return sources("recognise.py", "startup_capture.py")


def test_models_and_histories_are_noted_once_with_the_cell_they_were_seen_after(capture: dict[str, Any]) -> None:
    served: list[Any] = []
    seen = capture["seen_module"](served.append)
    assert sys.modules["_labgrader_seen"] is seen
    seen.serve("description")
    assert served == ["description"]
    net, other = nn.Linear(2, 2), nn.Linear(2, 3)
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}
    user_ns: dict[str, Any] = {"net": net, "loss_fn": nn.CrossEntropyLoss(), "history": history, "_hidden": other,
                               "In": [other], "nets": {"a": other, "b": 3}, "numbers": {"loss": 3}}
    capture["remember"](seen, user_ns, 2)
    user_ns["net"] = nn.Linear(2, 4)
    capture["remember"](seen, user_ns, 3)
    assert [(label, cell) for label, cell, _ in seen.models] == [("net", 2), ("nets['a']", 2), ("net", 3)]
    assert [item for _, _, item in seen.models][:2] == [net, other]
    assert [(label, cell, item) for label, cell, item in seen.histories] == [("history", 2, history)]


def test_at_most_32_models_are_noted(capture: dict[str, Any]) -> None:
    seen = capture["seen_module"](print)
    capture["remember"](seen, {"layers": [nn.Linear(1, 1) for _ in range(40)]}, 1)
    assert len(seen.models) == 32
    assert seen.models[-1][0] == "layers[31]"


def test_lightning_logs_are_kept_per_epoch_once_the_sanity_check_is_over(capture: dict[str, Any]) -> None:
    logged: list[tuple[str, float]] = []

    class LightningModule(nn.Module):
        def log(self, name: str, value: Any) -> None:
            logged.append((name, float(value)))

    module = types.ModuleType("lightning.pytorch")
    module.LightningModule = LightningModule  # type: ignore[attr-defined]
    capture["record_lightning"](module)
    capture["record_lightning"](module)  # a second import: not wrapped twice
    trainer = types.SimpleNamespace(sanity_checking=True, current_epoch=0)
    model = LightningModule()
    model.__dict__["_trainer"] = trainer
    model.log("val_loss", torch.tensor(9.0))
    trainer.sanity_checking = False
    for epoch, values in enumerate(([2.0, 4.0], [1.0])):
        trainer.current_epoch = epoch
        for value in values:
            model.log("train_loss", torch.tensor(value))
    model.log("nan", float("nan"))
    assert model.__dict__["_labgrader_logged"] == {"train_loss": {0: [6.0, 2], 1: [1.0, 1]}}
    assert logged[:4] == [("val_loss", 9.0), ("train_loss", 2.0), ("train_loss", 4.0), ("train_loss", 1.0)]
    assert [name for name, _ in logged[4:]] == ["nan"]  # every call still reaches Lightning's own log()
