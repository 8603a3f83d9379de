"""scikit-learn estimators without a kernel: fitted linear models, MLPs and Pipelines of scalers exported from their
parameters by the same source text the kernel runs, and evaluated by the clean evaluator, which never imports
scikit-learn (the grader's predictions equal the estimator's own predict() on hidden inputs it never saw).

The hostile estimators are subclasses whose predict() answers something other than their parameters: the grader's
cross-check refuses them; objects that only look like estimators are not recognised."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from sklearn.linear_model import (
    ElasticNet,
    LinearRegression,
    LogisticRegression,
    Perceptron,
    Ridge,
    RidgeClassifier,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler
from sklearn.svm import LinearSVC

from grader.evaluation.evaluator import DatasetInputs, SlotRequest, evaluate
from grader.evaluation.export_check import checked_path
from grader.evaluation.harness_output import HarnessExport, read_harness_output
from grader.evaluation.network import build_network

RNG = np.random.default_rng(7)
CENTRES = RNG.normal(0, 3, (3, 6))


def _points(rows: int, classes: int = 3) -> tuple[Any, Any]:
    y = RNG.integers(0, classes, rows)
    x = CENTRES[y] + RNG.normal(0, 2.0, (rows, 6)) + 5.0  # features around 5, as raw measurements are
    return x.astype(np.float32), y


SAMPLE_X, SAMPLE_Y = _points(300)
HIDDEN_X, HIDDEN_Y = _points(200)
TARGET_W = RNG.normal(0, 1, 6)


def export(harness: dict[str, Any], tmp_path: Path, user_ns: dict[str, Any], slots: tuple[str, ...] = ("model",),
           kinds: tuple[str, ...] = ("sklearn",)) -> HarnessExport:
    np.save(tmp_path / "sample.npy", SAMPLE_X)
    request = {"nonce": "n" * 32, "output": str(tmp_path / "out.json"),
               "samples": {"points": str(tmp_path / "sample.npy")}, "classes": {"points": 3},
               "slots": [{"name": s, "dataset": "points"} for s in slots], "histories": [],
               "model_kinds": list(kinds)}
    (tmp_path / "request.json").write_text(json.dumps(request))
    harness["run"](str(tmp_path / "request.json"), user_ns)
    return read_harness_output(tmp_path / "out.json", "n" * 32)


def fitted(estimator: Any, classes: int = 3) -> Any:
    y = SAMPLE_Y if classes == 3 else (SAMPLE_Y == 0).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few iterations: convergence is not what is tested
        return estimator.fit(SAMPLE_X, y)


PROBA, DECISION = "predict_proba()", "decision_function()"
# each classifier, and which of its own outputs the export is checked against: the probabilities where the grader's
# operations compute them (a sigmoid, a softmax), else the decision function its predict() takes the class from
# (one-vs-rest probabilities tie where sigmoids saturate; modified_huber's are clipped)
CLASSIFIERS: dict[str, tuple[Callable[[], Any], str]] = {
    "logistic": (lambda: fitted(LogisticRegression(max_iter=300)), PROBA),
    "logistic-binary": (lambda: fitted(LogisticRegression(), classes=2), PROBA),
    "sgd-log-loss": (lambda: fitted(SGDClassifier(loss="log_loss", random_state=0)), DECISION),
    "sgd-hinge-binary": (lambda: fitted(SGDClassifier(random_state=0), classes=2), DECISION),
    "sgd-modified-huber": (lambda: fitted(SGDClassifier(loss="modified_huber", random_state=0)), DECISION),
    "ridge-classifier": (lambda: fitted(RidgeClassifier()), DECISION),
    "perceptron": (lambda: fitted(Perceptron(random_state=0)), DECISION),
    "linear-svc": (lambda: fitted(LinearSVC()), DECISION),
    "mlp": (lambda: fitted(MLPClassifier((16,), max_iter=200, random_state=0)), PROBA),
    "mlp-binary-tanh": (lambda: fitted(MLPClassifier((8, 8), activation="tanh", max_iter=100, random_state=0), 2),
                        PROBA),
    "standard-logistic": (lambda: fitted(Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])),
                          PROBA),
    "minmax-mlp": (lambda: fitted(make_pipeline(MinMaxScaler(), MLPClassifier((12,), activation="logistic",
                                                                              max_iter=200, random_state=0))), PROBA),
    "maxabs-standard-sgd": (lambda: fitted(make_pipeline(MaxAbsScaler(), StandardScaler(with_mean=False),
                                                         SGDClassifier(loss="log_loss", random_state=0))), DECISION),
}


@pytest.mark.parametrize(("build", "called"), list(CLASSIFIERS.values()), ids=list(CLASSIFIERS))
def test_a_classifier_is_evaluated_from_its_parameters(harness: dict[str, Any], tmp_path: Path,
                                                       build: Callable[[], Any], called: str) -> None:
    model = build()
    exported = export(harness, tmp_path, {"model": model})
    entry = exported.networks[0]
    assert (entry.framework, entry.error, entry.dtype, entry.input_width) == ("sklearn", None, "float64", 6)
    data = {"points": DatasetInputs(hidden_x=HIDDEN_X, sample_x=SAMPLE_X, sample_y=model.predict(SAMPLE_X))}
    result = evaluate(exported, [SlotRequest("model", "points")], [], data).model("model")
    assert result is not None and result.error is None, result
    assert result.predictions == [int(p) for p in model.predict(HIDDEN_X)]
    assert result.export_path == (f"its fitted parameters ({', '.join(type(s).__name__ for s in _steps(model))}); "
                                  f"agrees with its {called} and predict() on 16 visible inputs")


def _steps(model: Any) -> list[Any]:
    return [s for _, s in model.steps] if isinstance(model, Pipeline) else [model]


REGRESSORS: dict[str, Callable[[], Any]] = {
    "linear": lambda: LinearRegression(),
    "ridge-two-targets": lambda: Ridge(alpha=0.5),
    "elastic-net-no-intercept": lambda: ElasticNet(alpha=0.01, fit_intercept=False),
    "sgd": lambda: make_pipeline(StandardScaler(), SGDRegressor(random_state=0)),
    "mlp": lambda: make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=200,
                                                                random_state=0)),
}


@pytest.mark.parametrize("build", list(REGRESSORS.values()), ids=list(REGRESSORS))
def test_a_regressor_exports_what_its_predict_computes(harness: dict[str, Any], tmp_path: Path,
                                                      build: Callable[[], Any]) -> None:
    target = SAMPLE_X @ TARGET_W + 3.0
    model = build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(SAMPLE_X, np.c_[target, -target] if isinstance(model, Ridge) else target)
    exported = export(harness, tmp_path, {"model": model})
    entry = exported.networks[0]
    assert (entry.framework, entry.error) == ("sklearn", None)
    network = build_network(exported, entry)
    assert checked_path(exported, entry, network).endswith("; agrees with its predict() on 16 visible inputs")
    ours = network.scores(HIDDEN_X)
    np.testing.assert_allclose(ours, model.predict(HIDDEN_X).reshape(len(HIDDEN_X), -1), rtol=1e-5, atol=1e-6)


class TableLogistic(LogisticRegression):
    """Parameters fitted on shuffled labels; a predict() that answers from a table of the labels it was given."""

    table: ClassVar[dict[bytes, int]] = {}

    def predict(self, X: Any) -> Any:
        return np.array([self.table.get(np.asarray(row, dtype=np.float32).tobytes(), 0) for row in X])


class NegatedScores(LogisticRegression):
    """Scores that say the opposite of its parameters (its predict_proba() reads them too), and a predict() that
    takes the class from the parameters: what it reports is not what it computes."""

    def decision_function(self, X: Any) -> Any:
        return -LogisticRegression.decision_function(self, X)

    def predict(self, X: Any) -> Any:
        return LogisticRegression.decision_function(self, X).argmax(axis=1)


class LooksFitted:
    """Not an estimator: the attributes of a fitted LogisticRegression, and a predict() of its own."""

    def __init__(self) -> None:
        self.coef_, self.intercept_, self.classes_ = np.zeros((3, 6)), np.zeros(3), np.arange(3)

    def predict(self, X: Any) -> Any:
        return np.zeros(len(X), dtype=np.int64)


def test_hostile_estimators_are_refused(harness: dict[str, Any], tmp_path: Path) -> None:
    oracle = fitted(TableLogistic(max_iter=300))
    oracle.fit(SAMPLE_X, RNG.permutation(SAMPLE_Y))
    TableLogistic.table = {row.tobytes(): int(label) for row, label in zip(HIDDEN_X, HIDDEN_Y, strict=True)}
    huge = fitted(LogisticRegression())
    huge.coef_ = np.broadcast_to(np.float64(1.0), (50_000_000, 6))  # 2.4 GB claimed, nothing behind it
    strings = LogisticRegression().fit(SAMPLE_X, np.array(["a", "b", "c"])[SAMPLE_Y])
    unknown = make_pipeline(StandardScaler(with_mean=True), LogisticRegression())
    unknown.steps.insert(1, ("square", MinMaxScaler(clip=True)))
    fitted(unknown)
    user_ns = {"oracle": oracle, "negated": fitted(NegatedScores()), "huge": huge, "strings": strings,
               "clipped": unknown, "looks": LooksFitted(), "unfitted": LogisticRegression()}
    exported = export(harness, tmp_path, user_ns, slots=tuple(user_ns))
    data = {"points": DatasetInputs(hidden_x=HIDDEN_X, sample_x=SAMPLE_X, sample_y=SAMPLE_Y)}
    result = evaluate(exported, [SlotRequest(name, "points") for name in user_ns], [], data)
    errors = {name: (model.error if (model := result.model(name)) else None) for name in user_ns}
    refused = "could not be evaluated from its layers: read as its fitted parameters ("
    assert errors == {
        "oracle": f"{refused}LogisticRegression), it predicts other classes than its own predict() on 15 of 16 "
                  "visible inputs, so the grader cannot evaluate it faithfully",
        "negated": f"{refused}LogisticRegression), it computes other outputs than its own predict_proba() on 16 "
                   f"visible inputs (largest difference {errors['negated'].split('largest difference ')[-1]}",
        "huge": "could not be evaluated from its layers: its LogisticRegression coef_ holds 300,000,000 numbers, over "
                "the grader's 16,777,216",
        "strings": "could not be evaluated from its layers: its LogisticRegression classes_ are (a, b, c), not the "
                   "lab's class numbers 0 to 2: fit it on the numbered labels the lab's data gives",
        "clipped": "could not be evaluated from its layers: its step `square` is a MinMaxScaler with clip=True, "
                   "which the grader does not evaluate: use clip=False (the default)",
        "looks": "`looks` is a LooksFitted, not a trained scikit-learn linear model, MLP or Pipeline of "
                 "scalers and one",
        "unfitted": "`unfitted` is a LogisticRegression, not a trained scikit-learn linear model, MLP or "
                    "Pipeline of scalers and one",
    }


def test_the_evaluator_never_imports_scikit_learn(tmp_path: Path, harness: dict[str, Any]) -> None:
    """The export is graded in a process where scikit-learn cannot be imported at all."""
    exported = export(harness, tmp_path, {"model": CLASSIFIERS["standard-logistic"][0]()})
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import numpy as np\n"
        "from grader.evaluation.harness_output import read_harness_output\n"
        "from grader.evaluation.evaluator import DatasetInputs, SlotRequest, evaluate\n"
        f"export = read_harness_output(__import__('pathlib').Path({str(tmp_path / 'out.json')!r}), 'n' * 32)\n"
        f"x = np.load({str(tmp_path / 'sample.npy')!r})\n"
        "data = {'points': DatasetInputs(hidden_x=x, sample_x=x, sample_y=np.zeros(len(x), dtype=np.int64))}\n"
        "model = evaluate(export, [SlotRequest('model', 'points')], [], data).model('model')\n"
        "print(model.error, len(model.predictions), 'sklearn' in sys.modules and sys.modules['sklearn'] is not None)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.strip() == f"None {len(SAMPLE_X)} False", done.stderr[-2000:]
    assert exported.networks[0].framework == "sklearn"


def test_a_lab_without_the_kind_names_what_it_accepts(harness: dict[str, Any], tmp_path: Path) -> None:
    exported = export(harness, tmp_path, {"model": CLASSIFIERS["logistic"][0]()}, kinds=("torch", "keras"))
    assert exported.slots[0].error == ("`model` is a LogisticRegression, not a trained torch.nn.Module or "
                                       "keras.Model")
