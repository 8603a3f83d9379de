# Which model kind an object is, and its export as {framework, dtype, ops, device}. Runs in the student's kernel after
# the exporters of each kind (export_common.py, export_torch.py, export_keras.py, export_numpy.py; same namespace).
# A lab declares the kinds its notebooks may hand in (`model_kinds` in lab.toml); the kernel's request carries them,
# and only those kinds are recognised.
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # defined by the exporters, which run first in the same namespace
    from grader.evaluation.in_kernel.export_common import Arrays
    from grader.evaluation.in_kernel.export_keras import export_keras
    from grader.evaluation.in_kernel.export_numpy import (
        export_numpy_network,
        export_perceptron,
        is_numpy_network,
        perceptron_matrix,
    )
    from grader.evaluation.in_kernel.export_torch import export_torch

DEFAULT_KINDS = ("torch", "keras")
KIND_NAMES = {"torch": "torch.nn.Module", "keras": "keras.Model", "numpy_network": "network of NumPy layers",
              "perceptron": "perceptron weight matrix"}


def framework_of(obj: Any) -> str | None:
    """"torch" or "keras" for a network object whose real class (not a claimed `__class__`) is one."""
    if isinstance(obj, type):
        return None
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.nn.Module) and issubclass(type(obj), torch.nn.Module):
        return "torch"
    for name in ("keras", "tf_keras"):
        keras = sys.modules.get(name)
        model_class = getattr(keras, "Model", None) if keras is not None else None
        if isinstance(model_class, type) and isinstance(obj, model_class) and issubclass(type(obj), model_class):
            return "keras"
    return None


class ModelKinds:
    """The kinds a lab accepts, with what recognising the NumPy kinds needs: the inputs' widths (features per
    dataset), the classes' counts, and a few visible rows per width to compare a student's forward() with."""

    def __init__(self, kinds: list[str] | tuple[str, ...], widths: set[int], classes: set[int],
                 samples: dict[int, Any]) -> None:
        self.kinds = tuple(kinds)
        self.widths, self.classes, self.samples = widths, classes, samples

    def kind_of(self, obj: Any) -> str | None:
        """The accepted kind of `obj`, or None."""
        framework = framework_of(obj)
        if framework is not None:
            return framework if framework in self.kinds else None
        try:  # any object of the notebook's namespace comes here: one that raises is no model
            if "numpy_network" in self.kinds and is_numpy_network(obj, self.widths):
                return "numpy_network"
            if "perceptron" in self.kinds and perceptron_matrix(obj, self.widths, self.classes) is not None:
                return "perceptron"
        except Exception:
            return None
        return None

    def names(self) -> str:
        shown = [KIND_NAMES.get(k, k) for k in self.kinds]
        return ", ".join(shown[:-1]) + f" or {shown[-1]}" if len(shown) > 1 else shown[0]


def device_of(model: Any, framework: str) -> str:
    try:
        if framework == "torch":
            return str(next(model.parameters()).device)[:40]
        if framework != "keras":
            return "cpu"
        weight = model.weights[0]
        device = str(getattr(getattr(weight, "value", weight), "device", "") or "cpu").lower()
        return "gpu" if "gpu" in device else "cpu"
    except Exception:
        return "cpu"


def export_network(model: Any, framework: str, arrays: Arrays, kinds: ModelKinds | None = None) -> dict[str, Any]:
    """The network as {framework, dtype, ops, device}; raises NotExportable (the arrays it added stay unused)."""
    kinds = kinds or ModelKinds(DEFAULT_KINDS, set(), set(), {})
    if framework == "torch":
        exported = export_torch(model, arrays)
    elif framework == "keras":
        exported = export_keras(model, arrays)
    elif framework == "numpy_network":
        exported = export_numpy_network(model, arrays, kinds.samples)
    else:
        exported = export_perceptron(model, arrays, kinds.widths, kinds.classes)
    exported["device"] = device_of(model, framework)
    return exported
