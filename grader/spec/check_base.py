"""What every check kind's spec model shares: its id, title and points, and the questions the lab asks of it (its
thresholds, the model slot or history it needs, the declared classes it names)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckBase(_Strict):
    id: Identifier
    title: str = Field(min_length=1, max_length=200)
    points: float = Field(gt=0, le=1000)

    def thresholds(self) -> dict[str, Any]:
        """The numbers an instructor tunes, as `GET /api/v1/labs` shows them."""
        return {}

    def model_slot(self) -> tuple[str, str, str] | None:
        """(contract model name, dataset, required architecture) of the network this check evaluates, if any."""
        return None

    def history_request(self) -> tuple[str, str | None] | None:
        """(contract history name, model slot it records) when this check reads a training history."""
        return None

    def named_classes(self) -> tuple[str, ...]:
        """The declared class names this check measures (its dataset must declare them)."""
        return ()

    def reads_episodes(self) -> bool:
        """True when the check measures a policy on an environment's episodes (its dataset must be an environment)."""
        return False

    def top_k(self) -> int | None:
        """How many of the best-scored classes per hidden input the evaluator must rank for this check."""
        return None

    def measures(self) -> Literal["classes", "target", "either"]:
        """What the check's dataset must hold: classes (a classifier's checks), a numeric `target` (a regression
        lab's), or either (the overfitting gap, in accuracy or in R²)."""
        return "either"
