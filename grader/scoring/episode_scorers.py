"""The scorers of the episode checks (grader.spec.episode_checks): the mean return and the success rate of a policy
over the hidden episodes the evaluator rolled out. Each message says how many hidden episodes were run, what was
measured against which thresholds, the verdict, and what to try when short of full credit; none names a hidden seed.
"""

from __future__ import annotations

from grader.evaluation.result import EpisodeResult, ModelResult
from grader.scoring.registry import (
    ScoringInputs,
    model_found,
    partial_credit,
    result,
    scorer,
    subject,
    verdict,
)
from grader.scoring.report import CheckResult
from grader.spec.episode_checks import EpisodeCheck, MeanReturnCheck, SuccessRateCheck
from grader.spec.slots import slot_role

ADVICE = ("train longer or with more episodes, and check that the network gives one score per action for a raw "
          "observation (the grader takes the action with the highest score)")


def _episodes(check: EpisodeCheck, inputs: ScoringInputs) -> tuple[ModelResult, list[EpisodeResult]] | CheckResult:
    """(the model's entry, its hidden episodes), or the failed result saying why there are none."""
    role = slot_role(inputs.spec, check.model, check.dataset).replace(" model", " policy network")
    entry = model_found(check, inputs, lambda e: bool(e.episodes), role)
    if isinstance(entry, CheckResult):
        return entry
    assert entry.episodes is not None
    return entry, entry.episodes


def _graded(check: EpisodeCheck, entry: ModelResult, value: float, measured: str, shown: str) -> CheckResult:
    score = partial_credit(value, check.full_credit_at, check.no_credit_at, check.points)
    passed = value >= check.full_credit_at
    message = (f"{subject(entry)} {measured} (full credit at {shown.format(check.full_credit_at)}, none at or below "
               f"{shown.format(check.no_credit_at)}): {verdict(score, check.points, passed)}")
    return result(check, passed, score, message if passed else f"{message}; {ADVICE}", value)


@scorer("mean_return")
def score_mean_return(check: MeanReturnCheck, inputs: ScoringInputs) -> CheckResult:
    """The mean return over the hidden episodes, linear partial credit between the thresholds."""
    found = _episodes(check, inputs)
    if isinstance(found, CheckResult):
        return found
    entry, episodes = found
    mean = sum(e.episode_return for e in episodes) / len(episodes)
    steps = sum(e.steps for e in episodes) / len(episodes)
    title = inputs.spec.dataset_title(check.dataset)
    measured = (f"reached a mean return of {mean:.1f} over {len(episodes)} hidden {title} episodes "
                f"({steps:.0f} steps on average)")
    return _graded(check, entry, mean, measured, "{:g}")


@scorer("success_rate")
def score_success_rate(check: SuccessRateCheck, inputs: ScoringInputs) -> CheckResult:
    """The share of hidden episodes that succeeded, linear partial credit between the thresholds."""
    found = _episodes(check, inputs)
    if isinstance(found, CheckResult):
        return found
    entry, episodes = found
    succeeded = sum(e.success for e in episodes)
    rate = succeeded / len(episodes)
    declared = inputs.spec.dataset(check.dataset).episodes
    what = "lasted to the step cap" if declared is not None and declared.success == "truncated" else "reached the goal"
    title = inputs.spec.dataset_title(check.dataset)
    measured = f"{what} in {succeeded} of {len(episodes)} hidden {title} episodes (success rate {rate:.2f})"
    return _graded(check, entry, rate, measured, "{:.2f}")
