"""The declared source files of every lab: `labgrader datasets import PATH`, `datasets fetch` and `datasets status`.

A lab declares a file source as `[datasets.source] file = NAME` (with its `sha256` and a `url`). `import PATH` takes
PATH for every dataset of every lab that declares PATH's name or PATH's sha256, checks it against each declaration
before anything is written, keeps it as `<data_dir>/sources/NAME` and prepares those datasets again. `fetch`
downloads every declared URL once, refuses a download whose sha256 differs from the declared one, and imports it.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from grader.data.lab_data import LabData, sha256_of
from grader.data.prepare import prepare_dataset, read_source
from grader.errors import DatasetError
from grader.spec.dataset import DatasetSpec
from grader.spec.lab import LabSpec

Labs = dict[str, LabSpec]  # lab id -> its spec (`discover_labs` of the labs folder)


def file_sources(labs: Labs) -> list[tuple[str, DatasetSpec]]:
    """(lab id, dataset) of every dataset whose source is a file, by lab id then declaration order."""
    return [(lab_id, d) for lab_id, spec in sorted(labs.items()) for d in spec.datasets if d.source.file]


def import_source(data_dir: Path, labs: Labs, path: Path, as_file: str | None = None) -> list[str]:
    """Take `path` for every declared dataset it is the source of (its name, or `as_file`, is the declared file
    name, or its sha256 the declared one) and prepare them; one summary line each."""
    if not path.is_file():
        raise DatasetError(f"{path} is not a NumPy .npz archive: no such file")
    digest = sha256_of(path)
    name = as_file or path.name
    matches = [(lab_id, d) for lab_id, d in file_sources(labs) if d.source.file == name
               or (as_file is None and d.source.sha256 == digest)]
    if not matches:
        declared = sorted({f"{d.source.file}" + (f" (sha256 {d.source.sha256})" if d.source.sha256 else "")
                           for _, d in file_sources(labs)})
        raise DatasetError(f"{path} is no lab's declared source file (neither by name nor by sha256); the labs "
                           f"declare: {', '.join(declared) or 'no source files'} (a file of another name: "
                           "`datasets import PATH --as NAME`)")
    rows = {}
    for _, dataset in matches:
        rows[dataset.id] = len(read_source(dataset, path).y)  # every declaration checked before anything changes
    for file in sorted({d.source.file for _, d in matches if d.source.file}):
        target = data_dir / "sources" / file
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    lines = []
    for lab_id, dataset in matches:
        provenance = prepare_dataset(LabData(data_dir, lab_id), dataset)
        assert provenance is not None  # its source was just put in place
        if dataset.source.sha256 == digest:
            kind = f"the declared {dataset.title} file"
        elif dataset.source.sha256:
            kind = f"a copy of {dataset.title} whose bytes differ from the declared sha256 ({rows[dataset.id]} " \
                   "training rows)"
        else:
            kind = f"the {dataset.title} file"
        lines.append(f"imported {path} as {kind}, sha256 {digest}; prepared {lab_id}/{dataset.id}: "
                     f"{provenance['split']}")
    for lab_id in sorted({lab_id for lab_id, _ in matches}):  # and what else those labs need no file for
        lab = LabData(data_dir, lab_id)
        for other in labs[lab_id].datasets:
            if other.source.kind in ("sklearn", "environment") and not lab.has_dataset(other.id):
                made = prepare_dataset(lab, other)
                origin = "scikit-learn" if other.source.kind == "sklearn" else "gymnasium"
                lines.append(f"prepared {lab_id}/{other.id} from {origin}: {made['split'] if made else ''}")
    return lines


def fetch_sources(data_dir: Path, labs: Labs, timeout_s: float = 60) -> list[str]:
    """Download each declared URL once, verify its sha256 and import it; summary lines."""
    wanted = {(d.source.url, d.source.file, d.source.sha256) for _, d in file_sources(labs) if d.source.url}
    if not wanted:
        raise DatasetError("no lab declares a source with a url to fetch")
    lines = []
    for url, file, expected in sorted(wanted, key=str):
        assert url is not None and file is not None
        sources = data_dir / "sources"
        sources.mkdir(parents=True, exist_ok=True)
        download = sources / f"{file}.download"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response, download.open("wb") as fh:  # noqa: S310
                shutil.copyfileobj(response, fh)
        except (urllib.error.URLError, OSError) as exc:
            download.unlink(missing_ok=True)
            raise DatasetError(f"could not download {url} ({exc}); on an offline machine copy {file} here and run "
                               f"`labgrader datasets import {file}`") from exc
        digest = sha256_of(download)
        if expected and digest != expected:
            download.unlink(missing_ok=True)
            raise DatasetError(f"{url} has sha256 {digest}, expected {expected}; nothing was changed")
        named = sources / ".fetched" / file  # its declared name, so a source without a sha256 is recognised
        named.parent.mkdir(exist_ok=True)
        os.replace(download, named)
        try:
            lines += [line.replace(str(named), url) for line in import_source(data_dir, labs, named)]
        finally:
            named.unlink(missing_ok=True)
    return lines


def _hint(lab_id: str, dataset: DatasetSpec) -> str:
    if dataset.source.kind == "sklearn":
        return (f" (prepared from scikit-learn's {dataset.source.sklearn} when `labgrader serve` or `datasets import` "
                "runs)")
    if dataset.source.kind == "environment":
        return f" (prepared from gymnasium's {dataset.source.gymnasium} when `labgrader serve` runs)"
    return f" (run {dataset.install_command(lab_id)})"


def dataset_status(data_dir: Path, labs: Labs) -> list[str]:
    """Per lab, per declared dataset: each prepared part with its sha256 and size, and its provenance."""
    lines = []
    for lab_id, spec in sorted(labs.items()):
        lab = LabData(data_dir, lab_id)
        for dataset in spec.datasets:
            files = [lab.hidden / f"{dataset.id}.npz", lab.visible / f"{dataset.id}.npz"]
            if not all(f.is_file() for f in files):
                lines.append(f"{lab_id}/{dataset.id}: missing{_hint(lab_id, dataset)}")
                continue
            for file in files:
                lines.append(f"{lab_id}/{dataset.id}: {file.relative_to(data_dir)} sha256 {sha256_of(file)} "
                             f"{file.stat().st_size} bytes")
            provenance = lab.root / f"provenance-{dataset.id}.json"
            if provenance.is_file():
                facts = json.loads(provenance.read_text())
                lines.append(f"{lab_id}/{dataset.id}: provenance {json.dumps(facts, sort_keys=True)}")
    return lines
