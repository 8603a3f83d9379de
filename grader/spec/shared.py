"""Datasets declared once for a whole course: `datasets.toml` in the labs folder (beside the lab folders) holds
`[[datasets]]` tables of the lab.toml schema, and a lab takes one with a table of a single key:

    [[datasets]]
    shared = "flowers"

The shared declaration replaces that table before the lab is validated, so every lab that names it evaluates on the
same declaration (the same source, split and seed, hence the same data). Nothing else of a lab may be shared.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from grader.errors import SharedDatasetInvalid, SpecInvalid

SHARED_FILE = "datasets.toml"


def shared_file(lab_toml: Path) -> Path:
    """The course's shared datasets file of a lab: `datasets.toml` in the folder that holds the lab's folder."""
    return lab_toml.parent.parent / SHARED_FILE


def _shared_datasets(path: Path) -> dict[str, dict[str, Any]]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SpecInvalid(f"{path} does not exist: write the shared [[datasets]] tables there, or declare the "
                          "dataset in the lab.toml itself") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SpecInvalid(f"{path}: {exc}") from exc
    extra = sorted(set(raw) - {"datasets"})
    if extra:
        raise SpecInvalid(f"{path}: {extra[0]}: a shared datasets file holds only [[datasets]] tables")
    tables = raw.get("datasets", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise SpecInvalid(f"{path}: datasets: write each dataset as a [[datasets]] table")
    return {str(table.get("id")): table for table in tables}


def with_shared_datasets(raw: dict[str, Any], lab_toml: Path) -> dict[str, Any]:
    """`raw` (a parsed lab.toml) with every `[[datasets]] shared = "ID"` table replaced by the course's declaration."""
    tables = raw.get("datasets")
    if not isinstance(tables, list) or not any(isinstance(t, dict) and "shared" in t for t in tables):
        return raw
    path = shared_file(lab_toml)
    try:
        shared = _shared_datasets(path)
    except SpecInvalid as exc:
        raise SharedDatasetInvalid(lab_toml, "datasets", str(exc)) from exc
    resolved = []
    for index, table in enumerate(tables):
        if not isinstance(table, dict) or "shared" not in table:
            resolved.append(table)
            continue
        if set(table) != {"shared"}:
            other = sorted(set(table) - {"shared"})[0]
            raise SharedDatasetInvalid(lab_toml, f"datasets[{index}].{other}", "a table with `shared` takes nothing "
                                       f"else; change the shared declaration in {path}, or declare the dataset here "
                                       "in full")
        name = table["shared"]
        if name not in shared:
            raise SharedDatasetInvalid(lab_toml, f"datasets[{index}].shared", f"{path} declares no dataset {name!r} "
                                       f"(it declares: {', '.join(sorted(shared)) or 'none'})")
        resolved.append(shared[name])
    return {**raw, "datasets": resolved}
