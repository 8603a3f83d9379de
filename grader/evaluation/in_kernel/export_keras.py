# Exports a Keras Sequential or functional model as a chain of standard operations with its weights, read from its
# layers. Runs in the student's kernel after export_common.py (same namespace); keras is looked up in sys.modules,
# never imported. A subclassed model, a branching graph or an unknown layer raises NotExportable with the reason.
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # defined by recognise.py and export_common.py, which run first in the same namespace
    from grader.evaluation.in_kernel.export_common import KIND_EXPORTERS, Arrays, KindExporter, NotExportable, pair
    from grader.evaluation.in_kernel.recognise import KERAS_MODULES, framework_of


def _keras_module(model: Any) -> Any:
    for name in KERAS_MODULES:
        keras = sys.modules.get(name)
        model_class = getattr(keras, "Model", None) if keras is not None else None
        if isinstance(model_class, type) and isinstance(model, model_class):
            return keras
    raise NotExportable("not a Keras model")


KERAS_PACKAGES = tuple(f"{name}." for name in KERAS_MODULES)  # where Keras's own model classes live
KERAS_ACTIVATIONS: dict[str, dict[str, Any] | None] = {
    "relu": {"op": "relu"}, "sigmoid": {"op": "sigmoid"}, "tanh": {"op": "tanh"}, "selu": {"op": "selu"},
    "silu": {"op": "silu"}, "swish": {"op": "silu"}, "softplus": {"op": "softplus"},
    "softmax": {"op": "softmax", "axis": -1}, "log_softmax": {"op": "log_softmax", "axis": -1},
    "elu": {"op": "elu", "alpha": 1.0}, "gelu": {"op": "gelu", "approximate": "none"},
    "leaky_relu": {"op": "leaky_relu", "slope": 0.2}, "linear": None,
}


def _keras_activation(keras: Any, function: Any) -> dict[str, Any] | None:
    """The operation of a Keras activation, recognised by identity (a function merely named `relu` is not)."""
    candidates = [(name, getattr(keras.activations, name, None)) for name in KERAS_ACTIVATIONS]
    tf = sys.modules.get("tensorflow")
    if tf is not None:  # the TensorFlow functions students pass as activation=tf.nn.relu
        nn, math = getattr(tf, "nn", None), getattr(tf, "math", None)
        candidates += [(name, getattr(nn, name, None)) for name in KERAS_ACTIVATIONS]
        candidates += [("sigmoid", getattr(math, "sigmoid", None)), ("tanh", getattr(math, "tanh", None))]
    for name, known in candidates:
        if known is not None and known is function:
            return KERAS_ACTIVATIONS[name]
    shown = getattr(function, "__name__", type(function).__name__)
    raise NotExportable(f"the activation `{shown}` is not one the grader evaluates")


def _value(variable: Any) -> Any:
    to_numpy = getattr(variable, "numpy", None)
    return np.asarray(to_numpy() if callable(to_numpy) else variable)


def _keras_layer_ops(keras: Any, layer: Any, arrays: Arrays) -> list[dict[str, Any]]:
    layers = keras.layers
    kind = type(layer)
    if kind is getattr(layers, "InputLayer", None) or kind in (layers.Dropout, getattr(layers, "GaussianNoise", None)):
        return []
    if kind is layers.Dense:
        kernel = _value(layer.kernel)
        if kernel.ndim != 2:
            raise NotExportable("a Dense layer on inputs of more than one dimension")
        ops: list[dict[str, Any]] = [{"op": "linear", "weight": arrays.add(kernel.T),
                                      "bias": arrays.add(_value(layer.bias)) if layer.use_bias else None}]
        activation = _keras_activation(keras, layer.activation)
        return ops + ([activation] if activation else [])
    if kind is layers.Activation:
        activation = _keras_activation(keras, layer.activation)
        return [activation] if activation else []
    if kind is layers.Flatten:
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise NotExportable("a Flatten with channels_first data")
        return [{"op": "flatten"}]
    if kind is layers.Reshape:
        return [{"op": "reshape", "shape": [int(d) for d in layer.target_shape]}]
    if kind is layers.Softmax:
        axis = layer.axis if isinstance(layer.axis, int) else -1
        return [{"op": "softmax", "axis": int(axis)}]
    if kind is layers.ReLU:
        if layer.max_value is not None or float(layer.negative_slope) != 0.0 or float(layer.threshold) != 0.0:
            raise NotExportable("a ReLU layer with max_value, negative_slope or threshold")
        return [{"op": "relu"}]
    if kind is layers.LeakyReLU:
        return [{"op": "leaky_relu", "slope": float(layer.negative_slope)}]
    if kind is layers.Rescaling:
        return [{"op": "scale_shift", "scale": arrays.add(np.asarray(layer.scale, np.float32)),
                 "shift": arrays.add(np.asarray(layer.offset, np.float32))}]
    if kind is layers.Normalization:
        if getattr(layer, "invert", False):
            raise NotExportable("an inverted Normalization layer")
        mean, variance = _value(layer.mean), _value(layer.variance)
        std = np.maximum(np.sqrt(variance), keras.config.epsilon())
        return [{"op": "scale_shift", "scale": arrays.add(1.0 / std), "shift": arrays.add(-mean / std)}]
    if kind is layers.BatchNormalization:
        axis = layer.axis[0] if isinstance(layer.axis, list | tuple) else layer.axis
        if axis not in (-1,) and axis != len(layer.input.shape) - 1:
            raise NotExportable("a BatchNormalization over an axis other than the last")
        size = _value(layer.moving_mean).shape
        return [{"op": "batch_norm", "axis": -1, "eps": float(layer.epsilon),
                 "mean": arrays.add(_value(layer.moving_mean)), "var": arrays.add(_value(layer.moving_variance)),
                 "scale": arrays.add(_value(layer.gamma) if layer.scale else np.ones(size)),
                 "shift": arrays.add(_value(layer.beta) if layer.center else np.zeros(size))}]
    if kind is layers.Conv2D:
        if (layer.data_format != "channels_last" or pair(layer.dilation_rate) != [1, 1]
                or getattr(layer, "groups", 1) != 1):
            raise NotExportable("a Conv2D with channels_first data, dilation or groups")
        kernel = _value(layer.kernel)  # (kh, kw, in, out)
        if layer.padding == "same":
            if pair(layer.strides) != [1, 1] or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
                raise NotExportable("a Conv2D with padding='same' and strides or an even kernel")
            padding = [kernel.shape[0] // 2, kernel.shape[1] // 2]
        else:
            padding = [0, 0]
        ops = [{"op": "conv2d", "layout": "nhwc", "weight": arrays.add(kernel.transpose(3, 2, 0, 1)),
                "bias": arrays.add(_value(layer.bias)) if layer.use_bias else None,
                "stride": pair(layer.strides), "padding": padding}]
        activation = _keras_activation(keras, layer.activation)
        return ops + ([activation] if activation else [])
    if kind is layers.MaxPooling2D:
        if layer.data_format != "channels_last" or layer.padding != "valid":
            raise NotExportable("a MaxPooling2D with channels_first data or padding='same'")
        return [{"op": "max_pool2d", "layout": "nhwc", "kernel": pair(layer.pool_size),
                 "stride": pair(layer.strides), "padding": [0, 0]}]
    if kind in (getattr(layers, "GlobalMaxPooling1D", None), getattr(layers, "GlobalMaxPooling2D", None)):
        # a maximum over every position of each channel: (N, steps, C) or (N, H, W, C), channels last
        first = layer.data_format == "channels_first"
        spatial = [1] if kind is getattr(layers, "GlobalMaxPooling1D", None) else [1, 2]
        return [{"op": "reduce_max", "axes": [a + 1 for a in spatial] if first else spatial,
                 "keepdims": bool(getattr(layer, "keepdims", False))}]
    if kind is getattr(layers, "MaxPooling1D", None):
        # over steps: the same windows as a 2-D pooling of (steps, 1, C), between two reshapes
        if layer.data_format != "channels_last" or layer.padding != "valid":
            raise NotExportable("a MaxPooling1D with channels_first data or padding='same'")
        steps, channels = (int(d) for d in tuple(layer.input.shape)[1:])
        size, stride = int(pair(layer.pool_size)[0]), int(pair(layer.strides)[0])
        return [{"op": "reshape", "shape": [steps, 1, channels]},
                {"op": "max_pool2d", "layout": "nhwc", "kernel": [size, 1], "stride": [stride, 1], "padding": [0, 0]},
                {"op": "reshape", "shape": [(steps - size) // stride + 1, channels]}]
    if kind.__name__ in ("Sequential", "Functional"):
        return _keras_model_ops(keras, layer, arrays)
    raise NotExportable(f"{kind.__name__} is not a layer the grader evaluates")


def _keras_model_ops(keras: Any, model: Any, arrays: Arrays) -> list[dict[str, Any]]:
    kind = type(model)
    if kind.__name__ not in ("Sequential", "Functional") or not kind.__module__.startswith(KERAS_PACKAGES):
        raise NotExportable(f"a subclassed Keras model ({kind.__name__}) whose call() the grader cannot read; "
                            "build it with keras.Sequential or the functional API")
    layers = [layer for layer in model.layers if type(layer) is not getattr(keras.layers, "InputLayer", None)]
    if kind.__name__ == "Functional":
        # the functional API may branch: only a chain (each layer reads the previous layer's output) is evaluated
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise NotExportable("a model with several inputs or outputs")
        previous = model.inputs[0]
        for layer in layers:
            if layer.input is not previous:
                raise NotExportable("a functional model whose layers do not form a chain")
            previous = layer.output
        if model.outputs[0] is not previous:
            raise NotExportable("a functional model whose output is not its last layer's")
    if not model.built:
        raise NotExportable("a model that was never built (never called on data)")
    ops: list[dict[str, Any]] = []
    for layer in layers:
        ops.extend(_named(layer, _keras_layer_ops(keras, layer, arrays)))
    return ops


def _named(layer: Any, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for op in ops:
        op.setdefault("layer", str(getattr(layer, "name", ""))[:150] or None)
    return ops


def _subclassed_layers(keras: Any, model: Any, example: Any) -> list[Any]:
    """The layers of a subclassed model, when calling them one after another on visible inputs computes exactly
    what its call() computes (the common `for layer in self.layers` / `self.d2(self.d1(x))` shapes)."""
    layers = [layer for layer in model.layers if type(layer) is not getattr(keras.layers, "InputLayer", None)]
    if not layers:
        raise NotExportable("a subclassed Keras model without layers")
    try:
        expected = np.asarray(model(example, training=False))
        out = example
        for layer in layers:
            out = layer(out, training=False)  # Keras drops `training` for a layer whose call() takes none
        same = np.asarray(out).shape == expected.shape and np.allclose(np.asarray(out), expected, rtol=1e-4,
                                                                        atol=1e-5)
    except Exception as exc:
        raise NotExportable(f"a subclassed Keras model whose layers, called in order, fail on visible inputs "
                            f"({type(exc).__name__})") from None
    if not same:
        raise NotExportable("a subclassed Keras model whose call() computes more than its layers in order")
    return layers


def export_keras(model: Any, arrays: Arrays, example: Any = None) -> dict[str, Any]:
    """The operations of a Keras model: read from a Sequential or functional model's layers, or (a subclassed model,
    with `example`, visible inputs it accepts) from its layers in order once they compute what call() computes."""
    keras = _keras_module(model)
    dtype = str(getattr(model, "dtype", "float32") or "float32")
    kind = type(model)
    path = "its Keras layers"
    if kind.__name__ in ("Sequential", "Functional") and kind.__module__.startswith(KERAS_PACKAGES):
        ops = _keras_model_ops(keras, model, arrays)
    elif example is None:
        ops = _keras_model_ops(keras, model, arrays)  # refuses it, saying why
    else:
        ops = []
        for layer in _subclassed_layers(keras, model, example):
            ops.extend(_named(layer, _keras_layer_ops(keras, layer, arrays)))
        path = "its Keras layers in order, checked against its call() on visible inputs"
    return {"framework": "keras", "dtype": "float64" if dtype == "float64" else "float32", "ops": ops, "path": path}


KIND_EXPORTERS["keras"] = KindExporter(
    lambda obj, kinds: framework_of(obj) == "keras",
    lambda model, arrays, kinds, example: export_keras(model, arrays, None if example is None else example.x))
