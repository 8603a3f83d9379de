"""The roster page: list users, add one, import a CSV, reset/revoke a token, disable/enable, delete (audited);
new tokens are shown once (and offered as a CSV download built in the page) and never again."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from server.dashboard import service
from server.dashboard.access import DbSession, InstructorViewer, PageRoute, checked_form
from server.dashboard.rendering import page
from server.errors import Conflict, InvalidInput, NotFound
from server.roster.importer import NewUser, Person, RosterImport, import_roster, tokens_csv
from server.roster.lifecycle import RosterAction, delete_user, recent_audit, reset_token, revoke_token, set_disabled
from server.users.service import IssuedToken, create_user

router = APIRouter(prefix="/dashboard/roster", route_class=PageRoute, include_in_schema=False)
ROSTER_LIMIT_BYTES = 1024 * 1024


def _issued_page(request: Request, viewer: InstructorViewer, issued: list[IssuedToken], status_code: int = 201,
                 result: RosterImport | None = None) -> Response:
    """The new tokens, shown once, with a mail-merge CSV to download (name, full name, email, student id, token)
    and a printable card per person (name, this server's URL, the token, the submit command)."""
    added = result.added if result else [NewUser(Person(t.name, t.role), t) for t in issued]
    return page("tokens.html", status_code, viewer=viewer, issued=issued, result=result,
                people={u.person.name: u.person for u in added}, server_url=str(request.base_url).rstrip("/"),
                csv_href="data:text/csv;charset=utf-8," + quote(tokens_csv(added)))


def _roster(viewer: InstructorViewer, db: DbSession, status_code: int = 200, problem: str = "", done: str = "",
            form_name: str = "") -> Response:
    return page("roster.html", status_code, viewer=viewer, people=service.roster(db), audit=recent_audit(db, 20),
                problem=problem, done=done, form_name=form_name)


@router.get("")
def roster_page(viewer: InstructorViewer, db: DbSession) -> Response:
    return _roster(viewer, db)


@router.post("/users/{name}/{action}")
async def user_action(request: Request, name: str, action: str, viewer: InstructorViewer, db: DbSession) -> Response:
    """One roster action on one user; a reset shows the new token once, the rest come back to the roster."""
    form = await checked_form(request, viewer)
    try:
        chosen = RosterAction(action)
    except ValueError as exc:
        raise NotFound(f"no roster action {action!r}") from exc
    actor = viewer.user.name
    try:
        if chosen is RosterAction.RESET_TOKEN:
            issued = reset_token(db, name, actor)
            db.commit()
            return _issued_page(request, viewer, [issued], 200)
        if chosen is RosterAction.REVOKE:
            revoke_token(db, name, actor)
            done = f"{name}'s token is revoked. Reset it to give them a new one."
        elif chosen in (RosterAction.DISABLE, RosterAction.ENABLE):
            set_disabled(db, name, actor, chosen is RosterAction.DISABLE)
            done = f"{name} is {'disabled' if chosen is RosterAction.DISABLE else 'enabled'}."
        else:
            if form.get("confirm") != name:
                raise InvalidInput(f"to delete {name} and all their submissions, type the name {name} to confirm")
            count = delete_user(db, name, actor)
            done = f"{name} and their {count} submission(s) were deleted."
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return _roster(viewer, db, exc.status_code, exc.message)
    db.commit()
    return _roster(viewer, db, done=done)


@router.post("/users")
async def add_user(request: Request, viewer: InstructorViewer, db: DbSession) -> Response:
    form = await checked_form(request, viewer)
    name, role = form.get("name"), form.get("role")
    typed = name.strip() if isinstance(name, str) else ""
    try:
        issued = create_user(db, typed, role if isinstance(role, str) else "")
    except (InvalidInput, Conflict) as exc:  # the form comes back with the message and the typed name
        db.rollback()
        return _roster(viewer, db, exc.status_code, exc.message, form_name=typed)
    db.commit()
    return _issued_page(request, viewer, [issued])


@router.post("/import")
async def import_csv(request: Request, viewer: InstructorViewer, db: DbSession) -> Response:
    """A roster CSV as an upsert; a refused file comes back on the roster page with the reason, nothing kept."""
    form = await checked_form(request, viewer)
    upload = form.get("roster")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("choose a CSV file: name,role (full_name, email, student_id), or a Canvas or Moodle "
                               "export")
        data = await upload.read(ROSTER_LIMIT_BYTES + 1)
        if len(data) > ROSTER_LIMIT_BYTES:
            raise InvalidInput("the roster CSV is larger than 1 MB")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput("the roster CSV is not UTF-8 text") from exc
        result = import_roster(db, text)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return _roster(viewer, db, exc.status_code, f"The roster was not imported: {exc.message}")
    db.commit()
    return _issued_page(request, viewer, [u.token for u in result.added], result=result)
