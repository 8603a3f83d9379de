"""Sentences for the report saying which models and histories the harness evaluated, and how it found them."""

from __future__ import annotations

from grader.evaluation.request import role_of, slot_architectures
from grader.evaluation.result import EvaluationResult
from grader.scoring.scorers import finite_curve
from grader.scoring.student_text import INSTRUCTOR_TEXT_CHARS, printable
from grader.spec import LabSpec


def discovery_lines(spec: LabSpec, output: EvaluationResult | None) -> list[str]:
    """"multi-layer MNIST model: `net2` (found by discovery; PyTorch, 3 dense layers, ...), inputs scaled /255"."""
    if output is None:
        return []
    lines = []
    for name, (dataset, architecture) in slot_architectures(spec).items():
        role = role_of(architecture, dataset)
        entry = output.model(name)
        if entry is not None and entry.error:  # instructors only: the raw text, truncated and printable
            lines.append(f"{role}: the evaluation reported: {printable(entry.error, INSTRUCTOR_TEXT_CHARS)}")
        if entry is None or not entry.found:
            lines.append(f"{role}: none found (no `{name}`, and no matching network among the notebook's variables)")
            continue
        how = "contract name" if entry.via == "contract" else "found by discovery"
        facts = f"; {entry.facts.describe()}" if entry.facts else ""
        line = f"{role}: {entry.source or '`' + name + '`'} ({how}{facts})"
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
        epochs = len(finite_curve(history.loss))
        validation = "with" if finite_curve(history.val_loss) else "without"
        checked = f"; {history.cross_check}" if history.cross_check else ""
        lines.append(f"training history: {history.source} ({how}), {epochs} epochs {validation} validation loss"
                     f"{checked}")
    return lines
