"""What an environment lab's rollout costs in the evaluator: seconds per hidden episode of an exported policy network
(NumPy, the greedy action at every step), against the same episodes played by a plain gymnasium loop with the same
rule computed directly (the baseline: the environment's own stepping cost), in the same run.

    .venv/bin/python -m bench.rollout_cost [GYMNASIUM_ID] [EPISODES]
"""

from __future__ import annotations

import sys
import time

import gymnasium
import numpy as np

from grader.evaluation.rollout import EnvironmentSetting, roll_out


def main(gymnasium_id: str = "MountainCar-v0", episodes: int = 100) -> None:
    seeds = list(range(1000, 1000 + episodes))
    rng = np.random.default_rng(0)
    w1, b1 = rng.standard_normal((2, 16)), rng.standard_normal(16)
    w2 = np.zeros((16, 3))
    w2[:, 2], w2[:, 0] = 1.0, -1.0

    def policy(batch: np.ndarray) -> np.ndarray:  # a 2-16-3 tanh network, as the evaluator runs one
        scores: np.ndarray = np.tanh(batch @ (w1 * [[1.0], [100.0]]) + b1) @ w2
        return scores

    start = time.perf_counter()
    done = roll_out(policy, EnvironmentSetting(gymnasium_id), seeds)
    evaluator_s = time.perf_counter() - start
    steps = sum(e.steps for e in done)
    start = time.perf_counter()
    for seed in seeds:
        env = gymnasium.make(gymnasium_id)
        observation, _ = env.reset(seed=seed)
        finished = False
        while not finished:
            action = int(policy(np.asarray(observation, dtype=np.float32)[None]).argmax())
            observation, _, terminated, truncated, _ = env.step(action)
            finished = terminated or truncated
    baseline_s = time.perf_counter() - start
    print(f"{episodes} episodes, {steps} steps: evaluator {evaluator_s:.2f} s ({evaluator_s / episodes * 1000:.1f} ms "
          f"per episode), plain loop {baseline_s:.2f} s; ratio {evaluator_s / baseline_s:.2f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "MountainCar-v0", int(sys.argv[2]) if len(sys.argv) > 2 else 100)
