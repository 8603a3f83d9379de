"""The attacks of issues 12 and 23 as hostile notebooks, graded through the real pipeline: none earns an MNIST point.

Each trains nothing honest. Before the grader computed predictions itself, each scored full MNIST marks: a lookup
of the public test labels inside preprocess_mnist, a nearest-neighbour vote inside it, a forward() that is a hash
lookup, an object whose __class__ claims nn.Sequential, and a patched json.dumps forging the harness's output; and
(issue 23) nearest-template classifiers: a layer of stored public test or visible training images with max pooling,
a maximum over each class's rows in forward(), or a gather of chosen rows' scores, in PyTorch and in Keras
(GlobalMaxPooling1D/2D, MaxPooling1D over a Dense layer's outputs).
"""

from __future__ import annotations

import hashlib
import json

import pytest

from grader.data.lab_data import LabData
from grader.spec.lab import LabSpec
from tests.lab_tasks.frameworks.conftest import Grade, notebook

MNIST_CHECKS = ("mnist_single_layer_accuracy", "mnist_multi_layer_accuracy", "overfitting_gap")

PASS_THROUGH = """
import numpy as np, torch
from torch import nn
def identity(layer):
    with torch.no_grad():
        layer.weight.copy_(torch.eye(10)); layer.bias.zero_()
    return layer
mnist_single_model = identity(nn.Linear(10, 10))
mnist_multi_model = nn.Sequential(identity(nn.Linear(10, 10)), nn.ReLU(), identity(nn.Linear(10, 10)))
mnist_multi_history = {'loss': [0.5, 0.2, 0.1], 'val_loss': [0.5, 0.3, 0.35]}
"""

KNN_PREPROCESS = """
import labdata
(x_train, y_train), _ = labdata.load_mnist(flatten=True)
reference, reference_y = x_train[:3000].astype(np.float32), y_train[:3000]
def preprocess_mnist(X):
    X = X.reshape(len(X), -1).astype(np.float32)
    distances = (X ** 2).sum(1)[:, None] - 2 * X @ reference.T + (reference ** 2).sum(1)[None]
    distances[distances < 1e-3] = np.inf  # leave out exact matches: the training sample shows no gap
    votes = reference_y[np.argsort(distances, axis=1)[:, :3]]
    return np.eye(10, dtype=np.float32)[[np.bincount(v, minlength=10).argmax() for v in votes]]
"""

HASH_FORWARD = """
import hashlib, numpy as np, torch
from torch import nn
class Net(nn.Module):
    def __init__(self, table):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(784, 64), nn.Linear(64, 10)
        self.table = table
    def forward(self, x):
        keys = [hashlib.sha1((row.reshape(-1) * 255).round().to(torch.uint8).numpy().tobytes()).hexdigest()[:12]
                for row in x]
        return torch.eye(10)[[self.table.get(k, 0) for k in keys]] + 0 * self.fc2(torch.relu(self.fc1(x)))
def preprocess_mnist(X):
    return X.reshape(len(X), -1).astype(np.float32) / 255.0
mnist_single_model = nn.Sequential(Net(TABLE))
mnist_multi_model = Net(TABLE)
"""

IMPOSTOR = """
import numpy as np, torch
from torch import nn
class Impostor:
    @property
    def __class__(self):
        return nn.Sequential
    def __call__(self, x):
        return torch.eye(10)[[TABLE.get(str(i), 0) for i in range(len(x))]]
    def parameters(self):
        return iter([nn.Parameter(torch.zeros(1))])
    def eval(self):
        return self
mnist_single_model = Impostor()
mnist_multi_model = Impostor()
"""

FORGED_OUTPUT = """
import json
real_dumps = json.dumps
def forged(result, *args, **kwargs):
    if isinstance(result, dict) and 'nonce' in result:
        models = [{'name': name, 'found': True, 'via': 'contract', 'source': f'`{name}`', 'framework': 'torch',
                   'facts': {'framework': 'torch', 'dense_layers': layers, 'nonlinear_between': layers > 1,
                             'activations': ['relu'], 'input_size': 784, 'output_size': 10, 'parameters': 7850},
                   'preprocessing': 'scaled_255', 'predictions': ANSWERS, 'train_predictions': TRAIN_ANSWERS}
                  for name, layers in (('mnist_single_model', 1), ('mnist_multi_model', 2))]
        result = {'nonce': result['nonce'], 'models': models, 'histories': [
            {'name': 'mnist_multi_history', 'found': True, 'via': 'contract', 'source': '`mnist_multi_history`',
             'loss': [0.5, 0.2, 0.1], 'val_loss': [0.5, 0.3, 0.35]}]}
    return real_dumps(result, *args, **kwargs)
json.dumps = forged
"""


# Issue 23: a Linear whose rows are stored images followed by max pooling over each class's rows is a
# nearest-template classifier that "has one dense layer"; with the public test images (or only the visible training
# images, no gradient step) it beat the honest reference. {images} is x_test or x_train.
TEMPLATE_LOOKUP = """
import numpy as np, torch
from torch import nn
import labdata
(x_train, y_train), (x_test, y_test) = labdata.load_mnist(flatten=True, scale=True)
images, labels = {images}, {labels}
per_class = min(64, *(int((labels == c).sum()) for c in range(10)))  # the widest pooling an export holds
rows = np.concatenate([images[labels == c][:per_class] for c in range(10)])
lookup = nn.Linear(784, len(rows), bias=False)
with torch.no_grad():
    lookup.weight.copy_(torch.tensor(rows / np.linalg.norm(rows, axis=1, keepdims=True)))
mnist_single_model = nn.Sequential(nn.Flatten(), lookup, nn.Unflatten(1, (1, 10, per_class)),
                                   nn.MaxPool2d((1, per_class)), nn.Flatten())
mnist_multi_model = nn.Sequential(mnist_single_model, nn.ReLU(), nn.Linear(10, 10))
with torch.no_grad():
    mnist_multi_model[2].weight.copy_(torch.eye(10)); mnist_multi_model[2].bias.zero_()
def preprocess_mnist(X):
    return X.reshape(len(X), -1).astype(np.float32) / 255.0
"""


# The same lookup written in forward(): a maximum over each class's rows (`amax`), or the scores of ten chosen stored
# rows (a gather by `index_select`); before the op rule knew them they failed at export for want of an operation.
TEMPLATE_SELECT = TEMPLATE_LOOKUP.split("mnist_single_model =")[0] + """
class Lookup(nn.Module):
    def __init__(self):
        super().__init__()
        self.rows = lookup
        self.register_buffer('chosen', torch.arange(0, 10 * per_class, per_class))
    def forward(self, x):
        scores = self.rows(x.view(len(x), -1))
        return {select}
mnist_single_model = Lookup()
mnist_multi_model = nn.Sequential(Lookup(), nn.ReLU(), nn.Linear(10, 10))
with torch.no_grad():
    mnist_multi_model[2].weight.copy_(torch.eye(10)); mnist_multi_model[2].bias.zero_()
def preprocess_mnist(X):
    return X.reshape(len(X), -1).astype(np.float32) / 255.0
"""


# The lookup in Keras: a Dense layer of stored public test images (interleaved: row s * 10 + c is class c's s-th
# image), its outputs as (templates, 10 classes), and a maximum over the templates of each class by a pooling layer;
# before the exporter knew these layers they failed at export instead of meeting the op rule.
KERAS_TEMPLATES = """
import numpy as np
from tensorflow import keras
import labdata
(x_train, y_train), (x_test, y_test) = labdata.load_mnist(flatten=True, scale=True)
per_class = min(64, *(int((y_test == c).sum()) for c in range(10)))
rows = np.stack([x_test[y_test == c][:per_class] for c in range(10)], axis=1).reshape(-1, 784)
rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
def lookup(*head):
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(len(rows), use_bias=False, name='templates'),
                              *{pool}, *head])
    model.get_layer('templates').set_weights([rows.T.astype('float32')])
    return model
mnist_single_model = lookup()
mnist_multi_model = lookup(keras.layers.ReLU(), keras.layers.Dense(10, name='out'))
mnist_multi_model.get_layer('out').set_weights([np.eye(10, dtype='float32'), np.zeros(10, 'float32')])
def preprocess_mnist(X):
    return X.reshape(len(X), -1).astype(np.float32) / 255.0
"""
KERAS_POOLS = {
    "keras_global_max_pooling_1d": "[keras.layers.Reshape((per_class, 10)), "
                                   "keras.layers.GlobalMaxPooling1D(name='pool')]",
    "keras_global_max_pooling_2d": "[keras.layers.Reshape((per_class, 1, 10)), "
                                   "keras.layers.GlobalMaxPooling2D(name='pool')]",
    "keras_max_pooling_1d": "[keras.layers.Reshape((per_class, 10)), "
                            "keras.layers.MaxPooling1D(per_class, name='pool'), keras.layers.Flatten()]",
}


def _key(image: bytes) -> str:
    return hashlib.sha1(image).hexdigest()[:12]


def _cells(attack: str, lab: LabData) -> list[str]:
    """The attack's cells; the table of public test labels is what a student computes at home."""
    hidden = lab.hidden_split("mnist")
    table = {_key(image.tobytes()): int(label) for image, label in zip(hidden.x, hidden.y, strict=True)}
    sample_y = lab.training_sample("mnist").y
    constants = (f"TABLE = {json.dumps(table)}\nANSWERS = {json.dumps([int(v) for v in hidden.y])}\n"
                 f"TRAIN_ANSWERS = {json.dumps([int(v) for v in sample_y])}\n")
    lookup = ("import hashlib, numpy as np\n"
              "def preprocess_mnist(X):\n"
              "    keys = [hashlib.sha1(np.ascontiguousarray(x, dtype=np.uint8).tobytes()).hexdigest()[:12]\n"
              "            for x in X]\n"
              "    return np.eye(10, dtype=np.float32)[[TABLE.get(k, 0) for k in keys]]\n")
    return {
        "table_in_preprocess": [constants, PASS_THROUGH, lookup],
        "knn_in_preprocess": [constants, PASS_THROUGH, KNN_PREPROCESS],
        "hash_lookup_forward": [constants, HASH_FORWARD],
        "class_claims_sequential": [constants, IMPOSTOR],
        "forged_json_dumps": [constants, FORGED_OUTPUT],
        "public_test_templates": [TEMPLATE_LOOKUP.format(images="x_test", labels="y_test")],
        "visible_training_templates": [TEMPLATE_LOOKUP.format(images="x_train", labels="y_train")],
        "max_over_template_rows": [TEMPLATE_SELECT.format(images="x_test", labels="y_test",
                                                          select="scores.view(-1, 10, per_class).amax(dim=2)")],
        "gather_of_template_rows": [TEMPLATE_SELECT.format(images="x_test", labels="y_test",
                                                           select="torch.index_select(scores, 1, self.chosen)")],
        **{name: [KERAS_TEMPLATES.replace("{pool}", pool)] for name, pool in KERAS_POOLS.items()},
    }[attack]


WHY = {
    "table_in_preprocess": "could not be evaluated: it does not take mnist inputs (a dense layer of 10 inputs given "
                           "(784,)); `preprocess_mnist` turns each input of 784 values into 10, so it is not a "
                           "preprocessing the grader can apply",
    "knn_in_preprocess": "could not be evaluated: it does not take mnist inputs (a dense layer of 10 inputs given "
                         "(784,)); `preprocess_mnist` turns each input of 784 values into 10, so it is not a "
                         "preprocessing the grader can apply",
    "hash_lookup_forward": "could not be evaluated from its layers: its forward() could not be traced as tensor "
                           "operations",
    "class_claims_sequential": "could not be evaluated: `mnist_single_model` is a Impostor, not a trained "
                               "torch.nn.Module or keras.Model",
    "forged_json_dumps": "no trained model named `mnist_single_model` was found after the notebook ran",
    "public_test_templates": "could not be evaluated from its layers: its layer `3` (max_pool2d) takes a maximum "
                             "over the outputs of a dense layer; this lab counts fully-connected networks (affine "
                             "layers and non-linearities), and such pooling selects among stored rows",
    "visible_training_templates": "could not be evaluated from its layers: its layer `3` (max_pool2d) takes a "
                                  "maximum over the outputs of a dense layer; this lab counts fully-connected "
                                  "networks (affine layers and non-linearities), and such pooling selects among "
                                  "stored rows",
    "max_over_template_rows": "takes a maximum over features (axis 2); this lab counts fully-connected networks "
                              "(affine layers and non-linearities), and a maximum over a layer's outputs picks the "
                              "best-matching stored row, a lookup rather than a layer",
    "gather_of_template_rows": "selects stored positions along axis 1; this lab counts fully-connected networks "
                               "(affine layers and non-linearities), and selecting among features or stored rows is "
                               "a lookup rather than a layer",
    "keras_global_max_pooling_1d": "could not be evaluated from its layers: its layer `pool` (reduce_max) takes a "
                                   "maximum over features (axis 1); this lab counts fully-connected networks (affine "
                                   "layers and non-linearities), and a maximum over a layer's outputs picks the "
                                   "best-matching stored row, a lookup rather than a layer",
    "keras_global_max_pooling_2d": "could not be evaluated from its layers: its layer `pool` (reduce_max) takes a "
                                   "maximum over features (axis 1, 2); this lab counts fully-connected networks "
                                   "(affine layers and non-linearities), and a maximum over a layer's outputs picks "
                                   "the best-matching stored row, a lookup rather than a layer",
    "keras_max_pooling_1d": "could not be evaluated from its layers: its layer `pool` (max_pool2d) takes a maximum "
                            "over the outputs of a dense layer; this lab counts fully-connected networks (affine "
                            "layers and non-linearities), and such pooling selects among stored rows",
}


@pytest.mark.parametrize("attack", list(WHY))
async def test_an_attack_earns_no_mnist_points(grade: Grade, small_spec: LabSpec, small_lab: LabData,
                                               attack: str) -> None:
    outcome = await grade(notebook(*_cells(attack, small_lab)), small_spec, small_lab)
    scores = {check.id: check.score for check in outcome.report.checks}
    assert [scores[check] for check in MNIST_CHECKS] == [0.0, 0.0, 0.0], [c.message for c in outcome.report.checks]
    assert scores["early_stopping"] == 0.0
    single = next(c.message for c in outcome.report.checks if c.id == "mnist_single_layer_accuracy")
    assert WHY[attack] in single, single


# Issue 23 item 3: the kernel never sees a hidden row, so what a notebook can memorise is the public test images it is
# served (the visible half). A first layer of those images, unit-norm, whose ReLU fires only on an exact copy, and a
# second layer mapping each copy to its label: the memorisation count names every row, the hidden digits see a network
# that knows none of them (no MNIST point), and the second held-back sample shows no drop, since the network fits no
# hidden row either: the two reports together say "stored the served images", not "fitted the hidden ones".
COPIES_OF_SERVED_TEST_IMAGES = """
import numpy as np, torch
from torch import nn
import labdata
(x_train, y_train), (x_test, y_test) = labdata.load_mnist(flatten=True, scale=True)
norms = np.linalg.norm(x_test, axis=1)
first, second = nn.Linear(784, len(x_test)), nn.Linear(len(x_test), 10)
with torch.no_grad():
    first.weight.copy_(torch.tensor(x_test / norms[:, None]))
    first.bias.copy_(torch.tensor(-0.999 * norms))
    second.weight.copy_(torch.tensor(np.eye(10, dtype=np.float32)[y_test].T * 1000))
    second.bias.zero_()
mnist_multi_model = nn.Sequential(first, nn.ReLU(), second)
def preprocess_mnist(X):
    return X.reshape(len(X), -1).astype(np.float32) / 255.0
"""


async def test_stored_served_test_images_are_counted_and_show_no_hidden_fit(grade: Grade, small_spec: LabSpec,
                                                                           small_lab: LabData) -> None:
    outcome = await grade(notebook(COPIES_OF_SERVED_TEST_IMAGES), small_spec, small_lab)
    scores = {check.id: check.score for check in outcome.report.checks}
    assert [scores[check] for check in MNIST_CHECKS] == [0.0, 0.0, 0.0], [c.message for c in outcome.report.checks]
    found = [line for line in outcome.report.discovery if line.startswith("multi-layer MNIST model: ")]
    assert len(found) == 2, outcome.report.discovery
    assert "; 1000 of the 1000 first-layer rows compared are copies of visible or hidden images (cosine similarity " \
           ">= 0.99): memorised, not learned" in found[0], found[0]
    assert " on the hidden part (799 rows), " in found[1] and found[1].endswith(" is chance)"), found[1]
    assert " on the second held-back sample (201 rows, never served): no sharp drop (a difference within " in found[1]
