"""What a lab lets a network compute, read from its exported operations: in a fully-connected lab (`ops = "dense"`)
only affine layers and non-linearities, so that pooling, or any maximum over features, cannot turn a layer of stored
images into a nearest-template lookup; and at most the parameters a lab allows each model (`max_parameters`)."""

from __future__ import annotations

from grader.evaluation.network import NumpyNetwork
from grader.evaluation.ops import Conv2d, Linear, MaxPool2d, Op, Perceptron
from grader.evaluation.result import ArchitectureFacts

# the operations that select among features (a maximum over a window is a maximum over stored rows' scores)
SELECTING = (MaxPool2d,)


def _named(op: Op, index: int) -> str:
    return f"`{op.layer}` ({op.op})" if op.layer else f"operation {index + 1} ({op.op})"


def refused_in_dense_lab(network: NumpyNetwork) -> str | None:
    """Why a fully-connected lab refuses this network, or None: pooling over a dense layer's outputs (each output
    one stored row's score) selects among rows. Pooling over an image or a convolution's feature map is spatial; a
    convolutional network is then told by its check that the lab wants fully-connected ones."""
    last = None
    for index, op in enumerate(network.source.ops):
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
