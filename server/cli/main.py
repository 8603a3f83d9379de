"""`labgrader`: serve, worker, users, roster, grade, submit, export, rescore, datasets, labs, kernels, db."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from server.cli import kernels, users
from server.cli import lti as lti_cli
from server.scores import format_score, round_score
from server.settings import Settings

if TYPE_CHECKING:
    from grader import FileLimits, LabSpec, SubmittedFile
    from server.exports.policy import CountedAttempt


def _settings(**overrides: object) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from grader import discover_labs, probe_isolation
    from server.app import create_app
    from server.cli.kernels import refuse_on_failure
    from server.environments import check_environments
    from server.migrate import upgrade

    settings = _settings(jobs=args.jobs)
    upgrade(settings.database_url)
    environments = []
    if probe_isolation(settings.sandbox_config()).runs_student_code:  # else /healthz says why nothing is graded
        environments = check_environments(settings, list(discover_labs(settings.labs_dir).values()))
        if refuse_on_failure(environments, "serve"):
            return 3
    uvicorn.run(create_app(settings, environments=environments), host=args.host, port=args.port, log_level="info",
                access_log=False)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import logging

    from sqlalchemy import select

    from grader import WorkerConfigError, prepare_labs, probe_isolation, warn_missing_datasets
    from server.cli.kernels import refuse_on_failure
    from server.db import make_engine, make_session_factory
    from server.environments import check_environments
    from server.jobs.celery_worker import check_queues, default_queues, plan_slots, run_worker
    from server.labs.models import Lab
    from server.labs.service import list_specs

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _settings()
    gpus = [g.strip() for g in args.gpus.split(",") if g.strip()] if args.gpus else []
    try:
        slots = plan_slots(args.jobs or settings.jobs, gpus, args.jobs_per_gpu)
        queues = check_queues(args.queues.split(",") if args.queues else default_queues(slots), slots)
    except WorkerConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    isolation = probe_isolation(settings.sandbox_config())
    if not isolation.runs_student_code:
        print(f"error: this machine cannot run student code: {isolation.detail}", file=sys.stderr)
        return 3
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    with factory() as session:
        lab_ids = sorted(session.scalars(select(Lab.id)))
        specs = list_specs(session)
    if refuse_on_failure(check_environments(settings, specs), "worker"):
        engine.dispose()
        return 3
    try:
        prepare_labs(settings.data_dir.resolve(), settings.labs_dir, lab_ids)
    except Exception as exc:  # a lab whose data is missing fails its jobs with the reason; the others still run
        logging.getLogger("labgrader.worker").error("preparing lab data failed: %s", exc)
    with factory() as session:
        warn_missing_datasets(settings.data_dir.resolve(),
                              {spec.id: spec.evaluated_datasets() for spec in list_specs(session)},
                              logging.getLogger("labgrader.worker"))
    try:
        return run_worker(settings, factory, slots, queues, args.sweep_every or max(1.0, settings.lease_s / 3),
                          args.requeue_after)
    finally:
        engine.dispose()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from server.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    print(f"database at {settings.database_url.split('@')[-1]} is at the latest schema")
    return 0


def read_files(paths: list[str], limits: FileLimits) -> tuple[SubmittedFile, ...]:
    """The files named by `--with`, read and checked as the server checks them (a .zip is unpacked)."""
    from grader import collect_files

    uploads = []
    for name in paths:
        path = Path(name)
        if path.is_symlink() or not path.is_file():
            raise OSError(f"{name}: not a plain file (links and folders are refused; zip a folder)")
        if path.stat().st_size > limits.max_total_bytes:
            raise OSError(f"{name}: larger than the {limits.max_total_bytes / 2**20:g} MB limit on submitted files")
        uploads.append((path.name, path.read_bytes()))
    return collect_files(uploads, limits)


def cmd_grade(args: argparse.Namespace) -> int:
    from grader import (
        AttachmentsInvalid,
        EnvironmentUnavailable,
        InfrastructureError,
        NotebookInvalid,
        SandboxUnavailable,
        discover_labs,
        grade_notebook,
        parse_notebook,
        prepare_labs,
    )
    from server.cli.render import format_report

    settings = _settings()
    labs = discover_labs(settings.labs_dir)
    if args.lab not in labs:
        print(f"error: no lab {args.lab!r}; labs: {', '.join(sorted(labs))}", file=sys.stderr)
        return 2
    path = Path(args.notebook)
    try:
        nb = parse_notebook(path.read_bytes(), settings.max_upload_bytes)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NotebookInvalid as exc:
        print(f"error: {path.name}: {exc}", file=sys.stderr)
        return 2
    try:
        files = read_files(args.with_files or [], settings.file_limits())
    except (OSError, AttachmentsInvalid) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    prepare_labs(settings.data_dir.resolve(), settings.labs_dir, [args.lab])
    spec = labs[args.lab]
    try:
        ctx = dataclasses.replace(settings.grading_context(spec), files=files)
        outcome = asyncio.run(grade_notebook(nb, ctx))
    except SandboxUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except (EnvironmentUnavailable, InfrastructureError) as exc:  # the kernel did not start: its stderr says why
        print(f"error: {exc}", file=sys.stderr)
        return 4
    report = outcome.report
    late = late_now(spec, report.score)
    if args.json:
        from server.exports.policy import counted_fields

        checks = [c.model_dump(include={"id", "title", "passed", "score", "max_score", "message"})
                  for c in report.checks]
        print(json.dumps({"lab_id": report.lab_id, "status": "graded", "score": round_score(report.score),
                          "max_score": report.max_score, "checks": checks, "note": report.execution_note or None,
                          **counted_fields(late).as_dict(),
                          "discovery": list(report.discovery), "timings_s": report.timings_s,
                          "isolation": report.isolation}, indent=2))
    else:
        print(format_report(report.model_dump()))
        if late.days_late:
            print(f"Counted if submitted now: {format_score(late.score)} / {format_score(report.max_score)} "
                  f"({late.reason})")
    return 0


def late_now(spec: LabSpec, score: float) -> CountedAttempt:
    """What the lab's late policy would make of this score if it were submitted now (the database clock is the
    server's; this is the local one)."""
    from server.exports.policy import Attempt, assess, parse_deadline

    now = datetime.now(UTC).replace(tzinfo=None)
    return assess(Attempt(0, now, score), spec.submission, parse_deadline(spec.submission.deadline))


def _api_token(args: argparse.Namespace) -> str | None:
    """The token of `submit` and `wait`: --token or LABGRADER_TOKEN; None (having said so) when there is neither."""
    token: str | None = args.token or os.environ.get("LABGRADER_TOKEN")
    if not token:
        print("error: give your API token with --token or the LABGRADER_TOKEN environment variable", file=sys.stderr)
    return token or None


def cmd_submit(args: argparse.Namespace) -> int:
    from server.cli.client import SubmitError, submit

    token = _api_token(args)
    if token is None:
        return 2
    try:
        return submit(Path(args.notebook), args.lab, args.server, token, wait=not args.no_wait, as_json=args.json,
                      files=[Path(f) for f in args.with_files or []])
    except SubmitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def cmd_wait(args: argparse.Namespace) -> int:
    from server.cli.client import SubmitError, wait_for

    token = _api_token(args)
    if token is None:
        return 2
    try:
        return wait_for(args.submission_id, args.server, token, as_json=args.json)
    except SubmitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def cmd_export(args: argparse.Namespace) -> int:
    from server.exports.cli import run_export

    return run_export(args, _settings())


def cmd_datasets(args: argparse.Namespace) -> int:
    from server.cli.datasets import run

    return run(args, _settings())


def cmd_rescore(args: argparse.Namespace) -> int:
    from server.cli.rescore import run

    return run(args, _settings())


def cmd_labs(args: argparse.Namespace) -> int:
    from server.cli.labs import run

    return run(args, _settings())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labgrader", description="Autograde machine-learning lab notebooks.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, then serve the API and dashboard with the embedded executor")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--jobs", type=int, default=None, help="concurrent grading jobs (default 1)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser(
        "worker", help="grade jobs from RabbitMQ (LABGRADER_QUEUE=celery) against the shared database",
        epilog="Two workers on one host need different LABGRADER_SANDBOX_UID_BASE values (each slot runs as "
               "base + slot number and its leftover processes are swept by uid).")
    worker.add_argument("--jobs", type=int, default=None, help="CPU job slots (default LABGRADER_JOBS, 1)")
    worker.add_argument("--gpus", default=None, help="GPU device numbers, e.g. 0,1: every slot then gets one GPU")
    worker.add_argument("--jobs-per-gpu", type=int, default=1, help="slots per GPU, each with 1/K of its memory")
    worker.add_argument("--queues", default=None,
                        help="comma-separated broker queues (default live,regrade; live-gpu,regrade-gpu with --gpus)")
    worker.add_argument("--sweep-every", type=float, default=None, metavar="S",
                        help="seconds between sweeps for expired leases and lost messages (default lease/3)")
    worker.add_argument("--requeue-after", type=float, default=30.0, metavar="S",
                        help="re-announce a job queued this long that the broker has no message for (default 30)")
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply every migration").set_defaults(func=cmd_db_upgrade)

    users.add_parser(sub)

    grade = sub.add_parser("grade", help="grade a notebook locally in the sandbox, no server")
    grade.add_argument("notebook")
    grade.add_argument("--lab", required=True)
    grade.add_argument("--json", action="store_true")
    grade.add_argument("--with", dest="with_files", action="extend", nargs="+", metavar="FILE",
                       help="files the notebook reads, placed beside it (a .zip is unpacked)")
    grade.set_defaults(func=cmd_grade)

    submit = sub.add_parser("submit", help="upload a notebook to a server and wait for its report")
    submit.add_argument("notebook")
    submit.add_argument("--lab", required=True)
    submit.add_argument("--server", default=os.environ.get("LABGRADER_SERVER", "http://127.0.0.1:8000"))
    submit.add_argument("--token", default=None)
    submit.add_argument("--no-wait", action="store_true")
    submit.add_argument("--json", action="store_true")
    submit.add_argument("--with", dest="with_files", action="extend", nargs="+", metavar="FILE",
                        help="files the notebook reads, uploaded with it (a .zip is unpacked by the server)")
    submit.set_defaults(func=cmd_submit)
    wait = sub.add_parser("wait", help="follow a submission (queue position, estimate, heartbeat) and print its report")
    wait.add_argument("submission_id", type=int)
    wait.add_argument("--server", default=os.environ.get("LABGRADER_SERVER", "http://127.0.0.1:8000"))
    wait.add_argument("--token", default=None)
    wait.add_argument("--json", action="store_true")
    wait.set_defaults(func=cmd_wait)

    export = sub.add_parser("export", help="a lab's gradebook as CSV, Canvas CSV or Gradescope results JSON")
    export.add_argument("--lab", required=True)
    export.add_argument("--format", choices=["csv", "canvas", "gradescope"], default="csv")
    export.add_argument("--output", default=None, help="write to this file instead of stdout")
    export.set_defaults(func=cmd_export)

    rescore = sub.add_parser(
        "rescore", help="apply the lab.toml as it is now to every graded submission's stored outputs (no kernel)",
        epilog="Seconds for a whole lab: thresholds, points and checks on models already evaluated. A new dataset "
               "or model slot cannot be answered from stored outputs: it says so, and a regrade runs the notebooks.")
    rescore.add_argument("--lab", required=True)
    rescore.add_argument("--json", action="store_true", help="print the API's answer (POST /api/v1/labs/LAB/rescore)")
    rescore.set_defaults(func=cmd_rescore)

    labs = sub.add_parser("labs", help="lab folders: list, validate, test, new")
    lsub = labs.add_subparsers(dest="labs_command", required=True)
    llist = lsub.add_parser("list", help="the labs under LABGRADER_LABS_DIR (or the bundled ones), with their data")
    llist.add_argument("--json", action="store_true")
    llist.set_defaults(func=cmd_labs)
    lval = lsub.add_parser("validate", help="check labs by id (under LABGRADER_LABS_DIR) or path (a folder or its "
                                            "lab.toml); every error names key and line; exits 1 if any lab fails")
    lval.add_argument("labs", nargs="+", metavar="LAB")
    lval.set_defaults(func=cmd_labs)
    ltest = lsub.add_parser("test", help="grade the notebooks a lab's expectations.toml lists and compare each check "
                                         "with what it should earn; exits 1 when any is not as expected")
    ltest.add_argument("labs", nargs="+", metavar="LAB")
    ltest.add_argument("--json", action="store_true")
    ltest.set_defaults(func=cmd_labs)
    lnew = lsub.add_parser("new", help="a new lab folder with a lab.toml, starter and solution that validate")
    lnew.add_argument("name")
    lnew.add_argument("--dir", default=None, help="where to create it (default LABGRADER_LABS_DIR, else here)")
    lnew.set_defaults(func=cmd_labs)

    datasets = sub.add_parser("datasets", help="lab data: fetch, import, status")
    dsub = datasets.add_subparsers(dest="datasets_command", required=True)
    dsub.add_parser("fetch", help="download the source files the labs declare (url) and verify their "
                                  "sha256").set_defaults(func=cmd_datasets)
    dimp = dsub.add_parser(
        "import", help="import a source file a lab declares (`[datasets.source] file`, found by name or sha256), or "
                       "with --lab/--dataset your own evaluation data (.npz, .csv or an image folder) for one of a "
                       "lab's datasets",
        epilog="With --lab and --dataset: FILE.npz holds x_train, y_train, x_test, y_test (the test part is hidden) or "
               "x, y (a stratified share is hidden); FILE.csv has a header row and a label column; a FOLDER holds "
               "one sub-folder of images per class (or train/ and test/ with those). The hidden part never enters a "
               "sandbox.")
    dimp.add_argument("path")
    dimp.add_argument("--as", dest="as_file", default=None, metavar="NAME",
                      help="the declared source file PATH stands for (a subset of it, under another name)")
    dimp.add_argument("--lab", default=None)
    dimp.add_argument("--dataset", default=None, help="the dataset id the lab's checks name")
    dimp.add_argument("--label", default=None, help="CSV: the label column (default: the last one)")
    dimp.add_argument("--hidden-fraction", type=float, default=0.2,
                      help="share of rows hidden when FILE has no split of its own (default 0.2)")
    dimp.set_defaults(func=cmd_datasets)
    dsub.add_parser("status", help="what is prepared, with checksums").set_defaults(func=cmd_datasets)
    kernels.add_parser(sub)
    lti_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from pydantic import ValidationError

    from grader import SpecInvalid
    from server.errors import DomainError
    from server.secret_key import SecretKeyUnusable

    try:
        code: int = args.func(args)
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except ValidationError as exc:  # the settings from the environment: one line per refused setting
        for error in exc.errors():
            print(f"error: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    except SecretKeyUnusable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SpecInvalid as exc:  # a lab the service was asked to load (LABGRADER_LABS_DIR) does not validate
        print(f"error: {exc} (`labgrader labs validate PATH` lists every problem of a lab)", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
