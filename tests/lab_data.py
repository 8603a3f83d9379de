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

# A notebook cell: a small, deterministic Iris network on the lab's visible data (`iris_model`, the frameworks lab's
# contract name): with the grader's seeds it reaches full credit.
TRAIN_IRIS = """
import numpy as np, torch
torch.set_num_threads(1)
visible = np.load('data/iris.npz')
X = torch.tensor(visible['x_train'], dtype=torch.float32); y = torch.tensor(visible['y_train'], dtype=torch.long)
iris_model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
opt = torch.optim.Adam(iris_model.parameters(), lr=0.05)
for epoch in range(200):
    opt.zero_grad(); loss = torch.nn.functional.cross_entropy(iris_model(X), y); loss.backward(); opt.step()
"""


def frameworks_data(data_dir: Path, mnist: Path | None = SMALL_MNIST) -> LabData:
    """Iris (from scikit-learn) and the helper module always; MNIST from `mnist` (a copy or subset of mnist.npz)."""
    spec = discover_labs(LABS_DIR)["frameworks"]
    lab = LabData(data_dir, "frameworks")
    prepare_lab(lab, spec, FRAMEWORKS_DIR)
    if mnist is not None:
        import_source(data_dir, {"frameworks": spec}, mnist, "mnist.npz")
    return lab
