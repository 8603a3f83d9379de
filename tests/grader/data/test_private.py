"""An instructor's CSV or .npz whose labels are class numbers while the dataset declares class names: the numbers
are indices into the declared classes (0 is the first declared), and numbers that cannot be are refused with the fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grader.data.lab_data import LabData
from grader.data.private import import_private_data
from grader.errors import DatasetError
from grader.spec.dataset import DatasetSpec

CANCER = DatasetSpec(id="cancer", title="Breast cancer", classes=("malignant", "benign"))


def write_csv(path: Path, labels: list[str]) -> None:
    """Row i has features (i, 2i) and label labels[i % len(labels)]; 20 rows."""
    rows = [f"{i},{2 * i},{labels[i % len(labels)]}" for i in range(20)]
    path.write_text("radius,texture,target\n" + "\n".join(rows) + "\n")


def test_csv_numbers_are_indices_into_the_declared_classes(tmp_path: Path) -> None:
    write_csv(tmp_path / "cancer.csv", ["0", "1", "1", "1"])
    lab = LabData(tmp_path / "data", "cancer")
    summary = import_private_data(lab, CANCER, tmp_path / "cancer.csv")
    assert summary.endswith("16 visible rows (./data/cancer.npz in every job), 4 hidden rows (never in a sandbox), "
                            "2 classes, inputs (2,); split stratified, seed 20241130, 4 of 20 rows hidden")
    with np.load(lab.visible / "cancer.npz") as visible, np.load(lab.hidden / "cancer.npz") as hidden:
        x = np.concatenate([visible["x_train"], hidden["x"]])
        y = np.concatenate([visible["y_train"], hidden["y"]])
    # the label stays the number written: 0 (rows 0, 4, 8, ...) is malignant, the first declared class
    assert sorted(x[y == 0][:, 0].astype(int).tolist()) == [0, 4, 8, 12, 16]
    assert np.bincount(y).tolist() == [5, 15]
    assert json.loads((lab.root / "provenance-cancer.json").read_text())["classes"] == ["malignant", "benign"]


def test_csv_names_are_numbered_in_declared_order_not_sorted(tmp_path: Path) -> None:
    write_csv(tmp_path / "cancer.csv", ["malignant", "benign", "benign", "benign"])
    lab = LabData(tmp_path / "data", "cancer")
    import_private_data(lab, CANCER, tmp_path / "cancer.csv")
    with np.load(lab.visible / "cancer.npz") as visible, np.load(lab.hidden / "cancer.npz") as hidden:
        x = np.concatenate([visible["x_train"], hidden["x"]])
        y = np.concatenate([visible["y_train"], hidden["y"]])
    assert sorted(x[y == 0][:, 0].astype(int).tolist()) == [0, 4, 8, 12, 16]


def test_numbers_that_are_not_indices_are_refused_with_the_fix(tmp_path: Path) -> None:
    write_csv(tmp_path / "cancer.csv", ["1", "2"])
    with pytest.raises(DatasetError) as refused:
        import_private_data(LabData(tmp_path / "data", "cancer"), CANCER, tmp_path / "cancer.csv")
    assert str(refused.value) == (
        f"{tmp_path / 'cancer.csv'}: the labels are numbers (1, 2), but dataset cancer declares 2 classes and a "
        "number is an index into them (0 = malignant, 1 = benign): renumber the labels 0..1 in that order, or write "
        "the class names in the label column")
    np.savez(tmp_path / "split.npz", x_train=np.zeros((4, 2)), y_train=np.array([0, 1, 0, 1]),
             x_test=np.zeros((2, 2)), y_test=np.array([0, -1]))
    with pytest.raises(DatasetError) as negative:
        import_private_data(LabData(tmp_path / "data", "cancer"), CANCER, tmp_path / "split.npz")
    assert "the labels are numbers (-1, 0, 1), but dataset cancer declares 2 classes" in str(negative.value)
    assert not (tmp_path / "data").exists()


def test_classes_named_by_numbers_in_another_order_are_ambiguous(tmp_path: Path) -> None:
    write_csv(tmp_path / "grades.csv", ["0", "1"])
    swapped = DatasetSpec(id="grades", title="Grades", classes=("1", "0"))
    with pytest.raises(DatasetError) as refused:
        import_private_data(LabData(tmp_path / "data", "grades"), swapped, tmp_path / "grades.csv")
    assert str(refused.value) == (
        f"{tmp_path / 'grades.csv'}: the labels are numbers and dataset grades declares classes named by numbers in "
        'another order (1, 0); a label would mean the class at that index, not the class of that name: declare '
        'classes = ["0", "1"], or give them names that are not numbers')
    in_order = DatasetSpec(id="grades", title="Grades", classes=("0", "1"))
    assert "2 classes" in import_private_data(LabData(tmp_path / "data", "grades"), in_order,
                                              tmp_path / "grades.csv")


def test_a_csv_keeps_float64_when_the_dataset_declares_it(tmp_path: Path) -> None:
    """A CSV's values are read as float64 and stored in the declared dtype; float32 only when none is declared."""
    rows = [f"{i}.123456789012345,{i % 2}" for i in range(20)]
    (tmp_path / "precise.csv").write_text("radius,target\n" + "\n".join(rows) + "\n")
    for declared, dtype, exact in (("float64", np.float64, True), (None, np.float32, False)):
        lab = LabData(tmp_path / f"data-{declared}", "cancer")
        import_private_data(lab, CANCER.model_copy(update={"dtype": declared}), tmp_path / "precise.csv")
        with np.load(lab.visible / "cancer.npz") as visible, np.load(lab.hidden / "cancer.npz") as hidden:
            x = np.concatenate([visible["x_train"], hidden["x"]])
        assert x.dtype == dtype
        values = sorted(float(v) for v in x[:, 0])
        assert (values == [float(f"{i}.123456789012345") for i in range(20)]) is exact
