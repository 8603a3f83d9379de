# Start-up: the notebook's `!wget URL` and `!curl -O URL` lines (also -O/-o/-P/--output-dir NAME) of a URL the lab
# serves copy the file from ./data, so they work offline; every other shell line runs as usual. Runs in the student's
# kernel after startup_serving.py (local_file), in the same private namespace; startup.py hooks the shell.
import os
import shlex
import shutil
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # defined by the start-up's earlier sources, which run first in the same namespace
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


def answer_shell_commands(shell: Any) -> None:
    """The IPython shell's `system` and `getoutput` (what `!line` calls) answer served downloads first."""
    for method in ("system", "getoutput"):
        original = getattr(shell, method, None)
        if not callable(original):
            continue

        def answered(command: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            try:
                line = served_command(command)
            except Exception:
                line = None
            if line is None:
                return _original(command, *args, **kwargs)
            print(line)
            return None

        setattr(shell, method, answered)
