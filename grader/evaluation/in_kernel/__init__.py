"""Source files that run inside the student's kernel. The host reads them as text and never imports them."""

from collections.abc import Iterable
from pathlib import Path

HERE = Path(__file__).resolve().parent
# the harness cell runs these in one namespace, in this order: each file uses names the earlier ones define
HARNESS_SOURCES = ("recognise.py", "export_common.py", "export_torch.py", "export_torch_traced.py", "export_keras.py",
                   "export_numpy.py", "export.py", "histories.py", "harness.py")
# the exporter of each model kind; a lab's harness carries only those of the kinds it declares
KIND_SOURCES = {"torch": ("export_torch.py", "export_torch_traced.py"), "keras": ("export_keras.py",),
                "numpy_network": ("export_numpy.py",), "perceptron": ("export_numpy.py",)}
ALL_KINDS = ("torch", "keras", "numpy_network", "perceptron")
# the start-up cell runs these in one private namespace, in this order: the process, seeds, served data, served
# downloads, the recogniser and the notes after each cell, then startup.py installs the hooks
STARTUP_SOURCES = ("startup_process.py", "startup_seeds.py", "startup_serving.py", "startup_commands.py",
                   "recognise.py", "startup_capture.py", "startup.py")


def source(name: str) -> str:
    return (HERE / name).read_text(encoding="utf-8")


def harness_source(kinds: Iterable[str] = ALL_KINDS) -> str:
    """The harness cell's code: the exporters of `kinds`, the dispatch, the history finder, then the harness.

    Leaving out the exporters a lab does not use keeps the harness small: it runs after the student's last cell, in
    whatever memory a notebook left it (a notebook that filled its memory limit still gets its models exported)."""
    wanted = {name for kind in kinds for name in KIND_SOURCES[kind]}
    every = {name for names in KIND_SOURCES.values() for name in names}
    return "\n".join(source(name) for name in HARNESS_SOURCES if name not in every or name in wanted)


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
