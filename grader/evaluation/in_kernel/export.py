# Which model kind an object is, and its export as {framework, dtype, ops, device}. Runs in the student's kernel after
# the recogniser (recognise.py) and the exporters of each kind (export_common.py, then each kind's sources, which
# register the kind in KIND_EXPORTERS; same namespace). A lab declares the kinds its notebooks may hand in
# (`model_kinds` in lab.toml); the kernel's request carries them, and only those kinds are recognised.
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # defined by the recogniser and the exporters, which run first in the same namespace
    from grader.evaluation.in_kernel.export_common import KIND_EXPORTERS, TRACE_ROWS, Arrays, NotExportable
    from grader.evaluation.in_kernel.recognise import framework_of

    # the harness's first lines, written by the host from the table of model kinds (in_kernel.kinds_source)
    from grader.spec.model_kinds import DEFAULT_MODEL_KINDS, KERNEL_NAMES

CHECK_ROWS = 16  # visible inputs on which the grader compares the export with the student's forward()


class ModelKinds:
    """The kinds a lab accepts, with what recognising the NumPy kinds needs: the inputs' widths (features per
    dataset), the classes' counts, and a few visible rows per width to compare a student's forward() with (`samples`
    scaled to at most 1 in size, `raw` as stored)."""

    def __init__(self, kinds: list[str] | tuple[str, ...], widths: set[int], classes: set[int],
                 samples: dict[int, Any], shapes: dict[int, tuple[int, ...]] | None = None,
                 raw: dict[int, Any] | None = None) -> None:
        self.kinds = tuple(kinds)
        self.widths, self.classes, self.samples = widths, classes, samples
        self.shapes = shapes or {}  # width -> the shape of one stored input (an image: height, width)
        self.raw = raw or {}

    def layouts(self, width: int) -> list[tuple[int, ...]]:
        """The shapes one input of `width` features may be handed to a network in: flat, as stored, channels
        first or last."""
        raw = tuple(self.shapes.get(width, (width,)))
        found = [(width,), raw] + ([(1, *raw), (*raw, 1)] if len(raw) == 2 else [])
        return list(dict.fromkeys(found))

    def kind_of(self, obj: Any) -> str | None:
        """The accepted kind of `obj`, or None."""
        framework = framework_of(obj)
        if framework is not None:
            return framework if framework in self.kinds else None
        try:  # any object of the notebook's namespace comes here: one that raises is no model
            return next((kind for kind, exporter in KIND_EXPORTERS.items()
                         if kind in self.kinds and exporter.recognise(obj, self)), None)
        except Exception:
            return None

    def names(self) -> str:
        shown = [KERNEL_NAMES.get(k, k) for k in self.kinds]
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


def forward_outputs(model: Any, framework: str, x: Any) -> Any:
    """What the student's own forward()/call() computes for the NumPy inputs x, as a 2-D NumPy array."""
    if framework == "torch":
        torch = sys.modules["torch"]
        parameter = next(iter(model.parameters()), None)
        dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
        device = parameter.device if parameter is not None else "cpu"
        with torch.no_grad():
            out = model(torch.as_tensor(np.asarray(x), dtype=dtype, device=device))
        while isinstance(out, tuple | list) and out:
            out = out[0]
        out = out.detach().cpu().numpy()
    else:
        out = model(np.asarray(x, dtype=np.float32), training=False)
        while isinstance(out, tuple | list) and out:
            out = out[0]
        out = np.asarray(out.numpy() if hasattr(out, "numpy") else out)
    if out.ndim < 1 or len(out) != len(x):
        raise ValueError(f"it returned {out.shape} for {len(x)} inputs")
    return out.reshape(len(x), -1).astype(np.float64)


class VisibleExample:
    """Visible inputs the network's forward() accepts, in the layout it accepted (TRACE_ROWS rows)."""

    def __init__(self, width: int, x: Any) -> None:
        self.width, self.x = width, x


def visible_example(model: Any, framework: str, kinds: ModelKinds) -> VisibleExample | None:
    """The first dataset sample and layout the network's forward() runs on, or None."""
    if framework not in ("torch", "keras"):
        return None
    for width, rows in sorted(kinds.samples.items()):
        for layout in kinds.layouts(width):
            x = np.asarray(rows[:TRACE_ROWS], dtype=np.float32).reshape((-1, *layout))
            try:
                forward_outputs(model, framework, x[:2])
            except Exception:  # noqa: S112 - the student's forward() on a shape it does not take
                continue
            return VisibleExample(width, x)
    return None


class _evaluation_mode:
    """A torch network in eval() mode while it is exported, then back in the mode the notebook left it in."""

    def __init__(self, model: Any, framework: str) -> None:
        self.model = model if framework == "torch" else None

    def __enter__(self) -> None:
        if self.model is not None:
            self.training = bool(self.model.training)
            self.model.eval()

    def __exit__(self, *exc: object) -> None:
        if self.model is not None:
            self.model.train(self.training)


def export_network(model: Any, framework: str, arrays: Arrays, kinds: ModelKinds | None = None,
                   example: VisibleExample | None = None) -> dict[str, Any]:
    """The network as {framework, dtype, ops, device, path, check}; raises NotExportable (the arrays it added stay
    unused). `check`: CHECK_ROWS visible inputs and the outputs the student's own forward() gives for them, from
    which the grader confirms, outside the kernel, that the exported operations compute what the network computes."""
    kinds = kinds or ModelKinds(DEFAULT_MODEL_KINDS, set(), set(), {})
    with _evaluation_mode(model, framework):
        exported = _export(model, framework, arrays, kinds, example)
        if example is not None:
            probe = example.x[:CHECK_ROWS]
            try:
                reference = forward_outputs(model, framework, probe)
            except Exception as exc:
                raise NotExportable(f"its forward() runs on {TRACE_ROWS} inputs but not on {CHECK_ROWS} "
                                    f"({type(exc).__name__})") from None
            exported["check"] = {"input": arrays.add(probe, np.float32), "output": arrays.add(reference,
                                                                                                np.float32)}
    exported["device"] = device_of(model, framework)
    return exported


def _export(model: Any, framework: str, arrays: Arrays, kinds: ModelKinds,
            example: VisibleExample | None) -> dict[str, Any]:
    exported: dict[str, Any] = KIND_EXPORTERS[framework].export(model, arrays, kinds, example)
    return exported
