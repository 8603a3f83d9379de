"""`labgrader kernels build|list|check`, a lab's own environment, and a kernel that cannot start: one line that says
why from `grade` (exit 4), a refusal from `serve`, an `error` job with the reason after the service's retries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.data.lab_data import sha256_of
from grader.kernel.environments import MARKER, versions_code
from tests.conftest import LABGRADER, REPO, make_server, notebook_bytes, server_env
from tests.grader.kernel.kernel_venvs import make_kernel_venv

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs a root worker")
PRINT_PREFIX = "import sys\nprint('prefix:', sys.prefix)"


@pytest.fixture(scope="module")
def venvs() -> Iterator[Path]:
    """Outside /tmp, which the sandbox hides: kernels/tiny (ipykernel + numpy + pip, as `kernels build` leaves a
    venv) and broken/ (numpy only: no kernel to start)."""
    root = Path(tempfile.mkdtemp(prefix="labgrader-kernels-", dir="/var/tmp"))
    root.chmod(0o755)
    make_kernel_venv(root / "kernels" / "tiny", "ipykernel", "numpy", with_pip=True)
    make_kernel_venv(root / "broken", "numpy")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _labs_dir(tmp_path: Path, environment: str, frameworks: bool = True) -> Path:
    """A copy of the frameworks lab whose lab.toml names `environment` (and declares no frameworks unless
    `frameworks`), and that environment's requirements."""
    labs = tmp_path / "labs"
    shutil.copytree(REPO / "lab_tasks" / "frameworks", labs / "frameworks")
    shutil.copy(REPO / "lab_tasks" / "datasets.toml", labs)  # the course's MNIST declaration
    toml = labs / "frameworks" / "lab.toml"
    text = toml.read_text().replace('starter = "starter.ipynb"',
                                    f'starter = "starter.ipynb"\nenvironment = "{environment}"')
    toml.write_text(text if frameworks else text.replace('frameworks = ["torch", "tensorflow"]', "frameworks = []"))
    (labs / "environments").mkdir()
    (labs / "environments" / f"{environment}.txt").write_text("ipykernel==7.4.0\nnumpy==2.4.6\n")
    return labs


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LABGRADER, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@needs_root
@pytest.mark.slow  # a few minutes: five CLI runs, two of them start kernels
def test_a_lab_names_its_environment_which_kernels_build_makes_and_list_shows(tmp_path: Path, venvs: Path) -> None:
    labs = _labs_dir(tmp_path, "tiny")
    env = server_env(tmp_path, LABGRADER_LABS_DIR=str(labs), LABGRADER_KERNELS_DIR=str(venvs / "kernels"))
    listed = json.loads(_run(env, tmp_path, "kernels", "list", "--json").stdout)
    tiny = next(e for e in listed if e["name"] == "tiny")
    assert (tiny["built"], tiny["source"]) == (False, "not built")
    graded = _run(env, tmp_path, "grade", str(_notebook(tmp_path)), "--lab", "frameworks")
    assert graded.returncode == 4
    # a venv without the build's marker is never used: a build is under way or did not finish
    assert graded.stderr == (f"error: the student environment `tiny` is not ready in {venvs / 'kernels' / 'tiny'}: "
                             "a build is under way or did not finish; its labs are not graded (their jobs wait) "
                             "until `labgrader kernels build tiny` completes\n")

    # what an older Labgrader's `kernels build` left: the venv in place, its marker written last (builds now go
    # beside it and are swapped in: tests/grader/kernel/test_environment_swap.py, offline)
    _finish_in_place(venvs / "kernels" / "tiny", labs / "environments" / "tiny.txt")
    listed = json.loads(_run(env, tmp_path, "kernels", "list", "--json").stdout)
    tiny = next(e for e in listed if e["name"] == "tiny")
    assert (tiny["built"], tiny["up_to_date"], tiny["source"]) == (True, True, "built")
    assert tiny["python"] == str(venvs / "kernels" / "tiny" / "bin" / "python")
    assert tiny["requirements"] == str((labs / "environments" / "tiny.txt").resolve())
    assert {k: tiny["versions"][k] for k in ("ipykernel", "numpy")} == {"ipykernel": "7.4.0", "numpy": "2.4.6"}
    assert "torch" not in tiny["versions"]
    python = venvs / "kernels" / "tiny" / "bin" / "python"
    checked = _run(env, tmp_path, "kernels", "check", "tiny")
    assert (checked.returncode, checked.stdout) == (3, f"tiny: the student environment `tiny` ({python}) lacks "
                                                       "tensorflow, torch, which the labs import: run "
                                                       "`labgrader kernels build tiny`\n")
    toml = labs / "frameworks" / "lab.toml"
    toml.write_text(toml.read_text().replace('frameworks = ["torch", "tensorflow"]', "frameworks = []"))
    checked = _run(env, tmp_path, "kernels", "check", "tiny")
    assert (checked.returncode, checked.stdout) == (0, "tiny: starts in the sandbox\n")

    nb = _notebook(tmp_path, "import sys\nraise RuntimeError('prefix ' + sys.prefix)")
    graded = _run(env, tmp_path, "grade", str(nb), "--lab", "frameworks", "--json")
    assert graded.returncode == 0, graded.stderr
    messages = {check["message"] for check in json.loads(graded.stdout)["checks"]}
    assert any(f"cell 1 raised RuntimeError: prefix {venvs / 'kernels' / 'tiny'}" in m for m in messages), messages


def _finish_in_place(venv: Path, requirements: Path) -> None:
    python = venv / "bin" / "python"
    versions = json.loads(subprocess.run([str(python), "-c", versions_code()], capture_output=True, text=True,
                                         check=True, timeout=120).stdout)
    marker = {"name": venv.name, "requirements": str(requirements.resolve()),
              "requirements_sha256": sha256_of(requirements), "base_python": str(python), "versions": versions,
              "built_at": "2026-12-01T00:00:00Z", "build_s": 1.0, "size_mb": 1.0}
    (venv / MARKER).write_text(json.dumps(marker))


def _notebook(tmp_path: Path, source: str = PRINT_PREFIX) -> Path:
    path = tmp_path / f"nb-{abs(hash(source))}.ipynb"
    path.write_bytes(notebook_bytes(source))  # nbformat-valid (cell ids), so no warning joins stderr
    return path


@needs_root
def test_grade_says_in_one_line_why_the_kernel_did_not_start(tmp_path: Path, venvs: Path) -> None:
    python = venvs / "broken" / "bin" / "python"
    env = server_env(tmp_path, LABGRADER_KERNEL_PYTHON=str(python))
    graded = _run(env, tmp_path, "grade", str(_notebook(tmp_path)), "--lab", "frameworks")
    assert graded.returncode == 4
    assert graded.stdout == ""
    assert graded.stderr.count("\n") == 1 and "Traceback" not in graded.stderr
    assert graded.stderr.startswith(f"error: the student environment `default` ({python}) did not start inside the "
                                    "sandbox: ")
    assert f"{python}: No module named ipykernel_launcher" in graded.stderr


@needs_root
def test_an_interpreter_under_tmp_is_refused_with_the_reason(tmp_path: Path) -> None:
    python = make_kernel_venv(tmp_path / "venv-in-tmp")
    env = server_env(tmp_path, LABGRADER_KERNEL_PYTHON=str(python))
    graded = _run(env, tmp_path, "grade", str(_notebook(tmp_path)), "--lab", "frameworks")
    assert graded.returncode == 4
    assert graded.stderr == (
        f"error: the kernel's interpreter {python} cannot run in the sandbox: {tmp_path / 'venv-in-tmp'} lies under "
        "/tmp, which the sandbox replaces with its own empty tmpfs: build the environment elsewhere "
        "(`labgrader kernels build` puts it under the data directory)\n")


@needs_root
def test_serve_refuses_to_start_while_an_environment_does_not_start(tmp_path: Path, venvs: Path) -> None:
    python = venvs / "broken" / "bin" / "python"
    server = make_server(tmp_path, LABGRADER_KERNEL_PYTHON=str(python))
    proc = subprocess.run([*LABGRADER, "serve", "--port", server.url.rsplit(":", 1)[1]], cwd=server.workdir,
                          env=server.env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert lines[-2] == (f"error: the student environment `default` ({python}) did not start inside the sandbox: "
                         "ModuleNotFoundError: No module named 'ipykernel'")
    assert lines[-1] == ("error: `labgrader serve` does not start until every student environment starts in the "
                         "sandbox (`labgrader kernels list` shows them)")
    assert "Traceback" not in proc.stderr


@needs_root
@pytest.mark.slow  # minutes: a server, and two attempts that each wait for a kernel to die
def test_a_kernel_that_stops_starting_fails_the_job_with_the_reason_after_retries(tmp_path: Path,
                                                                                    venvs: Path) -> None:
    kernel = venvs / "breaks"
    shutil.copytree(venvs / "kernels" / "tiny", kernel, symlinks=True)
    labs = _labs_dir(tmp_path, "default", frameworks=False)
    server = make_server(tmp_path, LABGRADER_KERNEL_PYTHON=str(kernel / "bin" / "python"),
                         LABGRADER_MAX_ATTEMPTS="2", LABGRADER_LABS_DIR=str(labs))
    server.start()
    try:
        token = server.add_user("ina", "instructor")
        health = server.client().get("/healthz").json()
        assert health["environments"]["default"]["status"] == "ok"
        assert health["environments"]["default"]["versions"]["ipykernel"] == "7.4.0"
        for launcher in kernel.glob("lib/python3.11/site-packages/ipykernel_launcher.py"):
            launcher.unlink()  # the environment breaks while the service runs
        with server.client(token) as client:
            created = client.post("/api/v1/labs/frameworks/submissions",
                                  files={"notebook": ("nb.ipynb", notebook_bytes(PRINT_PREFIX))})
            assert created.status_code == 202, created.text
            done = server.wait_for(token, created.json()["id"], timeout_s=240)
        assert done["status"] == "error"
        assert str(done["note"]).startswith(
            "the grader failed 2 times: KernelStartFailed: the student environment `default` "
            f"({kernel / 'bin' / 'python'}) did not start inside the sandbox: ")
        assert "No module named ipykernel_launcher" in str(done["note"])
    finally:
        server.stop()
