# Exports a torch.nn.Module as a chain of standard operations with its weights, traced with torch.fx from its
# forward(). Runs in the student's kernel after export_common.py (same namespace); torch is looked up in sys.modules,
# never imported. A network whose computation is not a chain of the operations below (a Python-side lookup, a
# data-dependent branch, an unknown layer) raises NotExportable with the reason.
import operator
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # defined by recognise.py and export_common.py, which run first in the same namespace
    from grader.evaluation.in_kernel.export_common import (
        KIND_EXPORTERS,
        Arrays,
        KindExporter,
        NotExportable,
        _torch_numpy,
        pair,
    )
    from grader.evaluation.in_kernel.export_torch_traced import export_torch_traced
    from grader.evaluation.in_kernel.recognise import framework_of



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
        if module.groups != 1 or pair(module.dilation) != [1, 1] or module.padding_mode != "zeros":
            raise NotExportable("an nn.Conv2d with groups, dilation or non-zero padding")
        if isinstance(module.padding, str):
            if module.padding != "valid":
                raise NotExportable("an nn.Conv2d with padding='same'")
            padding = [0, 0]
        else:
            padding = pair(module.padding)
        bias = arrays.add(_torch_numpy(module.bias), dtype) if module.bias is not None else None
        return {"op": "conv2d", "layout": "nchw", "weight": arrays.add(_torch_numpy(module.weight), dtype),
                "bias": bias, "stride": pair(module.stride), "padding": padding}
    if kind is nn.MaxPool2d:
        if pair(module.dilation) != [1, 1] or module.ceil_mode or module.return_indices:
            raise NotExportable("an nn.MaxPool2d with dilation, ceil_mode or return_indices")
        return {"op": "max_pool2d", "layout": "nchw", "kernel": pair(module.kernel_size),
                "stride": pair(module.stride if module.stride is not None else module.kernel_size),
                "padding": pair(module.padding)}
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


def _dims(value: Any) -> list[int]:
    dims = list(value) if isinstance(value, tuple | list) else [value]
    if not dims or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
        raise NotExportable("a maximum or minimum over a `dim` computed at run time, or over every value")
    return dims


def _index(value: Any, root: Any) -> Any:
    """The stored indices of a selection: a tensor of the network or a list of numbers written in forward()."""
    fx = sys.modules["torch.fx"]
    if isinstance(value, fx.Node) and value.op == "get_attr":
        value = _torch_numpy(_fetch_attr(root, str(value.target)))
    array = np.asarray(value)
    if array.ndim != 1 or array.dtype.kind not in "iub":
        raise NotExportable("it selects with an index that is neither a stored 1-D tensor nor a list of numbers")
    return np.flatnonzero(array) if array.dtype.kind == "b" else array


def _lookup(table: dict[Any, str], key: Any) -> str | None:
    try:
        return table.get(key)
    except TypeError:  # an unhashable callable
        return None


def _selection_op(node: Any, root: Any, arrays: Arrays) -> tuple[dict[str, Any], Any] | None:
    """(the operation, the node it reads) where `node` selects among values: a maximum or minimum over an axis, or
    stored indices along one; None for any other node. The evaluator computes them and the lab's op rule decides."""
    torch = sys.modules["torch"]
    fx = sys.modules["torch.fx"]
    target = node.target
    method = target if node.op == "call_method" else None
    function = target if node.op == "call_function" else None
    kind = _lookup({torch.amax: "reduce_max", torch.amin: "reduce_min"}, function)
    kind = kind or {"amax": "reduce_max", "amin": "reduce_min"}.get(str(method))
    if kind:
        keep = bool(_argument(node, 2, "keepdim", False))
        return {"op": kind, "axes": _dims(_argument(node, 1, "dim", None)), "keepdims": keep}, node.args[0]
    if function in (getattr, operator.getitem) and isinstance(node.args[0], fx.Node):
        source, key = node.args[0], node.args[1]
        reduced = _lookup({torch.max: "reduce_max", torch.min: "reduce_min"}, source.target) \
            if source.op == "call_function" else \
            {"max": "reduce_max", "min": "reduce_min"}.get(str(source.target)) if source.op == "call_method" else None
        if reduced and key in (0, "values"):
            keep = bool(_argument(source, 2, "keepdim", False))
            return {"op": reduced, "axes": _dims(_argument(source, 1, "dim", None)), "keepdims": keep}, source.args[0]
        if reduced:
            raise NotExportable(f"it takes the position of a {reduced[7:]}imum (`{node.name}`): a selection, not a "
                                "score the grader evaluates")
        if function is operator.getitem and isinstance(key, tuple) and len(key) >= 2 and key[0] == slice(None) \
                and all(k == slice(None) for k in key[1:-1]) and not isinstance(key[-1], slice | int):
            return {"op": "gather", "axis": len(key) - 1, "index": arrays.add(_index(key[-1], root))}, source
    if function is torch.index_select or method == "index_select":
        axis = _argument(node, 1, "dim", None)
        if not isinstance(axis, int) or axis < 1:
            raise NotExportable("an index_select over the batch or over a `dim` computed at run time")
        return {"op": "gather", "axis": axis, "index": arrays.add(_index(_argument(node, 2, "index", None), root))}, \
            node.args[0]
    if _lookup({torch.gather: "", torch.argmax: "", torch.argmin: "", torch.topk: "", torch.sort: ""}, function) == "" \
            or method in ("gather", "argmax", "argmin", "topk", "sort"):
        raise NotExportable(f"it selects among its values with `{node.name}`, which the grader does not evaluate")
    return None


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


def export_torch(model: Any, arrays: Arrays, example: Any = None) -> dict[str, Any]:
    """The operations of a torch.nn.Module: traced with torch.fx from its forward(), or else (with `example`, visible
    inputs forward() accepts) with torch.export while forward() runs on them. `path` says which."""
    dtype = _torch_dtype(model)
    try:
        return {"framework": "torch", "dtype": np.dtype(dtype).name, "ops": _fx_chain(model, arrays, dtype),
                "path": "torch.fx symbolic tracing"}
    except NotExportable as exc:
        if example is None:
            raise
        symbolic = str(exc)
    try:
        ops = export_torch_traced(model, example, arrays, dtype)
    except NotExportable as exc:
        raise NotExportable(f"{symbolic}; traced on visible inputs, {exc}") from None
    return {"framework": "torch", "dtype": np.dtype(dtype).name, "ops": ops,
            "path": "torch.export on visible inputs (torch.fx could not trace it)"}


def _fx_chain(model: Any, arrays: Arrays, dtype: Any) -> list[dict[str, Any]]:
    import torch.fx as fx  # torch is already imported when a torch model exists

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
            if op is not None:
                op["layer"] = str(value.target)[:150]
        elif value.op in ("call_function", "call_method") and (selected := _selection_op(value, traced, arrays)):
            op, source = selected
            op["layer"] = str(value.name)[:150]
            chain.append(op)
            value = source
            continue
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
    return chain


def _export_torch_kind(model: Any, arrays: Arrays, kinds: Any, example: Any) -> dict[str, Any]:
    tensor = None
    if example is not None:  # the visible inputs forward() accepted, as a tensor of the network's dtype and device
        torch = sys.modules["torch"]
        parameter = next(iter(model.parameters()), None)
        tensor = torch.as_tensor(example.x, dtype=parameter.dtype if parameter is not None else torch.float32,
                                 device=parameter.device if parameter is not None else "cpu")
    return export_torch(model, arrays, tensor)


KIND_EXPORTERS["torch"] = KindExporter(lambda obj, kinds: framework_of(obj) == "torch", _export_torch_kind)
