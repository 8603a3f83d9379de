"""The messages of an evaluation, typed (checked by mypy where they are built and read): the kernel's request (what
the in-kernel harness reads: `KernelRequest`), the evaluator's job (`EvaluationJob`, read by `python -m
grader.evaluation`) and its answer (`EvaluatorAnswer`). Each travels as a JSON file the host writes; a key marked
NotRequired has the default its reader names. The kernel's export, the one message student code writes, is a pydantic
schema of its own (`harness_output`).
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class SlotWanted(TypedDict):
    """A contract model name the harness exports first, and the dataset whose visible sample it runs on."""

    name: str
    dataset: str


class HistoryWanted(TypedDict):
    """A training history a check reads, and the model slot whose network it belongs to (None or absent: any)."""

    name: str
    model: NotRequired[str | None]


class KernelRequest(TypedDict):
    nonce: str
    slots: list[SlotWanted]
    samples: dict[str, str]  # dataset -> a .npy of visible training inputs (no label)
    preprocess: dict[str, str]  # dataset -> the student's preprocessing function's name
    histories: list[HistoryWanted]
    output: str  # where the harness writes its export
    model_kinds: list[str]
    classes: dict[str, int]  # dataset -> its number of classes (a perceptron's rows)


class EnvironmentWanted(TypedDict):
    """An environment dataset's rollout: which gymnasium environment, its step cap and what counts as success."""

    gymnasium: str
    max_steps: int | None
    success: str
    visible_seeds: list[int]  # discovery compares networks on these (the hidden seeds are the dataset's hidden_x)


class DatasetFiles(TypedDict):
    hidden_x: str  # hidden inputs, never their labels
    second_x: NotRequired[str]  # the second held-back sample's inputs, never their labels (where declared)
    public_x: NotRequired[str]  # visible test inputs (served to students): compared with first-layer rows only
    sample_x: str  # the visible sample and its public labels
    sample_y: str
    layouts: NotRequired[list[list[int]]]  # absent: derived from the row shape
    preprocessings: NotRequired[list[str]]  # absent: every built-in
    environment: NotRequired[EnvironmentWanted]  # absent: a dataset of rows
    regression: NotRequired[bool]  # a numeric target: one output per row is the prediction (absent: classes)


class JobSlot(TypedDict):
    name: str
    dataset: str
    architecture: str
    max_parameters: NotRequired[int | None]
    top_k: NotRequired[int | None]  # the largest k of the slot's top-k checks: the evaluator keeps that many ranks
    max_inference_ms: NotRequired[float | None]  # the slot's limit on the forward pass over the hidden rows


class EvaluationJob(TypedDict):
    nonce: str
    export: str  # the trusted copy of the kernel's export
    slots: list[JobSlot]
    histories: list[HistoryWanted]
    datasets: dict[str, DatasetFiles]
    result: str  # where the evaluator writes its answer
    ops: NotRequired[str]  # the lab's `ops`: "dense" or "conv" (absent: "conv")


class EvaluatorAnswer(TypedDict):
    """Either `result` (an EvaluationResult as JSON) or `problem` (why the export is unusable, in one sentence)."""

    result: NotRequired[dict[str, Any]]
    problem: NotRequired[str]
