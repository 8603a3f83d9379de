"""The schema of what the in-kernel harness writes: an export of networks, untrusted, size-capped and validated field
by field before the clean evaluator reads a single weight.

Weights travel as base64 of little-endian float32/float64 bytes whose length must equal the declared shape: nothing
is unpickled, nothing is executed, and an operation outside `Op` fails validation.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator

from grader.errors import HarnessOutputInvalid
from grader.evaluation.ops import MAX_ARRAY_ELEMENTS, ArrayKey, Label, Op, Untrusted
from grader.spec.model_kinds import ModelKind

MAX_HARNESS_OUTPUT_BYTES = 80 * 1024 * 1024  # the kernel's export budget (48 MB of weights) in base64, plus the JSON
MAX_EPOCHS = 1000
MAX_OPS = 200

Message = Annotated[str, Field(max_length=2000)]
Dim = Annotated[int, Field(ge=0, le=MAX_ARRAY_ELEMENTS)]


class ArrayPayload(Untrusted):
    dtype: Literal["float32", "float64"]
    shape: list[Dim] = Field(max_length=6)
    data: str = Field(max_length=MAX_HARNESS_OUTPUT_BYTES)

    @field_validator("shape")
    @classmethod
    def _bounded(cls, shape: list[int]) -> list[int]:
        if math.prod(shape) > MAX_ARRAY_ELEMENTS:
            raise ValueError(f"an array of more than {MAX_ARRAY_ELEMENTS} elements")
        return shape

    def decode(self) -> np.ndarray[Any, Any]:
        """The array, read-only; raises ValueError when the bytes do not match the declared shape."""
        try:
            raw = base64.b64decode(self.data, validate=True)
        except binascii.Error as exc:
            raise ValueError("an array that is not base64") from exc
        dtype = np.dtype("<f4" if self.dtype == "float32" else "<f8")
        if len(raw) != math.prod(self.shape) * dtype.itemsize:
            raise ValueError(f"an array of {len(raw)} bytes declared as {self.dtype} {tuple(self.shape)}")
        array = np.frombuffer(raw, dtype=dtype).reshape(self.shape)
        if not np.isfinite(array).all():
            raise ValueError("an array holding NaN or infinity")
        return array


class ExportCheck(Untrusted):
    """Visible inputs and what the student's own forward() (`called`) computed for them: the exported operations must
    agree; `predicted`, where the model names classes itself (scikit-learn's predict()), the class number it names for
    each input: the exported operations must score that class highest."""

    input: ArrayKey
    output: ArrayKey
    called: Label = "forward()"
    predicted: ArrayKey | None = None


class ExportedNetwork(Untrusted):
    """One candidate network: its operations in order, or why it could not be exported."""

    id: int = Field(ge=0, le=1000)
    label: Label
    framework: ModelKind | None = None
    dtype: Literal["float32", "float64"] = "float32"
    ops: list[Op] = Field(default_factory=list, max_length=MAX_OPS)
    device: str = Field(default="cpu", max_length=40)
    error: Message | None = None
    path: str | None = Field(default=None, max_length=200)  # how it was exported ("torch.fx symbolic tracing")
    check: ExportCheck | None = None
    input_width: int | None = Field(default=None, ge=1, le=MAX_ARRAY_ELEMENTS)  # the inputs its forward() took


class SlotExport(Untrusted):
    """A contract name: the network it holds, or why it holds none."""

    name: Label
    network: int | None = None
    error: Message | None = None


class PreprocessedSample(Untrusted):
    """The student's preprocess_<dataset> applied to the first rows of the visible training sample, or (observed) rows
    of a namespace array matched to rows of the sample."""

    dataset: Label
    function: Label
    output: ArrayKey | None = None
    error: Message | None = None
    # observed: `function` names a namespace array of preprocessed training rows, `rows` the sample rows they are
    observed: bool = False
    rows: ArrayKey | None = None


class HistoryExport(Untrusted):
    name: Label
    found: bool
    error: Message | None = None
    via: Literal["contract", "discovery"] | None = None
    source: Label | None = None
    loss: list[float | None] = Field(default_factory=list, max_length=MAX_EPOCHS)
    val_loss: list[float | None] = Field(default_factory=list, max_length=MAX_EPOCHS)
    network: int | None = None  # the network it recorded (a Keras History's `.model`, a Lightning module)
    shape: str | None = Field(default=None, max_length=80)  # "a Keras History", "two lists of per-epoch losses"


class HarnessExport(Untrusted):
    nonce: str = Field(max_length=64)
    networks: list[ExportedNetwork] = Field(default_factory=list, max_length=64)
    slots: list[SlotExport] = Field(default_factory=list, max_length=100)
    preprocessed: list[PreprocessedSample] = Field(default_factory=list, max_length=100)
    histories: list[HistoryExport] = Field(default_factory=list, max_length=200)
    arrays: dict[ArrayKey, ArrayPayload] = Field(default_factory=dict, max_length=20_000)

    def network(self, index: int | None) -> ExportedNetwork | None:
        return next((n for n in self.networks if n.id == index), None) if index is not None else None

    def slot(self, name: str) -> SlotExport | None:
        return next((s for s in self.slots if s.name == name), None)


def read_harness_output(path: Path, nonce: str) -> HarnessExport:
    """Parse the file the kernel wrote; it must be small, valid JSON, match the schema and carry this run's nonce."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise HarnessOutputInvalid("the evaluation produced no output") from exc
    if size > MAX_HARNESS_OUTPUT_BYTES:
        raise HarnessOutputInvalid(f"the evaluation output is {size} bytes, over its {MAX_HARNESS_OUTPUT_BYTES} limit")
    try:
        output = HarnessExport.model_validate(json.loads(path.read_bytes()))
    except (ValueError, RecursionError, ValidationError) as exc:  # RecursionError: JSON nested past the parser's depth
        raise HarnessOutputInvalid(f"the evaluation output is malformed: {str(exc)[:200]}") from exc
    if output.nonce != nonce:
        raise HarnessOutputInvalid("the evaluation output was not written by this run's evaluation")
    return output
