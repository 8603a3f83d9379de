"""Bearer-token API routes built on the dashboard's views: the labs as the caller may see them (`GET /api/v1/labs`:
thresholds wait for a student's deadline where the lab says so, as on their page), the gradebook (DESIGN section 5,
`GET /api/v1/labs/{lab_id}/gradebook.csv`) and a submission's place in the queue (what `labgrader submit` shows)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from server.auth import CurrentUser, SessionDep, Staff
from server.dashboard.queue import job_progress
from server.dashboard.standing import lab_standings
from server.dependencies import SettingsDep
from server.exports.formats import ExportFormat, render_export
from server.exports.gradebook import build_gradebook
from server.labs.schemas import LabOut
from server.labs.service import list_specs
from server.submissions import service as submissions
from server.submissions.router import SubmissionId

router = APIRouter(prefix="/api/v1", tags=["exports"])


@router.get("/labs", response_model=list[LabOut], tags=["labs"])
def labs(user: CurrentUser, session: SessionDep) -> list[LabOut]:
    """Every lab with its checks, points and thresholds; a lab with `check_details = "after_deadline"` gives a
    student `thresholds: {}` and `thresholds_hidden: true` until their deadline (an extension's, if any)."""
    specs = list_specs(session)
    if user.is_staff:
        return [LabOut.from_spec(spec) for spec in specs]
    return [LabOut.from_spec(st.spec, st.details_hidden) for st in lab_standings(session, specs, user.id)]


@router.get("/labs/{lab_id}/gradebook.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def gradebook_csv(lab_id: str, user: Staff, session: SessionDep,
                  format: ExportFormat = ExportFormat.CSV) -> Response:
    """The lab's gradebook (instructors and TAs): `format=csv` (default) or `canvas`; `gradescope`: results JSON."""
    body, media_type, name = render_export(build_gradebook(session, lab_id), format)
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                          "X-Content-Type-Options": "nosniff"})


@router.get("/submissions/{submission_id}/progress")
def progress(submission_id: SubmissionId, user: CurrentUser, session: SessionDep,
             settings: SettingsDep) -> dict[str, object]:
    """`{"id", "status", "progress"}`: while queued, the place in the queue (1 = next) and an estimate in seconds;
    while running, the seconds since it started and an estimate of those left; `progress` is null once finished."""
    submission = submissions.visible_submission(session, user, submission_id)
    found = job_progress(session, submission.current_job_id, settings.jobs)
    return {"id": submission.id, "status": submission.status, "progress": found.as_json() if found else None}
