"""Instructor pages under /dashboard: labs overview, one lab (regrade, progress, exports), submissions, detail."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from server.dashboard import service
from server.dashboard.access import DbSession, InstructorViewer, PageRoute, checked_form
from server.dashboard.notebook_view import notebook_view
from server.dashboard.plots import histogram_svg
from server.dashboard.query_params import parse_submission_query, query_string
from server.dashboard.rendering import artifact_response, page, secured
from server.errors import InvalidInput
from server.exports.formats import ExportFormat, UnknownFormat, render_export
from server.exports.gradebook import build_gradebook
from server.jobs.models import ArtifactKind, JobQueue, JobStatus
from server.labs.service import get_spec, list_specs
from server.submissions import service as submissions

router = APIRouter(prefix="/dashboard", route_class=PageRoute, include_in_schema=False)


@router.get("")
def overview(viewer: InstructorViewer, db: DbSession) -> Response:
    stats = service.all_lab_stats(db)
    plots = {s.spec.id: histogram_svg(s.histogram, s.spec.max_score, f"Score histogram of {s.spec.id}")
             for s in stats}
    return page("overview.html", viewer=viewer, stats=stats, plots=plots)


@router.get("/labs/{lab_id}")
def lab_page(lab_id: str, viewer: InstructorViewer, db: DbSession, regraded: int | None = None) -> Response:
    stats = service.lab_stats(db, get_spec(db, lab_id))
    plot = histogram_svg(stats.histogram, stats.spec.max_score, f"Score histogram of {lab_id}")
    return page("lab.html", viewer=viewer, stats=stats, plot=plot, regraded=regraded, formats=list(ExportFormat))


@router.get("/labs/{lab_id}/progress.json")
def lab_progress(lab_id: str, viewer: InstructorViewer, db: DbSession) -> Response:
    get_spec(db, lab_id)
    counts = service.status_counts(db, lab_id)
    return secured(JSONResponse({"lab_id": lab_id, "total": sum(counts.values()), **counts}))


@router.post("/labs/{lab_id}/regrade")
async def regrade_lab(request: Request, lab_id: str, viewer: InstructorViewer, db: DbSession) -> Response:
    await checked_form(request, viewer)
    found = submissions.lab_submissions(db, lab_id)
    ids = submissions.regrade(db, found, JobQueue.REGRADE)
    db.commit()
    request.app.state.dispatcher.submitted([s.current_job_id for s in found], JobQueue.REGRADE)
    return RedirectResponse(f"/dashboard/labs/{lab_id}?regraded={len(ids)}", status_code=303)


@router.get("/labs/{lab_id}/export")
def export(lab_id: str, viewer: InstructorViewer, db: DbSession, format: str = "csv") -> Response:
    try:
        chosen = ExportFormat.parse(format)
    except UnknownFormat as exc:
        raise InvalidInput(str(exc)) from exc
    body, media_type, name = render_export(build_gradebook(db, lab_id), chosen)
    return secured(Response(body, media_type=media_type,
                            headers={"Content-Disposition": f'attachment; filename="{name}"'}))


@router.get("/submissions")
def submissions_table(request: Request, viewer: InstructorViewer, db: DbSession) -> Response:
    query = parse_submission_query(request.query_params)
    result = service.submissions_page(db, query)
    return page("submissions.html", viewer=viewer, result=result, query=query, labs=list_specs(db),
                statuses=list(JobStatus), sort_keys=list(service.SortKey), qs=query_string)


@router.get("/submissions/{submission_id}")
def submission_page(submission_id: int, viewer: InstructorViewer, db: DbSession) -> Response:
    submission = submissions.visible_submission(db, viewer.user, submission_id)
    detail = service.submission_detail(db, submission)
    return page("submission.html", viewer=viewer, detail=detail, out=submissions.to_out(db, submission),
                notebook=notebook_view(detail.executed_notebook), base="/dashboard")


@router.post("/submissions/{submission_id}/regrade")
async def regrade_one(request: Request, submission_id: int, viewer: InstructorViewer, db: DbSession) -> Response:
    await checked_form(request, viewer)
    submission = submissions.visible_submission(db, viewer.user, submission_id)
    submissions.regrade(db, [submission], JobQueue.REGRADE)
    db.commit()
    request.app.state.dispatcher.submitted([submission.current_job_id], JobQueue.REGRADE)
    return RedirectResponse(f"/dashboard/submissions/{submission_id}", status_code=303)


@router.get("/submissions/{submission_id}/notebook.ipynb")
def executed_notebook(submission_id: int, viewer: InstructorViewer, db: DbSession) -> Response:
    return artifact_response(db, viewer.user, submission_id, ArtifactKind.EXECUTED_NOTEBOOK)


@router.get("/submissions/{submission_id}/learning-curve.png")
def learning_curve(submission_id: int, viewer: InstructorViewer, db: DbSession) -> Response:
    return artifact_response(db, viewer.user, submission_id, ArtifactKind.LEARNING_CURVE)
