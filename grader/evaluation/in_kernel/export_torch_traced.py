# The second way a torch.nn.Module is exported, when torch.fx cannot trace its forward() symbolically (shape
# arithmetic such as `x.view(len(x), -1)`, Python control flow over sizes): torch.export runs forward() on the visible
# sample (`example`, TRACE_ROWS rows) and records the ATen operations it computed; this file reads that graph as the
# same chain of standard operations export_torch.py writes. The batch size of the example is the only number read as
# "the batch": a forward() that computes something else for another batch size is caught by the cross-check on a
# batch of another size (export.py) and by the grader outside the kernel. Runs in the student's kernel after
# export_torch.py (same namespace); torch is looked up in sys.modules, never imported.
import operator
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # defined by export_common.py and export_torch.py, which run first in the same namespace
    from grader.evaluation.in_kernel.export_common import TRACE_ROWS, Arrays, NotExportable, _torch_numpy

IDENTITY_OPS = {"clone", "detach", "alias", "contiguous", "_to_copy", "to", "lift_fresh_copy", "dropout",
                "feature_dropout", "alpha_dropout", "feature_alpha_dropout", "type_as"}
SIMPLE_OPS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "selu": "selu", "silu": "silu"}
ARITHMETIC = {"mul", "div", "add", "sub", "rsub"}
SELECTIONS = {"reduce_max", "reduce_min", "gather"}


class _Graph:
    """The exported graph: which nodes depend on the input, and the value of every node that does not."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.nodes = list(module.graph.nodes)
        placeholders = [n for n in self.nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise NotExportable("its forward() takes more than one input")
        self.input = placeholders[0]
        self.dependent: set[Any] = {self.input}
        for node in self.nodes:
            if node.op == "call_function" and any(a in self.dependent for a in _flat(node.args, node.kwargs)):
                self.dependent.add(node)
        self.values: dict[Any, Any] = {}

    def constant(self, value: Any) -> Any:
        """The value of an argument that does not depend on the input (a weight, a number, a list of sizes)."""
        fx = sys.modules["torch.fx"]
        if isinstance(value, list | tuple):
            return type(value)(self.constant(v) for v in value)
        if not isinstance(value, fx.Node):
            return value
        if value in self.dependent:
            raise NotExportable("it uses a value computed from its input where the grader expects a constant")
        if value not in self.values:
            if value.op == "get_attr":
                found = self.module
                for part in str(value.target).split("."):
                    found = getattr(found, part)
                self.values[value] = found
            elif value.op == "call_function":
                args = self.constant(tuple(value.args))
                kwargs = {k: self.constant(v) for k, v in value.kwargs.items()}
                self.values[value] = value.target(*args, **kwargs)
            else:
                raise NotExportable(f"it reads `{value.target}`, which the grader cannot evaluate")
        return self.values[value]


def _flat(args: Any, kwargs: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for value in list(args) + list(kwargs.values()):
        out.extend(_flat(value, {}) if isinstance(value, list | tuple) else [value])
    return out


def _aten_name(node: Any) -> str:
    if node.target is operator.getitem:
        return "getitem"
    packet = getattr(node.target, "overloadpacket", None)
    if getattr(node.target, "namespace", None) != "aten" or packet is None:
        raise NotExportable(f"it calls `{getattr(node.target, '__name__', node.target)}`, which the grader does not "
                            "evaluate")
    return str(packet.__name__)


def _number(value: Any, what: str) -> float:
    torch = sys.modules["torch"]
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise NotExportable(f"{what} that is not a number")
    return float(value)


def _reshape(shape: list[Any]) -> dict[str, Any]:
    if not shape or not all(isinstance(d, int) for d in shape):
        raise NotExportable("it reshapes its input to a shape computed at run time")
    if shape[0] not in (-1, TRACE_ROWS):
        raise NotExportable("it reshapes its input without keeping the batch dimension first")
    rest = list(shape[1:])
    if -1 in rest and (shape[0] == -1 or rest.count(-1) > 1):
        raise NotExportable("it reshapes its input with two unknown dimensions")
    return {"op": "flatten"} if rest == [-1] else {"op": "reshape", "shape": [int(d) for d in rest]}


def _arithmetic(name: str, node: Any, graph: _Graph, arrays: Arrays, dtype: Any) -> dict[str, Any]:
    torch = sys.modules["torch"]
    left, right = node.args[0], node.args[1] if len(node.args) > 1 else node.kwargs.get("other")
    if left in graph.dependent and right in graph.dependent:
        raise NotExportable(f"it combines two values computed from its input with `{name}` (only chains of layers "
                            "are evaluated)")
    data_first = left in graph.dependent
    value = graph.constant(right if data_first else left)
    alpha = _number(node.kwargs.get("alpha", 1), "a scaling")
    if isinstance(value, torch.Tensor) and value.numel() != 1:
        if name not in ("mul", "div", "add", "sub") or not data_first or value.dim() > 3:
            raise NotExportable(f"it combines its input with a stored tensor by `{name}`")
        array = _torch_numpy(value.detach().double()).reshape(value.shape[1:] if value.dim() > 1 and
                                                              value.shape[0] == 1 else value.shape)
        if name == "div":
            if (array == 0).any():
                raise NotExportable("it divides by a tensor holding zero")
            return {"op": "scale_shift", "scale": arrays.add(1.0 / array, dtype), "shift": 0.0}
        if name == "mul":
            return {"op": "scale_shift", "scale": arrays.add(array, dtype), "shift": 0.0}
        sign = alpha if name == "add" else -alpha
        return {"op": "scale_shift", "scale": 1.0, "shift": arrays.add(sign * array, dtype)}
    number = _number(value, f"it combines its input by `{name}` with a value")
    if name == "mul":
        return {"op": "scale_shift", "scale": number, "shift": 0.0}
    if name == "div":
        if not data_first or number == 0:
            raise NotExportable("it divides by its input")
        return {"op": "scale_shift", "scale": 1.0 / number, "shift": 0.0}
    if name == "add":
        return {"op": "scale_shift", "scale": alpha if not data_first else 1.0,
                "shift": number * (alpha if data_first else 1.0)}
    if name == "rsub":  # number - alpha * x when data comes first
        return {"op": "scale_shift", "scale": -alpha, "shift": number} if data_first else (
            {"op": "scale_shift", "scale": 1.0, "shift": -alpha * number})
    return ({"op": "scale_shift", "scale": 1.0, "shift": -alpha * number} if data_first
            else {"op": "scale_shift", "scale": -alpha, "shift": number})


def _weights(graph: _Graph, node: Any, index: int, arrays: Arrays, dtype: Any) -> str | None:
    value = graph.constant(node.args[index]) if len(node.args) > index else None
    return None if value is None else arrays.add(_torch_numpy(value), dtype)


def _aten_op(node: Any, graph: _Graph, arrays: Arrays, dtype: Any) -> tuple[dict[str, Any] | None, Any]:
    """(the operation of one node, the node it reads); the operation is None for a node that changes nothing."""
    name = _aten_name(node)
    args = node.args
    if name in ("addmm", "mm", "matmul"):
        data = args[1] if name == "addmm" else args[0]
        weight = graph.constant(args[2] if name == "addmm" else args[1])
        if weight.dim() != 2:
            raise NotExportable(f"a `{name}` with a weight of {weight.dim()} dimensions")
        bias = _torch_numpy(graph.constant(args[0])) if name == "addmm" else None
        return {"op": "linear", "weight": arrays.add(_torch_numpy(weight).T, dtype),
                "bias": None if bias is None else arrays.add(bias.reshape(-1), dtype)}, data
    data = args[0]
    others = [a for a in _flat(args[1:], node.kwargs) if a in graph.dependent]
    if others or data not in graph.dependent:
        if name in ARITHMETIC:
            data = args[0] if args[0] in graph.dependent else args[1]
            return _arithmetic(name, node, graph, arrays, dtype), data
        raise NotExportable(f"it combines two values computed from its input with `{name}` (only chains of layers "
                            "are evaluated)")
    if name in IDENTITY_OPS:
        if name == "dropout" and len(args) > 2 and args[2] is True:
            raise NotExportable("it applies dropout at evaluation time")
        return None, data
    if name in SIMPLE_OPS:
        return {"op": SIMPLE_OPS[name]}, data
    if name in ARITHMETIC:
        return _arithmetic(name, node, graph, arrays, dtype), data
    if name in ("softmax", "_softmax", "log_softmax", "_log_softmax"):
        return {"op": "log_softmax" if "log" in name else "softmax", "axis": int(args[1])}, data
    if name == "leaky_relu":
        return {"op": "leaky_relu", "slope": _number(args[1] if len(args) > 1 else 0.01, "a slope")}, data
    if name == "elu":
        if any(_number(v, "a scale") != 1.0 for v in args[2:4]):
            raise NotExportable("an elu with a scale")
        return {"op": "elu", "alpha": _number(args[1] if len(args) > 1 else 1.0, "an alpha")}, data
    if name == "gelu":
        return {"op": "gelu", "approximate": str(node.kwargs.get("approximate", "none"))}, data
    if name == "softplus":
        if _number(args[1] if len(args) > 1 else 1.0, "a beta") != 1.0:
            raise NotExportable("a softplus with beta other than 1")
        return {"op": "softplus"}, data
    if name in ("view", "reshape", "_unsafe_view"):
        return _reshape(list(graph.constant(args[1]))), data
    if name == "flatten":
        if (args[1] if len(args) > 1 else 0) != 1 or (args[2] if len(args) > 2 else -1) not in (-1, len(
                data.meta["val"].shape) - 1 if "val" in data.meta else -1):
            raise NotExportable("a flatten that does not keep the batch dimension alone (use flatten(1))")
        return {"op": "flatten"}, data
    if name == "linear":
        return {"op": "linear", "weight": _weights(graph, node, 1, arrays, dtype),
                "bias": _weights(graph, node, 2, arrays, dtype)}, data
    if name == "conv2d":
        stride, padding, dilation = (list(args[i]) if len(args) > i else d for i, d in
                                     ((3, [1, 1]), (4, [0, 0]), (5, [1, 1])))
        groups = args[6] if len(args) > 6 else 1
        if groups != 1 or dilation != [1, 1] or isinstance(padding, str):
            raise NotExportable("a convolution with groups, dilation or padding given by name")
        return {"op": "conv2d", "layout": "nchw", "weight": _weights(graph, node, 1, arrays, dtype),
                "bias": _weights(graph, node, 2, arrays, dtype), "stride": [int(v) for v in stride],
                "padding": [int(v) for v in padding]}, data
    if name == "max_pool2d":
        kernel = list(args[1])
        stride = list(args[2]) if len(args) > 2 and args[2] else kernel
        padding = list(args[3]) if len(args) > 3 else [0, 0]
        if (len(args) > 4 and list(args[4]) != [1, 1]) or (len(args) > 5 and args[5]):
            raise NotExportable("a max pooling with dilation or ceil_mode")
        return {"op": "max_pool2d", "layout": "nchw", "kernel": [int(v) for v in kernel] * (3 - len(kernel)),
                "stride": [int(v) for v in stride] * (3 - len(stride)),
                "padding": [int(v) for v in padding] * (3 - len(padding))}, data
    if name in ("amax", "amin"):
        return {"op": f"reduce_{name[1:]}", "axes": _axes(args[1:2]),
                "keepdims": bool(args[2]) if len(args) > 2 else False}, data
    if name == "index_select":
        if not isinstance(args[1], int) or args[1] < 1:
            raise NotExportable("an index_select over the batch dimension")
        return {"op": "gather", "axis": int(args[1]), "index": _indices(graph.constant(args[2]), arrays)}, data
    if name == "index":
        where = list(args[1])
        if len(where) < 2 or any(w is not None for w in where[:-1]) or where[-1] is None:
            raise NotExportable("it indexes its input other than by stored positions along its last indexed axis")
        return {"op": "gather", "axis": len(where) - 1, "index": _indices(graph.constant(where[-1]), arrays)}, data
    if name == "t" or name == "permute" or name == "transpose":
        raise NotExportable(f"it transposes its input (`{name}`)")
    raise NotExportable(f"it calls `{name}`, which the grader does not evaluate")


def _axes(value: Any) -> list[int]:
    dims = list(value[0]) if value and isinstance(value[0], list | tuple) else list(value)
    if not dims or not all(isinstance(d, int) for d in dims):
        raise NotExportable("a maximum or minimum over every value, or over axes computed at run time")
    return [int(d) for d in dims]


def _indices(tensor: Any, arrays: Arrays) -> str:
    index = _torch_numpy(tensor)
    if index.ndim != 1 or index.dtype.kind not in "iub":
        raise NotExportable("it selects with an index that is not a stored 1-D tensor of positions")
    return arrays.add(np.flatnonzero(index) if index.dtype.kind == "b" else index)


def export_torch_traced(model: Any, example: Any, arrays: Arrays, dtype: Any) -> list[dict[str, Any]]:
    """The operations torch.export records while forward() runs on `example` (TRACE_ROWS visible inputs)."""
    torch = sys.modules["torch"]
    try:
        program = torch.export.export(model, (example,), strict=False)
        module = program.module()
    except Exception as exc:
        raise NotExportable(f"torch.export could not trace it on visible inputs ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:160] if str(exc) else ''})") from None
    graph = _Graph(module)
    output = next(n for n in graph.nodes if n.op == "output")
    value = output.args[0]
    while isinstance(value, tuple | list) and value:
        value = value[0]
    chain: list[dict[str, Any]] = []
    for _ in range(len(graph.nodes) + 1):
        if value is graph.input:
            chain.reverse()
            return chain
        if value not in graph.dependent:
            raise NotExportable("its output does not depend on its input")
        if value.target is operator.getitem:  # (output, mean, var) of a batch normalisation, or max's values
            source = value.args[0]
            if value.args[1] == 0 and _aten_name(source) in ("max", "min"):
                chain.append({"op": f"reduce_{_aten_name(source)}", "axes": _axes(source.args[1:2]),
                              "keepdims": bool(source.args[2]) if len(source.args) > 2 else False,
                              "layer": _layer_name(source) or str(source.name)})
                value = source.args[0]
                continue
            if value.args[1] != 0 or _aten_name(source) != "_native_batch_norm_legit_no_training":
                raise NotExportable(f"it selects among the results of `{_aten_name(source)}`")
            value = source
        node, name = value, _aten_name(value)
        op: dict[str, Any] | None
        if name in ("batch_norm", "_native_batch_norm_legit_no_training"):
            op = _batch_norm(value, graph, arrays, dtype)
            value = value.args[0]
        else:
            op, value = _aten_op(value, graph, arrays, dtype)
        if op is not None:
            # a selection written in forward() has no layer of its own: its node's name (`amax`, `index_select`)
            op["layer"] = _layer_name(node) or (str(node.name) if op["op"] in SELECTIONS else None)
            chain.append(op)
    raise NotExportable("its traced graph is not a chain")


def _layer_name(node: Any) -> str | None:
    """The module whose forward() computed the node (`net.2`), as torch.export records it."""
    stack = node.meta.get("nn_module_stack") or {}
    try:
        path = str(list(stack.values())[-1][0])
    except (IndexError, TypeError, KeyError):
        return None
    return path.removeprefix("L['self'].").removeprefix("L__self__.")[:150] or None


def _batch_norm(node: Any, graph: _Graph, arrays: Arrays, dtype: Any) -> dict[str, Any]:
    torch = sys.modules["torch"]
    weight, bias, mean, var = node.args[1:5]
    if _aten_name(node) == "batch_norm" and graph.constant(node.args[5]):
        raise NotExportable("a batch normalisation in training mode")
    eps = node.args[7] if _aten_name(node) == "batch_norm" else node.args[6]
    mean, var = graph.constant(mean), graph.constant(var)
    if mean is None or var is None:
        raise NotExportable("a batch normalisation without running statistics")
    size = mean.shape[0]
    gamma, beta = graph.constant(weight), graph.constant(bias)
    return {"op": "batch_norm", "axis": 1, "eps": float(eps), "mean": arrays.add(_torch_numpy(mean), dtype),
            "var": arrays.add(_torch_numpy(var), dtype),
            "scale": arrays.add(_torch_numpy(gamma if gamma is not None else torch.ones(size)), dtype),
            "shift": arrays.add(_torch_numpy(beta if beta is not None else torch.zeros(size)), dtype)}
