"""``imagedata anonymize``: de-identify DICOM files (PS3.15 Annex E Basic Profile).

The output folder is written whole or not at all; the input is never modified.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from imagedata.cli._common import UsageError, parser_for, run

EPILOG = """examples:
  imagedata anonymize scans/ anon/
  imagedata anonymize scans/ anon/ --map study.sqlite --shift-dates -365 --patient-id SUBJ01
  imagedata anonymize scans/ anon/ --keep-dates --keep-descriptions

Dates are removed unless --keep-dates keeps them or --shift-dates moves them by a
number of days.  UIDs are replaced: with --map, the same input UID gets the same new
UID in every run that uses that map file (a SQLite file; keep it private, it links the
new UIDs to the old ones); without it, consistently within this run only.  Files with
BurnedInAnnotation=YES are refused unless --allow-burned-in."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``imagedata anonymize``."""
    parser = parser_for("anonymize", "De-identify DICOM files into a new folder.", EPILOG)
    parser.add_argument("source", help="a DICOM file or a folder of them")
    parser.add_argument("out", help="the new folder (must not exist, or be empty)")
    parser.add_argument("--map", metavar="MAPFILE", help="SQLite file mapping old to new UIDs")
    dates = parser.add_mutually_exclusive_group()
    dates.add_argument("--keep-dates", action="store_true", help="keep dates and times")
    dates.add_argument("--shift-dates", type=int, metavar="DAYS", help="shift dates by DAYS")
    parser.add_argument(
        "--keep-descriptions",
        action="store_true",
        help="keep descriptions and comments, with the dataset's names, IDs and dates "
        "blanked out (Clean Descriptors; other identifying text is not recognised)",
    )
    parser.add_argument(
        "--keep-patient-characteristics",
        action="store_true",
        help="keep sex, age, size, weight",
    )
    parser.add_argument(
        "--keep-device-identity", action="store_true", help="keep device serial numbers, station"
    )
    parser.add_argument("--patient-id", metavar="NEWID", help="the new Patient ID and name")
    parser.add_argument(
        "--allow-burned-in",
        action="store_true",
        help="also de-identify images with BurnedInAnnotation=YES (check their pixels)",
    )
    parser.add_argument(
        "--remove-all-private",
        action="store_true",
        help="also remove the private attributes kept for geometry and diffusion (Siemens "
        "mosaic and CSA image header, b-values, gradient directions)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty OUT")
    return parser


def _body(args: argparse.Namespace) -> int:
    from imagedata.deidentify import (
        Deidentifier,
        Options,
        UIDMap,
        deidentify_files,
        dicom_files,
    )

    source, out = Path(args.source), Path(args.out)
    if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
        raise UsageError(f"{out}: the output must be outside the input {source}")
    options = Options(
        keep_dates=args.keep_dates,
        shift_days=args.shift_dates,
        keep_patient_characteristics=args.keep_patient_characteristics,
        keep_device_identity=args.keep_device_identity,
        keep_descriptions=args.keep_descriptions,
        patient_id=args.patient_id,
        allow_burned_in=args.allow_burned_in,
        **({"safe_private": frozenset()} if args.remove_all_private else {}),
    )
    files = dicom_files(source)
    with UIDMap(args.map) as uids:
        deid = Deidentifier(options, uids)
        written = deidentify_files(files, out, deid, overwrite=args.overwrite)
    if not args.quiet:
        print(f"de-identified {len(written)} of {len(files)} files into {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``imagedata anonymize``; return the exit code."""
    return run(build_parser(), argv, _body)
