# The parts every exporter shares: the byte-budgeted store of weights and the error that says why a network cannot be
# exported. Runs in the student's kernel: the host concatenates the in-kernel sources in the order
# `grader.evaluation.in_kernel.HARNESS_SOURCES` gives (this file first), so each later file sees these names.
# Nothing here decides a grade: the grader validates the export outside the kernel and computes every prediction
# itself from the operations and weights.
import base64
from typing import Any

import numpy as np

MAX_EXPORT_BYTES = 48 * 1024 * 1024  # all networks and arrays of one export together
# visible inputs a network is traced on when its code must run to be read: an unusual batch size, so that a size the
# student wrote into forward() is unlikely to be it
TRACE_ROWS = 37


class NotExportable(Exception):
    """The network's computation cannot be written as the grader's operations; the message says why."""


class KindExporter:
    """One model kind, as its exporter source registers it in KIND_EXPORTERS: `recognise(obj, kinds)` (is `obj` one,
    given the lab's `ModelKinds`) and `export(model, arrays, kinds, example)` ({ops, dtype, ...} or NotExportable)."""

    def __init__(self, recognise: Any, export: Any) -> None:
        self.recognise, self.export = recognise, export


# kind -> its exporter, in the order the exporter sources ran; the harness carries only the lab's kinds' sources
KIND_EXPORTERS: dict[str, KindExporter] = {}



class Arrays:
    """The weights of an export, each stored once under a short key, within the export's byte budget."""

    def __init__(self, budget: int = MAX_EXPORT_BYTES) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.budget = budget

    def add(self, value: Any, dtype: Any = None) -> str:
        array = np.asarray(value)
        wide = (dtype is None and array.dtype == np.float64) or (dtype is not None and np.dtype(dtype) == np.float64)
        if array.size * (8 if wide else 4) > self.budget:  # before any copy: a broadcast view may claim terabytes
            raise NotExportable(f"its weights are over the export's {MAX_EXPORT_BYTES // (1024 * 1024)} MB limit")
        array = np.ascontiguousarray(array, dtype=dtype)
        if array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float32)
        self.budget -= array.nbytes
        key = f"a{len(self.items)}"
        self.items[key] = {"dtype": str(array.dtype), "shape": [int(d) for d in array.shape],
                           "data": base64.b64encode(array.astype(array.dtype.newbyteorder("<")).tobytes()).decode()}
        return key



def pair(value: Any) -> list[int]:
    """(h, w) of a kernel size, stride or padding given as one number or two."""
    return [int(v) for v in value] if isinstance(value, tuple | list) else [int(value), int(value)]


def _torch_numpy(tensor: Any) -> Any:
    """A torch tensor's values as a NumPy array (export_torch.py and export_torch_traced.py share it)."""
    return tensor.detach().cpu().numpy()
