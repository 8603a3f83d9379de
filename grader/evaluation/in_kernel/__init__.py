"""Source files that run inside the student's kernel. The host reads them as text and never imports them.

The model kinds come from one table (`grader.spec.model_kinds.MODEL_KINDS`): the exporter sources of each kind, in the
table's order, and a first source generated from it (`kinds_source`)."""

from collections.abc import Iterable
from pathlib import Path

from grader.spec.model_kinds import DEFAULT_MODEL_KINDS, KERNEL_NAMES, MODEL_KINDS

HERE = Path(__file__).resolve().parent
# the exporter sources of each model kind; a lab's harness carries only those of the kinds it declares
KIND_SOURCES: dict[str, tuple[str, ...]] = {kind: info.exporter for kind, info in MODEL_KINDS.items()}
ALL_KINDS = tuple(MODEL_KINDS)
# the harness cell runs these in one namespace, in this order: each file uses names the earlier ones define
HARNESS_SOURCES = ("recognise.py", "export_common.py", *dict.fromkeys(n for names in KIND_SOURCES.values()
                                                                      for n in names),
                   "export.py", "histories.py", "harness.py")
# the start-up cell runs these in one private namespace, in this order: the process, seeds, served data, served
# downloads, the recogniser and the notes after each cell, then startup.py installs the hooks
STARTUP_SOURCES = ("startup_process.py", "startup_seeds.py", "startup_serving.py", "startup_commands.py",
                   "recognise.py", "startup_capture.py", "startup.py")


def source(name: str) -> str:
    return (HERE / name).read_text(encoding="utf-8")


def kinds_source() -> str:
    """The harness's first lines, from the table: KERNEL_NAMES (kind -> how the kernel's messages name such an
    object) and DEFAULT_MODEL_KINDS (what a request without `model_kinds` accepts)."""
    return f"KERNEL_NAMES = {KERNEL_NAMES!r}\nDEFAULT_MODEL_KINDS = {DEFAULT_MODEL_KINDS!r}\n"


def harness_source(kinds: Iterable[str] = ALL_KINDS) -> str:
    """The harness cell's code: the exporters of `kinds`, the dispatch, the history finder, then the harness.

    Leaving out the exporters a lab does not use keeps the harness small: it runs after the student's last cell, in
    whatever memory a notebook left it (a notebook that filled its memory limit still gets its models exported)."""
    wanted = {name for kind in kinds for name in KIND_SOURCES[kind]}
    every = {name for names in KIND_SOURCES.values() for name in names}
    return kinds_source() + "\n".join(source(name) for name in HARNESS_SOURCES if name not in every or name in wanted)


def startup_code() -> str:
    """The start-up's sources as one text, run in one namespace (what the start-up cell executes)."""
    return "\n".join(source(name) for name in STARTUP_SOURCES)


def startup_source() -> str:
    """The private cell run before the first student cell: the start-up's code in a namespace of its own (nothing of
    it stays in the student's), given the kernel's `get_ipython`."""
    return (
        "def __labgrader_startup():\n"
        "    namespace = {'__name__': 'labgrader_startup', 'get_ipython': get_ipython}\n"
        f"    exec(compile({startup_code()!r}, 'labgrader_startup.py', 'exec'), namespace)\n"
        "__labgrader_startup()\n"
        "del __labgrader_startup\n"
    )
