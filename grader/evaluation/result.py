"""EvaluationResult: what the clean evaluator computed for one run, the one object scoring consumes.

It is serialisable (pydantic, JSON) so a stored result can be scored again without a kernel. Every prediction in it
was computed by grader code from an exported network; nothing in it was written by student code except labels and
history numbers, which are bounded here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from grader.spec.model_kinds import MODEL_KINDS, ModelKind

MAX_EPOCHS = 1000

Label = Annotated[str, Field(max_length=200)]
# class indices: bounded so that no value overflows the scorer's int64 arrays
ClassIndex = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ArchitectureFacts(_Result):
    """What the network computes, read from its exported operations."""

    framework: ModelKind
    dense_layers: int = Field(ge=0, le=100_000)
    activations: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=20)
    nonlinear_between: bool = False
    conv: bool = False
    recurrent: bool = False
    parameters: int = Field(default=0, ge=0)
    unrecognised_parameters: int = Field(default=0, ge=0)
    device: str = Field(default="cpu", max_length=40)
    input_size: int | None = None
    output_size: int | None = None

    def describe(self) -> str:
        """"PyTorch, 3 dense layers, relu, 235,146 parameters, cpu"."""
        framework = MODEL_KINDS[self.framework].display_name
        layers = f"{self.dense_layers} dense layer{'s' if self.dense_layers != 1 else ''}"
        extra = [x for x, present in (("convolution", self.conv), ("recurrent", self.recurrent)) if present]
        parts = [framework, layers, *extra]
        if self.activations:
            parts.append(", ".join(self.activations))
        parts += [f"{self.parameters:,} parameters", self.device]
        return ", ".join(parts)


NOT_FROM_LAYERS = "could not be evaluated from its layers"  # how an error of a network that was not rebuilt starts
MAX_EPISODES = 10_000


class EpisodeResult(_Result):
    """One hidden episode of a policy, rolled out by the evaluator (grader.evaluation.rollout)."""

    seed: int = Field(ge=0, le=2**32 - 1)
    episode_return: float
    steps: int = Field(ge=0)
    success: bool


class ModelResult(_Result):
    """One model slot: the network chosen, how its inputs were prepared, and the predictions the grader computed."""

    name: Label
    found: bool
    error: str | None = Field(default=None, max_length=2000)
    via: Literal["contract", "discovery"] | None = None
    source: Label | None = None
    framework: ModelKind | None = None
    facts: ArchitectureFacts | None = None
    preprocessing: str | None = Field(default=None, max_length=60)  # a named preprocessing
    preprocessing_words: str | None = Field(default=None, max_length=300)  # how the report says it
    predictions: list[ClassIndex] | None = Field(default=None, max_length=200_000)
    # per input of the second held-back sample (where the lab declares one): instructors read its accuracy
    second_predictions: list[ClassIndex] | None = Field(default=None, max_length=200_000)
    train_predictions: list[ClassIndex] | None = Field(default=None, max_length=200_000)
    # a regression slot's predictions (its network's one output per row) on the hidden rows and the visible sample;
    # None (JSON null) stands for a value that is not finite
    outputs: list[float | None] | None = Field(default=None, max_length=200_000)
    train_outputs: list[float | None] | None = Field(default=None, max_length=200_000)
    inference_ms: float | None = Field(default=None, ge=0)  # the grader's forward pass over the hidden rows
    # per hidden input, its classes by score, best first (as many as a top-k check of the slot needs)
    ranked: list[Annotated[list[ClassIndex], Field(max_length=20)]] | None = Field(default=None, max_length=200_000)
    train_loss: float | None = None  # cross-entropy on the visible training sample
    considered: int | None = Field(default=None, ge=1, le=1000)  # networks of this role that discovery compared
    train_accuracy: float | None = Field(default=None, ge=0, le=1)  # on the visible training sample: why it won
    export_path: str | None = Field(default=None, max_length=300)  # how the network was read, and its cross-check
    # first-layer rows that are copies of visible or hidden images (cosine >= 0.99), of `rows_compared`: instructors
    memorised_rows: int | None = Field(default=None, ge=0)
    rows_compared: int | None = Field(default=None, ge=0)
    # a policy on an environment dataset: its hidden episodes (instead of predictions)
    episodes: list[EpisodeResult] | None = Field(default=None, max_length=MAX_EPISODES)


    @property
    def evaluated(self) -> bool:
        """The grader computed this network's predictions on the hidden inputs: classes, or a regression output."""
        return self.found and (self.predictions is not None or self.outputs is not None)


class HistoryResult(_Result):
    name: Label
    found: bool
    error: str | None = Field(default=None, max_length=2000)
    via: Literal["contract", "discovery"] | None = None
    source: Label | None = None
    loss: list[float | None] = Field(default_factory=list, max_length=MAX_EPOCHS)
    val_loss: list[float | None] = Field(default_factory=list, max_length=MAX_EPOCHS)
    # the history checked against the exported network: True consistent, False refuted, None could not be checked
    consistent: bool | None = None
    cross_check: str = Field(default="", max_length=600)
    shape: str | None = Field(default=None, max_length=80)  # "a Keras History", "two lists of per-epoch losses"


class EvaluationResult(_Result):
    models: list[ModelResult] = Field(default_factory=list, max_length=100)
    histories: list[HistoryResult] = Field(default_factory=list, max_length=100)

    def model(self, name: str) -> ModelResult | None:
        return next((m for m in self.models if m.name == name), None)

    def history(self, name: str) -> HistoryResult | None:
        return next((h for h in self.histories if h.name == name), None)
