"""Rescoring a lab from stored outputs against re-running one notebook, printed as a ratio.

    .venv/bin/python -m bench.rescore [--submissions 1000] [--runs 3] [--notebook PATH (default: the PyTorch solution)]

Baseline: one notebook graded for real (`grade_notebook`: sandboxed kernel, harness, scoring), as a regrade of one
submission runs it, on the full MNIST data. Its scoring inputs then seed a fresh SQLite database with N graded
submissions of the frameworks lab (each with its predictions perturbed, so every stored blob differs), through the
ORM. The lab's thresholds and points are changed in a copy of lab.toml, and `labgrader rescore --lab frameworks`
rescores all N from their stored outputs (timed as a whole command: process start, spec reload, every write).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from pathlib import Path

from sqlalchemy import insert

from bench import common
from bench.common import BENCH_ROOT, REPO, fresh_dir, labgrader, labgrader_env, table, timed
from grader.scoring.stored import STORED_EVALUATION_FORMAT, StoredEvaluation, pack_evaluation

DEFAULT_NOTEBOOK = REPO / "lab_tasks" / "frameworks" / "solutions" / "solution_pytorch.ipynb"


def grade_once(notebook: Path) -> tuple[float, StoredEvaluation, str]:
    """Grade the notebook in the bench's sandbox and data; returns (seconds, its scoring inputs, its report JSON)."""
    from grader.data.lab_data import LabData
    from grader.data.prepare import prepare_labs
    from grader.pipeline import GradingContext, grade_notebook
    from grader.spec.lab import discover_labs
    from grader.upload.notebook import parse_notebook
    from lab_tasks import LABS_DIR
    from server.settings import Settings

    os.environ.update({k: v for k, v in labgrader_env().items() if k.startswith("LABGRADER_")})
    settings = Settings()
    spec = discover_labs(LABS_DIR)["frameworks"]
    prepare_labs(settings.data_dir.resolve(), LABS_DIR, ["frameworks"])
    ctx = GradingContext(spec=spec, lab_data=LabData(settings.data_dir.resolve(), "frameworks"),
                         jobs_root=settings.jobs_root, sandbox=settings.sandbox_config(spec.environment),
                         environment=spec.environment)
    nb = parse_notebook(notebook.read_bytes(), 50 * 1024 * 1024)
    started = time.perf_counter()
    outcome = asyncio.run(grade_notebook(nb, ctx))
    seconds = time.perf_counter() - started
    assert outcome.stored_evaluation is not None
    return seconds, outcome.stored_evaluation, outcome.report.model_dump_json()


def _perturbed(inputs: StoredEvaluation, rng: random.Random) -> StoredEvaluation:
    """The same run with a few predictions changed, as another student's notebook would differ."""
    output = inputs.output
    if output is None:
        return inputs
    models = []
    for model in output.models:
        predictions = list(model.predictions or [])
        for i in rng.sample(range(len(predictions)), min(len(predictions), rng.randint(0, 150))):
            predictions[i] = rng.randint(0, 9)
        models.append(model.model_copy(update={"predictions": predictions or model.predictions}))
    return inputs.model_copy(update={"output": output.model_copy(update={"models": models})})


def seed(url: str, submissions: int, inputs: StoredEvaluation, report_json: str, students: int = 200) -> int:
    """N graded submissions with jobs, check results and stored outputs; returns the total stored bytes."""
    from grader.scoring.report import GradingReport
    from lab_tasks import LABS_DIR
    from server.db import make_engine, make_session_factory, transaction
    from server.jobs.models import CheckResultRow, GradingJob, JobStatus
    from server.jobs.results import check_row_values
    from server.labs.service import sync_labs
    from server.migrate import upgrade
    from server.rescore.models import StoredOutput
    from server.submissions.models import Submission
    from server.users.models import User
    from server.users.service import create_user

    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    report = GradingReport.model_validate_json(report_json)
    rng = random.Random(11)
    stored_bytes = 0
    with transaction(factory) as session:
        sync_labs(session, LABS_DIR)
        for i in range(students):
            create_user(session, f"student{i:03d}", "student")
    with transaction(factory) as session:
        student_ids = [u.id for u in session.query(User).filter(User.role == "student")]
    for first in range(0, submissions, 250):
        with transaction(factory) as session:
            for n in range(first, min(first + 250, submissions)):
                student = student_ids[n % len(student_ids)]
                submission = Submission(lab_id="frameworks", student_id=student, status=JobStatus.GRADED.value,
                                        score=report.score, max_score=report.max_score, filename="lab.ipynb")
                session.add(submission)
                session.flush()
                job = GradingJob(submission_id=submission.id, student_id=student, status=JobStatus.GRADED.value,
                                 attempt=1, score=report.score, report_json=report_json)
                session.add(job)
                session.flush()
                submission.current_job_id = job.id
                session.execute(insert(CheckResultRow), [
                    values | {"submission_id": submission.id, "job_id": job.id, "position": p}
                    for p, values in enumerate(check_row_values(report))])
                packed = pack_evaluation(_perturbed(inputs, rng))
                assert packed is not None
                stored_bytes += len(packed)
                session.add(StoredOutput(submission_id=submission.id, job_id=job.id, format=STORED_EVALUATION_FORMAT,
                                         size_bytes=len(packed), content=packed))
    engine.dispose()
    return stored_bytes


def changed_lab(labs: Path) -> None:
    """A copy of the frameworks lab.toml with stricter thresholds and other point values."""
    original = (REPO / "lab_tasks" / "frameworks" / "lab.toml").read_text()
    changed = (original.replace("full_credit_at = 0.97", "full_credit_at = 0.98")
               .replace("points = 30", "points = 40").replace("patience = 3", "patience = 2"))
    assert changed != original
    (labs / "frameworks").mkdir(parents=True)
    (labs / "frameworks" / "lab.toml").write_text(changed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--notebook", type=Path, default=DEFAULT_NOTEBOOK)
    parser.add_argument("--runs", type=int, default=3, help="rescore runs (each on a freshly seeded database)")
    args = parser.parse_args()
    common.ensure_lab_data()
    print(common.machine())
    grade_s, inputs, report_json = grade_once(args.notebook)
    score = json.loads(report_json)["checks"]
    print(f"re-running one notebook ({args.notebook.name}): {grade_s:.2f} s "
          f"({sum(c['score'] for c in score):g} points)")
    rows = []
    for run in range(args.runs):
        root = fresh_dir(BENCH_ROOT / "rescore" / f"run{run}")
        url = f"sqlite:///{root / 'labgrader.db'}"
        stored = seed(url, args.submissions, inputs, report_json)
        changed_lab(root / "labs")
        env = labgrader_env(LABGRADER_DATABASE_URL=url, LABGRADER_LABS_DIR=str(root / "labs"))
        rescore = timed(labgrader("rescore", "--lab", "frameworks", "--json"), env=env)
        body = json.loads(rescore.stdout)
        assert rescore.returncode == 0 and body["rescored"] == args.submissions, rescore.stdout
        rows.append((run + 1, args.submissions, stored / args.submissions / 1024, body["seconds"], rescore.wall_s,
                     rescore.peak_mb, grade_s / rescore.wall_s))
    print(table(["run", "submissions", "stored kB each", "rescore s (in-process)", "rescore s (command)",
                 "peak MB", "one re-run / whole rescore"], rows))
    best = min(r[4] for r in rows)
    print(f"\nrescoring {args.submissions} stored submissions took {best:.2f} s (whole command, best of "
          f"{args.runs}); re-running one notebook took {grade_s:.2f} s: ratio {grade_s / best:.1f} "
          f"(one re-run / rescoring all {args.submissions}); per submission, rescoring is "
          f"{grade_s * args.submissions / best:,.0f}x faster than regrading")


if __name__ == "__main__":
    main()
