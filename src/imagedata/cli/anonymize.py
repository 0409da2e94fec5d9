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
from imagedata.deidentify import DeidentificationError, Deidentifier
from imagedata.errors import NoDataError, ReadError

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

    Raises
    ------
    ReadError
        A DICOM file cannot be read, or is truncated (nothing is written).
    DeidentificationError
        Two different files have one SOP Instance UID, or a file is refused.
    NoDataError
        None of `files` is a DICOM file.
    """
    from imagedata.formats._output import atomic_folder

    written: dict[Path, Path] = {}
    try:
        with atomic_folder(out, overwrite=overwrite) as tmp:
            for path in files:
                _write_one(path, tmp, deid, written)
            if not written:
                raise NoDataError(
                    f"no DICOM files among the {len(files)} files given; nothing written"
                )
    except _Unreadable as err:  # atomic_folder would report an OSError as a write error
        raise err.error from err.error.__cause__
    return [out / rel for rel in written]


class _Unreadable(Exception):
    """Carries a :class:`ReadError` through atomic_folder (which removes its folder)."""

    def __init__(self, error: ReadError) -> None:
        super().__init__(str(error))
        self.error = error


def _write_one(path: Path, tmp: Path, deid: Deidentifier, written: dict[Path, Path]) -> None:
    """De-identify `path` into `tmp`, recording it in `written` (relative path -> source)."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        ds = dcmread(path)
        _check_complete(ds, path)
    except InvalidDicomError as err:
        warnings.warn(f"{path}: not a DICOM file, left out ({err})", stacklevel=3)
        return
    except ReadError as err:
        raise _Unreadable(err) from err
    except Exception as err:  # unreadable: never skipped silently
        error = ReadError(f"{path}: cannot read it ({err}); nothing was written")
        error.__cause__ = err
        raise _Unreadable(error) from err
    new = deid.dataset(ds, source=str(path), in_place=True)
    rel = Path(*(_safe(new.get(k, "")) for k in _LAYOUT))
    rel = rel / f"{_safe(new.get('SOPInstanceUID', ''))}.dcm"
    if _seen(rel, path, written):
        return
    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
    new.save_as(tmp / rel, enforce_file_format=True)
    written[rel] = path


def _check_complete(ds: Any, path: Path) -> None:
    """Raise :class:`ReadError` for a file that ends before its dataset does.

    pydicom reads a truncated file without complaint, up to where it ends: a value cut
    short is kept short, an element header cut short is dropped.  Checked here: every
    value is as long as its header says, the file does not end inside an element
    header, and an image has (all) its pixel data.
    """
    from pydicom.dataelem import RawDataElement

    size, end = path.stat().st_size, None
    meta_length = ds.file_meta.get("FileMetaInformationGroupLength")
    if meta_length is None or size < 144 + int(meta_length) or len(ds) == 0:
        raise ReadError(
            f"{path}: the file ends inside its File Meta Information or before its first "
            "data element: a truncated file; nothing was written"
        )
    for tag in ds.keys():  # noqa: SIM118 - the raw elements, not decoded ones
        elem = ds.get_item(tag)
        if not isinstance(elem, RawDataElement) or elem.length == 0xFFFFFFFF:
            end = None
            continue
        if elem.value is not None and len(elem.value) < elem.length:
            raise ReadError(
                f"{path}: the file ends inside {tag} ({len(elem.value)} of {elem.length} "
                "bytes): a truncated file; nothing was written"
            )
        end = elem.value_tell + elem.length
    if end is not None and 0 < size - end < 8:
        raise ReadError(f"{path}: the file ends inside an element header: a truncated file; "
                        "nothing was written")  # fmt: skip
    _check_pixels(ds, path)


def _check_pixels(ds: Any, path: Path) -> None:
    """Raise :class:`ReadError` for an image without (all) its native pixel data."""
    from pydicom.uid import UID

    sop_class = UID(str(ds.file_meta.get("MediaStorageSOPClassUID", ds.get("SOPClassUID", ""))))
    is_image = "Image Storage" in sop_class.name
    if is_image and ("Rows" not in ds or "Columns" not in ds):
        raise ReadError(
            f"{path}: an image ({sop_class.name}) without Rows or Columns (a truncated "
            "file?); nothing was written"
        )
    if "Rows" not in ds or "Columns" not in ds:
        return
    pixels = next((k for k in _PIXELS if k in ds), None)
    if pixels is None:
        raise ReadError(
            f"{path}: an image without pixel data (a truncated file?); nothing was written"
        )
    if ds.file_meta.get("TransferSyntaxUID", "") not in _NATIVE or pixels != "PixelData":
        return
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    need = ds.Rows * ds.Columns * int(ds.get("SamplesPerPixel", 1)) * frames
    need = need * int(ds.get("BitsAllocated", 8)) // 8
    if len(ds.PixelData) < need:
        raise ReadError(
            f"{path}: {len(ds.PixelData)} bytes of pixel data where {need} are needed (a "
            "truncated file?); nothing was written"
        )


_PIXELS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_NATIVE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2")


def _seen(rel: Path, path: Path, written: dict[Path, Path]) -> bool:
    """True when `path` is a copy of a file already written as `rel`; an error if it differs."""
    import filecmp

    first = written.get(rel)
    if first is None:
        return False
    if filecmp.cmp(first, path, shallow=False):
        warnings.warn(f"{path}: a copy of {first}, written once", stacklevel=3)
        return True
    raise DeidentificationError(
        f"{first} and {path} have the same SOP Instance UID but differ; remove one of them"
    )


_LAYOUT = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID")


def _safe(value: Any) -> str:
    text = "".join(c if c.isalnum() or c in "._-" else "_" for c in str(value or ""))
    return text.strip("._")[:64] or "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``imagedata anonymize``; return the exit code."""
    return run(build_parser(), argv, _body)
