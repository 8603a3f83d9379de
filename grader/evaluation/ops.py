"""The operations an exported network is made of: each one its schema (validated field by field, the export is
untrusted) and its computation in NumPy, so that a new operation is one class here.

`apply` validates shapes as it runs: a shape that does not fit raises NetworkRefused; nothing but these operations
is ever computed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from grader.errors import NetworkRefused

Array = NDArray[Any]
MAX_ARRAY_ELEMENTS = 16 * 1024 * 1024
Label = Annotated[str, Field(max_length=200)]
ArrayKey = Annotated[str, Field(pattern=r"^a[0-9]{1,6}$")]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class Untrusted(BaseModel):
    """Every model read from the kernel's export: unknown fields ignored, frozen."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class _Op(Untrusted):
    # the student's name for the layer, where the exporter knows it (`pool`, `dense_1`): reports name it
    layer: Label | None = None

    def apply(self, x: Array, arrays: dict[str, Array]) -> Array:
        """This operation on a batch x (batch first), reading its weights from `arrays`."""
        raise NetworkRefused(f"the operation {getattr(self, 'op', '?')} is not one the grader evaluates")

    def array_keys(self) -> set[str]:
        """The keys of every array the operation reads."""
        names = ("weight", "bias", "mean", "var", "scale", "shift")
        return {value for name in names if isinstance(value := getattr(self, name, None), str)}


class Linear(_Op):
    op: Literal["linear"]
    weight: ArrayKey
    bias: ArrayKey | None = None
    # a square weight matrix whose orientation the exporter could not settle: the evaluator tries both readings on
    # the visible sample (`transposed`: read as x @ W rather than x @ W.T)
    transposable: bool = False
    transposed: bool = False

    def apply(self, x: Array, arrays: dict[str, Array]) -> Array:
        weight = arrays[self.weight].T if self.transposed else arrays[self.weight]
        _check(weight.ndim == 2 and x.ndim == 2 and weight.shape[1] == x.shape[1],
               f"a dense layer of {weight.shape[1] if weight.ndim == 2 else '?'} inputs given {x.shape[1:]}")
        out: Array = x @ weight.T
        if self.bias is not None:
            bias = arrays[self.bias]
            _check(bias.shape == (weight.shape[0],), "a dense layer bias of the wrong size")
            out = out + bias
        return out


class Conv2d(_Op):
    op: Literal["conv2d"]
    layout: Literal["nchw", "nhwc"]
    weight: ArrayKey
    bias: ArrayKey | None = None
    stride: list[Annotated[int, Field(ge=1, le=64)]] = Field(min_length=2, max_length=2)
    padding: list[Annotated[int, Field(ge=0, le=64)]] = Field(min_length=2, max_length=2)

    def apply(self, x: Array, arrays: dict[str, Array]) -> Array:
        return _conv2d(self, x, arrays)


class MaxPool2d(_Op):
    op: Literal["max_pool2d"]
    layout: Literal["nchw", "nhwc"]
    kernel: list[Annotated[int, Field(ge=1, le=64)]] = Field(min_length=2, max_length=2)
    stride: list[Annotated[int, Field(ge=1, le=64)]] = Field(min_length=2, max_length=2)
    padding: list[Annotated[int, Field(ge=0, le=32)]] = Field(min_length=2, max_length=2)

    def apply(self, x: Array, arrays: dict[str, Array]) -> Array:
        return _max_pool(self, x)


class BatchNorm(_Op):
    op: Literal["batch_norm"]
    axis: Literal[1, -1]
    eps: Annotated[float, Field(ge=0, le=1)]
    mean: ArrayKey
    var: ArrayKey
    scale: ArrayKey
    shift: ArrayKey

    def apply(self, x: Array, arrays: dict[str, Array]) -> Array:
        axis = 1 if self.axis == 1 else x.ndim - 1
        _check(x.ndim >= 2, "a batch normalisation of a 1-D value")
        mean, var = _broadcast(arrays[self.mean], x, axis), _broadcast(arrays[self.var], x, axis)
        scale, shift = _broadcast(arrays[self.scale], x, axis), _broadcast(arrays[self.shift], x, axis)
        out: Array = (x - mean) / np.sqrt(var + self.eps) * scale + shift
        return out


class ScaleShift(_Op):
    op: Literal["scale_shift"]
    scale: Finite | ArrayKey
    shift: Finite | ArrayKey

    def apply(self, x: Array, arrays: dict[str, Array]) -> Array:
        scale, shift = _array(arrays, self.scale), _array(arrays, self.shift)
        for value in (scale, shift):
            _check((value.ndim <= x.ndim - 1 and (value.ndim == 0 or value.shape == x.shape[x.ndim - value.ndim:]))
                   or value.size == 1, f"a scaling of shape {value.shape} for an input of shape {x.shape[1:]}")
        out: Array = x * scale.reshape(scale.shape if scale.size != 1 else ()) + shift.reshape(
            shift.shape if shift.size != 1 else ())
        return out


class Perceptron(_Op):
    """One weight vector per class; `bias_feature`: none, or the column that weighs a constant input of 1."""

    op: Literal["perceptron"]
    weight: ArrayKey
    bias_feature: Literal["none", "first", "last"]

    def apply(self, x: Array, arrays: dict[str, Array]) -> Array:
        return _perceptron(self, x, arrays)


class Activation(_Op):
    op: Literal["relu", "sigmoid", "tanh", "selu", "silu", "softplus", "flatten"]

    def apply(self, x: Array, arrays: dict[str, Array]) -> Array:
        return _activation(self.op, x)


class Softmax(_Op):
    op: Literal["softmax", "log_softmax"]
    axis: Annotated[int, Field(ge=-6, le=6)]

    def apply(self, x: Array, arrays: dict[str, Array]) -> Array:
        return _softmax(x, self.axis, self.op == "log_softmax")


class LeakyRelu(_Op):
    op: Literal["leaky_relu"]
    slope: Annotated[float, Field(ge=-100, le=100)]

    def apply(self, x: Array, arrays: dict[str, Array]) -> Array:
        out: Array = np.where(x >= 0, x, x * self.slope)
        return out


class Elu(_Op):
    op: Literal["elu"]
    alpha: Annotated[float, Field(ge=-100, le=100)]

    def apply(self, x: Array, arrays: dict[str, Array]) -> Array:
        out: Array = np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))
        return out


class Gelu(_Op):
    op: Literal["gelu"]
    approximate: Literal["none", "tanh"]

    def apply(self, x: Array, arrays: dict[str, Array]) -> Array:
        if self.approximate == "tanh":
            gelu: Array = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
            return gelu
        exact: Array = 0.5 * x * (1 + erf(x / np.sqrt(2)))
        return exact


class Reshape(_Op):
    op: Literal["reshape"]
    shape: list[Annotated[int, Field(ge=-1, le=MAX_ARRAY_ELEMENTS)]] = Field(min_length=1, max_length=5)


    def apply(self, x: Array, arrays: dict[str, Array]) -> Array:
        size = int(np.prod(x.shape[1:]))
        shape = list(self.shape)
        known = int(np.prod([d for d in shape if d != -1]))
        if -1 in shape:
            _check(shape.count(-1) == 1 and known > 0 and size % known == 0, f"a reshape of {x.shape[1:]} to {shape}")
            shape[shape.index(-1)] = size // known
        _check(int(np.prod(shape)) == size, f"a reshape of {x.shape[1:]} to {tuple(self.shape)}")
        return x.reshape(len(x), *shape)


class Reduce(_Op):
    """A maximum or minimum over axes other than the batch (`x.amax(dim=1)`, `torch.max(x, 1).values`)."""

    op: Literal["reduce_max", "reduce_min"]
    axes: list[Annotated[int, Field(ge=1, le=5)]] = Field(min_length=1, max_length=5)
    keepdims: bool = False

    def apply(self, x: Array, arrays: dict[str, Array]) -> Array:
        _check(max(self.axes) < x.ndim, f"a {self.op} over axes {self.axes} of an input of shape {x.shape[1:]}")
        reduce = np.max if self.op == "reduce_max" else np.min
        out: Array = reduce(x, axis=tuple(self.axes), keepdims=self.keepdims)
        return out


class Gather(_Op):
    """The values at stored indices along one axis (`x[:, idx]`, `torch.index_select(x, 1, idx)`)."""

    op: Literal["gather"]
    axis: Annotated[int, Field(ge=1, le=5)]
    index: ArrayKey

    def apply(self, x: Array, arrays: dict[str, Array]) -> Array:
        index = arrays[self.index]
        _check(index.ndim == 1 and self.axis < x.ndim and index.size > 0
               and bool(np.all((index >= -x.shape[self.axis]) & (index < x.shape[self.axis]))),
               f"a selection of {index.shape} indices along axis {self.axis} of an input of shape {x.shape[1:]}")
        out: Array = np.take(x, index.astype(np.int64), axis=self.axis)
        return out

    def array_keys(self) -> set[str]:
        return {self.index}


Op = Annotated[Linear | Conv2d | MaxPool2d | BatchNorm | ScaleShift | Activation | Softmax | LeakyRelu | Elu | Gelu
               | Reshape | Perceptron | Reduce | Gather, Field(discriminator="op")]


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
