"""Rolling a policy out in an environment, outside the kernel: the evaluator's side of an environment dataset.

The policy is a function from a batch of observations to one score per action (the exported network, run in NumPy);
the action taken is the greedy one, the highest score (for a single output: action 1 above the network's threshold).
Every episode of a batch steps in lockstep, so the network runs once per step for all of them. Each episode starts
from `env.reset(seed=seed)` and ends when the environment terminates it or at its step cap: the same seeds give the
same episodes on every machine. No student code runs here: the scores come from the exported operations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.data.environment import make_environment
from grader.errors import PolicyRefused
from grader.spec.environment import MAX_STEPS

Array = NDArray[Any]
Policy = Callable[[Array], Array]  # observations (batch, ...) -> action scores (batch, actions)


@dataclass(frozen=True)
class EnvironmentSetting:
    """Which environment, its step cap (None: its own), and what counts as success."""

    gymnasium_id: str
    max_steps: int | None = None
    success: str = "terminated"


@dataclass(frozen=True)
class Episode:
    seed: int
    episode_return: float
    steps: int
    success: bool


def greedy_actions(scores: Array, actions: int, one_output_threshold: float = 0.5) -> Array:
    """The action each row of scores picks: the highest score's (NaN never wins), or for one output and two actions
    action 1 above the threshold."""
    if scores.ndim != 2 or len(scores) == 0:
        raise PolicyRefused(f"it returned scores of shape {scores.shape}, not one row per observation")
    if scores.shape[1] == 1 and actions == 2:
        return (scores[:, 0] > one_output_threshold).astype(np.int64)
    if scores.shape[1] != actions:
        raise PolicyRefused(f"it has {scores.shape[1]} outputs and the environment {actions} actions: a policy "
                            "network gives one score per action")
    with np.errstate(invalid="ignore"):
        chosen: Array = np.nan_to_num(scores.astype(np.float64), nan=-np.inf).argmax(axis=1).astype(np.int64)
    return chosen


def roll_out(policy: Policy, setting: EnvironmentSetting, seeds: Sequence[int],
             one_output_threshold: float = 0.5) -> list[Episode]:
    """One episode per seed, the greedy action at every step; raises PolicyRefused when the policy cannot act."""
    envs = [make_environment(setting.gymnasium_id, setting.max_steps) for _ in seeds]
    try:
        actions = int(envs[0].action_space.n) if envs else 0
        observations = [np.asarray(env.reset(seed=int(seed))[0]) for env, seed in zip(envs, seeds, strict=True)]
        returns, steps = [0.0] * len(envs), [0] * len(envs)
        ended: list[bool | None] = [None] * len(envs)  # None running, else whether it succeeded
        cap = min(setting.max_steps or MAX_STEPS, MAX_STEPS)
        for _ in range(cap):  # bounded: every episode is truncated at its cap, MAX_STEPS at the most
            running = [i for i, done in enumerate(ended) if done is None]
            if not running:
                break
            batch = np.stack([observations[i] for i in running]).astype(np.float32)
            chosen = greedy_actions(np.asarray(policy(batch)), actions, one_output_threshold)
            for i, action in zip(running, chosen, strict=True):
                observation, reward, terminated, truncated, _ = envs[i].step(int(action))
                observations[i] = np.asarray(observation)
                returns[i] += float(reward)
                steps[i] += 1
                if terminated or truncated or steps[i] >= cap:
                    ended[i] = bool(terminated) if setting.success == "terminated" else not terminated
    finally:
        for env in envs:
            env.close()
    return [Episode(int(seed), round(returns[i], 6), steps[i], bool(ended[i]))
            for i, seed in enumerate(seeds)]
