"""The scikit-learn model kind graded through the real pipeline (real kernels, the default student environment's
scikit-learn): a lab written under tmp_path declares `model_kinds = ["sklearn"]` on the frameworks lab's Iris, a
LogisticRegression, a Pipeline of a StandardScaler and an SGDClassifier and a Pipeline of a MinMaxScaler and an
MLPClassifier earn their points, and a LogisticRegression subclass whose predict() answers from scikit-learn's own
copy of Iris (public labels, hidden rows included) is refused by the cross-check: its parameters were fitted on
shuffled labels, and the grader grades what the parameters compute."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grader.data.lab_data import LabData
from grader.spec.lab import LabSpec, load_spec
from tests.lab_data import frameworks_data
from tests.lab_tasks.frameworks.conftest import Grade, notebook, sandboxed_grader

pytestmark = pytest.mark.slow

# the Iris declaration of the frameworks lab, whose prepared data these labs are graded on
IRIS = textwrap.dedent("""
    [[datasets]]
    id = "iris"
    title = "Iris"
    classes = ["setosa", "versicolor", "virginica"]
    input_shape = [4]
    dtype = "float32"
    [datasets.source]
    sklearn = "load_iris"
    [datasets.split]
    kind = "stratified"
    held_out = 30
    seed = 20240901
    """)


def _accuracy(model: str) -> str:
    return textwrap.dedent(f"""
        [[checks]]
        id = "{model}"
        title = "{model}"
        points = 1
        kind = "accuracy"
        model = "{model}"
        dataset = "iris"
        full_credit_at = 0.85
        no_credit_at = 0.5
        """)


ESTIMATORS = """
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
visible = np.load("data/iris.npz")
X, y = visible["x_train"], visible["y_train"]
iris_logistic = LogisticRegression(max_iter=500).fit(X, y)
iris_sgd = make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", random_state=0)).fit(X, y)
iris_mlp = make_pipeline(MinMaxScaler(), MLPClassifier((16,), max_iter=2000, random_state=0)).fit(X, y)

class Oracle(LogisticRegression):
    # every Iris row with its label, hidden rows included: scikit-learn ships them
    answers = {tuple(np.round(row, 1)): int(label) for row, label in zip(*load_iris(return_X_y=True))}
    def predict(self, X):
        return np.array([self.answers.get(tuple(np.round(np.asarray(row, dtype=float), 1)), 0) for row in X])

iris_oracle = Oracle(max_iter=500).fit(X, np.random.default_rng(0).permutation(y))
"""


@pytest.fixture
def grade(tmp_path: Path) -> Grade:
    return sandboxed_grader(tmp_path / "jobs")


@pytest.fixture(scope="module")
def iris_lab(tmp_path_factory: pytest.TempPathFactory) -> LabData:
    return frameworks_data(tmp_path_factory.mktemp("iris-data"), None)


def _lab(tmp_path: Path, checks: str) -> LabSpec:
    folder = tmp_path / "labs" / "sklearn_test"
    folder.mkdir(parents=True)
    (folder / "lab.toml").write_text(f'id = "sklearn_test"\ntitle = "t"\nmodel_kinds = ["sklearn"]\n{IRIS}{checks}')
    return load_spec(folder / "lab.toml")


async def test_estimators_earn_their_points_and_an_oracle_is_refused(grade: Grade, tmp_path: Path,
                                                                     iris_lab: LabData) -> None:
    names = ("iris_logistic", "iris_sgd", "iris_mlp", "iris_oracle")
    spec = _lab(tmp_path, "".join(_accuracy(name) for name in names))
    outcome = await grade(notebook(ESTIMATORS), spec, iris_lab)
    checks = {c.id: c for c in outcome.report.checks}
    messages = {name: check.message for name, check in checks.items()}
    assert {name: checks[name].score for name in names} == {"iris_logistic": 1.0, "iris_sgd": 1.0, "iris_mlp": 1.0,
                                                           "iris_oracle": 0.0}, messages
    assert messages["iris_oracle"].startswith(
        "`iris_oracle` could not be evaluated from its layers: read as its fitted parameters (LogisticRegression), "
        "it predicts other classes than its own predict() on "), messages["iris_oracle"]
    assert messages["iris_oracle"].endswith(" visible inputs, so the grader cannot evaluate it faithfully")
