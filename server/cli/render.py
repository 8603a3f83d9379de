"""Print a graded report for a person: one line per check, then the totals. Everything printed to a terminal
passes through `terminal_safe`: a report's text comes partly from the notebook (a note, an exception's name), and an
escape sequence in it could rewrite what the terminal shows (a fake "Score: 100 / 100")."""

from __future__ import annotations

import unicodedata
from typing import Any


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
        mark = "PASS" if check["passed"] else ("PART" if check["score"] > 0 else "FAIL")
        lines.append(f"  [{mark}] {check['id']}: {check['score']:g}/{check['max_score']:g}")
        lines.append(f"         {check['message']}")
    note = report.get("note") or report.get("execution_note")
    if note:
        lines.append(f"  Note: {note}")
    if report.get("score") is not None:
        lines.append(f"Score: {report['score']:g} / {report['max_score']:g}")
    return "\n".join(terminal_safe(line, keep="") for line in lines)
