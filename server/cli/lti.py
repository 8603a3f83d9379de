"""`labgrader lti add-platform|platforms|passbacks|rotate-key`: LMS registrations, the grade passback ledger and
the tool's keys from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from server.lti import MISSING_EXTRA, lti_installed
from server.settings import Settings


def cmd_add_platform(args: argparse.Namespace) -> int:
    from server.cli.users import _roster_session
    from server.lti.keys import ToolKeys
    from server.lti.service import register_deployments

    with _roster_session() as session:
        platforms = register_deployments(session, issuer=args.issuer, client_id=args.client_id,
                                         deployment_ids=args.deployment_id, keyset_url=args.keyset_url,
                                         auth_url=args.auth_url, token_url=args.token_url)
        registered = [(p.id, p.deployment_id) for p in platforms]
    ToolKeys.for_data_dir(Settings().data_dir).ensure()
    for platform_id, deployment_id in registered:
        print(f"Registered LTI platform {platform_id}: {args.issuer} (client id {args.client_id}, deployment "
              f"{deployment_id}).")
    print("In the LMS, set the tool's URLs on this server: login /lti/login, launch (redirect) /lti/launch, public "
          "key set /lti/jwks.json.")
    return 0


def cmd_platforms(args: argparse.Namespace) -> int:
    from server.cli.users import _roster_session
    from server.lti.service import list_platforms

    with _roster_session() as session:
        rows = [{"id": p.id, "issuer": p.issuer, "client_id": p.client_id, "deployment_id": p.deployment_id,
                 "keyset_url": p.keyset_url, "auth_url": p.auth_url, "token_url": p.token_url}
                for p in list_platforms(session)]
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(f"{row['id']}\t{row['issuer']}\tclient {row['client_id']}\tdeployment {row['deployment_id']}")
    return 0


def cmd_passbacks(args: argparse.Namespace) -> int:
    from server.cli.users import _roster_session
    from server.lti.passback import list_passbacks

    with _roster_session() as session:
        rows = list_passbacks(session)
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(f"{row['lab_id']}\t{row['student']}\t{row['score']}\t{row['status']}\tattempts {row['attempts']}"
                  + (f"\t{row['last_error']}" if row["last_error"] else ""))
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    from server.lti.keys import ToolKeys

    key = ToolKeys.for_data_dir(Settings().data_dir).rotate(keep_old_h=args.keep_old_h)
    print(f"New signing key {key.kid}; the previous one stays in /lti/jwks.json for {args.keep_old_h:g} h.")
    return 0


def _needs_extra(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        if not lti_installed():
            print(f"error: {MISSING_EXTRA}", file=sys.stderr)
            return 2
        return command(args)
    return run


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lti = sub.add_parser("lti", help="LTI 1.3: LMS registrations, the tool's keys").add_subparsers(
        dest="lti_command", required=True)
    add = lti.add_parser("add-platform", help="register an LMS (the values it shows for the tool's registration)")
    add.add_argument("--issuer", required=True, help="the platform's issuer, e.g. https://canvas.instructure.com")
    add.add_argument("--client-id", required=True, help="the client id the LMS gave the tool")
    add.add_argument("--deployment-id", required=True, action="append",
                     help="the deployment id of the tool in the LMS (repeat it for several deployments)")
    add.add_argument("--keyset-url", required=True, help="the LMS's public key set (JWKS) URL")
    add.add_argument("--auth-url", required=True, help="the LMS's OIDC authorization (authentication request) URL")
    add.add_argument("--token-url", required=True, help="the LMS's OAuth2 access token URL")
    add.set_defaults(func=_needs_extra(cmd_add_platform))
    platforms = lti.add_parser("platforms", help="the registered LMSs")
    platforms.add_argument("--json", action="store_true")
    platforms.set_defaults(func=_needs_extra(cmd_platforms))
    passbacks = lti.add_parser("passbacks", help="each student's grade passback to the LMS: sent, pending, errors")
    passbacks.add_argument("--json", action="store_true")
    passbacks.set_defaults(func=_needs_extra(cmd_passbacks))
    rotate = lti.add_parser("rotate-key", help="a new signing key; the old one stays published for a while")
    rotate.add_argument("--keep-old-h", type=float, default=72.0,
                        help="hours the previous key stays in the published key set (default 72)")
    rotate.set_defaults(func=_needs_extra(cmd_rotate_key))
