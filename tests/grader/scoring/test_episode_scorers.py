"""The episode scorers (mean return, success rate) on hand-built evaluation results: the numbers, the partial
credit and the whole messages; no hidden seed in any of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.data.lab_data import LabData
from grader.evaluation.result import EpisodeResult, EvaluationResult, ModelResult
from grader.scoring.scorers import SCORERS, score_checks
from grader.spec.lab import LabSpec

SPEC = LabSpec.model_validate({
    "id": "rl", "title": "rl",
    "datasets": [{"id": "car", "title": "Valley", "source": {"gymnasium": "Valley-v0"},
                  "episodes": {"visible_seeds": [0], "hidden_seeds": [10, 11, 12, 13]}}],
    "checks": [{"id": "ret", "title": "r", "kind": "mean_return", "model": "policy", "dataset": "car", "points": 60,
                "full_credit_at": -120, "no_credit_at": -200},
               {"id": "rate", "title": "s", "kind": "success_rate", "model": "policy", "dataset": "car",
                "points": 40, "full_credit_at": 0.9, "no_credit_at": 0.5}]})


def _lab(tmp_path: Path) -> LabData:
    lab = LabData(tmp_path, "rl")
    lab.hidden.mkdir(parents=True)
    lab.visible.mkdir(parents=True)
    np.savez(lab.hidden / "car.npz", x=np.array([10, 11, 12, 13]), y=np.zeros(4, np.int64))
    np.savez(lab.visible / "car.npz", x_train=np.zeros((4, 2), np.float32), y_train=np.zeros(4, np.int64))
    return lab


def _policy(returns: list[float]) -> ModelResult:
    episodes = [EpisodeResult(seed=10 + i, episode_return=r, steps=int(-r), success=r > -200)
                for i, r in enumerate(returns)]
    return ModelResult(name="policy", found=True, via="contract", source="`policy`", framework="torch",
                       preprocessing="raw", preprocessing_words="observations used as they are", episodes=episodes)


def test_both_kinds_are_registered() -> None:
    assert {"mean_return", "success_rate"} <= SCORERS.keys()


def test_partial_credit_between_the_thresholds_with_the_whole_message(tmp_path: Path) -> None:
    results = {r.id: r for r in score_checks(SPEC, EvaluationResult(models=[_policy([-110, -150, -200, -140])]),
                                             _lab(tmp_path), "")}
    ret, rate = results["ret"], results["rate"]
    assert (ret.score, ret.passed, ret.measured) == (37.5, False, -150.0)
    assert ret.message == (
        "`policy` (observations used as they are) reached a mean return of -150.0 over 4 hidden Valley episodes (150 "
        "steps on average) (full credit at -120, none at or below -200): partial credit, 37.5 of 60 points; train "
        "longer or with more episodes, and check that the network gives one score per action for a raw observation "
        "(the grader takes the action with the highest score)")
    assert (rate.score, rate.passed, rate.measured) == (25.0, False, 0.75)
    assert rate.message.startswith("`policy` (observations used as they are) reached the goal in 3 of 4 hidden "
                                   "Valley episodes (success rate 0.75) (full credit at 0.90, none at or below 0.50): "
                                   "partial credit, 25 of 40 points")


def test_no_policy_earns_nothing_and_says_what_to_assign(tmp_path: Path) -> None:
    results = {r.id: r for r in score_checks(SPEC, EvaluationResult(models=[ModelResult(name="policy", found=False)]),
                                             _lab(tmp_path), "")}
    assert results["ret"].score == 0
    assert results["ret"].message == (
        "no trained model named `policy` was found after the notebook ran, and no Valley policy network turned up "
        "among its variables; train the network and assign it to `policy`")
