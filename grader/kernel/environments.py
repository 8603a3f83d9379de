"""Student environments: a requirements file per environment, built into its own venv, checked inside the sandbox.

    lab_tasks/environments/NAME.txt       the bundled definitions (`default`: what the curriculum imports)
    LABS_DIR/environments/NAME.txt        a course's own (found first when LABGRADER_LABS_DIR is set)
    KERNELS_DIR/NAME@STAMP/               one build's venv (KERNELS_DIR defaults to DATA_DIR/kernels); bin/python runs
                                          the kernel
    KERNELS_DIR/NAME@STAMP/labgrader-environment.json   written last by the build: its versions, what it was built from
    KERNELS_DIR/NAME -> NAME@STAMP        the build in use: a link, replaced atomically (rename) once a new build is
                                          complete, so a job resolves NAME to the old build or the new one, never to
                                          a half-built venv or another interpreter; the previous build stays for the
                                          jobs still running in it, older ones are removed

A lab names its environment in `lab.toml` (`environment = "default"`). The worker image runs the same build command
on the same file. Where `default` was never built, the service's own interpreter runs student kernels (a development
install has the frameworks there) and `/healthz` and `labgrader kernels list` say so; once a build of an environment
has begun, nothing else stands in for it: until one is complete, grading its labs is refused (their jobs wait) and
`/healthz` says why. The start-up check refuses an environment that lacks what a lab declares in `frameworks`.
(A venv built by an older Labgrader in KERNELS_DIR/NAME itself is used as it is until the next build replaces it.)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.data.lab_data import sha256_of
from grader.errors import EnvironmentNotReady, EnvironmentUnavailable
from grader.sandbox.isolation import Isolation, IsolationMode, SandboxConfig
from grader.sandbox.kernel_command import hidden_path_problem

DEFAULT_ENVIRONMENT = "default"
MARKER = "labgrader-environment.json"
ENVIRONMENTS_FOLDER = "environments"
REPORTED = ("ipykernel", "numpy", "torch", "torchvision", "lightning", "pytorch-lightning", "tensorflow", "keras",
            "scikit-learn", "pandas", "matplotlib", "seaborn")
STDERR_TAIL_CHARS = 600
BUILD_SPACE_FACTOR = 1.3  # a rebuild: the last build's size, and room for pip's unpacked wheels
UNKNOWN_BUILD_MB = 3 * 1024  # a first build of a file of unknown size: refuse only a disk that is nearly full
MORE_SPACE = "free space there or set LABGRADER_KERNELS_DIR to a folder on a larger disk"
FULL_DISK_MB = 512  # a failed build that left less than this: the disk, not the file, is named

VERSIONS_CODE = (
    "import json, sys\nfrom importlib import metadata\nout = {'python': sys.version.split()[0]}\n"
    "for name in %r:\n    try:\n        out[name] = metadata.version(name)\n"
    "    except metadata.PackageNotFoundError:\n        pass\nprint(json.dumps(out))\n"
)


def versions_code() -> str:
    return VERSIONS_CODE % (REPORTED,)


def probe_code(frameworks: Sequence[str]) -> str:
    """Run inside the sandbox: the kernel's own imports, the lab's frameworks present, versions on stdout."""
    return (
        "import importlib.util, sys\nimport ipykernel.kernelapp\n"
        f"missing = [m for m in {tuple(frameworks)!r} if importlib.util.find_spec(m) is None]\n"
        "if missing:\n    print('missing: ' + ', '.join(missing), file=sys.stderr)\n    sys.exit(3)\n"
        + versions_code()
    )


@dataclass(frozen=True)
class StudentEnvironment:
    """Where one named environment's kernel interpreter is, and why that one."""

    name: str
    python: str
    venv: Path | None  # the built venv; None when another interpreter stands in for it
    source: str  # "built", "LABGRADER_KERNEL_PYTHON", or why the service's own interpreter runs it

    def label(self) -> str:
        return f"the student environment `{self.name}` ({self.python})"


@dataclass(frozen=True)
class EnvironmentStatus:
    """One environment as `/healthz`, `kernels list` and the start-up check show it."""

    name: str
    python: str
    source: str
    ok: bool
    detail: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"python": self.python, "source": self.source, "status": "ok" if self.ok else self.detail,
                "versions": self.versions}


def environment_definitions(labs_dir: Path | None, bundled: Path) -> dict[str, Path]:
    """Every environment definition by name; a course's own (under LABS_DIR) shadows a bundled one."""
    found: dict[str, Path] = {}
    for folder in (bundled / ENVIRONMENTS_FOLDER, *([labs_dir / ENVIRONMENTS_FOLDER] if labs_dir else [])):
        for path in sorted(folder.glob("*.txt")):
            found[path.stem] = path.resolve()
    return found


def read_environment_marker(venv: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((venv / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _builds(kernels_dir: Path, name: str) -> list[Path]:
    """Every build directory of `name` (complete or not), oldest first."""
    return sorted(p for p in kernels_dir.glob(f"{name}@*") if p.is_dir() and not p.is_symlink())


def resolve_environment(name: str, kernels_dir: Path, kernel_python: str | None) -> StudentEnvironment:
    """The interpreter that runs `name`'s kernels: LABGRADER_KERNEL_PYTHON (for `default`), the build in use (its real
    path: a swap to a newer build does not move a job that resolved this one), or, for a `default` never built, the
    service's own interpreter. An environment whose build has begun but none is complete is refused (jobs wait)."""
    if name == DEFAULT_ENVIRONMENT and kernel_python:
        return StudentEnvironment(name, kernel_python, None, "LABGRADER_KERNEL_PYTHON")
    venv = kernels_dir / name
    if read_environment_marker(venv) is not None:
        real = Path(os.path.realpath(venv))
        return StudentEnvironment(name, str(real / "bin" / "python"), real, "built")
    if venv.exists() or venv.is_symlink() or _builds(kernels_dir, name):
        raise EnvironmentNotReady(
            f"the student environment `{name}` is not ready in {venv}: a build is under way or did not finish; "
            f"its labs are not graded (their jobs wait) until `labgrader kernels build {name}` completes")
    if name == DEFAULT_ENVIRONMENT:
        return StudentEnvironment(name, sys.executable, None,
                                  f"not built (the service's own interpreter runs it; `labgrader kernels build` "
                                  f"builds it in {venv})")
    raise EnvironmentUnavailable(
        f"the student environment `{name}` is not built in {venv}: run `labgrader kernels build {name}`")


def _tail(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        lines = lines[-1:]  # a Python traceback: its last line names the exception
    tail = " | ".join(lines[-4:])
    return tail if len(tail) <= STDERR_TAIL_CHARS else "..." + tail[-STDERR_TAIL_CHARS:]


def start_failure(name: str, python: str, stderr: str) -> str:
    """The one line that says why a kernel of environment `name` did not start."""
    return (f"the student environment `{name}` ({python}) did not start inside the sandbox: "
            f"{_tail(stderr) or 'it printed nothing'}")


def check_environment(env: StudentEnvironment, config: SandboxConfig, isolation: Isolation, jobs_root: Path,
                     frameworks: Sequence[str] = (), timeout_s: float = 180) -> EnvironmentStatus:
    """Start `env`'s interpreter exactly as a kernel starts (same sandbox, uid, limits), import the kernel and find
    the lab's frameworks; the versions it reports, or the reason it failed."""
    from grader.sandbox import kernel_command
    from grader.sandbox.job import prepare_job
    from grader.sandbox.uid_lease import lease_uid

    def failed(detail: str) -> EnvironmentStatus:
        return EnvironmentStatus(env.name, env.python, env.source, False, detail)

    problem = hidden_path_problem(env.python, jobs_root)
    if problem:
        return failed(f"{env.label()} cannot run in the sandbox: {problem}")
    if not os.access(env.python, os.X_OK):
        return failed(f"{env.label()} does not exist or is not executable")
    config = _with_python(config, env.python)
    command = [env.python, "-c", probe_code(frameworks)]
    with contextlib.ExitStack() as stack:
        uid: int | None = None
        if isolation.mode is IsolationMode.BUBBLEWRAP:
            uid = stack.enter_context(lease_uid(config.uid_base, 0))
        try:
            job = prepare_job(config, isolation, jobs_root, uid, {}, ())
        except EnvironmentUnavailable as exc:
            return failed(str(exc))
        stack.callback(job.end)
        argv = kernel_command.kernel_argv(config, isolation, job.dirs, uid or os.getuid(), job.env, job.cgroup,
                                          command=command)
        env_vars = job.env if isolation.mode is IsolationMode.NONE else {}
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=env_vars,
                                  cwd=str(job.dirs.work))
        except subprocess.TimeoutExpired:
            return failed(f"{env.label()} did not start inside the sandbox within {timeout_s:.0f} s")
    if proc.returncode != 0:
        missing = [line for line in proc.stderr.splitlines() if line.startswith("missing: ")]
        if missing:
            return failed(f"{env.label()} lacks {missing[-1].removeprefix('missing: ')}, which the labs import: "
                          f"run `labgrader kernels build {env.name}`")
        return failed(start_failure(env.name, env.python, proc.stderr))
    try:
        versions = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return failed(start_failure(env.name, env.python, proc.stderr + proc.stdout))
    return EnvironmentStatus(env.name, env.python, env.source, True, "", {str(k): str(v) for k, v in versions.items()})


def _with_python(config: SandboxConfig, python: str) -> SandboxConfig:
    import dataclasses

    return dataclasses.replace(config, kernel_python=python)


def directory_size_mb(path: Path) -> float:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return round(total / 1024 / 1024, 1)


def open_for_reading(root: Path) -> int:
    """`chmod -R a+rX,go-w root`, touching only what differs; returns how many modes changed.

    A chmod that changes nothing still copies the file up into a new image layer (overlayfs), so the worker image's
    `kernels build` over an environment installed in an earlier layer would duplicate its 7 GB."""
    changed = _open_one(str(root))
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            changed += _open_one(os.path.join(top, name))
    return changed


def _open_one(path: str) -> int:
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        return 0
    wanted = (mode | 0o444) & ~0o022
    if stat.S_ISDIR(mode) or mode & 0o111:
        wanted |= 0o111
    if stat.S_IMODE(wanted) == stat.S_IMODE(mode):
        return 0
    os.chmod(path, stat.S_IMODE(wanted))
    return 1


def space_problem(folder: Path, needed_mb: float) -> str | None:
    """Why a build of about `needed_mb` would not fit on the disk of `folder`, or None. A build beside the one in use
    needs room for both until the swap; pip unpacks wheels there too."""
    free = free_mb(folder)
    if free >= needed_mb:
        return None
    return (f"only {free / 1024:.1f} GB free on the disk of {folder}, and the build needs about "
            f"{needed_mb / 1024:.1f} GB beside the build in use; {MORE_SPACE}")


def free_mb(folder: Path) -> float:
    return shutil.disk_usage(folder).free / 2**20


def build_environment(name: str, requirements: Path, kernels_dir: Path, base_python: str, *,
                      use_pip_config: bool = False, clean: bool = False) -> dict[str, Any]:
    """Build `name` from `requirements` beside the build in use, then swap it in; returns what the marker records.
    A build in use that was made from the same file and base interpreter is kept as it is, unless `clean`.

    pip runs isolated from this machine's pip configuration unless `use_pip_config` (a mirror, a proxy): the same
    file then gives the same environment on every machine, as in the worker image."""
    link = kernels_dir / name
    problem = hidden_path_problem(str(link))
    if problem:
        raise EnvironmentUnavailable(f"cannot build `{name}` there: {problem}")
    current = read_environment_marker(link)
    if current is not None and not clean and current.get("requirements_sha256") == sha256_of(requirements) \
            and current.get("base_python") == base_python:
        return current
    if current is None and not clean and not link.is_symlink() and (link / "bin" / "python").exists():
        # a venv installed in place with no record: the worker image's environment layer, which must not depend on
        # the code. It is brought up to the file where it stands and recorded, not rebuilt beside it: a rename out of
        # an image's lower layer fails (EXDEV on overlayfs), and a second build would add another 7 GB layer
        return _build_venv(name, requirements, link, base_python, use_pip_config, create=False)
    kernels_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(kernels_dir, 0o755)  # noqa: S103 - the sandbox uids read the venvs below it
    previous_mb = float((current or {}).get("size_mb") or 0)
    problem = space_problem(kernels_dir, previous_mb * BUILD_SPACE_FACTOR or UNKNOWN_BUILD_MB)
    if problem:
        raise EnvironmentUnavailable(f"cannot build `{name}`: {problem}")
    venv = kernels_dir / f"{name}@{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}"
    try:
        marker = _build_venv(name, requirements, venv, base_python, use_pip_config)
    except BaseException as exc:
        left_mb = free_mb(kernels_dir)
        shutil.rmtree(venv, ignore_errors=True)  # the build in use (if any) stays in use
        if isinstance(exc, subprocess.CalledProcessError) and left_mb < FULL_DISK_MB:
            raise EnvironmentUnavailable(
                f"building `{name}` failed: the disk of {kernels_dir} filled up ({left_mb:.0f} MB left); "
                f"{MORE_SPACE}") from exc
        raise
    _swap_in(link, venv)
    return marker


def _build_venv(name: str, requirements: Path, venv: Path, base_python: str, use_pip_config: bool, *,
                create: bool = True) -> dict[str, Any]:
    run = subprocess.run
    started = time.monotonic()
    if create:
        run([base_python, "-m", "venv", str(venv)], check=True, stdout=sys.stderr)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    if not use_pip_config:
        pip.append("--isolated")
    run([*pip, "-r", str(requirements)], check=True, stdout=sys.stderr)  # stdout: the summary only
    open_for_reading(venv)  # read by the sandbox uids, written by none
    versions = json.loads(run([str(venv / "bin" / "python"), "-c", versions_code()], check=True,
                              capture_output=True, text=True).stdout)
    if "ipykernel" not in versions:
        raise EnvironmentUnavailable(f"{requirements} does not install ipykernel, which runs the kernel")
    marker = {
        "name": name, "requirements": str(requirements), "requirements_sha256": sha256_of(requirements),
        "base_python": base_python, "versions": versions,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_s": round(time.monotonic() - started, 1), "size_mb": directory_size_mb(venv),
    }
    tmp = venv / (MARKER + ".tmp")
    tmp.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o644)
    os.replace(tmp, venv / MARKER)
    return marker


def _swap_in(link: Path, venv: Path) -> None:
    """Point `link` at the complete build `venv` in one rename; keep the build it replaces (jobs may still run in it)
    and remove older ones."""
    previous = Path(os.path.realpath(link)) if link.is_symlink() else None
    if link.is_dir() and not link.is_symlink():  # a venv built in place by an older Labgrader: kept as a build
        previous = link.with_name(f"{link.name}@0-in-place-{os.getpid()}")
        os.rename(link, previous)
    tmp = link.with_name(f".{link.name}.swap-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(venv.name, tmp)
    os.replace(tmp, link)
    for old in _builds(link.parent, link.name):
        if old not in (venv, previous):
            shutil.rmtree(old, ignore_errors=True)
