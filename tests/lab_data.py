"""The frameworks lab's data for tests, prepared from its lab.toml declarations by the grader's own code."""

from __future__ import annotations

from pathlib import Path

from grader.data.lab_data import LabData
from grader.data.prepare import prepare_lab
from grader.data.sources import import_source
from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR

FRAMEWORKS_DIR = LABS_DIR / "frameworks"
SMALL_MNIST = FRAMEWORKS_DIR / "testdata" / "mnist-small.npz"


def frameworks_data(data_dir: Path, mnist: Path | None = SMALL_MNIST) -> LabData:
    """Iris (from scikit-learn) and the helper module always; MNIST from `mnist` (a copy or subset of mnist.npz)."""
    spec = discover_labs(LABS_DIR)["frameworks"]
    lab = LabData(data_dir, "frameworks")
    prepare_lab(lab, spec, FRAMEWORKS_DIR)
    if mnist is not None:
        import_source(data_dir, {"frameworks": spec}, mnist, "mnist.npz")
    return lab
