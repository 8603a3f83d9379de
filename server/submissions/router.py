"""HTTP routes for submissions: parse, call the service, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Query, UploadFile
from fastapi.responses import Response

from server.auth import CurrentUser, Instructor, SessionDep, Staff
from server.dependencies import SettingsDep
from server.errors import PayloadTooLarge
from server.jobs.dispatch import DispatcherDep
from server.jobs.models import ArtifactKind, JobQueue
from server.jobs.stored_artifacts import artifact_content
from server.submissions import service
from server.submissions.schemas import RegradeOut, SubmissionList, SubmissionOut

router = APIRouter(prefix="/api/v1", tags=["submissions"])

MAX_ID = service.MAX_ID  # larger ids and offsets are refused as 422 by the schema itself
SubmissionId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post("/labs/{lab_id}/submissions", status_code=202, response_model=SubmissionOut)
def submit(lab_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep, dispatcher: DispatcherDep,
           notebook: Annotated[UploadFile, File(description="the .ipynb file")],
           files: Annotated[list[UploadFile] | None, File(description="files the notebook reads (a .zip is "
                                                                      "unpacked); they land beside it")] = None,
           ) -> SubmissionOut:
    # a plain `def`: validation and the database write block, so they run in the thread pool, not on the event loop
    data = notebook.file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLarge(f"the notebook is larger than the {settings.max_upload_mb:g} MB limit")
    uploads = read_uploads(files or [], settings.max_files_bytes, settings.max_files_mb)
    extra = service.submitted_files(uploads, settings.file_limits())
    submission = service.create_submission(session, user, lab_id, data, notebook.filename or "",
                                           settings.max_upload_bytes, settings.submissions_per_hour, extra,
                                           quota_mb=settings.student_quota_mb)
    session.commit()
    dispatcher.submitted([submission.current_job_id])
    return service.to_out(session, submission)


def read_uploads(uploads: list[UploadFile], max_bytes: int, limit_mb: float) -> list[tuple[str, bytes]]:
    """(name, bytes) of uploaded files, reading no more than `max_bytes` in all."""
    out, total = [], 0
    for upload in uploads:
        content = upload.file.read(max_bytes - total + 1)
        total += len(content)
        if total > max_bytes:
            raise PayloadTooLarge(f"the files submitted with the notebook are larger than the {limit_mb:g} MB limit")
        out.append((upload.filename or "", content))
    return out


@router.get("/submissions", response_model=SubmissionList)
def list_submissions(user: CurrentUser, session: SessionDep, lab_id: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100,
                     offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> SubmissionList:
    rows, total = service.list_submissions(session, user, lab_id, limit, offset)
    return SubmissionList(items=service.to_out_many(session, rows), total=total, limit=limit, offset=offset)


@router.get("/submissions/{submission_id}", response_model=SubmissionOut)
def get_submission(submission_id: SubmissionId, user: CurrentUser, session: SessionDep) -> SubmissionOut:
    return service.to_out(session, service.visible_submission(session, user, submission_id))


@router.get("/submissions/{submission_id}/notebook", response_class=Response,
            responses={200: {"content": {"application/x-ipynb+json": {}}}})
def executed_notebook(submission_id: SubmissionId, user: CurrentUser, session: SessionDep) -> Response:
    submission = service.visible_submission(session, user, submission_id)
    found = service.artifact(session, submission, ArtifactKind.EXECUTED_NOTEBOOK)
    return Response(artifact_content(found), media_type="application/x-ipynb+json", headers={
        "Content-Disposition": f'attachment; filename="submission-{submission.id}-executed.ipynb"'})


@router.get("/submissions/{submission_id}/learning-curve.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def learning_curve(submission_id: SubmissionId, user: CurrentUser, session: SessionDep) -> Response:
    submission = service.visible_submission(session, user, submission_id)
    found = service.artifact(session, submission, ArtifactKind.LEARNING_CURVE)
    return Response(artifact_content(found), media_type="image/png")


@router.post("/submissions/{submission_id}/regrade", status_code=202, response_model=RegradeOut)
def regrade_one(submission_id: SubmissionId, user: Staff, session: SessionDep,
                dispatcher: DispatcherDep) -> RegradeOut:
    submission = service.visible_submission(session, user, submission_id)
    ids = service.regrade(session, [submission], JobQueue.REGRADE)
    session.commit()
    job_ids = [submission.current_job_id]
    dispatcher.submitted(job_ids, JobQueue.REGRADE)
    return RegradeOut(queued=len(ids), submission_ids=ids)


@router.post("/labs/{lab_id}/regrade", status_code=202, response_model=RegradeOut)
def regrade_lab(lab_id: str, user: Instructor, session: SessionDep, dispatcher: DispatcherDep,
                scope: service.RegradeScope = service.RegradeScope.ALL) -> RegradeOut:
    """Queue a regrade of the lab's submissions: `all`, each student's `counted` one, or those in `errors`; older
    jobs of those submissions still queued or running are cancelled."""
    submissions = service.lab_submissions(session, lab_id, scope)
    ids = service.regrade(session, submissions, JobQueue.REGRADE)
    session.commit()
    job_ids = [s.current_job_id for s in submissions]
    dispatcher.submitted(job_ids, JobQueue.REGRADE)
    return RegradeOut(queued=len(ids), submission_ids=ids)
