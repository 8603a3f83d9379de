# Exports a fitted scikit-learn estimator from its parameters: linear models (coef_, intercept_), MLPs (coefs_,
# intercepts_, activation, out_activation_) and Pipelines of scalers (StandardScaler mean_/scale_, MinMaxScaler
# scale_/min_, MaxAbsScaler scale_) and one of these, as the grader's standard operations. Numbers and names only, each
# array's shape checked against the next; nothing is pickled. Runs in the student's kernel after export_common.py and
# the recogniser (same namespace). The student's own predict_proba() (or decision_function()) and predict() on a few
# VISIBLE inputs travel with the export: they choose the reading of the scores where the parameters leave it open
# (probabilities or the decision function), and the grader refuses an export that computes anything else.
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # defined by export_common.py and recognise.py, which run first in the same namespace
    from grader.evaluation.in_kernel.export_common import KIND_EXPORTERS, Arrays, KindExporter, NotExportable
    from grader.evaluation.in_kernel.recognise import (
        SKLEARN_PREDICTORS,
        SKLEARN_SCALERS,
        framework_of,
        own_attributes,
        sklearn_class,
        sklearn_steps,
    )

SKLEARN_CHECK_ROWS = 16  # visible inputs the student's predict() and predict_proba() are compared on
MAX_SKLEARN_ELEMENTS = 16 * 1024 * 1024  # elements of one array, as the grader's schema allows
MAX_MLP_LAYERS = 32
MLP_ACTIVATIONS: dict[str, str | None] = {"identity": None, "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
                                          "softmax": "softmax"}
SKLEARN_CLASSIFIERS = ("LogisticRegression", "SGDClassifier", "RidgeClassifier", "Perceptron", "LinearSVC",
                       "MLPClassifier")


def _sklearn_numbers(value: Any, what: str, ndims: tuple[int, ...]) -> Any:
    """`value` as a float64 array of one of `ndims` dimensions (a plain number for 0), finite and within the grader's
    size limit; NotExportable naming `what` otherwise."""
    if isinstance(value, int | float | np.number) and not isinstance(value, bool) and 0 in ndims:
        value = np.asarray(value, dtype=np.float64)
    if type(value) is not np.ndarray or value.dtype.kind not in "fiu" or value.ndim not in ndims:
        raise NotExportable(f"its {what} is not an array of numbers of {' or '.join(map(str, ndims))} dimensions")
    if value.size > MAX_SKLEARN_ELEMENTS:
        raise NotExportable(f"its {what} holds {value.size:,} numbers, over the grader's {MAX_SKLEARN_ELEMENTS:,}")
    array = value.astype(np.float64)
    if not np.isfinite(array).all():
        raise NotExportable(f"its {what} holds NaN or infinity")
    return array


def _sklearn_scaler(name: str, kind: str, estimator: Any, width: int) -> list[Any]:
    """A scaler as one ("scale_shift", scale, shift) step: x * scale + shift."""
    attributes = own_attributes(estimator)
    ones = np.ones(width)

    def fitted(key: str) -> Any:
        array = _sklearn_numbers(attributes.get(key), f"step `{name}` ({kind}) {key}", (1,))
        if array.shape != (width,):
            raise NotExportable(f"its step `{name}` ({kind}) has {key} of shape {array.shape} for {width} features")
        return array

    if kind == "StandardScaler":  # mean_ is kept with with_mean=False (and unused), scale_ is None with with_std=False
        mean = fitted("mean_") if attributes.get("with_mean") is not False else None
        scale = fitted("scale_") if attributes.get("with_std") is not False else ones
        if (scale == 0).any():
            raise NotExportable(f"its step `{name}` (StandardScaler) has a scale of 0")
        return [("scale_shift", 1.0 / scale, np.zeros(width) if mean is None else -mean / scale)]
    if kind == "MinMaxScaler":
        if attributes.get("clip") is not False:
            raise NotExportable(f"its step `{name}` is a MinMaxScaler with clip=True, which the grader does not "
                                "evaluate: use clip=False (the default)")
        return [("scale_shift", fitted("scale_"), fitted("min_"))]
    scale = fitted("scale_")  # MaxAbsScaler
    if (scale == 0).any():
        raise NotExportable(f"its step `{name}` (MaxAbsScaler) has a scale of 0")
    return [("scale_shift", 1.0 / scale, np.zeros(width))]


def _sklearn_linear(kind: str, estimator: Any, width: int) -> list[Any]:
    """A linear model as one ("linear", W (outputs, inputs), b) step: its decision function or prediction."""
    attributes = own_attributes(estimator)
    coef = _sklearn_numbers(attributes.get("coef_"), f"{kind} coef_", (1, 2))
    coef = coef.reshape(1, -1) if coef.ndim == 1 else coef
    intercept = _sklearn_numbers(attributes.get("intercept_", 0.0), f"{kind} intercept_", (0, 1)).reshape(-1)
    if coef.shape[1] != width:
        raise NotExportable(f"its {kind} takes {coef.shape[1]} features, not the {width} its data has")
    if intercept.size == 1 and coef.shape[0] > 1:
        intercept = np.repeat(intercept, coef.shape[0])  # fit_intercept=False: one 0.0 for every output
    if intercept.shape != (coef.shape[0],):
        raise NotExportable(f"its {kind} has {intercept.size} intercepts for {coef.shape[0]} outputs")
    return [("linear", coef, intercept)]


def _sklearn_mlp(kind: str, estimator: Any, width: int) -> list[Any]:
    """An MLP as its layers: ("linear", W.T, b) steps with the activation between them and its output activation."""
    attributes = own_attributes(estimator)
    coefs, intercepts = attributes.get("coefs_"), attributes.get("intercepts_")
    if type(coefs) is not list or type(intercepts) is not list or not 0 < len(coefs) == len(intercepts) \
            <= MAX_MLP_LAYERS:
        raise NotExportable(f"its {kind} coefs_ and intercepts_ are not two lists of up to {MAX_MLP_LAYERS} arrays "
                            "of the same length")
    hidden, final = attributes.get("activation"), attributes.get("out_activation_")
    if hidden not in MLP_ACTIVATIONS or hidden == "softmax" or final not in MLP_ACTIVATIONS:
        raise NotExportable(f"its {kind} activations ({str(hidden)[:20]}, {str(final)[:20]}) are not ones the "
                            "grader evaluates (identity, logistic, tanh, relu; softmax at the end)")
    steps: list[Any] = []
    current = width
    for index, (weight, bias) in enumerate(zip(coefs, intercepts, strict=True)):
        weight = _sklearn_numbers(weight, f"{kind} coefs_[{index}]", (2,))
        bias = _sklearn_numbers(bias, f"{kind} intercepts_[{index}]", (1,))
        if weight.shape[0] != current or bias.shape != (weight.shape[1],):
            raise NotExportable(f"its {kind} coefs_[{index}] of shape {weight.shape} and intercepts_[{index}] of "
                                f"shape {bias.shape} do not follow {current} inputs")
        steps.append(("linear", weight.T, bias))
        activation = MLP_ACTIVATIONS[final if index == len(coefs) - 1 else hidden]
        if activation is not None:
            steps.append(("act", activation))
        current = int(weight.shape[1])
    return steps


def _sklearn_run(steps: list[Any], x: Any) -> Any:
    """The steps on inputs x, in float64: only to compare readings with the student's own outputs."""
    for step in steps:
        if step[0] == "scale_shift":
            x = x * step[1] + step[2]
        elif step[0] == "linear":
            x = x @ step[1].T + step[2]
        elif step[1] == "sigmoid":
            x = 0.5 * (1 + np.tanh(0.5 * x))
        elif step[1] == "tanh":
            x = np.tanh(x)
        elif step[1] == "relu":
            x = np.maximum(x, 0)
        else:  # softmax
            shifted = np.exp(x - x.max(axis=1, keepdims=True))
            x = shifted / shifted.sum(axis=1, keepdims=True)
    return x


def _sklearn_own_output(model: Any, method: str, x: Any) -> Any:
    """What the student's own `method` (predict, predict_proba, decision_function) gives for x, as a 2-D float64
    array; None when it has no such method or it fails."""
    try:
        out = np.asarray(getattr(model, method)(x.copy()), dtype=np.float64)
    except Exception:
        return None
    if out.ndim not in (1, 2) or len(out) != len(x):
        return None
    return out.reshape(len(x), -1)


def _sklearn_agrees(ours: Any, theirs: Any) -> bool:
    if theirs is None or ours.shape != theirs.shape or not np.isfinite(ours).all():
        return False
    return bool(np.allclose(ours, theirs, rtol=1e-4, atol=1e-6 * max(1.0, float(np.abs(theirs).max(initial=0)))))


def _sklearn_class_numbers(kind: str, estimator: Any) -> int:
    """How many classes a classifier names, when its classes_ are the lab's class numbers 0, 1, ...; NotExportable
    otherwise (the grader scores class numbers, and the scores' columns follow classes_)."""
    classes = own_attributes(estimator).get("classes_")
    if type(classes) is not np.ndarray or classes.ndim != 1 or not 2 <= classes.size <= 100_000:
        raise NotExportable(f"its {kind} has no classes_ of one dimension")
    numbered = classes.dtype.kind in "iuf" and bool((classes == np.arange(classes.size)).all())
    if not numbered:
        shown = ", ".join(str(c)[:20] for c in classes[:5].tolist()) + (", ..." if classes.size > 5 else "")
        raise NotExportable(f"its {kind} classes_ are ({shown}), not the lab's class numbers 0 to "
                            f"{classes.size - 1}: fit it on the numbered labels the lab's data gives")
    return int(classes.size)


def _sklearn_readings(kind: str, predictor: list[Any], classes: int) -> list[list[Any]]:
    """The ways the predictor's scores may be read, the usual first: a linear classifier's probabilities are a
    sigmoid (two classes) or a softmax; else (one-vs-rest probabilities, which tie where sigmoids saturate, and
    clipped ones) its decision function, from which its predict() takes the class."""
    if kind not in SKLEARN_CLASSIFIERS or kind == "MLPClassifier":
        return [predictor]
    return [[*predictor, ("act", "sigmoid" if classes == 2 else "softmax")], predictor]


def _sklearn_width(kind: str, attributes: dict[str, Any]) -> int:
    """The number of input features of a predictor, read from the shape of its first weights (0 when it has none)."""
    weights = attributes.get("coefs_") if kind.startswith("MLP") else attributes.get("coef_")
    if kind.startswith("MLP"):
        weights = weights[0] if type(weights) is list and weights else None
        return int(weights.shape[0]) if type(weights) is np.ndarray and weights.ndim == 2 else 0
    return int(weights.shape[-1]) if type(weights) is np.ndarray and weights.ndim in (1, 2) else 0


def export_sklearn(model: Any, arrays: Arrays, samples: dict[int, Any], raw: dict[int, Any]) -> dict[str, Any]:
    """{framework, dtype, ops, path, input_width, check} of a fitted estimator or Pipeline."""
    steps = sklearn_steps(model)
    if not steps:
        raise NotExportable("its Pipeline steps are not a list of (name, estimator) pairs")
    *scalers, (_, predictor) = steps
    kind = sklearn_class(predictor, SKLEARN_PREDICTORS) or type(predictor).__name__[:60]
    width = _sklearn_width(kind, own_attributes(predictor))
    if width not in samples:
        widths = ", ".join(map(str, sorted(samples))) or "none"
        raise NotExportable(f"its {kind} takes {width} features; this lab's datasets have {widths}")
    computed: list[Any] = []
    for name, scaler in scalers:
        scaler_kind = sklearn_class(scaler, SKLEARN_SCALERS)
        if scaler_kind is None:
            raise NotExportable(f"its step `{name}` ({type(scaler).__name__[:60]}) is not one the grader evaluates: "
                                "StandardScaler, MinMaxScaler or MaxAbsScaler, then a linear model or an MLP")
        computed += _sklearn_scaler(name, scaler_kind, scaler, width)
    computed += (_sklearn_mlp if kind.startswith("MLP") else _sklearn_linear)(kind, predictor, width)
    classes = _sklearn_class_numbers(kind, predictor) if kind in SKLEARN_CLASSIFIERS else 0
    # visible rows as stored and scaled to at most 1 in size: what a model fitted on raw or on scaled inputs takes
    half = SKLEARN_CHECK_ROWS // 2
    probe = np.ascontiguousarray(np.concatenate([raw.get(width, samples[width])[:half], samples[width][:half]]),
                                 dtype=np.float64)
    methods = ("predict_proba", "decision_function") if classes else ("predict",)
    own = {m: _sklearn_own_output(model, m, probe) for m in methods}
    candidates = [(reading, method) for method in methods for reading in _sklearn_readings(kind, computed, classes)]
    chosen, called = candidates[0]
    with np.errstate(all="ignore"):
        for reading, method in candidates:
            ours, theirs = _sklearn_run(reading, probe), own[method]
            if theirs is not None and theirs.shape[1] == 2 and ours.shape[1] == 1:
                theirs = theirs[:, 1:]  # two classes: the probability of class 1 is the one output
            if _sklearn_agrees(ours, theirs):
                chosen, called = reading, method
                break
    reference = own[called]
    if reference is None:
        raise NotExportable(f"its own {called}() fails on {len(probe)} visible inputs of {width} features")
    if reference.shape[1] == 2 and _sklearn_run(chosen, probe[:1]).shape[1] == 1:
        reference = reference[:, 1:]
    check = {"input": arrays.add(probe, np.float64), "output": arrays.add(reference, np.float64),
             "called": f"{called}()"}
    if classes:
        predicted = _sklearn_own_output(model, "predict", probe)
        if predicted is None or predicted.shape[1] != 1:
            raise NotExportable(f"its own predict() fails on {len(probe)} visible inputs of {width} features")
        check["predicted"] = arrays.add(predicted.reshape(-1), np.float64)
    ops: list[dict[str, Any]] = []
    for step in chosen:
        if step[0] == "scale_shift":
            ops.append({"op": "scale_shift", "scale": arrays.add(step[1], np.float64),
                        "shift": arrays.add(step[2], np.float64)})
        elif step[0] == "linear":
            ops.append({"op": "linear", "weight": arrays.add(step[1], np.float64),
                        "bias": arrays.add(step[2], np.float64)})
        else:
            ops.append({"op": step[1], "axis": 1} if step[1] == "softmax" else {"op": step[1]})
    shown = ", ".join([*(type(s).__name__[:40] for _, s in scalers), kind])
    return {"framework": "sklearn", "dtype": "float64", "ops": ops, "input_width": width, "check": check,
            "path": f"its fitted parameters ({shown})"[:200]}


KIND_EXPORTERS["sklearn"] = KindExporter(
    lambda obj, kinds: framework_of(obj) == "sklearn",
    lambda model, arrays, kinds, example: export_sklearn(model, arrays, kinds.samples, kinds.raw))
