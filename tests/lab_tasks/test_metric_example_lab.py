"""docs/lab-author.md's worked example of the classifier metrics as a lab folder, tested with `labgrader labs test` in
real sandboxed kernels: its lab.toml is the guide's block, its data scikit-learn's breast cancer (prepared by the
command), its solution a PyTorch network with one output and no sigmoid (trained with BCEWithLogitsLoss), which the
grader reads as a logit (class 1 above 0, not 0.5), and its starter must earn nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.conftest import LABGRADER, REPO, server_env

GUIDE = REPO / "docs" / "lab-author.md"
LOAD = """import numpy as np
data = np.load("data/cancer.npz")
X, y = data["x_train"], data["y_train"]"""
LOGIT = """import torch
torch.manual_seed(0)
inputs = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
target = torch.tensor(y, dtype=torch.float32)[:, None]   # 1 = benign, the second declared class
cancer_model = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
optimiser = torch.optim.Adam(cancer_model.parameters(), lr=0.01)
loss_fn = torch.nn.BCEWithLogitsLoss()
for epoch in range(300):
    optimiser.zero_grad()
    loss = loss_fn(cancer_model(inputs), target)
    loss.backward()
    optimiser.step()"""
EXPECTATIONS = """[[notebooks]]
path = "starter.ipynb"
every = "fail"

[[notebooks]]
path = "solutions/logit.ipynb"
every = "pass"
score = [100, 100]
"""


def write_notebook(path: Path, *sources: str) -> None:
    nb = new_notebook(cells=[new_code_cell(source) for source in sources])  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))  # type: ignore[no-untyped-call]


@pytest.mark.slow
def test_the_guides_metric_lab_passes_labs_test_with_a_logit_network(tmp_path: Path) -> None:
    page = GUIDE.read_text(encoding="utf-8")
    block = page.split("<!-- metric-example:start -->")[1].split("<!-- metric-example:end -->")[0]
    lab = tmp_path / "labs" / "cancer"
    (lab / "solutions").mkdir(parents=True)
    (lab / "lab.toml").write_text(block.split("```toml")[1].split("```")[0])
    (lab / "expectations.toml").write_text(EXPECTATIONS)
    write_notebook(lab / "starter.ipynb", LOAD, "cancer_model = None")
    write_notebook(lab / "solutions" / "logit.ipynb", LOAD, LOGIT)
    out = subprocess.run([*LABGRADER, "labs", "test", "cancer", "--json"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=1800, env=server_env(tmp_path, LABGRADER_LABS_DIR=str(lab.parent)))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    [answer] = json.loads(out.stdout)
    assert answer["ok"] is True
    rows = {(row["notebook"], row["check"]): row for row in answer["rows"]}
    recall = rows[("solutions/logit.ipynb", "malignant_recall")]
    assert recall["earned"] == recall["max_score"] == 40
    assert " hidden malignant samples predicted malignant) (full credit at 0.90" in recall["message"]
    assert rows[("solutions/logit.ipynb", "total")]["earned"] == 100
    assert rows[("starter.ipynb", "balanced")]["earned"] == 0
