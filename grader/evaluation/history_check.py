"""Which training history a model slot's early-stopping check reads, and whether it describes the graded network.

A history needs per-epoch training and validation losses of one length; its training loss is compared with the
network's cross-entropy on the visible training sample, which the evaluator recomputed. Whatever numbers the notebook
wrote, a problem with a history is a sentence in its own result, never a failure of the whole evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.evaluation.harness_output import HistoryExport
from grader.evaluation.result import HistoryResult, ModelResult


@dataclass(frozen=True)
class HistoryRequest:
    name: str
    model: str | None = None


def choose_history(request: HistoryRequest, found: list[HistoryExport], network: int | None,
                    elsewhere: set[int]) -> HistoryExport | None:
    """The contract history, else the one of the chosen network, else one with validation loss, else the last found;
    never one that records a network of another dataset (`elsewhere`: one dataset's `fit` says nothing of another's)."""
    contract = [h for h in found if h.via == "contract"]
    if contract:
        return contract[0]
    found = [h for h in found if h.network is None or h.network == network or h.network not in elsewhere]
    if not found:
        return None
    linked = [h for h in found if network is not None and h.network == network]
    with_validation = [h for h in found if h.val_loss]
    return (linked or with_validation or found)[-1]


def _loss_text(value: float) -> str:
    """A loss for a sentence: 0.347, or 1e+308 for a number a notebook wrote to break the sentence."""
    return f"{value:.3f}" if abs(value) < 1e6 else f"{value:.3g}"


def _cross_check(history: HistoryExport, model: ModelResult | None) -> tuple[bool | None, str]:
    """Is the history's training loss that of the exported network? It needs a training and a validation loss per
    epoch (lists of one length); the grader recomputes the network's cross-entropy on the visible training sample,
    and a history whose every recorded loss is far below it does not describe this network."""
    losses = [v for v in history.loss if v is not None and np.isfinite(v)]
    if model is None or not model.evaluated:
        return None, "not cross-checked: the network it records was not evaluated"
    if model.outputs is not None:
        # its loss is in whatever units the notebook scaled the target to, which the grader cannot know
        return None, "not cross-checked: a regression network's training loss depends on how the target was scaled"
    if not losses:
        return False, ("it records no training loss, so the grader cannot check that it describes this network: "
                       "record the training and the validation loss once per epoch")
    if history.val_loss and len(history.loss) != len(history.val_loss):
        return False, (f"it records {len(history.loss)} training losses but {len(history.val_loss)} validation "
                       "losses: record one of each per epoch")
    if model.train_loss is None:
        return None, "not cross-checked: the network's outputs are not class scores"
    low, high = min(losses), max(losses)
    span = f"{_loss_text(low)} to {_loss_text(high)}"
    if model.train_loss > 2 * high + 0.1:
        return False, (f"the network's cross-entropy on training data is {_loss_text(model.train_loss)}, far above "
                       f"every training loss the history records ({span}): the history does not describe this "
                       "network")
    if low > 100 * model.train_loss + 10:
        return False, (f"the network's cross-entropy on training data is {_loss_text(model.train_loss)}, far below "
                       f"every training loss the history records ({span}): the history does not describe this "
                       "network")
    return True, (f"cross-checked: the network's cross-entropy on training data is {_loss_text(model.train_loss)}, "
                  f"within what the history records ({span})")


def history_result(request: HistoryRequest, history: HistoryExport, model: ModelResult | None) -> HistoryResult:
    """One history's result; whatever numbers it holds, a problem with it fails its own check, never the run."""
    consistent, sentence = _cross_check(history, model) if history.found else (None, "")
    try:
        return HistoryResult(name=history.name, found=history.found, error=history.error, via=history.via,
                             source=history.source, loss=history.loss, val_loss=history.val_loss,
                             consistent=consistent, cross_check=sentence, shape=history.shape)
    except ValueError as exc:  # pydantic's ValidationError: a field the notebook's numbers pushed out of bounds
        return HistoryResult(name=request.name, found=False, source=history.source,
                             error=f"the history could not be read: {str(exc).splitlines()[0][:200]}")
