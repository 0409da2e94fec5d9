"""``imagedata index SOURCE... --db FILE``: catalogue DICOM folders, zips and tars in SQLite."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from imagedata.cli import _common, _inputs

EPILOG = """examples:
  imagedata index /data/pacs-export --db catalog.sqlite
  imagedata index cd1.zip cd2.zip /data/new --db catalog.sqlite   (again: only new or changed files)
  imagedata ls --db catalog.sqlite --modality MR --date 2024-01-01:2024-06-30
"""


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``imagedata index``."""
    parser = _common.parser_for(
        "index",
        "Scan folders, zip and tar archives (DICOM headers only) into an SQLite catalogue of "
        "patients, studies, series and instances. A re-run reads only new or changed files "
        "and forgets deleted ones.",
        EPILOG,
    )
    parser.add_argument("sources", nargs="+", metavar="SOURCE", help="folders, files, archives")
    parser.add_argument("--db", required=True, metavar="FILE", help="the catalogue (SQLite) file")
    return parser


@contextmanager
def _counter(quiet: bool) -> Iterator[Any]:
    """A tqdm counter of the files read (on a terminal), as a progress callback."""
    if quiet or not _common.is_terminal():
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(desc="indexing", unit=" files", leave=False, file=sys.stderr)

    def update(done: int, total: int | None, stage: str) -> None:
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


def _body(args: argparse.Namespace) -> int:
    from imagedata.catalog import Catalog

    _inputs.check_inputs(args.sources)
    with Catalog(args.db) as cat, _counter(args.quiet) as progress:
        report = cat.index(args.sources, progress=progress)
        counts = cat.counts()
    limit = None if args.verbose else _common.MAX_WARNINGS
    for line in report.broken[:limit]:
        print(f"imagedata index: broken: {line}", file=sys.stderr)
    if limit is not None and len(report.broken) > limit:
        more = len(report.broken) - limit
        print(f"imagedata index: {more} more broken files (-v lists them)", file=sys.stderr)
    _common.say(
        args,
        f"{args.db}: {report}; holds {counts['patients']} patients, {counts['studies']} studies, "
        f"{counts['series']} series, {counts['instances']} images",
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``imagedata index``; return the exit code."""
    return _common.run(build_parser(), argv, _body)
