"""The course across labs for instructors and TAs: the gradebook with weighted totals (page and CSV) and one
student's page (every lab's counted score and reason, submissions, decisions, extension)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from server.dashboard import service
from server.dashboard.access import DbSession, PageRoute, StaffViewer
from server.dashboard.rendering import page, secured
from server.dashboard.standing import lab_standings
from server.dependencies import get_settings
from server.exports.course import CourseFileInvalid, CourseWeights, build_course_gradebook, course_csv, load_weights
from server.exports.decisions import find_student
from server.labs.service import list_specs

router = APIRouter(prefix="/dashboard", route_class=PageRoute, include_in_schema=False)


def _weights(request: Request, db: DbSession) -> CourseWeights:
    return load_weights(get_settings(request).labs_dir, {spec.id for spec in list_specs(db)})


def _weights_or_problem(request: Request, db: DbSession) -> tuple[CourseWeights | None, str]:
    """The course weights, or None and why the course file cannot be used (a page shows it and leaves totals out)."""
    try:
        return _weights(request, db), ""
    except CourseFileInvalid as exc:
        return None, exc.message


@router.get("/gradebook")
def gradebook_page(request: Request, viewer: StaffViewer, db: DbSession) -> Response:
    """Roster x lab: each student's counted score per lab (the same numbers as every lab's export) and the weighted
    total; a course file that cannot be used is named at the top, and the totals are left out until it is fixed."""
    weights, problem = _weights_or_problem(request, db)
    course = build_course_gradebook(db, weights)
    return page("gradebook.html", viewer=viewer, course=course, problem=problem, totals=weights is not None)


@router.get("/gradebook/export.csv")
def gradebook_csv(request: Request, viewer: StaffViewer, db: DbSession) -> Response:
    """The course gradebook as CSV: a column per lab, the total; the maximum and weight rows under the header."""
    body = course_csv(build_course_gradebook(db, _weights(request, db)))
    return secured(Response(body, media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": 'attachment; filename="course-gradebook.csv"'}))


@router.get("/students/{name}")
def student_page(request: Request, name: str, viewer: StaffViewer, db: DbSession) -> Response:
    """One student across the course: per lab the counted score and its reason, decisions, their deadline; every
    submission; their total under the course weights."""
    student = find_student(db, name)
    specs = list_specs(db)
    weights, problem = _weights_or_problem(request, db)
    course = build_course_gradebook(db, weights)
    submitted = service.submissions_page(db, service.SubmissionQuery(per_page=service.PER_PAGE_MAX),
                                         student_id=student.id)
    return page("student.html", viewer=viewer, student=student, standings=lab_standings(db, specs, student.id),
                mine=course.student(student.name), course=course, totals=weights is not None, problem=problem,
                submitted=submitted)
