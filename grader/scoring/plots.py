"""The learning-curve plot, drawn on the host from validated history numbers (never from student objects)."""

from __future__ import annotations

import io
import logging

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from grader.scoring.report import GradingReport

LEARNING_CURVE = "learning_curve"  # a plot's kind: what the service stores it as (every plot is a PNG)
logger = logging.getLogger(__name__)


def learning_curve_png(loss: list[float], val_loss: list[float], title: str) -> bytes:
    """Training and validation loss per epoch, with the validation-loss minimum marked."""
    figure = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if loss:
        axes.plot(range(1, len(loss) + 1), loss, marker="o", markersize=3, label="training loss")
    if val_loss:
        axes.plot(range(1, len(val_loss) + 1), val_loss, marker="o", markersize=3, label="validation loss")
        best = min(range(len(val_loss)), key=val_loss.__getitem__)
        axes.axvline(best + 1, color="grey", linestyle="--", linewidth=1)
        axes.scatter([best + 1], [val_loss[best]], s=80, facecolors="none", edgecolors="red", zorder=3,
                     label=f"lowest validation loss (epoch {best + 1})")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def report_plots(report: GradingReport) -> dict[str, bytes]:
    """The plots of a report, PNG by kind: the report step draws them once, whoever stores them finds them by kind."""
    return learning_curve_artifacts(report.history) if report.history else {}


def learning_curve_artifacts(history: dict[str, dict[str, list[float]]]) -> dict[str, bytes]:
    """One learning-curve PNG (kind `learning_curve`) for the first history that has epochs; empty when there is
    none, or when the numbers cannot be drawn (the notebook reports them: `{"loss": [1e308, -1e308]}` overflows the
    axis): the plot is an extra and never fails a job."""
    for name, curves in history.items():
        if curves.get("loss") or curves.get("val_loss"):
            title = f"Learning curve ({name[:80]})"
            try:
                return {LEARNING_CURVE: learning_curve_png(curves.get("loss", []), curves.get("val_loss", []), title)}
            except Exception as exc:  # matplotlib raises many kinds (LinAlgError, OverflowError, ...)
                logger.info("no learning-curve plot: the history cannot be drawn (%s)", type(exc).__name__)
                return {}
    return {}
