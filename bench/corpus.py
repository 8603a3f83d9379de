"""Corpus check: grade a folder of real notebooks and compare each check with what a TA expected by reading them.

    .venv/bin/python -m bench.corpus FOLDER [--manifest FILE] [--lab LAB] [--parallel 1] [--reuse] [--mirrors DIR]

The folder holds the notebooks (other people's work: keep it outside the repository); the manifest (default
`FOLDER/expected.toml`; the curriculum's corpus is `bench/corpus_manifest.toml`) was written by reading every notebook
before it was graded:

    [notebooks."perceptron/NAME"]         # FOLDER/perceptron/NAME.ipynb (a name without a folder: FOLDER/NAME.ipynb)
    lab = "perceptron"                    # optional: the lab it is graded with (default: --lab, else frameworks)
    source = "https://github.com/OWNER/REPO/blob/COMMIT/PATH"   # optional: where it came from
    sha256 = "..."                        # optional: the notebook's hash; a different file is refused
    files = ["NAME.files/photo.jpg"]      # optional: what the notebook reads, passed with `grade --with`
                                          # (--mirrors: written from the notebook's folder in its source repository)
    iris_accuracy = { outcome = "pass", why = "net2 reached 0.97 on its split" }
    early_stopping = { outcome = "fail", why = "losses per batch, no validation loss", needs = "gpu" }

outcome is pass (full credit), partial (some credit), fail (attempted, no credit) or not-attempted (nothing in the
notebook does it). `--mirrors DIR` writes a missing notebook (and its `files`) from a bare git copy of its
source repository, `DIR/OWNER+REPO/repo` (what the search tool's fetch makes), at the source's commit, and checks its
sha256. Each
notebook is graded with `labgrader grade --json` (the same sandbox and checks as the service, the environment's
LABGRADER_* settings, e.g. LABGRADER_KERNELS_DIR and LABGRADER_DATA_DIR); the reports are kept in `FOLDER/reports/`
and `--reuse` scores the kept ones without grading again. Agreement, per lab and in all, counts the checks where the
grader's credit (full, partial, none) is the TA's, of those whose data and hardware this machine has: a check marked
`needs = "gpu"` counts only where a GPU is visible, and one the grader reports as "not installed on this grader" never
counts. The strict figure also tells "fail" from "not-attempted" by the grader's message.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUTCOMES = ("pass", "partial", "fail", "not-attempted")
CREDIT = {"pass": "full", "partial": "partial", "fail": "none", "not-attempted": "none"}
# grader messages that mean "nothing of this kind was in the notebook" rather than "it was there and fell short"
NOTHING_FOUND = re.compile(r"no trained model named|no per-epoch training history was found|none found|"
                           r"only the lab's data is served")
NOT_MEASURED = "not installed on this grader"


@dataclass(frozen=True)
class Expectation:
    outcome: str
    why: str
    needs: str = ""


@dataclass(frozen=True)
class Entry:
    name: str
    notebook: Path
    files: tuple[Path, ...]
    checks: dict[str, Expectation]
    lab: str = ""
    source: str = ""
    sha256: str = ""


MANIFEST_KEYS = ("files", "lab", "source", "sha256")
SOURCE = re.compile(r"https://github\.com/([\w.-]+)/([\w.-]+)/blob/([0-9a-f]{40})/(.+)")


def load_expectations(folder: Path, path: Path) -> list[Entry]:
    """The notebooks of `path` (the manifest), each with its expected outcome per check id."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    entries = []
    for name, table in data.get("notebooks", {}).items():
        checks = {}
        for check_id, value in table.items():
            if check_id in MANIFEST_KEYS:
                continue
            if not isinstance(value, dict) or value.get("outcome") not in OUTCOMES:
                raise SystemExit(f"{path}: {name}.{check_id}: outcome must be one of {', '.join(OUTCOMES)}")
            checks[check_id] = Expectation(value["outcome"], str(value.get("why", "")), str(value.get("needs", "")))
        files = tuple(folder / f for f in table.get("files", []))
        entries.append(Entry(name, folder / f"{name}.ipynb", files, checks, str(table.get("lab", "")),
                             str(table.get("source", "")), str(table.get("sha256", ""))))
    return entries


def from_mirror(entry: Entry, mirrors: Path) -> None:
    """Write a missing notebook from the bare git copy of its source repository (`mirrors/OWNER+REPO/repo`)."""
    found = SOURCE.fullmatch(entry.source)
    if not found:
        raise SystemExit(f"{entry.name}: no notebook, and its source is not a GitHub blob URL at a commit")
    owner, repo, commit, inner = found.groups()
    git_dir = mirrors / f"{owner}+{repo}" / "repo"
    done = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{commit}:{inner}"], capture_output=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"{entry.name}: not in {git_dir} at {commit[:12]}: {done.stderr.decode()[-200:].strip()}")
    entry.notebook.parent.mkdir(parents=True, exist_ok=True)
    entry.notebook.write_bytes(done.stdout)


def files_from_mirror(entry: Entry, folder: Path, mirrors: Path) -> None:
    """Write the missing `files` of a notebook (`NAME.files/REL`) from its source repository's bare copy: REL in the
    notebook's own folder there, at the source's commit (a module of the student's repository the notebook imports)."""
    found = SOURCE.fullmatch(entry.source)
    if not found:
        raise SystemExit(f"{entry.name}: its files are missing, and its source is not a GitHub blob URL at a commit")
    owner, repo, commit, inner = found.groups()
    git_dir = mirrors / f"{owner}+{repo}" / "repo"
    beside = folder / f"{entry.name}.files"
    for path in entry.files:
        if path.is_file():
            continue
        try:
            relative = path.relative_to(beside).as_posix()
        except ValueError:
            raise SystemExit(f"{entry.name}: {path} is not under {beside}: only those come from a mirror") from None
        wanted = f"{commit}:{os.path.dirname(inner)}/{relative}"
        done = subprocess.run(["git", f"--git-dir={git_dir}", "show", wanted], capture_output=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{entry.name}: {wanted} not in {git_dir}: {done.stderr.decode()[-200:].strip()}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(done.stdout)


def check_hash(entry: Entry) -> None:
    if entry.sha256 and hashlib.sha256(entry.notebook.read_bytes()).hexdigest() != entry.sha256:
        raise SystemExit(f"{entry.notebook}: its sha256 is not the manifest's: it is not the notebook the TA read "
                         f"({entry.source or 'no source given'})")


def grade(entry: Entry, lab: str, reports: Path, timeout_s: float) -> dict[str, object]:
    """Run `labgrader grade --json` on one notebook; the parsed report, also written to `reports/NAME.json`."""
    command = [sys.executable, "-m", "server.cli.main", "grade", str(entry.notebook), "--lab", lab, "--json"]
    for extra in entry.files:
        command += ["--with", str(extra)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    started = time.monotonic()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        report: dict[str, object] = {"error": f"grading took longer than {timeout_s:.0f} s"}
    else:
        try:
            report = json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr.strip()[-2000:]}
        except ValueError:
            report = {"error": f"not JSON: {done.stdout[:300]!r} {done.stderr[-300:]!r}"}
    report["bench_wall_s"] = round(time.monotonic() - started, 1)
    kept = reports / f"{entry.name}.json"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps(report, indent=2))
    return report


def grader_outcome(check: dict[str, object]) -> str:
    """pass | partial | fail | not-attempted, read from one check of a report."""
    if check.get("passed"):
        return "pass"
    if float(str(check.get("score") or 0)) > 0:
        return "partial"
    return "not-attempted" if NOTHING_FOUND.search(str(check.get("message", ""))) else "fail"


def has_gpu() -> bool:
    return shutil.which("nvidia-smi") is not None and subprocess.run(
        ["nvidia-smi", "-L"], capture_output=True, check=False).returncode == 0


@dataclass
class Tally:
    counted: int = 0
    agreed: int = 0
    strict: int = 0
    excluded: int = 0


def compare(entries: list[Entry], reports: dict[str, dict[str, object]], gpu: bool,
            verbose: bool) -> tuple[list[list[str]], list[str], Tally]:
    """The table rows (one per notebook), the disagreements spelled out, and the counts."""
    check_ids = sorted({c for e in entries for c in e.checks}, key=lambda c: _order(entries, c))
    rows, notes, tally = [], [], Tally()
    for entry in entries:
        report = reports.get(entry.name, {})
        listed = report.get("checks")
        checks = {str(c["id"]): c for c in listed} if isinstance(listed, list) else {}
        row = [entry.name]
        if "error" in report:
            last = [line for line in str(report["error"]).splitlines() if line.strip()][-1:] or ["?"]
            notes.append(f"{entry.name}: no report: {last[0][:300]}")
        for check_id in check_ids:
            expected = entry.checks.get(check_id)
            got = checks.get(check_id)
            if expected is None:
                row.append("")
                continue
            if got is None:
                row.append(f"{_short(expected.outcome)}/?")
                tally.excluded += 1
                continue
            outcome = grader_outcome(got)
            if (expected.needs == "gpu" and not gpu) or NOT_MEASURED in str(got.get("message", "")):
                row.append(f"{_short(expected.outcome)}/{_short(outcome)} -")
                tally.excluded += 1
                continue
            tally.counted += 1
            agree = CREDIT[outcome] == CREDIT[expected.outcome]
            tally.agreed += agree
            tally.strict += outcome == expected.outcome
            row.append(f"{_short(expected.outcome)}/{_short(outcome)} {'ok' if agree else 'XX'}")
            if not agree or verbose:
                notes.append(f"{entry.name} {check_id}: TA {expected.outcome} ({expected.why}); grader {outcome}: "
                             f"{str(got.get('message', ''))[:400]}")
        score = f"{report.get('score', '?')}/{report.get('max_score', '?')}"
        rows.append([*row, score, str(report.get("bench_wall_s", "?"))])
    return [["notebook", *check_ids, "score", "wall s"], *rows], notes, tally


def _order(entries: list[Entry], check_id: str) -> int:
    for entry in entries:
        if check_id in entry.checks:
            return list(entry.checks).index(check_id)
    return 0


def _short(outcome: str) -> str:
    return {"pass": "pass", "partial": "part", "fail": "fail", "not-attempted": "n/a"}[outcome]


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--manifest", "--expected", dest="manifest", type=Path, default=None,
                        help="default: FOLDER/expected.toml")
    parser.add_argument("--lab", default="", help="the lab of notebooks whose manifest names none (default frameworks)")
    parser.add_argument("--parallel", type=int, default=1, help="notebooks graded at once (default 1)")
    parser.add_argument("--reuse", action="store_true", help="score the reports kept from an earlier run")
    parser.add_argument("--only", default="", help="comma-separated notebook names, or labs")
    parser.add_argument("--mirrors", type=Path, default=None, help="write missing notebooks from DIR/OWNER+REPO/repo")
    parser.add_argument("--prepare", action="store_true", help="write and check the notebooks, grade nothing")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per notebook (default 1800)")
    parser.add_argument("--verbose", action="store_true", help="print the grader's message for every check")
    args = parser.parse_args(argv)
    folder = args.folder.resolve()
    entries = load_expectations(folder, args.manifest or folder / "expected.toml")
    if args.only:
        wanted = set(args.only.split(","))
        entries = [e for e in entries if e.name in wanted or lab_of(e, args.lab) in wanted]
    for entry in entries:
        if not entry.notebook.is_file() and args.mirrors:
            from_mirror(entry, args.mirrors)
        if args.mirrors and not all(path.is_file() for path in entry.files):
            files_from_mirror(entry, folder, args.mirrors)
    missing = [e.name for e in entries if not e.notebook.is_file()]
    missing += [f"{e.name} ({path.name})" for e in entries for path in e.files if not path.is_file()]
    if missing:
        raise SystemExit(f"no notebook for: {', '.join(missing)} (--mirrors DIR writes them from their sources)")
    for entry in entries:
        check_hash(entry)
    if args.prepare:
        print(f"{len(entries)} notebooks in {folder}, each the one its manifest names")
        return 0
    reports_dir = folder / "reports"
    reports_dir.mkdir(exist_ok=True)
    reports: dict[str, dict[str, object]] = {}
    todo = []
    for entry in entries:
        kept = reports_dir / f"{entry.name}.json"
        if args.reuse and kept.is_file():
            reports[entry.name] = json.loads(kept.read_text())
        else:
            todo.append(entry)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        futures = {pool.submit(grade, e, lab_of(e, args.lab), reports_dir, args.timeout): e for e in todo}
        for future, entry in futures.items():
            reports[entry.name] = future.result()
            print(f"graded {entry.name} in {reports[entry.name].get('bench_wall_s')} s", file=sys.stderr)
    gpu = has_gpu()
    labs = sorted({lab_of(e, args.lab) for e in entries})
    print(f"Corpus {folder} ({len(entries)} notebooks, labs {', '.join(labs)}, GPU {'yes' if gpu else 'no'}; "
          f"graded {len(todo)} in {time.monotonic() - started:.0f} s). Cells: TA/grader; '-' = not measurable here.")
    total = Tally()
    summary = []
    for lab in labs:
        rows, notes, tally = compare([e for e in entries if lab_of(e, args.lab) == lab], reports, gpu, args.verbose)
        print(f"\n## {lab}")
        print_table(rows)
        if notes:
            print("\nDisagreements:" if not args.verbose else "\nMessages:")
            for note in notes:
                print(f"- {note}")
        summary.append(f"{lab}: {_agreement(tally)}")
        for field in ("counted", "agreed", "strict", "excluded"):
            setattr(total, field, getattr(total, field) + getattr(tally, field))
    print("\nAgreement (credit: full / partial / none), per lab:")
    for line in summary:
        print(f"- {line}")
    print(f"- all: {_agreement(total)}")
    return 0


def lab_of(entry: Entry, default: str) -> str:
    return entry.lab or default or "frameworks"


def _agreement(tally: Tally) -> str:
    share = tally.agreed / tally.counted if tally.counted else 0.0
    strict = tally.strict / tally.counted if tally.counted else 0.0
    return (f"{tally.agreed} of {tally.counted} checks = {share:.1%}; strict (fail vs not-attempted told apart): "
            f"{tally.strict} of {tally.counted} = {strict:.1%}; {tally.excluded} not measurable here")


if __name__ == "__main__":
    sys.exit(main())
