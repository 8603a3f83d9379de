"""Labs: one folder each, with a declarative spec (`lab.toml`: its datasets, checks and limits), a starter notebook,
reference solutions and the files it serves to students. No code of a lab runs in the service."""

from __future__ import annotations

from pathlib import Path

LABS_DIR = Path(__file__).resolve().parent  # the bundled labs (`LABGRADER_LABS_DIR` names another folder)
