"""Named preprocessings: what the grader applies to raw inputs before a network sees them.

Parameters (means, ranges, norms) come from the visible training sample, never from hidden data. A student's
`preprocess_<dataset>` never runs on hidden inputs: the kernel applies it to visible rows, and `match_student` names
what it computed: one of the named preprocessings, or a scale-and-shift (global or per feature) fitted to its output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]
TINY = 1e-6
STANDARDISED_OVERALL = "inputs standardised with the training set's overall mean and std"
STANDARDISED_SLACK = 0.05  # the observed rows are a sample of the notebook's training set: its mean and std are near


@dataclass(frozen=True)
class Preprocessing:
    """A named map from raw inputs (batch first, any shape) to network inputs of the same shape, in float64."""

    name: str
    words: str
    per_row: Callable[[Array], Array]  # (N, features) -> (N, features)

    def __call__(self, x: Array) -> Array:
        flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        return self.per_row(flat).reshape(np.shape(x))


def _safe(values: Array) -> Array:
    return np.where(np.abs(values) < TINY, 1.0, values)


def named_preprocessings(sample: Array, wanted: tuple[str, ...] = ()) -> list[Preprocessing]:
    """The named preprocessings for a dataset, with parameters from `sample`: those `wanted` (the lab's declaration),
    in its order, or else all in the order that wins ties."""
    flat = np.asarray(sample, dtype=np.float64).reshape(len(sample), -1)
    mean, std = flat.mean(axis=0), _safe(flat.std(axis=0))
    low, span = flat.min(axis=0), _safe(flat.max(axis=0) - flat.min(axis=0))
    max_abs = _safe(np.abs(flat).max(axis=0))
    overall_mean, overall_std = float(flat.mean()), float(_safe(np.asarray(flat.std())))
    options = []
    whole = np.issubdtype(np.asarray(sample).dtype, np.integer) or bool(np.all(flat == np.round(flat)))
    if whole and 1 < flat.max() <= 255 and flat.min() >= 0:  # 8-bit pixels
        options.append(Preprocessing("scaled_255", "inputs scaled /255", lambda x: x / 255.0))
    options += [
        Preprocessing("standardised_overall", STANDARDISED_OVERALL,
                      lambda x: (x - overall_mean) / overall_std),
        Preprocessing("standardised", "inputs standardised per feature", lambda x: (x - mean) / std),
        Preprocessing("min_max", "inputs min-max scaled per feature", lambda x: (x - low) / span),
        Preprocessing("max_abs", "inputs divided by each feature's largest absolute value", lambda x: x / max_abs),
        Preprocessing("l2_rows", "each input scaled to unit length (L2 norm)", _l2_rows),
        Preprocessing("raw", "inputs used as they are", lambda x: x),
    ]
    if not wanted:
        return options
    by_name = {option.name: option for option in options}
    return [by_name[name] for name in wanted if name in by_name]


def _l2_rows(x: Array) -> Array:
    norms = np.sqrt((x * x).sum(axis=1, keepdims=True))
    return x / np.where(norms == 0, 1.0, norms)  # as sklearn.preprocessing.normalize


def _close(actual: Array, expected: Array) -> bool:
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    return bool(np.all(np.abs(actual - expected) <= 1e-4 * scale + 1e-3 * np.abs(expected)))


def _standardised(output: Array) -> bool:
    """Whether inputs mapped by one scale and shift have mean 0 and std 1 overall, as a standardisation with the
    student's own training statistics leaves them (the visible sample's statistics differ a little from theirs)."""
    return abs(float(output.mean())) <= STANDARDISED_SLACK and abs(float(output.std()) - 1) <= STANDARDISED_SLACK


def _fitted(name: str, words: str, scale: Array | float, shift: Array | float) -> Preprocessing:
    return Preprocessing(name, words, lambda x: x * scale + shift)


def _scale_shift_words(scale: float, shift: float, output: Array) -> str:
    """"inputs divided by 16" for X / 16 (a least-squares shift of 4e-18 is no shift), else the scale and shift."""
    if abs(shift) <= 1e-9 * max(1.0, float(np.abs(output).max(initial=0.0))):
        divisor = 1.0 / scale if scale else 0.0
        if divisor and abs(divisor - round(divisor)) < 1e-6 * abs(divisor):
            return f"inputs divided by {round(divisor)}"
        return f"inputs scaled by {scale:.4g}"
    return f"inputs scaled by {scale:.4g} and shifted by {shift:.4g}"


def match_student(function: str, raw: Array, output: Array, named: list[Preprocessing],
                  observed: bool = False) -> tuple[Preprocessing | None, str]:
    """What the student's function computed on the rows `raw` (its output `output`): (preprocessing, why not).

    `named`: the named preprocessings of the dataset (`named_preprocessings` of its visible sample). `observed`:
    `function` is no function but an array of the notebook holding the rows `output` (its training inputs)."""
    x = np.asarray(raw, dtype=np.float64).reshape(len(raw), -1)
    y = np.asarray(output, dtype=np.float64).reshape(len(output), -1)
    if y.shape != x.shape:
        return None, (f"`{function}` turns each input of {x.shape[1]} values into {y.shape[1]}, so it is not a "
                      "preprocessing the grader can apply")
    by = f"(observed: the notebook's `{function}` holds its training rows so)" if observed else \
        f"(what `{function}` computes)"
    for option in named:
        if _close(y, option.per_row(x)):
            # observed to be a named one: worded as the named one, whichever way it was found
            return Preprocessing(option.name, option.words if observed else f"{option.words} {by}",
                                 option.per_row), ""
    # one scale and shift for every value: /255, (x/255 - 0.1307)/0.3081, (x/255 - 0.5)/0.5, ...
    design = np.stack([x.ravel(), np.ones(x.size)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, y.ravel(), rcond=None)
    if _close(y, x * scale + shift):
        if _standardised(y):  # (x - mean) / std with the notebook's own statistics, a little off the sample's
            words = STANDARDISED_OVERALL if observed else f"{STANDARDISED_OVERALL} {by}"
        else:
            words = f"{_scale_shift_words(float(scale), float(shift), y)} {by}"
        return _fitted("scale_shift", words, float(scale), float(shift)), ""
    # a scale and shift per feature: standardisation or min-max with the student's own statistics
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    variance = ((x - x_mean) ** 2).mean(axis=0)
    covariance = ((x - x_mean) * (y - y_mean)).mean(axis=0)
    scales = np.where(variance > TINY, covariance / np.where(variance > TINY, variance, 1.0), 0.0)
    shifts = y_mean - scales * x_mean
    if _close(y, x * scales + shifts):
        return _fitted("per_feature_scale_shift", f"inputs scaled and shifted per feature {by}", scales, shifts), ""
    return None, (f"`{function}` computes something other than a scaling of its inputs, so the grader cannot apply "
                  "it to hidden data")
