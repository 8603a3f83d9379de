# Architecture facts of a network, read from its layers: runs in the student's kernel as the first part of the
# harness (the host concatenates this file and harness.py). Frameworks are looked up in sys.modules, never imported.
import sys

import numpy as np

# ---------------------------------------------------------------- what is a model, and what does it look like

def framework_of(obj):
    if isinstance(obj, type):
        return None
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.nn.Module):
        return "torch"
    for name in ("keras", "tf_keras"):
        keras = sys.modules.get(name)
        model_class = getattr(keras, "Model", None) if keras is not None else None
        if isinstance(model_class, type) and isinstance(obj, model_class):
            return "keras"
    return None


def _torch_leaves(model):
    return [m for m in model.modules() if not list(m.children())]


def _keras_layers(model):
    layers = []
    for layer in getattr(model, "layers", []):
        if hasattr(layer, "layers") and getattr(layer, "layers"):
            layers.extend(_keras_layers(layer))
        else:
            layers.append(layer)
    return layers


CONV_WORDS = ("conv",)
RECURRENT_WORDS = ("lstm", "gru", "rnn", "recurrent")
RECOGNISED_WORDS = CONV_WORDS + RECURRENT_WORDS + ("norm",)  # layers whose parameters are not "unrecognised"
NONLINEAR = {"relu", "relu6", "sigmoid", "tanh", "elu", "selu", "gelu", "silu", "swish", "softplus", "softsign",
             "leakyrelu", "leaky_relu", "prelu", "mish", "hardtanh", "hardsigmoid", "hard_sigmoid", "hardswish",
             "celu", "rrelu", "logsigmoid", "tanhshrink", "exponential", "softmax", "logsoftmax", "log_softmax"}


def _torch_facts(model):
    import torch

    leaves = _torch_leaves(model)
    sequence = []  # "dense" | activation name, in registration order
    facts = {"conv": False, "recurrent": False, "input_size": None, "output_size": None, "image_channels": None}
    accounted = 0  # parameters held by layers this file recognises; the rest compute something unnamed
    for leaf in leaves:
        kind = type(leaf).__name__
        lowered = kind.lower()
        if (isinstance(leaf, torch.nn.Linear) or any(w in lowered for w in RECOGNISED_WORDS) or lowered in NONLINEAR
                or type(leaf).__module__.endswith("activation")):
            accounted += sum(p.numel() for p in leaf.parameters(recurse=False))
        if isinstance(leaf, torch.nn.Linear):
            sequence.append("dense")
            if facts["input_size"] is None and facts["image_channels"] is None:
                facts["input_size"] = int(leaf.in_features)
            facts["output_size"] = int(leaf.out_features)
        elif any(w in lowered for w in RECURRENT_WORDS):
            facts["recurrent"] = True
        elif any(w in lowered for w in CONV_WORDS):
            facts["conv"] = True
            if facts["input_size"] is None and facts["image_channels"] is None:
                facts["image_channels"] = int(getattr(leaf, "in_channels", 0) or 0)
        elif lowered in NONLINEAR or type(leaf).__module__.endswith("activation"):
            sequence.append(lowered)
    try:
        device = str(next(model.parameters()).device)
    except StopIteration:
        device = "cpu"
    facts["parameters"] = int(sum(p.numel() for p in model.parameters()))
    facts["unrecognised_parameters"] = max(0, facts["parameters"] - int(accounted))
    facts["device"] = device
    facts["sequence"] = sequence
    facts["custom_forward"] = not isinstance(model, torch.nn.Sequential)
    return facts


def _keras_activation_name(layer):
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    name = getattr(activation, "__name__", None) or type(activation).__name__
    return str(name).lower()


def _keras_dense_class(model):
    """keras.layers.Dense of the Keras the model was built with: a class that is merely named Dense does not count."""
    for name in ("keras", "tf_keras"):
        keras = sys.modules.get(name)
        model_class = getattr(keras, "Model", None) if keras is not None else None
        if isinstance(model_class, type) and isinstance(model, model_class):
            return getattr(getattr(keras, "layers", None), "Dense", None)
    return None


def _keras_layer_parameters(layer):
    try:
        return int(layer.count_params())
    except Exception:
        return 0


def _keras_facts(model):
    sequence = []
    facts = {"conv": False, "recurrent": False, "input_size": None, "output_size": None, "image_channels": None}
    dense_class = _keras_dense_class(model)
    accounted = 0
    for layer in _keras_layers(model):
        kind = type(layer).__name__
        lowered = kind.lower()
        is_dense = dense_class is not None and isinstance(layer, dense_class)
        if (is_dense or any(w in lowered for w in RECOGNISED_WORDS) or lowered in NONLINEAR
                or lowered in ("activation", "leakyrelu", "prelu")):
            accounted += _keras_layer_parameters(layer)
        if is_dense:
            sequence.append("dense")
            activation = _keras_activation_name(layer)
            if activation and activation != "linear":
                sequence.append(activation)
            try:
                kernel = layer.kernel
                if facts["input_size"] is None and facts["image_channels"] is None:
                    facts["input_size"] = int(kernel.shape[0])
                facts["output_size"] = int(kernel.shape[1])
            except Exception:
                facts["output_size"] = int(getattr(layer, "units", 0) or 0) or None
        elif any(w in lowered for w in RECURRENT_WORDS):
            facts["recurrent"] = True
        elif any(w in lowered for w in CONV_WORDS):
            facts["conv"] = True
            if facts["input_size"] is None and facts["image_channels"] is None:
                facts["image_channels"] = 1
        elif lowered in ("activation", "relu", "leakyrelu", "prelu", "elu", "softmax"):
            activation = _keras_activation_name(layer) or lowered
            if activation != "linear":
                sequence.append(activation)
    try:
        shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        facts["input_size"] = int(np.prod(shape)) if shape else facts["input_size"]
    except Exception:
        pass
    try:
        facts["parameters"] = int(model.count_params())
    except Exception:
        facts["parameters"] = 0
    facts["unrecognised_parameters"] = max(0, facts["parameters"] - accounted)
    device = "cpu"
    try:
        weight = model.weights[0]
        device = str(getattr(getattr(weight, "value", weight), "device", "") or "cpu").lower()
        device = "gpu" if "gpu" in device else "cpu"
    except Exception:
        pass
    facts["device"] = device
    facts["sequence"] = sequence
    facts["custom_forward"] = type(model).__name__ not in ("Sequential", "Functional")
    return facts


def architecture_facts(model, framework):
    facts = _torch_facts(model) if framework == "torch" else _keras_facts(model)
    sequence = facts.pop("sequence")
    dense_positions = [i for i, kind in enumerate(sequence) if kind == "dense"]
    activations = [kind for kind in sequence if kind != "dense"]
    between = False
    if len(dense_positions) >= 2:
        inner = sequence[dense_positions[0] + 1:dense_positions[-1]]
        between = any(kind in NONLINEAR for kind in inner)
    facts["dense_layers"] = len(dense_positions)
    facts["activations"] = sorted({kind[:40] for kind in activations})[:20]
    facts["nonlinear_between"] = between
    facts["framework"] = framework
    return facts


def dataset_of(facts):
    if facts.get("input_size") == 4:
        return "iris"
    if facts.get("input_size") == 784 or facts.get("image_channels") == 1:
        return "mnist"
    return None


def architecture_fits(facts, architecture):
    plain = not facts["conv"] and not facts["recurrent"] and not facts.get("unrecognised_parameters")
    if architecture == "single_dense":
        return facts["dense_layers"] == 1 and plain
    if architecture == "multi_dense":
        return facts["dense_layers"] >= 2 and facts["nonlinear_between"] and plain
    return True
