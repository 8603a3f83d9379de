"""The second held-back sample, for instructors only: each evaluated model's accuracy on the hidden part the checks
score and on the second sample set aside from it (`split.second_sample`: never served, never scored), with a network
that does sharply worse on the second sample flagged. The kernel never sees a hidden row, so only a network fitted
to the hidden rows themselves (recomputed from the public seed and fitted elsewhere) shows such a drop; copies of
the images a kernel does see are counted by the memorisation report (`grader.evaluation.memorisation`) instead."""

from __future__ import annotations

import math

import numpy as np

from grader.data.lab_data import LabData
from grader.evaluation.result import EvaluationResult, ModelResult
from grader.spec.lab import LabSpec
from grader.spec.slots import role_of, slot_architectures

SHARP_DROP = 0.05  # a drop is flagged when it is at least this large ...
SIGMAS = 3.0  # ... and beyond this many standard errors of the difference of the two accuracies


def drop_is_sharp(hidden: float, rows: int, second: float, second_rows: int) -> tuple[bool, float]:
    """(is the second sample's accuracy sharply below the hidden part's, SIGMAS standard errors of the difference)."""
    spread = SIGMAS * math.sqrt(hidden * (1 - hidden) / max(rows, 1) + second * (1 - second) / max(second_rows, 1))
    drop = hidden - second
    return drop >= SHARP_DROP and drop > spread, spread


def held_back_line(role: str, entry: ModelResult, hidden_y: np.ndarray, second_y: np.ndarray) -> str | None:
    """"multi-layer <dataset> model: accuracy 0.981 on the hidden part (4,002 rows), 0.979 on the second held-back
    sample (998 rows, never served): no sharp drop ..."; None when the entry lacks predictions for both."""
    if entry.predictions is None or entry.second_predictions is None or len(entry.predictions) != len(hidden_y) \
            or len(entry.second_predictions) != len(second_y) or not len(hidden_y) or not len(second_y):
        return None
    hidden = float((np.asarray(entry.predictions) == hidden_y).mean())
    second = float((np.asarray(entry.second_predictions) == second_y).mean())
    sharp, spread = drop_is_sharp(hidden, len(hidden_y), second, len(second_y))
    line = (f"{role}: accuracy {hidden:.3f} on the hidden part ({len(hidden_y):,} rows), {second:.3f} on the second "
            f"held-back sample ({len(second_y):,} rows, never served)")
    if not sharp:
        return f"{line}: no sharp drop (a difference within {max(spread, SHARP_DROP):.3f} is chance)"
    copies = (f"; {entry.memorised_rows} of its {entry.rows_compared} first-layer rows compared are copies of images"
              if entry.memorised_rows else "")
    return (f"{line}: flagged, {hidden - second:.3f} lower on rows it was never scored on (chance "
            f"explains {spread:.3f}): the network fits the hidden rows themselves, not the task{copies}")


def held_back_lines(spec: LabSpec, output: EvaluationResult | None, lab: LabData) -> list[str]:
    """One line per model evaluated on a dataset with a second held-back sample (instructors' report only)."""
    if output is None:
        return []
    lines = []
    for name, (dataset, architecture) in slot_architectures(spec).items():
        entry = output.model(name)
        if entry is None or entry.second_predictions is None:
            continue
        second = lab.second_sample(dataset)
        if second is None:
            continue
        line = held_back_line(role_of(architecture, spec.dataset_title(dataset)), entry, lab.hidden_split(dataset).y,
                              second.y)
        if line:
            lines.append(line)
    return lines
