"""The files a lab serves to its sandboxes besides `<id>.npz`, and the per-job description of its offline loaders.

    visible/<name>.npz          keras.datasets.<name>.load_data() (the kernel start-up answers its get_file with it)
    visible/<Name>/raw/*-ubyte  torchvision.datasets.<Name>(root='./data'): uncompressed IDX files, the format
                                torchvision's IDX-reading classes parse (uint8 images and labels)
    visible/<file>              each of the lab's `student_files` (a helper module students import), and each of
                                `serve.pickles` (`grader.data.pickles`)
    <work>/<path>               a link to a served pickle at each of its `paths` inside the notebook's folder;
                                the paths that climb out of it are answered by the kernel's start-up

`served_description` is what the kernel's start-up is told for one job (`in_kernel/startup_serving.py`): which
loaders to answer from ./data, which URLs map to which local file and at which paths notebooks read the served pickles
(`in_kernel/course_files.py`, run for each job after it). It names only files every job already sees.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np

from grader.data import course_pickle
from grader.data.lab_data import LabData
from grader.data.pickles import write_pickles
from grader.spec.dataset import DatasetSpec
from grader.spec.lab import LabSpec

IDX_UBYTE = 0x08
# the four files torchvision's IDX-reading dataset classes look for under <root>/<Name>/raw
IDX_FILES = (("train-images-idx3-ubyte", "x_train"), ("train-labels-idx1-ubyte", "y_train"),
             ("t10k-images-idx3-ubyte", "x_test"), ("t10k-labels-idx1-ubyte", "y_test"))


def write_idx(path: Path, array: np.ndarray[Any, Any]) -> None:
    """An uncompressed IDX file (magic 0x0000 08 <ndim>, big-endian sizes, then the bytes): uint8 data."""
    data = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, IDX_UBYTE, data.ndim]) + struct.pack(f">{data.ndim}i", *data.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(header + data.tobytes())
    os.chmod(tmp, 0o444)
    os.replace(tmp, path)


def _replace_with(source: Path, target: Path) -> None:
    """`target` becomes a read-only copy of `source` (a hard link where the file system allows)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o444)
    os.replace(tmp, target)


def write_served_files(lab: LabData, dataset: DatasetSpec) -> list[str]:
    """The loader files of one prepared dataset, from its visible part; returns their paths under ./data."""
    visible = lab.visible / f"{dataset.id}.npz"
    written = []
    for name in dataset.serve.keras:
        if name != dataset.id:
            _replace_with(visible, lab.visible / f"{name}.npz")
        written.append(f"{name}.npz")
    if dataset.serve.torchvision:
        with np.load(visible, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        for name in dataset.serve.torchvision:
            for file, key in IDX_FILES:
                write_idx(lab.visible / name / "raw" / file, arrays[key])
                written.append(f"{name}/raw/{file}")
    return written + write_pickles(lab.visible, dataset)


def install_student_files(lab: LabData, spec: LabSpec, lab_dir: Path) -> list[str]:
    """Copy the lab's `student_files` into its visible data (each under its own name); returns the names."""
    names = []
    for relative in spec.student_files:
        source, target = lab_dir / relative, lab.visible / Path(relative).name
        if not (target.is_file() and target.read_bytes() == source.read_bytes()):
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            tmp.unlink(missing_ok=True)
            shutil.copyfile(source, tmp)
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        names.append(target.name)
    return names


def served_description(spec: LabSpec) -> dict[str, Any]:
    """What the kernel start-up answers offline for a job of this lab (JSON-able; no data, only names)."""
    keras: list[str] = []
    torchvision: list[str] = []
    urls: dict[str, str] = {}
    for dataset in spec.datasets:
        keras += [name for name in dataset.serve.keras if name not in keras]
        torchvision += [name for name in dataset.serve.torchvision if name not in torchvision]
        urls.update(dataset.serve.urls)
    description: dict[str, Any] = {"keras": keras, "torchvision": torchvision, "urls": urls}
    paths = served_paths(spec)
    if paths:
        description["paths"] = paths
    if spec.numpy1_names:
        description["numpy1_names"] = True
    return description


def served_paths(spec: LabSpec) -> dict[str, str]:
    """Where notebooks read the lab's pickles (normalised, relative to the notebook's folder) -> file in ./data."""
    return {os.path.normpath(path): declared.file for dataset in spec.datasets
            for declared in dataset.serve.pickles for path in declared.paths}


def link_served_paths(spec: LabSpec, work: Path) -> list[str]:
    """Link each served pickle at its paths inside the notebook's folder (`work`), where the upload put no file of
    that name; returns the paths linked. The links share the read-only ./data file: no copy per job."""
    linked = []
    for path, file in served_paths(spec).items():
        source, target = work / "data" / file, work / path
        if path.startswith("..") or not source.is_file() or os.path.lexists(target):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
            os.chmod(target, 0o444)
        linked.append(path)
    return linked


def served_code(spec: LabSpec) -> str:
    """The private cell that tells the kernel start-up (already run, also in a warm kernel) what this job serves."""
    return f"__import__('_labgrader_seen').serve({served_description(spec)!r})\n"


def course_call(spec: LabSpec) -> str:
    """The private code that runs `in_kernel/course_files.py` (read before it) for a job of this lab."""
    description = {key: value for key, value in served_description(spec).items()
                   if key in ("paths", "numpy1_names")}
    if any(declared.layout == "dict_or_tuple" for dataset in spec.datasets for declared in dataset.serve.pickles):
        description["course_module"] = Path(course_pickle.__file__).read_text(encoding="utf-8")
    return f"__labgrader_course_files({description!r})\ndel __labgrader_course_files\n"
