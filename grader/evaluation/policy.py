"""A model slot on an environment dataset: the policy network chosen and rolled out on the hidden seeds.

The contract name's network, or by discovery the network that takes the environment's observations and has the
highest mean return on the visible seeds (one network per slot). Its inputs are the raw observations, or what the
student's preprocessing function was found to compute on visible observations. The result carries every hidden
episode's return, length and success; it holds no prediction, and no student code ran to make it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.errors import NetworkRefused, PolicyRefused
from grader.evaluation.harness_output import HarnessExport
from grader.evaluation.network import NumpyNetwork
from grader.evaluation.preprocessing import Preprocessing
from grader.evaluation.result import NOT_FROM_LAYERS, EpisodeResult, ModelResult
from grader.evaluation.rollout import EnvironmentSetting, roll_out

Array = NDArray[Any]
MAX_CANDIDATES = 16
CHOICE_SEEDS = 5  # visible seeds on which discovered networks compete
RAW = Preprocessing("raw", "observations used as they are", lambda x: x)


def _policy(network: NumpyNetwork, preprocessing: Preprocessing, layout: tuple[int, ...]) -> Callable[[Array], Array]:
    return lambda batch: network.scores(preprocessing(batch).reshape((len(batch), *layout)))


def _layout(network: NumpyNetwork, probe: Array, preprocessing: Preprocessing,
            layouts: list[tuple[int, ...]]) -> tuple[int, ...] | str:
    """The first layout in which the network takes observations, or why none fits."""
    problem = ""
    for layout in layouts:
        try:
            scores = network.scores(preprocessing(probe).reshape((len(probe), *layout)))
        except (NetworkRefused, ValueError) as exc:
            problem = problem or str(exc)
            continue
        if scores.ndim == 2 and scores.shape[0] == len(probe):
            return layout
    return f"it does not take the environment's observations ({problem or 'no input layout fits'})"


def _episodes(network: NumpyNetwork, preprocessing: Preprocessing, layout: tuple[int, ...],
              setting: EnvironmentSetting, seeds: list[int]) -> list[EpisodeResult] | str:
    try:
        done = roll_out(_policy(network, preprocessing, layout), setting, seeds, network.one_output_threshold)
    except (PolicyRefused, NetworkRefused, ValueError) as exc:
        return f"it could not act in the environment: {str(exc)[:300]}"
    return [EpisodeResult(seed=e.seed, episode_return=e.episode_return, steps=e.steps, success=e.success) for e in done]


def evaluate_policy_slot(export: HarnessExport, name: str, sample: Array, hidden_seeds: Array,
                         visible_seeds: list[int], setting: EnvironmentSetting,
                         network_of: Callable[[int], NumpyNetwork | str], student: Preprocessing | None,
                         layouts: list[tuple[int, ...]], paths: dict[int, str], taken: set[int]) -> ModelResult | None:
    """The slot's policy and its hidden episodes; None when the notebook trained no network that fits."""
    preprocessing = student or RAW
    probe = sample[:8]
    contract = export.slot(name)
    if contract is not None and contract.error:
        return ModelResult(name=name, found=False, error=contract.error)
    if contract is not None and contract.network is not None:
        index, via = contract.network, "contract"
        taken.add(index)
    else:
        fits: list[tuple[float, int, tuple[int, ...]]] = []
        for candidate in export.networks[:MAX_CANDIDATES]:
            network = network_of(candidate.id)
            if candidate.id in taken or isinstance(network, str):
                continue
            layout = _layout(network, probe, preprocessing, layouts)
            if isinstance(layout, str):
                continue
            trial = _episodes(network, preprocessing, layout, setting, visible_seeds[:CHOICE_SEEDS] or [0])
            if not isinstance(trial, str):
                fits.append((float(np.mean([e.episode_return for e in trial])), candidate.id, layout))
        if not fits:
            return None
        index, via = max(fits, key=lambda fit: fit[0])[1], "discovery"
        taken.add(index)
    chosen = export.network(index)
    label = chosen.label if chosen else f"`{name}`"
    network = network_of(index)
    base: dict[str, Any] = {"name": name, "found": True, "via": via, "source": label,
                            "framework": chosen.framework if chosen else None, "export_path": paths.get(index)}
    if isinstance(network, str):
        return ModelResult(**base, error=f"{NOT_FROM_LAYERS}: {network}")
    layout = _layout(network, probe, preprocessing, layouts)
    if isinstance(layout, str):
        return ModelResult(**base, error=layout)
    episodes = _episodes(network, preprocessing, layout, setting, [int(s) for s in hidden_seeds])
    if isinstance(episodes, str):
        return ModelResult(**base, error=episodes)
    return ModelResult(**{**base, "framework": network.source.framework}, facts=network.facts(),
                       preprocessing=preprocessing.name, preprocessing_words=preprocessing.words, episodes=episodes)
