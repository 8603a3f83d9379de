# Exports the two model kinds written in plain NumPy: a network of the student's own framework (the curriculum's
# 04-OwnFramework: layer objects holding weight arrays, kept in a `layers` list or as attributes) and a perceptron's
# weights (03-Perceptron: a matrix, or a list of one weight vector per class, with or without a constant bias input).
# Runs in the student's kernel after export_common.py (same namespace). Layers are recognised by their arrays and
# their class names; the student's forward() never computes a graded prediction: it is only compared, on VISIBLE
# inputs, with the candidate readings of the weights when their shapes alone leave the orientation open.
import itertools
import re
import types
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # defined by export_common.py, which runs first in the same namespace
    from grader.evaluation.in_kernel.export_common import KIND_EXPORTERS, Arrays, KindExporter, NotExportable

MAX_NUMPY_LAYERS = 64
MAX_CLASSES = 1000
MAX_READINGS = 64  # orientation choices of square layers tried against the student's forward
CHECK_ROWS_NUMPY = 16  # visible rows on which a layer of no known kind is read as a selection
MAX_WEIGHTS = 16 * 1024 * 1024  # elements of one array, as the grader's schema allows
WEIGHT_NAMES = ("W", "w", "weight", "weights", "Weights", "kernel", "theta")
BIAS_NAMES = ("b", "bias", "biases", "B", "Bias", "bias_vector")
LAYER_LIST_NAMES = ("layers", "layer_list", "modules", "sequence", "net")
# weight arrays kept on the network itself, numbered in order (W1, b1, W2, b2; weights_1; params["W1"])
# (patterns, compiled on first use: the harness's start must allocate next to nothing after a memory-hungry notebook)
RAW_WEIGHT = r"^(?:W|w|weights?|Weights?|theta)_?([0-9]{1,2})$"
RAW_BIAS = r"^(?:b|B|bias|biases)_?([0-9]{1,2})$"
MAX_RAW_LAYERS = 5
FORWARD_NAMES = ("forward", "feedforward", "feed_forward", "forward_pass", "forward_propagation", "__call__")
# what may sit between raw weight arrays, and after the last: told apart by the student's forward() on visible rows
BETWEEN = (None, {"op": "relu"}, {"op": "tanh"}, {"op": "sigmoid"}, {"op": "leaky_relu", "slope": 0.01})
FINAL = (None, {"op": "softmax", "axis": 1}, {"op": "log_softmax", "axis": 1}, {"op": "sigmoid"})
NUMPY_ACTIVATIONS: dict[str, dict[str, Any] | None] = {
    "tanh": {"op": "tanh"}, "relu": {"op": "relu"}, "sigmoid": {"op": "sigmoid"}, "logistic": {"op": "sigmoid"},
    "softmax": {"op": "softmax", "axis": 1}, "logsoftmax": {"op": "log_softmax", "axis": 1},
    "flatten": {"op": "flatten"}, "dropout": None, "identity": None, "linear": None, "none": None, "input": None,
}


def own_dict(obj: Any) -> dict[str, Any]:
    """The instance's own attributes, read without running any of its code (no __getattr__, no properties)."""
    if isinstance(obj, type | types.ModuleType | types.FunctionType | types.BuiltinFunctionType | np.ndarray):
        return {}
    try:
        found = object.__getattribute__(obj, "__dict__")
    except Exception:
        return {}
    return found if type(found) is dict else {}


def _array(value: Any, ndims: tuple[int, ...]) -> Any:
    if type(value) is np.ndarray and value.ndim in ndims and value.size > 0 and value.dtype.kind in "fiu":
        return value
    return None


def layer_weights(obj: Any) -> tuple[Any, Any] | None:
    """(W, b or None) of a dense layer object: a 2-D weight array and a bias array among its own attributes."""
    attributes = own_dict(obj)
    params = attributes.get("params")
    if isinstance(params, list | tuple) and len(params) == 2 and _array(params[0], (2,)) is not None:
        return params[0], _array(params[1], (1, 2))
    if isinstance(params, dict):
        attributes = {**params, **attributes}
    weight = next((_array(attributes.get(n), (2,)) for n in WEIGHT_NAMES if _array(attributes.get(n), (2,))
                   is not None), None)
    if weight is None:
        return None
    bias = next((_array(attributes.get(n), (1, 2)) for n in BIAS_NAMES if _array(attributes.get(n), (1, 2))
                 is not None), None)
    return weight, bias


def _kind_name(obj: Any) -> str:
    name = (obj.__name__ if isinstance(obj, types.FunctionType | types.BuiltinFunctionType | np.ufunc | type)
            else type(obj).__name__)
    name = str(name).lower().replace("_", "")
    for part in ("layer", "activation", "function", "forward"):
        name = name.replace(part, "") if name != part else name
    return name


def activation_op(obj: Any) -> tuple[bool, dict[str, Any] | None]:
    """(recognised, operation) of an activation given as an object, a class, a function or a name."""
    if obj is None:
        return True, None
    if obj is np.tanh:
        return True, {"op": "tanh"}
    name = obj.lower().replace("_", "") if isinstance(obj, str) else _kind_name(obj)
    if name in ("leakyrelu", "lrelu"):
        slope = next((v for k, v in own_dict(obj).items() if k in ("alpha", "slope", "negative_slope")
                      and isinstance(v, int | float)), 0.01)
        return True, {"op": "leaky_relu", "slope": float(slope)}
    if name in NUMPY_ACTIVATIONS:
        return True, NUMPY_ACTIVATIONS[name]
    return False, None


def layer_list(obj: Any) -> list[Any] | None:
    """The layers of a network: its `layers` list, its layer attributes in order, or the object alone when it is a
    dense layer itself; None when it is none of these."""
    if isinstance(obj, list | tuple):
        items = list(obj[:MAX_NUMPY_LAYERS + 1])
    else:
        attributes = own_dict(obj)
        listed = next((attributes[n] for n in LAYER_LIST_NAMES if isinstance(attributes.get(n), list | tuple)), None)
        if listed is not None:
            items = list(listed[:MAX_NUMPY_LAYERS + 1])
        elif layer_weights(obj) is not None:
            return [obj]
        else:
            items = [v for k, v in list(attributes.items())[:200] if isinstance(k, str) and not k.startswith("_")
                     and "loss" not in k.lower()
                     and not isinstance(v, np.ndarray | int | float | str | bool | type(None))
                     and (layer_weights(v) is not None or activation_op(v)[0])]
    if not items or len(items) > MAX_NUMPY_LAYERS:
        return None
    return items if any(layer_weights(item) is not None for item in items[:MAX_NUMPY_LAYERS]) else None


def raw_weights(obj: Any) -> list[tuple[Any, Any]] | None:
    """[(W, b or None)] of a network that keeps numbered weight arrays itself (W1, b1, W2, b2), in number order."""
    attributes = own_dict(obj)
    params = attributes.get("params", attributes.get("parameters"))
    if isinstance(params, dict):
        attributes = {**params, **attributes}
    weights: dict[int, Any] = {}
    biases: dict[int, Any] = {}
    for key, value in list(attributes.items())[:200]:
        if not isinstance(key, str):
            continue
        if (found := re.match(RAW_WEIGHT, key)) and _array(value, (2,)) is not None:
            weights[int(found.group(1))] = value
        elif (found := re.match(RAW_BIAS, key)) and _array(value, (1, 2)) is not None:
            biases[int(found.group(1))] = value
    if not weights:
        return listed_weights(attributes)
    if len(weights) > MAX_RAW_LAYERS:
        return None
    return [(weights[i], biases.get(i)) for i in sorted(weights)]


def listed_weights(attributes: dict[str, Any]) -> list[tuple[Any, Any]] | None:
    """[(W, b)] of a network that keeps its weight and bias arrays in two lists of one array per layer (Nielsen's
    `Network`: `self.weights`, `self.biases`, W (out, in), b (out, 1))."""
    weights = next((attributes[n] for n in ("weights", "Ws", "W", "w") if isinstance(attributes.get(n), list)), None)
    biases = next((attributes[n] for n in ("biases", "bs", "b", "bias") if isinstance(attributes.get(n), list)), None)
    if (weights is None or biases is None or not 0 < len(weights) == len(biases) <= MAX_RAW_LAYERS
            or any(_array(w, (2,)) is None for w in weights) or any(_array(b, (1, 2)) is None for b in biases)):
        return None
    return list(zip(weights, biases, strict=True))


def is_numpy_network(obj: Any, widths: set[int]) -> bool:
    """A network of the student's own framework whose first dense layer takes one of the datasets' inputs."""
    if isinstance(obj, type | types.ModuleType | np.ndarray):
        return False
    try:
        layers = layer_list(obj)
        if layers is None:
            raw = raw_weights(obj)
            if raw is None:
                return False
            first = raw[0][0]
        else:
            first = next(w for w, _ in (layer_weights(item) or (None, None) for item in layers) if w is not None)
        return not widths or bool(set(first.shape) & widths)
    except Exception:
        return False


def _steps(obj: Any, depth: int = 0) -> list[Any]:
    """The network as ("dense", W, b) and ("op", operation) steps, nested networks flattened."""
    if depth > 4:
        raise NotExportable("its layers are nested more than four deep")
    steps: list[Any] = []
    raw = raw_weights(obj) if depth == 0 and layer_list(obj) is None else None
    for index, (weight, bias) in enumerate(raw or []):
        if weight.size > MAX_WEIGHTS or (bias is not None and bias.size > MAX_WEIGHTS):
            raise NotExportable(f"its weight array {index + 1} holds {weight.size:,} weights, over the grader's "
                                f"{MAX_WEIGHTS:,}")
        steps += [("dense", np.asarray(weight), None if bias is None else np.asarray(bias)),
                  ("guess", "final" if index == len(raw or []) - 1 else "between")]
    for index, item in enumerate(layer_list(obj) or []):
        weights = layer_weights(item)
        name = type(item).__name__[:60]
        if weights is not None:
            if weights[0].size > MAX_WEIGHTS or (weights[1] is not None and weights[1].size > MAX_WEIGHTS):
                raise NotExportable(f"its layer {index} (`{name}`) holds an array of {weights[0].size:,} weights, over "
                                    f"the grader's {MAX_WEIGHTS:,}")
            steps.append(("dense", np.asarray(weights[0]), None if weights[1] is None else np.asarray(weights[1])))
            activation = own_dict(item).get("activation", own_dict(item).get("activation_function"))
            known, op = activation_op(activation)
            if not known:
                raise NotExportable(f"the activation of its layer {index} (`{name}`) is not one the grader evaluates")
            if op is not None:
                steps.append(("op", op))
            continue
        if "loss" in name.lower():
            continue  # a loss kept among the layers computes nothing at prediction time
        known, op = activation_op(item)
        if known:
            if op is not None:
                steps.append(("op", op))
        elif layer_list(item) is not None and item is not obj:
            steps.extend(_steps(item, depth + 1))
        elif _forward_of(item) is not None:
            steps.append(("select", item, index))  # read on visible inputs: a maximum, minimum or selection?
        else:
            raise NotExportable(_unknown_layer(index, item))
    if len(steps) > MAX_NUMPY_LAYERS:
        raise NotExportable(f"it has more than {MAX_NUMPY_LAYERS} layers")
    return steps


def _unknown_layer(index: int, item: Any) -> str:
    return (f"its layer {index} (`{type(item).__name__[:60]}`) is neither a dense layer with weight arrays nor one of "
            "the activations the grader evaluates (tanh, relu, sigmoid, softmax, log-softmax, leaky relu, flatten, "
            "dropout)")


def _forward_of(item: Any) -> Any:
    return next((f for name in FORWARD_NAMES if callable(f := getattr(type(item), name, None))), None)


def _selections(x: Any, item: Any) -> list[tuple[list[dict[str, Any]], Any]]:
    """(operations, what they compute on x) for each selection a layer's forward() may be: a maximum or minimum over
    all features or over equal groups of them, or the label stored beside each row of the argmax (a nearest-row
    vote, computed as the maximum over each label's rows)."""
    n, width = x.shape
    found: list[tuple[list[dict[str, Any]], Any]] = []
    for op, reduce in (("reduce_max", np.max), ("reduce_min", np.min)):
        found.append(([{"op": op, "axes": [1], "keepdims": True}], reduce(x, axis=1, keepdims=True)))
        for groups in (g for g in range(2, min(width, 4096)) if width % g == 0):
            rows = width // groups
            found.append(([{"op": "reshape", "shape": [groups, rows]}, {"op": op, "axes": [2]}],
                          reduce(x.reshape(n, groups, rows), axis=2)))
            found.append(([{"op": "reshape", "shape": [rows, groups]}, {"op": op, "axes": [1]}],
                          reduce(x.reshape(n, rows, groups), axis=1)))
    for labels in own_dict(item).values():
        if type(labels) is not np.ndarray or labels.shape != (width,) or labels.dtype.kind not in "iu" \
                or labels.min() < 0 or labels.max() >= MAX_CLASSES:
            continue
        # each label's rows, padded to the same count by repeating one of them (a maximum is unchanged by it)
        members = [np.flatnonzero(labels == c) for c in range(int(labels.max()) + 1)]
        if any(len(m) == 0 for m in members):
            continue
        count = max(len(m) for m in members)
        order = np.concatenate([np.resize(m, count) for m in members])
        found.append(([{"op": "gather", "axis": 1, "index": order},
                       {"op": "reshape", "shape": [len(members), count]}, {"op": "reduce_max", "axes": [2]}],
                      labels[np.argmax(x, axis=1)]))
    return found


def _selection_ops(item: Any, index: int, x: Any) -> list[dict[str, Any]]:
    """The operations a layer of no known kind computes, read from its forward() on `x` (what reaches it from
    visible inputs): one of `_selections`, each named by the layer's class so the lab's op rule can name it."""
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(_forward_of(item)(item, x.copy()), dtype=np.float64)
    except Exception:
        raise NotExportable(_unknown_layer(index, item)) from None
    name = type(item).__name__[:60]
    for ops, expected in _selections(x, item):
        expected = np.asarray(expected, dtype=np.float64)
        if expected.ndim == 1:  # labels: one per row, as a vector or a column
            same = out.size == expected.size and out.shape[0] == len(x) and np.array_equal(out.reshape(-1), expected)
        else:
            same = out.shape == expected.shape and bool(np.allclose(out, expected, rtol=1e-6, atol=1e-9))
        if same:
            return [{**op, "layer": name} for op in ops]
    raise NotExportable(_unknown_layer(index, item))


def _readings(steps: list[Any], width: int, sample: Any = None) -> list[list[Any]]:
    """Every way of reading the dense layers' weights that chains from `width` inputs: (out, in) as x @ W.T or
    (in, out) as x @ W, with a bias of the output's size; square layers allow both. A layer of no known kind is
    read on `sample` (visible inputs of that width) as the selection its forward() computes."""
    readings: list[list[Any]] = [[]]
    for step in steps:
        if step[0] == "select":
            if sample is None:
                return []
            grown = []
            for reading in readings:
                with np.errstate(all="ignore"):
                    ops = _selection_ops(step[1], step[2], run_reading(reading, sample[:CHECK_ROWS_NUMPY]))
                    after = run_reading([*reading, *(("op", op) for op in ops)], sample[:1])
                grown.append([*reading, *(("op", op) for op in ops), ("width", int(after.shape[1]))])
            readings = grown
            continue
        if step[0] != "dense":
            readings = [[*r, step] for r in readings]
            continue
        _, weight, bias = step
        grown = []
        for reading in readings:
            current = reading_width(reading, width)
            for matrix in (weight, weight.T):
                if matrix.shape[1] != current or (bias is not None and bias.size != matrix.shape[0]):
                    continue
                grown.append([*reading, ("dense", matrix, None if bias is None else bias.reshape(-1))])
        readings = grown[:MAX_READINGS]
        if not readings:
            break
    return readings


def reading_width(reading: list[Any], width: int) -> int:
    for step in reversed(reading):
        if step[0] == "dense":
            return int(step[1].shape[0])
        if step[0] == "width":
            return int(step[1])
    return width


def run_reading(reading: list[Any], x: Any) -> Any:
    """A reading of the weights on inputs x, in float64 (only to compare with the student's forward)."""
    for step in reading:
        if step[0] == "width":
            continue
        if step[0] == "dense":
            x = x @ step[1].T.astype(np.float64) + (0 if step[2] is None else step[2].astype(np.float64))
            continue
        op = step[1]["op"]
        if op == "reshape":
            x = x.reshape(len(x), *step[1]["shape"])
            continue
        if op in ("reduce_max", "reduce_min"):
            reduce = np.max if op == "reduce_max" else np.min
            x = reduce(x, axis=tuple(step[1]["axes"]), keepdims=bool(step[1].get("keepdims", False)))
            continue
        if op == "gather":
            x = np.take(x, step[1]["index"], axis=step[1]["axis"])
            continue
        if op == "tanh":
            x = np.tanh(x)
        elif op == "relu":
            x = np.maximum(x, 0)
        elif op == "leaky_relu":
            x = np.where(x >= 0, x, x * step[1]["slope"])
        elif op == "sigmoid":
            x = 0.5 * (1 + np.tanh(0.5 * x))
        elif op in ("softmax", "log_softmax"):
            shifted = x - x.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            x = log_p if op == "log_softmax" else np.exp(log_p)
        else:
            x = x.reshape(len(x), -1)
    return x


def _student_forward(obj: Any, x: Any) -> Any:
    """What the student's own forward() computes on visible inputs, or None when it cannot say."""
    if isinstance(obj, list | tuple):
        return None
    forward = next((f for name in FORWARD_NAMES if callable(f := getattr(type(obj), name, None))), None)
    if forward is None:
        return None
    for rows_first in (True, False):
        # a network written for column vectors (Nielsen's feedforward(a): W @ a + b) takes the inputs transposed
        try:
            with np.errstate(all="ignore"):
                out = np.asarray(forward(obj, (x if rows_first else x.T).copy()), dtype=np.float64)
        except Exception:  # noqa: S112 - a forward() that fails on this orientation says nothing of it
            continue
        out = out if rows_first else out.T
        if out.shape[:1] == x.shape[:1] and out.ndim == 2:
            return out
    return None


def _agrees(out: Any, expected: Any) -> bool:
    if expected is None or out.shape != expected.shape or not np.isfinite(expected).all():
        return False
    return bool(np.allclose(out, expected, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(expected).max()))))


def _guessed(readings: list[list[Any]]) -> list[list[Any]]:
    """Each reading with every choice of activation where the network does not name one (raw weight arrays)."""
    out = []
    for reading in readings:
        places = [BETWEEN if step[1] == "between" else FINAL for step in reading if step[0] == "guess"]
        for choice in itertools.islice(itertools.product(*places), MAX_READINGS * 16):
            picks = iter(choice)
            out.append([step if step[0] != "guess" else ("op", op) for step in reading
                        if step[0] != "guess" or (op := next(picks)) is not None])
    return out


def choose_reading(obj: Any, steps: list[Any], samples: dict[int, Any]) -> list[Any]:
    """The reading of the weights that chains from a dataset's inputs; where several do, the one that computes what
    the student's forward computes on visible inputs, else the first ((out, in) as the curriculum writes it). Where
    the activations are not named (raw weight arrays), only a reading that computes what forward() does is taken."""
    dense = [s for s in steps if s[0] == "dense"]
    if not dense:
        raise NotExportable("it holds no dense layer with weight arrays")
    first = dense[0][1]
    starts = [w for w in samples if w in first.shape] + [int(first.shape[1]), int(first.shape[0])]
    guessing = any(s[0] == "guess" for s in steps)
    for width in dict.fromkeys(starts):
        readings = _readings(steps, width, samples.get(width))
        if guessing and readings:
            sample = samples.get(width)
            expected = None if sample is None else _student_forward(obj, sample)
            with np.errstate(all="ignore"):
                for reading in _guessed(readings):
                    if _agrees(run_reading(reading, sample), expected):
                        return reading
            raise NotExportable("it keeps bare weight arrays and its forward() on visible inputs computes no chain of "
                                "them with standard activations (relu, tanh, sigmoid, leaky relu; softmax at the end)")
        if len(readings) == 1:
            return readings[0]
        if readings:
            sample = samples.get(width)
            if sample is not None:
                with np.errstate(all="ignore"):
                    expected = _student_forward(obj, sample)
                    for reading in readings:
                        if _agrees(run_reading(reading, sample), expected):
                            return reading
            # forward() did not settle it: the grader tries each square matrix both ways round on visible inputs
            return [(*s, True) if s[0] == "dense" and s[1].shape[0] == s[1].shape[1] else s for s in readings[0]]
    shapes = ", ".join(f"{tuple(s[1].shape)}" for s in dense[:6])
    raise NotExportable(f"the shapes of its weight arrays ({shapes}) do not chain from one layer to the next")


def export_numpy_network(obj: Any, arrays: Arrays, samples: dict[int, Any]) -> dict[str, Any]:
    """The operations of a network of the student's own NumPy framework."""
    reading = choose_reading(obj, _steps(obj), samples)
    dtype = np.float64 if any(s[0] == "dense" and s[1].dtype == np.float64 for s in reading) else np.float32
    ops: list[dict[str, Any]] = []
    for step in reading:
        if step[0] == "dense":
            ops.append({"op": "linear", "weight": arrays.add(step[1], dtype),
                        "bias": None if step[2] is None else arrays.add(step[2], dtype),
                        "transposable": len(step) > 3})
        elif step[0] == "op" and step[1]["op"] == "gather":
            ops.append({**step[1], "index": arrays.add(np.asarray(step[1]["index"], np.int64))})
        elif step[0] == "op":
            ops.append(dict(step[1]))
    return {"framework": "numpy_network", "dtype": np.dtype(dtype).name, "ops": ops}


def perceptron_matrix(value: Any, widths: set[int], classes: set[int]) -> Any:
    """The (classes, inputs[+1]) weight matrix of a perceptron: a matrix in either orientation, a stack of column
    vectors, a list or {class: vector} dict of one weight vector per class, or an object holding one such matrix;
    None when the value is not one for these datasets."""
    lengths = widths | {w + 1 for w in widths}
    held = [v for k, v in own_dict(value).items() if k in WEIGHT_NAMES and type(v) is np.ndarray]
    if len(held) == 1:
        value = held[0]  # a perceptron object: `self.w = np.zeros((785, 10))`
    if isinstance(value, list | tuple) and 2 <= len(value) <= MAX_CLASSES and not any(
            type(v) is np.ndarray for v in value):
        value = _perceptron_objects(value)  # one perceptron object per class, each its `weights` and `bias`
    if type(value) is dict and 0 < len(value) <= MAX_CLASSES and list(value) == list(range(len(value))):
        value = list(value.values())  # {digit: weights}
    if isinstance(value, list | tuple):
        if not 2 <= len(value) <= MAX_CLASSES or not all(type(v) is np.ndarray for v in value):
            return None
        if not all(v.dtype.kind in "fiu" and v.size in lengths and v.size == max(v.shape, default=0)
                   for v in value) or len({v.size for v in value}) != 1:
            return None
        matrix = np.stack([v.reshape(-1) for v in value])
    elif type(value) is np.ndarray and value.dtype.kind in "fiu" and value.ndim in (2, 3):
        matrix = value
        if matrix.ndim == 3:
            if 1 not in matrix.shape[1:]:
                return None
            matrix = matrix.reshape(matrix.shape[0], -1)
        if matrix.shape[1] not in lengths and matrix.shape[0] in lengths:
            matrix = matrix.T
    else:
        return None
    if matrix.shape[1] not in lengths or not 2 <= matrix.shape[0] <= MAX_CLASSES:
        return None
    if classes and matrix.shape[0] not in classes:
        return None
    return matrix


def _perceptron_objects(items: Any) -> Any:
    """The weight vectors of a list of perceptron objects (`p.weights`, and `p.bias` as the weight of a constant
    input, last), or None when an item is not one."""
    vectors = []
    for item in items:
        attributes = own_dict(item)
        weight = next((_array(attributes.get(n), (1, 2)) for n in WEIGHT_NAMES
                       if _array(attributes.get(n), (1, 2)) is not None), None)
        bias = next((attributes.get(n) for n in BIAS_NAMES if n in attributes), None)
        if weight is None or weight.size != max(weight.shape):
            return None
        if bias is None:
            vectors.append(weight.reshape(-1))
            continue
        bias = np.asarray(bias) if isinstance(bias, int | float | np.number | np.ndarray) else None
        if bias is None or bias.size != 1 or bias.dtype.kind not in "fiu":
            return None
        vectors.append(np.concatenate([weight.reshape(-1).astype(np.float64), bias.reshape(1).astype(np.float64)]))
    return vectors


def export_perceptron(value: Any, arrays: Arrays, widths: set[int], classes: set[int]) -> dict[str, Any]:
    """A perceptron as one operation: its weights, and whether a column is the weight of a constant bias input (the
    grader tries it first and last on visible inputs)."""
    matrix = perceptron_matrix(value, widths, classes)
    if matrix is None:
        raise NotExportable("its weights are not a (classes, inputs) matrix or a list of one weight vector per class "
                            "for this lab's inputs")
    dtype = np.float64 if matrix.dtype == np.float64 else np.float32
    bias = "none" if matrix.shape[1] in widths else "last"
    return {"framework": "perceptron", "dtype": np.dtype(dtype).name,
            "ops": [{"op": "perceptron", "weight": arrays.add(matrix, dtype), "bias_feature": bias}]}


KIND_EXPORTERS["numpy_network"] = KindExporter(
    lambda obj, kinds: is_numpy_network(obj, kinds.widths),
    lambda model, arrays, kinds, example: export_numpy_network(model, arrays, kinds.samples))
KIND_EXPORTERS["perceptron"] = KindExporter(
    lambda obj, kinds: perceptron_matrix(obj, kinds.widths, kinds.classes) is not None,
    lambda model, arrays, kinds, example: export_perceptron(model, arrays, kinds.widths, kinds.classes))
