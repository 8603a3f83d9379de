"""Pickles of a dataset's visible part in the layouts course notebooks load (`serve.pickles` in lab.toml).

    train_dict         {'Train': {'Features': int64 (N, row size), 'Labels': int64 (N,)}}: the first `train_rows`
                       visible training rows, flattened, raw values (a course's own file from a CSV of pixels)
    train_valid_test   ((x, y), (x, y), (x, y)): x float32 rows flattened and divided by (the largest raw value + 1),
                       y int64; the first `train_rows` visible training rows, the rest of them, the visible test part
    dict_or_tuple      one file for both: `train_dict` by key, `train_valid_test` (of `tuple_train_rows`) by position
                       or unpacking (`grader.data.course_pickle`: the raw visible rows once, each layout made on use)

Only the visible part goes in: the hidden rows never reach a file a job sees. Gzip is written without a name or a
time, so the same data gives the same bytes on every machine (and labs that serve the same file share it).
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.data.course_pickle import DictOrTuple
from grader.spec.dataset import DatasetPickle, DatasetSpec

Array = NDArray[Any]
PICKLE_PROTOCOL = 4  # every Python 3 reads it; the files are under 4 GiB


def pickle_layout(dataset: DatasetSpec, declared: DatasetPickle, visible: dict[str, Array]) -> Any:
    """The object one declared pickle holds, from the visible arrays (x_train, y_train, and x_test, y_test if any)."""
    x_train, y_train = visible["x_train"], visible["y_train"].astype(np.int64)
    rows = min(declared.train_rows or len(y_train), len(y_train))

    width = int(np.prod(x_train.shape[1:]))

    def flat(x: Array) -> Array:
        return np.ascontiguousarray(x.reshape(len(x), width))

    if declared.layout == "train_dict":
        return {"Train": {"Features": flat(x_train[:rows]).astype(np.int64), "Labels": y_train[:rows]}}
    largest = (dataset.value_range or (0.0, 255.0))[1]
    x_test = visible.get("x_test", x_train[:0])
    y_test = visible.get("y_test", y_train[:0]).astype(np.int64)
    if declared.layout == "dict_or_tuple":
        tuple_rows = min(declared.tuple_train_rows or len(y_train), len(y_train))
        return DictOrTuple(flat(x_train), y_train, flat(x_test), y_test, rows, tuple_rows, largest + 1)

    def scaled(x: Array) -> Array:
        return (flat(x).astype(np.float32) / np.float32(largest + 1)).astype(np.float32)

    return ((scaled(x_train[:rows]), y_train[:rows]), (scaled(x_train[rows:]), y_train[rows:]),
            (scaled(x_test), y_test))


def write_pickle(path: Path, value: Any) -> None:
    """`value` pickled to `path` (gzipped when the name ends .gz), read-only, replaced in one rename."""
    data = pickle.dumps(value, protocol=PICKLE_PROTOCOL)
    if path.name.endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    tmp.write_bytes(data)
    os.chmod(tmp, 0o444)
    os.replace(tmp, path)


def write_pickles(visible_dir: Path, dataset: DatasetSpec) -> list[str]:
    """The declared pickles of one prepared dataset, from its visible part; returns their names under ./data."""
    if not dataset.serve.pickles:
        return []
    with np.load(visible_dir / f"{dataset.id}.npz", allow_pickle=False) as archive:
        visible = {key: archive[key] for key in archive.files}
    for declared in dataset.serve.pickles:
        write_pickle(visible_dir / declared.file, pickle_layout(dataset, declared, visible))
    return [declared.file for declared in dataset.serve.pickles]
