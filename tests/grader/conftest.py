"""Shared by the grader's tests: the in-kernel harness, run here from the same source text the kernel runs."""

from __future__ import annotations

from typing import Any

import pytest

from grader.evaluation.in_kernel import harness_source


@pytest.fixture(scope="module")
def harness() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "labgrader_harness"}
    exec(compile(harness_source(), "labgrader_harness.py", "exec"), namespace)
    return namespace
