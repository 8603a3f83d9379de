"""in_kernel/startup_commands.py: `!wget` and `!curl` lines of a served URL copy the file from ./data; every other
line (another URL, output to standard output, a pipe) runs as usual."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.grader.evaluation.in_kernel.conftest import sources

URL = "https://example.org/files/set.npz"


@pytest.fixture
def commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "set.npz").write_bytes(b"local copy")
    monkeypatch.chdir(tmp_path)
    namespace = sources("startup_serving.py", "startup_commands.py", data_dir=str(tmp_path / "data"))
    namespace["serve"]({"urls": {URL: "set.npz"}})
    return namespace


@pytest.mark.parametrize(("line", "written"), [
    (f"wget {URL}", "./set.npz"),
    (f"wget -q {URL} -O got.npz", "./got.npz"),
    (f"wget -qO got.npz {URL}", "./got.npz"),
    (f"wget --output-document=got.npz {URL}", "./got.npz"),
    (f"wget -P sub {URL}", "sub/set.npz"),
    (f"curl -O {URL}", "./set.npz"),
    (f"curl -sLo got.npz {URL}", "./got.npz"),
    (f"curl --remote-name --output-dir sub {URL}", "sub/set.npz"),
])
def test_a_served_download_copies_the_local_file(commands: dict[str, Any], tmp_path: Path, line: str,
                                                  written: str) -> None:
    assert commands["served_command"](line) == f"{URL}: served from the lab's data as {written}"
    assert (tmp_path / written).read_bytes() == b"local copy"


@pytest.mark.parametrize("line", [
    f"curl {URL}", f"wget -O - {URL}", f"wget {URL} | head", "wget https://example.org/other.npz", f"cp {URL} x",
    "wget 'unclosed", "",
])
def test_other_lines_are_not_answered(commands: dict[str, Any], tmp_path: Path, line: str) -> None:
    assert commands["served_command"](line) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_the_shell_answers_served_lines_and_runs_the_others(commands: dict[str, Any],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    class Shell:
        def __init__(self) -> None:
            self.ran: list[str] = []

        def system(self, command: str) -> int:
            self.ran.append(command)
            return 0

        def getoutput(self, command: str) -> str:
            self.ran.append(command)
            return "output"

    shell = Shell()
    commands["answer_shell_commands"](shell)
    assert shell.system(f"wget {URL}") is None  # answered: IPython's system() returns nothing either
    assert shell.getoutput("ls") == "output"
    assert shell.ran == ["ls"]
    assert capsys.readouterr().out == f"{URL}: served from the lab's data as ./set.npz\n"


REFUSED = ("wget: https://example.org/other.npz is not served here: the grader has no network; this lab serves "
           "set.npz in ./data (and at the URLs its course downloads them from)")


@pytest.mark.parametrize(("line", "message"), [
    ("wget https://example.org/other.npz", REFUSED),
    ("wget -q -O got.npz https://example.org/other.npz", REFUSED),
    ("cd sub && wget https://example.org/other.npz", None),  # several commands run as the shell runs them
    (f"wget {URL} https://example.org/other.npz", REFUSED),
    ("curl -L https://example.org/other.npz -o other.npz", REFUSED.replace("wget:", "curl:")),
    ("curl -sS https://example.org/other.npz > /dev/null 2>&1; echo exit=$?", None),
    ("wget http://localhost:8000/x.npz", None),
    ("wget --version", None),
    ("ls https://example.org/other.npz", None),
])
def test_a_download_of_an_unserved_url_is_refused_in_one_line(commands: dict[str, Any], line: str,
                                                               message: str | None) -> None:
    assert commands["offline_message"](line) == message


def test_the_shell_refuses_an_unserved_download_at_once(commands: dict[str, Any],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    class Shell:
        def __init__(self) -> None:
            self.ran: list[str] = []
            self.user_ns: dict[str, Any] = {}

        def system(self, command: str) -> int:
            self.ran.append(command)
            return 0

    shell = Shell()
    commands["answer_shell_commands"](shell)
    assert shell.system("wget https://example.org/other.npz") is None
    assert (shell.ran, shell.user_ns) == ([], {"_exit_code": 1})
    assert capsys.readouterr().err == REFUSED + "\n"
