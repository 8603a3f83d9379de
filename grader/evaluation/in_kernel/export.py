# Exports a network as a chain of standard operations with its weights. Runs in the student's kernel as the first part
# of the harness (the host concatenates this file and harness.py); frameworks are looked up in sys.modules, never
# imported. Nothing here decides a grade: the grader validates the export outside the kernel and computes every
# prediction itself from the operations and weights. A network whose computation is not a chain of the operations
# below (a Python-side lookup, a data-dependent branch, an unknown layer) raises NotExportable with the reason.
import base64
import operator
import sys
from typing import Any

import numpy as np

MAX_EXPORT_BYTES = 48 * 1024 * 1024  # all networks and arrays of one export together


class NotExportable(Exception):
    """The network's computation cannot be written as the grader's operations; the message says why."""


def framework_of(obj: Any) -> str | None:
    """"torch" or "keras" for a network object whose real class (not a claimed `__class__`) is one."""
    if isinstance(obj, type):
        return None
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.nn.Module) and issubclass(type(obj), torch.nn.Module):
        return "torch"
    for name in ("keras", "tf_keras"):
        keras = sys.modules.get(name)
        model_class = getattr(keras, "Model", None) if keras is not None else None
        if isinstance(model_class, type) and isinstance(obj, model_class) and issubclass(type(obj), model_class):
            return "keras"
    return None


class Arrays:
    """The weights of an export, each stored once under a short key, within the export's byte budget."""

    def __init__(self, budget: int = MAX_EXPORT_BYTES) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.budget = budget

    def add(self, value: Any, dtype: Any = None) -> str:
        array = np.ascontiguousarray(value, dtype=dtype)
        if array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float32)
        if array.nbytes > self.budget:
            raise NotExportable(f"its weights are over the export's {MAX_EXPORT_BYTES // (1024 * 1024)} MB limit")
        self.budget -= array.nbytes
        key = f"a{len(self.items)}"
        self.items[key] = {"dtype": str(array.dtype), "shape": [int(d) for d in array.shape],
                           "data": base64.b64encode(array.astype(array.dtype.newbyteorder("<")).tobytes()).decode()}
        return key


# ---------------------------------------------------------------- PyTorch: torch.fx graph -> operations

def _torch_numpy(tensor: Any) -> Any:
    return tensor.detach().cpu().numpy()


def _pair(value: Any) -> list[int]:
    return [int(v) for v in value] if isinstance(value, tuple | list) else [int(value), int(value)]


def _torch_module_op(module: Any, arrays: Arrays, dtype: Any) -> dict[str, Any] | None:
    nn = sys.modules["torch"].nn
    kind = type(module)
    simple = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.SELU: "selu", nn.SiLU: "silu"}
    if kind in simple:
        return {"op": simple[kind]}
    if kind in (nn.Identity, nn.Dropout, nn.AlphaDropout):
        return None
    if kind is nn.Linear:
        bias = arrays.add(_torch_numpy(module.bias), dtype) if module.bias is not None else None
        return {"op": "linear", "weight": arrays.add(_torch_numpy(module.weight), dtype), "bias": bias}
    if kind in (nn.Softmax, nn.LogSoftmax):
        return {"op": "softmax" if kind is nn.Softmax else "log_softmax", "axis": 1 if module.dim is None else
                int(module.dim)}
    if kind is nn.LeakyReLU:
        return {"op": "leaky_relu", "slope": float(module.negative_slope)}
    if kind is nn.ELU:
        return {"op": "elu", "alpha": float(module.alpha)}
    if kind is nn.GELU:
        return {"op": "gelu", "approximate": str(module.approximate)}
    if kind is nn.Softplus and float(module.beta) == 1.0:
        return {"op": "softplus"}
    if kind is nn.Flatten:
        if int(module.start_dim) != 1 or int(module.end_dim) != -1:
            raise NotExportable("an nn.Flatten that does not keep the batch dimension alone")
        return {"op": "flatten"}
    if kind is nn.Unflatten:
        if int(module.dim) != 1:
            raise NotExportable("an nn.Unflatten of a dimension other than 1")
        return {"op": "reshape", "shape": [int(d) for d in module.unflattened_size]}
    if kind in (nn.BatchNorm1d, nn.BatchNorm2d):
        if module.running_mean is None:
            raise NotExportable("a batch normalisation without running statistics")
        size = module.num_features
        gamma = _torch_numpy(module.weight) if module.weight is not None else np.ones(size)
        beta = _torch_numpy(module.bias) if module.bias is not None else np.zeros(size)
        return {"op": "batch_norm", "axis": 1, "eps": float(module.eps),
                "mean": arrays.add(_torch_numpy(module.running_mean), dtype),
                "var": arrays.add(_torch_numpy(module.running_var), dtype),
                "scale": arrays.add(gamma, dtype), "shift": arrays.add(beta, dtype)}
    if kind is nn.Conv2d:
        if module.groups != 1 or _pair(module.dilation) != [1, 1] or module.padding_mode != "zeros":
            raise NotExportable("an nn.Conv2d with groups, dilation or non-zero padding")
        if isinstance(module.padding, str):
            if module.padding != "valid":
                raise NotExportable("an nn.Conv2d with padding='same'")
            padding = [0, 0]
        else:
            padding = _pair(module.padding)
        bias = arrays.add(_torch_numpy(module.bias), dtype) if module.bias is not None else None
        return {"op": "conv2d", "layout": "nchw", "weight": arrays.add(_torch_numpy(module.weight), dtype),
                "bias": bias, "stride": _pair(module.stride), "padding": padding}
    if kind is nn.MaxPool2d:
        if _pair(module.dilation) != [1, 1] or module.ceil_mode or module.return_indices:
            raise NotExportable("an nn.MaxPool2d with dilation, ceil_mode or return_indices")
        return {"op": "max_pool2d", "layout": "nchw", "kernel": _pair(module.kernel_size),
                "stride": _pair(module.stride if module.stride is not None else module.kernel_size),
                "padding": _pair(module.padding)}
    raise NotExportable(f"{kind.__name__} is not a layer the grader evaluates")


def _argument(node: Any, index: int, name: str, default: Any) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _is_batch_size(value: Any) -> bool:
    """`x.size(0)`, `x.shape[0]` or `x.size()[0]` in a traced graph."""
    fx = sys.modules["torch.fx"]
    if not isinstance(value, fx.Node):
        return False
    if value.op == "call_method" and value.target == "size" and len(value.args) == 2:
        return bool(value.args[1] == 0)
    if value.op == "call_function" and value.target is operator.getitem and value.args[1] == 0:
        source = value.args[0]
        return isinstance(source, fx.Node) and (
            (source.op == "call_function" and source.target is getattr and source.args[1] == "shape")
            or (source.op == "call_method" and source.target == "size" and len(source.args) == 1))
    return False


def _reshape_op(node: Any) -> dict[str, Any]:
    shape = list(node.args[1:])
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = list(shape[0])
    if "shape" in node.kwargs or "size" in node.kwargs:
        shape = list(node.kwargs.get("shape") or node.kwargs.get("size"))
    if not shape or not (shape[0] == -1 or _is_batch_size(shape[0])):
        raise NotExportable("it reshapes its input without keeping the batch dimension first")
    rest = shape[1:]
    if not all(isinstance(d, int) for d in rest):
        raise NotExportable("it reshapes its input to a shape computed at run time")
    if shape[0] == -1 and -1 in rest:
        raise NotExportable("it reshapes its input with two unknown dimensions")
    return {"op": "flatten"} if rest == [-1] else {"op": "reshape", "shape": [int(d) for d in rest]}


def data_input(node: Any) -> Any:
    """The one tensor a node of the chain reads (for `2 * x`, the x)."""
    fx = sys.modules["torch.fx"]
    if node.op == "call_function" and len(node.args) >= 2 and not isinstance(node.args[0], fx.Node):
        return node.args[1]
    return node.args[0] if node.args else node.kwargs.get("input")


def _scalar_op(name: str, node: Any, current: Any) -> dict[str, Any]:
    left = node.args[0]
    right = node.args[1] if len(node.args) > 1 else node.kwargs.get("other")
    number = right if left is current else left
    if not isinstance(number, int | float) or isinstance(number, bool):
        raise NotExportable(f"it combines two tensors with `{name}` (only chains of layers are evaluated)")
    number = float(number)
    if name in ("mul", "multiply"):
        return {"op": "scale_shift", "scale": number, "shift": 0.0}
    if name in ("truediv", "div"):
        if left is not current or number == 0:
            raise NotExportable("it divides by its input")
        return {"op": "scale_shift", "scale": 1.0 / number, "shift": 0.0}
    if name == "add":
        return {"op": "scale_shift", "scale": 1.0, "shift": number}
    if left is current:  # sub
        return {"op": "scale_shift", "scale": 1.0, "shift": -number}
    return {"op": "scale_shift", "scale": -1.0, "shift": number}


def _fetch_attr(root: Any, target: str) -> Any:
    value = root
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _torch_function_op(node: Any, root: Any, arrays: Arrays, dtype: Any) -> dict[str, Any] | None:
    torch = sys.modules["torch"]
    functional = torch.nn.functional
    target = node.target
    name = target if node.op == "call_method" else None
    if node.op == "call_function":
        named = {functional.relu: "relu", torch.relu: "relu", torch.sigmoid: "sigmoid", functional.sigmoid: "sigmoid",
                 torch.tanh: "tanh", functional.tanh: "tanh", functional.softmax: "softmax",
                 torch.softmax: "softmax", functional.log_softmax: "log_softmax", torch.log_softmax: "log_softmax",
                 functional.leaky_relu: "leaky_relu", functional.gelu: "gelu", functional.elu: "elu",
                 functional.selu: "selu", functional.silu: "silu", functional.softplus: "softplus",
                 functional.dropout: "dropout", torch.flatten: "flatten", torch.reshape: "reshape",
                 functional.linear: "linear", operator.mul: "mul", operator.truediv: "truediv", operator.add: "add",
                 operator.sub: "sub", torch.mul: "mul", torch.div: "div", torch.add: "add", torch.sub: "sub"}
        try:
            name = named.get(target)
        except TypeError:  # an unhashable callable
            name = None
        if name is None:
            raise NotExportable(f"it calls `{getattr(target, '__name__', target)}`, which the grader does not "
                                "evaluate")
    current = data_input(node)
    if name in ("relu", "sigmoid", "tanh", "selu", "silu"):
        return {"op": name}
    if name in ("float", "double", "contiguous", "to", "cpu", "cuda", "clone", "detach", "dropout"):
        return None
    if name in ("softmax", "log_softmax"):
        axis = _argument(node, 1, "dim", None)
        if axis is None:
            axis = 1  # PyTorch's implicit dim for (batch, classes)
        if not isinstance(axis, int):
            raise NotExportable(f"a {name} over a `dim` computed at run time")
        return {"op": name, "axis": axis}
    if name == "leaky_relu":
        return {"op": "leaky_relu", "slope": float(_argument(node, 1, "negative_slope", 0.01))}
    if name == "elu":
        return {"op": "elu", "alpha": float(_argument(node, 1, "alpha", 1.0))}
    if name == "gelu":
        return {"op": "gelu", "approximate": str(node.kwargs.get("approximate", "none"))}
    if name == "softplus":
        if float(_argument(node, 1, "beta", 1.0)) != 1.0:
            raise NotExportable("a softplus with beta other than 1")
        return {"op": "softplus"}
    if name == "flatten":
        start = _argument(node, 1, "start_dim", 0)
        end = _argument(node, 2, "end_dim", -1)
        if start != 1 or end != -1:
            raise NotExportable("a flatten that does not keep the batch dimension alone (use flatten(1))")
        return {"op": "flatten"}
    if name in ("view", "reshape"):
        return _reshape_op(node)
    if name in ("mul", "truediv", "div", "add", "sub", "multiply"):
        return _scalar_op(name, node, current)
    if name == "linear":
        weight, bias = _argument(node, 1, "weight", None), _argument(node, 2, "bias", None)
        fx = sys.modules["torch.fx"]
        if not (isinstance(weight, fx.Node) and weight.op == "get_attr"):
            raise NotExportable("a linear function whose weight is not a parameter of the network")
        if bias is not None and not (isinstance(bias, fx.Node) and bias.op == "get_attr"):
            raise NotExportable("a linear function whose bias is not a parameter of the network")
        return {"op": "linear", "weight": arrays.add(_torch_numpy(_fetch_attr(root, weight.target)), dtype),
                "bias": None if bias is None else arrays.add(_torch_numpy(_fetch_attr(root, bias.target)), dtype)}
    raise NotExportable(f"it calls the tensor method `{name}`, which the grader does not evaluate")


def _torch_dtype(model: Any) -> Any:
    torch = sys.modules["torch"]
    for parameter in model.parameters():
        return np.float64 if parameter.dtype == torch.float64 else np.float32
    return np.float32


class _tensor_of_a_proxy_is_the_proxy:
    """While tracing, `torch.Tensor(x)` of a traced value is that value: students write `return torch.Tensor(x)` to
    "make sure x is a tensor", which the C constructor cannot do with a tracing proxy."""

    def __enter__(self) -> None:
        torch = sys.modules["torch"]
        proxy = sys.modules["torch.fx"].Proxy
        self.had_new = "__new__" in vars(torch.Tensor)
        original = torch.Tensor.__new__

        def new(cls: Any, *args: Any, **kwargs: Any) -> Any:
            if len(args) == 1 and not kwargs and isinstance(args[0], proxy):
                return args[0]
            return original(cls, *args, **kwargs)

        self.original = original
        torch.Tensor.__new__ = new

    def __exit__(self, *exc: object) -> None:
        torch = sys.modules["torch"]
        if self.had_new:
            torch.Tensor.__new__ = self.original
        else:
            del torch.Tensor.__new__


def export_torch(model: Any, arrays: Arrays) -> dict[str, Any]:
    """The operations of a torch.nn.Module, traced with torch.fx from its forward()."""
    import torch.fx as fx  # torch is already imported when a torch model exists

    dtype = _torch_dtype(model)
    try:
        with _tensor_of_a_proxy_is_the_proxy():
            traced = fx.symbolic_trace(model)
    except Exception as exc:
        raise NotExportable(f"its forward() could not be traced as tensor operations ({type(exc).__name__}: "
                            f"{str(exc)[:160]})") from None
    nodes = list(traced.graph.nodes)
    placeholders = [n for n in nodes if n.op == "placeholder"]
    output = next(n for n in nodes if n.op == "output")
    value = output.args[0]
    if isinstance(value, tuple | list) and value:
        value = value[0]
    chain: list[dict[str, Any]] = []
    while True:
        if not isinstance(value, fx.Node):
            raise NotExportable("its output does not depend on its input")
        if value.op == "placeholder":
            break
        if value.op == "call_module":
            if len(value.args) != 1 or value.kwargs:
                raise NotExportable(f"layer `{value.target}` is called with more than one input")
            op = _torch_module_op(traced.get_submodule(str(value.target)), arrays, dtype)
        elif value.op in ("call_function", "call_method"):
            op = _torch_function_op(value, traced, arrays, dtype)
        else:
            raise NotExportable(f"its output is computed from `{value.target}`, a stored tensor, not from its input")
        if op is not None:
            chain.append(op)
        value = data_input(value)
    if not placeholders or value is not placeholders[0]:
        raise NotExportable("its output does not come from its first input")
    chain.reverse()
    return {"framework": "torch", "dtype": np.dtype(dtype).name, "ops": chain}


# ---------------------------------------------------------------- Keras: layers -> operations

def _keras_module(model: Any) -> Any:
    for name in ("keras", "tf_keras"):
        keras = sys.modules.get(name)
        model_class = getattr(keras, "Model", None) if keras is not None else None
        if isinstance(model_class, type) and isinstance(model, model_class):
            return keras
    raise NotExportable("not a Keras model")


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
        if (layer.data_format != "channels_last" or _pair(layer.dilation_rate) != [1, 1]
                or getattr(layer, "groups", 1) != 1):
            raise NotExportable("a Conv2D with channels_first data, dilation or groups")
        kernel = _value(layer.kernel)  # (kh, kw, in, out)
        if layer.padding == "same":
            if _pair(layer.strides) != [1, 1] or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
                raise NotExportable("a Conv2D with padding='same' and strides or an even kernel")
            padding = [kernel.shape[0] // 2, kernel.shape[1] // 2]
        else:
            padding = [0, 0]
        ops = [{"op": "conv2d", "layout": "nhwc", "weight": arrays.add(kernel.transpose(3, 2, 0, 1)),
                "bias": arrays.add(_value(layer.bias)) if layer.use_bias else None,
                "stride": _pair(layer.strides), "padding": padding}]
        activation = _keras_activation(keras, layer.activation)
        return ops + ([activation] if activation else [])
    if kind is layers.MaxPooling2D:
        if layer.data_format != "channels_last" or layer.padding != "valid":
            raise NotExportable("a MaxPooling2D with channels_first data or padding='same'")
        return [{"op": "max_pool2d", "layout": "nhwc", "kernel": _pair(layer.pool_size),
                 "stride": _pair(layer.strides), "padding": [0, 0]}]
    if kind.__name__ in ("Sequential", "Functional"):
        return _keras_model_ops(keras, layer, arrays)
    raise NotExportable(f"{kind.__name__} is not a layer the grader evaluates")


def _keras_model_ops(keras: Any, model: Any, arrays: Arrays) -> list[dict[str, Any]]:
    kind = type(model)
    if kind.__name__ not in ("Sequential", "Functional") or not kind.__module__.startswith(("keras.", "tf_keras.")):
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
        ops.extend(_keras_layer_ops(keras, layer, arrays))
    return ops


def export_keras(model: Any, arrays: Arrays) -> dict[str, Any]:
    keras = _keras_module(model)
    dtype = str(getattr(model, "dtype", "float32") or "float32")
    ops = _keras_model_ops(keras, model, arrays)
    return {"framework": "keras", "dtype": "float64" if dtype == "float64" else "float32", "ops": ops}


def device_of(model: Any, framework: str) -> str:
    try:
        if framework == "torch":
            return str(next(model.parameters()).device)[:40]
        weight = model.weights[0]
        device = str(getattr(getattr(weight, "value", weight), "device", "") or "cpu").lower()
        return "gpu" if "gpu" in device else "cpu"
    except Exception:
        return "cpu"


def export_network(model: Any, framework: str, arrays: Arrays) -> dict[str, Any]:
    """The network as {framework, dtype, ops, device}; raises NotExportable (the arrays it added stay unused)."""
    exported = export_torch(model, arrays) if framework == "torch" else export_keras(model, arrays)
    exported["device"] = device_of(model, framework)
    return exported
