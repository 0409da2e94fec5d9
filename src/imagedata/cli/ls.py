"""``imagedata ls URL``: list the patients, studies and series on a PACS (or ``--db`` a catalogue).

Examples
--------
::

    imagedata ls dicom://pacs:104/PACS?PatientID=P1
    imagedata ls "dicomweb+https://pacs/dicom-web?StudyDate=20240101-20240331" --username me
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from imagedata.cli import _catalog
from imagedata.cli._common import UsageError, parser_for, run

EPILOG = """examples:
  imagedata ls dicom://127.0.0.1:4242/ORTHANC
  imagedata ls "dicom://pacs:104/PACS?PatientID=P1&Modality=MR"
  imagedata ls "dicomweb+http://127.0.0.1:8042/dicom-web?StudyDate=20240101-20240331"
  imagedata ls --db catalog.sqlite --patient P1 --modality MR --date 2024-01-01:2024-06-30 --json

The password and token may also come from IMAGEDATA_PASSWORD / IMAGEDATA_TOKEN."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``imagedata ls``."""
    parser = parser_for(
        "ls",
        "List patients, studies and series on a PACS (C-FIND or QIDO-RS). Query keys in the "
        "URL (PatientID, StudyInstanceUID, SeriesNumber, Modality, StudyDate=A-B ...) narrow "
        "the list. With --db FILE, list the series of a catalogue made by 'imagedata index'.",
        EPILOG,
    )
    parser.add_argument(
        "url", nargs="?", help="dicom://host:port/AET?... or dicomweb+http(s)://host/root?..."
    )
    parser.add_argument("--db", metavar="FILE", help="list a catalogue (imagedata index) instead")
    parser.add_argument("--json", action="store_true", help="with --db: a JSON list of series")
    _catalog.add_query_options(parser)
    parser.add_argument("--calling-aet", help="our AE title (default IMAGEDATA)")
    parser.add_argument("--timeout", type=float, help="seconds per network operation (default 30)")
    parser.add_argument("--username", help="DICOMweb user (HTTP basic authentication)")
    parser.add_argument("--password", help="DICOMweb password (or IMAGEDATA_PASSWORD)")
    parser.add_argument("--token", help="DICOMweb bearer token (or IMAGEDATA_TOKEN)")
    parser.add_argument("--studies", action="store_true", help="list studies only, not series")
    return parser


def _get(ds: Any, keyword: str, default: str = "") -> str:
    value = ds.get(keyword, default)
    return default if value is None else str(value)


def format_tree(tree: Sequence[tuple[Any, Sequence[Any]]], studies_only: bool = False) -> list[str]:
    """Lines of the patient / study / series tree (patients in first-seen order)."""
    by_patient: dict[tuple[str, str], list[tuple[Any, Sequence[Any]]]] = {}
    for study, series in tree:
        key = (_get(study, "PatientID", "?"), _get(study, "PatientName"))
        by_patient.setdefault(key, []).append((study, series))
    lines = []
    for (pid, name), studies in by_patient.items():
        lines.append(f"Patient {pid}  {name}".rstrip())
        for study, series in sorted(studies, key=lambda s: _get(s[0], "StudyDate")):
            n = _get(study, "NumberOfStudyRelatedInstances", "?")
            lines.append(
                f"  Study {_get(study, 'StudyDate', '-')}  {_get(study, 'AccessionNumber', '-')}  "
                f"'{_get(study, 'StudyDescription')}'  {len(series)} series, {n} images  "
                f"StudyInstanceUID={_get(study, 'StudyInstanceUID')}"
            )
            if studies_only:
                continue
            for s in sorted(series, key=lambda s: int(s.get("SeriesNumber") or 0)):
                lines.append(
                    f"    Series {_get(s, 'SeriesNumber', '-')}  {_get(s, 'Modality', '-')}  "
                    f"{_get(s, 'NumberOfSeriesRelatedInstances', '?')} images  "
                    f"'{_get(s, 'SeriesDescription')}'  "
                    f"SeriesInstanceUID={_get(s, 'SeriesInstanceUID')}"
                )
    return lines


def _body(args: argparse.Namespace) -> int:
    if args.db:
        if args.url:
            raise UsageError("give a PACS URL or --db FILE, not both")
        return _catalog.list_catalog(args)
    if not args.url:
        raise UsageError("give a PACS URL, or --db FILE for a catalogue")
    from imagedata.transports import list_url

    options = {
        "calling_aet": args.calling_aet,
        "timeout": args.timeout,
        "username": args.username,
        "password": args.password or os.environ.get("IMAGEDATA_PASSWORD"),
        "token": args.token or os.environ.get("IMAGEDATA_TOKEN"),
    }
    if not args.url.startswith("dicomweb"):
        for key in ("username", "password", "token"):
            options.pop(key)
    tree = list_url(args.url, **{k: v for k, v in options.items() if v is not None})
    if not tree:
        print(f"nothing on the PACS matches {args.url}")
        return 0
    print("\n".join(format_tree(tree, args.studies)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``imagedata ls``; return the exit code."""
    return run(build_parser(), argv, _body)
