# The evaluation harness: runs in the student's kernel after the last student cell. It reads a request, finds the
# models (contract names first, then discovery over the namespace and the models seen after each cell), picks the
# input preprocessing by accuracy on VISIBLE training data, predicts on the inputs it is given (never hidden labels)
# and writes a size-capped JSON file. The host treats that file as untrusted input. Entry point:
# `run(request_path, user_ns)`. The functions of model_facts.py are defined before this file runs.
import json
import math
import os
import sys

import numpy as np

MAX_OUTPUT_BYTES = 8 * 1024 * 1024
MAX_CANDIDATES = 24
TIE_MARGIN = 0.01  # accuracy on the training sample
SKIP_NAMES = {"In", "Out", "exit", "quit", "get_ipython"}
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


# ---------------------------------------------------------------- finding models and histories

def _children(name, value):
    if isinstance(value, dict):
        for key, item in list(value.items())[:200]:
            yield f"{name}[{key!r}]", item
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(list(value)[:200]):
            yield f"{name}[{index}]", item


def _short(label, limit=150):
    # labels travel back to the host, whose schema caps them; a long dict key must not void the whole output
    return label if len(label) <= limit else label[:limit - 3] + "..."


def namespace_items(user_ns):
    for name, value in list(user_ns.items()):
        if name.startswith("_") or name in SKIP_NAMES:
            continue
        yield name, value
        yield from _children(name, value)


def collect_models(user_ns):
    seen, found = set(), []
    for name, value in namespace_items(user_ns):
        if id(value) not in seen and framework_of(value) is not None:
            seen.add(id(value))
            found.append((_short(f"`{name}`"), value))
    stash = sys.modules.get("_labgrader_seen")
    for name, cell, value in list(getattr(stash, "models", [])):
        if id(value) not in seen and framework_of(value) is not None:
            seen.add(id(value))
            found.append((_short(f"`{name}` as it was after In [{cell}]"), value))
    return found


def collect_histories(user_ns):
    """[(label, value, (loss, val_loss, shape))]: histories in the namespace, paired lists, then the after-cell notes."""
    seen, found = set(), []
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


# ---------------------------------------------------------------- predicting

def raw_scores(model, framework, x, batch=1024):
    outputs = []
    if framework == "torch":
        import torch

        model.eval()
        try:
            device = next(model.parameters()).device
        except StopIteration:
            device = torch.device("cpu")
        with torch.no_grad():
            for start in range(0, len(x), batch):
                chunk = torch.as_tensor(np.ascontiguousarray(x[start:start + batch]), dtype=torch.float32,
                                        device=device)
                out = model(chunk)
                if isinstance(out, (tuple, list)):
                    out = out[0]
                outputs.append(out.detach().float().cpu().numpy())
    else:
        for start in range(0, len(x), batch):
            out = model(np.asarray(x[start:start + batch], dtype=np.float32), training=False)
            if isinstance(out, (tuple, list)):
                out = out[0]
            outputs.append(np.asarray(out, dtype=np.float32))
    return np.concatenate(outputs).reshape(len(x), -1)


def classes_of(scores):
    if scores.shape[1] == 1:
        return (scores[:, 0] > 0.5).astype(np.int64)
    return scores.argmax(axis=1).astype(np.int64)


def input_shapes(dataset, n):
    if dataset == "mnist":
        return [(n, 784), (n, 1, 28, 28), (n, 28, 28), (n, 28, 28, 1)]
    return [(n, 4)]


def fit_shape(model, framework, dataset, x):
    """The first input layout (flat, NCHW, HW, NHWC) the model accepts."""
    problems = []
    for shape in input_shapes(dataset, len(x[:8])):
        try:
            scores = raw_scores(model, framework, x[:8].reshape(shape))
            if scores.shape[0] == shape[0]:
                return shape[1:], ""
        except Exception as exc:
            problems.append(f"{type(exc).__name__}: {str(exc)[:200]}")
    return None, problems[0] if problems else "the model rejected every input layout"


def preprocessings(dataset, train_x, user_ns):
    """Candidate input preprocessings (name, function of raw float32 inputs), the student's own first."""
    flat = train_x.reshape(len(train_x), -1).astype(np.float32)
    mean, std = flat.mean(axis=0), flat.std(axis=0)
    std = np.where(std < 1e-6, 1.0, std)
    low, span = flat.min(axis=0), flat.max(axis=0) - flat.min(axis=0)
    span = np.where(span < 1e-6, 1.0, span)

    def per_feature(func):
        return lambda x: func(x.reshape(len(x), -1)).reshape(x.shape)

    options = []
    student = user_ns.get(f"preprocess_{dataset}")
    if callable(student):
        options.append((f"preprocess_{dataset}", student))
    if dataset == "mnist":
        options.append(("scaled_255", lambda x: x / 255.0))
        options.append(("mnist_mean_std", lambda x: (x / 255.0 - MNIST_MEAN) / MNIST_STD))
    options.append(("standardised", per_feature(lambda x: (x - mean) / std)))
    options.append(("min_max", per_feature(lambda x: (x - low) / span)))
    options.append(("raw", lambda x: x))
    return options


def _as_array(value):
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def _apply(name, func, x):
    # the student's own function gets the array as loaded (uint8 for MNIST); ours get float32
    return _as_array(func(x.copy()) if name.startswith("preprocess_") else func(x.astype(np.float32)))


def _centred_logits(out):
    """Scores with a final softmax undone up to a per-row constant: log-probabilities minus their row mean."""
    out = np.asarray(out, dtype=np.float64).reshape(len(out), -1)
    if out.min() >= 0 and np.allclose(out.sum(axis=1), 1, atol=1e-3):
        out = np.log(np.clip(out, 1e-30, None))
    return out - out.mean(axis=1, keepdims=True)


def is_affine(model, framework, layout):
    """True when f(a) + f(b) - f(0) == f(a + b) for the logits: what the network computes, whatever its layers are
    called, has no non-linearity (a final softmax aside)."""
    rng = np.random.default_rng(0)
    a, b = (rng.random((4,) + tuple(layout), dtype=np.float32) for _ in range(2))
    zero = np.zeros_like(a)
    fa, fb, f0, fab = (_centred_logits(raw_scores(model, framework, v)) for v in (a, b, zero, a + b))
    scale = max(1e-3, float(np.abs(fab).max()))
    return float(np.abs(fa + fb - f0 - fab).max()) / scale < 1e-3


def choose_preprocessing(model, framework, dataset, train_x, train_y, user_ns):
    """Try each preprocessing on the visible training sample; keep the most accurate (earlier wins ties)."""
    raw = train_x.astype(np.float32)
    shape, problem = fit_shape(model, framework, dataset, raw)
    best, tried = None, {}
    for name, func in preprocessings(dataset, raw, user_ns):
        try:
            x = _apply(name, func, train_x)
            if name.startswith("preprocess_"):
                layout = x.shape[1:]
            else:
                if shape is None:
                    continue
                layout = shape
                x = x.reshape((len(x),) + tuple(layout))
            predicted = classes_of(raw_scores(model, framework, x))
            accuracy = float((predicted == train_y).mean())
        except Exception as exc:
            problem = problem or f"{type(exc).__name__}: {str(exc)[:200]}"
            continue
        tried[name] = round(accuracy, 4)
        # an earlier (more usual) preprocessing keeps its place unless another is clearly more accurate; a linear
        # model scores raw and /255 inputs almost alike, and the report should name the scaling the student used
        if best is None or accuracy > best[2] + TIE_MARGIN:
            best = (name, func, accuracy, tuple(layout), predicted)
    return best, tried, problem


def predict_with(model, framework, preprocessing, x):
    name, func, _, layout, _ = preprocessing
    prepared = _apply(name, func, x)
    if not name.startswith("preprocess_"):
        prepared = prepared.reshape((len(prepared),) + layout)
    return classes_of(raw_scores(model, framework, prepared))


# ---------------------------------------------------------------- the slots

def _load(path):
    return np.load(path, allow_pickle=False)


def evaluate_candidate(label, model, slot, user_ns, data):
    framework = framework_of(model)
    facts = architecture_facts(model, framework)
    best, tried, problem = choose_preprocessing(model, framework, slot["dataset"], data["train_x"],
                                                data["train_y"], user_ns)
    if best is not None and facts["dense_layers"] >= 2:
        # What it computes decides: a custom forward() may apply F.relu that no layer list shows, and a layer named
        # ReLU may compute nothing at all. A network that is affine end to end has no non-linearity between layers.
        try:
            affine = is_affine(model, framework, best[3])
        except Exception:
            affine = None
        if affine is True:
            facts["nonlinear_between"] = False
        elif affine is False and facts["custom_forward"] and not facts["nonlinear_between"]:
            facts["nonlinear_between"] = True
    return {"label": label, "model": model, "framework": framework, "facts": facts, "best": best,
            "tried": tried, "problem": problem}


def pick_by_discovery(slot, candidates, taken, user_ns, data, fallback):
    """The most accurate model of the slot's dataset whose architecture fits (any architecture when `fallback`)."""
    pool = []
    for label, model in candidates:
        if id(model) in taken:
            continue
        facts = architecture_facts(model, framework_of(model))
        if dataset_of(facts) == slot["dataset"] and (fallback or architecture_fits(facts, slot["architecture"])):
            pool.append((label, model))
    evaluated = [evaluate_candidate(label, model, slot, user_ns, data) for label, model in pool[:MAX_CANDIDATES]]
    runnable = [e for e in evaluated if e["best"] is not None]
    if not runnable:
        return None
    # the most accurate on the visible training sample; the first found (the final binding) wins a tie
    chosen = max(runnable, key=lambda e: e["best"][2])
    chosen["considered"] = len(pool)
    return chosen


def evaluate_slot(slot, user_ns, candidates, taken, data, fallback=False):
    entry = {"name": slot["name"], "found": False, "error": None, "via": None, "source": None}
    contract = user_ns.get(slot["name"])
    if contract is not None and framework_of(contract) is None:
        entry["error"] = (f"`{slot['name']}` is a {type(contract).__name__}, not a trained torch.nn.Module "
                          "or keras.Model")
        return entry
    if contract is not None:
        chosen = evaluate_candidate(f"`{slot['name']}`", contract, slot, user_ns, data)
        entry["via"] = "contract"
    else:
        chosen = pick_by_discovery(slot, candidates, taken, user_ns, data, fallback)
        entry["via"] = "discovery"
        if chosen is None:
            return entry
    taken.add(id(chosen["model"]))
    entry.update(found=True, source=chosen["label"], framework=chosen["framework"], facts=chosen["facts"],
                 preprocessing_tried=chosen["tried"], considered=chosen.get("considered"))
    if chosen["best"] is None:
        entry["error"] = f"the model could not be run on {slot['dataset']} inputs: {chosen['problem']}"
        return entry
    entry["preprocessing"] = chosen["best"][0]
    entry["train_accuracy"] = round(float(chosen["best"][2]), 4)
    entry["train_predictions"] = [int(p) for p in chosen["best"][4]]
    try:
        predictions = predict_with(chosen["model"], chosen["framework"], chosen["best"], _load(slot["inputs"]))
    except Exception as exc:
        entry["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        return entry
    entry["predictions"] = [int(p) for p in predictions]
    entry["_model"] = chosen["model"]
    return entry


def _history_model(value):
    """The network a history belongs to, where it says: a Keras History's model, or the Lightning module itself."""
    if framework_of(value) is not None:
        return value
    if _is_keras_history(value):
        model = value.__dict__.get("model") or value.__dict__.get("_model")
        return model if framework_of(model) is not None else None
    return None


def evaluate_history(request, entries, user_ns):
    entry = {"name": request["name"], "found": False, "via": None, "source": None, "error": None}
    contract = user_ns.get(request["name"])
    if contract is not None:
        curves = history_curves(contract, request["name"])
        if curves is None:
            entry["error"] = (f"`{request['name']}` is a {type(contract).__name__}; it needs per-epoch `loss` "
                              "and `val_loss` lists (a Keras History or a dict)")
            return entry
        entry.update(found=True, via="contract", source=f"`{request['name']}`", loss=curves[0],
                     val_loss=curves[1], shape=curves[2])
        return entry
    found = collect_histories(user_ns)
    slot = next((e for e in entries if e["name"] == request.get("model")), None)
    model = slot.get("_model") if slot else None
    wanted = request.get("dataset") or (slot or {}).get("dataset")
    usable, linked = [], []
    for label, value, curves in found:
        owner = _history_model(value)
        if owner is not None and model is not None and owner is model:
            linked.append((label, value, curves))
        elif owner is not None and wanted and dataset_of(architecture_facts(owner, framework_of(owner))) != wanted:
            continue  # the history of a network for another dataset (an Iris model's fit) says nothing here
        usable.append((label, value, curves))
    if not usable:
        return entry
    with_validation = [h for h in usable if h[2][1]]
    label, _, curves = (linked or with_validation or usable)[-1]
    entry.update(found=True, via="discovery", source=label, loss=curves[0], val_loss=curves[1], shape=curves[2],
                 linked=bool(linked))
    return entry


def run(request_path, user_ns):
    with open(request_path) as fh:
        request = json.load(fh)
    candidates = collect_models(user_ns)
    taken = {id(user_ns.get(s["name"])) for s in request["slots"] if user_ns.get(s["name"]) is not None}
    cache = {}
    entries = {}
    # first every slot takes a model whose architecture fits; only then may an empty slot take an unfitting one
    for fallback in (False, True):
        for slot in request["slots"]:
            if slot["name"] in entries and (entries[slot["name"]]["found"] or entries[slot["name"]]["error"]):
                continue
            key = slot["train_x"]
            if key not in cache:
                cache[key] = {"train_x": _load(slot["train_x"]), "train_y": _load(slot["train_y"]).astype(np.int64)}
            try:
                entries[slot["name"]] = evaluate_slot(slot, user_ns, candidates, taken, cache[key], fallback)
            except Exception as exc:
                entries[slot["name"]] = {"name": slot["name"], "found": False,
                                         "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    entries = list(entries.values())
    histories = []
    datasets = {slot["name"]: slot["dataset"] for slot in request["slots"]}
    for wanted in request.get("histories", []):
        try:
            histories.append(evaluate_history(dict(wanted, dataset=datasets.get(wanted.get("model"))), entries,
                                              user_ns))
        except Exception as exc:
            histories.append({"name": wanted["name"], "found": False,
                              "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
    for entry in entries:
        entry.pop("_model", None)
    result = {"nonce": request["nonce"], "models": entries, "histories": histories}
    data = json.dumps(result).encode()
    if len(data) > MAX_OUTPUT_BYTES:
        raise ValueError("harness output over its size limit")
    tmp = request["output"] + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, request["output"])
