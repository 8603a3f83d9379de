"""Sentences for the report saying which models and histories the harness evaluated, and how it found them."""

from __future__ import annotations

import re
from collections.abc import Mapping

from grader.evaluation.result import EvaluationResult
from grader.scoring.scorers import finite_curve
from grader.scoring.student_text import INSTRUCTOR_TEXT_CHARS, printable
from grader.spec.lab import LabSpec
from grader.spec.slots import role_of, slot_architectures

AFTER_CELL = re.compile(r" as it was after In \[(\d+)\]")
DEFAULT_EXPORT_PATHS = {"torch.fx symbolic tracing", "its Keras layers", "its layers"}


def where(label: str, cell_numbers: Mapping[int, int]) -> str:
    """"`net3` as it was after In [14]" -> "`net3` after cell 16": the notebook's own cell number where known."""
    def number(match: re.Match[str]) -> str:
        count = int(match.group(1))
        return f" after cell {cell_numbers[count]}" if count in cell_numbers else f" after the cell run as In [{count}]"

    return AFTER_CELL.sub(number, label)


def _choice(role: str, considered: int | None, train_accuracy: float | None) -> str:
    """"the best of 4 multi-layer <dataset> networks, 0.981 on the visible training sample"."""
    networks = role.replace(" model", " network")
    if not considered:
        return ""
    if considered == 1:
        return f": the only {networks} found"
    accuracy = f", {train_accuracy:.3f} on the visible training sample" if train_accuracy is not None else ""
    return f": the best of {considered} {networks}s found{accuracy}"


def discovery_lines(spec: LabSpec, output: EvaluationResult | None,
                    cell_numbers: Mapping[int, int] | None = None) -> list[str]:
    """"multi-layer <dataset> model: `net3` after cell 14 (found by discovery: the best of 4 multi-layer <dataset>
    networks found, 0.981 on the visible training sample; PyTorch, 3 dense layers, ...), inputs scaled /255"."""
    if output is None:
        return []
    cells = cell_numbers or {}
    lines = []
    for name, (dataset, architecture) in slot_architectures(spec).items():
        role = role_of(architecture, spec.dataset_title(dataset))
        entry = output.model(name)
        if entry is not None and entry.error:  # instructors only: the raw text, truncated and printable
            lines.append(f"{role}: the evaluation reported: {printable(entry.error, INSTRUCTOR_TEXT_CHARS)}")
        if entry is None or not entry.found:
            lines.append(f"{role}: none found (no `{name}`, and no matching network among the notebook's variables)")
            continue
        how = "contract name" if entry.via == "contract" else "found by discovery"
        if entry.via == "discovery":
            how += _choice(role, entry.considered, entry.train_accuracy)
        facts = f"; {entry.facts.describe()}" if entry.facts else ""
        if entry.memorised_rows:
            facts += (f"; {entry.memorised_rows} of the {entry.rows_compared} first-layer rows compared are copies of "
                      "visible or hidden images (cosine similarity >= 0.99): memorised, not learned")
        if entry.export_path and entry.export_path.split(";")[0] not in DEFAULT_EXPORT_PATHS:
            facts += f"; exported by {entry.export_path}"  # the first way of each framework goes without saying
        line = f"{role}: {where(entry.source or '`' + name + '`', cells)} ({how}{facts})"
        if entry.preprocessing_words:
            line += f", {entry.preprocessing_words}"
        lines.append(line)
    for history in output.histories:
        if history.error:
            lines.append(f"training history `{history.name}`: the evaluation reported: "
                         f"{printable(history.error, INSTRUCTOR_TEXT_CHARS)}")
        if not history.found:
            lines.append(f"training history `{history.name}`: none found")
            continue
        how = "contract name" if history.via == "contract" else "found by discovery"
        if history.shape and history.via == "discovery":
            how += f"; {history.shape}"
        epochs = len(finite_curve(history.loss)) or len(finite_curve(history.val_loss))
        validation = "with" if finite_curve(history.val_loss) else "without"
        checked = f"; {history.cross_check}" if history.cross_check else ""
        lines.append(f"training history: {where(history.source or '`' + history.name + '`', cells)} ({how}), "
                     f"{epochs} epochs {validation} validation loss{checked}")
    return lines
