"""Cells written here after the patterns real students' notebooks of this lab taught (see docs/grading.md).

Each imitates how a notebook of the corpus keeps its networks and histories, in a few seconds of training.
"""

LOAD = """
import numpy as np
import torch
from torch import nn
import labdata

torch.manual_seed(0)
x_iris, y_iris = labdata.load_iris()
(x_train, y_train), (x_test, y_test) = labdata.load_mnist()
Xtr = torch.tensor(x_train.reshape(len(x_train), -1) / 255.0, dtype=torch.float32)
Ytr = torch.tensor(y_train, dtype=torch.long)
Xva = torch.tensor(x_test.reshape(len(x_test), -1) / 255.0, dtype=torch.float32)
Yva = torch.tensor(y_test, dtype=torch.long)

def fit_iris(net, steps):
    X = torch.tensor((x_iris - x_iris.min(axis=0)) / (x_iris.max(axis=0) - x_iris.min(axis=0)), dtype=torch.float32)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(X), torch.tensor(y_iris)).backward()
        optimizer.step()
"""

# tvboelens: `net2` is an Iris network, then the name is reused for an MNIST network; per-epoch losses kept as
# `train_loss3`/`val_loss3`, and the best network of a role is one of several the notebook trained
IRIS_NET2 = """
net2 = nn.Sequential(nn.Linear(4, 50), nn.ReLU(), nn.Linear(50, 3))
fit_iris(net2, 300)
"""

MNIST_NETS_WITH_PAIRED_LISTS = """
def train_model(net, epochs, lr=1e-3):
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    train_loss, val_loss = [], []
    for epoch in range(epochs):
        net.train()
        for start in range(0, len(Xtr), 100):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(net(Xtr[start:start + 100]), Ytr[start:start + 100])
            loss.backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            train_loss.append(nn.functional.cross_entropy(net(Xtr), Ytr).item())
            val_loss.append(nn.functional.cross_entropy(net(Xva), Yva).item())
    return train_loss, val_loss

net2 = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))
train_loss2, val_loss2 = train_model(net2, 1, lr=1e-4)
net3 = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
train_loss3, val_loss3 = train_model(net3, 4)
"""

# lukespowerconverters / cjdevx-ai: one global `model` rebuilt and re-fitted cell after cell; here the best Iris
# network is an earlier one, so only the snapshot taken after its cell holds it
IRIS_MODEL_REFITTED = [
    """
model = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 3))
fit_iris(model, 300)
""",
    """
model = nn.Linear(4, 3)
fit_iris(model, 3)
""",
]

# ayseberfinozcubuk: per-epoch [loss, val_acc] rows, no validation loss
MNIST_ROWS_OF_LOSS_AND_ACCURACY = """
mnist_net = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
optimizer = torch.optim.Adam(mnist_net.parameters(), lr=1e-3)
epoch_data = []
for epoch in range(3):
    for start in range(0, len(Xtr), 100):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(mnist_net(Xtr[start:start + 100]), Ytr[start:start + 100])
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        val_acc = (mnist_net(Xva).argmax(1) == Yva).float().mean().item()
    epoch_data.append([loss, val_acc])
"""

# KalebKei / moonlovelj: another dataset than the lab's; its download fails in the sandbox
FASHION_MNIST = """
import keras
(fx_train, fy_train), (fx_test, fy_test) = keras.datasets.fashion_mnist.load_data()
"""

# SuchanTso: a training loop that outlasts the cell limit (200 epochs at batch size 8); the network is global
ENDLESS_TRAINING = """
mnist_multi_model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
optimizer = torch.optim.SGD(mnist_multi_model.parameters(), lr=0.05)
steps = 0
while True:
    for start in range(0, len(Xtr), 8):
        optimizer.zero_grad()
        nn.functional.cross_entropy(mnist_multi_model(Xtr[start:start + 8]), Ytr[start:start + 8]).backward()
        optimizer.step()
        steps += 1
"""

AFTER_THE_LIMIT = """
print('this cell runs after the interrupted one')
"""
