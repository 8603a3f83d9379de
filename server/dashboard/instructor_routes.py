"""Instructor pages under /dashboard: labs overview, one lab (rescore, regrade, progress, exports), submissions,
detail."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from server.dashboard import service
from server.dashboard.access import DbSession, InstructorViewer, PageRoute, StaffViewer, Viewer, checked_form
from server.dashboard.output_budget import page_notebook
from server.dashboard.plots import histogram_svg
from server.dashboard.query_params import parse_submission_query, query_string
from server.dashboard.queue import job_progress, queue_stats
from server.dashboard.rendering import artifact_response, page, secured
from server.dashboard.standing import lab_standing
from server.dependencies import get_settings
from server.errors import InvalidInput, NotFound
from server.exports.formats import ExportFormat, UnknownFormat, render_export
from server.exports.gradebook import build_gradebook
from server.jobs.dispatch import DispatcherDep
from server.jobs.models import ArtifactKind, JobQueue, JobStatus
from server.labs.service import get_spec, list_specs
from server.rescore import service as rescore
from server.submissions import service as submissions
from server.submissions.attachments import submitted_files
from server.submissions.models import Submission

router = APIRouter(prefix="/dashboard", route_class=PageRoute, include_in_schema=False)


@router.get("")
def overview(viewer: StaffViewer, db: DbSession) -> Response:
    stats = service.all_lab_stats(db)
    plots = {s.spec.id: histogram_svg(s.histogram, s.spec.max_score, f"Students per score band in {s.spec.title}")
             for s in stats}
    return page("overview.html", viewer=viewer, stats=stats, plots=plots, queue=queue_stats(db))


def lab_file(request: Request, lab_id: str) -> str:
    """The lab.toml this server loads the lab from (its labs folder: `LABGRADER_LABS_DIR` or the bundled one)."""
    return str(get_settings(request).labs_dir.resolve() / lab_id / "lab.toml")


@router.get("/labs/{lab_id}")
def lab_page(request: Request, lab_id: str, viewer: StaffViewer, db: DbSession,
             regraded: int | None = None) -> Response:
    return render_lab(request, viewer, db, lab_id, regraded=regraded)


def render_lab(request: Request, viewer: Viewer, db: DbSession, lab_id: str, status_code: int = 200,
               problem: str = "", regraded: int | None = None, rescored: rescore.RescoreSummary | None = None
               ) -> Response:
    """The lab's page; an action's result or refusal (rescore, regrade) is shown at its top, focused and announced."""
    stats = service.lab_stats(db, get_spec(db, lab_id))
    plot = histogram_svg(stats.histogram, stats.spec.max_score, f"Students per score band in {stats.spec.title}")
    return page("lab.html", status_code, viewer=viewer, stats=stats, plot=plot, regraded=regraded,
                formats=list(ExportFormat), lab_file=lab_file(request, lab_id), scopes=list(submissions.RegradeScope),
                rescored=rescored, problem=problem)


@router.get("/labs/{lab_id}/checks/{check_id}")
def check_page(lab_id: str, check_id: str, viewer: StaffViewer, db: DbSession) -> Response:
    """The students whose counted submission fails one check, grouped by the message they got."""
    book = build_gradebook(db, lab_id)
    check = next((c for c in book.spec.checks if c.id == check_id), None)
    if check is None:
        raise NotFound(f"lab {lab_id!r} has no check {check_id!r}")
    groups = service.failure_groups(book, check_id)
    failures = next(f for f in book.check_failures() if f.check_id == check_id)
    return page("check.html", viewer=viewer, book=book, check=check, groups=groups, failures=failures)


@router.get("/labs/{lab_id}/progress.json")
def lab_progress(lab_id: str, viewer: StaffViewer, db: DbSession) -> Response:
    get_spec(db, lab_id)
    counts = service.status_counts(db, lab_id)
    return secured(JSONResponse({"lab_id": lab_id, "total": sum(counts.values()), **counts}))


@router.get("/labs/{lab_id}/regrade")
def confirm_regrade(lab_id: str, viewer: InstructorViewer, db: DbSession, scope: str = "all") -> Response:
    """How many jobs a lab regrade would start, and how many queued or running ones it would replace."""
    chosen = submissions.parse_scope(scope)
    spec = get_spec(db, lab_id)
    found = submissions.lab_submissions(db, lab_id, chosen)
    replaced = sum(s.status in (JobStatus.QUEUED.value, JobStatus.RUNNING.value) for s in found)
    return page("regrade_confirm.html", viewer=viewer, spec=spec, scope=chosen, count=len(found), replaced=replaced)


@router.post("/labs/{lab_id}/regrade")
async def regrade_lab(request: Request, lab_id: str, viewer: InstructorViewer, db: DbSession,
                      dispatcher: DispatcherDep) -> Response:
    form = await checked_form(request, viewer)
    scope = form.get("scope")
    get_spec(db, lab_id)
    try:
        chosen = submissions.parse_scope(scope if isinstance(scope, str) else "")
    except InvalidInput as exc:
        return render_lab(request, viewer, db, lab_id, exc.status_code, exc.message)
    found = submissions.lab_submissions(db, lab_id, chosen)
    ids = submissions.regrade(db, found, JobQueue.REGRADE)
    db.commit()
    dispatcher.submitted([s.current_job_id for s in found], JobQueue.REGRADE)
    return RedirectResponse(f"/dashboard/labs/{lab_id}?regraded={len(ids)}#action-result", status_code=303)


@router.post("/labs/{lab_id}/rescore")
async def rescore_lab(request: Request, lab_id: str, viewer: InstructorViewer, db: DbSession) -> Response:
    await checked_form(request, viewer)
    get_spec(db, lab_id)
    settings = get_settings(request)
    try:
        summary = await run_in_threadpool(rescore.rescore_lab, db, lab_id, settings.labs_dir,
                                          settings.data_dir.resolve())
    except InvalidInput as exc:  # lab.toml no longer validates: said on the lab's page, nothing changed
        db.rollback()
        return render_lab(request, viewer, db, lab_id, exc.status_code, exc.message)
    return render_lab(request, viewer, db, lab_id, rescored=summary)


@router.get("/labs/{lab_id}/export")
def export(lab_id: str, viewer: StaffViewer, db: DbSession, format: str = "csv") -> Response:
    try:
        chosen = ExportFormat.parse(format)
    except UnknownFormat as exc:
        raise InvalidInput(str(exc)) from exc
    body, media_type, name = render_export(build_gradebook(db, lab_id), chosen)
    return secured(Response(body, media_type=media_type,
                            headers={"Content-Disposition": f'attachment; filename="{name}"'}))


@router.get("/submissions")
def submissions_table(request: Request, viewer: StaffViewer, db: DbSession) -> Response:
    query = parse_submission_query(request.query_params)
    result = service.submissions_page(db, query)
    labs = list_specs(db)
    return page("submissions.html", viewer=viewer, result=result, query=result.query, labs=labs,
                titles={lab.id: lab.title for lab in labs}, statuses=list(service.SUBMISSION_STATUSES),
                sort_keys=list(service.SortKey), qs=query_string)


@router.get("/submissions/{submission_id}")
def submission_page(request: Request, submission_id: int, viewer: StaffViewer, db: DbSession,
                    done: str = "") -> Response:
    submission = submissions.visible_submission(db, viewer.user, submission_id)
    return render_submission(request, viewer, db, submission, done=DONE_MESSAGES.get(done, ""))


DONE_MESSAGES = {"override": "The override is saved; the counted score below includes it.",
                 "override-cleared": "The override is removed: the grader's score counts again.",
                 "count": "This submission now counts toward the student's grade.",
                 "extension": "The extension is saved; counted scores follow it at once.",
                 "excuse": "The student is excused from this lab.",
                 "cleared": "The decision is removed: the lab's rules apply again."}


def render_submission(request: Request, viewer: Viewer, db: DbSession, submission: Submission,
                      status_code: int = 200, problem: str = "", done: str = "") -> Response:
    """The instructor's page of one submission; an action's result or refusal is shown at its top."""
    detail = service.submission_detail(db, submission)
    spec = get_spec(db, submission.lab_id)
    return page("submission.html", status_code, viewer=viewer, detail=detail, out=submissions.to_out(db, submission),
                spec=spec, notebook=page_notebook(detail.executed_notebook), base="/dashboard",
                standing=lab_standing(db, spec, submission.student_id), problem=problem, done=done,
                files=submitted_files(db, submission),
                progress=job_progress(db, submission.current_job_id, get_settings(request).jobs))


@router.post("/submissions/{submission_id}/regrade")
async def regrade_one(request: Request, submission_id: int, viewer: StaffViewer, db: DbSession,
                      dispatcher: DispatcherDep) -> Response:
    await checked_form(request, viewer)
    submission = submissions.visible_submission(db, viewer.user, submission_id)
    submissions.regrade(db, [submission], JobQueue.REGRADE)
    db.commit()
    dispatcher.submitted([submission.current_job_id], JobQueue.REGRADE)
    return RedirectResponse(f"/dashboard/submissions/{submission_id}", status_code=303)


@router.get("/submissions/{submission_id}/notebook.ipynb")
def executed_notebook(submission_id: int, viewer: StaffViewer, db: DbSession) -> Response:
    return artifact_response(db, viewer.user, submission_id, ArtifactKind.EXECUTED_NOTEBOOK)


@router.get("/submissions/{submission_id}/learning-curve.png")
def learning_curve(submission_id: int, viewer: StaffViewer, db: DbSession) -> Response:
    return artifact_response(db, viewer.user, submission_id, ArtifactKind.LEARNING_CURVE)
