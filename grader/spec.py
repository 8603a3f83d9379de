"""The lab-spec schema: a lab is data (TOML) validated here, never code the service runs."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grader.errors import SpecInvalid

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _CheckBase(_Strict):
    id: Identifier
    title: str = Field(min_length=1, max_length=200)
    points: float = Field(gt=0, le=1000)


class AccuracyCheck(_CheckBase):
    """Accuracy of a model on a hidden split; linear partial credit between the two thresholds."""

    kind: Literal["accuracy"]
    model: Identifier
    dataset: Identifier
    architecture: Literal["any", "single_dense", "multi_dense"] = "any"
    full_credit_at: float = Field(ge=0, le=1)
    no_credit_at: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> AccuracyCheck:
        if self.no_credit_at >= self.full_credit_at:
            raise ValueError(f"check {self.id}: no_credit_at must be below full_credit_at")
        return self


class OverfittingGapCheck(_CheckBase):
    """Training accuracy minus hidden accuracy of a model; smaller is better."""

    kind: Literal["overfitting_gap"]
    model: Identifier
    dataset: Identifier
    full_credit_at: float = Field(ge=0, le=1)
    no_credit_at: float = Field(ge=0, le=1)
    # An untrained network has no gap at all: the gap earns credit only once the model learned this much
    min_hidden_accuracy: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> OverfittingGapCheck:
        if self.no_credit_at <= self.full_credit_at:
            raise ValueError(f"check {self.id}: no_credit_at must be above full_credit_at")
        return self


class EarlyStoppingCheck(_CheckBase):
    """The per-epoch history shows training stopped within `patience` epochs of the validation-loss minimum."""

    kind: Literal["early_stopping"]
    history: Identifier
    patience: int = Field(ge=0, le=1000)
    model: Identifier | None = None  # the model slot whose training the history records (links a Keras History)


Check = Annotated[AccuracyCheck | OverfittingGapCheck | EarlyStoppingCheck, Field(discriminator="kind")]


class Limits(_Strict):
    cell_timeout_s: float = Field(default=300, gt=0, le=24 * 3600)
    notebook_timeout_s: float = Field(default=900, gt=0, le=24 * 3600)


class LateSubmission(_Strict):
    deadline: str | None = None
    penalty_per_day: float = Field(default=0.0, ge=0, le=1)
    counts: Literal["latest", "best"] = "latest"


class LabSpec(_Strict):
    """One lab: its checks with points and thresholds, and how long a notebook may run."""

    id: Identifier
    title: str = Field(min_length=1, max_length=200)
    summary: str = ""
    needs_gpu: bool = False
    frameworks: tuple[Literal["torch", "tensorflow"], ...] = ()
    starter: str = "starter.ipynb"
    limits: Limits = Limits()
    submission: LateSubmission = LateSubmission()
    checks: tuple[Check, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> LabSpec:
        ids = [c.id for c in self.checks]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate check ids: {', '.join(duplicates)}")
        return self

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)

    def model_slots(self) -> dict[str, str]:
        """Contract model names the checks evaluate, mapped to the hidden dataset each is evaluated on."""
        slots: dict[str, str] = {}
        for check in self.checks:
            if isinstance(check, AccuracyCheck | OverfittingGapCheck):
                slots.setdefault(check.model, check.dataset)
        return slots

    def datasets(self) -> set[str]:
        """The hidden datasets this lab's checks evaluate models on."""
        return set(self.model_slots().values())

    def history_names(self) -> list[str]:
        return sorted({c.history for c in self.checks if isinstance(c, EarlyStoppingCheck)})


def load_spec(path: Path) -> LabSpec:
    """Read and validate `lab.toml`; the error names the file and the offending field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SpecInvalid(f"{path}: {exc}") from exc
    try:
        spec = LabSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the top level"
        raise SpecInvalid(f"{path}: {where}: {first['msg']}") from exc
    if spec.id != path.parent.name:
        raise SpecInvalid(f"{path}: lab id {spec.id!r} must match its folder name {path.parent.name!r}")
    return spec


def discover_labs(root: Path) -> dict[str, LabSpec]:
    """Every `<root>/<id>/lab.toml`, validated (the service's labs folder comes from its settings)."""
    return {spec.id: spec for spec in (load_spec(p) for p in sorted(root.glob("*/lab.toml")))}
