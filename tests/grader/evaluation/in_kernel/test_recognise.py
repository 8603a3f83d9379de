"""in_kernel/recognise.py, the one recogniser of models and histories (the start-up's notes and the harness's export):
a model's real class decides, for Keras 3 and tf_keras alike; a torch module without weights is no model."""

from __future__ import annotations

import sys
import types
import warnings
from typing import Any

import numpy as np
import pytest
from torch import nn

from tests.grader.evaluation.in_kernel.conftest import sources


@pytest.fixture(scope="module")
def recognise() -> dict[str, Any]:
    return sources("recognise.py")


class Layer:
    def __init__(self, rows: int, columns: int) -> None:
        self.W: np.ndarray[Any, Any] = np.zeros((rows, columns))


class Net:
    def __init__(self) -> None:
        self.layers = [Layer(4, 3), Layer(3, 2)]


class Claims:
    """An object that claims to be a torch module."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return nn.Linear


def test_torch_modules_with_weights_are_models(recognise: dict[str, Any]) -> None:
    assert recognise["framework_of"](nn.Linear(2, 2)) == "torch"
    assert recognise["is_model"](nn.Linear(2, 2))
    assert recognise["framework_of"](nn.ReLU()) == "torch"
    assert not recognise["is_model"](nn.ReLU())  # no weights: nothing to grade
    assert recognise["framework_of"](nn.Linear) is None  # a class is no network
    assert not recognise["is_model"](nn.Linear)
    claims = Claims()
    assert isinstance(claims, nn.Module)  # isinstance believes the claim; the recogniser does not
    assert recognise["framework_of"](claims) is None
    assert not recognise["is_model"](claims)


def test_keras_3_and_tf_keras_models_are_recognised_alike(recognise: dict[str, Any],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("keras", "tf_keras"):
        module = types.ModuleType(name)
        model_class = type("Model", (), {"__module__": f"{name}.models"})
        module.Model = model_class  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, name, module)
        model = type("Sequential", (model_class,), {})()
        assert recognise["framework_of"](model) == "keras", name
        assert recognise["is_model"](model), name
    assert recognise["KERAS_MODULES"] == ("keras", "tf_keras")


def test_a_network_of_numpy_layers_is_a_model_read_past_its_properties(recognise: dict[str, Any]) -> None:
    assert recognise["has_numpy_layers"](Net())
    assert recognise["is_model"](Net())
    empty = Net()
    empty.layers = []
    assert not recognise["has_numpy_layers"](empty)
    flat = Net()
    flat.layers = [Layer(1, 3)]
    flat.layers[0].W = np.zeros(3)
    assert not recognise["has_numpy_layers"](flat)

    class Raises:
        @property
        def __dict__(self) -> Any:  # type: ignore[override]
            raise RuntimeError("the student's property ran")

    assert recognise["own_attributes"](Raises()) == {}
    assert not recognise["is_model"](Raises())
    assert not recognise["is_model"](np)  # a module is no network, whatever it holds


def test_histories_are_keras_histories_and_dicts_of_loss_lists(recognise: dict[str, Any]) -> None:
    assert recognise["is_history"]({"loss": [1.0], "val_loss": [1.2]})
    assert recognise["is_history"]({"train_loss": [1.0]})
    assert not recognise["is_history"]({"loss": 1.0})
    assert not recognise["is_history"]({"accuracy": [0.5]})
    history = type("History", (), {"__module__": "keras.src.callbacks.history"})()
    history.history = {"loss": [0.3]}
    assert recognise["is_keras_history"](history)
    assert recognise["is_history"](history)
    tf_history = type("History", (), {"__module__": "tf_keras.callbacks"})()
    tf_history.history = {"loss": [0.3]}
    assert recognise["is_history"](tf_history)
    imitation = type("History", (), {"__module__": "mine"})()
    imitation.history = {"loss": [0.3]}
    assert not recognise["is_history"](imitation)


class ClaimsEstimator:
    """An object with a fitted LogisticRegression's attributes that claims to be one."""

    def __init__(self) -> None:
        self.coef_, self.intercept_ = np.zeros((3, 4)), np.zeros(3)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression


def test_fitted_scikit_learn_predictors_alone_or_last_in_a_pipeline_are_models(recognise: dict[str, Any]) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = np.random.default_rng(0).normal(size=(30, 4)), np.arange(30) % 3
    fitted = LogisticRegression().fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # five iterations: convergence is not what is tested
        pipeline = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(3,), max_iter=5)).fit(x, y * 1.0)
    for model in (fitted, pipeline):
        assert recognise["framework_of"](model) == "sklearn"
        assert recognise["is_model"](model)
    claims = ClaimsEstimator()
    for other in (LogisticRegression(), make_pipeline(StandardScaler(), LogisticRegression()), StandardScaler().fit(x),
                  RandomForestClassifier(n_estimators=2).fit(x, y), LogisticRegression, claims):
        assert recognise["framework_of"](other) is None, other
        assert not recognise["is_model"](other)
    assert isinstance(claims, LogisticRegression)  # isinstance believes the claim; the recogniser does not
