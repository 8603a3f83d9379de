"""`labgrader labs test LAB...`: grade every notebook a lab's expectations.toml lists, in the sandbox as `labgrader
grade` does, and print what each check earned against what it should; exit 0 when all is as expected, 1 when not,
2 when a lab or its expectations cannot be read, 3 or 4 when the sandbox or the student environment cannot run."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from server.scores import format_score
from server.settings import Settings


def lab_folder(target: str, labs_dir: Path) -> Path | None:
    """A lab named by its id under the labs directory, or by its folder or lab.toml."""
    path = Path(target)
    if not path.exists() and (labs_dir / target / "lab.toml").is_file():
        return labs_dir / target
    if path.name == "lab.toml" and path.is_file():
        return path.parent
    return path if (path / "lab.toml").is_file() else None


def run_lab_tests(targets: list[str], settings: Settings, *, as_json: bool) -> int:
    """Every lab's notebooks graded and compared; the worst exit status of all."""
    worst, answers = 0, list[dict[str, Any]]()
    for target in targets:
        folder = lab_folder(target, settings.labs_dir)
        if folder is None:
            print(f"error: {target}: not a lab folder, a lab.toml, or a lab id in {settings.labs_dir}",
                  file=sys.stderr)
            worst = max(worst, 2)
            continue
        status, answer = run_lab_test(folder, settings, quiet=as_json)
        worst, answers = max(worst, status), [*answers, answer]
    if as_json:
        print(json.dumps(answers, indent=2))
    return worst


def run_lab_test(folder: Path, settings: Settings, *, quiet: bool = False) -> tuple[int, dict[str, Any]]:
    """(exit status, the rows) of one lab: each notebook graded once, each check against its expectation."""
    from grader import (
        EnvironmentUnavailable,
        InfrastructureError,
        NotebookInvalid,
        SandboxUnavailable,
        SpecInvalid,
        compare_expectations,
        grade_notebook,
        load_expectations,
        load_spec,
        parse_notebook,
        prepare_labs,
    )

    try:
        spec = load_spec(folder / "lab.toml")
        expectations = load_expectations(folder, spec)
    except SpecInvalid as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2, {"lab": folder.name, "error": str(exc)}
    prepare_labs(settings.data_dir.resolve(), folder.parent, [spec.id])
    rows: list[tuple[Any, str]] = []
    notes: list[str] = []
    if not quiet:
        print(f"lab {spec.id}: {len(expectations.notebooks)} notebook(s) from {folder / 'expectations.toml'}")
    for notebook in expectations.notebooks:
        try:
            nb = parse_notebook((folder / notebook.path).read_bytes(), settings.max_upload_bytes)
            outcome = asyncio.run(grade_notebook(nb, settings.grading_context(spec)))
        except (OSError, NotebookInvalid) as exc:
            print(f"error: {notebook.path}: {exc}", file=sys.stderr)
            return 2, {"lab": spec.id, "error": f"{notebook.path}: {exc}"}
        except SandboxUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3, {"lab": spec.id, "error": str(exc)}
        except (EnvironmentUnavailable, InfrastructureError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 4, {"lab": spec.id, "error": str(exc)}
        report = outcome.report
        scores = {check.id: (check.score, check.max_score) for check in report.checks}
        compared = compare_expectations(notebook, scores)
        messages = {check.id: check.message for check in report.checks}
        rows += [(row, messages.get(row.check, "")) for row in compared]
        notes += [f"{row.notebook}: {row.check}: {messages[row.check]}" for row in compared
                  if not row.ok and row.check in messages]
        if not quiet:
            _print_rows(compared)
    failed = sum(not row.ok for row, _ in rows)
    if not quiet:
        for note in notes:
            print(f"  why: {note}")
        print(f"lab {spec.id}: {'as expected' if not failed else f'{failed} of {len(rows)} not as expected'}")
    answer = {"lab": spec.id, "ok": not failed,
              "rows": [{"notebook": r.notebook, "check": r.check, "expected": r.expected, "earned": r.earned,
                        "max_score": r.max_score, "ok": r.ok, "message": message} for r, message in rows]}
    return (1 if failed else 0), answer


def _print_rows(rows: list[Any]) -> None:
    width = max(len(row.check) for row in rows)
    print(f"  {rows[0].notebook}")
    for row in rows:
        earned = f"{format_score(row.earned)}/{format_score(row.max_score)}"
        print(f"    {row.check:<{width}}  expected {row.expected:<8}  earned {earned:<9}  "
              f"{'ok' if row.ok else 'NOT AS EXPECTED'}")
