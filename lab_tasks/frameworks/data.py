"""Data preparation for the `frameworks` lab: Iris (30 held-out rows) and MNIST (half of the test set hidden).

Both splits are fixed by seeds so every machine derives the same hidden sets from the same sources. The visible
part holds what the sandbox's loaders read offline:

    visible/mnist.npz                 keras.datasets.mnist.load_data() (the kernel start-up redirects it here)
    visible/MNIST/raw/*-ubyte         torchvision.datasets.MNIST(root='./data', download=True)
    visible/iris.npz, labdata.py      the lab's helper module (`import labdata`)

`fetch`, `import_source` and `status` back `labgrader datasets fetch|import PATH|status`.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from grader import DatasetError, LabData, sha256_of

LAB_ID = "frameworks"
IRIS_SEED = 20240901
IRIS_HELD_OUT = 30
MNIST_SEED = 20240902
# sha256 of the canonical https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz
MNIST_CANONICAL_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
MIN_MNIST_ROWS = 100
FULL_MNIST_TRAIN_ROWS = 60000
HERE = Path(__file__).resolve().parent
HELPER_MODULE = HERE / "student_files" / "labdata.py"
IDX_UBYTE = 0x08


def _write_npz(path: Path, **arrays: np.ndarray[Any, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)
    os.chmod(path, 0o444)


def write_idx(path: Path, array: np.ndarray[Any, Any]) -> None:
    """An uncompressed IDX file (the format of the original MNIST files, read by torchvision): uint8 data."""
    data = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, IDX_UBYTE, data.ndim]) + struct.pack(f">{data.ndim}i", *data.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(header + data.tobytes())
    os.replace(tmp, path)
    os.chmod(path, 0o444)


def read_idx(path: Path) -> np.ndarray[Any, Any]:
    """Parse an IDX file the way torchvision's read_sn3_pascalvincent_tensor does (uint8 only)."""
    raw = path.read_bytes()
    if raw[:2] != b"\0\0" or raw[2] != IDX_UBYTE:
        raise DatasetError(f"{path} is not an uint8 IDX file")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}i", raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def prepare_iris(lab: LabData) -> dict[str, object]:
    """Hold out 30 stratified Iris rows (10 per class) as the hidden set."""
    from sklearn.datasets import load_iris

    iris = load_iris()
    x, y = iris.data.astype(np.float32), iris.target.astype(np.int64)
    rng = np.random.default_rng(IRIS_SEED)
    held = np.concatenate([rng.choice(np.flatnonzero(y == c), IRIS_HELD_OUT // 3, replace=False) for c in range(3)])
    held.sort()
    _write_npz(lab.hidden / "iris.npz", x=x[held], y=y[held])
    visible = np.setdiff1d(np.arange(len(y)), held)
    _write_npz(lab.visible / "iris.npz", x_train=x[visible], y_train=y[visible])
    return {"source": "scikit-learn load_iris", "held_out": len(held), "seed": IRIS_SEED}


def split_mnist(source: Path, lab: LabData) -> dict[str, object]:
    """Hide a fixed half of the official test set; the training set and the other half stay visible."""
    with np.load(source, allow_pickle=False) as mnist:
        x_train, y_train = mnist["x_train"], mnist["y_train"]
        x_test, y_test = mnist["x_test"], mnist["y_test"]
    order = np.random.default_rng(MNIST_SEED).permutation(len(y_test))
    hidden, visible = np.sort(order[: len(order) // 2]), np.sort(order[len(order) // 2:])
    _write_npz(lab.hidden / "mnist.npz", x=x_test[hidden], y=y_test[hidden].astype(np.int64))
    target = lab.visible / "mnist.npz"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name("mnist.tmp.npz")
    np.savez(tmp, x_train=x_train, y_train=y_train, x_test=x_test[visible], y_test=y_test[visible])
    os.replace(tmp, target)
    os.chmod(target, 0o444)
    raw = lab.visible / "MNIST" / "raw"
    write_idx(raw / "train-images-idx3-ubyte", x_train)
    write_idx(raw / "train-labels-idx1-ubyte", y_train)
    write_idx(raw / "t10k-images-idx3-ubyte", x_test[visible])
    write_idx(raw / "t10k-labels-idx1-ubyte", y_test[visible])
    digest = sha256_of(source)
    return {"source": str(source), "sha256": digest, "canonical": digest == MNIST_CANONICAL_SHA256,
            "train": len(y_train), "hidden": len(hidden), "visible_test": len(visible),
            "seed": MNIST_SEED}


def prepare(lab: LabData) -> dict[str, object]:
    """Derive every split this lab can from the sources present; returns provenance per dataset."""
    provenance: dict[str, object] = {"iris": prepare_iris(lab)}
    mnist_source = lab.sources / "mnist.npz"
    if mnist_source.is_file():
        provenance["mnist"] = split_mnist(mnist_source, lab)
    target = lab.visible / HELPER_MODULE.name
    target.unlink(missing_ok=True)
    shutil.copyfile(HELPER_MODULE, target)
    os.chmod(target, 0o444)
    lab.root.mkdir(parents=True, exist_ok=True)
    (lab.root / "provenance.json").write_text(json.dumps(provenance, indent=2))
    return provenance


def validate_mnist(path: Path) -> int:
    """Check an MNIST archive's keys, shapes and dtypes; returns its number of training images."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in MNIST_KEYS if key in archive}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path} is not a NumPy .npz archive: {exc}") from exc
    missing = [key for key in MNIST_KEYS if key not in arrays]
    if missing:
        raise DatasetError(f"{path} is not MNIST: it has no {', '.join(missing)}")
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DatasetError(f"{path} is not MNIST: x_{part} should be uint8 of shape (N, 28, 28), "
                               f"not {x.dtype} {x.shape}")
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 9:
            raise DatasetError(f"{path} is not MNIST: y_{part} should hold {len(x)} integer labels 0..9")
        if len(x) < MIN_MNIST_ROWS:
            raise DatasetError(f"{path} has only {len(x)} {part} images; at least {MIN_MNIST_ROWS} are needed")
    return len(arrays["y_train"])


def import_source(data_dir: Path, path: Path) -> str:
    """Validate an MNIST .npz, keep it as the lab's source and prepare the splits; returns a summary line."""
    train_rows = validate_mnist(path)
    lab = LabData(data_dir, LAB_ID)
    lab.sources.mkdir(parents=True, exist_ok=True)
    target = lab.sources / "mnist.npz"
    tmp = target.with_name("mnist.npz.tmp")
    shutil.copyfile(path, tmp)
    os.replace(tmp, target)
    provenance = prepare(lab)
    mnist = provenance["mnist"]
    assert isinstance(mnist, dict)
    if mnist["canonical"]:
        kind = "the canonical MNIST"
    elif train_rows == FULL_MNIST_TRAIN_ROWS:
        kind = "a full MNIST copy whose bytes differ from the canonical download"
    else:
        kind = f"an MNIST subset ({train_rows} training images)"
    return (f"imported {path} as {kind}, sha256 {mnist['sha256']}; prepared {LAB_ID}: {mnist['hidden']} hidden "
            f"and {mnist['visible_test']} visible test images, {IRIS_HELD_OUT} held-out Iris rows")


def fetch(data_dir: Path, url: str = MNIST_URL, timeout_s: float = 60) -> str:
    """Download the canonical MNIST, verify its sha256 and prepare the splits; returns a summary line."""
    lab = LabData(data_dir, LAB_ID)
    lab.sources.mkdir(parents=True, exist_ok=True)
    download = lab.sources / "mnist.npz.download"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, download.open("wb") as fh:  # noqa: S310
            shutil.copyfileobj(response, fh)
    except (urllib.error.URLError, OSError) as exc:
        download.unlink(missing_ok=True)
        raise DatasetError(f"could not download {url} ({exc}); on an offline machine copy mnist.npz here and run "
                           "`labgrader datasets import mnist.npz`") from exc
    digest = sha256_of(download)
    if digest != MNIST_CANONICAL_SHA256:
        download.unlink(missing_ok=True)
        raise DatasetError(f"{url} has sha256 {digest}, expected {MNIST_CANONICAL_SHA256}; nothing was changed")
    summary = import_source(data_dir, download)
    download.unlink(missing_ok=True)
    return summary.replace(str(download), url)


def status(data_dir: Path) -> list[str]:
    """One line per prepared file (sha256, size) and the provenance of each dataset."""
    lab = LabData(data_dir, LAB_ID)
    lines = []
    for dataset in ("iris", "mnist"):
        files = [lab.hidden / f"{dataset}.npz", lab.visible / f"{dataset}.npz"]
        if not all(f.is_file() for f in files):
            hint = " (run `labgrader datasets fetch` or `datasets import mnist.npz`)" if dataset == "mnist" else ""
            lines.append(f"{LAB_ID}/{dataset}: missing{hint}")
            continue
        for file in files:
            lines.append(f"{LAB_ID}/{dataset}: {file.relative_to(data_dir)} sha256 {sha256_of(file)} "
                         f"{file.stat().st_size} bytes")
    provenance = lab.root / "provenance.json"
    if provenance.is_file():
        for dataset, facts in json.loads(provenance.read_text()).items():
            lines.append(f"{LAB_ID}/{dataset}: provenance {json.dumps(facts, sort_keys=True)}")
    return lines
