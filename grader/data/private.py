"""An instructor's own evaluation data for a lab (`labgrader datasets import --lab LAB --dataset ID FILE`).

    FILE.npz  x_train, y_train, x_test, y_test   the test part becomes the hidden split as it is
              x, y                               a stratified, seeded share becomes the hidden split
    FILE.csv  a header row, numeric feature columns and a label column (`--label NAME`, default the last one);
              labels are class names or class numbers 0..k-1; a regression dataset's is its numeric `target` (the
              column of that name, else the last), kept as float64
    FOLDER/   one sub-folder of images per class (or train/ and test/ with those): `grader.data.image_folder`

Class names the source gives (CSV labels, folder names) are numbered in the order the dataset declares (`classes`),
else in sorted order. Class numbers (CSV, .npz) are indices into the declared `classes`: 0 is the first declared
class; numbers that cannot be such indices, or declared classes that are themselves numbers in another order, are
refused with the fix. Inputs are checked against the declaration (dtype, input_shape, value_range).

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

from grader.data.image_folder import read_image_folder
from grader.data.lab_data import LabData, random_rows, sha256_of, stratified_rows
from grader.data.prepare import check_arrays, label_array
from grader.errors import DatasetError
from grader.spec.dataset import DatasetSpec

Array = NDArray[Any]

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


def _read_csv(path: Path, label: str | None, dtype: str | None,
              target: str | None = None) -> tuple[NDArray[Any], NDArray[Any], list[str] | None]:
    """(features, labels, class names when the labels are names); the features read as float64 and stored in the
    declared dtype, float32 when none is declared. A regression dataset's `target` column (the last one when the
    file has no column of that name) holds numbers, read as float64."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path} could not be read as CSV: {exc}") from exc
    if len(rows) < 3:
        raise DatasetError(f"{path} needs a header row and at least two data rows")
    header, body = rows[0], [r for r in rows[1:] if r]
    label = label or (target if target in header else None)
    column = len(header) - 1 if label is None else (header.index(label) if label in header else -1)
    if column < 0:
        raise DatasetError(f"{path} has no column {label!r}; its columns: {', '.join(header)}")
    features = [i for i in range(len(header)) if i != column]
    x = np.empty((len(body), len(features)), dtype=np.float64)
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DatasetError(f"{path}:{number}: {len(row)} values for {len(header)} columns")
        try:
            x[number - 2] = [float(row[i]) for i in features]
        except ValueError as exc:
            raise DatasetError(f"{path}:{number}: a feature is not a number ({exc})") from exc
    x = x if dtype else x.astype(np.float32)
    labels = [row[column].strip() for row in body]
    if target is not None:
        try:
            values = np.array([float(v) for v in labels], dtype=np.float64)
        except ValueError as exc:
            raise DatasetError(f"{path}: column {header[column]!r} is the target {target!r} of a regression dataset, "
                               f"and a value is not a number ({exc})") from exc
        return x, values, None
    try:
        # class numbers, as an .npz holds them: indices into the declared classes
        return x, np.array([int(v) for v in labels], dtype=np.int64), None
    except ValueError:
        names = sorted(set(labels))
        return x, np.array([names.index(v) for v in labels], dtype=np.int64), names


def _numbered_classes(dataset: DatasetSpec, source: Path, *labels: Array) -> None:
    """Refuse class numbers that are not indices into the declared classes, and declarations that make them
    ambiguous, with what to change."""
    numbers = sorted(set().union(*(set(np.asarray(y).tolist()) for y in labels)))
    declared = list(dataset.classes)
    count = len(declared)
    meaning = ", ".join(f"{i} = {name}" for i, name in enumerate(declared[:3])) + (", ..." if count > 3 else "")
    if numbers and (numbers[0] < 0 or numbers[-1] >= count):
        shown = ", ".join(str(n) for n in numbers[:10]) + (", ..." if len(numbers) > 10 else "")
        raise DatasetError(f"{source}: the labels are numbers ({shown}), but dataset {dataset.id} declares {count} "
                           f"classes and a number is an index into them ({meaning}): renumber the labels "
                           f"0..{count - 1} in that order, or write the class names in the label column")
    if any(name.lstrip("-").isdigit() and name != str(i) for i, name in enumerate(declared)):
        in_order = ", ".join(f'"{i}"' for i in range(count))
        raise DatasetError(f"{source}: the labels are numbers and dataset {dataset.id} declares classes named by "
                           f"numbers in another order ({', '.join(declared)}); a label would mean the class at that "
                           f"index, not the class of that name: declare classes = "
                           f"[{in_order}], or give them names that are not "
                           "numbers")


def _read(source: Path, label: str | None, dtype: str | None = None,
          target: str | None = None) -> tuple[Array, Array, Array | None, Array | None, list[str] | None]:
    """(x, y, x_test, y_test, class names when the source names them) of a .csv, .npz or image folder."""
    if source.is_dir():
        rows, test = read_image_folder(source)
        return (rows.x, rows.y, test.x if test else None, test.y if test else None, rows.classes)
    if not source.is_file():
        raise DatasetError(f"{source} is not a file or a folder")
    if source.suffix.lower() == ".csv":
        x, y, names = _read_csv(source, label, dtype, target)
        return x, y, None, None, names
    if source.suffix.lower() == ".npz":
        return (*_read_npz(source), None)
    raise DatasetError(f"{source}: import a .npz or a .csv file, or a folder of images")


def _declared_order(dataset: DatasetSpec, names: list[str] | None, *labels: Array) -> tuple[Array, ...]:
    """Labels renumbered to the class order the lab declares, when the source names its classes."""
    if not dataset.classes or names is None or list(dataset.classes) == names:
        return labels
    if set(names) != set(dataset.classes):
        raise DatasetError(f"the source's classes ({', '.join(names)}) are not the classes dataset {dataset.id} "
                           f"declares ({', '.join(dataset.classes)})")
    order = np.array([dataset.classes.index(name) for name in names], dtype=np.int64)
    return tuple(order[np.asarray(y, dtype=np.int64)] for y in labels)


def undeclared_split(dataset: DatasetSpec) -> str | None:
    """What `datasets import` does with a dataset of the instructor's own that declares no split; None otherwise."""
    if dataset.source.kind != "import" or "split" in dataset.model_fields_set:
        return None
    kind = "at random (a regression dataset)" if dataset.regression else "stratified"
    return (f"dataset {dataset.id}: no [datasets.split] declared: an imported file with a test part (x_test and "
            f"y_test, or train/ and test/ folders) is hidden as given; any other is split {kind}, 0.2 of the rows "
            f"hidden (datasets import --hidden-fraction), seed {SPLIT_SEED}")


def import_private_data(lab: LabData, dataset: DatasetSpec, source: Path, *, label: str | None = None,
                        hidden_fraction: float = 0.2) -> str:
    """Write the visible and hidden splits of `dataset` for `lab` from `source`; returns a one-line summary.

    A stratified split declared for the dataset (`[datasets.split]`) sets the hidden share and seed."""
    if not 0 < hidden_fraction < 1:
        raise DatasetError(f"the hidden fraction must be between 0 and 1, not {hidden_fraction}")
    x, y, x_test, y_test, names = _read(source, label, dataset.dtype, dataset.target)
    mismatched = x_test is not None and y_test is not None and len(x_test) != len(y_test)
    if len(x) != len(y) or len(x) > MAX_ROWS or mismatched:
        raise DatasetError(f"{source}: inputs and labels differ in length (or exceed {MAX_ROWS} rows)")
    if not dataset.regression and not np.issubdtype(np.asarray(y).dtype, np.integer):
        raise DatasetError(f"{source}: labels must be class indices (integers), not {np.asarray(y).dtype}")
    if dataset.classes and names is None:
        _numbered_classes(dataset, source, y, *([] if y_test is None else [y_test]))
    y, *rest = _declared_order(dataset, names, y, *([] if y_test is None else [y_test]))
    y_test = rest[0] if rest else None
    names = list(dataset.classes) if dataset.classes else names
    check_arrays(dataset, source, x, np.asarray(y), "train" if x_test is not None else "")
    if x_test is not None and y_test is not None:
        check_arrays(dataset, source, x_test, np.asarray(y_test), "test")
    seed, share = SPLIT_SEED, hidden_fraction
    if "split" in dataset.model_fields_set and dataset.split.kind in ("stratified", "random"):
        seed, share = dataset.split.seed, dataset.split.held_out or hidden_fraction
    if x_test is None or y_test is None:
        kind = "random" if dataset.regression else "stratified"
        hidden_rows, visible_rows = (random_rows if dataset.regression else stratified_rows)(np.asarray(y), share, seed)
        x_train, y_train, x_test, y_test = x[visible_rows], y[visible_rows], x[hidden_rows], y[hidden_rows]
        split = f"{kind}, seed {seed}, {len(hidden_rows)} of {len(y)} rows hidden"
    else:
        x_train, y_train = x, y
        split = f"as given: {len(y_test)} test rows hidden"
    if dataset.dtype:
        x_train, x_test = x_train.astype(dataset.dtype, copy=False), x_test.astype(dataset.dtype, copy=False)
    name = dataset.id
    _write(lab.visible / f"{name}.npz", 0o444, x_train=x_train, y_train=label_array(dataset, y_train))
    lab.hidden.mkdir(parents=True, exist_ok=True)
    os.chmod(lab.hidden, 0o700)
    _write(lab.hidden / f"{name}.npz", 0o400, x=x_test, y=label_array(dataset, y_test))
    classes = [] if dataset.regression else names or [
        str(c) for c in sorted(set(np.asarray(y_train).tolist()) | set(np.asarray(y_test).tolist()))]
    shape = tuple(np.asarray(x_train).shape[1:])
    what = f"target {dataset.target}" if dataset.target else f"{len(classes)} classes"
    provenance = {
        "source": str(source.resolve()), "source_sha256": sha256_of(source) if source.is_file() else None,
        "split": split, "visible_rows": len(y_train), "hidden_rows": len(y_test), "input_shape": list(shape),
        "classes": classes,
        "visible_sha256": sha256_of(lab.visible / f"{name}.npz"),
        "hidden_sha256": sha256_of(lab.hidden / f"{name}.npz"),
    }
    (lab.root / f"provenance-{name}.json").write_text(json.dumps(provenance, indent=2))
    return (f"imported {source} as dataset {name} of lab {lab.lab_id}: {len(y_train)} visible rows (./data/"
            f"{name}.npz in every job), {len(y_test)} hidden rows (never in a sandbox), "
            f"{what}, inputs {shape}; split {split}")
