"""Roster import as an upsert: new people are added (a token each, shown once), known ones updated, the rest
unchanged; all or nothing, a refused line named by its number.

Three layouts are read as they come, recognised by their header row (a UTF-8 byte-order mark is ignored):

- Labgrader: `name` (required), `role` (student, ta or instructor; default student), `full_name`, `email`,
  `student_id`.
- Canvas (Grades > Export): `Student` ("Last, First"), `ID`, `SIS User ID`, `SIS Login ID`, `Section`, then the
  assignments; its `Points Possible` row and the `Test Student` are skipped. The user name is the SIS Login ID (the
  column the Canvas export of the gradebook fills back), else the SIS User ID.
- Moodle (Participants or grader report export): `First name`, `Last name`, `ID number`, `Email address`, and
  `Username` where the export has it. The user name is the Username, else the email address.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import Conflict, InvalidInput
from server.users.models import Role, User
from server.users.service import IssuedToken, create_user


@dataclass(frozen=True)
class Person:
    name: str
    role: str = ""  # empty: a new user is a student, a known one keeps their role
    full_name: str = ""
    email: str = ""
    student_id: str = ""


@dataclass(frozen=True)
class NewUser:
    person: Person
    token: IssuedToken


@dataclass
class RosterImport:
    """What an import did: who was added (with their token, shown once), updated, or already up to date."""

    layout: str
    added: list[NewUser] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged "
                f"({self.layout} roster)")


def _cell(row: dict[str, str | None], *names: str) -> str:
    for name in names:
        value = row.get(name)
        if value and value.strip():
            return value.strip()
    return ""


def _labgrader(row: dict[str, str | None]) -> Person | None:
    return Person(_cell(row, "name"), _cell(row, "role"), _cell(row, "full_name"),
                  _cell(row, "email"), _cell(row, "student_id"))


def _canvas(row: dict[str, str | None]) -> Person | None:
    student = _cell(row, "Student")
    if student in ("", "Points Possible", "Student, Test", "Test Student") or student.startswith("Points Possible"):
        return None
    last, _, first = student.partition(",")
    full = f"{first.strip()} {last.strip()}".strip() if first else student
    return Person(_cell(row, "SIS Login ID", "SIS User ID"), "", full, "", _cell(row, "SIS User ID"))


def _moodle(row: dict[str, str | None]) -> Person | None:
    full = f"{_cell(row, 'First name')} {_cell(row, 'Last name')}".strip()
    email = _cell(row, "Email address")
    return Person(_cell(row, "Username") or email, "", full, email, _cell(row, "ID number"))


LAYOUTS: list[tuple[str, set[str], Callable[[dict[str, str | None]], Person | None]]] = [
    ("Labgrader", {"name"}, _labgrader),
    ("Canvas", {"Student", "SIS Login ID"}, _canvas),
    ("Moodle", {"First name", "Last name", "Email address"}, _moodle),
]


def read_people(text: str) -> tuple[str, list[tuple[int, Person]]]:
    """The layout's name and (line number, person) of each row that names someone."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = {f.strip() for f in reader.fieldnames or []}
    for layout, needed, read in LAYOUTS:
        if needed <= header:
            reader.fieldnames = [f.strip() for f in reader.fieldnames or []]
            people = [(line, p) for line, row in enumerate(reader, start=2) if (p := read(row)) is not None]
            return layout, people
    raise InvalidInput("the roster CSV's header is not one Labgrader reads: give the columns name,role (and "
                       "full_name, email, student_id), or a Canvas gradebook or Moodle participants export as it is")


def import_roster(session: Session, text: str) -> RosterImport:
    """Add the new people of a roster CSV and update the known ones; nothing is kept if a line is refused."""
    layout, people = read_people(text)
    result = RosterImport(layout)
    seen: dict[str, int] = {}
    for line, person in people:
        if person.name in seen:
            raise InvalidInput(f"roster line {line}: {person.name!r} is already on line {seen[person.name]}")
        seen[person.name] = line
        if len(person.full_name) > 200 or len(person.email) > 320 or len(person.student_id) > 64:
            raise InvalidInput(f"roster line {line}: a full name, email or student id is longer than the limit "
                               "(200, 320, 64 characters)")
        user = session.scalar(select(User).where(User.name == person.name))
        try:
            if user is None:
                token = create_user(session, person.name, person.role or Role.STUDENT.value)
                user = session.scalar(select(User).where(User.name == person.name))
                assert user is not None
                _fill(user, person)
                result.added.append(NewUser(person, token))
                continue
            if person.role and person.role not in {r.value for r in Role}:
                raise InvalidInput(f"role must be 'student', 'ta' or 'instructor', not {person.role!r}")
        except (InvalidInput, Conflict) as exc:
            raise InvalidInput(f"roster line {line}: {exc}") from exc
        changed = _fill(user, person)
        if person.role and user.role != person.role:
            user.role, changed = person.role, True
        (result.updated if changed else result.unchanged).append(person.name)
    session.flush()
    return result


def _fill(user: User, person: Person) -> bool:
    """Copy the roster's columns that it fills onto the user; True when something changed."""
    changed = False
    for attribute, value in (("full_name", person.full_name), ("email", person.email),
                             ("student_number", person.student_id)):
        if value and getattr(user, attribute) != value:
            setattr(user, attribute, value)
            changed = True
    return changed


def tokens_csv(added: list[NewUser]) -> str:
    """The new users' tokens for a mail merge: name, full name, email, student id, role, token."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "full_name", "email", "student_id", "role", "token"])
    writer.writerows([u.person.name, u.person.full_name, u.person.email, u.person.student_id, u.token.role,
                      u.token.token] for u in added)
    return buffer.getvalue()
