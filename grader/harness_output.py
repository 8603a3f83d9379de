"""The schema of what the in-kernel harness writes: untrusted JSON, size-capped, validated field by field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grader.errors import HarnessOutputInvalid

MAX_HARNESS_OUTPUT_BYTES = 16 * 1024 * 1024
MAX_EPOCHS = 1000

Label = Annotated[str, Field(max_length=200)]
Preprocessing = Literal["raw", "scaled_255", "mnist_mean_std", "standardised", "min_max",
                        "preprocess_mnist", "preprocess_iris"]


ClassIndex = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class _Untrusted(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ArchitectureFacts(_Untrusted):
    """What the harness saw of a network's layers."""

    framework: Literal["torch", "keras"]
    dense_layers: int = Field(ge=0, le=100_000)
    activations: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=20)
    nonlinear_between: bool = False
    conv: bool = False
    recurrent: bool = False
    parameters: int = Field(default=0, ge=0)
    unrecognised_parameters: int = Field(default=0, ge=0)  # held outside dense/conv/recurrent/norm layers
    device: str = Field(default="cpu", max_length=40)
    input_size: int | None = None
    output_size: int | None = None

    def describe(self) -> str:
        """"PyTorch, 3 dense layers, relu, 235,146 parameters, cpu"."""
        framework = {"torch": "PyTorch", "keras": "Keras"}[self.framework]
        layers = f"{self.dense_layers} dense layer{'s' if self.dense_layers != 1 else ''}"
        extra = [x for x, present in (("convolution", self.conv), ("recurrent", self.recurrent)) if present]
        parts = [framework, layers, *extra]
        if self.activations:
            parts.append(", ".join(self.activations))
        parts += [f"{self.parameters:,} parameters", self.device]
        return ", ".join(parts)


class ModelOutput(_Untrusted):
    name: Label
    found: bool
    error: str | None = Field(default=None, max_length=2000)
    via: Literal["contract", "discovery"] | None = None
    source: Label | None = None
    framework: Literal["torch", "keras"] | None = None
    facts: ArchitectureFacts | None = None
    preprocessing: Preprocessing | None = None
    # class indices: bounded so that no forged value overflows the scorer's int64 arrays
    predictions: list[ClassIndex] | None = Field(default=None, max_length=200_000)
    train_predictions: list[ClassIndex] | None = Field(default=None, max_length=200_000)
    considered: int | None = Field(default=None, ge=1, le=1000)  # networks of this role that discovery compared
    train_accuracy: float | None = Field(default=None, ge=0, le=1)  # on the visible training sample: why it won


class HistoryOutput(_Untrusted):
    name: Label
    found: bool
    error: str | None = Field(default=None, max_length=2000)
    via: Literal["contract", "discovery"] | None = None
    source: Label | None = None
    loss: list[float | None] = Field(default_factory=list, max_length=MAX_EPOCHS)
    val_loss: list[float | None] = Field(default_factory=list, max_length=MAX_EPOCHS)
    shape: str | None = Field(default=None, max_length=80)  # "a Keras History", "two lists of per-epoch losses"
    linked: bool = False  # the history says which network it trained (a Keras History's model, a Lightning module)


class HarnessOutput(_Untrusted):
    nonce: str = Field(max_length=64)
    models: list[ModelOutput] = Field(max_length=100)
    histories: list[HistoryOutput] = Field(default_factory=list, max_length=100)

    def model(self, name: str) -> ModelOutput | None:
        return next((m for m in self.models if m.name == name), None)

    def history(self, name: str) -> HistoryOutput | None:
        return next((h for h in self.histories if h.name == name), None)


def read_harness_output(path: Path, nonce: str) -> HarnessOutput:
    """Parse the file the kernel wrote; it must be small, valid JSON, match the schema and carry this run's nonce."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise HarnessOutputInvalid("the evaluation produced no output") from exc
    if size > MAX_HARNESS_OUTPUT_BYTES:
        raise HarnessOutputInvalid(f"the evaluation output is {size} bytes, over its {MAX_HARNESS_OUTPUT_BYTES} limit")
    try:
        output = HarnessOutput.model_validate(json.loads(path.read_bytes()))
    except (ValueError, RecursionError, ValidationError) as exc:  # RecursionError: JSON nested past the parser's depth
        raise HarnessOutputInvalid(f"the evaluation output is malformed: {str(exc)[:200]}") from exc
    if output.nonce != nonce:
        raise HarnessOutputInvalid("the evaluation output was not written by this run's evaluation")
    return output
