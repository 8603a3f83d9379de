"""The evaluator's rollout of a policy network in an environment (grader.evaluation.rollout and .policy): the greedy
action of the exported network at every step, one episode per seed, compared with the same episodes played by a plain
gymnasium loop here. The networks are real torch modules exported by the in-kernel harness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
import torch
from torch import nn

from grader.errors import PolicyRefused
from grader.evaluation.evaluator import DatasetInputs, SlotRequest, evaluate
from grader.evaluation.harness_output import HarnessExport, read_harness_output
from grader.evaluation.rollout import EnvironmentSetting, greedy_actions, roll_out

ENV = "MountainCar-v0"  # the test names the environment it plays; the grader's code never does
SETTING = EnvironmentSetting(ENV)
SEEDS = list(range(1000, 1010))


def _observations() -> np.ndarray:
    """Observations of random-action episodes on visible seeds: what the kernel's sample holds."""
    env, rows = gymnasium.make(ENV), []
    env.action_space.seed(0)
    for seed in range(3):
        observation, _ = env.reset(seed=seed)
        for _ in range(50):
            rows.append(observation)
            observation, *_ = env.step(env.action_space.sample())
    return np.asarray(rows, dtype=np.float32)


SAMPLE = _observations()


def _with_velocity() -> nn.Linear:
    """Push in the direction the car moves (left when it stands still): scores (-v, 0, v) scaled up."""
    policy = nn.Linear(2, 3)
    with torch.no_grad():
        policy.weight.copy_(torch.tensor([[0.0, -100.0], [0.0, 0.0], [0.0, 100.0]]))
        policy.bias.zero_()
    return policy


def _always_left() -> nn.Linear:
    policy = nn.Linear(2, 3)
    with torch.no_grad():
        policy.weight.zero_()
        policy.bias.copy_(torch.tensor([1.0, 0.0, 0.0]))
    return policy


def _played_here(seed: int) -> tuple[float, int, bool]:
    """The velocity rule played by a plain gymnasium loop: (return, steps, reached the goal)."""
    env = gymnasium.make(ENV)
    observation, _ = env.reset(seed=seed)
    total, steps, terminated, truncated = 0.0, 0, False, False
    while not (terminated or truncated):
        observation, reward, terminated, truncated, _ = env.step(2 if observation[1] > 0 else 0)
        total, steps = total + float(reward), steps + 1
    return total, steps, bool(terminated)


def _policy_of(module: nn.Module) -> Any:
    return lambda batch: module(torch.as_tensor(batch)).detach().numpy()


def test_a_hand_written_policy_earns_what_a_plain_loop_earns_on_the_same_seeds() -> None:
    episodes = roll_out(_policy_of(_with_velocity()), SETTING, SEEDS)
    assert [(e.seed, e.episode_return, e.steps, e.success) for e in episodes] == [
        (seed, *_played_here(seed)) for seed in SEEDS]
    assert all(e.success for e in episodes) and all(-200 < e.episode_return < -80 for e in episodes)


def test_the_same_seeds_give_the_same_episodes_and_other_seeds_others() -> None:
    policy = _policy_of(_with_velocity())
    first, again = roll_out(policy, SETTING, SEEDS), roll_out(policy, SETTING, SEEDS)
    assert first == again
    assert len({e.episode_return for e in first}) > 1  # the seed sets the start: episodes differ


def test_an_episode_that_never_succeeds_stops_at_the_step_cap() -> None:
    capped = roll_out(_policy_of(_always_left()), EnvironmentSetting(ENV, max_steps=50), SEEDS[:2])
    assert [(e.episode_return, e.steps, e.success) for e in capped] == [(-50.0, 50, False)] * 2
    lasted = roll_out(_policy_of(_always_left()), EnvironmentSetting(ENV, max_steps=50, success="truncated"),
                      SEEDS[:1])
    assert lasted[0].success is True


def test_a_policy_with_the_wrong_number_of_outputs_is_refused_with_the_reason() -> None:
    with pytest.raises(PolicyRefused) as refused:
        roll_out(lambda batch: np.zeros((len(batch), 4)), SETTING, SEEDS[:1])
    assert str(refused.value) == ("it has 4 outputs and the environment 3 actions: a policy network gives one score "
                                  "per action")
    assert greedy_actions(np.array([[np.nan, 0.0, -1.0]]), 3).tolist() == [1]  # NaN never wins


def _export(harness: dict[str, Any], tmp_path: Path, user_ns: dict[str, Any], slots: tuple[str, ...]) -> HarnessExport:
    np.save(tmp_path / "sample.npy", SAMPLE)
    request = {"nonce": "n" * 32, "output": str(tmp_path / "out.json"),
               "samples": {"car": str(tmp_path / "sample.npy")},
               "slots": [{"name": s, "dataset": "car"} for s in slots], "histories": [], "classes": {"car": 3}}
    (tmp_path / "request.json").write_text(json.dumps(request))
    harness["run"](str(tmp_path / "request.json"), user_ns)
    return read_harness_output(tmp_path / "out.json", "n" * 32)


def _inputs() -> dict[str, DatasetInputs]:
    return {"car": DatasetInputs(hidden_x=np.array(SEEDS), sample_x=SAMPLE, sample_y=np.zeros(len(SAMPLE), np.int64),
                                 environment=SETTING, visible_seeds=(0, 1, 2))}


def test_the_evaluator_rolls_the_exported_contract_network_out_on_the_hidden_seeds(
        harness: dict[str, Any], tmp_path: Path) -> None:
    exported = _export(harness, tmp_path, {"policy": _with_velocity()}, ("policy",))
    entry = evaluate(exported, [SlotRequest("policy", "car")], [], _inputs()).models[0]
    assert (entry.found, entry.via, entry.source, entry.preprocessing, entry.predictions) == (
        True, "contract", "`policy`", "raw", None)
    assert entry.episodes is not None
    assert [(e.seed, e.episode_return, e.steps, e.success) for e in entry.episodes] == [
        (seed, *_played_here(seed)) for seed in SEEDS]


def test_discovery_takes_the_network_with_the_best_return_on_visible_seeds(
        harness: dict[str, Any], tmp_path: Path) -> None:
    exported = _export(harness, tmp_path, {"left": _always_left(), "rocking": _with_velocity()}, ())
    entry = evaluate(exported, [SlotRequest("policy", "car")], [], _inputs()).models[0]
    assert (entry.found, entry.via, entry.source) == (True, "discovery", "`rocking`")
    assert entry.episodes is not None and all(e.success for e in entry.episodes)
