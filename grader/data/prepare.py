"""A lab's data prepared from its declarations: each `[[datasets]]` source split into a visible and a hidden part.

    source.sklearn   the loader's x, y (prepared whenever the service starts and the dataset is missing)
    source.file      <data_dir>/sources/<file> (`labgrader datasets import PATH` or `datasets fetch` puts it there)
    source.import    the instructor's own data: `grader.data.private`, never here
    source.gymnasium an environment: visible and hidden seeds (`grader.data.environment`), prepared like sklearn

    split test_half  order = default_rng(seed).permutation(len(y_test)); the first half (sorted) is hidden, the rest
                     of the test part and the whole training part stay visible
    split given      the source's test part is hidden as it is
    split stratified `stratified_rows(y, held_out, seed)` of all rows are hidden
    split random     `random_rows(y, held_out, seed)` of all rows are hidden (a regression dataset's split)
    second_sample    `stratified_rows(hidden y, second_sample, seed)` of the hidden rows are set aside as a second
                     held-back sample, hidden/<id>-second.npz (x, y; root-only): never served, never scored

Written: visible/<id>.npz (x_train, y_train, and the visible x_test, y_test of a test_half split), hidden/<id>.npz
(x, y; root-only), the loader files of `serve` (`grader.data.serve`) and provenance-<id>.json (source, sha256,
split, rows, classes, checksums of both parts).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.data.environment import environment_declaration, environment_parts
from grader.data.lab_data import LabData, random_rows, sha256_of, stratified_rows
from grader.data.serve import install_student_files, write_served_files
from grader.errors import DatasetError, SpecInvalid
from grader.spec.dataset import DatasetSpec
from grader.spec.lab import LabSpec, load_spec

Array = NDArray[Any]
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceArrays:
    """A dataset's source as read: all rows (`x`, `y`), or a training and a test part."""

    x: Array
    y: Array
    x_test: Array | None = None
    y_test: Array | None = None


def _shape_text(dataset: DatasetSpec) -> str:
    return f"(N, {', '.join(str(n) for n in dataset.input_shape)})" if dataset.input_shape else "(N, ...)"


def check_arrays(dataset: DatasetSpec, path: Path | str, x: Array, y: Array, part: str) -> None:
    """Refuse arrays that do not match the declaration: dtype, row shape, labels, value range."""
    wanted = np.dtype(dataset.dtype) if dataset.dtype else None
    xs, ys = (f"x_{part}", f"y_{part}") if part else ("x", "y")
    # float64 may become a declared float32, never floats integers
    if (wanted is not None and not np.can_cast(x.dtype, wanted, "same_kind")) or \
            (dataset.input_shape and tuple(x.shape[1:]) != dataset.input_shape):
        raise DatasetError(f"{path} is not {dataset.title}: {xs} should be {wanted or 'any dtype'} of shape "
                           f"{_shape_text(dataset)}, not {x.dtype} {x.shape}")
    classes = len(dataset.classes)
    if dataset.regression:
        if y.shape != (len(x),) or not (np.issubdtype(y.dtype, np.number) and np.isfinite(y).all()):
            raise DatasetError(f"{path} is not {dataset.title}: {ys} should hold {len(x)} finite numbers (the "
                               f"{dataset.target} of each row)")
    elif y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0) or \
            (classes and len(y) and y.max() >= classes):
        shown = f"0..{classes - 1}" if classes else "(class indices)"
        raise DatasetError(f"{path} is not {dataset.title}: {ys} should hold {len(x)} integer labels {shown}")
    if dataset.value_range is not None and x.size and (x.min() < dataset.value_range[0]
                                                       or x.max() > dataset.value_range[1]):
        raise DatasetError(f"{path} is not {dataset.title}: {xs} holds values from {x.min()} to {x.max()}, "
                           f"outside {list(dataset.value_range)}")


def read_source(dataset: DatasetSpec, path: Path) -> SourceArrays:
    """A declared `.npz` source, checked against the declaration before anything is written."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path} is not a NumPy .npz archive: {exc}") from exc
    test_parts = {"x_train", "y_train", "x_test", "y_test"}
    if test_parts <= arrays.keys():
        check_arrays(dataset, path, arrays["x_train"], arrays["y_train"], "train")
        check_arrays(dataset, path, arrays["x_test"], arrays["y_test"], "test")
        return SourceArrays(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"])
    if {"x", "y"} <= arrays.keys() and dataset.split.kind in ("stratified", "random"):
        check_arrays(dataset, path, arrays["x"], arrays["y"], "")
        return SourceArrays(arrays["x"], arrays["y"])
    needs = ", ".join(sorted(test_parts)) + (" (or x, y)" if dataset.split.kind in ("stratified", "random") else "")
    raise DatasetError(f"{path} is not {dataset.title}: it has no {', '.join(sorted(test_parts - arrays.keys()))}; "
                       f"a source of this dataset holds {needs}")


def _sklearn_source(dataset: DatasetSpec) -> SourceArrays:
    import sklearn.datasets

    loader = getattr(sklearn.datasets, dataset.source.sklearn or "", None)
    if not callable(loader):
        raise DatasetError(f"dataset {dataset.id}: scikit-learn has no loader {dataset.source.sklearn!r}")
    bunch = loader()
    x, y = np.asarray(bunch.data), np.asarray(bunch.target).astype(np.float64 if dataset.regression else np.int64)
    check_arrays(dataset, f"scikit-learn {dataset.source.sklearn}", x, y, "")
    return SourceArrays(x, y)


def label_array(dataset: DatasetSpec, y: Array) -> Array:
    """Labels as stored: class indices int64, a regression dataset's targets float64."""
    return np.asarray(y, dtype=np.float64 if dataset.regression else np.int64)


def _write(path: Path, mode: int, compressed: bool, **arrays: Array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    if compressed:
        np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
    else:
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def split_source(dataset: DatasetSpec, source: SourceArrays) -> tuple[dict[str, Array], tuple[Array, Array], str]:
    """(the visible arrays, the hidden (x, y), the split in words) as the declaration says."""
    split = dataset.split

    def cast(x: Array) -> Array:
        return x.astype(dataset.dtype, copy=False) if dataset.dtype else x

    if split.kind in ("stratified", "random"):
        x, y = source.x, source.y
        if source.x_test is not None and source.y_test is not None:
            x, y = np.concatenate([x, source.x_test]), np.concatenate([y, source.y_test])
        draw = stratified_rows if split.kind == "stratified" else random_rows
        held, kept = draw(y, split.held_out or 0, split.seed)
        return ({"x_train": cast(x[kept]), "y_train": y[kept]}, (cast(x[held]), y[held]),
                f"{split.kind}, seed {split.seed}, {len(held)} of {len(y)} rows hidden")
    if source.x_test is None or source.y_test is None:
        raise DatasetError(f"dataset {dataset.id}: split {split.kind!r} needs a source with a test part")
    if split.kind == "given":
        return ({"x_train": cast(source.x), "y_train": source.y}, (cast(source.x_test), source.y_test),
                f"as given: {len(source.y_test)} test rows hidden")
    order = np.random.default_rng(split.seed).permutation(len(source.y_test))
    hidden, shown = np.sort(order[: len(order) // 2]), np.sort(order[len(order) // 2:])
    visible: dict[str, Array] = {"x_train": cast(source.x), "y_train": source.y, "x_test": cast(source.x_test[shown]),
               "y_test": source.y_test[shown]}
    return (visible, (cast(source.x_test[hidden]), source.y_test[hidden]),
            f"half of the test part hidden, seed {split.seed}: {len(hidden)} hidden, {len(shown)} visible test rows")


def set_aside_second(dataset: DatasetSpec, hidden_x: Array, hidden_y: Array) -> tuple[tuple[Array, Array],
                                                                                      tuple[Array, Array] | None]:
    """(the hidden part the checks score, the second held-back sample or None): `split.second_sample` rows of the
    hidden part, stratified by class with the split's seed, set aside (`stratified_rows`)."""
    wanted = dataset.split.second_sample
    if not wanted:
        return (hidden_x, hidden_y), None
    if wanted >= 1 and wanted >= len(hidden_y) / 2:
        raise DatasetError(f"dataset {dataset.id}: second_sample = {wanted:g} rows, but the hidden part has only "
                           f"{len(hidden_y)}; set aside fewer than half, so that the checks keep most of them")
    second, kept = stratified_rows(hidden_y, wanted, dataset.split.seed)
    return (hidden_x[kept], hidden_y[kept]), (hidden_x[second], hidden_y[second])


def source_path(lab: LabData, dataset: DatasetSpec) -> Path | None:
    """Where a file source is kept on this machine (None for other sources)."""
    return lab.sources / dataset.source.file if dataset.source.file else None


def prepare_dataset(lab: LabData, dataset: DatasetSpec) -> dict[str, Any] | None:
    """Split one declared dataset from its source into the lab's visible and hidden parts; returns its provenance,
    or None when the source is not on this machine (or is the instructor's own data, imported separately)."""
    path = source_path(lab, dataset)
    if dataset.is_environment:
        return _prepare_environment(lab, dataset)
    if dataset.source.kind == "sklearn":
        source, origin, digest = _sklearn_source(dataset), f"scikit-learn {dataset.source.sklearn}", None
    elif path is not None and path.is_file():
        source, origin, digest = read_source(dataset, path), str(path), sha256_of(path)
    else:
        return None
    visible, (hidden_x, hidden_y), words = split_source(dataset, source)
    if dataset.regression:  # a class label is served as its source stored it (e.g. uint8, as Keras' loader gives)
        visible.update({key: label_array(dataset, visible[key]) for key in ("y_train", "y_test") if key in visible})
    (hidden_x, hidden_y), second = set_aside_second(dataset, hidden_x, hidden_y)
    _write(lab.visible / f"{dataset.id}.npz", 0o444, False, **visible)
    lab.hidden.mkdir(parents=True, exist_ok=True)
    os.chmod(lab.hidden, 0o700)
    _write(lab.hidden / f"{dataset.id}.npz", 0o400, True, x=hidden_x, y=label_array(dataset, hidden_y))
    second_path = lab.second_sample_path(dataset.id)
    if second is None:
        second_path.unlink(missing_ok=True)
    else:
        _write(second_path, 0o400, True, x=second[0], y=label_array(dataset, second[1]))
        words += f"; {len(second[1])} of those hidden rows set aside as a second held-back sample"
    served = write_served_files(lab, dataset)
    share_identical_files(lab, [f"{dataset.id}.npz", *served])
    classes = [] if dataset.regression else list(dataset.classes) or [
        str(c) for c in sorted(set(visible["y_train"].tolist()) | set(hidden_y.tolist()))]
    provenance = {
        "source": origin, "source_sha256": digest, "declared_sha256": dataset.source.sha256, "split": words,
        "seed": dataset.split.seed, "visible_rows": len(visible["y_train"]), "hidden_rows": len(hidden_y),
        "input_shape": list(visible["x_train"].shape[1:]), "classes": classes, "served": served,
        "visible_sha256": sha256_of(lab.visible / f"{dataset.id}.npz"),
        "hidden_sha256": sha256_of(lab.hidden / f"{dataset.id}.npz"),
        "second_sample": dataset.split.second_sample, "second_rows": 0 if second is None else len(second[1]),
        "second_sha256": None if second is None else sha256_of(second_path),
    }
    (lab.root / f"provenance-{dataset.id}.json").write_text(json.dumps(provenance, indent=2))
    return provenance


def _prepare_environment(lab: LabData, dataset: DatasetSpec) -> dict[str, Any]:
    """An environment dataset's visible seeds and observations, and its hidden seeds (`grader.data.environment`)."""
    visible, (hidden_x, hidden_y), words = environment_parts(dataset)
    _write(lab.visible / f"{dataset.id}.npz", 0o444, False, **visible)
    lab.hidden.mkdir(parents=True, exist_ok=True)
    os.chmod(lab.hidden, 0o700)
    # the step cap and what counts as success travel with the seeds: a change of either changes the hidden part's
    # checksum, so a rescore asks for a regrade instead of reusing episodes played by other rules
    rules = json.dumps(environment_declaration(dataset), sort_keys=True)
    _write(lab.hidden / f"{dataset.id}.npz", 0o400, True, x=hidden_x, y=hidden_y, rules=np.array(rules))
    provenance = {
        "source": f"gymnasium {dataset.source.gymnasium}", "source_sha256": None, "declared_sha256": None,
        "split": words, "seed": dataset.episodes.sample_seed if dataset.episodes else None,
        "visible_rows": len(visible["y_train"]), "hidden_rows": len(hidden_x),
        "input_shape": list(visible["x_train"].shape[1:]), "classes": list(dataset.classes), "served": [],
        "declaration": environment_declaration(dataset),
        "visible_sha256": sha256_of(lab.visible / f"{dataset.id}.npz"),
        "hidden_sha256": sha256_of(lab.hidden / f"{dataset.id}.npz"),
    }
    (lab.root / f"provenance-{dataset.id}.json").write_text(json.dumps(provenance, indent=2))
    return provenance


def share_identical_files(lab: LabData, names: list[str]) -> int:
    """Hard-link each of the lab's visible files to an identical one another lab of this data dir already has (labs that
    declare one source serve the same files); returns how many were shared. Safe to share: a later import writes a new
    file and renames it into place, so it never changes a file another lab links to."""
    shared = 0
    for name in names:
        mine = lab.visible / name
        if not mine.is_file():
            continue
        digest = None
        for other in sorted((lab.data_dir / "labs").glob(f"*/visible/{name}")):
            if other == mine or not other.is_file() or other.stat().st_size != mine.stat().st_size:
                continue
            if os.path.samefile(other, mine):
                break
            digest = digest or sha256_of(mine)
            if sha256_of(other) == digest:
                tmp = mine.with_name(mine.name + ".link")
                tmp.unlink(missing_ok=True)
                os.link(other, tmp)
                os.replace(tmp, mine)
                shared += 1
                break
    return shared


def _prepared_as_declared(lab: LabData, dataset: DatasetSpec) -> bool:
    """The dataset's provenance is here and its second held-back sample is the one declared (a declaration added
    or removed later prepares the split again, from the same source and seed)."""
    try:
        provenance = json.loads((lab.root / f"provenance-{dataset.id}.json").read_text())
    except (OSError, ValueError):
        return False
    if dataset.is_environment:  # seeds are declared in lab.toml: prepared again when they change
        return bool(provenance.get("declaration") == environment_declaration(dataset))
    return bool(provenance.get("second_sample") == dataset.split.second_sample)


def prepare_lab(lab: LabData, spec: LabSpec, lab_dir: Path, *, again: bool = False) -> dict[str, dict[str, Any]]:
    """Every dataset of the lab whose source is here and (unless `again`) is not prepared yet, and the lab's student
    files; returns the provenance of each dataset prepared now."""
    install_student_files(lab, spec, lab_dir)
    prepared = {}
    for dataset in spec.datasets:
        done = lab.has_dataset(dataset.id) and _prepared_as_declared(lab, dataset)
        if dataset.source.kind != "import" and (again or not done):
            try:
                provenance = prepare_dataset(lab, dataset)
            except DatasetError as exc:
                if not dataset.is_environment:
                    raise
                # an environment this service cannot make (gymnasium missing, an unknown id): its checks say the
                # data is not installed, and the other labs are served
                logger.warning("lab %s: %s", spec.id, exc)
                continue
            if provenance is not None:
                prepared[dataset.id] = provenance
    return prepared


def prepare_labs(data_dir: Path, labs_dir: Path, lab_ids: list[str]) -> None:
    """Derive each lab's splits from the sources present (once per data dir) and install its student files."""
    for lab_id in lab_ids:
        try:
            spec = load_spec(labs_dir / lab_id / "lab.toml")
        except SpecInvalid:
            continue  # an invalid lab is reported where labs are listed; it has nothing to prepare
        prepare_lab(LabData(data_dir, lab_id), spec, labs_dir / lab_id)
