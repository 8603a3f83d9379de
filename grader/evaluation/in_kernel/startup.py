# Start-up, last: installs what the earlier sources define, in this order: the hooks that run when the student
# imports a framework (seeds, served loaders, Lightning's per-epoch log), urllib's served URLs, the notes after each
# cell and the shell's served downloads. Runs silently in the sandboxed kernel before the first student cell, after
# the other start-up sources (in_kernel/__init__.py: STARTUP_SOURCES), in one private namespace: nothing of the
# start-up stays in the student's namespace.
import importlib.abc
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # defined by the start-up's earlier sources, which run first in the same namespace
    from grader.evaluation.in_kernel.startup_capture import note_after_each_cell, record_lightning, seen_module
    from grader.evaluation.in_kernel.startup_commands import answer_shell_commands
    from grader.evaluation.in_kernel.startup_seeds import seed_keras, seed_tensorflow, seed_torch
    from grader.evaluation.in_kernel.startup_serving import answer_urllib, redirect_keras, refuse_torchvision, serve


def keras_imported(module: Any) -> None:
    seed_keras(module)
    redirect_keras(module)


after_import = {"torch": seed_torch, "tensorflow": seed_tensorflow, "keras": keras_imported,
                "torchvision.datasets": refuse_torchvision, "lightning.pytorch": record_lightning,
                "pytorch_lightning": record_lightning}


class AfterImport(importlib.abc.MetaPathFinder):
    """Runs a module's hook of `after_import` once, right after the module's own code ran (a failing hook is
    ignored: the student's import must not fail because of the grader)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        hook = after_import.get(name)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None and spec.loader is not None:
                break
        else:
            return None
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            after_import.pop(name, None)
            try:
                hook(module)
            except Exception:
                pass

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


sys.meta_path.insert(0, AfterImport())
seen = seen_module(serve)
try:
    answer_urllib()
except Exception:
    pass
shell = get_ipython()  # type: ignore[name-defined]  # noqa: F821 - given by the cell that runs the start-up
if shell is not None:
    note_after_each_cell(shell, seen)
    answer_shell_commands(shell)
os.makedirs(os.environ.get("TMPDIR", "/tmp"), exist_ok=True)
