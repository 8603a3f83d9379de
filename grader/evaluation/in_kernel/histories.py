# Per-epoch training histories in the shapes students keep them, read in the student's kernel as part of the harness
# (the host concatenates the in-kernel sources in the order of HARNESS_SOURCES). Recognised: a Keras History; a dict
# of per-epoch lists ({'loss': [...], 'val_loss': [...]}); two lists named as a pair and of one length (`train_loss3`
# and `val_loss3`, `losses_train` and `losses_val`); a list of per-epoch rows ([[loss, val_loss], ...]); and what a
# Lightning module logged with self.log() (recorded per epoch by the start-up code). Each reader returns (loss,
# val_loss, shape) or None; nothing here calls getattr() on arbitrary objects (lazy modules import things on attribute
# access).
import math
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # defined by the recogniser, which runs first in the same namespace
    from grader.evaluation.in_kernel.recognise import is_keras_history

HISTORY_EPOCHS = 1000
LOSS_KEYS = ("loss", "train_loss", "training_loss", "train_losses", "train_loss_epoch", "losses")
VAL_LOSS_KEYS = ("val_loss", "validation_loss", "valid_loss", "test_loss", "val_losses", "val_loss_epoch",
                 "validation_losses", "test_losses")
TRAIN_WORDS = ("training", "train")
VAL_WORDS = ("validation", "valid", "val", "test", "dev")
ROW_NAMES_WITH_ACCURACY = ("acc",)  # a row list whose name mentions accuracy holds [loss, accuracy] rows

Curve = list[float | None]
Curves = tuple[Curve, Curve, str]


def history_numbers(values: Any) -> Curve | None:
    out: Curve = []
    for value in list(values)[:HISTORY_EPOCHS]:
        try:
            number = float(value.item() if hasattr(value, "item") else value)
        except Exception:
            return None
        out.append(number if math.isfinite(number) else None)
    return out


def _lightning_logged(value: Any) -> dict[str, Any] | None:
    """What the start-up code recorded of a Lightning module's self.log() calls, or None."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(value, torch.nn.Module):
        return None
    logged = value.__dict__.get("_labgrader_logged")
    return logged if isinstance(logged, dict) and logged else None


def _record_curves(record: dict[Any, Any]) -> tuple[Curve, Curve] | None:
    loss_key = next((k for k in LOSS_KEYS if k in record), None)
    val_key = next((k for k in VAL_LOSS_KEYS if k in record), None)
    if loss_key is None and val_key is None:
        return None
    try:
        loss = history_numbers(record[loss_key]) if loss_key else []
        val_loss = history_numbers(record[val_key]) if val_key else []
    except TypeError:
        return None
    if loss is None or val_loss is None or not (loss or val_loss):
        return None
    return loss, val_loss


def _epoch_means(per_epoch: dict[Any, Any]) -> list[float]:
    return [per_epoch[epoch][0] / per_epoch[epoch][1] for epoch in sorted(per_epoch)[:HISTORY_EPOCHS]
            if per_epoch[epoch][1]]


def _rows(value: Any, name: str) -> Curves | None:
    """[[loss, val_loss], ...] one row per epoch; [loss, accuracy] rows when the name or the values say so."""
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        return None
    first = value[0]
    if not isinstance(first, (list, tuple)) or not 2 <= len(first) <= 4:
        return None
    columns: list[Curve] = []
    for index in range(2):
        column = history_numbers(row[index] if isinstance(row, (list, tuple)) and len(row) == len(first) else "x"
                                 for row in value)
        if column is None:
            return None
        columns.append(column)
    second = [v for v in columns[1] if v is not None]
    rising_share = bool(second) and all(0 <= v <= 1 for v in second) and second[-1] > second[0]
    if any(word in name.lower() for word in ROW_NAMES_WITH_ACCURACY) or rising_share:
        # an accuracy, named so or by its values: a share that grows while the loss falls
        return columns[0], [], "rows of [loss, accuracy]"
    return columns[0], columns[1], "rows of [loss, validation loss]"


def history_curves(value: Any, name: str = "") -> Curves | None:
    """(loss, val_loss, shape) of one value, or None when it is not a per-epoch history."""
    if isinstance(value, dict):
        curves = _record_curves(value)
        return (*curves, "a dict of per-epoch lists") if curves else None
    if is_keras_history(value):
        record = value.__dict__.get("history")
        curves = _record_curves(record) if isinstance(record, dict) else None
        return (*curves, "a Keras History") if curves else None
    logged = _lightning_logged(value)
    if logged is not None:
        record = {key: _epoch_means(per_epoch) for key, per_epoch in logged.items() if isinstance(per_epoch, dict)}
        curves = _record_curves(record)
        return (*curves, "the metrics its LightningModule logged") if curves else None
    return _rows(value, name)


def history_owner(value: Any) -> Any:
    """The object whose network a history records, where the history says: a Keras History's model, or the
    Lightning module itself; None otherwise."""
    if is_keras_history(value):
        return value.__dict__.get("model") or value.__dict__.get("_model")
    if _lightning_logged(value) is not None:
        return value
    return None


def _split_name(name: str) -> tuple[str | None, str]:
    """('val', '#_loss3') for 'val_loss3'; (None, name) for a name that holds no train/validation word."""
    lowered = name.lower()
    for group, words in (("val", VAL_WORDS), ("train", TRAIN_WORDS)):
        for word in words:
            start = lowered.find(word)
            if start < 0:
                continue
            end = start + len(word)
            before_ok = start == 0 or not lowered[start - 1].isalpha()
            after_ok = end == len(lowered) or not lowered[end].isalpha() or lowered[end:].startswith("loss")
            if before_ok and after_ok:
                rest = (lowered[:start] + "#" + lowered[end:]).replace("_#", "#").replace("#_", "#")
                return group, rest
    return None, lowered


def paired_lists(user_ns: dict[str, Any]) -> list[tuple[str, Any, Curves]]:
    """[(label, value, curves)] for `train_*`/`val_*` lists of losses of one length, paired by name."""
    curves: dict[str, dict[str, tuple[str, Any, Curve]]] = {}
    for name, value in list(user_ns.items()):
        if name.startswith("_") or "loss" not in name.lower() or isinstance(value, (str, bytes, dict)):
            continue
        if not (isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray"):
            continue
        if not 1 <= len(value) <= HISTORY_EPOCHS or isinstance(value[0], (list, tuple)):
            continue
        group, key = _split_name(name)
        if group is None:
            continue
        numbers = history_numbers(value)
        if numbers is not None:
            curves.setdefault(key, {})[group] = (name, value, numbers)
    found = []
    for parts in curves.values():
        train, val = parts.get("train"), parts.get("val")
        if train and val and len(train[2]) == len(val[2]):
            found.append((f"`{train[0]}` and `{val[0]}`", val[1],
                          (train[2], val[2], "two lists of per-epoch losses")))
    return found
