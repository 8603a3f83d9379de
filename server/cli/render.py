"""Print a graded report for a person: one line per check, then the totals. Everything printed to a terminal
passes through `terminal_safe`: a report's text comes partly from the notebook (a note, an exception's name), and an
escape sequence in it could rewrite what the terminal shows (a fake "Score: 100 / 100")."""

from __future__ import annotations

import unicodedata
from typing import Any

from server.scores import format_score


def terminal_safe(text: str, keep: str = "\n") -> str:
    """`text` without control characters (ESC, CR, backspace, C1 codes) or format characters (bidi overrides),
    except those in `keep`."""
    return "".join(c for c in text if c in keep or unicodedata.category(c) not in ("Cc", "Cf"))


def format_report(report: dict[str, Any]) -> str:
    lines = []
    status = report.get("status")
    header = f"Submission {report['id']} ({report.get('lab_id')}): {status}" if "id" in report else \
        f"Lab {report.get('lab_id')}: graded"
    lines.append(header)
    for check in report.get("checks", []):
        score = check.get("counted_score", check["score"])
        mark = "PASS" if check["passed"] else ("PART" if score > 0 else "FAIL")
        lines.append(f"  [{mark}] {check['id']}: {format_score(score)}/{format_score(check['max_score'])}")
        lines.append(f"         {check['message']}")
        if check.get("override"):
            lines.append(f"         Graded {format_score(check['score'])}; {check['override']}")
    note = report.get("note") or report.get("execution_note")
    if note:
        lines.append(f"  Note: {note}")
    lines.extend(score_lines(report))
    return "\n".join(terminal_safe(line, keep="") for line in lines)


def score_lines(report: dict[str, Any]) -> list[str]:
    """The score as graded and, where the lab's policy or an instructor changes it, the counted one with why."""
    if report.get("excused"):
        return [f"Excused from this lab: {report.get('reason', '')}"]
    if report.get("score") is None:
        return []
    out_of = format_score(report["max_score"])
    graded = f"Score: {format_score(report['score'])} / {out_of}"
    counted, reason = report.get("counted_score"), report.get("reason") or ""
    if counted is None or (format_score(counted) == format_score(report["score"]) and not reason):
        return [graded]
    counts = "counts toward your grade" if report.get("counts") else "does not count: another submission does"
    return [graded + " as graded", f"Counted: {format_score(counted)} / {out_of} ({reason}; {counts})"]
