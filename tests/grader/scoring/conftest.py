"""What the scoring tests share: a frameworks lab whose hidden and visible MNIST files hold blank images and known
labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.data.lab_data import LabData

HIDDEN_Y = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 10)  # 100 hidden labels
TRAIN_Y = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 5)  # 50 visible training labels


@pytest.fixture
def lab(tmp_path: Path) -> LabData:
    lab = LabData(tmp_path, "frameworks")
    lab.hidden.mkdir(parents=True)
    lab.visible.mkdir(parents=True)
    np.savez(lab.hidden / "mnist.npz", x=np.zeros((100, 28, 28), np.uint8), y=HIDDEN_Y)
    np.savez(lab.visible / "mnist.npz", x_train=np.zeros((50, 28, 28), np.uint8), y_train=TRAIN_Y)
    return lab
