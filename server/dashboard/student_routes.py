"""A student's own page (/me): upload, their submissions with per-check feedback, plot and executed notebook.

Nothing here reads the grading report: students see the per-check messages (written for them), never the
instructor traceback, discovery notes or hidden-check internals.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from server.dashboard import service
from server.dashboard.access import AnyViewer, DbSession, PageRoute, Viewer, checked_form
from server.dashboard.output_budget import page_notebook
from server.dashboard.query_params import parse_submission_query, whole_number
from server.dashboard.queue import job_progress
from server.dashboard.rendering import artifact_response, page, secured
from server.dashboard.standing import lab_standing, lab_standings
from server.dependencies import SettingsDep, get_settings
from server.errors import InvalidInput, NotFound, PayloadTooLarge, RateLimited
from server.jobs.dispatch import DispatcherDep
from server.jobs.models import ArtifactKind
from server.labs.service import get_spec, list_specs
from server.submissions import service as submissions
from server.submissions.attachments import submitted_file, submitted_files

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _my_page(request: Request, viewer: Viewer, db: DbSession, status_code: int = 200, problem: str = "",
             chosen_lab: str = "", uploaded: int | None = None) -> Response:
    query = parse_submission_query(request.query_params, per_page=25)
    result = service.submissions_page(db, query, student_id=viewer.user.id)
    specs = list_specs(db)
    standings = lab_standings(db, specs, viewer.user.id)
    counted_ids = {s.standing.counted.attempt.submission_id for s in standings if s.standing.counted}
    just_uploaded = None
    if uploaded is not None:
        just_uploaded = next((r for r in result.rows if r.id == uploaded), None)
    per_hour = get_settings(request).submissions_per_hour
    return page("me.html", status_code, viewer=viewer, result=result, labs=specs, standings=standings,
                uploads_left=submissions.uploads_left(db, viewer.user, per_hour), per_hour=per_hour,
                titles={s.id: s.title for s in specs}, counted_ids=counted_ids, problem=problem,
                chosen_lab=_preselected(chosen_lab, just_uploaded, result.rows, specs), uploaded=just_uploaded)


def _preselected(chosen: str, uploaded: Any, rows: list[Any], specs: list[Any]) -> str:
    """The lab the upload form offers first: the one just chosen or submitted to, else the student's latest one's."""
    known = {s.id for s in specs}
    for candidate in (chosen, getattr(uploaded, "lab_id", ""), *(r.lab_id for r in rows[:1])):
        if candidate in known:
            return str(candidate)
    return specs[0].id if len(specs) == 1 else ""  # several labs: the student chooses (no silent wrong lab)


@router.get("/me")
def my_page(request: Request, viewer: AnyViewer, db: DbSession, uploaded: str = "", lab: str = "") -> Response:
    """`lab`: the lab the upload form offers first (an LMS link to one lab lands here)."""
    return _my_page(request, viewer, db, uploaded=whole_number(uploaded, submissions.MAX_ID) if uploaded else None,
                    chosen_lab=lab)


@router.post("/me/submissions")
async def upload(request: Request, viewer: AnyViewer, db: DbSession, settings: SettingsDep,
                 dispatcher: DispatcherDep) -> Response:
    form = await checked_form(request, viewer)
    notebook, lab_id = form.get("notebook"), form.get("lab_id")
    chosen = lab_id if isinstance(lab_id, str) else ""
    try:
        if not chosen:
            raise InvalidInput("choose the lab this notebook is for")
        if not isinstance(notebook, UploadFile) or not notebook.filename:
            raise InvalidInput("choose a .ipynb file to upload")
        data = await notebook.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise PayloadTooLarge(f"the notebook is larger than the {settings.max_upload_mb:g} MB limit")
        uploads, total = [], 0
        for extra in form.getlist("files"):
            if not isinstance(extra, UploadFile) or not extra.filename:
                continue  # the browser sends an empty part when no file was chosen
            content = await extra.read(settings.max_files_bytes - total + 1)
            total += len(content)
            if total > settings.max_files_bytes:
                raise PayloadTooLarge(f"the files submitted with the notebook are larger than the "
                                      f"{settings.max_files_mb:g} MB limit")
            uploads.append((extra.filename, content))
        files = submissions.submitted_files(uploads, settings.file_limits())
        submission = submissions.create_submission(db, viewer.user, chosen, data, notebook.filename,
                                                   settings.max_upload_bytes, settings.submissions_per_hour, files,
                                                   quota_mb=settings.student_quota_mb)
    except (InvalidInput, PayloadTooLarge, RateLimited) as exc:
        # the form comes back with the message beside it and the lab still chosen (browsers never refill files)
        db.rollback()
        response = _my_page(request, viewer, db, exc.status_code, exc.message, chosen)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    db.commit()
    dispatcher.submitted([submission.current_job_id])
    return RedirectResponse(f"/me?uploaded={submission.id}", status_code=303)


@router.get("/me/labs/{lab_id}/starter.ipynb")
def starter(request: Request, lab_id: str, viewer: AnyViewer, db: DbSession) -> Response:
    """The lab's starter notebook, as the lab folder this server loaded holds it."""
    spec = get_spec(db, lab_id)
    folder = (get_settings(request).labs_dir / lab_id).resolve()
    path = (folder / spec.starter).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise NotFound(f"lab {lab_id!r} has no starter notebook on this server")
    return secured(Response(path.read_bytes(), media_type="application/x-ipynb+json", headers={
        "Content-Disposition": f'attachment; filename="{lab_id}-starter.ipynb"'}))


@router.get("/me/submissions/{submission_id}")
def my_submission(request: Request, submission_id: int, viewer: AnyViewer, db: DbSession) -> Response:
    submission = submissions.visible_submission(db, viewer.user, submission_id)
    if submission.student_id != viewer.user.id:
        return RedirectResponse(f"/dashboard/submissions/{submission_id}", status_code=303)
    detail = service.submission_detail(db, submission)
    spec = get_spec(db, submission.lab_id)
    progress = job_progress(db, submission.current_job_id, get_settings(request).jobs)
    return page("my_submission.html", viewer=viewer, out=submissions.to_out(db, submission), spec=spec,
                has_learning_curve=detail.has_learning_curve, notebook=page_notebook(detail.executed_notebook),
                standing=lab_standing(db, spec, viewer.user.id), progress=progress, detail=detail,
                files=submitted_files(db, submission))


@router.get("/me/submissions/{submission_id}/files/{file_index}")
def my_submitted_file(request: Request, submission_id: int, file_index: Annotated[int, Path(ge=0, le=100_000)],
                      viewer: AnyViewer, db: DbSession) -> Response:
    """One file that came with the submission, as a download (its student and staff only; never shown inline)."""
    submission = submissions.visible_submission(db, viewer.user, submission_id)
    name, data = submitted_file(db, submission, file_index, get_settings(request).max_files_bytes)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name.rsplit("/", 1)[-1]).lstrip(".") or "file"
    return secured(Response(data, media_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{safe}"'}))


@router.get("/me/submissions/{submission_id}/notebook.ipynb")
def my_notebook(submission_id: int, viewer: AnyViewer, db: DbSession) -> Response:
    return artifact_response(db, viewer.user, submission_id, ArtifactKind.EXECUTED_NOTEBOOK)


@router.get("/me/submissions/{submission_id}/learning-curve.png")
def my_learning_curve(submission_id: int, viewer: AnyViewer, db: DbSession) -> Response:
    return artifact_response(db, viewer.user, submission_id, ArtifactKind.LEARNING_CURVE)


@router.get("/status.json")
def live_status(request: Request, viewer: AnyViewer, db: DbSession, ids: str = "") -> Response:
    """Status, score and queue progress of the listed submissions this viewer may see; pages poll it every 1.5 s."""
    wanted = [n for part in ids.split(",")[:500] if (n := whole_number(part, submissions.MAX_ID)) is not None]
    found = service.live_statuses(db, wanted, None if viewer.user.is_staff else viewer.user.id)
    slots = get_settings(request).jobs
    items = []
    for s in found:
        progress = job_progress(db, s.current_job_id, slots) if len(found) <= 20 else None
        items.append({"id": s.id, "status": s.status, "score": s.score, "max_score": s.max_score,
                      "progress": progress.as_json() if progress else None})
    return secured(JSONResponse({"submissions": items}))
