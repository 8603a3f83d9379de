"""docs/lab-author.md's scikit-learn worked example as a lab folder, tested with `labgrader labs test` in real sandboxed
kernels: its lab.toml is the guide's block (a logistic-regression baseline on scikit-learn's breast cancer, graded by
accuracy), its solutions a StandardScaler + LogisticRegression and a StandardScaler + MLPClassifier pipeline (both
must score 100), its starter must earn nothing; and the guide's regression example with `model_kinds = ["sklearn"]`,
graded on a LinearRegression and a StandardScaler + MLPRegressor pipeline (both must score 100)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LABGRADER, REPO, server_env
from tests.lab_tasks.test_metric_example_lab import write_notebook

GUIDE = REPO / "docs" / "lab-author.md"
IMPORTS = """import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler"""
STARTER = """[[notebooks]]
path = "starter.ipynb"
every = "fail"
score = [0, 0]
"""
FULL = """
[[notebooks]]
path = "solutions/{name}.ipynb"
every = "pass"
score = [100, 100]
"""


def guide_block(name: str) -> str:
    page = GUIDE.read_text(encoding="utf-8")
    block = page.split(f"<!-- {name}:start -->")[1].split(f"<!-- {name}:end -->")[0]
    return block.split("```toml")[1].split("```")[0]


def labs_test(tmp_path: Path, lab_id: str, toml: str, solutions: dict[str, str], starter: str,
              expectations: str) -> dict[tuple[str, str], dict[str, object]]:
    lab = tmp_path / "labs" / lab_id
    (lab / "solutions").mkdir(parents=True)
    (lab / "lab.toml").write_text(toml)
    (lab / "expectations.toml").write_text(expectations)
    write_notebook(lab / "starter.ipynb", IMPORTS, starter)
    for name, code in solutions.items():
        write_notebook(lab / "solutions" / f"{name}.ipynb", IMPORTS, code)
    out = subprocess.run([*LABGRADER, "labs", "test", lab_id, "--json"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=1800, env=server_env(tmp_path, LABGRADER_LABS_DIR=str(lab.parent)))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    [answer] = json.loads(out.stdout)
    assert answer["ok"] is True
    return {(row["notebook"], row["check"]): row for row in answer["rows"]}


@pytest.mark.slow
def test_the_guides_logistic_regression_baseline_passes_labs_test(tmp_path: Path) -> None:
    load = 'data = np.load("data/cancer.npz")\nX, y = data["x_train"], data["y_train"]\n'
    rows = labs_test(tmp_path, "cancer_baseline", guide_block("sklearn-example"), {
        "logistic": load + "baseline = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)",
        "mlp": load + "baseline = make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=1000, "
                      "random_state=0)).fit(X, y)",
    }, "baseline = None", STARTER + FULL.format(name="logistic") + FULL.format(name="mlp"))
    for notebook in ("solutions/logistic.ipynb", "solutions/mlp.ipynb"):
        accuracy = rows[(notebook, "accuracy")]
        assert accuracy["earned"] == accuracy["max_score"] == 100, accuracy
        assert str(accuracy["message"]).startswith("`baseline` ("), accuracy
    assert rows[("starter.ipynb", "total")]["earned"] == 0


@pytest.mark.slow
def test_the_guides_regression_lab_takes_scikit_learn_regressors(tmp_path: Path) -> None:
    toml = guide_block("regression-example").replace('title = "Predicting disease progression"\n',
                                                     'title = "Predicting disease progression"\n'
                                                     'model_kinds = ["sklearn"]\n', 1)
    load = 'data = np.load("data/diabetes.npz")\nX, y = data["x_train"], data["y_train"]\n'
    rows = labs_test(tmp_path, "diabetes", toml, {
        "linear": load + "diabetes_model = LinearRegression().fit(X, y)",
        "mlp": load + "diabetes_model = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(16,), "
                      "learning_rate_init=0.05, max_iter=2000, random_state=0)).fit(X, y)",
    }, "diabetes_model = None", STARTER + FULL.format(name="linear") + FULL.format(name="mlp"))
    # measured: LinearRegression R² 0.522, MSE 2801, MAE 41.2; the MLP pipeline R² 0.488, MSE 2999, MAE 41.6
    for notebook in ("solutions/linear.ipynb", "solutions/mlp.ipynb"):
        r2 = rows[(notebook, "r2")]
        assert r2["earned"] == r2["max_score"] == 40, r2
        assert " predicting progression of 88 hidden diabetes rows (1 is perfect, 0 is always predicting their " \
               "mean; full credit at 0.42, none at or below 0)" in str(r2["message"])
        assert rows[(notebook, "total")]["earned"] == 100
    assert rows[("starter.ipynb", "total")]["earned"] == 0
