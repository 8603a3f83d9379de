"""A student environment is built beside the one in use and swapped in with one rename: while `kernels build` runs,
an environment resolves to the complete build in use (or, before the first one is complete, is refused: its jobs
wait), never to the service's own interpreter or a half-built venv. Throw-away environments in a temporary kernels
directory, built offline by the real `build_environment` from a local wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.errors import EnvironmentNotReady
from grader.kernel.environments import MARKER, build_environment, resolve_environment

pytestmark = pytest.mark.slow  # six venvs built (about 45 s each on this shared machine)
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)


@pytest.fixture
def kernels_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="labgrader-swap-", dir="/var/tmp"))  # /tmp is hidden from the sandbox
    try:
        yield root / "kernels"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _requirements(folder: Path, version: str) -> Path:
    """A requirements file pip satisfies offline: a wheel named ipykernel (all the build checks for) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"ipykernel-{version}.dist-info"
    files = {f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: ipykernel\nVersion: {version}\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: labgrader-tests\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n"}
    files[f"{dist}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{dist}/RECORD"])
    with zipfile.ZipFile(folder / f"ipykernel-{version}-py3-none-any.whl", "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    requirements = folder / f"tiny-{version}.txt"
    requirements.write_text(f"--no-index\n--find-links {folder}\nipykernel=={version}\n")
    return requirements


def _build_while_resolving(kernels_dir: Path, requirements: Path) -> list[str]:
    """Build `default` in a thread; meanwhile resolve it again and again, as jobs would. What each resolution gave
    (repeats collapsed)."""
    seen: list[str] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def build() -> None:
        try:
            build_environment("default", requirements, kernels_dir, BASE_PYTHON, use_pip_config=True)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=build)
    thread.start()
    count = 0
    while True:
        finished = done.is_set()
        try:
            now = resolve_environment("default", kernels_dir, None).python
        except EnvironmentNotReady as exc:
            now = f"refused: {exc}"
        count += 1
        if not seen or seen[-1] != now:
            seen.append(now)
        if finished:  # one resolution after the build ended
            break
        done.wait(0.01)
    thread.join()
    assert errors == []
    assert count > 10  # a build takes seconds: many resolutions happened during it
    return seen


def test_a_build_is_swapped_in_whole_and_the_service_never_resolves_another_interpreter(kernels_dir: Path) -> None:
    """The issue's reproduction: during the first build of `default`, it resolved to the service's own Python."""
    wheels = kernels_dir.parent / "wheels"
    link = kernels_dir / "default"
    refused = (f"refused: the student environment `default` is not ready in {link}: a build is under way or did not "
               "finish; its labs are not graded (their jobs wait) until `labgrader kernels build default` completes")

    first = _build_while_resolving(kernels_dir, _requirements(wheels, "1.0"))
    build_1 = link.resolve()
    assert link.is_symlink() and build_1.name.startswith("default@") and (build_1 / MARKER).is_file()
    # never built: the service's interpreter (development); once the build began: refused, then the build, whole
    assert first[-2:] == [refused, str(build_1 / "bin" / "python")]
    assert first[:-2] in ([], [sys.executable])
    env = resolve_environment("default", kernels_dir, None)
    assert (env.python, env.venv, env.source) == (str(build_1 / "bin" / "python"), build_1, "built")

    second = _build_while_resolving(kernels_dir, _requirements(wheels, "2.0"))
    build_2 = link.resolve()
    # during the second build: the first build, whole, until the rename; then the second
    assert build_2 != build_1
    assert second == [str(build_1 / "bin" / "python"), str(build_2 / "bin" / "python")]

    build_environment("default", _requirements(wheels, "3.0"), kernels_dir, BASE_PYTHON, use_pip_config=True)
    build_3 = link.resolve()
    # the build replaced stays for jobs still running in it; older ones go
    assert sorted(p.name for p in kernels_dir.iterdir()) == sorted(["default", build_2.name, build_3.name])


def test_an_up_to_date_build_is_kept_and_a_failed_one_changes_nothing(kernels_dir: Path) -> None:
    wheels = kernels_dir.parent / "wheels"
    requirements = _requirements(wheels, "1.0")
    marker = build_environment("tiny", requirements, kernels_dir, BASE_PYTHON, use_pip_config=True)
    build_1 = (kernels_dir / "tiny").resolve()
    assert build_environment("tiny", requirements, kernels_dir, BASE_PYTHON, use_pip_config=True) == marker
    broken = wheels / "broken.txt"
    broken.write_text(f"--no-index\n--find-links {wheels}\nipykernel==9.9\n")
    with pytest.raises(Exception, match="returned non-zero exit status"):
        build_environment("tiny", broken, kernels_dir, BASE_PYTHON, use_pip_config=True)
    assert (kernels_dir / "tiny").resolve() == build_1
    assert sorted(p.name for p in kernels_dir.iterdir()) == sorted(["tiny", build_1.name])


def test_a_venv_built_in_place_by_an_older_labgrader_is_used_then_kept_as_the_previous_build(
        kernels_dir: Path) -> None:
    wheels = kernels_dir.parent / "wheels"
    marker = build_environment("tiny", _requirements(wheels, "1.0"), kernels_dir, BASE_PYTHON, use_pip_config=True)
    in_place = kernels_dir / "tiny"
    build_1 = in_place.resolve()
    in_place.unlink()
    build_1.rename(in_place)  # the old layout: the venv itself at KERNELS_DIR/NAME
    env = resolve_environment("tiny", kernels_dir, None)
    assert (env.python, env.source) == (str(in_place / "bin" / "python"), "built")
    build_environment("tiny", _requirements(wheels, "2.0"), kernels_dir, BASE_PYTHON, use_pip_config=True)
    assert in_place.is_symlink()
    kept = [p for p in kernels_dir.iterdir() if p.name.startswith("tiny@0-in-place-")]
    assert len(kept) == 1 and (kept[0] / MARKER).is_file() and marker["versions"]["ipykernel"] == "1.0"


def test_a_venv_installed_in_place_without_a_record_is_recorded_where_it_stands(kernels_dir: Path) -> None:
    """The worker image's layout: its environment layer makes KERNELS_DIR/NAME with `python -m venv` and pip, before
    the code exists; the later `kernels build` must record it there, not rename it (EXDEV out of an image layer)."""
    requirements = _requirements(kernels_dir.parent / "wheels", "1.0")
    in_place = kernels_dir / "tiny"
    subprocess.run([BASE_PYTHON, "-m", "venv", str(in_place)], check=True)
    subprocess.run([str(in_place / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)],
                   check=True)
    marker = build_environment("tiny", requirements, kernels_dir, BASE_PYTHON, use_pip_config=True)
    assert in_place.is_dir() and not in_place.is_symlink()
    assert [p.name for p in kernels_dir.iterdir()] == ["tiny"]  # nothing built beside it, nothing renamed
    assert (in_place / MARKER).is_file() and marker["versions"]["ipykernel"] == "1.0"
    env = resolve_environment("tiny", kernels_dir, None)
    assert (env.python, env.source) == (str(in_place / "bin" / "python"), "built")
    assert build_environment("tiny", requirements, kernels_dir, BASE_PYTHON, use_pip_config=True) == marker
