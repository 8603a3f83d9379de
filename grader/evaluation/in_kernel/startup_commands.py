# Start-up: the notebook's `!wget URL` and `!curl -O URL` lines (also -O/-o/-P/--output-dir NAME) of a URL the lab
# serves copy the file from ./data, so they work offline; a wget or curl of any other URL fails at once with one line
# (no network here); every other shell line runs as usual. Runs in the student's
# kernel after startup_serving.py (local_file), in the same private namespace; startup.py hooks the shell.
import os
import re
import shlex
import shutil
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # defined by the start-up's earlier sources, which run first in the same namespace
    from grader.evaluation.in_kernel.startup_process import data_dir
    from grader.evaluation.in_kernel.startup_serving import local_file


def served_command(command: Any) -> Any:
    """The line printed for a served download (after copying the file), or None: the command runs as usual."""
    try:
        words = shlex.split(str(command))
    except ValueError:
        return None
    tool = os.path.basename(words[0]) if words else ""
    found = [w for w in words[1:] if local_file(w)]
    if tool not in ("wget", "curl") or len(found) != 1 or any(w in ("|", "||", "&&", ";", ">") for w in words):
        return None
    url, target, folder, index = found[0], None, ".", 1
    # options that take a value: short letters (also in a cluster such as -qO) and long names
    short = {"wget": {"O": "target", "P": "folder"}, "curl": {"o": "target"}}[tool]
    long = {"wget": {"--output-document": "target", "--directory-prefix": "folder"},
            "curl": {"--output": "target", "--output-dir": "folder"}}[tool]
    while index < len(words):
        word, kind, value = words[index], None, None
        if word.startswith("--"):
            name, _, inline = word.partition("=")
            kind, value = long.get(name), inline or None
            if tool == "curl" and name == "--remote-name":
                target = os.path.basename(url)
        elif word.startswith("-") and len(word) > 1:
            for position, letter in enumerate(word[1:]):
                if letter in short:
                    kind, value = short[letter], word[position + 2:] or None
                    break
                if tool == "curl" and letter == "O":
                    target = os.path.basename(url)
        if kind is not None:
            if value is None and index + 1 < len(words):
                index += 1
                value = words[index]
            if kind == "target":
                target = value
            else:
                folder = value or "."
        index += 1
    if target == "-":
        return None  # to standard output: not answered
    if tool == "curl" and target is None:
        return None  # curl without -O/-o writes to standard output: not answered
    destination = os.path.join(folder, target or os.path.basename(url))
    os.makedirs(os.path.dirname(destination) or ".", exist_ok=True)
    shutil.copyfile(local_file(url), destination)
    return f"{url}: served from the lab's data as {destination}"


URL = re.compile(r"(?:https?|ftp)://[^\s'\"|;&<>]+")
LOCAL_HOSTS = re.compile(r"^(?:https?|ftp)://(?:localhost|127\.|\[::1\])", re.IGNORECASE)


def offline_message(command: Any) -> Any:
    """The one line a download of a URL the lab does not serve fails with at once, or None: the command runs.

    The sandbox has no network: left to run, wget waits on a name lookup nothing answers and then retries, past the
    cell's limit (and the kernel's interrupt does not reach the shell's child), so the notebook would lose its cell
    to a wait instead of a reason."""
    if re.search(r"[;|&<>`$]", str(command)):
        return None  # a line of several commands or redirections runs as the shell would (a download fails fast)
    try:
        words = shlex.split(str(command))
    except ValueError:
        words = str(command).split()
    tools = [index for index, word in enumerate(words) if os.path.basename(word) in ("wget", "curl")]
    if not tools:
        return None
    urls = [word for word in words[tools[0] + 1:] if URL.fullmatch(word) and not LOCAL_HOSTS.match(word)]
    unserved = [url for url in urls if not local_file(url)]
    if not unserved:
        return None
    try:
        files = sorted(name for name in os.listdir(data_dir) if os.path.isfile(os.path.join(data_dir, name)))
    except OSError:
        files = []
    return (f"{os.path.basename(words[tools[0]])}: {unserved[0]} is not served here: the grader has no network; "
            f"this lab serves {', '.join(files) or 'no files'} in ./data (and at the URLs its course downloads "
            "them from)")


def answer_shell_commands(shell: Any) -> None:
    """The IPython shell's `system` and `getoutput` (what `!line` calls) answer served downloads first, and a
    download of any other URL fails at once with a line that says why."""
    for method in ("system", "getoutput"):
        original = getattr(shell, method, None)
        if not callable(original):
            continue

        def answered(command: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            try:
                line = served_command(command)
                refused = offline_message(command) if line is None else None
            except Exception:
                line = refused = None
            if refused is not None:
                print(refused, file=sys.stderr)
                namespace = getattr(shell, "user_ns", None)
                if isinstance(namespace, dict):
                    namespace["_exit_code"] = 1  # what IPython sets after a failed `!line`
                return None
            if line is None:
                return _original(command, *args, **kwargs)
            print(line)
            return None

        setattr(shell, method, answered)
