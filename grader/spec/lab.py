"""The lab-spec schema: a lab is data (TOML) validated here, never code the service runs.

Check kinds form a registry: a kind is its spec model here (one class with `kind`, its thresholds, the model slot or
history it needs) and its scorer in `grader.scoring` (registered with `@scorer(kind)`). Nothing else names a kind.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from grader.errors import SpecInvalid
from grader.spec.check_base import CheckBase, Identifier, _Strict
from grader.spec.dataset import DataFile, DatasetSpec
from grader.spec.episode_checks import MeanReturnCheck, SuccessRateCheck
from grader.spec.lines import validation_problems
from grader.spec.metric_checks import (
    BalancedAccuracyCheck,
    F1Check,
    MinClassRecallCheck,
    PrecisionCheck,
    RecallCheck,
    TopKAccuracyCheck,
)
from grader.spec.model_kinds import DEFAULT_MODEL_KINDS, ModelKind
from grader.spec.regression_checks import MaeCheck, MseCheck, R2Check
from grader.spec.shared import with_shared_datasets


class AccuracyCheck(CheckBase):
    """Accuracy of a model on a hidden split; linear partial credit between the two thresholds."""

    kind: Literal["accuracy"]
    model: Identifier
    dataset: Identifier
    architecture: Literal["any", "single_dense", "multi_dense"] = "any"
    dense_layers: int | None = Field(default=None, ge=1, le=100)  # exactly this many dense layers, when given
    max_parameters: int | None = Field(default=None, ge=1, le=10**10)  # the most parameters the model may have
    full_credit_at: float = Field(ge=0, le=1)
    no_credit_at: float = Field(ge=0, le=1)

    def thresholds(self) -> dict[str, Any]:
        return {"full_credit_at": self.full_credit_at, "no_credit_at": self.no_credit_at}

    def measures(self) -> Literal["classes", "target", "either"]:
        return "classes"

    def model_slot(self) -> tuple[str, str, str] | None:
        # the requirement travels as one string: "multi_dense", or "multi_dense:3" for exactly three dense layers
        requirement = self.architecture if self.dense_layers is None else f"{self.architecture}:{self.dense_layers}"
        return (self.model, self.dataset, requirement)

    @model_validator(mode="after")
    def _ordered(self) -> AccuracyCheck:
        if self.no_credit_at >= self.full_credit_at:
            raise ValueError(f"check {self.id}: no_credit_at must be below full_credit_at")
        if self.dense_layers is not None and (
                (self.architecture == "single_dense" and self.dense_layers != 1)
                or (self.architecture == "multi_dense" and self.dense_layers < 2)):
            raise ValueError(f"check {self.id}: dense_layers = {self.dense_layers} contradicts architecture = "
                             f"{self.architecture!r}")
        return self


class OverfittingGapCheck(CheckBase):
    """Training accuracy minus hidden accuracy of a model (on a regression dataset training R² minus hidden R²);
    smaller is better."""

    kind: Literal["overfitting_gap"]
    model: Identifier
    dataset: Identifier
    full_credit_at: float = Field(ge=0, le=1)
    no_credit_at: float = Field(ge=0, le=1)
    # An untrained network has no gap at all: the gap earns credit only once the model learned this much
    min_hidden_accuracy: float = Field(default=0.0, ge=0, le=1)

    def thresholds(self) -> dict[str, Any]:
        return {"full_credit_at": self.full_credit_at, "no_credit_at": self.no_credit_at,
                "min_hidden_accuracy": self.min_hidden_accuracy}

    def model_slot(self) -> tuple[str, str, str] | None:
        return (self.model, self.dataset, "any")

    @model_validator(mode="after")
    def _ordered(self) -> OverfittingGapCheck:
        if self.no_credit_at <= self.full_credit_at:
            raise ValueError(f"check {self.id}: no_credit_at must be above full_credit_at")
        return self


class EarlyStoppingCheck(CheckBase):
    """The per-epoch history shows training stopped within `patience` epochs of the validation-loss minimum."""

    kind: Literal["early_stopping"]
    history: Identifier
    patience: int = Field(ge=0, le=1000)
    model: Identifier | None = None  # the model slot whose training the history records (links a Keras History)

    def thresholds(self) -> dict[str, Any]:
        return {"patience": self.patience}

    def history_request(self) -> tuple[str, str | None] | None:
        return (self.history, self.model)


# The registry of check kinds' spec models: a new kind is one class above, added here, and its scorer.
Check = Annotated[AccuracyCheck | OverfittingGapCheck | EarlyStoppingCheck | RecallCheck | PrecisionCheck | F1Check
                  | BalancedAccuracyCheck | TopKAccuracyCheck | MinClassRecallCheck | MseCheck | MaeCheck | R2Check
                  | MeanReturnCheck | SuccessRateCheck, Field(discriminator="kind")]


def _measurable(index: int, check: CheckBase, dataset: DatasetSpec) -> None:
    """A classifier's check on a dataset of classes, a regression check on one with a numeric target."""
    wanted = check.measures()
    kind = getattr(check, "kind", "")
    if wanted == "target" and dataset.target is None:
        raise ValueError(f"checks[{index}].dataset: a {kind} check measures a regression model, and dataset "
                         f"{dataset.id!r} has classes, not a numeric target; declare `target = \"NAME\"` in its "
                         "[[datasets]] table (and no classes), or use a classifier's check (accuracy, f1, ...)")
    if wanted == "classes" and dataset.target is not None:
        raise ValueError(f"checks[{index}].dataset: a {kind} check measures a classifier, and dataset "
                         f"{dataset.id!r} is a regression dataset (target {dataset.target!r}); use mse, mae or r2")


class ModelLimits(_Strict):
    """What one model slot may cost (`[models.NAME]`): every check of the slot fails, saying which limit and the
    measured value, for a network over it."""

    max_parameters: int | None = Field(default=None, ge=1, le=10**10, description=(
        "the most parameters the network may have (an accuracy check's own `max_parameters` may lower it)"))
    max_inference_ms: float | None = Field(default=None, gt=0, le=3_600_000, description=(
        "the most milliseconds the grader's forward pass over the slot's hidden rows may take (the evaluator's NumPy "
        "computation of the exported network on one CPU core, measured once per grading and reported; allow a "
        "margin: a loaded host measures more)"))


class Limits(_Strict):
    cell_timeout_s: float = Field(default=300, gt=0, le=24 * 3600)
    notebook_timeout_s: float = Field(default=900, gt=0, le=24 * 3600)


class LateSubmission(_Strict):
    deadline: str | None = None
    penalty_per_day: float = Field(default=0.0, ge=0, le=1)
    counts: Literal["latest", "best"] = "latest"
    # what students see of each check before their deadline: "always" everything; "after_deadline" the titles and
    # points only, the thresholds once their deadline (an extension's, if any) has passed
    check_details: Literal["always", "after_deadline"] = "always"

    @model_validator(mode="after")
    def _details_need_a_deadline(self) -> LateSubmission:
        if self.check_details == "after_deadline" and not self.deadline:
            raise ValueError('check_details = "after_deadline" needs a deadline in [submission]')
        return self


class LabSpec(_Strict):
    """One lab: its checks with points and thresholds, and how long a notebook may run."""

    id: Identifier
    title: str = Field(min_length=1, max_length=200)
    summary: str = ""
    needs_gpu: bool = False
    frameworks: tuple[Literal["torch", "tensorflow"], ...] = ()
    starter: str = "starter.ipynb"
    # the student environment its notebooks run in: environments/<name>.txt, built by `labgrader kernels build`
    environment: str = Field(default="default", pattern=r"^[a-z][a-z0-9_-]{0,62}$")
    # `true`: the kernel gives back the NumPy 1 names NumPy 2 removed (np.NAN, np.NaN, np.Inf, np.float_, ...) as
    # aliases of their replacements, and `np.array` of ragged lists without a dtype makes an object array as NumPy
    # < 1.24 did, for a course written against NumPy 1 (`grader.spec.reference` lists them)
    numpy1_names: bool = False
    # what a notebook may hand in as a trained model: the kernel exports only these kinds
    model_kinds: tuple[ModelKind, ...] = Field(default=DEFAULT_MODEL_KINDS, min_length=1)
    # the operations a network may compute: "dense" (affine layers and non-linearities: no pooling, nothing that
    # selects among features) or "conv" (also convolutions and pooling)
    ops: Literal["dense", "conv"] = "conv"
    limits: Limits = Limits()
    # per model slot (the `model` of its checks): what its network may cost
    models: dict[Identifier, ModelLimits] = Field(default_factory=dict)
    submission: LateSubmission = LateSubmission()
    datasets: tuple[DatasetSpec, ...] = ()
    # files of the lab's folder copied into every job's ./data (a helper module students import)
    student_files: tuple[DataFile, ...] = ()
    checks: tuple[Check, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> LabSpec:
        for what, ids in (("check", [c.id for c in self.checks]), ("dataset", [d.id for d in self.datasets])):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"duplicate {what} ids: {', '.join(duplicates)}")
        declared = {d.id for d in self.datasets}
        for index, check in enumerate(self.checks):
            dataset = getattr(check, "dataset", None)
            if dataset is not None and dataset not in declared:
                # `key: message` is placed on that key's line by grader.spec.lines
                raise ValueError(f"checks[{index}].dataset: dataset {dataset!r} is not declared; declare it in a "
                                 f"[[datasets]] table (declared: {', '.join(sorted(declared)) or 'none'})")
            environment = dataset is not None and self.dataset(dataset).is_environment
            if dataset is not None and environment != check.reads_episodes():
                wants = ("an environment dataset (source.gymnasium)" if check.reads_episodes()
                         else "a dataset of rows; an environment's checks are mean_return and success_rate")
                raise ValueError(f"checks[{index}].dataset: check {check.id} ({check.kind}) measures {wants}: "
                                 f"{dataset!r} is not one")
            if dataset is not None and not environment:
                _measurable(index, check, self.dataset(dataset))
            classes = self.dataset(dataset).classes if dataset is not None else ()
            for name in check.named_classes():
                if name not in classes:
                    listed = f"its classes are {', '.join(classes)}" if classes else "declare its `classes`"
                    raise ValueError(f"checks[{index}].class: dataset {dataset!r} has no class {name!r}; {listed}")
        files = {Path(name).name for name in self.student_files}.union(*(d.served_files() for d in self.datasets))
        for index, declared_dataset in enumerate(self.datasets):
            for file in declared_dataset.serve.urls.values():
                if file not in files:
                    raise ValueError(f"datasets[{index}].serve.urls: {file!r} is no file the lab serves in ./data "
                                     f"({', '.join(sorted(files))})")
        read_at: set[str] = set()
        for index, declared_dataset in enumerate(self.datasets):
            for pickle in declared_dataset.serve.pickles:
                for path in map(os.path.normpath, pickle.paths):
                    if path in read_at:
                        raise ValueError(f"datasets[{index}].serve.pickles: {path!r} is the path of two pickles")
                    read_at.add(path)
        evaluated = {slot[0] for c in self.checks if (slot := c.model_slot()) is not None}
        for name in self.models:
            if name not in evaluated:
                raise ValueError(f"models.{name}: no check evaluates a model `{name}` (checks evaluate: "
                                 f"{', '.join(sorted(evaluated)) or 'none'})")
        if len(set(self.model_kinds)) != len(self.model_kinds):
            raise ValueError("model_kinds names a kind twice")
        return self

    def dataset(self, dataset_id: str) -> DatasetSpec:
        """The declaration of one of the lab's datasets (every check's dataset is declared)."""
        for dataset in self.datasets:
            if dataset.id == dataset_id:
                return dataset
        raise KeyError(dataset_id)

    def dataset_title(self, dataset_id: str) -> str:
        """How reports name a dataset; its id when the lab does not declare it."""
        return next((d.title for d in self.datasets if d.id == dataset_id), dataset_id)

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)

    def model_slots(self) -> dict[str, str]:
        """Contract model names the checks evaluate, mapped to the hidden dataset each is evaluated on."""
        slots: dict[str, str] = {}
        for check in self.checks:
            if (slot := check.model_slot()) is not None:
                slots.setdefault(slot[0], slot[1])
        return slots

    def evaluated_datasets(self) -> set[str]:
        """The hidden datasets this lab's checks evaluate models on."""
        return set(self.model_slots().values())

    def history_requests(self) -> list[tuple[str, str | None]]:
        """(history name, model slot) of every check that reads a training history, in check order."""
        return [wanted for c in self.checks if (wanted := c.history_request()) is not None]


def load_spec(path: Path) -> LabSpec:
    """Read and validate `lab.toml`; the error names the file and the offending field."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = with_shared_datasets(tomllib.loads(text), path)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SpecInvalid(f"{path}: {exc}") from exc
    try:
        spec = LabSpec.model_validate(raw)
    except ValidationError as exc:
        problems = [str(p) for p in validation_problems(path, text, exc)] or [f"{path}: {exc.errors()[0]['msg']}"]
        more = f" (and {len(problems) - 1} more: `labgrader labs validate {path.parent}`)" if len(problems) > 1 else ""
        raise SpecInvalid(f"{problems[0]}{more}") from exc
    if spec.id != path.parent.name:
        raise SpecInvalid(f"{path}: lab id {spec.id!r} must match its folder name {path.parent.name!r}")
    missing = [name for name in spec.student_files if not (path.parent / name).is_file()]
    if missing:
        raise SpecInvalid(f"{path}: student_files: {missing[0]!r} is not a file in {path.parent}")
    return spec


def discover_labs(root: Path) -> dict[str, LabSpec]:
    """Every `<root>/<id>/lab.toml`, validated (the service's labs folder comes from its settings)."""
    return {spec.id: spec for spec in (load_spec(p) for p in sorted(root.glob("*/lab.toml")))}
