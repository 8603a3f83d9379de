"""The command line and environment that start one sandboxed IPython kernel (layers: `grader.sandbox.isolation`)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

from grader.errors import EnvironmentUnavailable
from grader.sandbox import seccomp
from grader.sandbox.cgroups import JobCgroup
from grader.sandbox.isolation import Isolation, IsolationMode, MemoryLimitMechanism, SandboxConfig, SandboxLimits
from grader.sandbox.jobdir import JobDirs

SANDBOX_USER = "student"
# what the sandbox mounts its own things over (tmpfs, devices, proc): an interpreter under these is invisible there
HIDDEN_BY_SANDBOX = ("/tmp", "/dev", "/proc", "/sys")
IDENTITY_FILES = ("passwd", "group", "hosts", "nsswitch.conf")
SECCOMP_FILE = "seccomp.bpf"
SECCOMP_FD = 3  # the launcher opens the filter there for bwrap's --seccomp


def _python_prefixes(python: str) -> tuple[str, ...]:
    try:
        proc = subprocess.run([python, "-c", "import sys; print(sys.prefix); print(sys.base_prefix)"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentUnavailable(f"the kernel's interpreter {python} does not run: {exc}") from exc
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])[-400:]
        raise EnvironmentUnavailable(f"the kernel's interpreter {python} does not run: {tail or proc.returncode}")
    return tuple(dict.fromkeys(os.path.realpath(p) for p in proc.stdout.split()))


def venv_root(python: str) -> str | None:
    """The venv an interpreter path belongs to: where its `pyvenv.cfg` lies (next to it or one level up, as Python
    itself looks), without resolving links: every venv's `python` links to the same base binary."""
    here = Path(os.path.abspath(python)).parent
    for candidate in (here, here.parent):
        if (candidate / "pyvenv.cfg").is_file():
            return str(candidate)
    return None


def _is_this_interpreter(python: str) -> bool:
    """Whether `python` starts the service's own environment (same venv, or the same non-venv interpreter)."""
    mine, theirs = venv_root(sys.executable), venv_root(python)
    if mine is not None or theirs is not None:
        return mine is not None and theirs is not None and os.path.samefile(mine, theirs)
    return os.path.realpath(python) == os.path.realpath(sys.executable)


@cache
def kernel_python_prefixes(python: str) -> tuple[str, ...]:
    """The directories the kernel's interpreter needs readable: its venv and the base installation."""
    if _is_this_interpreter(python):
        return tuple(dict.fromkeys(os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)))
    return _python_prefixes(python)


# IPython's profile (its start-up scripts and config files) and Jupyter's configuration: empty, root-owned, and
# read-only in the sandbox (under the job's `eval` directory); nothing in the work directory (the kernel's home, where
# submitted files land) is read as a profile, a start-up script or a config file
PROFILE = "ipython/profile_default"


def make_config_dirs(evaluation: Path, work: Path) -> dict[str, str]:
    """The kernel's empty profile and Jupyter configuration under `evaluation` (root-owned), and the variables that
    point the kernel at them; IPython's own scratch directory (`IPYTHONDIR`, where nothing is read from once a
    profile is given) lies in the work directory's `.tmp`."""
    profile = evaluation / PROFILE
    # security and pid as IPython makes them (0700: nothing there is read), so it does not try to change them
    for sub, mode in (("startup", 0o755), ("log", 0o755), ("pid", 0o700), ("security", 0o700)):
        (profile / sub).mkdir(mode=mode, parents=True, exist_ok=True)
    for part in (evaluation / "ipython", profile):
        os.chmod(part, 0o755)  # noqa: S103 - the sandbox uid reads the (empty) profile
    jupyter = evaluation / "jupyter"
    jupyter.mkdir(mode=0o755, exist_ok=True)
    return {"IPYTHONDIR": str(work / ".tmp" / "ipython"), "JUPYTER_CONFIG_DIR": str(jupyter),
            "JUPYTER_DATA_DIR": str(jupyter)}


def kernel_environment(work: Path, extra: dict[str, str], python: str = sys.executable,
                       config_dirs: dict[str, str] | None = None) -> dict[str, str]:
    """The kernel's entire environment: nothing of the service's (no database URL, broker URL or tokens);
    `config_dirs` (`make_config_dirs`) keeps IPython's and Jupyter's configuration out of the work directory."""
    python_bin = str(Path(python).parent)  # the kernel's venv: `python`, `pip` and `!jupyter` resolve inside it
    env = {
        "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(work),
        "USER": SANDBOX_USER,
        "LOGNAME": SANDBOX_USER,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",  # plt.show() and figures left open both show
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_DETERMINISTIC_OPS": "1",
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",
        "CUDA_VISIBLE_DEVICES": "",
        "TMPDIR": str(work / ".tmp"),
        "PYTHONNOUSERSITE": "1",  # no ~/.local site-packages (nor its .pth files) at start-up
        **(config_dirs or {}),
    }
    env.update(extra)
    return env


def hidden_path_problem(path: str, jobs_root: Path | None = None) -> str | None:
    """Why the sandbox would not see `path` (None: it would)."""
    real = os.path.realpath(path)
    hidden = [*HIDDEN_BY_SANDBOX, *([os.path.realpath(jobs_root)] if jobs_root else [])]
    for top in hidden:
        if real == top or real.startswith(top.rstrip("/") + "/"):
            why = ("which the sandbox replaces with its own empty tmpfs" if top == "/tmp"
                   else "which the sandbox mounts its own filesystem over")
            return f"{real} lies under {top}, {why}: build the environment elsewhere (`labgrader kernels build` " \
                   "puts it under the data directory)"
    return None


def write_identity_files(host: Path, uid: int) -> None:
    (host / "passwd").write_text(
        f"root:x:0:0:root:/root:/usr/sbin/nologin\n{SANDBOX_USER}:x:{uid}:{uid}::/nonexistent:/bin/sh\n")
    (host / "group").write_text(f"root:x:0:\n{SANDBOX_USER}:x:{uid}:\n")
    (host / "hosts").write_text("127.0.0.1 localhost\n::1 localhost\n")
    # names resolve from these files only: there is no DNS server to ask inside the network namespace
    (host / "nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files\n")
    for name in IDENTITY_FILES:
        os.chmod(host / name, 0o644)


def rlimit_args(prlimit: str, limits: SandboxLimits, limit_address_space: bool) -> list[str]:
    """prlimit's argv prefix; the address-space limit only where no memory cgroup holds the job."""
    memory = [f"--as={limits.memory_limit_mb * 1024 * 1024}"] if limit_address_space else []
    return [
        prlimit, *memory,
        f"--nproc={limits.max_processes}",
        f"--fsize={limits.file_size_limit_mb * 1024 * 1024}",
        f"--nofile={limits.open_files}",
        f"--cpu={limits.cpu_time_s}",
        "--core=0",
        "--",
    ]


def mount_parents(path: str, made: set[str]) -> list[str]:
    """bwrap creates missing mount-point parents as 0700, which the sandbox uid could not cross: make them 0755."""
    args: list[str] = []
    for parent in reversed(Path(path).parents):
        name = str(parent)
        if name not in made:
            made.add(name)
            args += ["--perms", "0755", "--dir", name]
    return args


def _filesystem(config: SandboxConfig, dirs: JobDirs, devices: tuple[str, ...]) -> list[str]:
    limits = config.limits
    argv = [
        "--ro-bind", "/usr", "/usr", "--perms", "0755", "--dir", "/etc",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/sbin", "/sbin",
        "--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache",
        *[arg for name in IDENTITY_FILES for arg in ("--ro-bind", str(dirs.host / name), f"/etc/{name}")],
        "--proc", "/proc", "--dev", "/dev",
        "--size", str(limits.tmp_limit_mb * 1024 * 1024), "--perms", "1777", "--tmpfs", "/tmp",
        "--size", str(limits.shm_limit_mb * 1024 * 1024), "--perms", "1777", "--tmpfs", "/dev/shm",
    ]
    for optional in ("/etc/fonts", "/etc/localtime", "/etc/alternatives"):
        if os.path.exists(optional):
            argv += ["--ro-bind", optional, optional]
    made: set[str] = {"/", "/usr", "/etc", "/proc", "/dev", "/tmp"}
    for prefix in kernel_python_prefixes(config.kernel_python):
        if problem := hidden_path_problem(prefix, dirs.root.parent):
            raise EnvironmentUnavailable(f"the kernel's interpreter {config.kernel_python} cannot run in the sandbox: "
                                         f"{problem}")
        argv += [*mount_parents(prefix, made), "--ro-bind", prefix, prefix]
    for device in devices:
        argv += ["--dev-bind", device, device]
    argv += mount_parents(str(dirs.work), made)
    argv += ["--ro-bind", str(dirs.evaluation), str(dirs.evaluation)]
    return [*argv, "--bind", str(dirs.work), str(dirs.work), "--chdir", str(dirs.work)]


def launcher(cgroup: JobCgroup, seccomp_filter: Path | None) -> list[str]:
    """An argv prefix (a root shell) that moves itself into the job's cgroups and opens the seccomp filter on
    SECCOMP_FD, then execs the rest of the argv (bwrap)."""
    steps = [f"echo $$ > {shlex.quote(str(g / 'cgroup.procs'))}" for g in cgroup.groups()]
    if seccomp_filter is not None:
        steps.append(f"exec {SECCOMP_FD}< {shlex.quote(str(seccomp_filter))}")
    if not steps:
        return []
    return ["/bin/sh", "-c", " && ".join(steps) + ' && exec "$@"', "labgrader-enter-cgroup"]


def seccomp_args(isolation: Isolation, dirs: JobDirs) -> tuple[Path | None, list[str]]:
    """Write the job's filter into its host-only directory; the launcher's path to it and bwrap's options."""
    program = seccomp.filter_program() if isolation.seccomp else None
    if program is None:
        return None, []
    path = dirs.host / SECCOMP_FILE
    if not path.exists():
        path.write_bytes(program)
        os.chmod(path, 0o600)
    return path, ["--seccomp", str(SECCOMP_FD)]


def kernel_argv(config: SandboxConfig, isolation: Isolation, dirs: JobDirs, uid: int, env: dict[str, str],
                cgroup: JobCgroup, devices: tuple[str, ...] = (), command: list[str] | None = None) -> list[str]:
    """The command line that starts one sandboxed IPython kernel; `{connection_file}` is filled by jupyter_client.

    `command`: run this instead of the kernel, in the same sandbox (the start-up check of an environment)."""
    # -P: the work directory is not on sys.path while the kernel starts, so no submitted file shadows a module the
    # kernel imports (the grader's set-up adds it, where IPython would, before the first cell)
    kernel = command or [config.kernel_python, "-P", "-m", "ipykernel_launcher", "-f", "{connection_file}",
                         f"--profile-dir={dirs.evaluation / PROFILE}"]
    limit_address_space = isolation.memory is MemoryLimitMechanism.ADDRESS_SPACE
    rlimits = rlimit_args(config.tools.prlimit, config.limits, limit_address_space)
    if isolation.mode is IsolationMode.NONE:
        return cgroup.enter_command() + rlimits + kernel
    write_identity_files(dirs.host, uid)
    filter_path, filter_args = seccomp_args(isolation, dirs)
    argv = [
        *launcher(cgroup, filter_path),
        config.tools.bwrap, "--die-with-parent", "--new-session",
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--hostname", "sandbox", "--clearenv", *filter_args,
        *_filesystem(config, dirs, devices),
    ]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += rlimits
    argv += [config.tools.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
             "--bounding-set=-all", "--inh-caps=-all", "--"]
    return argv + kernel


DRIVER_PACKAGE_ROOT = "/labgrader"
DRIVER_TMP_MB = 16
DRIVER_OPEN_FILES = 256


def service_python_room(launch: list[str], bwrap: str, hostname: str, filter_args: list[str], identity: Path,
                        identity_names: tuple[str, ...], tmp_mb: int, package: Path) -> tuple[list[str], set[str]]:
    """The bubblewrap sandbox the driver and the evaluator share: no network, the system libraries, the service's
    Python and this package read-only, `identity_names` from `identity` as /etc files, a `tmp_mb` /tmp; returns the
    argv so far and the directories it made (for `mount_parents` of what the caller binds next)."""
    made: set[str] = {"/", "/usr", "/etc", "/proc", "/dev", "/tmp"}
    argv = [
        *launch, bwrap, "--die-with-parent", "--new-session",
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--hostname", hostname, "--clearenv", *filter_args,
        "--ro-bind", "/usr", "/usr", "--perms", "0755", "--dir", "/etc",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/sbin", "/sbin",
        "--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache",
        *[arg for name in identity_names for arg in ("--ro-bind", str(identity / name), f"/etc/{name}")],
        "--proc", "/proc", "--dev", "/dev",
        "--size", str(tmp_mb * 1024 * 1024), "--perms", "1777", "--tmpfs", "/tmp",
    ]
    for prefix in kernel_python_prefixes(sys.executable):
        argv += [*mount_parents(prefix, made), "--ro-bind", prefix, prefix]
    package_mount = f"{DRIVER_PACKAGE_ROOT}/grader"
    argv += [*mount_parents(package_mount, made), "--ro-bind", str(package), package_mount]
    return argv, made


def driver_argv(config: SandboxConfig, isolation: Isolation, dirs: JobDirs, uid: int, cgroup: JobCgroup) -> list[str]:
    """The command line of the job's kernel driver (`grader.kernel.driver`): the service's Python running this
    package, as the job's uid, in the job's cgroups, in a sandbox of its own with no network and, of the host, only
    the system libraries, the service's Python, this package and the kernel's socket directory (read-only, bound
    from the descriptor `{kernel_dir_fd}` the root opened before any student code ran)."""
    package = Path(__file__).resolve().parents[1]  # the `grader` package (this file is grader/sandbox/...)
    driver = [sys.executable, "-m", "grader.kernel.driver"]
    limit_address_space = isolation.memory is MemoryLimitMechanism.ADDRESS_SPACE
    limits = config.limits.model_copy(update={"open_files": min(config.limits.open_files, DRIVER_OPEN_FILES),
                                              "file_size_limit_mb": 1})
    rlimits = rlimit_args(config.tools.prlimit, limits, limit_address_space)
    if isolation.mode is IsolationMode.NONE:
        env = ["/usr/bin/env", "-i", f"PYTHONPATH={package.parent}", "PATH=/usr/bin:/bin", "LANG=C.UTF-8",
               "PYTHONDONTWRITEBYTECODE=1"]
        return cgroup.enter_command() + rlimits + env + driver
    runtime = str(dirs.work / ".kernel")
    filter_path, filter_args = seccomp_args(isolation, dirs)
    argv, made = service_python_room(launcher(cgroup, filter_path), config.tools.bwrap, "driver", filter_args,
                                     dirs.host, IDENTITY_FILES, DRIVER_TMP_MB, package)
    argv += [*mount_parents(runtime, made), "--ro-bind-fd", "{kernel_dir_fd}", runtime]
    for key, value in (("PATH", "/usr/bin:/bin"), ("HOME", "/tmp"), ("LANG", "C.UTF-8"),
                       ("PYTHONPATH", DRIVER_PACKAGE_ROOT), ("PYTHONDONTWRITEBYTECODE", "1")):
        argv += ["--setenv", key, value]
    argv += ["--chdir", "/tmp", *rlimits]
    argv += [config.tools.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
             "--bounding-set=-all", "--inh-caps=-all", "--"]
    return argv + driver
