"""What an installed service holds: the labs' data and starters, never their reference solutions (students' kernels
never see the service's files, and a leaked wheel or image must not carry the answers either)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_no_reference_solution(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("server", "grader", "lab_tasks", "migrations"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("labgrader-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    labs = sorted(p.name for p in (ROOT / "lab_tasks").iterdir() if (p / "lab.toml").is_file())
    assert labs and all(f"lab_tasks/{lab}/lab.toml" in names and f"lab_tasks/{lab}/starter.ipynb" in names
                        for lab in labs)
    assert [n for n in names if "/solutions/" in n] == []
    assert any((ROOT / "lab_tasks" / lab / "solutions").glob("*.ipynb") for lab in labs)  # they are in the tree
