"""`labgrader`: serve, worker, users, roster, grade, submit, export, rescore, datasets, labs, kernels, db."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

import lab_tasks
from server.cli import kernels
from server.settings import Settings


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
        prepare_labs(settings.data_dir.resolve(), lab_ids, lab_tasks.data_module)
    except Exception as exc:  # a lab whose data is missing fails its jobs with the reason; the others still run
        logging.getLogger("labgrader.worker").error("preparing lab data failed: %s", exc)
    with factory() as session:
        warn_missing_datasets(settings.data_dir.resolve(),
                              {spec.id: spec.datasets() for spec in list_specs(session)},
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


def cmd_users_add(args: argparse.Namespace) -> int:
    from server.db import make_engine, make_session_factory, transaction
    from server.migrate import upgrade
    from server.users.service import create_user

    settings = _settings()
    upgrade(settings.database_url)  # a first `users add` before the first `serve` must work too
    engine = make_engine(settings.database_url)
    with transaction(make_session_factory(engine)) as session:
        issued = create_user(session, args.name, args.role)
    engine.dispose()
    if args.json:
        print(json.dumps({"name": issued.name, "role": issued.role, "token": issued.token}))
    else:
        print(f"Created {issued.role} {issued.name}. Their API token (shown once, store it now):\n{issued.token}")
    return 0


def cmd_users_lifecycle(args: argparse.Namespace) -> int:
    """`users reset-token|revoke|disable|enable|delete NAME`: audited with the operator's login as the actor."""
    import getpass

    from server.db import make_engine, make_session_factory, transaction
    from server.migrate import upgrade
    from server.roster import lifecycle

    settings = _settings()
    upgrade(settings.database_url)
    actor = f"cli:{getpass.getuser()}"
    action = lifecycle.RosterAction(args.users_command)
    if action is lifecycle.RosterAction.DELETE and not args.yes:
        print(f"error: deleting {args.name} removes all their submissions too; repeat with --yes to confirm",
              file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            if action is lifecycle.RosterAction.RESET_TOKEN:
                issued = lifecycle.reset_token(session, args.name, actor)
                if args.json:
                    print(json.dumps({"name": issued.name, "role": issued.role, "token": issued.token}))
                else:
                    print(f"New API token for {issued.name} (shown once; the old one no longer works):\n"
                          f"{issued.token}")
            elif action is lifecycle.RosterAction.REVOKE:
                lifecycle.revoke_token(session, args.name, actor)
                print(f"{args.name}'s token is revoked; `labgrader users reset-token {args.name}` issues a new one")
            elif action in (lifecycle.RosterAction.DISABLE, lifecycle.RosterAction.ENABLE):
                lifecycle.set_disabled(session, args.name, actor, action is lifecycle.RosterAction.DISABLE)
                print(f"{args.name} is {'disabled' if action is lifecycle.RosterAction.DISABLE else 'enabled'}")
            else:
                count = lifecycle.delete_user(session, args.name, actor)
                print(f"deleted {args.name} and their {count} submission(s)")
    finally:
        engine.dispose()
    return 0


def cmd_roster_import(args: argparse.Namespace) -> int:
    from server.db import make_engine, make_session_factory, transaction
    from server.migrate import upgrade
    from server.users.service import import_roster

    settings = _settings()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    with transaction(make_session_factory(engine)) as session:
        issued = import_roster(session, Path(args.file).read_text(encoding="utf-8"))
    engine.dispose()
    print("name,role,token")
    for user in issued:
        print(f"{user.name},{user.role},{user.token}")
    print(f"{len(issued)} users created; their tokens are shown only this once", file=sys.stderr)
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from grader import (
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
    prepare_labs(settings.data_dir.resolve(), [args.lab], lab_tasks.data_module)
    spec = labs[args.lab]
    try:
        ctx = settings.grading_context(spec)
        outcome = asyncio.run(grade_notebook(nb, ctx))
    except SandboxUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except (EnvironmentUnavailable, InfrastructureError) as exc:  # the kernel did not start: its stderr says why
        print(f"error: {exc}", file=sys.stderr)
        return 4
    report = outcome.report
    if args.json:
        checks = [c.model_dump(include={"id", "title", "passed", "score", "max_score", "message"})
                  for c in report.checks]
        print(json.dumps({"lab_id": report.lab_id, "status": "graded", "score": report.score,
                          "max_score": report.max_score, "checks": checks, "note": report.execution_note or None,
                          "discovery": list(report.discovery), "timings_s": report.timings_s,
                          "isolation": report.isolation}, indent=2))
    else:
        print(format_report(report.model_dump()))
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from server.cli.client import SubmitError, submit

    token = args.token or os.environ.get("LABGRADER_TOKEN")
    if not token:
        print("error: give your API token with --token or the LABGRADER_TOKEN environment variable", file=sys.stderr)
        return 2
    try:
        return submit(Path(args.notebook), args.lab, args.server, token, wait=not args.no_wait, as_json=args.json)
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

    users = sub.add_parser("users", help="manage users").add_subparsers(dest="users_command", required=True)
    add = users.add_parser("add", help="create a user and print its API token once")
    add.add_argument("name")
    add.add_argument("--role", choices=["student", "instructor"], required=True)
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=cmd_users_add)
    for name, text in [("reset-token", "issue a new API token (shown once); the old one stops working"),
                       ("revoke", "make the user's token stop working now"),
                       ("disable", "the user can no longer log in or call the API (their grades stay)"),
                       ("enable", "undo disable"),
                       ("delete", "remove the user and all their submissions")]:
        life = users.add_parser(name, help=text)
        life.add_argument("name")
        if name == "reset-token":
            life.add_argument("--json", action="store_true")
        if name == "delete":
            life.add_argument("--yes", action="store_true", help="confirm: their submissions are deleted too")
        life.set_defaults(func=cmd_users_lifecycle)

    roster = sub.add_parser("roster", help="many users at once").add_subparsers(dest="roster_command", required=True)
    imp = roster.add_parser("import", help="create users from a CSV with columns name,role")
    imp.add_argument("file")
    imp.set_defaults(func=cmd_roster_import)

    grade = sub.add_parser("grade", help="grade a notebook locally in the sandbox, no server")
    grade.add_argument("notebook")
    grade.add_argument("--lab", required=True)
    grade.add_argument("--json", action="store_true")
    grade.set_defaults(func=cmd_grade)

    submit = sub.add_parser("submit", help="upload a notebook to a server and wait for its report")
    submit.add_argument("notebook")
    submit.add_argument("--lab", required=True)
    submit.add_argument("--server", default=os.environ.get("LABGRADER_SERVER", "http://127.0.0.1:8000"))
    submit.add_argument("--token", default=None)
    submit.add_argument("--no-wait", action="store_true")
    submit.add_argument("--json", action="store_true")
    submit.set_defaults(func=cmd_submit)

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

    labs = sub.add_parser("labs", help="lab folders: list, validate, new")
    lsub = labs.add_subparsers(dest="labs_command", required=True)
    llist = lsub.add_parser("list", help="the labs under LABGRADER_LABS_DIR (or the bundled ones), with their data")
    llist.add_argument("--json", action="store_true")
    llist.set_defaults(func=cmd_labs)
    lval = lsub.add_parser("validate", help="check a lab folder (or its lab.toml); every error names key and line")
    lval.add_argument("path")
    lval.set_defaults(func=cmd_labs)
    lnew = lsub.add_parser("new", help="a new lab folder with a lab.toml, starter and solution that validate")
    lnew.add_argument("name")
    lnew.add_argument("--dir", default=None, help="where to create it (default LABGRADER_LABS_DIR, else here)")
    lnew.set_defaults(func=cmd_labs)

    datasets = sub.add_parser("datasets", help="lab data: fetch, import, status")
    dsub = datasets.add_subparsers(dest="datasets_command", required=True)
    dsub.add_parser("fetch", help="download the lab datasets and verify their checksums").set_defaults(
        func=cmd_datasets)
    dimp = dsub.add_parser(
        "import", help="import a dataset file you already have (mnist.npz), or with --lab/--dataset your own "
                       "evaluation data (.npz or .csv) for one of a lab's datasets",
        epilog="With --lab and --dataset: FILE.npz holds x_train, y_train, x_test, y_test (the test part is hidden) or "
               "x, y (a stratified share is hidden); FILE.csv has a header row and a label column. The hidden part "
               "never enters a sandbox.")
    dimp.add_argument("path")
    dimp.add_argument("--lab", default=None)
    dimp.add_argument("--dataset", default=None, help="the dataset id the lab's checks name")
    dimp.add_argument("--label", default=None, help="CSV: the label column (default: the last one)")
    dimp.add_argument("--hidden-fraction", type=float, default=0.2,
                      help="share of rows hidden when FILE has no split of its own (default 0.2)")
    dimp.set_defaults(func=cmd_datasets)
    dsub.add_parser("status", help="what is prepared, with checksums").set_defaults(func=cmd_datasets)
    kernels.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from server.errors import DomainError

    try:
        code: int = args.func(args)
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
