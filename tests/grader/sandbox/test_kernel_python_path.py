"""The kernel's interpreter is named by a path whose folders are real: the sandbox mounts a venv at its real path, so
`KERNELS_DIR/default/bin/python` through the `default -> default@STAMP` link did not exist inside it ("setpriv: failed
to execute .../default/bin/python: No such file or directory"); `bin/python` itself stays the venv's own link."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from grader.sandbox.isolation import SandboxConfig


def test_the_folders_above_the_interpreter_are_resolved_and_the_interpreter_link_kept(tmp_path: Path) -> None:
    build = tmp_path / "kernels" / "default@20261207T000000-1"
    (build / "bin").mkdir(parents=True)
    os.symlink(sys.executable, build / "bin" / "python")  # a venv's python links to the base interpreter
    os.symlink(build.name, tmp_path / "kernels" / "default")

    config = SandboxConfig(kernel_python=str(tmp_path / "kernels" / "default" / "bin" / "python"))

    assert config.kernel_python == str(build.resolve() / "bin" / "python")
    assert os.path.islink(config.kernel_python)  # not the base binary: the venv is found beside this path


def test_an_interpreter_named_without_a_folder_is_left_to_the_path() -> None:
    assert SandboxConfig(kernel_python="python3").kernel_python == "python3"
