"""`labgrader users add|list|reset-token|revoke|disable|enable|delete` and `roster import`: the roster from the command
line, each change in one transaction on a migrated database (a first `users add` before the first `serve` works)."""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from server.settings import Settings

if TYPE_CHECKING:  # the ORM costs ~0.3 s to import: only the roster commands that open a session pay it
    from sqlalchemy.orm import Session


@contextmanager
def _roster_session() -> Iterator[Session]:
    """One transaction on the configured database, migrated to the latest schema first."""
    from server.db import make_engine, make_session_factory, transaction
    from server.migrate import upgrade

    settings = Settings()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def cmd_users_add(args: argparse.Namespace) -> int:
    from server.users.service import create_user

    with _roster_session() as session:
        issued = create_user(session, args.name, args.role)
    if args.json:
        print(json.dumps({"name": issued.name, "role": issued.role, "token": issued.token}))
    else:
        print(f"Created {issued.role} {issued.name}. Their API token (shown once, store it now):\n{issued.token}")
    return 0


def cmd_users_lifecycle(args: argparse.Namespace) -> int:
    """`users reset-token|revoke|disable|enable|delete NAME`: audited with the operator's login as the actor."""
    from server.roster import lifecycle

    actor = f"cli:{getpass.getuser()}"
    action = lifecycle.RosterAction(args.users_command)
    if action is lifecycle.RosterAction.DELETE and not args.yes:
        print(f"error: deleting {args.name} removes all their submissions too; repeat with --yes to confirm",
              file=sys.stderr)
        return 2
    with _roster_session() as session:
        if action is lifecycle.RosterAction.RESET_TOKEN:
            issued = lifecycle.reset_token(session, args.name, actor)
            if args.json:
                print(json.dumps({"name": issued.name, "role": issued.role, "token": issued.token}))
            else:
                print(f"New API token for {issued.name} (shown once; the old one no longer works):\n{issued.token}")
        elif action is lifecycle.RosterAction.REVOKE:
            lifecycle.revoke_token(session, args.name, actor)
            print(f"{args.name}'s token is revoked; `labgrader users reset-token {args.name}` issues a new one")
        elif action in (lifecycle.RosterAction.DISABLE, lifecycle.RosterAction.ENABLE):
            lifecycle.set_disabled(session, args.name, actor, action is lifecycle.RosterAction.DISABLE)
            print(f"{args.name} is {'disabled' if action is lifecycle.RosterAction.DISABLE else 'enabled'}")
        else:
            count = lifecycle.delete_user(session, args.name, actor)
            print(f"deleted {args.name} and their {count} submission(s)")
    return 0


def cmd_roster_import(args: argparse.Namespace) -> int:
    """Upsert the roster; the new users' tokens go to stdout (or --tokens FILE) as a mail-merge CSV."""
    from server.roster.importer import import_roster, tokens_csv

    with _roster_session() as session:
        result = import_roster(session, Path(args.file).read_text(encoding="utf-8-sig"))
    if args.tokens:
        Path(args.tokens).write_text(tokens_csv(result.added), encoding="utf-8")
    else:
        print(tokens_csv(result.added), end="")
    print(f"{result.summary}; the new users' tokens are shown only this once"
          + (f", in {args.tokens}" if args.tokens else ""), file=sys.stderr)
    for name in result.updated:
        print(f"updated: {name}", file=sys.stderr)
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    """Every user: name, role, full name, email, student id, state (never a token)."""
    from sqlalchemy import select

    from server.users.models import User

    with _roster_session() as session:
        users = session.scalars(select(User).order_by(User.role, User.name)).all()
        rows = [{"name": u.name, "role": u.role, "full_name": u.full_name or "", "email": u.email or "",
                 "student_id": u.student_number or "",
                 "state": "disabled" if u.disabled_at else ("token revoked" if u.token_revoked_at else "active")}
                for u in users]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["name", "role", "full_name", "email", "student_id", "state"])
    writer.writerows(list(r.values()) for r in rows)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = sub.add_parser("users", help="manage users").add_subparsers(dest="users_command", required=True)
    add = users.add_parser("add", help="create a user and print its API token once")
    add.add_argument("name")
    add.add_argument("--role", choices=["student", "ta", "instructor"], required=True,
                     help="ta: view, comment, override and regrade; no roster or lab administration")
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=cmd_users_add)
    listing = users.add_parser("list", help="every user with role, full name, email, student id and state (CSV)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_users_list)
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
    imp = roster.add_parser("import", help="add new users and update known ones from a CSV (name,role,full_name,"
                                           "email,student_id; or a Canvas or Moodle export as it comes)")
    imp.add_argument("file")
    imp.add_argument("--tokens", metavar="FILE", help="write the new users' tokens (mail-merge CSV) here, not stdout")
    imp.set_defaults(func=cmd_roster_import)
