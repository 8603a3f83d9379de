"""Rescore a lab from its stored scoring inputs: the lab.toml as it is now, applied to every graded submission,
with no kernel. What the stored inputs cannot answer (a new dataset or model slot, a submission graded before
inputs were stored) is listed with its reason, to be regraded instead.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from grader import (
    EvaluationPlan,
    GradingReport,
    LabSpec,
    MemoisedLabData,
    StoredOutputUnreadable,
    evaluation_plan,
    missing_datasets,
    rescore_report,
    unpack_evaluation,
)
from server.db import db_now
from server.jobs.models import GradingJob, JobStatus
from server.jobs.results import check_row_values, replace_check_rows
from server.labs.service import reload_spec
from server.rescore.models import StoredOutput
from server.submissions.models import Submission

BATCH = 200
NOT_STORED = ("it was graded before Labgrader stored evaluation outputs (or its output was too large to keep, or "
              "its notebook could not be run)")


@dataclass
class RescoreSummary:
    """What a rescore did: how many submissions were rescored (and changed), which could not be, and why."""

    lab_id: str
    rescored: int = 0
    changed: int = 0
    pending: int = 0  # queued or running now: their result will be scored under the current spec anyway
    not_rescored: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # reason -> ids
    seconds: float = 0.0


def rescore_lab(session: Session, lab_id: str, labs_dir: Path, data_dir: Path) -> RescoreSummary:
    """Reload the lab's spec from its lab.toml, then rescore every graded submission from its stored inputs."""
    started = time.monotonic()
    spec = reload_spec(session, labs_dir, lab_id)
    session.commit()
    lab = MemoisedLabData(data_dir, lab_id)
    missing = set(missing_datasets(lab, spec.evaluated_datasets()))
    plan = evaluation_plan(spec, lab)
    summary = RescoreSummary(lab_id=lab_id)
    ids = list(session.scalars(select(Submission.id).where(Submission.lab_id == lab_id).order_by(Submission.id)))
    for start in range(0, len(ids), BATCH):
        _rescore_batch(session, spec, lab, plan, missing, ids[start:start + BATCH], summary)
        session.commit()
    summary.not_rescored = dict(summary.not_rescored)
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def _rescore_batch(session: Session, spec: LabSpec, lab: MemoisedLabData, plan: EvaluationPlan, missing: set[str],
                   ids: list[int], summary: RescoreSummary) -> None:
    rows = session.execute(
        select(Submission.id, Submission.status, Submission.current_job_id, GradingJob.report_json,
               StoredOutput.job_id, StoredOutput.content)
        .outerjoin(GradingJob, GradingJob.id == Submission.current_job_id)
        .outerjoin(StoredOutput, StoredOutput.submission_id == Submission.id)
        .where(Submission.id.in_(ids)).order_by(Submission.id)
    ).tuples().all()
    written: list[tuple[int, int, GradingReport, bool]] = []
    for submission_id, status, job_id, report_json, stored_job_id, content in rows:
        if status in (JobStatus.QUEUED, JobStatus.RUNNING):
            summary.pending += 1
            continue
        if status == JobStatus.ERROR:
            summary.not_rescored["the grader failed on it after its retries"].append(submission_id)
            continue
        if content is None or stored_job_id != job_id or report_json is None:
            summary.not_rescored[NOT_STORED].append(submission_id)
            continue
        try:
            inputs = unpack_evaluation(content)
        except StoredOutputUnreadable as exc:
            summary.not_rescored[str(exc)].append(submission_id)
            continue
        lost = sorted(missing & {slot.dataset for slot in inputs.plan.slots})
        # its models were evaluated on data this host lacks: scoring here would wrongly say "not installed"
        why = (f"its {' and '.join(lost)} data is not on this host (in {lab.data_dir}), and rescoring needs the "
               f"hidden labels: run `labgrader rescore --lab {lab.lab_id}` where the data is (a worker host), or "
               "install it here with `labgrader datasets import`") if lost else inputs.cannot_answer(plan)
        if why:
            summary.not_rescored[why].append(submission_id)
            continue
        previous = GradingReport.model_validate_json(report_json)
        report = rescore_report(spec, previous, inputs, lab)
        written.append((submission_id, job_id, report, report.checks != previous.checks))
    _write(session, written, summary)


def _write(session: Session, written: list[tuple[int, int, GradingReport, bool]], summary: RescoreSummary) -> None:
    """The new reports of a batch in a few statements; a submission regraded meanwhile keeps its new job's result."""
    if not written:
        return
    conn = session.connection()
    submissions, jobs, stored = (cast(Table, m.__table__) for m in (Submission, GradingJob, StoredOutput))
    conn.execute(
        update(submissions).where(submissions.c.id == bindparam("sid"),
                                  submissions.c.current_job_id == bindparam("jid"),
                                  submissions.c.status == JobStatus.GRADED.value)
        .values(score=bindparam("score"), max_score=bindparam("max_score")),
        [{"sid": sid, "jid": jid, "score": r.score, "max_score": r.max_score} for sid, jid, r, _ in written])
    # which updates met their fence: rows now locked by this transaction, so the answer holds until it commits
    current = dict(conn.execute(select(submissions.c.id, submissions.c.current_job_id).where(
        submissions.c.id.in_([sid for sid, _, _, _ in written]),
        submissions.c.status == JobStatus.GRADED.value)).tuples().all())
    kept = [(sid, jid, r) for sid, jid, r, _ in written if current.get(sid) == jid]
    summary.pending += len(written) - len(kept)  # regraded meanwhile: the new result will count
    summary.changed += sum(1 for sid, jid, _, changed in written if changed and current.get(sid) == jid)
    if not kept:
        return
    ids = [sid for sid, _, _ in kept]
    conn.execute(update(jobs).where(jobs.c.id == bindparam("jid"))
                 .values(score=bindparam("score"), report_json=bindparam("report")),
                 [{"jid": jid, "score": r.score, "report": r.model_dump_json()} for _, jid, r in kept])
    replace_check_rows(session, [(sid, jid, check_row_values(r)) for sid, jid, r in kept])
    conn.execute(update(stored).where(stored.c.submission_id.in_(ids)).values(rescored_at=db_now(session)))
    summary.rescored += len(kept)
