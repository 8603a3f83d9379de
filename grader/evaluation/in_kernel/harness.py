# The evaluation harness: runs in the student's kernel after the last student cell. It only EXPORTS: each candidate
# network (contract names first, then discovery over the namespace and the models seen after each cell) as a chain of
# standard operations with its weights, the student's preprocess_<dataset> applied to a sample of VISIBLE training
# inputs (so the grader can name it), and the training histories it finds. It never sees hidden inputs or any label;
# the grader computes every prediction outside the kernel from the export, which it treats as untrusted input.
# Entry point: `run(request_path, user_ns)`. The exporters (export_*.py, export.py) and histories.py are defined before
# this file runs. Only the model kinds the lab declares are recognised (the request's `model_kinds`).
import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # defined by the exporters and histories.py, which run first in the same namespace
    from grader.evaluation.in_kernel.export import (
        ModelKinds,
        export_network,
        visible_example,
    )
    from grader.evaluation.in_kernel.export_common import Arrays, NotExportable
    from grader.evaluation.in_kernel.export_numpy import layer_list
    from grader.evaluation.in_kernel.histories import Curves, history_curves, history_owner, paired_lists
    from grader.evaluation.in_kernel.recognise import framework_of
    from grader.spec.model_kinds import DEFAULT_MODEL_KINDS

MAX_CANDIDATES = 16
MAX_HISTORIES = 16
PREPROCESS_ROWS = 512
SKIP_NAMES = {"In", "Out", "exit", "quit", "get_ipython"}


# ---------------------------------------------------------------- finding models and histories

def _children(name: str, value: Any) -> list[tuple[str, Any]]:
    try:  # a subclass's items() or __iter__ is the student's code
        if isinstance(value, dict):
            return [(f"{name}[{key!r}]", item) for key, item in list(value.items())[:200]]
        if isinstance(value, (list, tuple)):
            return [(f"{name}[{index}]", item) for index, item in enumerate(list(value)[:200])]
    except Exception:
        pass
    return []


def _short(label: str, limit: int = 150) -> str:
    # labels travel back to the host, whose schema caps them; a long dict key must not void the whole output
    return label if len(label) <= limit else label[:limit - 3] + "..."


def namespace_items(user_ns: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for name, value in list(user_ns.items()):
        if name.startswith("_") or name in SKIP_NAMES:
            continue
        if _inspectable(value):
            yield name, value
            yield from ((label, item) for label, item in _children(name, value) if _inspectable(item))


def _inspectable(value: Any) -> bool:
    """False for an object that refuses to be inspected (isinstance reads `__class__`, which a student's property
    may make raise): it is no network or history either, and must not stop the search for the others."""
    try:
        isinstance(value, type)
        return True
    except Exception:
        return False


def _trained_network(value: Any, kinds: ModelKinds) -> bool:
    """A network that could have been trained: a loss module (nn.CrossEntropyLoss) or an empty container holds no
    weights and is no candidate for any role."""
    framework = kinds.kind_of(value)
    if framework != "torch":
        return framework is not None
    try:
        return any(True for _ in value.parameters())
    except Exception:
        return False


def _lone_layer(value: Any) -> bool:
    """A single dense layer of a NumPy framework: a network too, but discovery tries whole networks first."""
    try:
        return framework_of(value) is None and layer_list(value) == [value]
    except Exception:
        return False


def collect_models(user_ns: dict[str, Any], kinds: ModelKinds | None = None) -> list[tuple[str, Any]]:
    kinds = kinds or ModelKinds(DEFAULT_MODEL_KINDS, set(), set(), {})
    seen: set[int] = set()
    found: list[tuple[str, Any]] = []
    stash = sys.modules.get("_labgrader_seen")
    items = [(_short(f"`{name}`"), value) for name, value in namespace_items(user_ns)]
    items += [(_short(f"`{name}` as it was after In [{cell}]"), value)
              for name, cell, value in list(getattr(stash, "models", []))]
    for label, value in items:
        try:
            trained = id(value) not in seen and _trained_network(value, kinds)
        except Exception:  # an attribute lookup of the student's object raised
            trained = False
        if trained:
            seen.add(id(value))
            found.append((label, value))
    if "numpy_network" not in kinds.kinds:  # (the NumPy exporter is not even defined then)
        return found
    return [m for m in found if not _lone_layer(m[1])] + [m for m in found if _lone_layer(m[1])]


def collect_histories(user_ns: dict[str, Any]) -> list[tuple[str, Any, Curves]]:
    """[(label, value, (loss, val_loss, shape))]: the namespace's histories, paired lists, then the after-cell notes."""
    seen: set[int] = set()
    found: list[tuple[str, Any, Curves]] = []
    for name, value in namespace_items(user_ns):
        if id(value) in seen or isinstance(value, type):
            continue
        curves = history_curves(value, name)
        if curves is not None:
            seen.add(id(value))
            found.append((_short(f"`{name}`"), value, curves))
    for label, value, curves in paired_lists(user_ns):
        if id(value) not in seen:
            seen.add(id(value))
            found.append((_short(label), value, curves))
    stash = sys.modules.get("_labgrader_seen")
    for name, cell, value in list(getattr(stash, "histories", [])):
        if id(value) not in seen:
            curves = history_curves(value, name)
            if curves is not None:
                seen.add(id(value))
                found.append((_short(f"`{name}` as it was after In [{cell}]"), value, curves))
    return found


# ---------------------------------------------------------------- exporting

def _export_one(index: int, label: str, model: Any, arrays: Arrays, kinds: ModelKinds) -> dict[str, Any]:
    framework = kinds.kind_of(model)
    entry = {"id": index, "label": label, "framework": framework, "ops": [], "dtype": "float32", "device": "cpu",
             "error": None, "input_width": None}
    saved_items, saved_budget = dict(arrays.items), arrays.budget
    try:
        if framework is None:
            raise NotExportable(f"not a {kinds.names()}")
        example = visible_example(model, framework, kinds)
        entry["input_width"] = None if example is None else example.width
        entry.update(export_network(model, framework, arrays, kinds, example))
    except NotExportable as exc:
        arrays.items, arrays.budget = saved_items, saved_budget
        entry["error"] = str(exc)[:500]
    except Exception as exc:  # a network whose attributes raise: its export failed, say how
        arrays.items, arrays.budget = saved_items, saved_budget
        entry["error"] = f"exporting it raised {type(exc).__name__}: {str(exc)[:300]}"
    return entry


def model_kinds(request: dict[str, Any]) -> ModelKinds:
    """The lab's model kinds, with the widths, class counts and a few visible rows of its datasets' inputs."""
    widths: set[int] = set()
    samples: dict[int, Any] = {}
    raw: dict[int, Any] = {}
    shapes: dict[int, tuple[int, ...]] = {}
    for path in request["samples"].values():
        sample = np.load(path, mmap_mode="r", allow_pickle=False)  # the grader wrote it: a failure is the grader's
        width = int(np.prod(sample.shape[1:]))
        widths.add(width)
        shapes.setdefault(width, tuple(int(d) for d in sample.shape[1:]))
        rows = np.asarray(sample[:64], dtype=np.float64).reshape(-1, width)
        samples.setdefault(width, rows / max(1.0, float(np.abs(rows).max(initial=0.0))))
        raw.setdefault(width, rows)
    classes = {int(c) for c in request.get("classes", {}).values()}
    return ModelKinds(request.get("model_kinds", DEFAULT_MODEL_KINDS), widths, classes, samples, shapes, raw)


def export_networks(request: dict[str, Any], user_ns: dict[str, Any],
                    arrays: Arrays) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[int, int]]:
    """(networks, slots, id(model) -> network id): contract models first, then the discovered ones."""
    kinds = model_kinds(request)
    slots: list[dict[str, Any]] = []
    ordered: list[tuple[str, Any]] = []
    seen: dict[int, int] = {}
    for slot in request["slots"]:
        contract = user_ns.get(slot["name"])
        entry = {"name": slot["name"], "network": None, "error": None}
        if contract is not None and kinds.kind_of(contract) is None:
            entry["error"] = f"`{slot['name']}` is a {type(contract).__name__[:60]}, not a trained {kinds.names()}"
        elif contract is not None:
            if id(contract) not in seen:
                seen[id(contract)] = len(ordered)
                ordered.append((f"`{slot['name']}`", contract))
            entry["network"] = seen[id(contract)]
        slots.append(entry)
    for label, model in collect_models(user_ns, kinds):
        if id(model) not in seen and len(ordered) < MAX_CANDIDATES:
            seen[id(model)] = len(ordered)
            ordered.append((label, model))
    networks = [_export_one(index, label, model, arrays, kinds) for index, (label, model) in enumerate(ordered)]
    return networks, slots, seen


def _as_array(value: Any) -> Any:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    elif hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    return np.asarray(value)


OBSERVED_PAIRS = 64  # rows of a namespace array matched to rows of the visible sample: enough to name a map
OBSERVED_SCAN_ROWS = 60_000  # rows of one namespace array looked at
OBSERVED_MIN_PAIRS = 8


def _observed_candidates(user_ns: dict[str, Any], width: int) -> Iterator[tuple[str, Any]]:
    """Float arrays (or CPU tensors) in the namespace whose rows have the dataset's width: what a network trains on."""
    for name, value in list(user_ns.items())[:2000]:
        if not isinstance(name, str) or name.startswith("_") or name in SKIP_NAMES:
            continue
        try:
            if type(value) is not np.ndarray:
                if type(value).__module__.split(".")[0] != "torch" or not hasattr(value, "detach"):
                    continue
                value = value.detach().cpu().numpy()
            if value.dtype.kind != "f" or value.ndim < 2 or len(value) < OBSERVED_MIN_PAIRS:
                continue
            if int(np.prod(value.shape[1:])) == width:
                yield name, value.reshape(len(value), width)
        except Exception:  # noqa: S112 - a value that cannot be read as an array is no training array
            continue


def observed_preprocessing(dataset: str, path: str, user_ns: dict[str, Any],
                           arrays: Arrays) -> dict[str, Any] | None:
    """Where the notebook defines no preprocessing function: the namespace array (the inputs the network was trained
    on) with the most rows that are a visible sample row mapped by one map, as (sample rows, its rows), so the grader
    can name the map. A row is recognised by where it takes its smallest value (unchanged by any scaling and shift)."""
    sample = np.load(path, allow_pickle=False)
    width = int(np.prod(sample.shape[1:]))
    flat = sample.reshape(len(sample), width)
    keys: dict[bytes, int] = {}
    for index, row in enumerate(flat):
        key = np.packbits(row == row.min()).tobytes()
        keys[key] = -1 if key in keys else index  # a pattern two rows share names neither
    best: tuple[int, str, list[int], list[int]] | None = None
    for name, values in _observed_candidates(user_ns, width):
        sample_rows: list[int] = []
        own_rows: list[int] = []
        for start in range(0, min(len(values), OBSERVED_SCAN_ROWS), 4096):
            block = np.asarray(values[start:start + 4096])
            masks = np.packbits(block == block.min(axis=1, keepdims=True), axis=1)
            for offset, mask in enumerate(masks):
                index = keys.get(mask.tobytes(), -1)
                if index >= 0 and index not in sample_rows:
                    sample_rows.append(index)
                    own_rows.append(start + offset)
            if len(sample_rows) >= OBSERVED_PAIRS:
                break
        count = min(len(sample_rows), OBSERVED_PAIRS)
        if count >= OBSERVED_MIN_PAIRS and (best is None or count > best[0]):
            best = (count, name, sample_rows[:count], own_rows[:count])
    if best is None:
        return None
    _, name, sample_rows, own_rows = best
    values = dict(_observed_candidates({name: user_ns[name]}, width))[name]
    return {"dataset": dataset, "function": name, "observed": True, "error": None,
            "rows": arrays.add(np.asarray(sample_rows, dtype=np.float32)),
            "output": arrays.add(np.asarray(values[own_rows], dtype=np.float32))}


def export_preprocessing(request: dict[str, Any], user_ns: dict[str, Any], arrays: Arrays) -> list[dict[str, Any]]:
    """The student's preprocessing function (preprocess_<dataset> unless the lab names another) on visible training
    inputs only: the grader names what it computes. Without one, the training arrays observed in the namespace."""
    found = []
    for dataset, path in sorted(request["samples"].items()):
        name = request.get("preprocess", {}).get(dataset, f"preprocess_{dataset}")
        function = user_ns.get(name)
        if not callable(function):
            try:
                observed = observed_preprocessing(dataset, path, user_ns, arrays)
            except Exception:  # an observation is a hint: without it the grader fits as before
                observed = None
            if observed is not None:
                found.append(observed)
            continue
        entry = {"dataset": dataset, "function": name, "output": None, "error": None}
        try:
            sample = np.load(path, allow_pickle=False)[:PREPROCESS_ROWS]
            out = _as_array(function(sample.copy()))
            if out.dtype.kind not in "fiub" or out.ndim < 1 or len(out) != len(sample):
                raise ValueError(f"it returned {out.dtype} of shape {out.shape} for {len(sample)} inputs")
            entry["output"] = arrays.add(out.astype(np.float32))  # enough to name a preprocessing, half the bytes
        except Exception as exc:
            entry["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        found.append(entry)
    return found


def export_histories(request: dict[str, Any], user_ns: dict[str, Any],
                     network_ids: dict[int, int]) -> list[dict[str, Any]]:
    """Contract histories, or every history discovery finds (the grader picks the one of the chosen network)."""
    out = []
    discovered = None
    for wanted in request.get("histories", []):
        contract = user_ns.get(wanted["name"])
        if contract is not None:
            curves = history_curves(contract, wanted["name"])
            entry = {"name": wanted["name"], "found": curves is not None, "via": "contract",
                     "source": f"`{wanted['name']}`", "error": None, "network": None}
            if curves is None:
                entry["error"] = (f"`{wanted['name']}` is a {type(contract).__name__[:60]}; it needs per-epoch `loss` "
                                  "and `val_loss` lists (a Keras History or a dict)")
            else:
                entry.update(loss=curves[0], val_loss=curves[1], shape=curves[2],
                             network=network_ids.get(id(history_owner(contract))))
            out.append(entry)
            continue
        if discovered is None:
            discovered = collect_histories(user_ns)[-MAX_HISTORIES:]
        for label, value, curves in discovered:
            owner = history_owner(value)
            out.append({"name": wanted["name"], "found": True, "via": "discovery", "source": label, "error": None,
                        "loss": curves[0], "val_loss": curves[1], "shape": curves[2],
                        "network": network_ids.get(id(owner)) if owner is not None else None})
    return out


def run(request_path: str, user_ns: dict[str, Any]) -> None:
    with open(request_path) as fh:
        request = json.load(fh)
    arrays = Arrays()
    networks, slots, network_ids = export_networks(request, user_ns, arrays)
    preprocessed = export_preprocessing(request, user_ns, arrays)
    histories = []
    try:
        histories = export_histories(request, user_ns, network_ids)
    except Exception as exc:
        histories = [{"name": w["name"], "found": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
                     for w in request.get("histories", [])]
    result = {"nonce": request["nonce"], "networks": networks, "slots": slots, "preprocessed": preprocessed,
              "histories": histories, "arrays": arrays.items}
    data = json.dumps(result).encode()
    tmp = request["output"] + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, request["output"])
