# Which objects of the student's namespace are models and training histories: one recogniser for the kernel's
# start-up (it notes the models and histories that existed after each cell) and the harness (it exports them). Runs in
# the student's kernel, concatenated before the sources that use it (in_kernel/__init__.py); the classes are read from
# the modules the notebook imported (sys.modules), never imported here. Nothing here calls getattr() on an arbitrary
# object: lazy modules import things on attribute access, and a student's property or __getattr__ is the student's code.
import sys
import types
from typing import Any

KERAS_MODULES = ("keras", "tf_keras")  # Keras 3 and the Keras 2 package TensorFlow keeps for old notebooks
# the scikit-learn estimators the grader evaluates from their fitted parameters (export_sklearn.py), by module; a
# Pipeline counts when its steps are SKLEARN_SCALERS and its last step one of these
SKLEARN_PREDICTORS: dict[str, tuple[str, ...]] = {
    "sklearn.linear_model": ("LogisticRegression", "SGDClassifier", "RidgeClassifier", "Perceptron", "LinearRegression",
                             "Ridge", "Lasso", "ElasticNet", "SGDRegressor"),
    "sklearn.svm": ("LinearSVC", "LinearSVR"),
    "sklearn.neural_network": ("MLPClassifier", "MLPRegressor"),
}
SKLEARN_SCALERS: dict[str, tuple[str, ...]] = {
    "sklearn.preprocessing": ("StandardScaler", "MinMaxScaler", "MaxAbsScaler"),
}
SKLEARN_WEIGHTS = ("coef_", "coefs_")  # a fitted predictor holds one of them


def framework_of(obj: Any) -> str | None:
    """"torch", "keras" or "sklearn" for a model object whose real class (not a claimed `__class__`) is one."""
    if isinstance(obj, type):
        return None
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.nn.Module) and issubclass(type(obj), torch.nn.Module):
        return "torch"
    for name in KERAS_MODULES:
        keras = sys.modules.get(name)
        model_class = getattr(keras, "Model", None) if keras is not None else None
        if isinstance(model_class, type) and isinstance(obj, model_class) and issubclass(type(obj), model_class):
            return "keras"
    if sklearn_model(obj):
        return "sklearn"
    return None


def sklearn_class(obj: Any, table: dict[str, tuple[str, ...]]) -> str | None:
    """The name of the class of `table` (module -> class names) that `obj` really is an instance of (a subclass of
    LogisticRegression is a LogisticRegression: the cross-check of its predict() judges what it computes)."""
    for module_name, names in table.items():
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for name in names:
            found = own_attributes(module).get(name)
            if isinstance(found, type) and isinstance(obj, found) and issubclass(type(obj), found):
                return name
    return None


def sklearn_steps(obj: Any) -> list[tuple[str, Any]] | None:
    """[(step name, estimator)] of a scikit-learn Pipeline ("passthrough" steps left out), [("", obj)] of any other
    object; None when a Pipeline's steps are not a list of (name, estimator) pairs."""
    if sklearn_class(obj, {"sklearn.pipeline": ("Pipeline",)}) is None:
        return [("", obj)]
    steps = own_attributes(obj).get("steps")
    if type(steps) is not list or not 0 < len(steps) <= 16:
        return None
    if not all(type(s) in (tuple, list) and len(s) == 2 and type(s[0]) is str for s in steps):
        return None
    return [(name[:60], step) for name, step in steps if step is not None and not isinstance(step, str)]


def sklearn_model(obj: Any) -> bool:
    """A fitted scikit-learn predictor of a kind the grader evaluates, alone or as the last step of a Pipeline."""
    if isinstance(obj, type) or "sklearn" not in sys.modules:
        return False
    steps = sklearn_steps(obj)
    if not steps:
        return False
    last = steps[-1][1]
    return (sklearn_class(last, SKLEARN_PREDICTORS) is not None
            and any(name in own_attributes(last) for name in SKLEARN_WEIGHTS))


def own_attributes(value: Any) -> dict[str, Any]:
    """The object's own `__dict__`, read past any property or __getattr__ of the student's; {} when it has none."""
    try:
        found = object.__getattribute__(value, "__dict__")
    except Exception:
        return {}
    return found if type(found) is dict else {}


def has_numpy_layers(value: Any) -> bool:
    """Looks like a network of the student's own NumPy framework (the curriculum's `Net`): a `layers` list with a 2-D
    weight array among the first attributes of a layer. A cheap look for the notes after each cell; the harness's
    exporter (export_numpy.py) decides what the network is."""
    numpy_module = sys.modules.get("numpy")
    layers = own_attributes(value).get("layers")
    if numpy_module is None or type(layers) is not list or not 0 < len(layers) <= 64:
        return False
    return any(type(v) is numpy_module.ndarray and v.ndim == 2 for layer in layers
               for v in list(own_attributes(layer).values())[:20])


def is_model(value: Any) -> bool:
    """A network worth noting: a torch module with parameters, a Keras model, a fitted scikit-learn predictor, or a
    NumPy framework's network."""
    if isinstance(value, type | types.ModuleType):
        return False
    framework = framework_of(value)
    if framework == "torch":
        return any(True for _ in value.parameters())
    return framework in ("keras", "sklearn") or has_numpy_layers(value)


def is_keras_history(value: Any) -> bool:
    return type(value).__name__ == "History" and type(value).__module__.startswith(KERAS_MODULES)


def is_history(value: Any) -> bool:
    """A Keras History or a dict of per-epoch lists with a loss among its keys (histories.py reads the curves)."""
    record = value if isinstance(value, dict) else (value.__dict__.get("history") if is_keras_history(value) else None)
    return (isinstance(record, dict) and any("loss" in str(k) for k in list(record)[:50])
            and isinstance(next(iter(record.values()), None), list))
