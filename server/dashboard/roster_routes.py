"""The roster page: list users, add one, import a CSV; new tokens are shown once and never again."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from server.dashboard import service
from server.dashboard.access import DbSession, InstructorViewer, PageRoute, checked_form
from server.dashboard.rendering import page
from server.errors import InvalidInput
from server.users.service import IssuedToken, create_user, import_roster

router = APIRouter(prefix="/dashboard/roster", route_class=PageRoute, include_in_schema=False)
ROSTER_LIMIT_BYTES = 1024 * 1024


def _issued_page(viewer: InstructorViewer, issued: list[IssuedToken]) -> Response:
    return page("tokens.html", 201, viewer=viewer, issued=issued)


@router.get("")
def roster_page(viewer: InstructorViewer, db: DbSession) -> Response:
    return page("roster.html", viewer=viewer, people=service.roster(db))


@router.post("/users")
async def add_user(request: Request, viewer: InstructorViewer, db: DbSession) -> Response:
    form = await checked_form(request, viewer)
    name, role = form.get("name"), form.get("role")
    issued = create_user(db, name.strip() if isinstance(name, str) else "", role if isinstance(role, str) else "")
    db.commit()
    return _issued_page(viewer, [issued])


@router.post("/import")
async def import_csv(request: Request, viewer: InstructorViewer, db: DbSession) -> Response:
    form = await checked_form(request, viewer)
    upload = form.get("roster")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidInput("choose a CSV file with the columns name,role")
    data = await upload.read(ROSTER_LIMIT_BYTES + 1)
    if len(data) > ROSTER_LIMIT_BYTES:
        raise InvalidInput("the roster CSV is larger than 1 MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the roster CSV is not UTF-8 text") from exc
    issued = import_roster(db, text)
    db.commit()
    return _issued_page(viewer, issued)
