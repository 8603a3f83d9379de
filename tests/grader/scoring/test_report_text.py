"""Students see only grader-written text, bounded and escaped: every text field of a report (found by walking the
models, so a field added later is covered too) is made printable and capped when the report is made, whatever
value the grader put in it; a report stored before this rule is cleaned when it is read back."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from pydantic import BaseModel

from grader.scoring.report import MAX_DISCOVERY_LINES, TEXT_LIMITS, CellError, CheckResult, Cutoff, GradingReport

# the value: a 400 kB name with a bidi override, an escape sequence, a fake instructor's note
HOSTILE = "\u202e\x1b[2J\x1b]0;title\x07INSTRUCTOR NOTE: give full marks\r\n\u2066\x00" + "A" * 400_000


def _text_fields(model: type[BaseModel]) -> list[str]:
    return [name for name, field in model.model_fields.items() if field.annotation in (str, "str")
            or "str" in str(field.annotation)]


def _shown(value: str) -> bool:
    return all(unicodedata.category(c)[0] != "C" for c in value)


def test_every_text_field_of_a_report_is_printable_and_capped() -> None:
    check_fields = _text_fields(CheckResult)
    error_fields = [f for f in _text_fields(CellError) if f not in ("traceback", "left_undefined")]
    # numbers under names the lab spec and the grader give (`history`: the spec's history names, `loss`/`val_loss`)
    report_fields = [f for f in _text_fields(GradingReport) if f not in ("history", "timings_s")]
    assert set(check_fields) == {"id", "title", "message"}
    assert set(error_fields) == {"ename", "evalue"}
    assert set(_text_fields(CellError)) == {"ename", "evalue", "traceback", "left_undefined"}
    assert set(report_fields) == {"lab_id", "execution_note", "discovery", "device", "isolation"}
    check = CheckResult(**{f: HOSTILE for f in check_fields}, passed=False, score=0.0, max_score=1.0)
    error = CellError(cell_index=0, **{f: HOSTILE for f in error_fields}, traceback=HOSTILE,
                      left_undefined=(HOSTILE,), failed_after=(1,))
    values: dict[str, Any] = {f: HOSTILE for f in report_fields}
    values["discovery"] = (HOSTILE,) * (MAX_DISCOVERY_LINES + 5)
    report = GradingReport(**values, checks=(check,), cell_errors=(error,))
    dumped = GradingReport.model_validate_json(report.model_dump_json())  # stored and read back: the same
    assert dumped == report
    texts = [getattr(check, f) for f in check_fields] + [getattr(error, f) for f in error_fields] + [
        *error.left_undefined,
        report.lab_id, report.execution_note, report.device, report.isolation, *report.discovery]
    assert all(_shown(text) for text in texts)
    assert all(text.startswith("[2J]0;titleINSTRUCTOR NOTE: give full marks  AAA") for text in texts)
    assert len(report.discovery) == MAX_DISCOVERY_LINES
    assert max(len(text) for text in texts) == TEXT_LIMITS["message"]
    assert (len(check.id), len(error.ename), len(error.evalue), len(report.execution_note), len(report.discovery[0]),
            len(error.left_undefined[0])) == (TEXT_LIMITS["name"], TEXT_LIMITS["name"], TEXT_LIMITS["evalue"],
                                              TEXT_LIMITS["note"], TEXT_LIMITS["line"], TEXT_LIMITS["name"])
    assert len(error.traceback) == TEXT_LIMITS["traceback"]  # instructors only, capped
    assert len(report.model_dump_json()) < 800_000  # 200 discovery lines at 600, the rest small


def test_a_report_stored_before_the_rule_is_cleaned_when_read() -> None:
    stored = {"lab_id": "frameworks", "execution_note": "cell 3 needs a GPU (" + HOSTILE + ")", "checks": [
        {"id": "iris_accuracy", "title": "Iris", "passed": False, "score": 0.0, "max_score": 20.0,
         "message": "x\x1b[31m"}]}
    report = GradingReport.model_validate_json(json.dumps(stored))
    assert report.checks[0].message == "x[31m"
    assert report.execution_note.startswith("cell 3 needs a GPU ([2J]0;titleINSTRUCTOR NOTE")
    assert len(report.execution_note) == TEXT_LIMITS["note"] and report.execution_note.endswith("...")


def _cutoff(**kw: Any) -> Cutoff:
    base: dict[str, Any] = {"limit": "cell", "cell_number": 3, "ran_s": 61.0, "started_after_s": 12.0,
                            "cell_timeout_s": 60, "notebook_timeout_s": 900}
    return Cutoff(**(base | kw))


def test_a_cut_by_cpu_time_states_the_cpu_used_against_the_limit() -> None:
    """Issue 27 item 1: the limits are CPU seconds at the job's share; the sentence states them."""
    text = _cutoff(clock="cpu", cpu_s=60.2, cpu_share_cores=2).describe()
    assert text == ("cell 3 used its 120 s of CPU time and was interrupted; the cells after it ran (the lab's limits: "
                    "60 s per cell, 900 s for the whole notebook, in CPU time at 2 cores, so a busy worker does not "
                    "shorten them). The networks are graded as they were trained when it stopped, 61 s into that "
                    "cell; train for fewer epochs or with larger batches to finish within the limits")


def test_a_cut_by_the_wall_clock_backstop_does_not_blame_the_epochs() -> None:
    """Issue 25 item 6: a cell starved of CPU (or sleeping) is stopped by the backstop; the sentence says it waited
    rather than computed, and never tells the student to train for fewer epochs."""
    cell = _cutoff(clock="wall", cpu_s=3.4, ran_s=240.0).describe()
    assert cell.startswith("cell 3 was stopped by the wall-clock backstop after 240 s having used only 3 s of its 60 s "
                           "of CPU time; the cells after it ran")
    assert "worker was overloaded and a regrade will run it in full" in cell and "fewer epochs" not in cell
    notebook = _cutoff(limit="notebook", clock="wall", cpu_s=100.0, ran_s=0.0, started_after_s=3600.0,
                       interrupted=False).describe()
    assert notebook.startswith("the notebook was stopped by the wall-clock backstop after 3600 s having used only "
                               "100 s of its 900 s of CPU time; cell 3 and later did not run")
    assert "fewer epochs" not in notebook
    # without CPU accounting (no cpuacct group) the limits are wall-clock, and the sentence is the old one
    assert _cutoff().describe().startswith("cell 3 ran longer than 60 s and was interrupted; the cells after it ran "
                                           "(the lab's limits: 60 s per cell, 900 s for the whole notebook)")


def test_a_backstop_cut_says_how_long_the_job_waited_for_a_cpu_which_it_did_not_count() -> None:
    """Issue 27: the backstop counts wall time less the job's wait for a CPU; the sentence gives both, so the seconds
    it names are the ones the backstop counted."""
    cell = _cutoff(clock="wall", cpu_s=0.4, ran_s=200.0, waited_s=20.0).describe()
    assert cell.startswith("cell 3 was stopped by the wall-clock backstop after 180 s (not counting 20 s it waited for "
                           "a CPU behind other work) having used only 0 s of its 60 s of CPU time; the cells after it "
                           "ran (the lab's limits: 60 s per cell, 900 s for the whole notebook, in CPU time at 1 core, "
                           "so a busy worker does not shorten them). It was waiting rather than computing")
    notebook = _cutoff(limit="notebook", clock="wall", cpu_s=100.0, ran_s=0.0, started_after_s=3000.0,
                       interrupted=False, waited_s=300.0).describe()
    assert notebook.startswith("the notebook was stopped by the wall-clock backstop after 2700 s (not counting 300 s "
                               "it waited for a CPU behind other work) having used only 100 s of its 900 s of CPU "
                               "time; cell 3 and later did not run")
