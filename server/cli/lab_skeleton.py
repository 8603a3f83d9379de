"""The files `labgrader labs new NAME` writes: a lab.toml that validates, a starter notebook, a reference solution,
and the expectations `labgrader labs test` checks them against."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

LAB_TOML = '''# Lab {name}: docs/lab-author.md explains every key; check it with `labgrader labs validate {target}`.
id = "{name}"
title = "{name}: a classifier on the lab's data"
summary = "Train a network on the visible data in ./data/{name}.npz and assign it to `model`."
needs_gpu = false
frameworks = ["torch"]
starter = "starter.ipynb"

[limits]
cell_timeout_s = 300      # one cell may run this long (seconds)
notebook_timeout_s = 900  # the whole notebook

[submission]
counts = "latest"         # or "best"; add deadline = "2027-01-31T23:59:00Z" and penalty_per_day = 0.1

[[datasets]]
id = "{name}"             # what checks' `dataset =` name; students read ./data/{name}.npz (x_train, y_train)
title = "{name}"          # how reports name it
[datasets.source]
import = true             # your own data: labgrader datasets import --lab {name} --dataset {name} FILE

[[checks]]
id = "accuracy"
title = "Accuracy of `model` on the hidden split"
kind = "accuracy"
model = "model"           # the variable the notebook assigns its trained network to
dataset = "{name}"        # its data: labgrader datasets import --lab {name} --dataset {name} FILE
points = 100
full_credit_at = 0.90     # full credit at or above this accuracy
no_credit_at = 0.50       # none at or below; linear between
'''

EXPECTATIONS = '''# What `labgrader labs test {target}` checks: each notebook graded, each check earning what is
# written here: "pass" (full credit), "fail" (no credit), "partial" (some), or [low, high] points; `every` is each
# check not listed under `checks`; `score` = [low, high] bounds the total. Add a notebook that is wrong in one way
# (too few epochs, an architecture a check forbids) and name the one check it must fail.

[[notebooks]]
path = "starter.ipynb"
every = "fail"

[[notebooks]]
path = "solutions/solution.ipynb"
every = "pass"
'''

LOAD = '''import numpy as np

data = np.load("data/{name}.npz")  # the visible split; the hidden one never leaves the grader
X, y = data["x_train"].astype("float32"), data["y_train"].astype("int64")
print(X.shape, "inputs,", len(set(y.tolist())), "classes")'''

STARTER_TODO = '''# Train a network (PyTorch or Keras) on X, y and assign it to `model`.
model = None'''

SOLUTION = '''import torch

torch.manual_seed(0)
inputs, labels = torch.tensor(X), torch.tensor(y)
mean, std = inputs.mean(0), inputs.std(0).clamp_min(1e-6)
model = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 32), torch.nn.ReLU(),
                            torch.nn.Linear(32, int(labels.max()) + 1))
optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
for epoch in range(300):
    optimiser.zero_grad()
    loss = torch.nn.functional.cross_entropy(model((inputs - mean) / std), labels)
    loss.backward()
    optimiser.step()
print("training loss", round(float(loss), 3))  # the grader finds the standardisation on its own'''


def _notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb: nbformat.NotebookNode = new_notebook(cells=list(cells))  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def write_skeleton(folder: Path, name: str, target: str) -> None:
    """Write the lab's files into a new folder; `target` is what `labs validate` is given to check it."""
    (folder / "solutions").mkdir(parents=True)
    (folder / "lab.toml").write_text(LAB_TOML.format(name=name, target=target), encoding="utf-8")
    (folder / "expectations.toml").write_text(EXPECTATIONS.format(target=target), encoding="utf-8")
    intro = new_markdown_cell(f"# {name}\n\nTrain a classifier on `./data/{name}.npz` and assign the trained network "  # type: ignore[no-untyped-call]
                              "to `model`. The grader evaluates it on a hidden split you never see.")
    load = new_code_cell(LOAD.format(name=name))  # type: ignore[no-untyped-call]
    nbformat.write(_notebook(intro, load, new_code_cell(STARTER_TODO)),  # type: ignore[no-untyped-call]
                   str(folder / "starter.ipynb"))
    solution = new_code_cell(SOLUTION)  # type: ignore[no-untyped-call]
    nbformat.write(_notebook(intro, load, solution), str(folder / "solutions" / "solution.ipynb"))  # type: ignore[no-untyped-call]
