"""Fixtures of the bundled labs' tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab_tasks.bundled import import_mnist


@pytest.fixture(scope="module")
def mnist_workdir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with the MNIST arrays imported, for the test module's lab (its `LAB`), which must be prepared."""
    lab: str = request.module.LAB
    root = tmp_path_factory.mktemp(lab)
    assert f"prepared {lab}/mnist: " in import_mnist(root)
    return root
