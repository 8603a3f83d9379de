"""The cross-check of an export against the network it came from: the kernel sends a few visible inputs with what
the student's own forward() computed for them (a scikit-learn model's predict_proba(), decision_function() or
predict(), and the classes its predict() names), and the grader runs its rebuilt network on the same inputs. An export
is trusted only when both agree, whichever way it was read (torch.fx, torch.export, Keras layers, fitted parameters).

Nothing here trusts the kernel: a forged check can only make the grader refuse the student's own network.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.errors import NetworkRefused
from grader.evaluation.harness_output import ExportedNetwork, HarnessExport
from grader.evaluation.network import NumpyNetwork

Array = NDArray[Any]
RELATIVE_TOLERANCE = 1e-3  # float32 sums of a few hundred products, computed in another order
ABSOLUTE_TOLERANCE = 1e-4
MAX_CHECK_ROWS = 64  # the kernel sends 16: more is a forged export making the grader compute for nothing


def checked_path(export: HarnessExport, entry: ExportedNetwork, network: NumpyNetwork) -> str:
    """How the network was exported and cross-checked, for the report; raises NetworkRefused when the rebuilt
    network disagrees with the student's forward() on the visible inputs the kernel sent."""
    path = entry.path or "its layers"
    if entry.check is None:
        return path
    inputs, expected = export.arrays.get(entry.check.input), export.arrays.get(entry.check.output)
    if inputs is None or expected is None:
        raise NetworkRefused("the export lacks the inputs it was checked on")
    try:
        x, reference = inputs.decode(), expected.decode().astype(np.float64)
    except ValueError as exc:
        raise NetworkRefused(f"the export's check is malformed: {exc}") from exc
    if len(x) == 0 or len(x) > MAX_CHECK_ROWS or reference.shape[0] != len(x):
        raise NetworkRefused(f"the export's check holds {len(x)} inputs with {reference.shape[0]} outputs (1 to "
                             f"{MAX_CHECK_ROWS} of each)")
    ours = network.scores(x).astype(np.float64)
    if ours.shape != reference.reshape(len(x), -1).shape:
        raise NetworkRefused(f"read as {path}, it gives {ours.shape[1]} outputs per input where its forward() gives "
                             f"{reference.reshape(len(x), -1).shape[1]}")
    reference = reference.reshape(ours.shape)
    scale = float(np.abs(reference).max(initial=0.0))
    gap = float(np.abs(ours - reference).max(initial=0.0))
    called = entry.check.called
    if not np.isfinite(ours).all() or gap > ABSOLUTE_TOLERANCE + RELATIVE_TOLERANCE * scale:
        raise NetworkRefused(f"read as {path}, it computes other outputs than its own {called} on {len(x)} visible "
                             f"inputs (largest difference {gap:.3g}), so the grader cannot evaluate it faithfully")
    if entry.check.predicted is not None:
        _same_classes(export, entry.check.predicted, ours, network.one_output_threshold, path)
        called += " and predict()"
    return f"{path}; agrees with its {called} on {len(x)} visible inputs"


def _same_classes(export: HarnessExport, key: str, ours: Array, threshold: float, path: str) -> None:
    """Raises NetworkRefused unless the rebuilt network scores highest, on every visible input where its scores are
    not tied, the class the student's own predict() names."""
    payload = export.arrays.get(key)
    try:
        named = payload.decode().astype(np.float64).reshape(-1) if payload is not None else None
    except ValueError as exc:
        raise NetworkRefused(f"the export's check is malformed: {exc}") from exc
    classes = 2 if ours.shape[1] == 1 else ours.shape[1]
    if named is None or named.shape != (len(ours),) or not np.all((named == np.round(named)) & (named >= 0)
                                                                  & (named < classes)):
        raise NetworkRefused(f"the export's check names no class number (0 to {classes - 1}) for each of its inputs")
    if ours.shape[1] == 1:
        mine, margin = (ours[:, 0] > threshold).astype(np.int64), np.abs(ours[:, 0] - threshold)
    else:
        top = np.sort(ours, axis=1)
        mine, margin = ours.argmax(axis=1), top[:, -1] - top[:, -2]
    tolerance = ABSOLUTE_TOLERANCE + RELATIVE_TOLERANCE * float(np.abs(ours).max(initial=0.0))
    wrong = int(((mine != named) & (margin > tolerance)).sum())
    if wrong:
        raise NetworkRefused(f"read as {path}, it predicts other classes than its own predict() on {wrong} of "
                             f"{len(ours)} visible inputs, so the grader cannot evaluate it faithfully")
