"""`labgrader labs list|validate LAB...|test LAB...|new NAME`: the labs this server loads, lab folders checked key by
key (by id or path), their notebooks graded against their expectations (server.cli.lab_test), and a new lab's
skeleton that validates."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from server.settings import Settings

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.labs_command == "list":
        return list_labs(settings, as_json=args.json)
    if args.labs_command == "validate":
        return validate_all(args.labs, settings.labs_dir)
    if args.labs_command == "test":
        from server.cli.lab_test import run_lab_tests

        return run_lab_tests(args.labs, settings, as_json=args.json)
    return new_lab(args.name, Path(args.dir) if args.dir else settings.labs_dir, settings.labs_dir)


def list_labs(settings: Settings, *, as_json: bool) -> int:
    """One line per lab folder under the labs directory: checks, points, data installed here, or what is wrong."""
    from grader import LabData, find_spec_problems, load_spec

    root = settings.labs_dir
    rows = []
    for toml in sorted(root.glob("*/lab.toml")):
        problems = find_spec_problems(toml.parent)
        if problems:
            rows.append({"id": toml.parent.name, "valid": False, "path": str(toml.parent),
                         "problem": f"{problems[0]} ({len(problems)} problem(s): labgrader labs validate "
                                    f"{toml.parent})"})
            continue
        spec = load_spec(toml)
        lab = LabData(settings.data_dir.resolve(), spec.id)
        rows.append({"id": spec.id, "valid": True, "path": str(toml.parent), "title": spec.title,
                     "checks": len(spec.checks), "max_score": spec.max_score,
                     "datasets": {d: lab.has_dataset(d) for d in sorted(spec.evaluated_datasets())}})
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no labs in {root} (a lab is a folder with a lab.toml: labgrader labs new NAME)")
        return 0
    print(f"labs in {root}:")
    for row in rows:
        if not row["valid"]:
            print(f"  {row['id']}: INVALID: {row['problem']}")
            continue
        datasets = row["datasets"]
        assert isinstance(datasets, dict)
        data = ", ".join(f"{d} {'installed' if ok else 'missing'}" for d, ok in datasets.items()) or "none"
        checks = f"{row['checks']} check{'s' if row['checks'] != 1 else ''}"
        print(f"  {row['id']}: {row['title']} ({checks}, {row['max_score']:g} points; data: {data})")
    return 0


def validate_all(targets: list[str], labs_dir: Path) -> int:
    """Validate each lab named by a path (a folder or its lab.toml) or by its id under the labs directory; exit 1
    when any fails."""
    failed = 0
    for target in targets:
        path = Path(target)
        if not path.exists() and NAME.match(target) and (labs_dir / target).exists():
            path = labs_dir / target
        elif not path.exists():
            print(f"{target}: not a lab folder, a lab.toml, or a lab id in {labs_dir} (set LABGRADER_LABS_DIR to the "
                  "folder holding your labs)", file=sys.stderr)
            failed += 1
            continue
        failed += validate(path)
    if len(targets) > 1 and failed:
        print(f"{failed} of {len(targets)} labs failed", file=sys.stderr)
    return 1 if failed else 0


def validate(path: Path) -> int:
    """Print every problem as `FILE:LINE: KEY: MESSAGE`; exit 1 when there is any."""
    from grader import (
        EXPECTATIONS_FILE,
        SpecInvalid,
        find_spec_problems,
        load_expectations,
        load_spec,
        undeclared_split,
    )

    problems = find_spec_problems(path)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in {path}", file=sys.stderr)
        return 1
    toml = path / "lab.toml" if path.is_dir() else path
    spec = load_spec(toml)
    if (toml.parent / EXPECTATIONS_FILE).is_file():  # what `labs test` reads: its checks and notebooks exist
        try:
            load_expectations(toml.parent, spec)
        except SpecInvalid as exc:
            print(f"{exc}\n1 problem(s) in {path}", file=sys.stderr)
            return 1
    checks = f"{len(spec.checks)} check{'s' if len(spec.checks) != 1 else ''}"
    print(f"{toml}: valid: lab {spec.id}, {checks}, {spec.max_score:g} points, datasets "
          f"{', '.join(sorted(spec.evaluated_datasets())) or 'none'}")
    for dataset in spec.datasets:
        for note in filter(None, (dataset.regression_note(), undeclared_split(dataset))):
            print(f"  {note}")
    return 0


def new_lab(name: str, parent: Path, labs_dir: Path) -> int:
    """A folder `parent/name` with a lab.toml, a starter notebook and a reference solution that validate."""
    from server.cli.lab_skeleton import write_skeleton

    if not NAME.match(name):
        print(f"error: {name!r} is not a lab id: lowercase letters, digits and _, starting with a letter, at most "
              "63 characters", file=sys.stderr)
        return 2
    folder = parent / name
    if folder.exists():
        print(f"error: {folder} already exists; nothing was written", file=sys.stderr)
        return 2
    # the id alone finds the lab only under the labs directory; elsewhere the comment names the folder
    write_skeleton(folder, name, name if parent.resolve() == labs_dir.resolve() else str(folder))
    print(f"created lab {name} in {folder}: lab.toml, starter.ipynb, solutions/solution.ipynb, expectations.toml\n"
          f"next: edit lab.toml, `labgrader labs validate {folder}`, import its data, `labgrader labs test {folder}`; "
          "see docs/lab-author.md")
    return 0
