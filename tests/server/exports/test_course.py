"""The course gradebook: weights from course.toml (validated), weighted totals, the CSV (a real SQLite database)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from server.db import transaction
from server.exports.course import CourseFileInvalid, build_course_gradebook, course_csv, load_weights
from server.exports.decisions import excuse, override_score
from server.submissions.models import Submission
from tests.server.dashboard.seed import graded_submission, migrated_factory, user_id

LABS = {"digits", "frameworks", "mountain_car", "own_framework", "perceptron"}  # the bundled labs
WEIGHTS = "[weights]\nframeworks = 3\ndigits = 1\nmountain_car = 0\nown_framework = 0\nperceptron = 0\n"


def _course_file(tmp_path: Path, text: str) -> Path:
    (tmp_path / "course.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_without_a_course_file_every_lab_weighs_one(tmp_path: Path) -> None:
    weights = load_weights(tmp_path, LABS)
    assert (weights.source, [weights.weight(lab) for lab in sorted(LABS)]) == (None, [1.0] * len(LABS))


def test_the_course_file_gives_weights_and_an_unlisted_lab_weighs_one(tmp_path: Path) -> None:
    weights = load_weights(_course_file(tmp_path, "[weights]\nframeworks = 2.5\n"), LABS)
    assert (weights.weight("frameworks"), weights.weight("digits")) == (2.5, 1.0)
    assert weights.source == tmp_path / "course.toml"


@pytest.mark.parametrize(("text", "message"), [
    ("[weights]\nframeworks = -1\n", "the weight of 'frameworks' must be a number >= 0, not -1"),
    ('[weights]\nframeworks = "two"\n', "the weight of 'frameworks' must be a number >= 0, not 'two'"),
    ("[weights]\nframeworks = true\n", "the weight of 'frameworks' must be a number >= 0, not True"),
    ("[weights]\nframeworks = nan\n", "the weight of 'frameworks' must be a number >= 0, not nan"),
    ("[weights]\nlab_9 = 1\n", "weighs lab 'lab_9', which this server has not loaded (its labs: digits, "
                               "frameworks, mountain_car, own_framework, perceptron)"),
    ("[course]\ntitle = 'x'\n", "has 'course'; the only table is [weights]"),
    ("weights = 3\n", "weights is a table of lab = number, such as [weights] lab_a = 2"),
    ("[weights\n", "is not a readable TOML file: "),
])
def test_a_course_file_that_cannot_be_used_is_refused_with_what_to_change(tmp_path: Path, text: str,
                                                                         message: str) -> None:
    _course_file(tmp_path, text)
    with pytest.raises(CourseFileInvalid) as caught:
        load_weights(tmp_path, LABS)
    assert str(tmp_path / "course.toml") in caught.value.message
    assert message in caught.value.message


def test_totals_are_weighted_percents_excused_labs_leave_and_missing_ones_count_zero(tmp_path: Path) -> None:
    factory = migrated_factory(tmp_path / "db.sqlite")
    with transaction(factory) as session:
        graded_submission(session, "ann", datetime(2026, 11, 20, 10), [20, 20, 30, 15, 0])  # 85 of 100
        graded_submission(session, "ben", datetime(2026, 11, 20, 11), [20, 20, 30, 15, 15])
        user_id(session, "cat")
        excuse(session, "ben", "digits", "joined after the digits lab", "prof")
        weights = load_weights(_course_file(tmp_path, WEIGHTS), LABS)
        course = build_course_gradebook(session, weights)
        totals = {s.student: s.total_percent for s in course.students}
        text = course_csv(course)
    # ann: 3 x 85% + 1 x 0% (digits not submitted) over 4; ben: excused from digits, 100% of what is left; cat: 0
    assert totals == {"ann": 63.75, "ben": 100.0, "cat": 0.0}
    assert text.splitlines() == [
        "student,digits,frameworks,mountain_car,own_framework,perceptron,total_percent",
        f"max_score,{_max(course, 'digits')},100,{_max(course, 'mountain_car')},{_max(course, 'own_framework')},"
        f"{_max(course, 'perceptron')},100",
        "weight,1,3,0,0,0,",
        "ann,,85,,,,63.75",
        "ben,EX,100,,,,100",
        "cat,,,,,,0",
    ]


def test_a_total_follows_an_override_at_once(tmp_path: Path) -> None:
    factory = migrated_factory(tmp_path / "db.sqlite")
    with transaction(factory) as session:
        sid = graded_submission(session, "ann", datetime(2026, 11, 20, 10), [20, 20, 30, 15, 0])
        submission = session.get(Submission, sid)
        assert submission is not None
        override_score(session, submission, None, 50, "copied from a classmate", "prof")
        weights = load_weights(_course_file(
            tmp_path, "[weights]\ndigits = 0\nmountain_car = 0\nown_framework = 0\nperceptron = 0\n"), LABS)
        ann = build_course_gradebook(session, weights).student("ann")
    assert ann is not None and ann.total_percent == 50.0


def _max(course, lab_id: str) -> str:  # type: ignore[no-untyped-def]
    book = next(b for b in course.books if b.spec.id == lab_id)
    return f"{book.max_score:g}"
