"""`serve.pickles`: the course's pickle layouts made from the visible part only, the same bytes on every machine, and
links where notebooks read them inside their folder (paths that climb out are the kernel start-up's)."""

from __future__ import annotations

import gzip
import hashlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.data.lab_data import LabData
from grader.data.serve import link_served_paths, served_description
from grader.data.sources import import_source
from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR
from tests.lab_data import SMALL_MNIST


def prepared(data_dir: Path, lab_id: str = "perceptron") -> LabData:
    spec = discover_labs(LABS_DIR)[lab_id]
    import_source(data_dir, {lab_id: spec}, SMALL_MNIST, "mnist.npz")
    return LabData(data_dir, lab_id)


def load(path: Path) -> Any:
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        return pickle.load(fh, encoding="latin1")  # as the course's notebooks read it


def row_digests(x: np.ndarray) -> set[str]:
    flat = np.asarray(x).reshape(len(x), -1).astype(np.int64)
    return {hashlib.sha256(row.tobytes()).hexdigest() for row in flat}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabData:
    return prepared(tmp_path_factory.mktemp("pickles"))


def test_the_course_dict_holds_the_visible_training_rows_as_raw_integers(lab: LabData) -> None:
    with np.load(lab.visible / "mnist.npz") as visible:
        x_train, y_train = visible["x_train"], visible["y_train"]
    for name in ("mnist.pkl.gz", "mnist.pkl"):
        mnist = load(lab.visible / name)
        features, labels = mnist["Train"]["Features"], mnist["Train"]["Labels"]
        # the subset has 6,000 training rows, fewer than the declared 42,000: all of them
        assert (list(mnist.keys()), list(mnist["Train"]), features.shape, features.dtype, labels.dtype) == (
            ["Train"], ["Features", "Labels"], (6000, 784), np.int64, np.int64)
        assert np.array_equal(features, x_train.reshape(6000, 784)) and np.array_equal(labels, y_train)
        assert "Train" in mnist and mnist.get("Test") is None


def test_the_course_file_names_also_read_as_nielsens_tuple(lab: LabData) -> None:
    # students who took Nielsen's file kept the course's name: `MNIST[0][0]`, `tr, va, te = pickle.load(f)`
    tuple_file = load(lab.visible / "mnist-tuple.pkl.gz")
    for name in ("mnist.pkl.gz", "mnist.pkl"):
        mnist = load(lab.visible / name)
        training, validation, test = mnist
        assert len(mnist) == 3 and mnist[0][0].dtype == np.float32 and mnist[2][1].dtype == np.int64
        for ours, nielsens in zip((training, validation, test), tuple_file, strict=True):
            assert np.array_equal(ours[0], nielsens[0]) and np.array_equal(ours[1], nielsens[1])
        assert repr(mnist) == ("<the course's dict (['Train']: 6000 rows) and Nielsen's (training, validation, "
                               "test) tuple (x / 256) in one>")


def test_nielsens_tuple_holds_floats_divided_by_256_and_the_visible_test_half(lab: LabData) -> None:
    with np.load(lab.visible / "mnist.npz") as visible:
        x_train, x_test, y_test = visible["x_train"], visible["x_test"], visible["y_test"]
    (train_x, train_y), (valid_x, _), (test_x, test_y) = load(lab.visible / "mnist-tuple.pkl.gz")
    assert (train_x.shape, valid_x.shape, test_x.shape, train_x.dtype, train_y.dtype) == (
        (6000, 784), (0, 784), (1000, 784), np.float32, np.int64)
    assert np.array_equal(train_x, x_train.reshape(6000, 784).astype(np.float32) / 256)
    assert float(train_x.max()) == 255 / 256 and np.array_equal(test_x * 256, x_test.reshape(1000, 784))
    assert np.array_equal(test_y, y_test)


def test_no_hidden_row_is_in_any_pickle(lab: LabData) -> None:
    second = lab.second_sample("mnist")  # the second held-back sample is as hidden as the rows the checks score
    assert second is not None
    hidden = row_digests(lab.hidden_split("mnist").x) | row_digests(second.x)
    (train_x, _), (valid_x, _), (test_x, _) = load(lab.visible / "mnist-tuple.pkl.gz")
    served = row_digests(load(lab.visible / "mnist.pkl")["Train"]["Features"])
    served |= row_digests(np.concatenate([train_x, valid_x, test_x]) * 256)
    for name in ("mnist.pkl", "mnist.pkl.gz"):  # the tuple side of the files of both layouts
        (train_x, _), (valid_x, _), (test_x, _) = load(lab.visible / name)
        served |= row_digests(np.concatenate([train_x, valid_x, test_x]) * 256)
    assert len(hidden) > 900 and not hidden & served


def test_the_files_are_the_same_bytes_on_every_machine_and_shared_between_labs(lab: LabData, tmp_path: Path) -> None:
    again = prepared(tmp_path, "own_framework")
    for name in ("mnist.pkl.gz", "mnist.pkl", "mnist-tuple.pkl.gz"):
        assert (again.visible / name).read_bytes() == (lab.visible / name).read_bytes()
        assert oct((lab.visible / name).stat().st_mode & 0o777) == "0o444"


def test_the_split_of_the_training_part_follows_train_rows(tmp_path: Path) -> None:
    lab_dir = tmp_path / "labs" / "split"
    lab_dir.mkdir(parents=True)
    (lab_dir / "starter.ipynb").write_text("{}")
    toml = (LABS_DIR / "perceptron" / "lab.toml").read_text().replace('id = "perceptron"', 'id = "split"')
    (lab_dir / "lab.toml").write_text(toml)
    shared = (LABS_DIR / "datasets.toml").read_text()  # the course's MNIST declaration, where the pickles are
    assert "train_rows = 50_000" in shared
    (tmp_path / "labs" / "datasets.toml").write_text(shared.replace("train_rows = 50_000", "train_rows = 5_000"))
    spec = discover_labs(tmp_path / "labs")["split"]
    import_source(tmp_path / "data", {"split": spec}, SMALL_MNIST, "mnist.npz")
    (train_x, train_y), (valid_x, valid_y), _ = load(tmp_path / "data" / "labs" / "split" / "visible" /
                                                     "mnist-tuple.pkl.gz")
    assert (len(train_x), len(train_y), len(valid_x), len(valid_y)) == (5000, 5000, 1000, 1000)


def test_pickles_are_linked_where_notebooks_read_them_in_their_folder(lab: LabData, tmp_path: Path) -> None:
    spec = discover_labs(LABS_DIR)["perceptron"]
    work = tmp_path / "work"
    lab.copy_visible_into(work / "data")
    (work / "mnist.pkl").write_bytes(b"the student's own upload")
    assert link_served_paths(spec, work) == ["mnist.pkl.gz"]
    assert (work / "mnist.pkl.gz").samefile(work / "data" / "mnist.pkl.gz")
    assert (work / "mnist.pkl").read_bytes() == b"the student's own upload"
    assert sorted(p.name for p in work.iterdir()) == ["data", "mnist.pkl", "mnist.pkl.gz"]
    paths = served_description(spec)["paths"]
    assert (paths["../../../data/mnist.pkl.gz"], paths["../mnist.pkl"], paths["../mnist.pkl.gz"],
            paths["../../03-Perceptron/lab/mnist.pkl.gz"]) == (
        "mnist.pkl.gz", "mnist.pkl", "mnist.pkl.gz", "mnist.pkl.gz")
