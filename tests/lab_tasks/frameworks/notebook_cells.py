"""Cells of the test notebooks: the contract in PyTorch and Keras, deliberate mistakes, and curriculum-style code."""

TORCH_IRIS = """
import copy
import numpy as np
import torch
from torch import nn
import labdata

x_iris, y_iris = labdata.load_iris()
iris_mean, iris_std = x_iris.mean(axis=0), x_iris.std(axis=0)

def preprocess_iris(X):
    return ((X - iris_mean) / iris_std).astype(np.float32)

iris_model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
optimizer = torch.optim.Adam(iris_model.parameters(), lr=0.02)
X, Y = torch.tensor(preprocess_iris(x_iris)), torch.tensor(y_iris)
for _ in range(300):
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(iris_model(X), Y)
    loss.backward()
    optimizer.step()
"""

TORCH_MNIST = """
(x_train, y_train), (x_test, y_test) = labdata.load_mnist()

def preprocess_mnist(X):
    return X.reshape(len(X), -1).astype(np.float32) / 255.0

Xtr, Ytr = torch.tensor(preprocess_mnist(x_train)), torch.tensor(y_train, dtype=torch.long)
Xva, Yva = torch.tensor(preprocess_mnist(x_test)), torch.tensor(y_test, dtype=torch.long)

def train(model, epochs, patience=None, batch=100, lr=1e-3):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history, best = {'loss': [], 'val_loss': []}, (float('inf'), None)
    for epoch in range(epochs):
        model.train()
        order, total = torch.randperm(len(Xtr)), 0.0
        for start in range(0, len(Xtr), batch):
            rows = order[start:start + batch]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(Xtr[rows]), Ytr[rows])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        model.eval()
        with torch.no_grad():
            val_loss = nn.functional.cross_entropy(model(Xva), Yva).item()
        history['loss'].append(total / len(Xtr))
        history['val_loss'].append(val_loss)
        if val_loss < best[0]:
            best = (val_loss, copy.deepcopy(model.state_dict()))
        elif patience is not None and len(history['val_loss']) - 1 - int(np.argmin(history['val_loss'])) >= patience:
            break
    if patience is not None:
        model.load_state_dict(best[1])
    return history
"""

TORCH_SINGLE = """
mnist_single_model = nn.Linear(784, 10)
train(mnist_single_model, 3)
print('single-layer network trained')
"""

TORCH_MULTI = """
mnist_multi_model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))
mnist_multi_history = train(mnist_multi_model, 30, patience=3)
"""

TORCH_CNN_AS_MULTI = """
mnist_multi_model = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Flatten(), nn.Linear(8 * 12 * 12, 10))
mnist_multi_history = train(mnist_multi_model, 30, patience=3)
"""

TORCH_TWO_LAYERS_AS_SINGLE = """
mnist_single_model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
train(mnist_single_model, 3)
print('two-layer network trained')
"""

TORCH_MULTI_200_EPOCHS = """
mnist_multi_model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
mnist_multi_history = train(mnist_multi_model, 200, batch=1000)
"""

TORCH_MULTI_WITHOUT_HISTORY = """
mnist_multi_model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))
train(mnist_multi_model, 30, patience=3)
print('multi-layer network trained')
"""

TORCH_ONE_CLASS_IRIS = """
iris_model = nn.Linear(4, 3)
with torch.no_grad():
    iris_model.weight.zero_()
    iris_model.bias.copy_(torch.tensor([0.0, 0.0, 1.0]))
"""

RAISE_IN_PART_2 = """
(x_train, y_train), (x_test, y_test) = labdata.load_mnist()
raise ValueError('the training images do not fit the network')
"""

KERAS_LOGITS = """
import numpy as np
import keras
import labdata

x_iris, y_iris = labdata.load_iris()
iris_mean, iris_std = x_iris.mean(axis=0), x_iris.std(axis=0)

def preprocess_iris(X):
    return ((X - iris_mean) / iris_std).astype(np.float32)

loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
iris_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation='relu'), keras.layers.Dense(3)])
iris_model.compile(optimizer=keras.optimizers.Adam(0.02), loss=loss)
iris_model.fit(preprocess_iris(x_iris), y_iris, epochs=300, batch_size=120, verbose=0)

(x_train, y_train), (x_test, y_test) = labdata.load_mnist(flatten=True, scale=True)
mnist_single_model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10)])
mnist_single_model.compile(optimizer='adam', loss=loss)
mnist_single_model.fit(x_train, y_train, epochs=3, batch_size=100, verbose=0)

mnist_multi_model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(128, activation='relu'),
                                      keras.layers.Dropout(0.3), keras.layers.Dense(10)])
mnist_multi_model.compile(optimizer='adam', loss=loss)
stop = keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)
mnist_multi_history = mnist_multi_model.fit(x_train, y_train, epochs=20, batch_size=100,
                                            validation_data=(x_test, y_test), callbacks=[stop], verbose=0)
"""

CURRICULUM_TORCH = [
    """
import numpy as np
import torch
from torch import nn
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

iris = load_iris()
features, labels = iris['data'], iris['target']
features = (features - features.mean(axis=0)) / features.std(axis=0)
x_tr, x_te, y_tr, y_te = train_test_split(features, labels, test_size=0.2, random_state=0)
net = nn.Sequential(nn.Linear(4, 10), nn.Sigmoid(), nn.Linear(10, 3))
optim = torch.optim.Adam(net.parameters(), lr=0.01)
for epoch in range(500):
    optim.zero_grad()
    out = net(torch.tensor(x_tr, dtype=torch.float32))
    loss = nn.functional.cross_entropy(out, torch.tensor(y_tr))
    loss.backward()
    optim.step()
""",
    """
# read the files torchvision.datasets.MNIST(root='./data', download=True) would read
def read_idx(path):
    raw = open(path, 'rb').read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)

data_train = read_idx('./data/MNIST/raw/train-images-idx3-ubyte')
labels_train = read_idx('./data/MNIST/raw/train-labels-idx1-ubyte')
data_test = read_idx('./data/MNIST/raw/t10k-images-idx3-ubyte')
labels_test = read_idx('./data/MNIST/raw/t10k-labels-idx1-ubyte')
normalize = lambda x: torch.tensor((x / 255.0 - 0.1307) / 0.3081, dtype=torch.float32)
train_x, train_y = normalize(data_train), torch.tensor(labels_train, dtype=torch.long)
test_x, test_y = normalize(data_test), torch.tensor(labels_test, dtype=torch.long)

def train(net, epochs=10, lr=0.001, stop_after=None):
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    res = {'train_loss': [], 'train_acc': [], 'val_loss': [], 'val_acc': []}
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(len(train_x))
        total = 0.0
        for i in range(0, len(train_x), 64):
            idx = perm[i:i + 64]
            optimizer.zero_grad()
            l = nn.functional.cross_entropy(net(train_x[idx]), train_y[idx])
            l.backward()
            optimizer.step()
            total += l.item() * len(idx)
        net.eval()
        with torch.no_grad():
            out = net(test_x)
        res['train_loss'].append(total / len(train_x))
        res['train_acc'].append(0.0)
        res['val_loss'].append(nn.functional.cross_entropy(out, test_y).item())
        res['val_acc'].append((out.argmax(1) == test_y).float().mean().item())
        print(f"Epoch {ep:2}, Train loss={res['train_loss'][-1]:.3f}, Val loss={res['val_loss'][-1]:.3f}")
        if stop_after and ep - int(np.argmin(res['val_loss'])) >= stop_after:
            break
    return res
""",
    """
net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.LogSoftmax(dim=1))
hist_single = {'loss_history': train(net, epochs=3)['val_loss']}
""",
    """
net2 = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10), nn.LogSoftmax(dim=1))
hist = train(net2, epochs=30, stop_after=2)
""",
]

CURRICULUM_KERAS = [
    """
import numpy as np
import tensorflow as tf
from tensorflow import keras
from sklearn.datasets import load_iris

iris = load_iris()
features, labels = iris['data'], iris['target']
features = (features - features.mean(axis=0)) / features.std(axis=0)
model = keras.models.Sequential()
model.add(keras.layers.Dense(10, activation='relu', input_shape=(4,)))
model.add(keras.layers.Dense(3, activation='softmax'))
model.compile(optimizer=keras.optimizers.Adam(0.03), loss='sparse_categorical_crossentropy', metrics=['acc'])
model.fit(features, labels, epochs=50, batch_size=16, verbose=0)
""",
    """
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path="mnist.npz")
x_train, x_test = x_train / 255.0, x_test / 255.0
model = keras.models.Sequential([keras.layers.Flatten(input_shape=(28, 28)),
                                 keras.layers.Dense(10, activation='softmax')])
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['acc'])
hist_single = model.fit(x_train, y_train, validation_data=(x_test, y_test), epochs=3, verbose=0)
""",
    """
model2 = keras.models.Sequential([
    keras.layers.Flatten(input_shape=(28, 28)),
    keras.layers.Dense(100, activation='relu'),
    keras.layers.Dropout(0.3),
    keras.layers.Dense(10, activation='softmax')])
model2.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['acc'])
hist = model2.fit(x_train, y_train, validation_data=(x_test, y_test), epochs=30, verbose=0,
                  callbacks=[keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)])
""",
]

# After Keras (TensorFlow loaded): torchvision imports torch._dynamo, which loads Triton's libtriton, the library whose
# LLVM clashed with TensorFlow's (the kernel died of a segfault; see docs/grading.md). The cell asserts that the clash
# is exercised, so the test that uses it notices when an environment stops loading either library.
TORCHVISION_AFTER_KERAS = """
import copy
import sys
import torch
from torch import nn
import torchvision
from torchvision import transforms

assert 'tensorflow' in sys.modules and 'triton._C.libtriton' in sys.modules
print(tuple(transforms.ToTensor()(x_train[:1].reshape(28, 28, 1)).shape))
"""
