"""``imagedata anonymize``: de-identify DICOM files (PS3.15 Annex E Basic Profile).

The output folder is written whole or not at all; the input is never modified.  The
profile itself is :mod:`imagedata.deidentify` (datasets in, datasets out); this module
finds the files, reads them and writes the results.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from imagedata.cli._common import UsageError, parser_for, run
from imagedata.deidentify import Deidentifier
from imagedata.errors import NoDataError

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
    from imagedata.deidentify import Options, UIDMap

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


def dicom_files(source: Path) -> Sequence[Path]:
    """The files under `source` (or `source` itself), sorted; a DICOMDIR is left out.

    A DICOMDIR holds names and paths of the original files: it is not copied (a
    warning says so), since the output is laid out anew.
    """
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise NoDataError(f"{source}: no such file or folder")
    files = sorted(p for p in source.rglob("*") if p.is_file())
    for p in files:
        if p.name.upper() == "DICOMDIR":
            warnings.warn(f"{p}: a DICOMDIR is not copied (it names the original files)",
                          stacklevel=2)  # fmt: skip
    return [p for p in files if p.name.upper() != "DICOMDIR"]


def deidentify_files(
    files: Collection[Path], out: Path, deid: Deidentifier, *, overwrite: bool = False
) -> list[Path]:
    """De-identify `files` into the new folder `out` (written atomically); the files written.

    Files land in ``out/PatientID/StudyInstanceUID/SeriesInstanceUID/SOPInstanceUID.dcm``
    with the new values; nothing of the input's paths is kept (folder names can hold
    names).  Files that are not DICOM are left out with a warning naming them.
    """
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    from imagedata.formats._output import atomic_folder

    written: list[Path] = []
    with atomic_folder(out, overwrite=overwrite) as tmp:
        for path in files:
            try:
                ds = dcmread(path)
            except (InvalidDicomError, OSError) as err:
                warnings.warn(f"{path}: not a DICOM file, left out ({err})", stacklevel=2)
                continue
            new = deid.dataset(ds, source=str(path), in_place=True)
            rel = (
                Path(*(_safe(new.get(k, "")) for k in _LAYOUT))
                / f"{_safe(new.get('SOPInstanceUID', ''))}.dcm"
            )
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            new.save_as(tmp / rel, enforce_file_format=True)
            written.append(out / rel)
    return written


_LAYOUT = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID")


def _safe(value: Any) -> str:
    text = "".join(c if c.isalnum() or c in "._-" else "_" for c in str(value or ""))
    return text.strip("._")[:64] or "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``imagedata anonymize``; return the exit code."""
    return run(build_parser(), argv, _body)
