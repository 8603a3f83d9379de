"""An exported network rebuilt in NumPy: each operation of the export applied in order, in the network's dtype.

Validation happens when the network is built (every array exists, every shape fits its operation) and again while it
runs (a shape that does not fit the input raises NetworkRefused); nothing but the operations of ops.py is ever
computed, each by its own `apply`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.errors import NetworkRefused
from grader.evaluation.harness_output import ExportedNetwork, HarnessExport
from grader.evaluation.ops import BatchNorm, Conv2d, Linear, Op, Perceptron, ScaleShift
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

    @property
    def one_output_threshold(self) -> float:
        """Where a single output divides class 0 from class 1: 0.5 when the network ends in a sigmoid (or a
        softmax) and its output is a probability, 0 when it ends in an affine layer and its output is a logit (a
        network trained with BCEWithLogitsLoss), 0 after tanh; 0.5 after anything else."""
        last = next((op for op in reversed(self.source.ops) if op.op not in ("flatten", "reshape")), None)
        return 0.0 if isinstance(last, Linear | Conv2d | BatchNorm | ScaleShift) or (last and last.op == "tanh") \
            else 0.5

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


def apply(op: Op, x: Array, arrays: dict[str, Array]) -> Array:
    """One operation of the export on a batch x."""
    return op.apply(x, arrays)


def build_network(export: HarnessExport, network: ExportedNetwork,
                  decoded: dict[str, Array] | None = None) -> NumpyNetwork:
    """The NumPy network of one export entry; raises NetworkRefused when it is not complete and well formed."""
    if network.error:
        raise NetworkRefused(network.error)
    if network.framework is None or not network.ops:
        raise NetworkRefused("the export holds no operations for it")
    keys: set[str] = set().union(*(op.array_keys() for op in network.ops))
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
