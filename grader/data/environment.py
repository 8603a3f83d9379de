"""An environment dataset prepared from its declaration (`[datasets.source] gymnasium`, `[datasets.episodes]`).

    visible/<id>.npz  seeds (the visible seeds), x_train (observations of random-action episodes on them: the sample a
                      student's preprocessing function runs on and a network is traced with), y_train (zeros: an
                      environment has no labels)
    hidden/<id>.npz   x (the hidden seeds, one episode each), y (zeros); root-only, like hidden labels

gymnasium is imported here only: a lab without an environment never loads it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.data.lab_data import TRAINING_SAMPLE_SIZE
from grader.errors import DatasetError
from grader.spec.dataset import DatasetSpec

Array = NDArray[Any]
SAMPLE_EPISODES = 20  # visible episodes of random actions whose observations make the visible sample


def make_environment(gymnasium_id: str, max_steps: int | None) -> Any:
    """The environment `gymnasium_id` with the step cap `max_steps` (None: its registration's own)."""
    try:
        import gymnasium
    except ImportError as exc:
        raise DatasetError("gymnasium is not installed in the service's environment: `pip install gymnasium` "
                           "(pyproject's dependencies have it)") from exc
    try:
        return gymnasium.make(gymnasium_id, max_episode_steps=max_steps) if max_steps else gymnasium.make(
            gymnasium_id)
    except gymnasium.error.Error as exc:
        raise DatasetError(f"gymnasium has no environment {gymnasium_id!r}: {exc}") from exc


def action_count(env: Any, dataset: DatasetSpec) -> int:
    """The number of actions of a discrete environment, checked against the declared `classes` (the actions)."""
    import gymnasium

    space = env.action_space
    if not isinstance(space, gymnasium.spaces.Discrete):
        raise DatasetError(f"dataset {dataset.id}: {dataset.source.gymnasium} has {space} actions; a policy network "
                           "chooses among discrete actions only (one score per action)")
    if dataset.classes and len(dataset.classes) != int(space.n):
        raise DatasetError(f"dataset {dataset.id}: {dataset.source.gymnasium} has {int(space.n)} actions, and "
                           f"`classes` names {len(dataset.classes)}")
    return int(space.n)


def environment_declaration(dataset: DatasetSpec) -> dict[str, Any]:
    """What the prepared parts of an environment dataset were made from (its gymnasium id and `[datasets.episodes]`)."""
    episodes = dataset.episodes.model_dump(mode="json") if dataset.episodes else {}
    return {"gymnasium": dataset.source.gymnasium, **episodes}


def environment_parts(dataset: DatasetSpec) -> tuple[dict[str, Array], tuple[Array, Array], str]:
    """(the visible arrays, the hidden (seeds, zeros), the split in words) of an environment dataset."""
    episodes = dataset.episodes
    assert episodes is not None and dataset.source.gymnasium is not None  # the spec pairs them
    env = make_environment(dataset.source.gymnasium, episodes.max_steps)
    try:
        action_count(env, dataset)
        rng = np.random.default_rng(episodes.sample_seed)
        observations: list[Array] = []
        for seed in list(episodes.visible_seeds)[:SAMPLE_EPISODES] or [episodes.sample_seed]:
            observation, _ = env.reset(seed=int(seed))
            env.action_space.seed(int(rng.integers(2**31)))
            done = False
            while not done and len(observations) < TRAINING_SAMPLE_SIZE:
                observations.append(np.asarray(observation, dtype=np.float32))
                observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
                done = terminated or truncated
    finally:
        env.close()
    x = np.stack(observations)
    if dataset.input_shape and tuple(x.shape[1:]) != dataset.input_shape:
        raise DatasetError(f"dataset {dataset.id}: {dataset.source.gymnasium}'s observations have shape "
                           f"{tuple(x.shape[1:])}, the dataset declares input_shape {list(dataset.input_shape)}")
    visible = {"x_train": x, "y_train": np.zeros(len(x), dtype=np.int64),
               "seeds": np.asarray(episodes.visible_seeds, dtype=np.int64)}
    hidden = np.asarray(episodes.hidden_seeds, dtype=np.int64)
    words = (f"{len(hidden)} hidden seeds (one episode each), {len(episodes.visible_seeds)} visible seeds; "
             f"{len(x)} observations of random actions are the visible sample")
    return visible, (hidden, np.zeros(len(hidden), dtype=np.int64)), words
