"""An exported network rebuilt in NumPy: each operation of the export applied in order, in the network's dtype.

Validation happens when the network is built (every array exists, every shape fits its operation) and again while it
runs (a shape that does not fit the input raises NetworkRefused); nothing but the operations below is ever computed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.errors import NetworkRefused
from grader.evaluation.harness_output import (
    Activation,
    BatchNorm,
    Conv2d,
    Elu,
    ExportedNetwork,
    Gelu,
    HarnessExport,
    LeakyRelu,
    Linear,
    MaxPool2d,
    Op,
    Perceptron,
    Reshape,
    ScaleShift,
    Softmax,
)
from grader.evaluation.result import ArchitectureFacts

Array = NDArray[Any]
BATCH_ROWS = 512
MAX_OPEN_READINGS = 4  # operations read two ways at once: at most 16 variants of one network
NONLINEAR = {"relu", "sigmoid", "tanh", "selu", "silu", "softplus", "leaky_relu", "elu", "gelu", "softmax",
             "log_softmax", "max_pool2d"}


@dataclass(frozen=True)
class NumpyNetwork:
    """The operations of one exported network with their arrays, ready to run."""

    source: ExportedNetwork
    arrays: dict[str, Array]

    @property
    def dtype(self) -> type[np.floating[Any]]:
        return np.float64 if self.source.dtype == "float64" else np.float32

    def scores(self, x: Array) -> Array:
        """The network's outputs for inputs x (batch first), as a 2-D array."""
        x = np.asarray(x, dtype=self.dtype)
        out = [self._forward(x[start:start + BATCH_ROWS]) for start in range(0, len(x), BATCH_ROWS)]
        if not out:
            return np.zeros((0, 0), dtype=self.dtype)
        return np.concatenate(out).reshape(len(x), -1)

    def _forward(self, x: Array) -> Array:
        rows = len(x)
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            for op in self.source.ops:
                x = apply(op, x, self.arrays)
                if len(x) != rows:
                    raise NetworkRefused(f"its {op.op} operation changed the number of inputs")
        return x.astype(self.dtype, copy=False)

    def variants(self) -> list[NumpyNetwork]:
        """The readings of an export that its weights alone leave open, the export's own first: a perceptron's
        constant bias input may be its first or its last column, a square weight matrix the exporter could not settle
        may be read either way round (the evaluator keeps the reading more accurate on visible inputs)."""
        choices: list[tuple[int, tuple[dict[str, Any], ...]]] = []
        for i, op in enumerate(self.source.ops):
            if isinstance(op, Perceptron) and op.bias_feature != "none":
                choices.append((i, ({"bias_feature": "last"}, {"bias_feature": "first"})))
            elif isinstance(op, Linear) and op.transposable and len(choices) < MAX_OPEN_READINGS:
                choices.append((i, ({"transposed": op.transposed}, {"transposed": not op.transposed})))
        if not choices:
            return [self]
        out = []
        for combination in itertools.product(*(options for _, options in choices)):
            changed = list(self.source.ops)
            for (i, _), update in zip(choices, combination, strict=True):
                changed[i] = changed[i].model_copy(update=update)
            out.append(NumpyNetwork(self.source.model_copy(update={"ops": changed}), self.arrays))
        return out

    @property
    def reading(self) -> str:
        """How the grader read weights that could be read more than one way ("" when only one way)."""
        words = []
        op = next((op for op in self.source.ops if isinstance(op, Perceptron)), None)
        if op is not None and op.bias_feature != "none":
            words.append(f"the bias weight taken as the {op.bias_feature} column (a constant input of 1)")
        if any(isinstance(op, Linear) and op.transposable and op.transposed for op in self.source.ops):
            words.append("square weight matrices read as inputs times weights (x @ W)")
        return ", ".join(words)

    def facts(self) -> ArchitectureFacts:
        """Dense layers counted by the operations that compute; non-linearities by the operations between them."""
        ops = self.source.ops
        dense = [i for i, op in enumerate(ops) if isinstance(op, Linear | Perceptron)]
        between = {op.op for op in ops[dense[0] + 1:dense[-1]]} if len(dense) >= 2 else set()
        activations = sorted({op.op.replace("_", "") for op in ops if op.op in NONLINEAR and op.op != "max_pool2d"})
        first_linear = next((op for op in ops if isinstance(op, Linear | Perceptron)), None)
        last_linear = next((op for op in reversed(ops) if isinstance(op, Linear | Perceptron)), None)
        conv = any(isinstance(op, Conv2d) for op in ops)
        input_size = None if first_linear is None or conv else int(self.arrays[first_linear.weight].shape[1])
        if isinstance(first_linear, Perceptron) and first_linear.bias_feature != "none" and input_size:
            input_size -= 1
        return ArchitectureFacts(
            framework=self.source.framework or "torch", dense_layers=len(dense), activations=activations[:20],
            nonlinear_between=bool(between & NONLINEAR), conv=conv, device=self.source.device,
            parameters=sum(int(a.size) for key, a in self.arrays.items() if key in self._parameter_keys()),
            input_size=input_size,
            output_size=None if last_linear is None else int(self.arrays[last_linear.weight].shape[0]),
        )

    def _parameter_keys(self) -> set[str]:
        keys: set[str] = set()
        for op in self.source.ops:
            if isinstance(op, Linear | Conv2d):
                keys |= {op.weight} | ({op.bias} if op.bias else set())
            elif isinstance(op, Perceptron):
                keys.add(op.weight)
            elif isinstance(op, BatchNorm):
                keys |= {op.scale, op.shift}
        return keys


def _array(arrays: dict[str, Array], key: str | float) -> Array:
    if isinstance(key, float):
        return np.asarray(key)
    return arrays[key]


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise NetworkRefused(message)


def _to_nchw(x: Array, layout: str) -> Array:
    _check(x.ndim == 4, f"a 2-D convolution or pooling on an input of shape {x.shape[1:]}")
    return x if layout == "nchw" else x.transpose(0, 3, 1, 2)


def _from_nchw(x: Array, layout: str) -> Array:
    return x if layout == "nchw" else x.transpose(0, 2, 3, 1)


def _windows(x: Array, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
             fill: float) -> Array:
    """(N, C, H', W', kh, kw) views of x's sliding windows."""
    if padding != (0, 0):
        x = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2), constant_values=fill)
    _check(x.shape[2] >= kernel[0] and x.shape[3] >= kernel[1], "a kernel larger than its input")
    windows = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(2, 3))
    return windows[:, :, ::stride[0], ::stride[1]]


def _conv2d(op: Conv2d, x: Array, arrays: dict[str, Array]) -> Array:
    weight = arrays[op.weight]
    x = _to_nchw(x, op.layout)
    _check(weight.ndim == 4 and weight.shape[1] == x.shape[1], f"a convolution of {weight.shape} on {x.shape[1:]}")
    windows = _windows(x, (weight.shape[2], weight.shape[3]), (op.stride[0], op.stride[1]),
                       (op.padding[0], op.padding[1]), 0.0)
    n, _, height, width = windows.shape[:4]
    columns = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * height * width, -1)  # im2col
    out = (columns @ weight.reshape(weight.shape[0], -1).T).reshape(n, height, width, -1).transpose(0, 3, 1, 2)
    if op.bias is not None:
        bias = arrays[op.bias]
        _check(bias.shape == (weight.shape[0],), "a convolution bias of the wrong size")
        out = out + bias[None, :, None, None]
    return _from_nchw(out, op.layout)


def _perceptron(op: Perceptron, x: Array, arrays: dict[str, Array]) -> Array:
    weight = arrays[op.weight]
    extra = 0 if op.bias_feature == "none" else 1
    _check(weight.ndim == 2 and x.ndim == 2 and weight.shape[1] == x.shape[1] + extra,
           f"a perceptron of {weight.shape[1] - extra if weight.ndim == 2 else '?'} inputs given {x.shape[1:]}")
    if op.bias_feature == "none":
        out: Array = x @ weight.T
        return out
    columns, bias = (weight[:, 1:], weight[:, 0]) if op.bias_feature == "first" else (weight[:, :-1], weight[:, -1])
    scores: Array = x @ columns.T + bias
    return scores


def _max_pool(op: MaxPool2d, x: Array) -> Array:
    x = _to_nchw(x, op.layout)
    (kh, kw), (sh, sw) = op.kernel, op.stride
    if (kh, kw) == (sh, sw) and op.padding == [0, 0] and x.shape[2] >= kh and x.shape[3] >= kw:
        # non-overlapping windows: a reshape, much faster than strided views
        n, c, h, w = x.shape
        blocks = x[:, :, :h // kh * kh, :w // kw * kw].reshape(n, c, h // kh, kh, w // kw, kw)
        return _from_nchw(blocks.max(axis=(3, 5)), op.layout)
    windows = _windows(x, (op.kernel[0], op.kernel[1]), (op.stride[0], op.stride[1]),
                       (op.padding[0], op.padding[1]), -np.inf)
    return _from_nchw(windows.max(axis=(4, 5)), op.layout)


def _softmax(x: Array, axis: int, log: bool) -> Array:
    _check(-x.ndim <= axis < x.ndim, f"a softmax over axis {axis} of a {x.ndim}-D value")
    shifted = x - x.max(axis=axis, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    out: Array = shifted - log_sum if log else np.exp(shifted - log_sum)
    return out


def _broadcast(value: Array, x: Array, axis: int) -> Array:
    _check(value.ndim == 1 and value.shape[0] == x.shape[axis], f"per-feature values of shape {value.shape} for "
                                                                 f"an input of shape {x.shape[1:]}")
    shape = [1] * x.ndim
    shape[axis] = value.shape[0]
    return value.reshape(shape)


def apply(op: Op, x: Array, arrays: dict[str, Array]) -> Array:
    """One operation of the export on a batch x."""
    if isinstance(op, Linear):
        weight = arrays[op.weight].T if op.transposed else arrays[op.weight]
        _check(weight.ndim == 2 and x.ndim == 2 and weight.shape[1] == x.shape[1],
               f"a dense layer of {weight.shape[1] if weight.ndim == 2 else '?'} inputs given {x.shape[1:]}")
        out = x @ weight.T
        if op.bias is not None:
            bias = arrays[op.bias]
            _check(bias.shape == (weight.shape[0],), "a dense layer bias of the wrong size")
            out = out + bias
        return out
    if isinstance(op, Perceptron):
        return _perceptron(op, x, arrays)
    if isinstance(op, Conv2d):
        return _conv2d(op, x, arrays)
    if isinstance(op, MaxPool2d):
        return _max_pool(op, x)
    if isinstance(op, BatchNorm):
        axis = 1 if op.axis == 1 else x.ndim - 1
        _check(x.ndim >= 2, "a batch normalisation of a 1-D value")
        mean, var = _broadcast(arrays[op.mean], x, axis), _broadcast(arrays[op.var], x, axis)
        scale, shift = _broadcast(arrays[op.scale], x, axis), _broadcast(arrays[op.shift], x, axis)
        return (x - mean) / np.sqrt(var + op.eps) * scale + shift
    if isinstance(op, ScaleShift):
        scale, shift = _array(arrays, op.scale), _array(arrays, op.shift)
        for value in (scale, shift):
            _check((value.ndim <= x.ndim - 1 and (value.ndim == 0 or value.shape == x.shape[x.ndim - value.ndim:]))
                   or value.size == 1, f"a scaling of shape {value.shape} for an input of shape {x.shape[1:]}")
        return x * scale.reshape(scale.shape if scale.size != 1 else ()) + shift.reshape(
            shift.shape if shift.size != 1 else ())
    if isinstance(op, Softmax):
        return _softmax(x, op.axis, op.op == "log_softmax")
    if isinstance(op, LeakyRelu):
        return np.where(x >= 0, x, x * op.slope)
    if isinstance(op, Elu):
        return np.where(x > 0, x, op.alpha * np.expm1(np.minimum(x, 0)))
    if isinstance(op, Gelu):
        if op.approximate == "tanh":
            gelu: Array = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
            return gelu
        exact: Array = 0.5 * x * (1 + erf(x / np.sqrt(2)))
        return exact
    if isinstance(op, Reshape):
        size = int(np.prod(x.shape[1:]))
        shape = list(op.shape)
        known = int(np.prod([d for d in shape if d != -1]))
        if -1 in shape:
            _check(shape.count(-1) == 1 and known > 0 and size % known == 0, f"a reshape of {x.shape[1:]} to {shape}")
            shape[shape.index(-1)] = size // known
        _check(int(np.prod(shape)) == size, f"a reshape of {x.shape[1:]} to {tuple(op.shape)}")
        return x.reshape(len(x), *shape)
    if isinstance(op, Activation):
        return _activation(op.op, x)
    raise NetworkRefused(f"the operation {op.op} is not one the grader evaluates")


def erf(x: Array) -> Array:
    """The error function to 1.5e-7 (Abramowitz and Stegun 7.1.26): scipy costs a second to import per job."""
    sign, a = np.sign(x), np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    out: Array = sign * (1.0 - poly * np.exp(-a * a))
    return out


def _activation(name: str, x: Array) -> Array:
    if name == "relu":
        return np.maximum(x, 0)
    if name == "sigmoid":
        return 0.5 * (1 + np.tanh(0.5 * x))
    if name == "tanh":
        return np.tanh(x)
    if name == "silu":
        silu: Array = x * 0.5 * (1 + np.tanh(0.5 * x))
        return silu
    if name == "softplus":
        return np.logaddexp(0, x)
    if name == "selu":
        alpha, scale = 1.6732632423543772, 1.0507009873554805
        return scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    return x.reshape(len(x), -1)  # flatten


def build_network(export: HarnessExport, network: ExportedNetwork,
                  decoded: dict[str, Array] | None = None) -> NumpyNetwork:
    """The NumPy network of one export entry; raises NetworkRefused when it is not complete and well formed."""
    if network.error:
        raise NetworkRefused(network.error)
    if network.framework is None or not network.ops:
        raise NetworkRefused("the export holds no operations for it")
    keys: set[str] = set()
    for op in network.ops:
        for name in ("weight", "bias", "mean", "var", "scale", "shift"):  # every array an operation reads
            value = getattr(op, name, None)
            if isinstance(value, str):
                keys.add(value)
    arrays: dict[str, Array] = {}
    for key in sorted(keys):
        if decoded is not None and key in decoded:
            arrays[key] = decoded[key]
            continue
        payload = export.arrays.get(key)
        if payload is None:
            raise NetworkRefused(f"the export lacks the array {key}")
        try:
            arrays[key] = payload.decode().astype(np.float64 if network.dtype == "float64" else np.float32)
        except ValueError as exc:
            raise NetworkRefused(f"the export's array {key} is malformed: {exc}") from exc
        if decoded is not None:
            decoded[key] = arrays[key]
    return NumpyNetwork(network, arrays)
