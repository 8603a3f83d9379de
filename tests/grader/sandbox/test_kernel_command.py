"""The kernel's environment is built from nothing of the service's, with the kernel's own interpreter on PATH."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.sandbox.kernel_command import kernel_environment


def test_the_kernel_path_starts_at_the_kernel_interpreter_not_the_service(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABGRADER_DATABASE_URL", "postgresql://secret@db/labgrader")
    env = kernel_environment(tmp_path, {"CUDA_VISIBLE_DEVICES": "1"}, "/opt/kernel-venv/bin/python")
    assert env["PATH"] == "/opt/kernel-venv/bin:/usr/local/bin:/usr/bin:/bin"
    assert env["HOME"] == str(tmp_path)
    assert env["CUDA_VISIBLE_DEVICES"] == "1"
    assert not any("LABGRADER_DATABASE" in key or "secret" in value for key, value in env.items())
