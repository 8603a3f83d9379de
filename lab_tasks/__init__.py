"""Labs: one folder each, with a declarative spec (`lab.toml`), a starter notebook, solutions and data preparation."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

LABS_DIR = Path(__file__).resolve().parent  # the bundled labs (`LABGRADER_LABS_DIR` names another folder)


def data_module(lab_id: str) -> ModuleType | None:
    """The lab's data-preparation module (`lab_tasks/<lab>/data.py`), if it has one."""
    try:
        return importlib.import_module(f"lab_tasks.{lab_id}.data")
    except ModuleNotFoundError:
        return None
