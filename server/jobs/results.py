"""What a graded report becomes in the database, written in one place: the submission's score, one row per check,
the artifacts (the executed notebook, the report's plots by kind) and the stored evaluation a rescore scores again.

The ledger writes a worker's result through `write_graded` (after its fence); a rescore writes its new reports'
check rows through `replace_check_rows`, with the same values (`check_row_values`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from grader import MAX_STORED_EVALUATION_BYTES, STORED_EVALUATION_FORMAT, GradingOutcome, GradingReport, pack_evaluation
from server.jobs.models import Artifact, ArtifactKind, CheckResultRow, JobStatus
from server.jobs.stored_artifacts import new_artifact
from server.rescore.models import StoredOutput
from server.submissions.models import Submission

log = logging.getLogger("labgrader.worker")
NOTEBOOK_CONTENT_TYPE = "application/x-ipynb+json"
PLOT_CONTENT_TYPE = "image/png"  # every plot of a report is a PNG
PLOT_KINDS = frozenset({ArtifactKind.LEARNING_CURVE.value})  # the report's plots the service stores, by kind


@dataclass(frozen=True)
class GradedResult:
    """What a worker hands back: the report (as JSON), per-check rows and artifacts."""

    score: float
    max_score: float
    note: str
    report_json: str
    checks: list[dict[str, object]]
    artifacts: dict[str, tuple[str, bytes]]
    stored_evaluation: tuple[str, bytes] | None = None  # (format, packed): what a rescore scores again


def check_row_values(report: GradingReport) -> list[dict[str, object]]:
    """The `check_results` rows of a report, in check order (without submission, job and position)."""
    return [c.model_dump(include={"title", "passed", "score", "max_score", "message", "measured"})
            | {"check_id": c.id} for c in report.checks]


def outcome_to_result(outcome: GradingOutcome) -> GradedResult:
    """A grading run's outcome as the rows it becomes: its plots found by kind, its evaluation packed for rescore."""
    report = outcome.report
    artifacts = {ArtifactKind.EXECUTED_NOTEBOOK.value: (NOTEBOOK_CONTENT_TYPE, outcome.executed_notebook)}
    for kind, content in outcome.artifacts.items():
        if kind in PLOT_KINDS:
            artifacts[kind] = (PLOT_CONTENT_TYPE, content)
        else:
            log.warning("lab %s's report has a plot of kind %r, which the service does not store", report.lab_id, kind)
    inputs = outcome.stored_evaluation
    packed = pack_evaluation(inputs) if inputs is not None else None
    if inputs is not None and packed is None:
        log.warning("the scoring inputs of lab %s's job are over %d bytes packed; not stored (rescore will ask for a "
                    "regrade of this submission)", report.lab_id, MAX_STORED_EVALUATION_BYTES)
    return GradedResult(score=report.score, max_score=report.max_score, note=report.execution_note,
                        report_json=report.model_dump_json(), checks=check_row_values(report), artifacts=artifacts,
                        stored_evaluation=(STORED_EVALUATION_FORMAT, packed) if packed is not None else None)


def replace_check_rows(session: Session, rows: Sequence[tuple[int, int, list[dict[str, object]]]]) -> None:
    """Each (submission id, job id, check row values): the submission's check rows become these, in order."""
    if not rows:
        return
    session.execute(delete(CheckResultRow).where(CheckResultRow.submission_id.in_([sid for sid, _, _ in rows])))
    values = [check | {"submission_id": sid, "job_id": jid, "position": position}
              for sid, jid, checks in rows for position, check in enumerate(checks)]
    if values:
        session.execute(insert(CheckResultRow), values)


def store_evaluation(session: Session, submission_id: int, job_id: int, packed: tuple[str, bytes] | None) -> None:
    """Keep the latest job's scoring inputs (or none: that submission then needs a regrade to be rescored)."""
    session.execute(delete(StoredOutput).where(StoredOutput.submission_id == submission_id))
    if packed is not None:
        fmt, content = packed
        session.add(StoredOutput(submission_id=submission_id, job_id=job_id, format=fmt, size_bytes=len(content),
                                 content=content))


def write_graded(session: Session, submission: Submission, job_id: int, result: GradedResult) -> None:
    """The submission's score, check rows, artifacts and stored evaluation become those of `result` (job `job_id`)."""
    submission.status, submission.score = JobStatus.GRADED.value, result.score
    submission.max_score, submission.note = result.max_score, result.note or None
    replace_check_rows(session, [(submission.id, job_id, result.checks)])
    kinds = list(result.artifacts)
    session.execute(delete(Artifact).where(Artifact.submission_id == submission.id,
                                           Artifact.kind.in_([*kinds, *PLOT_KINDS])))
    for kind, (content_type, content) in result.artifacts.items():
        session.add(new_artifact(submission.id, kind, content_type, content))
    store_evaluation(session, submission.id, job_id, result.stored_evaluation)
