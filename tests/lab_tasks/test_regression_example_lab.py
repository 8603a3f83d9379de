"""docs/lab-author.md's worked regression example as a lab folder, tested with `labgrader labs test` in real
sandboxed kernels: its lab.toml is the guide's block (scikit-learn's diabetes data, a numeric target, a random
split, mse/mae/r2 and per-slot limits), its solutions a PyTorch and a Keras network with one output trained on the
raw target (both must score 100), and its starter must earn nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LABGRADER, REPO, server_env
from tests.lab_tasks.test_metric_example_lab import write_notebook

GUIDE = REPO / "docs" / "lab-author.md"
LOAD = """import numpy as np
data = np.load("data/diabetes.npz")
X, y = data["x_train"], data["y_train"]
inputs = (X - X.mean(0)) / X.std(0)"""
TORCH = """import torch
torch.manual_seed(0)
x = torch.tensor(inputs, dtype=torch.float32)
target = torch.tensor(y, dtype=torch.float32)[:, None]
diabetes_model = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
optimiser = torch.optim.Adam(diabetes_model.parameters(), lr=0.05)
for epoch in range(500):
    optimiser.zero_grad()
    loss = torch.nn.functional.mse_loss(diabetes_model(x), target)
    loss.backward()
    optimiser.step()"""
KERAS = """import keras
keras.utils.set_random_seed(0)
diabetes_model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(16, activation="relu"),
                                   keras.layers.Dense(1)])
diabetes_model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
diabetes_model.fit(inputs, y, epochs=500, batch_size=len(y), verbose=0)"""
EXPECTATIONS = """[[notebooks]]
path = "starter.ipynb"
every = "fail"
score = [0, 0]

[[notebooks]]
path = "solutions/torch.ipynb"
every = "pass"
score = [100, 100]

[[notebooks]]
path = "solutions/keras.ipynb"
every = "pass"
score = [100, 100]
"""


@pytest.mark.slow
def test_the_guides_regression_lab_passes_labs_test_in_torch_and_keras(tmp_path: Path) -> None:
    page = GUIDE.read_text(encoding="utf-8")
    block = page.split("<!-- regression-example:start -->")[1].split("<!-- regression-example:end -->")[0]
    lab = tmp_path / "labs" / "diabetes"
    (lab / "solutions").mkdir(parents=True)
    (lab / "lab.toml").write_text(block.split("```toml")[1].split("```")[0])
    (lab / "expectations.toml").write_text(EXPECTATIONS)
    write_notebook(lab / "starter.ipynb", LOAD, "diabetes_model = None")
    write_notebook(lab / "solutions" / "torch.ipynb", LOAD, TORCH)
    write_notebook(lab / "solutions" / "keras.ipynb", LOAD, KERAS)
    out = subprocess.run([*LABGRADER, "labs", "test", "diabetes", "--json"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=1800, env=server_env(tmp_path, LABGRADER_LABS_DIR=str(lab.parent)))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    [answer] = json.loads(out.stdout)
    assert answer["ok"] is True
    rows = {(row["notebook"], row["check"]): row for row in answer["rows"]}
    for notebook in ("solutions/torch.ipynb", "solutions/keras.ipynb"):
        r2 = rows[(notebook, "r2")]
        assert r2["earned"] == r2["max_score"] == 40
        assert " predicting progression of 88 hidden diabetes rows (1 is perfect, 0 is always predicting their " \
               "mean; full credit at 0.42, none at or below 0): full credit" in r2["message"]
        assert rows[(notebook, "total")]["earned"] == 100
    assert rows[("starter.ipynb", "total")]["earned"] == 0
