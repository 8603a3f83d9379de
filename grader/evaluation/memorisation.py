"""Memorisation measured: how many rows of a network's first dense layer are copies of images, visible or hidden
(the visible training sample, the visible test inputs a test_half split serves, the hidden inputs).

A row of the first layer is a template the input is compared with; a trained row looks like a blurred stroke
pattern, a stored image has a cosine similarity near 1 with that image (after the network's own preprocessing and
whatever it computes before the layer). The count is shown to instructors, never used for a score: a lab that wants
it to cost points caps `max_parameters`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.errors import NetworkRefused
from grader.evaluation.network import NumpyNetwork, apply
from grader.evaluation.ops import Linear, Perceptron

Array = NDArray[Any]
COPY_COSINE = 0.99  # trained rows of the bundled image labs' networks stay below 0.9 with every image
MAX_ROWS = 4096  # rows compared (the first ones): a lab's parameter cap keeps honest first layers far smaller
MAX_IMAGES = 3000  # images of each kind compared
ROW_BLOCK = 512
# with a handful of features (4 in a small tabular lab) trained rows point the way of some input by chance:
# only images are compared
MIN_FEATURES = 64


@dataclass(frozen=True)
class Memorised:
    copies: int  # rows that are copies of an image
    rows: int  # rows compared


def _first_layer(network: NumpyNetwork, x: Array) -> tuple[Array, Array] | None:
    """(the first dense layer's rows, the inputs as that layer sees them), or None without such a layer."""
    with np.errstate(all="ignore"):
        for op in network.source.ops:
            if isinstance(op, Linear):
                weight = network.arrays[op.weight]
                return (weight.T if op.transposed else weight), x.reshape(len(x), -1)
            if isinstance(op, Perceptron):
                weight = network.arrays[op.weight]
                columns = {"none": weight, "first": weight[:, 1:], "last": weight[:, :-1]}[op.bias_feature]
                return columns, x.reshape(len(x), -1)
            if op.op == "conv2d":
                return None
            x = apply(op, x, network.arrays)
    return None


def _unit(rows: Array) -> Array:
    rows = rows.astype(np.float32, copy=False)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit: Array = rows / np.where(norms > 0, norms, 1)
    return unit


def memorised_rows(network: NumpyNetwork, images: list[Array]) -> Memorised | None:
    """How many of the first layer's rows have a cosine similarity of at least COPY_COSINE with one of `images`
    (each batch prepared as the network reads it); None when the network has no first dense layer."""
    found: list[Array] = []
    weight = None
    try:
        for batch in images:
            layer = _first_layer(network, batch[:MAX_IMAGES])
            if layer is None:
                return None
            weight = layer[0]
            found.append(_unit(np.nan_to_num(layer[1])))
    except (NetworkRefused, ValueError):
        return None
    if weight is None or not found or weight.ndim != 2 or weight.shape[1] < MIN_FEATURES:
        return None
    seen = np.concatenate(found)
    rows = _unit(weight[:MAX_ROWS])
    if rows.shape[1] != seen.shape[1]:
        return None
    copies = 0
    for start in range(0, len(rows), ROW_BLOCK):
        best = (rows[start:start + ROW_BLOCK] @ seen.T).max(axis=1)
        copies += int((best >= COPY_COSINE).sum())
    return Memorised(copies, len(rows))
