"""`labgrader export --lab LAB --format csv|canvas|gradescope`: the gradebook to stdout (or `--output FILE`)."""

from __future__ import annotations

import argparse
import sys
import unicodedata
from pathlib import Path

from server.db import make_engine, make_session_factory, transaction
from server.exports.formats import ExportFormat, UnknownFormat, render_export
from server.exports.gradebook import build_gradebook
from server.settings import Settings


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    try:
        fmt = ExportFormat.parse(args.format)
    except UnknownFormat as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            body, _, name = render_export(build_gradebook(session, args.lab), fmt)
    finally:
        engine.dispose()
    if args.output:
        Path(args.output).write_text(body, encoding="utf-8")
        print(f"wrote {args.output} ({name})", file=sys.stderr)
    else:
        sys.stdout.write(_terminal_safe(body))  # names and notes come from people and notebooks
    return 0


def _terminal_safe(body: str) -> str:
    """The export without control or format characters (escape sequences, bidi overrides) but its line breaks and
    tabs, as `server.cli.render.terminal_safe` does for reports."""
    return "".join(c for c in body if c in "\r\n\t" or unicodedata.category(c) not in ("Cc", "Cf"))
