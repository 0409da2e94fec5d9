"""Command-line pieces for the catalogue: query options and the series listing."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from imagedata.cli._common import UsageError


def add_query_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--patient``, ``--modality`` and ``--date`` (catalogue selection)."""
    group = parser.add_argument_group("catalogue selection")
    group.add_argument("--patient", metavar="ID", help="only this PatientID")
    group.add_argument("--modality", metavar="MOD", help="only this Modality, e.g. MR")
    group.add_argument(
        "--date",
        metavar="FROM:TO",
        help="only studies dated in this range, e.g. 2024-01-01:2024-06-30 (either end may "
        "be left out)",
    )


def query_of(args: argparse.Namespace) -> dict[str, Any]:
    """The :meth:`imagedata.catalog.Catalog.series` keywords the options give."""
    from imagedata.catalog import CatalogError, parse_date_range

    query: dict[str, Any] = {}
    if getattr(args, "patient", None):
        query["patient"] = args.patient
    if getattr(args, "modality", None):
        query["modality"] = args.modality
    if getattr(args, "date", None):
        try:
            query["date"] = parse_date_range(args.date)
        except CatalogError as err:
            raise UsageError(f"--date: {err}") from err
    return query


def series_lines(records: Sequence[Any]) -> list[str]:
    """The patient / study / series tree of catalogue records, one line each."""
    lines: list[str] = []
    patient = study = None
    for r in records:
        if r.PatientID != patient:
            patient, study = r.PatientID, None
            lines.append(f"Patient {r.PatientID}  {r.PatientName}".rstrip())
        if r.StudyInstanceUID != study:
            study = r.StudyInstanceUID
            lines.append(
                f"  Study {r.StudyDate or '-'}  {r.AccessionNumber or '-'}  "
                f"'{r.StudyDescription}'  StudyInstanceUID={r.StudyInstanceUID}"
            )
        broken = f"  ({r.Broken} broken files)" if r.Broken else ""
        lines.append(
            f"    Series {r.SeriesNumber if r.SeriesNumber is not None else '-'}  "
            f"{r.Modality or '-'}  {r.Images} images  '{r.SeriesDescription}'  "
            f"{r.Folder}{broken}"
        )
    return lines


def list_catalog(args: argparse.Namespace) -> int:
    """``imagedata ls --db FILE``: print the selected series (tree, or JSON with --json)."""
    from pathlib import Path

    from imagedata.catalog import Catalog

    if not Path(args.db).is_file():
        raise FileNotFoundError(2, "no such catalogue; create it with 'imagedata index'", args.db)
    with Catalog(args.db) as cat:
        records = cat.series(**query_of(args))
    if args.json:
        print(json.dumps([r.as_dict() for r in records], indent=1))
    elif not records:
        print(f"nothing in {args.db} matches")
    else:
        print("\n".join(series_lines(records)))
    return 0
