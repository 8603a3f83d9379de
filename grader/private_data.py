"""An instructor's own evaluation data for a lab (`labgrader datasets import --lab LAB --dataset ID FILE`).

    FILE.npz  x_train, y_train, x_test, y_test   the test part becomes the hidden split as it is
              x, y                               a stratified, seeded share becomes the hidden split
    FILE.csv  a header row, numeric feature columns and a label column (`--label NAME`, default the last one);
              labels that are names become class indices in sorted order

Written under the lab's data directory as `visible/ID.npz` (x_train, y_train: copied into every job as ./data) and
`hidden/ID.npz` (x, y: read only by the scorer, root-only; it never enters a sandbox or leaves the grader host), with
the provenance (source file, its sha256, the split, the class names) in `provenance-ID.json`.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.datasets import LabData, sha256_of
from grader.errors import DatasetError

SPLIT_SEED = 20241130
MAX_ROWS = 5_000_000


def _write(path: Path, mode: int, **arrays: NDArray[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _read_npz(path: Path) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any] | None, NDArray[Any] | None]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path} is not a NumPy .npz archive without pickles: {exc}") from exc
    if {"x_train", "y_train", "x_test", "y_test"} <= arrays.keys():
        return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
    if {"x", "y"} <= arrays.keys():
        return arrays["x"], arrays["y"], None, None
    raise DatasetError(f"{path} holds {', '.join(sorted(arrays)) or 'no arrays'}; it needs x_train, y_train, "
                       "x_test, y_test (split by you) or x, y (split here)")


def _read_csv(path: Path, label: str | None) -> tuple[NDArray[Any], NDArray[Any], list[str]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path} could not be read as CSV: {exc}") from exc
    if len(rows) < 3:
        raise DatasetError(f"{path} needs a header row and at least two data rows")
    header, body = rows[0], [r for r in rows[1:] if r]
    column = len(header) - 1 if label is None else (header.index(label) if label in header else -1)
    if column < 0:
        raise DatasetError(f"{path} has no column {label!r}; its columns: {', '.join(header)}")
    features = [i for i in range(len(header)) if i != column]
    x = np.empty((len(body), len(features)), dtype=np.float32)
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DatasetError(f"{path}:{number}: {len(row)} values for {len(header)} columns")
        try:
            x[number - 2] = [float(row[i]) for i in features]
        except ValueError as exc:
            raise DatasetError(f"{path}:{number}: a feature is not a number ({exc})") from exc
    labels = [row[column].strip() for row in body]
    try:
        y = np.array([int(v) for v in labels], dtype=np.int64)
        names = [str(c) for c in sorted(set(y.tolist()))]
    except ValueError:
        names = sorted(set(labels))
        y = np.array([names.index(v) for v in labels], dtype=np.int64)
    return x, y, names


def _stratified_split(y: NDArray[Any], hidden_fraction: float) -> tuple[NDArray[Any], NDArray[Any]]:
    rng = np.random.default_rng(SPLIT_SEED)
    hidden = []
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        count = max(1, round(len(rows) * hidden_fraction)) if len(rows) > 1 else 0
        hidden.extend(rng.choice(rows, count, replace=False).tolist())
    hidden_rows = np.sort(np.array(hidden, dtype=np.int64))
    visible_rows = np.setdiff1d(np.arange(len(y)), hidden_rows)
    return visible_rows, hidden_rows


def import_private_data(lab: LabData, dataset: str, source: Path, *, label: str | None = None,
                   hidden_fraction: float = 0.2) -> str:
    """Write the visible and hidden splits of `dataset` for `lab` from `source`; returns a one-line summary."""
    if not source.is_file():
        raise DatasetError(f"{source} is not a file")
    if not 0 < hidden_fraction < 1:
        raise DatasetError(f"the hidden fraction must be between 0 and 1, not {hidden_fraction}")
    names: list[str] | None = None
    if source.suffix.lower() == ".csv":
        x, y, names = _read_csv(source, label)
        x_test = y_test = None
    elif source.suffix.lower() == ".npz":
        x, y, x_test, y_test = _read_npz(source)
    else:
        raise DatasetError(f"{source}: import a .npz or a .csv file")
    mismatched = x_test is not None and y_test is not None and len(x_test) != len(y_test)
    if len(x) != len(y) or len(x) > MAX_ROWS or mismatched:
        raise DatasetError(f"{source}: inputs and labels differ in length (or exceed {MAX_ROWS} rows)")
    if not np.issubdtype(np.asarray(y).dtype, np.integer):
        raise DatasetError(f"{source}: labels must be class indices (integers), not {np.asarray(y).dtype}")
    if x_test is None or y_test is None:
        visible_rows, hidden_rows = _stratified_split(np.asarray(y), hidden_fraction)
        x_train, y_train, x_test, y_test = x[visible_rows], y[visible_rows], x[hidden_rows], y[hidden_rows]
        split = f"stratified, seed {SPLIT_SEED}, {len(hidden_rows)} of {len(y)} rows hidden"
    else:
        x_train, y_train = x, y
        split = f"as given: {len(y_test)} test rows hidden"
    _write(lab.visible / f"{dataset}.npz", 0o444, x_train=x_train, y_train=np.asarray(y_train, dtype=np.int64))
    lab.hidden.mkdir(parents=True, exist_ok=True)
    os.chmod(lab.hidden, 0o700)
    _write(lab.hidden / f"{dataset}.npz", 0o400, x=x_test, y=np.asarray(y_test, dtype=np.int64))
    classes = names or [str(c) for c in sorted(set(np.asarray(y_train).tolist()) | set(np.asarray(y_test).tolist()))]
    shape = tuple(np.asarray(x_train).shape[1:])
    provenance = {
        "source": str(source.resolve()), "source_sha256": sha256_of(source), "split": split,
        "visible_rows": len(y_train), "hidden_rows": len(y_test), "input_shape": list(shape),
        "classes": classes,
        "visible_sha256": sha256_of(lab.visible / f"{dataset}.npz"),
        "hidden_sha256": sha256_of(lab.hidden / f"{dataset}.npz"),
    }
    (lab.root / f"provenance-{dataset}.json").write_text(json.dumps(provenance, indent=2))
    return (f"imported {source} as dataset {dataset} of lab {lab.lab_id}: {len(y_train)} visible rows (./data/"
            f"{dataset}.npz in every job), {len(y_test)} hidden rows (never in a sandbox), "
            f"{len(classes)} classes, inputs {shape}; split {split}")
