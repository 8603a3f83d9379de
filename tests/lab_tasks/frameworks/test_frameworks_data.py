"""Data preparation of the frameworks lab, from its lab.toml declarations: the same splits as the lab's old data.py,
the offline loaders' file layouts, import, fetch and status."""

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

from grader.data.lab_data import LabData
from grader.data.prepare import prepare_lab
from grader.data.sources import dataset_status, fetch_sources, import_source
from grader.errors import DatasetError
from grader.spec.lab import LabSpec
from tests.lab_data import FRAMEWORKS_DIR, SMALL_MNIST, frameworks_data

RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CANONICAL_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
# What lab_tasks/frameworks/data.py (removed when the datasets became declarations) wrote, measured with it on the
# same sources: per file, per array, the first 16 hex digits of sha256(bytes + dtype + shape). The declarations must
# give students and the scorer exactly the same rows. MNIST's hidden part is digested with its second held-back sample
# put back, rows in byte order (`hidden_rows`); in data.py's order its digests were the ones in the comments.
IRIS = {"hidden": {"x": "88fa4ba42bb10225", "y": "e3a5e818cb6dbd1b"},
        "visible": {"x_train": "50f6c3392e46633d", "y_train": "07ef2c7fc15f4442"}}
BEFORE = {
    "small": {"iris": IRIS, "mnist": {
        "hidden": {"x": "6c16c20cb0e8509c", "y": "e48440a0c81e7378"},  # data.py's order: 8a673a79, d1b154f3
        "visible": {"x_test": "bac00e1e67c00d67", "x_train": "f1bba1db713f7ccd", "y_test": "6fb6a6327dbdb9d6",
                    "y_train": "a5fd60c21c60ecc2"}}},
    "full": {"iris": IRIS, "mnist": {
        "hidden": {"x": "6dcbf1c4b0b66919", "y": "020c2c59b05dee49"},  # data.py's order: 7e9f45f5, 452b3019
        "visible": {"x_test": "794655c10c526f4e", "x_train": "7057f105adc065a3", "y_test": "a0edd6dbe06d26e2",
                    "y_train": "503d931cf5c79736"}}},
}
# sha256 (first 16 hex digits) of the IDX files torchvision reads, as data.py wrote them
RAW_BEFORE = {
    "small": ["b97263cee38ed208", "3e12a2ead35b9971", "680a8e03ec4b66b4", "c206663298b2127f"],
    "full": ["0e590b8f2cf756a2", "b34c7f12c51dab86", "ba891046e6505d7a", "65a50cbbf4e906d7"],
}


def digests(arrays: dict[str, np.ndarray]) -> dict[str, str]:
    return {key: hashlib.sha256(np.ascontiguousarray(value).tobytes() + str(value.dtype).encode()
                                + str(value.shape).encode()).hexdigest()[:16] for key, value in sorted(arrays.items())}


def array_digests(path: Path) -> dict[str, str]:
    with np.load(path) as archive:
        return digests({key: archive[key] for key in archive.files})


def hidden_rows(lab: LabData, dataset: str) -> dict[str, str]:
    """The hidden part as data.py made it: where a second held-back sample is set aside, its rows are put back and
    every row is ordered by its bytes (then label), so the digests say the same rows are hidden as before."""
    second = lab.second_sample(dataset)
    if second is None:
        return array_digests(lab.hidden / f"{dataset}.npz")
    hidden = lab.hidden_split(dataset)
    x, y = np.concatenate([hidden.x, second.x]), np.concatenate([hidden.y, second.y])
    order = sorted(range(len(y)), key=lambda i: (x[i].tobytes(), int(y[i])))
    return digests({"x": x[order], "y": y[order]})


def splits_of(lab: LabData) -> dict[str, dict[str, dict[str, str]]]:
    return {dataset: {"hidden": hidden_rows(lab, dataset),
                      "visible": array_digests(lab.visible / f"{dataset}.npz")} for dataset in ("iris", "mnist")}


def raw_digests(lab: LabData) -> list[str]:
    raw = lab.visible / "MNIST" / "raw"
    return [hashlib.sha256((raw / name).read_bytes()).hexdigest()[:16] for name in sorted(RAW_FILES)]


def test_the_declared_splits_are_the_rows_data_py_made(small_lab: LabData) -> None:
    assert splits_of(small_lab) == BEFORE["small"]
    assert raw_digests(small_lab) == RAW_BEFORE["small"]


def test_the_declared_splits_of_the_full_mnist_are_the_rows_data_py_made(full_lab: LabData) -> None:
    assert splits_of(full_lab) == BEFORE["full"]
    assert raw_digests(full_lab) == RAW_BEFORE["full"]


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
            np.load(small_lab.hidden / "mnist.npz") as hidden, np.load(small_lab.second_sample_path("mnist")) as second:
        assert (visible["x_train"].shape, visible["x_test"].shape, hidden["x"].shape, second["x"].shape) == (
            (6000, 28, 28), (1000, 28, 28), (799, 28, 28), (201, 28, 28))
        assert {r.tobytes() for r in visible["x_test"]}.isdisjoint(r.tobytes() for r in hidden["x"])
        assert sorted(r.tobytes() for r in np.concatenate([visible["x_test"], hidden["x"], second["x"]])) == sorted(
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


def test_the_second_held_back_sample_is_a_fixed_stratified_fifth_of_the_hidden_rows(small_lab: LabData,
                                                                                    tmp_path: Path) -> None:
    """lab_tasks/datasets.toml sets aside 0.2 of MNIST's hidden rows (201 of the small data's 1,000: a fifth of each
    class, rounded): never served (not in ./data), never scored (not
    in hidden/mnist.npz), the same rows on every machine, each class in proportion, root-only like the hidden part."""
    second, hidden = small_lab.second_sample("mnist"), small_lab.hidden_split("mnist")
    assert second is not None and (len(second.y), len(hidden.y)) == (201, 799)
    with np.load(small_lab.visible / "mnist.npz") as visible:
        seen = {r.tobytes() for r in np.concatenate([visible["x_train"], visible["x_test"], hidden.x])}
    assert not any(r.tobytes() in seen for r in second.x)
    served = [f.read_bytes() for f in small_lab.visible.rglob("*") if f.is_file() and f.suffix != ".gz"]
    assert not any(row.tobytes() in blob for row in second.x[:5] for blob in served)
    both = np.bincount(np.concatenate([hidden.y, second.y]), minlength=10)
    assert np.abs(np.bincount(second.y, minlength=10) - 0.2 * both).max() <= 0.5
    again = frameworks_data(tmp_path / "again").second_sample("mnist")
    assert again is not None and np.array_equal(again.x, second.x) and np.array_equal(again.y, second.y)
    assert small_lab.second_sample_path("mnist").stat().st_mode & 0o777 == 0o400


def test_a_second_sample_declared_later_prepares_the_split_again(tmp_path: Path, lab_spec: LabSpec) -> None:
    mnist = lab_spec.dataset("mnist")
    plain = mnist.model_copy(update={"split": mnist.split.model_copy(update={"second_sample": None})})
    before = lab_spec.model_copy(update={"datasets": (lab_spec.dataset("iris"), plain)})
    lab = frameworks_data(tmp_path)  # as declared: with the second sample
    prepare_lab(lab, before, FRAMEWORKS_DIR)  # a declaration without one: prepared again, the file removed
    assert (lab.second_sample(mnist.id), len(lab.hidden_split(mnist.id).y)) == (None, 1000)
    prepare_lab(lab, lab_spec, FRAMEWORKS_DIR)
    second = lab.second_sample(mnist.id)
    assert (len(second.y) if second else 0, len(lab.hidden_split(mnist.id).y)) == (201, 799)


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


def test_status_lists_files_with_checksums_and_provenance(small_lab: LabData, lab_spec: LabSpec) -> None:
    lines = dataset_status(small_lab.data_dir, {"frameworks": lab_spec})
    hidden = small_lab.hidden / "mnist.npz"
    digest = hashlib.sha256(hidden.read_bytes()).hexdigest()
    assert f"frameworks/mnist: labs/frameworks/hidden/mnist.npz sha256 {digest} {hidden.stat().st_size} bytes" in lines
    provenance = [line for line in lines if "provenance" in line]
    assert len(provenance) == 2
    assert provenance[0].startswith('frameworks/iris: provenance {"classes": ["setosa", "versicolor", "virginica"], '
                                    '"declared_sha256": null, "hidden_rows": 30, ')
    assert '"seed": 20240901' in provenance[0] and '"source": "scikit-learn load_iris"' in provenance[0]
    assert '"hidden_rows": 799' in provenance[1] and '"seed": 20240902' in provenance[1]
    assert '"second_rows": 201, "second_sample": 0.2, "second_sha256": "' in provenance[1]
    assert '"served": ["mnist.npz", "MNIST/raw/train-images-idx3-ubyte", ' in provenance[1]


def test_status_of_an_empty_data_dir_says_what_to_run(tmp_path: Path, lab_spec: LabSpec) -> None:
    assert dataset_status(tmp_path, {"frameworks": lab_spec}) == [
        "frameworks/iris: missing (prepared from scikit-learn's load_iris when `labgrader serve` or `datasets import` "
        "runs)",
        "frameworks/mnist: missing (run `labgrader datasets import mnist.npz` or `labgrader datasets fetch`)",
    ]


def test_import_rejects_arrays_that_are_not_mnist(tmp_path: Path, lab_spec: LabSpec) -> None:
    labs = {"frameworks": lab_spec}
    bad = tmp_path / "mnist.npz"
    np.savez(bad, x_train=np.zeros((200, 28, 28), np.float32), y_train=np.zeros(200, np.uint8),
             x_test=np.zeros((200, 28, 28), np.uint8), y_test=np.zeros(200, np.uint8))
    with pytest.raises(DatasetError) as error:
        import_source(tmp_path / "data", labs, bad)
    assert str(error.value) == f"{bad} is not MNIST: x_train should be uint8 of shape (N, 28, 28), not float32 " \
                               "(200, 28, 28)"
    np.savez(bad, x_train=np.zeros((200, 28, 28), np.uint8), y_train=np.full(200, 10),
             x_test=np.zeros((200, 28, 28), np.uint8), y_test=np.zeros(200, np.uint8))
    with pytest.raises(DatasetError, match=r"is not MNIST: y_train should hold 200 integer labels 0\.\.9$"):
        import_source(tmp_path / "data", labs, bad)
    bad.write_text("hello")
    with pytest.raises(DatasetError, match=r"is not a NumPy \.npz archive"):
        import_source(tmp_path / "data", labs, bad)
    assert not (tmp_path / "data").exists()


def test_a_file_no_lab_declares_is_refused_and_one_is_found_by_sha256(tmp_path: Path, lab_spec: LabSpec) -> None:
    with pytest.raises(DatasetError) as error:
        import_source(tmp_path / "data", {"frameworks": lab_spec}, SMALL_MNIST)
    assert str(error.value) == (
        f"{SMALL_MNIST} is no lab's declared source file (neither by name nor by sha256); the labs declare: "
        f"mnist.npz (sha256 {CANONICAL_SHA256}) (a file of another name: `datasets import PATH --as NAME`)")
    digest = hashlib.sha256(SMALL_MNIST.read_bytes()).hexdigest()
    mnist = lab_spec.dataset("mnist")
    known = mnist.model_copy(update={"source": mnist.source.model_copy(update={"sha256": digest})})
    spec = lab_spec.model_copy(update={"datasets": (lab_spec.dataset("iris"), known)})
    assert import_source(tmp_path / "data", {"frameworks": spec}, SMALL_MNIST) == [
        f"imported {SMALL_MNIST} as the declared MNIST file, sha256 {digest}; prepared frameworks/mnist: half of the "
        "test part hidden, seed 20240902: 1000 hidden, 1000 visible test rows; 201 of those hidden rows set aside as "
        "a second held-back sample",
        "prepared frameworks/iris from scikit-learn: stratified, seed 20240901, 30 of 150 rows hidden"]
    assert (tmp_path / "data" / "sources" / "mnist.npz").read_bytes() == SMALL_MNIST.read_bytes()


def with_url(spec: LabSpec, url: str) -> dict[str, LabSpec]:
    mnist = spec.dataset("mnist")
    moved = mnist.model_copy(update={"source": mnist.source.model_copy(update={"url": url})})
    return {"frameworks": spec.model_copy(update={"datasets": (spec.dataset("iris"), moved)})}


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


def test_fetch_refuses_a_download_with_the_wrong_checksum(tmp_path: Path, wrong_file_server: str,
                                                         lab_spec: LabSpec) -> None:
    with pytest.raises(DatasetError) as error:
        fetch_sources(tmp_path, with_url(lab_spec, wrong_file_server))
    digest = hashlib.sha256(b"not mnist").hexdigest()
    assert str(error.value) == (f"{wrong_file_server} has sha256 {digest}, expected {CANONICAL_SHA256}; "
                                "nothing was changed")
    assert list((tmp_path / "sources").iterdir()) == []


def test_fetch_without_network_says_how_to_import(tmp_path: Path, lab_spec: LabSpec) -> None:
    with pytest.raises(DatasetError, match=r"on an offline machine copy mnist.npz here and run `labgrader datasets "
                                           r"import mnist.npz`"):
        fetch_sources(tmp_path, with_url(lab_spec, "http://127.0.0.1:9/mnist.npz"), timeout_s=5)
