"""An environment as a lab declares it: a dataset whose hidden part is seeds, not rows (`[datasets.source] gymnasium =
"ID"` with `[datasets.episodes]`).

The kernel trains in the environment itself (gymnasium is in the student environment) and may use the visible
seeds; the hidden seeds are kept like hidden labels: they never reach the kernel. The evaluator rolls the exported
policy network out on each hidden seed, outside the kernel, in the service's own gymnasium: an observation in, one
score per action out, the greedy action (the highest score) taken, up to the episode's step cap.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
MAX_SEEDS = 10_000
MAX_STEPS = 100_000  # the most steps of one episode the evaluator runs, whatever the lab declares


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvironmentEpisodes(_Strict):
    """The episodes of an environment dataset: which seeds the kernel may use, which the evaluator keeps."""

    visible_seeds: tuple[Seed, ...] = Field(default=(), max_length=MAX_SEEDS, description=(
        "seeds the notebook may use (`env.reset(seed=...)`): served as `seeds` in ./data/<id>.npz, with observations "
        "of random-action episodes on them (`x_train`, the sample a preprocessing function runs on)"))
    hidden_seeds: tuple[Seed, ...] = Field(min_length=1, max_length=MAX_SEEDS, description=(
        "seeds of the episodes the policy is graded on, kept like hidden labels: never in a job; one episode each"))
    max_steps: int | None = Field(default=None, ge=1, le=MAX_STEPS, description=(
        "the step cap of an episode (default: the environment's own, `max_episode_steps` of its registration)"))
    success: Literal["terminated", "truncated"] = Field(default="terminated", description=(
        "what counts as success for `success_rate`: `terminated`, the environment ended the episode before the cap "
        "(reached its goal); `truncated`, the episode lasted to the step cap (kept balance)"))
    sample_seed: Seed = Field(default=20241130, description=(
        "the seed of the random actions whose observations make the visible sample"))

    @model_validator(mode="after")
    def _seeds(self) -> EnvironmentEpisodes:
        for name, seeds in (("visible_seeds", self.visible_seeds), ("hidden_seeds", self.hidden_seeds)):
            if len(set(seeds)) != len(seeds):
                raise ValueError(f"{name} repeats a seed")
        shared = sorted(set(self.visible_seeds) & set(self.hidden_seeds))
        if shared:
            raise ValueError(f"hidden_seeds and visible_seeds share {', '.join(map(str, shared[:5]))}: a hidden "
                             "seed must never be one the notebook may use")
        return self
