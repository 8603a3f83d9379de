# Start-up: what the grader captures while the student's cells run. A note of every model (recognise.py: PyTorch,
# Keras, a network of the student's own NumPy framework) and history that existed after each cell, kept in the module
# `_labgrader_seen`, so a model whose variable was later reused can still be graded; and Lightning's self.log() values
# per epoch (Lightning keeps only the last). Runs in the student's kernel after recognise.py, in the same private
# namespace; startup.py registers the hooks.
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # defined by the start-up's earlier sources, which run first in the same namespace
    from grader.evaluation.in_kernel.recognise import is_history, is_model

NOTED = 32  # models, and histories, noted at most


def seen_module(serve: Any) -> Any:
    """The module `_labgrader_seen`: the notes (models and histories as (label, cell, value)) and the lab's `serve`."""
    seen: Any = types.ModuleType("_labgrader_seen")
    seen.models, seen.histories = [], []
    seen.serve = serve
    sys.modules["_labgrader_seen"] = seen
    return seen


def remember(seen: Any, user_ns: dict[str, Any], cell_number: Any) -> None:
    """Notes the models and histories of the namespace (and one level into its dicts, lists and tuples) not yet seen."""
    known = {id(v) for _, _, v in seen.models} | {id(v) for _, _, v in seen.histories}
    for name, value in list(user_ns.items()):
        if name.startswith("_") or name in ("In", "Out"):
            continue
        items = [(name, value)]
        if isinstance(value, dict):
            items += [(f"{name}[{k!r}]", v) for k, v in list(value.items())[:50]]
        elif isinstance(value, (list, tuple)):
            items += [(f"{name}[{i}]", v) for i, v in enumerate(list(value)[:50])]
        for label, item in items:
            if id(item) in known:
                continue
            try:
                if is_model(item) and len(seen.models) < NOTED:
                    seen.models.append((label, cell_number, item))
                    known.add(id(item))
                elif is_history(item) and len(seen.histories) < NOTED:
                    seen.histories.append((label, cell_number, item))
                    known.add(id(item))
            except Exception:
                pass


def note_after_each_cell(shell: Any, seen: Any) -> None:
    def after_cell(result: Any) -> None:
        try:
            remember(seen, shell.user_ns, getattr(result, "execution_count", None) or shell.execution_count)
        except Exception:
            pass

    shell.events.register("post_run_cell", after_cell)


def record_lightning(module: Any) -> None:
    """Lightning keeps only the last value of what a LightningModule logs; the grader needs one per epoch."""
    found = getattr(module, "LightningModule", None)
    if not isinstance(found, type) or getattr(getattr(found, "log", None), "_labgrader", False):
        return
    cls: Any = found
    original = cls.log

    def log(self: Any, name: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            trainer = self.__dict__.get("_trainer")
            if trainer is not None and not trainer.sanity_checking and isinstance(name, str):
                number = float(value.item() if hasattr(value, "item") else value)
                logged = self.__dict__.setdefault("_labgrader_logged", {})
                if number == number and (name in logged or len(logged) < 20):
                    per_epoch = logged.setdefault(name, {})
                    epoch = int(trainer.current_epoch)
                    if epoch in per_epoch or len(per_epoch) < 1000:
                        total = per_epoch.setdefault(epoch, [0.0, 0])
                        total[0] += number
                        total[1] += 1
        except Exception:
            pass
        return original(self, name, value, *args, **kwargs)

    marked: Any = log
    marked._labgrader = True
    cls.log = marked
