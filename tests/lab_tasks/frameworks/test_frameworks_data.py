"""Data preparation of the frameworks lab: splits, the offline loaders' file layouts, import, fetch and status."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from grader.datasets import LabData
from grader.errors import DatasetError
from lab_tasks.frameworks import data
from tests.lab_tasks.frameworks.conftest import SMALL_MNIST

RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def read_like_torchvision(path: Path) -> np.ndarray:
    """torchvision.datasets.mnist.read_sn3_pascalvincent_tensor, restricted to uint8 (torchvision can't be imported
    here, so this mirrors its parsing: magic number, dimension count, big-endian sizes, then the data)."""
    raw = path.read_bytes()
    magic = int.from_bytes(raw[0:4], "big")
    nd, ty = magic % 256, magic // 256
    assert 1 <= nd <= 3 and ty == 8
    sizes = [int.from_bytes(raw[4 * (i + 1):4 * (i + 2)], "big") for i in range(nd)]
    parsed = np.frombuffer(raw, dtype=np.uint8, offset=4 * (nd + 1))
    assert parsed.shape[0] == np.prod(sizes)
    return parsed.reshape(sizes)


def helper_module(lab: LabData) -> ModuleType:
    spec = importlib.util.spec_from_file_location("labdata", lab.visible / "labdata.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_visible_files_serve_every_loader_and_hold_no_hidden_rows(small_lab: LabData) -> None:
    with np.load(SMALL_MNIST) as source, np.load(small_lab.visible / "mnist.npz") as visible, \
            np.load(small_lab.hidden / "mnist.npz") as hidden:
        assert (visible["x_train"].shape, visible["x_test"].shape, hidden["x"].shape) == (
            (6000, 28, 28), (1000, 28, 28), (1000, 28, 28))
        assert {r.tobytes() for r in visible["x_test"]}.isdisjoint(r.tobytes() for r in hidden["x"])
        assert sorted(r.tobytes() for r in np.concatenate([visible["x_test"], hidden["x"]])) == sorted(
            r.tobytes() for r in source["x_test"])
        # torchvision.datasets.MNIST(root='./data', download=True): _check_exists looks for these four names
        raw = small_lab.visible / "MNIST" / "raw"
        assert sorted(p.name for p in raw.iterdir()) == sorted(RAW_FILES)
        assert np.array_equal(read_like_torchvision(raw / "train-images-idx3-ubyte"), visible["x_train"])
        assert np.array_equal(read_like_torchvision(raw / "train-labels-idx1-ubyte"), visible["y_train"])
        assert np.array_equal(read_like_torchvision(raw / "t10k-images-idx3-ubyte"), visible["x_test"])
        assert np.array_equal(read_like_torchvision(raw / "t10k-labels-idx1-ubyte"), visible["y_test"])
    with np.load(small_lab.visible / "iris.npz") as iris, np.load(small_lab.hidden / "iris.npz") as held:
        assert (iris["x_train"].shape, held["x"].shape, np.bincount(held["y"]).tolist()) == ((120, 4), (30, 4),
                                                                                               [10, 10, 10])


def test_the_helper_module_loads_the_visible_data(small_lab: LabData) -> None:
    labdata = helper_module(small_lab)
    (x_train, y_train), (x_test, _) = labdata.load_mnist()
    assert (x_train.shape, x_train.dtype, y_train.shape, x_test.shape) == ((6000, 28, 28), np.uint8, (6000,),
                                                                           (1000, 28, 28))
    (flat, _), _ = labdata.load_mnist(flatten=True, scale=True)
    assert (flat.shape, flat.dtype, float(flat.max())) == ((6000, 784), np.float32, 1.0)
    x, y = labdata.load_iris()
    assert (x.shape, sorted(set(y.tolist()))) == ((120, 4), [0, 1, 2])


def test_the_training_sample_is_fixed_and_visible(small_lab: LabData) -> None:
    first, second = small_lab.training_sample("mnist"), small_lab.training_sample("mnist")
    assert first.x.shape == (2000, 28, 28) and np.array_equal(first.y, second.y)
    assert small_lab.training_sample("iris").x.shape == (120, 4)


def test_status_lists_files_with_checksums_and_provenance(small_lab: LabData) -> None:
    lines = data.status(small_lab.data_dir)
    hidden = small_lab.hidden / "mnist.npz"
    digest = hashlib.sha256(hidden.read_bytes()).hexdigest()
    assert f"frameworks/mnist: labs/frameworks/hidden/mnist.npz sha256 {digest} {hidden.stat().st_size} bytes" in lines
    provenance = [line for line in lines if "provenance" in line]
    assert provenance[0] == ('frameworks/iris: provenance {"held_out": 30, "seed": 20240901, "source": '
                             '"scikit-learn load_iris"}')
    assert '"hidden": 1000' in provenance[1] and '"seed": 20240902' in provenance[1]


def test_status_of_an_empty_data_dir_says_what_to_run(tmp_path: Path) -> None:
    assert data.status(tmp_path) == [
        "frameworks/iris: missing",
        "frameworks/mnist: missing (run `labgrader datasets fetch` or `datasets import mnist.npz`)",
    ]


def test_import_rejects_arrays_that_are_not_mnist(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((200, 28, 28), np.float32), y_train=np.zeros(200, np.uint8),
             x_test=np.zeros((200, 28, 28), np.uint8), y_test=np.zeros(200, np.uint8))
    with pytest.raises(DatasetError) as error:
        data.import_source(tmp_path / "data", bad)
    assert str(error.value) == f"{bad} is not MNIST: x_train should be uint8 of shape (N, 28, 28), not float32 " \
                               "(200, 28, 28)"
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(DatasetError, match=r"is not a NumPy \.npz archive"):
        data.import_source(tmp_path / "data", text)
    assert not (tmp_path / "data").exists()


@pytest.fixture
def wrong_file_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"not mnist")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/mnist.npz"
    server.shutdown()
    server.server_close()
    thread.join()


def test_fetch_refuses_a_download_with_the_wrong_checksum(tmp_path: Path, wrong_file_server: str) -> None:
    with pytest.raises(DatasetError) as error:
        data.fetch(tmp_path, url=wrong_file_server)
    digest = hashlib.sha256(b"not mnist").hexdigest()
    assert str(error.value) == (f"{wrong_file_server} has sha256 {digest}, expected {data.MNIST_CANONICAL_SHA256}; "
                                "nothing was changed")
    assert list((tmp_path / "sources").iterdir()) == []


def test_fetch_without_network_says_how_to_import(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"on an offline machine copy mnist.npz here and run `labgrader datasets "
                                           r"import mnist.npz`"):
        data.fetch(tmp_path, url="http://127.0.0.1:9/mnist.npz", timeout_s=5)
