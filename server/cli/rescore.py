"""`labgrader rescore --lab LAB`: the lab.toml as it is now, applied to every graded submission's stored outputs."""

from __future__ import annotations

import argparse
import json
import sys

from server.settings import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every graded submission was rescored, 1 when some need a regrade (the output says why)."""
    from server.db import make_engine, make_session_factory
    from server.migrate import upgrade
    from server.rescore.schemas import RescoreOut
    from server.rescore.service import rescore_lab

    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            summary = rescore_lab(session, args.lab, settings.labs_dir, settings.data_dir.resolve())
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(RescoreOut.from_summary(summary).model_dump(), indent=2))
        return 1 if summary.not_rescored else 0
    print(f"rescored {summary.rescored} submission{'s' if summary.rescored != 1 else ''} of lab {summary.lab_id} "
          f"from their stored outputs in {summary.seconds:.2f} s ({summary.changed} changed); no notebook ran")
    if summary.pending:
        print(f"{summary.pending} submission(s) are queued or running: their results will use the current lab.toml")
    for reason, ids in sorted(summary.not_rescored.items()):
        shown = ", ".join(str(i) for i in ids[:20]) + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")
        print(f"{len(ids)} submission(s) could not be rescored ({shown}): {reason}", file=sys.stderr)
    if summary.not_rescored:
        print(f"regrade them (runs every notebook again: minutes): the dashboard's \"Regrade all\" on "
              f"/dashboard/labs/{summary.lab_id}, or POST /api/v1/labs/{summary.lab_id}/regrade", file=sys.stderr)
        return 1
    return 0
