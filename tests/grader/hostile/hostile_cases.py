"""Hostile notebooks: each is a list of code cells and the exact outcome the grader must produce for it.

Cells may hold placeholders the test fills in at run time: @PORT@ (a real listener of the test on the host's
127.0.0.1), @DATA_DIR@ (the service's data directory), @DB_FILE@ (a service database file), @DECOY@ (another
job's work directory on the host), @JOBS_ROOT@, @SECRET@ (the fake database URL set in the worker's environment).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.kernel.limits import WALL_BACKSTOP_FACTOR
from tests.grader.hostile.hostile_env import NOTEBOOK_TIMEOUT_S, SHORT_CELL_TIMEOUT_S
from tests.lab_data import TRAIN_IRIS

NO_MODEL = "no trained model named `iris_model` was found after the notebook ran"


# Prints `<label>: <exception class> <errno name>` or `<label>: ok` for one attempted action.
ATTEMPT = """
import errno as _errno
def attempt(label, action):
    try:
        action()
    except OSError as exc:
        print(f"{label}: {type(exc).__name__} {_errno.errorcode.get(exc.errno, exc.errno)}")
    except Exception as exc:
        print(f"{label}: {type(exc).__name__}")
    else:
        print(f"{label}: ok")
"""


@dataclass(frozen=True)
class Expected:
    """The exact outcome: the report's execution note, which cells raised what, and chosen cells' stdout."""

    note: str = ""
    cell_errors: tuple[tuple[int, str], ...] = ()
    stdout: dict[int, str] = field(default_factory=dict)
    iris_score: float = 0.0
    iris_message: str | None = None
    iris_measured: float | None = None
    notebook_max_bytes: int = 3 * 1024 * 1024
    # the outcome when the machine starved the job (under a third of its CPU share): the wall-clock backstop struck
    # before the CPU-time limit, and the note says so without blaming the notebook (issue 27)
    starved: Expected | None = None


@dataclass(frozen=True)
class HostileCase:
    name: str
    what: str
    cells: tuple[str, ...]
    expected: Expected
    cell_timeout_s: float | None = None  # where the suite's defaults do not fit the case
    notebook_timeout_s: float | None = None


DIED = "the kernel died while running cell {cell} ({why})"
VIOLATION = ("the notebook sent the grader {what} during cell {cell}; the kernel was stopped there, so the cells "
             "after it and the evaluation did not run")
MALFORMED = "a malformed message ({why})"
BROKE = "a message over the 256 MB limit, or broke its {channel} connection"
# raw system calls by number (x86_64), each printed as `<name>: ok` or `<name>: <errno name>`
SYSCALLS = """
import ctypes, errno, subprocess
libc = ctypes.CDLL(None, use_errno=True)
def syscall(name, number, *args):
    result = libc.syscall(number, *[ctypes.c_long(a) for a in args])
    print(f"{name}: {'ok' if result >= 0 else errno.errorcode.get(ctypes.get_errno())}")
"""
# a signed message built by hand from the kernel's own session: (what the content frame holds, how often it is sent)
SIGNED = """
k = get_ipython().kernel
s = k.session
def send_signed(content: bytes, times: int = 1) -> None:
    msg = s.msg('stream', {}, parent=k.get_parent())
    parts = [s.pack(msg['header']), s.pack(msg['parent_header']), s.pack(msg['metadata']), content]
    for _ in range(times):
        k.iopub_socket.send_multipart([b'<IDS|MSG>', s.sign(parts), *parts])
"""
KILLED = "memory or process limit reached, or the process was killed"
SEGFAULT = ("its Python process crashed with a segmentation fault (signal 11) inside a compiled library, not a limit "
            "of the grader; two libraries that clash can do this, and importing them in another order may avoid it")
# the cell limit is CPU time (issue 27): a busy loop meets it, a stopped or sleeping cell meets the wall-clock
# backstop (WALL_BACKSTOP_FACTOR times the limit)
STUCK = (f"cell {{cell}} used more than its {SHORT_CELL_TIMEOUT_S} s of CPU time and did not stop when interrupted; "
         "the cells after it did not run")
STUCK_WAITING = (f"cell {{cell}} ran longer than {SHORT_CELL_TIMEOUT_S * WALL_BACKSTOP_FACTOR:.0f} s and did not stop "
                 "when interrupted; the cells after it did not run")
# the backstop leaves out the time the job waited for a CPU behind other work (`cpu_clock.WaitMeter`)
NOT_COUNTED = "(not counting {s} s it waited for a CPU behind other work)"
WAITED = ("It was waiting rather than computing, so this is not a sign of too many epochs: if the notebook does not "
          "sleep or wait for input, the worker was overloaded and a regrade will run it in full. The networks are "
          "graded as they were trained when it stopped")

CASES: list[HostileCase] = [
    HostileCase(
        "honest_alongside", "an honest Iris notebook graded while the hostile ones run next to it",
        (TRAIN_IRIS,),
        Expected(iris_score=20.0),
    ),
    HostileCase(
        "infinite_loop", "`while True: pass` in a cell",
        ("x = 0\nwhile True:\n    x += 1", "print('after the loop')"),
        Expected(note=(f"cell 1 used its {SHORT_CELL_TIMEOUT_S} s of CPU time and was interrupted; the cells after "
                       f"it ran (the lab's limits: {SHORT_CELL_TIMEOUT_S} s per cell, {NOTEBOOK_TIMEOUT_S} s for the "
                       "whole notebook, in CPU time at 1 core, so a busy worker does not shorten them). The networks "
                       "are graded as they were trained when it stopped, {s} s into that cell; train for fewer epochs "
                       "or with larger batches to finish within the limits"),
                 cell_errors=((0, "CellTimeout"),), stdout={1: "after the loop\n"},
                 starved=Expected(note=(
                     f"cell 1 was stopped by the wall-clock backstop after {{s}} s {NOT_COUNTED} having used only "
                     f"{{s}} s of its {SHORT_CELL_TIMEOUT_S} s of CPU time; the cells after it ran (the lab's limits: "
                     f"{SHORT_CELL_TIMEOUT_S} s per cell, {NOTEBOOK_TIMEOUT_S} s for the whole notebook, in CPU time "
                     f"at 1 core, so a busy worker does not shorten them). {WAITED}"),
                     cell_errors=((0, "CellTimeout"),), stdout={1: "after the loop\n"})),
        cell_timeout_s=SHORT_CELL_TIMEOUT_S,
    ),
    HostileCase(
        "uninterruptible_loop", "a loop that ignores SIGINT, so the interrupt cannot stop it",
        ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass", "print('never')"),
        Expected(note=STUCK.format(cell=1), cell_errors=((0, "CellTimeout"),),
                 starved=Expected(note=STUCK_WAITING.format(cell=1), cell_errors=((0, "CellTimeout"),))),
        cell_timeout_s=SHORT_CELL_TIMEOUT_S,
    ),
    HostileCase(
        "background_thread", "a thread that never ends, while the notebook goes on",
        ("import threading, time\ndef spin():\n    while True:\n        time.sleep(0.5)\n"
         "threading.Thread(target=spin, daemon=False).start()\nprint('thread started')",
         TRAIN_IRIS),
        Expected(stdout={0: "thread started\n"}, iris_score=20.0),
    ),
    HostileCase(
        "fork_bomb", "a fork bomb in a child process; the kernel then tries to start a process",
        ("import subprocess, sys, time\n"
         "bomb = subprocess.Popen([sys.executable, '-c', 'import os\\nwhile True:\\n    try:\\n        os.fork()\\n"
         "    except OSError:\\n        pass'])\n"
         "time.sleep(3)\n" + ATTEMPT + "attempt('start a process', lambda: subprocess.run(['true']))",
         "print('kernel still answers')"),
        Expected(stdout={0: "start a process: BlockingIOError EAGAIN\n", 1: "kernel still answers\n"}),
    ),
    HostileCase(
        "memory_bomb", "allocating memory in the kernel until something gives",
        ("blocks = []\nwhile True:\n    blocks.append(b'x' * (64 * 1024 * 1024))", "print('never')"),
        Expected(note=DIED.format(cell=1, why="it used more than its 2048 MB memory limit")),
    ),
    HostileCase(
        "memory_bomb_in_child", "a child process allocating memory; the kernel survives",
        ("import subprocess, sys\n"
         "child = subprocess.run([sys.executable, '-c', 'b = []\\nwhile True: b.append(b\"x\" * 2**26)'])\n"
         "print('child ended with', child.returncode)",),
        Expected(stdout={0: "child ended with -9\n"}),
    ),
    HostileCase(
        "disk_filler", "filling the work dir, /tmp and /dev/shm",
        (ATTEMPT + "def fill(directory):\n    def go():\n        for n in range(1000):\n"
         "            with open(f'{directory}/fill{n}', 'wb') as fh:\n"
         "                for _ in range(64):\n                    fh.write(b'x' * 2**20)\n    return go\n"
         "import os\nfor d in ('.', '/tmp', '/dev/shm'):\n    attempt(d, fill(d))\n"
         "import shutil\nfor d in ('/tmp', '/dev/shm'):\n    print(d, shutil.disk_usage(d).total // 2**20, 'MB')",
         "print('kernel still answers')"),
        Expected(stdout={0: ".: OSError EFBIG\n/tmp: OSError ENOSPC\n/dev/shm: OSError ENOSPC\n"
                            "/tmp 16 MB\n/dev/shm 16 MB\n",
                         1: "kernel still answers\n"}),
    ),
    HostileCase(
        "stdout_flood", "100 MB printed to stdout",
        ("import sys\nline = 'x' * 1023 + '\\n'\nfor _ in range(100 * 1024):\n    sys.stdout.write(line)",
         "print('after the flood')"),
        Expected(stdout={1: "after the flood\n"}),
    ),
    HostileCase(
        "huge_image", "a 50 MB image output (one message the grader does not decode)",
        ("import base64, os\nfrom IPython.display import display\n"
         "payload = base64.b64encode(os.urandom(38 * 2**20)).decode()\n"
         "display({'image/png': payload}, raw=True)\nprint(len(payload) // 2**20, 'MB of base64')",),
        # one 50 MB frame: over the 8 MB the grader decodes, it becomes a note in the cell (no protocol violation)
        Expected(stdout={0: "50 MB of base64\n"}),
    ),
    HostileCase(
        "service_port", "connecting to a real listener on the host's 127.0.0.1 (the service's own port)",
        (ATTEMPT + "import socket\n"
         "attempt('127.0.0.1:@PORT@', lambda: socket.create_connection(('127.0.0.1', @PORT@), timeout=3))\n"
         "attempt('localhost:@PORT@', lambda: socket.create_connection(('localhost', @PORT@), timeout=3))",),
        Expected(stdout={0: "127.0.0.1:@PORT@: ConnectionRefusedError ECONNREFUSED\n"
                            "localhost:@PORT@: ConnectionRefusedError ECONNREFUSED\n"}),
    ),
    HostileCase(
        "database_port", "connecting to PostgreSQL on 127.0.0.1:5432",
        (ATTEMPT + "import socket\n"
         "attempt('postgres', lambda: socket.create_connection(('127.0.0.1', 5432), timeout=3))",),
        Expected(stdout={0: "postgres: ConnectionRefusedError ECONNREFUSED\n"}),
    ),
    HostileCase(
        "outside_address", "connecting to an address on the internet (a reverse shell would need this)",
        (ATTEMPT + "import socket\n"
         "attempt('1.1.1.1:443', lambda: socket.create_connection(('1.1.1.1', 443), timeout=3))\n"
         "udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
         "attempt('udp 8.8.8.8:53', lambda: udp.sendto(b'x', ('8.8.8.8', 53)))",),
        Expected(stdout={0: "1.1.1.1:443: OSError ENETUNREACH\nudp 8.8.8.8:53: OSError ENETUNREACH\n"}),
    ),
    HostileCase(
        "dns_lookup", "resolving a host name",
        (ATTEMPT + "import socket\nattempt('example.com', lambda: socket.getaddrinfo('example.com', 443))",),
        Expected(stdout={0: "example.com: gaierror -2\n"}),
    ),
    HostileCase(
        "etc_shadow", "reading /etc/shadow and the host's passwd",
        (ATTEMPT + "attempt('/etc/shadow', lambda: open('/etc/shadow').read())\n"
         "print(open('/etc/passwd').read().count('\\n'), 'passwd entries')",),
        Expected(stdout={0: "/etc/shadow: FileNotFoundError ENOENT\n2 passwd entries\n"}),
    ),
    HostileCase(
        "service_database", "reading the service's database file by its real path",
        (ATTEMPT + "attempt('database file', lambda: open('@DB_FILE@').read())\n"
         "attempt('data dir', lambda: __import__('os').listdir('@DATA_DIR@'))",),
        Expected(stdout={0: "database file: FileNotFoundError ENOENT\ndata dir: FileNotFoundError ENOENT\n"}),
    ),
    HostileCase(
        "other_jobs", "reading another job's directory and listing the jobs root",
        (ATTEMPT + "import os\nattempt('other job', lambda: open('@DECOY@/answers.txt').read())\n"
         "print('jobs visible:', len(os.listdir('@JOBS_ROOT@')))",),
        Expected(stdout={0: "other job: FileNotFoundError ENOENT\njobs visible: 1\n"}),
    ),
    HostileCase(
        "environ_secrets", "looking for secrets in its own environment, /proc/1/environ and every /proc/*/environ",
        (ATTEMPT + "import os, glob\nprint(sorted(k for k in os.environ if 'LABGRADER' in k or 'DATABASE' in k))\n"
         "attempt('/proc/1/environ', lambda: open('/proc/1/environ', 'rb').read())\n"
         "found = []\nfor path in glob.glob('/proc/*/environ'):\n    try:\n"
         "        if b'DATABASE_URL' in open(path, 'rb').read():\n            found.append(path)\n"
         "    except OSError:\n        pass\nprint('secrets found:', found)",),
        Expected(stdout={0: "[]\n/proc/1/environ: PermissionError EACCES\nsecrets found: []\n"}),
    ),
    HostileCase(
        "write_outside", "writing outside the job directory",
        (ATTEMPT + "import os, sys\n"
         "for target in ('/usr/evil', '/etc/evil', '/evil', os.path.dirname(os.getcwd()) + '/evil', "
         "sys.prefix + '/evil', '/proc/sys/kernel/hostname'):\n"
         "    attempt(target.replace(os.path.dirname(os.getcwd()), 'JOB').replace(sys.prefix, 'VENV'), "
         "lambda: open(target, 'w').write('x'))",),
        Expected(stdout={0: "/usr/evil: OSError EROFS\n/etc/evil: PermissionError EACCES\n"
                            "/evil: PermissionError EACCES\n"
                            "JOB/evil: PermissionError EACCES\nVENV/evil: OSError EROFS\n"
                            "/proc/sys/kernel/hostname: PermissionError EACCES\n"}),
    ),
    HostileCase(
        "kill_parent", "killing its parent and pid 1 of its namespace",
        (ATTEMPT + "import os, signal\nattempt('parent', lambda: os.kill(os.getppid(), signal.SIGKILL))\n"
         "attempt('pid 1', lambda: os.kill(1, signal.SIGKILL))", "print('kernel still answers')"),
        Expected(stdout={0: "parent: PermissionError EPERM\npid 1: PermissionError EPERM\n",
                         1: "kernel still answers\n"}),
    ),
    HostileCase(
        "kill_everything", "kill(-1, SIGKILL): every process it may signal",
        ("import os, signal, subprocess\nchildren = [subprocess.Popen(['sleep', '600']) for _ in range(3)]\n"
         "os.kill(-1, signal.SIGKILL)\nprint([child.wait() for child in children])", "print('kernel still answers')"),
        Expected(stdout={0: "[-9, -9, -9]\n", 1: "kernel still answers\n"}),
    ),
    HostileCase(
        "os_exit", "os._exit(0) in the middle of the notebook",
        ("print('first')", "import os\nos._exit(0)", "print('never')"),
        Expected(note=DIED.format(cell=2, why=KILLED), stdout={0: "first\n"}),
    ),
    HostileCase(
        "sys_exit", "sys.exit() in the middle of the notebook, then a model",
        ("import sys\nsys.exit()", TRAIN_IRIS),
        Expected(cell_errors=((0, "SystemExit"),), iris_score=20.0),
    ),
    HostileCase(
        "sigstop", "stopping itself with SIGSTOP",
        ("import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)", "print('never')"),
        Expected(note=STUCK_WAITING.format(cell=1), cell_errors=((0, "CellTimeout"),)),
        cell_timeout_s=SHORT_CELL_TIMEOUT_S,
    ),
    HostileCase(
        "segfault", "a segmentation fault through ctypes",
        ("import ctypes\nctypes.string_at(0)", "print('never')"),
        Expected(note=DIED.format(cell=1, why=SEGFAULT)),
    ),
    HostileCase(
        "file_descriptors", "opening files until no descriptor is left, then going on",
        (ATTEMPT + "files = []\ndef exhaust():\n    while True:\n        files.append(open('/dev/null'))\n"
         "attempt('open files', exhaust)\nexhausted = len(files)\nfor f in files:\n    f.close()\n"
         "print(exhausted > 100)",
         "print('kernel still answers')"),
        Expected(stdout={0: "open files: OSError EMFILE\nTrue\n"}),
    ),
    HostileCase(
        "daemon", "a double-forked, setsid daemon and a nohup'd background job that would outlive the job",
        ("import os, time\npid = os.fork()\nif pid == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
         "        while True:\n            time.sleep(1)\n    os._exit(0)\nos.waitpid(pid, 0)\nprint('daemon started')",
         "!nohup sleep 600 > /dev/null 2>&1 & echo started",
         TRAIN_IRIS),
        Expected(stdout={0: "daemon started\n", 1: "started\r\n"}, iris_score=20.0),
    ),
    HostileCase(
        "many_cells", "5,000 cells",
        (*(f"x = {i}" for i in range(4999)), "print(x)"),
        Expected(stdout={4999: "4998\n"}, notebook_max_bytes=6 * 1024 * 1024),
        notebook_timeout_s=240,
    ),
    HostileCase(
        "shell_curl", "`!curl` to a host name and to the service's port",
        ("!curl -sS https://example.com > /dev/null 2>&1; echo exit=$?",
         "!curl -sS http://127.0.0.1:@PORT@ > /dev/null 2>&1; echo exit=$?"),
        Expected(stdout={0: "exit=6\r\n", 1: "exit=7\r\n"}),
    ),
    HostileCase(
        "pip_install", "`%pip install` of a package that is not installed",
        ("%pip install --quiet torchsummary",
         "import importlib.util\nprint('installed:', importlib.util.find_spec('torchsummary') is not None)"),
        Expected(stdout={1: "installed: False\n"}),
    ),
    HostileCase(
        "guess_hidden_data", "guessing where the hidden data lives (including its real path) and searching for it",
        (ATTEMPT + "import glob, os\n"
         "for path in ('@DATA_DIR@/labs/frameworks/hidden/iris.npz', '/data/labs/frameworks/hidden/iris.npz', "
         "'../hidden/iris.npz', '/var/lib/labgrader/labs/frameworks/hidden/iris.npz'):\n"
         "    attempt(path, lambda: open(path, 'rb').read())\n"
         "print(sorted(glob.glob('**/*.np[yz]', recursive=True)))\n"
         "print(sorted(glob.glob('/*/hidden*') + glob.glob('/*/*/hidden*')))",),
        Expected(stdout={0: "@DATA_DIR@/labs/frameworks/hidden/iris.npz: FileNotFoundError ENOENT\n"
                            "/data/labs/frameworks/hidden/iris.npz: FileNotFoundError ENOENT\n"
                            "../hidden/iris.npz: FileNotFoundError ENOENT\n"
                            "/var/lib/labgrader/labs/frameworks/hidden/iris.npz: FileNotFoundError ENOENT\n"
                            "['data/iris.npz']\n[]\n"}),
    ),
    HostileCase(
        "patched_frameworks", "patching NumPy, PyTorch and scikit-learn so accuracy and predictions lie",
        ("import numpy as np, torch, sklearn.metrics\n"
         "class AlwaysSetosa(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
         "        self.layer = torch.nn.Linear(4, 3)\n"
         "    def forward(self, x):\n        return torch.tensor([[9.0, 0.0, 0.0]]).repeat(len(x), 1)\n"
         "iris_model = AlwaysSetosa()\n"
         "sklearn.metrics.accuracy_score = lambda *args, **kwargs: 1.0\n"
         "np.mean = lambda *args, **kwargs: 1.0\n"
         "torch.Tensor.eq = lambda self, other: torch.ones(self.shape, dtype=torch.bool)\n"
         "print('my accuracy:', sklearn.metrics.accuracy_score([0], [1]), np.mean([0.0]))",),
        # the grader computes predictions from the network's layers: a forward() that ignores its input is refused
        Expected(stdout={0: "my accuracy: 1.0 1.0\n"}, iris_message=(
            "`iris_model` could not be evaluated from its layers: its forward() could not be traced as tensor "
            "operations (RuntimeError: 'len' is not supported in symbolic tracing by default. If you want this call "
            "to be recorded, please call torch.fx.wrap('len') at module scope); traced on visible inputs, its output "
            "does not depend on its input")),
    ),
    HostileCase(
        "fake_harness_output", "writing fake harness-output files (with guessed nonces) before the harness runs",
        ("import json, os\nfake = {'models': [{'name': 'iris_model', 'found': True, "
         "'predictions': [0] * 10 + [1] * 10 + [2] * 10}]}\n"
         "for nonce in ('0' * 32, 'f' * 32):\n"
         "    with open(f'.labgrader-output-{nonce}.json', 'w') as fh:\n"
         "        json.dump({**fake, 'nonce': nonce}, fh)\n"
         "print(len([n for n in os.listdir('.') if n.startswith('.labgrader-output-')]), 'fake outputs')",),
        Expected(stdout={0: "2 fake outputs\n"}),
    ),
    HostileCase(
        "harness_output_link", "a thread that swaps the harness output for a link to /dev/zero once it is written",
        ("import glob, os, threading, time\n"
         "def swap():\n    while True:\n        for path in glob.glob('.labgrader-output-*.json'):\n"
         "            if not os.path.islink(path):\n                os.symlink('/dev/zero', path + '.link')\n"
         "                os.replace(path + '.link', path)\n                return\n        time.sleep(0.001)\n"
         "threading.Thread(target=swap, daemon=True).start()",
         TRAIN_IRIS),
        Expected(note="the evaluation output is not a regular file (a link, a device or a pipe): refused"),
    ),
    HostileCase(
        "evaluation_dir", "writing into the directory where the grader puts the harness's request and inputs",
        (ATTEMPT + "import os\nevaluation = os.path.join(os.path.dirname(os.getcwd()), 'eval')\n"
         "attempt('write', lambda: open(evaluation + '/request.json', 'w'))\n"
         "attempt('mkdir', lambda: os.mkdir(evaluation + '/0123'))\n"
         "attempt('replace', lambda: os.replace(evaluation, os.getcwd() + '/stolen'))\n"
         "print(sorted(os.listdir(evaluation)))",),
        # during student cells the directory holds only the kernel's own empty, read-only IPython and Jupyter
        # configuration (issue 20: start-up files the submission cannot reach); the request comes after the cells
        Expected(stdout={0: "write: OSError EROFS\nmkdir: OSError EROFS\nreplace: OSError EXDEV\n"
                            "['ipython', 'jupyter']\n"}),
    ),
    HostileCase(
        "display_update_flood", "500 outputs sharing one display id, then a 4 MB update that would rewrite them all",
        # 500, not more: beyond ~1,000 quick messages ZeroMQ's iopub queue drops some (the print) under load
        ("from IPython.display import display, update_display\n"
         "for _ in range(500):\n    display({'text/plain': 'x'}, raw=True, display_id='d')\n"
         "update_display({'text/plain': 'y' * 4_000_000}, raw=True, display_id='d')\nprint('updated')",),
        Expected(stdout={0: "updated\n"}),
    ),
    HostileCase(
        "display_updates_during_harness", "a thread that keeps updating a display while the grader evaluates",
        ("import threading, time\nfrom IPython.display import display, update_display\n"
         "display({'text/plain': 'tick'}, raw=True, display_id='t')\n"
         "def tick():\n    while True:\n"
         "        update_display({'text/plain': 'tock'}, raw=True, display_id='t'); time.sleep(0.005)\n"
         "threading.Thread(target=tick, daemon=True).start()",
         TRAIN_IRIS),
        Expected(iris_score=20.0),
    ),
    HostileCase(
        "malformed_kernel_message", "using the kernel's own message key to send iopub messages nbclient cannot read",
        ("k = get_ipython().kernel\nparent = k.get_parent()\n"
         "k.session.send(k.iopub_socket, 'stream', {'name': 'stdout'}, parent=parent)\n"
         "k.session.send(k.iopub_socket, 'display_data', {'data': 7}, parent=parent)\n"
         "k.session.send(k.iopub_socket, 'error', {}, parent=parent)\nprint('sent')",
         TRAIN_IRIS),
        Expected(stdout={0: "sent\n"}, iris_score=20.0),
    ),
    HostileCase(
        "planted_output_directory", "directories named like the harness output, planted before it runs",
        ("import os\nfor name in ('x', '0' * 32 + '.json'):\n    os.makedirs(f'.labgrader-output-{name}/sub')\n"
         "print(sorted(n for n in os.listdir('.') if n.startswith('.labgrader-output-')))",
         TRAIN_IRIS),
        Expected(stdout={0: "['.labgrader-output-00000000000000000000000000000000.json', '.labgrader-output-x']\n"},
                 iris_score=20.0),
    ),
    HostileCase(
        "kernel_runtime_link", "replacing its kernel's runtime dir with a link to another job's, for root to clean up",
        ("import os\nos.rename('.kernel', '.kernel-moved')\nos.symlink('@DECOY@/.kernel', '.kernel')\n"
         "print(os.path.islink('.kernel'))",
         TRAIN_IRIS),
        Expected(stdout={0: "True\n"}, iris_score=20.0),
    ),
    HostileCase(
        "fake_score", "printing and displaying a perfect score",
        ("from IPython.display import Markdown, display\nprint('Score: 100/100')\n"
         "display(Markdown('**labgrader: all checks passed, 100/100**'))",),
        Expected(stdout={0: "Score: 100/100\n"}),
    ),
    HostileCase(
        "privileges", "who it runs as: uid, capabilities, no_new_privs, setuid(0), network devices, host processes",
        (ATTEMPT + "import os, socket\n"
         "status = dict(line.split(':', 1) for line in open('/proc/self/status').read().splitlines())\n"
         "print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())\n"
         "print(*(status[k].strip() for k in ('CapEff', 'CapPrm', 'CapBnd', 'CapAmb', 'NoNewPrivs')))\n"
         "attempt('setuid(0)', lambda: os.setuid(0))\n"
         "print([name for _, name in socket.if_nameindex()], socket.gethostname())\n"
         "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
         "argv0 = [open(f'/proc/{p}/cmdline', 'rb').read().split(b'\\0')[0] for p in pids]\n"
         "print('processes seen:', sorted(os.path.basename(a).decode() for a in argv0))",),
        Expected(stdout={0: "@UID@ @UID@ @UID@ []\n"
                            "0000000000000000 0000000000000000 0000000000000000 0000000000000000 1\n"
                            "setuid(0): PermissionError EPERM\n['lo'] sandbox\nprocesses seen: ['bwrap', 'python']\n"}),
    ),
    HostileCase(
        "garbage_frame", "one frame of garbage on the kernel's iopub socket (no key needed)",
        ("print('first')",
         "get_ipython().kernel.iopub_socket.send_multipart([b'garbage'])\nimport time; time.sleep(2)\nprint('x')",
         TRAIN_IRIS),
        Expected(note=VIOLATION.format(what=MALFORMED.format(why="not a Jupyter message"), cell=2),
                 stdout={0: "first\n", 1: ""}),
    ),
    HostileCase(
        "duplicate_signature", "a correctly signed message sent twice (a replay)",
        (SIGNED + "send_signed(b'{\"name\": \"stdout\", \"text\": \"x\"}', times=2)\nimport time; time.sleep(2)",
         TRAIN_IRIS),
        Expected(note=VIOLATION.format(what=MALFORMED.format(why="a signed message sent twice"), cell=1)),
    ),
    HostileCase(
        "lone_surrogate", "a signed message whose text holds a lone surrogate (no UTF-8 encoding exists)",
        (SIGNED + "send_signed(b'{\"name\": \"stdout\", \"text\": \"\\\\ud800\"}')\nimport time; time.sleep(2)",
         TRAIN_IRIS),
        Expected(note=VIOLATION.format(what=MALFORMED.format(why="text that is not valid UTF-8"), cell=1)),
    ),
    HostileCase(
        "nan_in_message", "a signed message holding NaN (not JSON)",
        (SIGNED + "send_signed(b'{\"name\": \"stdout\", \"text\": NaN}')\nimport time; time.sleep(2)",
         TRAIN_IRIS),
        Expected(note=VIOLATION.format(what=MALFORMED.format(why="not valid JSON"), cell=1)),
    ),
    HostileCase(
        "amplifying_message", "a signed 60 MB message of `[],[],...` (26x larger once decoded into Python lists)",
        (SIGNED + "send_signed(b'{\"name\": \"stdout\", \"text\": \"\", \"pad\": [' + b'[],' * 20_000_000 + b'[]]}')\n"
         "print('sent')", TRAIN_IRIS),
        # never decoded: a note takes its place, and the notebook goes on
        Expected(stdout={0: "sent\n"}, iris_score=20.0),
    ),
    HostileCase(
        "oversized_message", "a signed 300 MB message (over the socket's frame cap)",
        (SIGNED + "send_signed(b'{\"name\": \"stdout\", \"text\": \"' + b'x' * 300_000_000 + b'\"}')\n"
         "import time; time.sleep(5)\nprint('sent')", TRAIN_IRIS),
        Expected(note=VIOLATION.format(what=BROKE.format(channel="iopub"), cell=1)),
    ),
    HostileCase(
        "kernel_socket_link",
        "its kernel's socket paths swapped for links to a host Unix socket, then one closed so the grader reconnects",
        ("import json, os, time\ninfo = json.load(open('.kernel/connection.json'))\n"
         "for ch in ('shell', 'iopub', 'stdin', 'control', 'hb'):\n"
         "    path = f\"{info['ip']}-{info[ch + '_port']}\"\n"
         "    os.rename(path, path + '.moved'); os.symlink('@HOST_SOCKET@', path)\n"
         "get_ipython().kernel.stdin_socket.close(linger=0)\ntime.sleep(3)\nprint('swapped')", TRAIN_IRIS),
        Expected(note=VIOLATION.format(what=BROKE.format(channel="stdin"), cell=1)),
    ),
    HostileCase(
        "kernel_attack_surface", "the host kernel's riskiest interfaces: user namespaces, mounts, io_uring, keyrings, "
        "bpf, perf events, userfaultfd, ptrace (each denied by the seccomp filter)",
        (SYSCALLS + "syscall('unshare(CLONE_NEWUSER)', 272, 0x10000000)\n"
         "syscall('unshare(CLONE_NEWNS)', 272, 0x00020000)\n"
         "syscall('clone(CLONE_NEWUSER)', 56, 0x10000000 | 17, 0, 0, 0, 0)\n"
         "syscall('clone3', 435, 0, 0)\n"
         "syscall('setns', 308, 0, 0)\n"
         "syscall('mount', 165, 0, 0, 0, 0, 0)\n"
         "syscall('fsopen', 430, 0, 0)\n"
         "syscall('io_uring_setup', 425, 1, 0)\n"
         "syscall('add_key', 248, 0, 0, 0, 0, 0)\n"
         "syscall('keyctl', 250, 0, 0)\n"
         "syscall('request_key', 249, 0, 0, 0, 0)\n"
         "syscall('bpf', 321, 0, 0, 0)\n"
         "syscall('perf_event_open', 298, 0, 0, -1, -1, 0)\n"
         "syscall('userfaultfd', 323, 0)\n"
         "syscall('ptrace', 101, 0, 0, 0, 0)\n"
         "print('unshare -Ur:', subprocess.run(['unshare', '-Ur', 'true'], capture_output=True).returncode)\n"
         "print('threads and processes:', subprocess.run(['/bin/true']).returncode)",),
        Expected(stdout={0: "unshare(CLONE_NEWUSER): EPERM\nunshare(CLONE_NEWNS): EPERM\nclone(CLONE_NEWUSER): EPERM\n"
                            "clone3: ENOSYS\nsetns: EPERM\nmount: EPERM\nfsopen: EPERM\nio_uring_setup: EPERM\n"
                            "add_key: EPERM\nkeyctl: EPERM\nrequest_key: EPERM\nbpf: EPERM\n"
                            "perf_event_open: EPERM\nuserfaultfd: EPERM\nptrace: EPERM\nunshare -Ur: 1\n"
                            "threads and processes: 0\n"}),
    ),
    HostileCase(
        "socket_families", "sockets of families a notebook never needs: AF_VSOCK (the hypervisor), AF_ALG (the "
        "kernel's crypto), AF_PACKET, AF_KEY, Bluetooth, AF_RDS, AF_TIPC (each refused by the seccomp filter)",
        (SYSCALLS + "for name, family in (('AF_VSOCK', 40), ('AF_ALG', 38), ('AF_PACKET', 17), ('AF_KEY', 15), "
         "('AF_BLUETOOTH', 31), ('AF_RDS', 21), ('AF_TIPC', 30)):\n"
         "    syscall(f'socket({name})', 41, family, 1, 0)\n"
         "    syscall(f'socketpair({name})', 53, family, 1, 0, 0)\n"
         "import socket\n"
         "for family in (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK):\n"
         "    kind = socket.SOCK_RAW if family == socket.AF_NETLINK else socket.SOCK_STREAM\n"
         "    socket.socket(family, kind).close()\n"
         "print('unix, inet, inet6, netlink: ok')",),
        Expected(stdout={0: "".join(f"socket({name}): EAFNOSUPPORT\nsocketpair({name}): EAFNOSUPPORT\n" for name in (
            "AF_VSOCK", "AF_ALG", "AF_PACKET", "AF_KEY", "AF_BLUETOOTH", "AF_RDS", "AF_TIPC"))
            + "unix, inet, inet6, netlink: ok\n"}),
    ),
    HostileCase(
        "notebook_time_limit", "cells that each stay under the cell limit but together pass the notebook's",
        # CPU time: the notebook's limit counts computing, not sleeping (issue 27)
        ("import time\nt = time.process_time()\nwhile time.process_time() - t < 6:\n    pass\nprint('one')",
         "t = time.process_time()\nwhile time.process_time() - t < 6:\n    pass\nprint('two')", "print('three')"),
        # the cell the time ran out in is interrupted (not reported as a dead kernel), and the networks trained until
        # then are still evaluated; the note says how long that cell ran
        Expected(note=("the notebook used its 10 s of CPU time in cell 2, which was interrupted after running {s} s; "
                       "the cells after it did not run (the lab's limits: 60 s per cell, 10 s for the whole notebook, "
                       "in CPU time at 1 core, so a busy worker does not shorten them). The networks are graded as "
                       "they were trained when it stopped; train for fewer epochs or with larger batches to finish "
                       "within the limits"),
                 cell_errors=((1, "NotebookTimeout"),), stdout={0: "one\n", 2: ""},
                 starved=Expected(note=(
                     f"the notebook was stopped by the wall-clock backstop after {{s}} s {NOT_COUNTED} having used "
                     "only {s} s of its 10 s of CPU time; cell 1 was interrupted and the cells after it did not run "
                     "(the lab's limits: "
                     f"60 s per cell, 10 s for the whole notebook, in CPU time at 1 core, so a busy worker does not "
                     f"shorten them). {WAITED}"), cell_errors=((0, "NotebookTimeout"),), stdout={0: "", 2: ""})),
        notebook_timeout_s=10,
    ),
]
