"""The README's two commands: the first installs, builds the default student environment and serves, in one line;
the second is exactly what CI (`.ci/run`) runs."""

from __future__ import annotations

import re
import subprocess

from tests.deploy.conftest import REPO


def readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    return [block.strip() for block in blocks[:2]]


def test_the_first_command_is_one_line_that_builds_the_default_environment_before_serving() -> None:
    first = readme_commands()[0]
    assert "\n" not in first
    steps = [step.strip() for step in first.split("&&")]
    assert steps[-2:] == [".venv/bin/labgrader kernels build", ".venv/bin/labgrader serve"]
    assert 'pip install -e ".[scale]"' in first and "torch" not in first


def test_ci_runs_exactly_the_second_command() -> None:
    second = readme_commands()[1]
    assert second == ".ci/prepare && .venv/bin/python -m pytest"
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert second in ci
    assert [line for line in ci if "pytest" in line] == [second]


def test_the_ci_scripts_are_valid_bash() -> None:
    for script in (".ci/prepare", ".ci/run"):
        proc = subprocess.run(["bash", "-n", str(REPO / script)], capture_output=True, text=True, timeout=30)
        assert (proc.returncode, proc.stderr) == (0, ""), script
