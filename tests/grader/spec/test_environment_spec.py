"""An environment dataset's declaration (`source.gymnasium` with `[datasets.episodes]`) and the episode check kinds
(`mean_return`, `success_rate`): what the schema accepts and refuses, with the whole reason."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from grader.spec.lab import LabSpec

EPISODES = {"visible_seeds": [0, 1, 2], "hidden_seeds": [10, 11, 12]}


def _lab(check: dict[str, Any], dataset: dict[str, Any] | None = None) -> dict[str, Any]:
    declared = dataset or {"id": "car", "title": "car", "source": {"gymnasium": "Valley-v0"}, "episodes": EPISODES}
    return {"id": "rl", "title": "rl", "datasets": [declared],
            "checks": [{"id": "c", "title": "c", "points": 10, "model": "policy", "dataset": "car", **check}]}


def test_an_environment_dataset_and_its_checks() -> None:
    spec = LabSpec.model_validate(_lab({"kind": "mean_return", "full_credit_at": -120, "no_credit_at": -200}))
    car = spec.dataset("car")
    assert (car.is_environment, car.source.kind, car.episodes.hidden_seeds if car.episodes else None) == (
        True, "environment", (10, 11, 12))
    assert spec.checks[0].thresholds() == {"full_credit_at": -120, "no_credit_at": -200}
    assert spec.model_slots() == {"policy": "car"}
    assert car.install_command("rl") == "a restart of `labgrader serve`, which prepares it from gymnasium's Valley-v0"
    rate = LabSpec.model_validate(_lab({"kind": "success_rate", "full_credit_at": 0.9, "no_credit_at": 0.5}))
    assert rate.checks[0].thresholds() == {"full_credit_at": 0.9, "no_credit_at": 0.5}


def test_a_hidden_seed_may_not_be_a_visible_one_nor_repeat() -> None:
    shared = {"id": "car", "title": "car", "source": {"gymnasium": "Valley-v0"},
              "episodes": {"visible_seeds": [1, 2], "hidden_seeds": [2, 3]}}
    with pytest.raises(ValidationError, match="hidden_seeds and visible_seeds share 2: a hidden seed must never be "
                                              "one the notebook may use"):
        LabSpec.model_validate(_lab({"kind": "success_rate", "full_credit_at": 0.9, "no_credit_at": 0.5}, shared))
    repeated = {**shared, "episodes": {"hidden_seeds": [3, 3]}}
    with pytest.raises(ValidationError, match="hidden_seeds repeats a seed"):
        LabSpec.model_validate(_lab({"kind": "success_rate", "full_credit_at": 0.9, "no_credit_at": 0.5}, repeated))


def test_episodes_go_with_a_gymnasium_source_and_episode_checks_with_an_environment() -> None:
    no_episodes = {"id": "car", "title": "car", "source": {"gymnasium": "Valley-v0"}}
    with pytest.raises(ValidationError, match=re.escape("dataset car: a gymnasium source declares its seeds in "
                                                        "[datasets.episodes], and only it has episodes")):
        LabSpec.model_validate(_lab({"kind": "success_rate", "full_credit_at": 0.9, "no_credit_at": 0.5}, no_episodes))
    with pytest.raises(ValidationError, match=re.escape("check c (accuracy) measures a dataset of rows; an "
                                                        "environment's checks are mean_return and success_rate: "
                                                        "'car' is not one")):
        LabSpec.model_validate(_lab({"kind": "accuracy", "full_credit_at": 0.9, "no_credit_at": 0.5}))
    rows = {"id": "car", "title": "car", "source": {"import": True}}
    with pytest.raises(ValidationError, match=re.escape("check c (mean_return) measures an environment dataset "
                                                        "(source.gymnasium): 'car' is not one")):
        LabSpec.model_validate(_lab({"kind": "mean_return", "full_credit_at": -1, "no_credit_at": -2}, rows))
    with pytest.raises(ValidationError, match="no_credit_at must be below full_credit_at"):
        LabSpec.model_validate(_lab({"kind": "mean_return", "full_credit_at": -200, "no_credit_at": -120}))
