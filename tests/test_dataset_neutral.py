"""Nothing about a particular dataset lives in grader/ or server/: every dataset a lab declares (its id and title) and
the shapes of the image datasets the labs use are named only in lab_tasks/ (lab.toml), never in the service's code,
comments or docstrings included."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CODE = ("grader", "server")
# the shapes of 28x28 images: flat rows of 784 values, and 28x28 / (28, 28) / [28, 28] written out
SHAPES = (r"\b784\b", r"\b28\s*x\s*28\b", r"\b28\s*,\s*28\b")
# dataset names that are also ordinary words the service uses in their ordinary sense ("letters, digits and _")
ORDINARY_WORDS = {"digits"}


def declared_names() -> set[str]:
    """The id and title of every dataset any lab under lab_tasks/ declares, or the course's datasets.toml."""
    names: set[str] = set()
    for toml in [*sorted((REPO / "lab_tasks").glob("*/lab.toml")), REPO / "lab_tasks" / "datasets.toml"]:
        for dataset in tomllib.loads(toml.read_text(encoding="utf-8")).get("datasets", []):
            if "shared" not in dataset:  # `shared = "ID"` takes the course's declaration
                names |= {str(dataset["id"]), str(dataset["title"])}
    return {name for name in names if name.lower() not in ORDINARY_WORDS}


def pattern(names: set[str]) -> re.Pattern[str]:
    # a letter or digit ends a word, an underscore does not: `preprocess_<id>` and `load_<id>` are found too
    words = [rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])" for name in sorted(names, key=len, reverse=True)]
    return re.compile("|".join([*words, *SHAPES]), re.IGNORECASE)


def mentions(root: Path, found: re.Pattern[str]) -> list[str]:
    lines = []
    for folder in CODE:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in (".py", ".html", ".js", ".css", ".txt", ".toml", ".md", ".json") or \
                    "__pycache__" in path.parts:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                match = found.search(line)
                if match:
                    lines.append(f"{path.relative_to(root)}:{number}: {match.group(0)!r} in {line.strip()[:100]}")
    return lines


def test_the_labs_declare_datasets() -> None:
    # the check below is only as strong as the names it looks for
    assert {"mnist", "MNIST", "iris", "Iris"} <= declared_names()


def test_no_declared_dataset_is_named_in_the_service_code() -> None:
    assert mentions(REPO, pattern(declared_names())) == []


def test_the_check_finds_a_name_in_a_comment_or_docstring(tmp_path: Path) -> None:
    for folder in CODE:
        (tmp_path / folder).mkdir()
    (tmp_path / "grader" / "a.py").write_text('"""Reads the Iris rows."""\nx = 1  # a (n, 784) layout\n')
    (tmp_path / "server" / "b.py").write_text("FLOWERS = 'irises'  # not a word match\nshape = (28, 28)\n"
                                              "def preprocess_iris(x): ...\n")
    assert mentions(tmp_path, pattern({"iris", "Iris"})) == [
        "grader/a.py:1: 'Iris' in \"\"\"Reads the Iris rows.\"\"\"",
        "grader/a.py:2: '784' in x = 1  # a (n, 784) layout",
        "server/b.py:2: '28, 28' in shape = (28, 28)",
        "server/b.py:3: 'iris' in def preprocess_iris(x): ...",
    ]
