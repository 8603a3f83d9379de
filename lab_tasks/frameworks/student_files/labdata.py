"""Data for the "Classification with PyTorch/TensorFlow" lab, read from the files next to this module.

    import labdata
    (x_train, y_train), (x_test, y_test) = labdata.load_mnist()   # uint8 images 28x28, labels 0..9
    x_iris, y_iris = labdata.load_iris()                           # 4 float features, labels 0..2

The MNIST test part is the visible half of the official test set; use it (or a slice of the training set) for
validation. The grader evaluates your networks on data you never see.
"""

import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def load_mnist(flatten=False, scale=False):
    """((x_train, y_train), (x_test, y_test)); `flatten` gives 784-long rows, `scale` floats in [0, 1]."""
    with np.load(os.path.join(HERE, "mnist.npz"), allow_pickle=False) as archive:
        x_train, y_train = archive["x_train"], archive["y_train"]
        x_test, y_test = archive["x_test"], archive["y_test"]
    if flatten:
        x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    if scale:
        x_train, x_test = x_train.astype(np.float32) / 255.0, x_test.astype(np.float32) / 255.0
    return (x_train, y_train), (x_test, y_test)


def load_iris():
    """(x, y): the 120 visible Iris rows (features as float32, labels as int64)."""
    with np.load(os.path.join(HERE, "iris.npz"), allow_pickle=False) as archive:
        return archive["x_train"], archive["y_train"]
