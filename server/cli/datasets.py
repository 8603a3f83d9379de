"""`labgrader datasets fetch|import PATH|status`: the frameworks lab's data, downloaded, imported or inspected; and
`datasets import --lab LAB --dataset ID FILE`: an instructor's own evaluation data for any lab."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.settings import Settings


def import_lab_data(args: argparse.Namespace, settings: Settings) -> int:
    """`datasets import --lab LAB --dataset ID FILE`: an instructor's evaluation data for one of a lab's datasets."""
    from grader import DatasetError, LabData, SpecInvalid, import_private_data, load_spec

    toml = settings.labs_dir / args.lab / "lab.toml"
    try:
        spec = load_spec(toml) if toml.is_file() else None
    except SpecInvalid as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if spec is None:
        print(f"error: no lab {args.lab!r} in {toml.parent.parent} (labgrader labs list)", file=sys.stderr)
        return 2
    if args.dataset not in spec.evaluated_datasets():
        print(f"error: no check of lab {args.lab} uses a dataset {args.dataset!r}; its checks use: "
              f"{', '.join(sorted(spec.evaluated_datasets())) or 'none'}", file=sys.stderr)
        return 2
    try:
        print(import_private_data(LabData(settings.data_dir.resolve(), args.lab), args.dataset, Path(args.path),
                             label=args.label, hidden_fraction=args.hidden_fraction))
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    from grader import DatasetError
    from lab_tasks.frameworks import data

    if args.datasets_command == "import" and (args.lab or args.dataset):
        if not (args.lab and args.dataset):
            print("error: give both --lab and --dataset (or neither, to import MNIST for the frameworks lab)",
                  file=sys.stderr)
            return 2
        return import_lab_data(args, settings)
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
