"""Roster import as an upsert, from a Labgrader CSV, a Canvas gradebook export and a Moodle participants export as
they come (byte-order mark, the Points Possible row, the Test Student, extra columns), on a real SQLite database."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from server.db import SessionFactory, transaction
from server.errors import InvalidInput
from server.roster.importer import import_roster, tokens_csv
from server.users.models import User
from tests.server.dashboard.seed import migrated_factory, user_id

CANVAS = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Lab 1: Frameworks (1234),Current Score,Final Score\n"
    "    Points Possible,,,,,100,(read only),(read only)\n"
    '"Lovelace, Ada",40211,S1001,alovelace,CS-101 Section 1,,,\n'
    '"Turing, Alan",40212,S1002,aturing,CS-101 Section 1,85,85,85\n'
    '"Student, Test",40299,,,CS-101 Section 1,,,\n'
)
MOODLE = (
    "\ufeffFirst name,Last name,ID number,Institution,Department,Email address,"
    "Assignment: Lab 1 (Real),Last downloaded from this course\n"
    "Grace,Hopper,S2001,Uni,CS,grace.hopper@uni.example,-,1733570000\n"
    "Alan,Turing,S1002,Uni,CS,aturing@uni.example,80.00,1733570000\n"
)


@pytest.fixture
def factory(tmp_path: Path) -> SessionFactory:
    factory = migrated_factory(tmp_path / "roster.db")
    with transaction(factory) as session:
        user_id(session, "aturing")  # already on the roster, no details yet
        user_id(session, "prof", "instructor")
    return factory


def _people(factory: SessionFactory) -> dict[str, tuple[str, str | None, str | None, str | None]]:
    with transaction(factory) as session:
        return {u.name: (u.role, u.full_name, u.email, u.student_number) for u in session.scalars(select(User))}


def test_a_canvas_export_adds_new_students_and_fills_in_known_ones(factory: SessionFactory) -> None:
    with transaction(factory) as session:
        result = import_roster(session, CANVAS)
        mail = tokens_csv(result.added)
    assert result.summary == "1 added, 1 updated, 0 unchanged (Canvas roster)"
    assert (result.updated, result.unchanged) == (["aturing"], [])
    people = _people(factory)
    assert people["alovelace"] == ("student", "Ada Lovelace", None, "S1001")
    assert people["aturing"] == ("student", "Alan Turing", None, "S1002")
    assert "Student, Test" not in people and "" not in people
    rows = list(csv.DictReader(io.StringIO(mail)))
    assert [(r["name"], r["full_name"], r["email"], r["student_id"], r["role"]) for r in rows] == [
        ("alovelace", "Ada Lovelace", "", "S1001", "student")]
    assert rows[0]["token"].startswith("lg_")
    with transaction(factory) as session:
        again = import_roster(session, CANVAS)
    assert (again.summary, again.added) == ("0 added, 0 updated, 2 unchanged (Canvas roster)", [])


def test_a_moodle_export_is_keyed_by_email_and_keeps_everyones_role(factory: SessionFactory) -> None:
    with transaction(factory) as session:
        result = import_roster(session, MOODLE)
    assert result.summary == "2 added, 0 updated, 0 unchanged (Moodle roster)"
    people = _people(factory)
    assert people["grace.hopper@uni.example"] == ("student", "Grace Hopper", "grace.hopper@uni.example", "S2001")
    assert people["aturing@uni.example"] == ("student", "Alan Turing", "aturing@uni.example", "S1002")


def test_a_labgrader_csv_changes_a_role_only_where_it_names_one(factory: SessionFactory) -> None:
    with transaction(factory) as session:
        result = import_roster(session, "name,role,full_name\nprof,,Pat Rofessor\naturing,ta,\nnew1,,New One\n")
    assert result.summary == "1 added, 2 updated, 0 unchanged (Labgrader roster)"
    people = _people(factory)
    assert (people["prof"][0], people["aturing"][0], people["new1"][0]) == ("instructor", "ta", "student")


@pytest.mark.parametrize(("text", "message"), [
    ("who,what\nx,y\n", "the roster CSV's header is not one Labgrader reads: give the columns name,role (and "
                        "full_name, email, student_id), or a Canvas gradebook or Moodle participants export as it is"),
    ("name,role\nzoe,student\nzoe,ta\n", "roster line 3: 'zoe' is already on line 2"),
    ("name,role\nzoe,student\nbad name,student\n", "roster line 3: user name 'bad name' must be 1-100 letters, "
                                                   "digits, '.', '_', '@' or '-'"),
    ("name,role\naturing,teacher\n", "roster line 2: role must be 'student', 'ta' or 'instructor', not 'teacher'"),
])
def test_a_refused_line_keeps_nothing_and_says_which(factory: SessionFactory, text: str, message: str) -> None:
    before = _people(factory)
    with pytest.raises(InvalidInput) as caught, transaction(factory) as session:
        import_roster(session, text)
    assert caught.value.message == message
    assert _people(factory) == before
