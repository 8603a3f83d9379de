"""`labgrader datasets fetch|import PATH|status`: the frameworks lab's data, downloaded, imported or inspected."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.settings import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    from grader import DatasetError
    from lab_tasks.frameworks import data

    data_dir = settings.data_dir.resolve()
    try:
        if args.datasets_command == "import":
            print(data.import_source(data_dir, Path(args.path)))
        elif args.datasets_command == "fetch":
            print(data.fetch(data_dir))
        else:
            print("\n".join(data.status(data_dir)))
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
