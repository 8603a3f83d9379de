"""A regression dataset's data: prepared from scikit-learn's diabetes loader with a seeded random split, and imported
from an instructor's CSV whose target column holds numbers; the targets stay float64 in both parts, and the visible
part (what the kernel gets) holds none of the hidden rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grader.data.lab_data import LabData
from grader.data.prepare import prepare_dataset
from grader.data.private import import_private_data, undeclared_split
from grader.errors import DatasetError
from grader.spec.dataset import DatasetSpec

DIABETES = DatasetSpec(id="diabetes", title="diabetes", target="progression", input_shape=(10,), dtype="float64",
                       source={"sklearn": "load_diabetes"}, split={"kind": "random", "held_out": 0.2})
HOUSES = DatasetSpec(id="houses", title="houses", target="price", input_shape=(2,))


def test_a_scikit_learn_regression_source_is_split_at_random_with_float_targets(tmp_path: Path) -> None:
    from sklearn.datasets import load_diabetes

    lab = LabData(tmp_path, "diabetes")
    provenance = prepare_dataset(lab, DIABETES)
    assert provenance is not None
    assert (provenance["split"], provenance["classes"]) == ("random, seed 20241130, 88 of 442 rows hidden", [])
    with np.load(lab.visible / "diabetes.npz") as visible, np.load(lab.hidden / "diabetes.npz") as hidden:
        assert sorted(visible.files) == ["x_train", "y_train"]
        assert (visible["y_train"].dtype, hidden["y"].dtype, len(visible["y_train"]), len(hidden["y"])) == (
            np.float64, np.float64, 354, 88)
        source = load_diabetes()
        together = np.concatenate([visible["y_train"], hidden["y"]])
        assert sorted(together.tolist()) == sorted(source.target.tolist())
        seen = {row.tobytes() for row in visible["x_train"]}
        assert not any(row.tobytes() in seen for row in hidden["x"])
    assert lab.hidden_split("diabetes").y.dtype == np.float64
    assert lab.training_sample("diabetes").y.dtype == np.float64


def test_a_csv_with_a_numeric_target_column_is_imported_as_regression(tmp_path: Path) -> None:
    rows = ["size,price,rooms"] + [f"{i},{100.5 + i * 2.25},{i % 4}" for i in range(50)]
    (tmp_path / "houses.csv").write_text("\n".join(rows) + "\n")
    lab = LabData(tmp_path / "data", "houses")
    line = import_private_data(lab, HOUSES, tmp_path / "houses.csv")
    assert line == (f"imported {tmp_path / 'houses.csv'} as dataset houses of lab houses: 40 visible rows "
                    "(./data/houses.npz in every job), 10 hidden rows (never in a sandbox), target price, inputs "
                    "(2,); split random, seed 20241130, 10 of 50 rows hidden")
    split = lab.hidden_split("houses")
    assert split.y.dtype == np.float64
    # the target column is the one named like the target, not the last; the features are the other two
    assert all(y == 100.5 + size * 2.25 for (size, _), y in zip(split.x.tolist(), split.y.tolist(), strict=True))
    assert json.loads((lab.root / "provenance-houses.json").read_text())["classes"] == []


def test_a_target_that_is_not_a_number_is_refused_with_its_column(tmp_path: Path) -> None:
    (tmp_path / "houses.csv").write_text("size,rooms,price\n1,2,cheap\n2,3,4.5\n3,1,7\n")
    with pytest.raises(DatasetError) as caught:
        import_private_data(LabData(tmp_path / "data", "houses"), HOUSES, tmp_path / "houses.csv")
    assert str(caught.value) == (f"{tmp_path / 'houses.csv'}: column 'price' is the target 'price' of a regression "
                                 "dataset, and a value is not a number (could not convert string to float: 'cheap')")


def test_labs_validate_announces_the_random_split_of_an_undeclared_regression_import() -> None:
    assert undeclared_split(HOUSES) == (
        "dataset houses: no [datasets.split] declared: an imported file with a test part (x_test and y_test, or "
        "train/ and test/ folders) is hidden as given; any other is split at random (a regression dataset), 0.2 of "
        "the rows hidden (datasets import --hidden-fraction), seed 20241130")
    assert DIABETES.regression_note() == (
        "dataset diabetes: regression: the target 'progression' is a number per row (float64); split random, 0.2 of "
        "the rows hidden, seed 20241130; the kernel sees only the visible rows (./data/diabetes.npz: x_train, "
        "y_train); a network has one output, its prediction in the target's own units, graded by mse, mae or r2")


def test_an_npz_with_a_test_part_keeps_it_hidden_as_given(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=30) * 100
    np.savez(tmp_path / "houses.npz", x_train=x[:20], y_train=y[:20], x_test=x[20:], y_test=y[20:])
    lab = LabData(tmp_path / "data", "houses")
    assert import_private_data(lab, HOUSES, tmp_path / "houses.npz").endswith(
        "20 visible rows (./data/houses.npz in every job), 10 hidden rows (never in a sandbox), target price, inputs "
        "(2,); split as given: 10 test rows hidden")
    assert lab.hidden_split("houses").y.tolist() == y[20:].tolist()
    with np.load(lab.visible / "houses.npz") as visible:
        assert visible["y_train"].tolist() == y[:20].tolist()
