"""``imagedata info INPUT...``: the patient/study/series tree of the inputs.

For each series: shape and axes, dtype, spacing, orientation in words, slice
positions, sort order and tag values.  ``--json`` prints the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from imagedata import geometry
from imagedata.cli import _common, _inputs
from imagedata.errors import MultipleSeriesError
from imagedata.header import Header

logger = logging.getLogger(__name__)

EPILOG = """examples:
  imagedata info dicom_folder/
  imagedata info study.zip --order time
  imagedata info t1.nii.gz --json
"""

#: Extensions of formats that hold a whole series in one file (read one input at a time).
SINGLE_FILE_EXTENSIONS = (
    ".nii",
    ".nii.gz",
    ".hdr",
    ".img",
    ".mha",
    ".mhd",
    ".nrrd",
    ".nhdr",
    ".mat",
)

#: Most tag values printed in the tree (all of them in --json).
MAX_TAG_VALUES = 8


def build_parser() -> argparse.ArgumentParser:
    """The ``info`` parser."""
    parser = _common.parser_for("info", "Show the patient/study/series tree of the inputs.", EPILOG)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders, archives")
    _common.add_read_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    return parser


# --- reading headers ----------------------------------------------------------------------


def read_headers(
    sources: Sequence[str],
    order: str,
    select: int | str | None,
    progress: _common.ProgressCallback | None = None,
) -> list[tuple[Header, str]]:
    """(header, dtype name) of every series in `sources`, reading headers only where possible.

    `progress` (from :func:`_common.activity`) sees the header pass (stage "headers").
    """
    from imagedata.loadsave import read

    _inputs.check_inputs(sources)
    src: Any = sources[0] if len(sources) == 1 else list(sources)
    options: dict[str, Any] = {"progress": False if progress is None else progress}
    if select is not None:
        options["series"] = select
    try:
        arr, header = read(src, input_order=order, headers_only=True, **options)
        return [(header, _dtype(arr, header))]
    except MultipleSeriesError:
        if select is not None:
            raise
    series = _inputs.read_every(sources, order=order, headers_only=True, progress=progress)
    return [(si.header, str(si.dtype)) for si in series]


def group_inputs(sources: Sequence[str]) -> list[list[str]]:
    """Inputs read together: every single-file format (NIfTI, MetaImage ...) alone, the rest
    (DICOM files and folders, archives) as one input, so that ``info dir/*.dcm`` is one series.
    """
    single: list[list[str]] = []
    together: list[str] = []
    for s in sources:
        if s.lower().endswith(SINGLE_FILE_EXTENSIONS):
            single.append([s])
        else:
            together.append(s)
    return ([together] if together else []) + single


def _dtype(arr: Any, header: Header) -> str:
    dtype = getattr(arr, "dtype", None)
    return "" if dtype is None else str(dtype)


# --- describing --------------------------------------------------------------------------


def _attr(header: Header, keyword: str) -> str:
    value = header.template.get(keyword)
    return "" if value is None else str(value)


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text


def _tag_values(header: Header) -> dict[str, Any]:
    """{axis name: values} of the tag axes (time as seconds from the first)."""
    out: dict[str, Any] = {}
    for axis in header.tag_axes:
        if axis.values is None:
            continue
        values = np.asarray(axis.values)
        if axis.name == "time" and values.dtype.kind in "if":
            values = values - values[0]
        out[axis.name] = values.tolist()
    return out


def describe(header: Header, dtype: str) -> dict[str, Any]:
    """A JSON-ready description of one series."""
    affine = header.affine
    locations = header.slice_locations()
    return {
        "series_number": _number(_attr(header, "SeriesNumber")),
        "series_description": _attr(header, "SeriesDescription"),
        "series_instance_uid": _attr(header, "SeriesInstanceUID"),
        "modality": _attr(header, "Modality"),
        "shape": list(header.shape),
        "axes": list(header.axis_names),
        "dtype": dtype,
        "spacing": [round(float(v), 6) for v in geometry.spacing_zyx(affine)],
        "orientation": geometry.orientation_name(affine),
        "image_orientation_patient": [round(float(v), 6) for v in geometry.iop(affine)],
        "first_position": [round(float(v), 4) for v in header.slice_positions()[0]],
        "slice_locations": [round(float(locations[0]), 4), round(float(locations[-1]), 4)],
        "tilted": bool(geometry.is_tilted(affine)),
        "input_order": header.input_order,
        "input_format": header.input_format,
        "tags": _tag_values(header),
    }


def tree(items: Sequence[tuple[Header, str]]) -> list[dict[str, Any]]:
    """Group series descriptions into patients and studies."""
    patients: dict[str, dict[str, Any]] = {}
    for header, dtype in items:
        pid = _attr(header, "PatientID")
        patient = patients.setdefault(
            pid,
            {
                "patient_id": pid,
                "patient_name": _attr(header, "PatientName"),
                "birth_date": _attr(header, "PatientBirthDate"),
                "studies": {},
            },
        )
        uid = _attr(header, "StudyInstanceUID")
        study = patient["studies"].setdefault(
            uid,
            {
                "study_instance_uid": uid,
                "study_date": _attr(header, "StudyDate"),
                "study_time": _attr(header, "StudyTime"),
                "study_description": _attr(header, "StudyDescription"),
                "accession_number": _attr(header, "AccessionNumber"),
                "series": [],
            },
        )
        study["series"].append(describe(header, dtype))
    out = []
    for patient in patients.values():
        studies = sorted(
            patient["studies"].values(), key=lambda s: (s["study_date"], s["study_time"])
        )
        for study in studies:
            study["series"].sort(
                key=lambda s: (str(s["series_number"]).zfill(8), s["series_instance_uid"])
            )
        out.append({**patient, "studies": studies})
    return out


# --- printing ----------------------------------------------------------------------------


def _date(text: str) -> str:
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


def _values_text(name: str, values: list[Any]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:g}"
        if isinstance(v, list):
            return "(" + ", ".join(fmt(x) for x in v) + ")"
        return str(v)

    shown = ", ".join(fmt(v) for v in values[:MAX_TAG_VALUES])
    more = f", ... ({len(values)} values)" if len(values) > MAX_TAG_VALUES else ""
    unit = {"time": " s", "triggertime": " ms", "te": " ms", "ti": " ms", "b": " s/mm2"}.get(
        name, ""
    )
    return f"{name}: {shown}{more}{unit}"


def series_lines(s: dict[str, Any]) -> list[str]:
    """The lines of one series in the tree."""
    desc = f' "{s["series_description"]}"' if s["series_description"] else ""
    ds, dr, dc = s["spacing"]
    lines = [
        f"Series {s['series_number']}{desc}  {s['modality']}".rstrip(),
        f"  shape       {tuple(s['shape'])} {s['dtype']}  ({', '.join(s['axes'])})",
        f"  spacing     {ds:g} x {dr:g} x {dc:g} mm (slice, row, column)",
        f"  orientation {s['orientation']}{' (tilted)' if s['tilted'] else ''}, "
        f"slices {s['slice_locations'][0]:g} .. {s['slice_locations'][1]:g} mm",
        f"  order       {s['input_order']}",
    ]
    for name, values in s["tags"].items():
        lines.append(f"  {_values_text(name, values)}")
    lines.append(f"  format      {s['input_format']}, UID {s['series_instance_uid']}")
    return lines


def print_tree(patients: list[dict[str, Any]]) -> None:
    """Print the patient/study/series tree on stdout."""
    for patient in patients:
        born = f", born {_date(patient['birth_date'])}" if patient["birth_date"] else ""
        name = patient["patient_name"] or "(no name)"
        print(f"Patient {name} ({patient['patient_id'] or 'no ID'}){born}")
        for study in patient["studies"]:
            when = " ".join(p for p in (_date(study["study_date"]), study["study_time"][:6]) if p)
            desc = f' "{study["study_description"]}"' if study["study_description"] else ""
            print(f"  Study {when or '(no date)'}{desc}  UID {study['study_instance_uid']}")
            for s in study["series"]:
                for line in series_lines(s):
                    print(f"    {line}")


def info(args: argparse.Namespace) -> int:
    """Run ``info`` with parsed arguments."""
    items: list[tuple[Header, str]] = []
    for group in group_inputs(args.inputs):
        with _common.activity(f"reading {group[0]}", quiet=args.quiet) as progress:
            items.extend(read_headers(group, args.order, _inputs.selector(args.series), progress))
    patients = tree(items)
    if args.json:
        json.dump(patients, sys.stdout, indent=2)
        print()
    else:
        print_tree(patients)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``imagedata info``."""
    return _common.run(build_parser(), argv, info)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
