"""Where a lab's data lives: the visible part the sandbox may see, the hidden split only the scorer reads.

    <data_dir>/labs/<lab_id>/visible/   copied into each job's work dir as ./data (students read it)
    <data_dir>/labs/<lab_id>/hidden/    <dataset>.npz with x (inputs) and y (labels); never enters a sandbox;
                                        <dataset>-second.npz, a second held-back sample where the lab declares one
    <data_dir>/sources/                 imported or downloaded source files a lab declares
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

TRAINING_SAMPLE_SIZE = 2000
TRAINING_SAMPLE_SEED = 20240903


@dataclass(frozen=True)
class HiddenSplit:
    """Inputs and labels of a hidden evaluation set: class indices (int64), or a regression dataset's targets
    (float64)."""

    x: NDArray[np.generic]
    y: NDArray[Any]


@dataclass(frozen=True)
class LabData:
    """The data of one lab under a data directory."""

    data_dir: Path
    lab_id: str

    @property
    def root(self) -> Path:
        return self.data_dir / "labs" / self.lab_id

    @property
    def visible(self) -> Path:
        return self.root / "visible"

    @property
    def hidden(self) -> Path:
        return self.root / "hidden"

    @property
    def sources(self) -> Path:
        return self.data_dir / "sources"

    def hidden_split(self, dataset: str) -> HiddenSplit:
        with np.load(self.hidden / f"{dataset}.npz", allow_pickle=False) as archive:
            return HiddenSplit(x=archive["x"], y=labels(archive["y"]))

    def second_sample_path(self, dataset: str) -> Path:
        return self.hidden / f"{dataset}-second.npz"

    def second_sample(self, dataset: str) -> HiddenSplit | None:
        """The dataset's second held-back sample (`split.second_sample`: rows set aside from the hidden part, never
        served or scored), or None where the lab declares none."""
        path = self.second_sample_path(dataset)
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as archive:
            return HiddenSplit(x=archive["x"], y=archive["y"].astype(np.int64))

    def has_hidden(self, dataset: str) -> bool:
        return (self.hidden / f"{dataset}.npz").is_file()

    def has_visible(self, dataset: str) -> bool:
        return (self.visible / f"{dataset}.npz").is_file()

    def has_dataset(self, dataset: str) -> bool:
        """Both parts installed: the models can be evaluated on this dataset."""
        return self.has_hidden(dataset) and self.has_visible(dataset)

    def training_sample(self, dataset: str, size: int = TRAINING_SAMPLE_SIZE) -> HiddenSplit:
        """A fixed sample of the visible training set: picks preprocessing and measures training accuracy."""
        with np.load(self.visible / f"{dataset}.npz", allow_pickle=False) as archive:
            x, y = archive["x_train"], archive["y_train"]
        if len(y) > size:
            rows = np.sort(np.random.default_rng(TRAINING_SAMPLE_SEED).choice(len(y), size, replace=False))
            x, y = x[rows], y[rows]
        return HiddenSplit(x=x, y=labels(y))

    def visible_test_inputs(self, dataset: str, size: int) -> NDArray[np.generic] | None:
        """The first `size` visible test inputs (a test_half split serves half the source's test part), or None."""
        path = self.visible / f"{dataset}.npz"
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as archive:
            return archive["x_test"][:size] if "x_test" in archive.files else None

    def copy_visible_into(self, target: Path) -> None:
        """Hard-link (or copy) the visible files into a job; they stay root-owned and read-only."""
        if not self.visible.is_dir():
            return
        for src in self.visible.rglob("*"):
            dest = target / src.relative_to(self.visible)
            if src.is_dir():
                dest.mkdir(mode=0o755, parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            try:
                os.link(src, dest)
            except OSError:
                shutil.copyfile(src, dest)
                os.chmod(dest, 0o444)


def labels(y: NDArray[Any]) -> NDArray[Any]:
    """Stored labels as the scorer reads them: a regression dataset's float targets as float64, classes as int64."""
    return y.astype(np.float64 if np.issubdtype(y.dtype, np.floating) else np.int64)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stratified_rows(y: NDArray[Any], held_out: float, seed: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(hidden rows, visible rows), both sorted: per class, in label order, `round(rows of the class * share)` rows
    drawn by one seeded generator (at least one of a class with two or more); `held_out` is a share below 1 or a
    number of rows."""
    labels = np.asarray(y)
    share = held_out / len(labels) if held_out >= 1 else held_out
    rng = np.random.default_rng(seed)
    hidden: list[int] = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        count = max(1, round(len(rows) * share)) if len(rows) > 1 else 0
        hidden.extend(rng.choice(rows, count, replace=False).tolist())
    hidden_rows = np.sort(np.array(hidden, dtype=np.int64))
    return hidden_rows, np.setdiff1d(np.arange(len(labels)), hidden_rows).astype(np.int64)


def random_rows(y: NDArray[Any], held_out: float, seed: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(hidden rows, visible rows), both sorted: `held_out` rows (a share below 1, or a number of rows) drawn from all
    rows by one seeded generator, as a regression dataset is split (it has no classes to stratify by)."""
    count = min(len(y), round(len(y) * held_out) if held_out < 1 else int(held_out))
    hidden_rows = np.sort(np.random.default_rng(seed).choice(len(y), count, replace=False)).astype(np.int64)
    return hidden_rows, np.setdiff1d(np.arange(len(y)), hidden_rows).astype(np.int64)


def missing_datasets(lab: LabData, datasets: set[str]) -> list[str]:
    """The datasets a lab's checks need whose hidden or visible part this data directory lacks."""
    return sorted(d for d in datasets if not lab.has_dataset(d))


def warn_missing_datasets(data_dir: Path, needs: dict[str, set[str]], log: logging.Logger) -> None:
    """Say at start-up which labs cannot measure some checks yet, and how to fix it (lab id -> datasets needed)."""
    for lab_id, datasets in sorted(needs.items()):
        missing = missing_datasets(LabData(data_dir, lab_id), datasets)
        if missing:
            log.warning("lab %s: no %s data in %s; its checks on it score 0 and say the data is not installed, until "
                        "`labgrader datasets import PATH` (or `datasets fetch`) and a regrade", lab_id,
                        " or ".join(missing), data_dir)


@dataclass(frozen=True)
class MemoisedLabData(LabData):
    """A lab's data whose splits are read from disk once (a rescore scores a thousand runs on the same arrays)."""

    _splits: dict[tuple[str, str], HiddenSplit] = field(default_factory=dict, compare=False, repr=False)
    _installed: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    def has_dataset(self, dataset: str) -> bool:
        if dataset not in self._installed:
            self._installed[dataset] = super().has_dataset(dataset)
        return self._installed[dataset]

    def hidden_split(self, dataset: str) -> HiddenSplit:
        key = ("hidden", dataset)
        if key not in self._splits:
            self._splits[key] = super().hidden_split(dataset)
        return self._splits[key]

    def training_sample(self, dataset: str, size: int = TRAINING_SAMPLE_SIZE) -> HiddenSplit:
        key = (f"train-{size}", dataset)
        if key not in self._splits:
            self._splits[key] = super().training_sample(dataset, size)
        return self._splits[key]
