"""What a graded report becomes in the database (server/jobs/results.py), on SQLite: the outcome's plots found by
kind, the check rows and artifacts written by the ledger's completion, the same rows a rescore writes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from grader.pipeline import GradingOutcome
from grader.scoring.plots import LEARNING_CURVE, report_plots
from grader.scoring.report import CheckResult, GradingReport
from lab_tasks import LABS_DIR
from server.db import make_engine, make_session_factory, transaction
from server.jobs import ledger
from server.jobs.models import Artifact, CheckResultRow
from server.jobs.results import check_row_values, outcome_to_result, replace_check_rows
from server.jobs.stored_artifacts import artifact_content
from server.labs.service import sync_labs
from server.migrate import upgrade
from tests.server.test_ledger import _submit

HISTORY = {"h": {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}}


def _report(score: float) -> GradingReport:
    checks = (CheckResult(id="iris_accuracy", title="Iris", passed=score >= 20, score=score, max_score=20.0,
                          message=f"scored {score}", measured=0.9),
              CheckResult(id="early_stopping", title="Stopping", passed=False, score=0.0, max_score=5.0,
                          message="no history"))
    return GradingReport(lab_id="frameworks", checks=checks, history=HISTORY)


def test_the_plots_of_an_outcome_are_found_by_kind_and_an_unknown_kind_is_not_stored(
        caplog: pytest.LogCaptureFixture) -> None:
    report = _report(20.0)
    plots = report_plots(report)
    assert list(plots) == [LEARNING_CURVE] == ["learning_curve"]
    outcome = GradingOutcome(report=report, executed_notebook=b"{}", artifacts={**plots, "heatmap": b"\x89PNG"})
    with caplog.at_level(logging.WARNING, logger="labgrader.worker"):
        result = outcome_to_result(outcome)
    assert result.artifacts == {"executed_notebook": ("application/x-ipynb+json", b"{}"),
                                "learning_curve": ("image/png", plots[LEARNING_CURVE])}
    assert caplog.messages == ["lab frameworks's report has a plot of kind 'heatmap', which the service does not store"]
    assert result.checks == check_row_values(report)
    assert (result.score, result.max_score, result.stored_evaluation) == (20.0, 25.0, None)


def test_a_completed_job_and_a_rescore_write_the_same_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        sync_labs(session, LABS_DIR)
    _submit(factory, "s1")
    claim = ledger.claim_next(factory, "worker-a", 30)
    assert claim is not None
    report = _report(20.0)
    assert ledger.complete(factory, claim, outcome_to_result(
        GradingOutcome(report=report, executed_notebook=b"{}", artifacts=report_plots(report)))) is True

    def rows() -> list[tuple[object, ...]]:
        with factory() as session:
            return [tuple(r) for r in session.execute(
                select(CheckResultRow.position, CheckResultRow.check_id, CheckResultRow.score,
                       CheckResultRow.message, CheckResultRow.measured, CheckResultRow.job_id)
                .where(CheckResultRow.submission_id == claim.submission_id).order_by(CheckResultRow.position))]

    assert rows() == [(0, "iris_accuracy", 20.0, "scored 20.0", 0.9, claim.job_id),
                      (1, "early_stopping", 0.0, "no history", None, claim.job_id)]
    with factory() as session:
        kinds = {a.kind: artifact_content(a)[:8] for a in session.scalars(
            select(Artifact).where(Artifact.submission_id == claim.submission_id))}
    assert kinds == {"executed_notebook": b"{}", "learning_curve": b"\x89PNG\r\n\x1a\n"}
    with transaction(factory) as session:  # as a rescore writes its new report's rows
        replace_check_rows(session, [(claim.submission_id, claim.job_id, check_row_values(_report(10.0)))])
    assert rows() == [(0, "iris_accuracy", 10.0, "scored 10.0", 0.9, claim.job_id),
                      (1, "early_stopping", 0.0, "no history", None, claim.job_id)]
    engine.dispose()
