"""`labgrader datasets fetch|import PATH|status`: the source files the labs declare, downloaded, imported or
inspected; and `datasets import --lab LAB --dataset ID FILE`: an instructor's own evaluation data for any lab."""

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
    declared = sorted(d.id for d in spec.datasets)
    if args.dataset not in declared:
        print(f"error: lab {args.lab} declares no dataset {args.dataset!r}; it declares: "
              f"{', '.join(declared) or 'none'}", file=sys.stderr)
        return 2
    try:
        print(import_private_data(LabData(settings.data_dir.resolve(), args.lab), spec.dataset(args.dataset),
                                  Path(args.path), label=args.label, hidden_fraction=args.hidden_fraction))
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    from grader import DatasetError, SpecInvalid, dataset_status, discover_labs, fetch_sources, import_source

    if args.datasets_command == "import" and (args.lab or args.dataset):
        if not (args.lab and args.dataset):
            print("error: give both --lab and --dataset (or neither, to import a source file a lab declares)",
                  file=sys.stderr)
            return 2
        return import_lab_data(args, settings)
    data_dir = settings.data_dir.resolve()
    try:
        labs = discover_labs(settings.labs_dir)
        if args.datasets_command == "import":
            lines = import_source(data_dir, labs, Path(args.path), args.as_file)
        elif args.datasets_command == "fetch":
            lines = fetch_sources(data_dir, labs)
        else:
            lines = dataset_status(data_dir, labs)
    except (DatasetError, SpecInvalid) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0
