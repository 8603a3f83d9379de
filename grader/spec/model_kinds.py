"""The kinds of trained model a lab accepts (`model_kinds` in lab.toml), each written once, in MODEL_KINDS: its id,
how the report names it, how the kernel's messages name such an object, how the lab-author reference describes it,
its exporter (the in-kernel sources, grader/evaluation/in_kernel/, that recognise and export it; the harness cell of a
lab carries only those of the kinds it declares) and its evaluator (the operations of its own that the evaluator
outside the kernel runs, grader/evaluation/ops.py; the other kinds export standard layers). Every `Literal` of model
kinds is `ModelKind`, checked against the table when this module loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

ModelKind = Literal["torch", "keras", "numpy_network", "perceptron", "sklearn"]


@dataclass(frozen=True)
class ModelKindInfo:
    id: ModelKind
    display_name: str  # in the report: "PyTorch, 3 dense layers, relu, ..."
    object_name: str  # in the kernel's messages: "`net` is a str, not a trained torch.nn.Module or keras.Model"
    described: str  # in docs/lab-author.md's reference of `model_kinds`
    exporter: tuple[str, ...]  # in-kernel sources; each registers the kind's recogniser and export (KIND_EXPORTERS)
    evaluator: tuple[str, ...] = ()  # operations of its own in grader/evaluation/ops.py


MODEL_KINDS: dict[ModelKind, ModelKindInfo] = {kind.id: kind for kind in (
    ModelKindInfo("torch", "PyTorch", "torch.nn.Module", "an nn.Module", ("export_torch.py", "export_torch_traced.py")),
    ModelKindInfo("keras", "Keras", "keras.Model", "a Sequential or functional model", ("export_keras.py",)),
    ModelKindInfo("numpy_network", "NumPy network", "network of NumPy layers",
                  "the student's own NumPy framework: layer objects holding weight arrays", ("export_numpy.py",)),
    ModelKindInfo("perceptron", "perceptron", "perceptron weight matrix",
                  "a weight matrix, or one weight vector per class", ("export_numpy.py",), ("perceptron",)),
    ModelKindInfo("sklearn", "scikit-learn", "scikit-learn linear model, MLP or Pipeline of scalers and one",
                  "a fitted scikit-learn estimator, read from its parameters (never unpickled): LogisticRegression, "
                  "SGDClassifier, RidgeClassifier, Perceptron, LinearSVC, LinearRegression, Ridge, Lasso, ElasticNet, "
                  "SGDRegressor, LinearSVR, MLPClassifier, MLPRegressor, or a Pipeline of StandardScaler, "
                  "MinMaxScaler or MaxAbsScaler steps and one of these", ("export_sklearn.py",)),
)}
DEFAULT_MODEL_KINDS: tuple[ModelKind, ...] = ("torch", "keras")
KERNEL_NAMES: dict[str, str] = {kind: info.object_name for kind, info in MODEL_KINDS.items()}

if set(get_args(ModelKind)) != set(MODEL_KINDS):  # pragma: no cover - a kind added to one and not the other
    raise RuntimeError(f"ModelKind {get_args(ModelKind)} and MODEL_KINDS {tuple(MODEL_KINDS)} differ")
