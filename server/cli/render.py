"""Print a graded report for a person: one line per check, then the totals."""

from __future__ import annotations

from typing import Any


def format_report(report: dict[str, Any]) -> str:
    lines = []
    status = report.get("status")
    header = f"Submission {report['id']} ({report.get('lab_id')}): {status}" if "id" in report else \
        f"Lab {report.get('lab_id')}: graded"
    lines.append(header)
    for check in report.get("checks", []):
        mark = "PASS" if check["passed"] else ("PART" if check["score"] > 0 else "FAIL")
        lines.append(f"  [{mark}] {check['id']}: {check['score']:g}/{check['max_score']:g}")
        lines.append(f"         {check['message']}")
    note = report.get("note") or report.get("execution_note")
    if note:
        lines.append(f"  Note: {note}")
    if report.get("score") is not None:
        lines.append(f"Score: {report['score']:g} / {report['max_score']:g}")
    return "\n".join(lines)
