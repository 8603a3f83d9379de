"""What a lab lets a network compute, read from its exported operations: in a fully-connected lab (`ops = "dense"`)
only affine layers and non-linearities, so that pooling, a maximum or minimum over features, or a selection of stored
positions (a gather) cannot turn a layer of stored images into a nearest-template lookup; and at most the parameters
a lab allows each model (`max_parameters`)."""

from __future__ import annotations

from grader.evaluation.network import NumpyNetwork
from grader.evaluation.ops import Conv2d, Gather, Linear, MaxPool2d, Op, Perceptron, Reduce
from grader.evaluation.result import ArchitectureFacts

# the operations that select among features (a maximum over a window is a maximum over stored rows' scores)
SELECTING = (MaxPool2d,)


def _named(op: Op, index: int) -> str:
    return f"`{op.layer}` ({op.op})" if op.layer else f"operation {index + 1} ({op.op})"


def refused_in_dense_lab(network: NumpyNetwork) -> str | None:
    """Why a fully-connected lab refuses this network, or None: a maximum or minimum over features, a selection of
    stored positions, or pooling over a dense layer's outputs (each output one stored row's score) selects among
    rows. Pooling over an image or a convolution's feature map is spatial; a convolutional network is then told by its
    check that the lab wants fully-connected ones."""
    last = None
    for index, op in enumerate(network.source.ops):
        if isinstance(op, Reduce):
            extreme = "maximum" if op.op == "reduce_max" else "minimum"
            axes = ", ".join(map(str, op.axes))
            return (f"its layer {_named(op, index)} takes a {extreme} over features (axis {axes}); this lab counts "
                    f"fully-connected networks (affine layers and non-linearities), and a {extreme} over a layer's "
                    "outputs picks the best-matching stored row, a lookup rather than a layer")
        if isinstance(op, Gather):
            return (f"its layer {_named(op, index)} selects stored positions along axis {op.axis}; this lab counts "
                    "fully-connected networks (affine layers and non-linearities), and selecting among features or "
                    "stored rows is a lookup rather than a layer")
        if isinstance(op, Linear | Perceptron | Conv2d):
            last = op
        if isinstance(op, SELECTING) and isinstance(last, Linear | Perceptron):
            return (f"its layer {_named(op, index)} takes a maximum over the outputs of a dense layer; this lab "
                    "counts fully-connected networks (affine layers and non-linearities), and such pooling selects "
                    "among stored rows")
    return None


def over_parameter_cap(facts: ArchitectureFacts, cap: int | None) -> str | None:
    """Why the network is over the lab's parameter cap for its model, or None."""
    if cap is None or facts.parameters <= cap:
        return None
    return (f"it has {facts.parameters:,} parameters, over this model's cap of {cap:,} (the lab's own solutions need "
            "far fewer)")
