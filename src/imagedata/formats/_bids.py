"""BIDS sidecars written next to NIfTI files, compatible with dcm2niix.

* :func:`sidecar` gives the JSON sidecar (EchoTime, RepetitionTime, FlipAngle, ...) in
  BIDS units: times in seconds, angles in degrees, field strength in tesla, with the
  key names dcm2niix uses.
* :func:`bvec_from_gradients` / :func:`gradients_from_bvec` convert diffusion gradient
  directions between DICOM LPS and the FSL/BIDS ``.bvec`` convention (GEOMETRY.md):
  with U the unit voxel axes of the NIfTI affine, bvec = U^T g, and the x component
  is negated when det(U) > 0.  This is the rule dcm2niix follows.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from imagedata import geometry
from imagedata.errors import ReadError
from imagedata.formats import _rawvalues

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


def _ms_to_s(v: Any) -> float:
    return round(float(v) / 1000.0, 9)


def _number(v: Any) -> float | int:
    f = float(v)
    return int(f) if f.is_integer() else f


def _text(v: Any) -> str:
    if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
        return "\\".join(str(x) for x in v)
    return str(v)


def _strings(v: Any) -> list[str]:
    if isinstance(v, str):
        return v.split("\\")
    return [str(x) for x in v]


def _time(v: Any) -> str:
    s = str(v).strip()
    if len(s) >= 6 and s[:6].isdigit():
        return f"{s[0:2]}:{s[2:4]}:{s[4:6]}{s[6:]}"
    return s


#: Vendor names as dcm2niix writes them (matched on the start of the upper-case DICOM value).
_VENDORS = (
    ("SIEMENS", "Siemens"),
    ("GE", "GE"),
    ("PHILIPS", "Philips"),
    ("TOSHIBA", "Toshiba"),
    ("CANON", "Canon"),
    ("UIH", "UIH"),
    ("BRUKER", "Bruker"),
    ("HITACHI", "Hitachi"),
)


def _manufacturer(v: Any) -> str:
    up = str(v).strip().upper()
    return next((name for key, name in _VENDORS if up.startswith(key)), str(v))


#: (BIDS key, DICOM keyword, conversion), in dcm2niix's order.
FIELDS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("Modality", "Modality", str),
    ("MagneticFieldStrength", "MagneticFieldStrength", _number),
    ("ImagingFrequency", "ImagingFrequency", _number),
    ("Manufacturer", "Manufacturer", _manufacturer),
    ("ManufacturersModelName", "ManufacturerModelName", str),
    ("InstitutionName", "InstitutionName", str),
    ("InstitutionalDepartmentName", "InstitutionalDepartmentName", str),
    ("InstitutionAddress", "InstitutionAddress", str),
    ("DeviceSerialNumber", "DeviceSerialNumber", str),
    ("StationName", "StationName", str),
    ("BodyPartExamined", "BodyPartExamined", str),
    ("PatientPosition", "PatientPosition", str),
    ("SoftwareVersions", "SoftwareVersions", _text),
    ("MRAcquisitionType", "MRAcquisitionType", str),
    ("SeriesDescription", "SeriesDescription", str),
    ("ProtocolName", "ProtocolName", str),
    ("ScanningSequence", "ScanningSequence", _text),
    ("SequenceVariant", "SequenceVariant", _text),
    ("ScanOptions", "ScanOptions", _text),
    ("SequenceName", "SequenceName", str),
    ("ImageType", "ImageType", _strings),
    ("SeriesNumber", "SeriesNumber", _number),
    ("AcquisitionTime", "AcquisitionTime", _time),
    ("AcquisitionNumber", "AcquisitionNumber", _number),
    ("SliceThickness", "SliceThickness", _number),
    ("SpacingBetweenSlices", "SpacingBetweenSlices", _number),
    ("SAR", "SAR", _number),
    ("EchoNumber", "EchoNumbers", _number),
    ("EchoTime", "EchoTime", _ms_to_s),
    ("RepetitionTime", "RepetitionTime", _ms_to_s),
    ("InversionTime", "InversionTime", _ms_to_s),
    ("FlipAngle", "FlipAngle", _number),
    ("EchoTrainLength", "EchoTrainLength", _number),
    ("PixelBandwidth", "PixelBandwidth", _number),
    ("PercentPhaseFOV", "PercentPhaseFieldOfView", _number),
    ("PercentSampling", "PercentSampling", _number),
    ("KVP", "KVP", _number),
    ("ExposureTime", "ExposureTime", _ms_to_s),
    ("XRayExposure", "Exposure", _number),
    ("ConvolutionKernel", "ConvolutionKernel", _text),
)

#: FIELDS with each keyword's tag.
_FIELD_TAGS: tuple[tuple[str, int, str, Callable[[Any], Any]], ...] = tuple(
    (key, int(tag_for_keyword(keyword) or 0), keyword, conv) for key, keyword, conv in FIELDS
)

#: BIDS key -> (DICOM keyword, conversion back to DICOM units).
_BACK: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "EchoTime": ("EchoTime", lambda v: float(v) * 1000.0),
    "RepetitionTime": ("RepetitionTime", lambda v: float(v) * 1000.0),
    "InversionTime": ("InversionTime", lambda v: float(v) * 1000.0),
    "FlipAngle": ("FlipAngle", float),
    "MagneticFieldStrength": ("MagneticFieldStrength", float),
    "Manufacturer": ("Manufacturer", str),
    "ManufacturersModelName": ("ManufacturerModelName", str),
    "SeriesDescription": ("SeriesDescription", str),
    "Modality": ("Modality", str),
}


def sidecar(
    template: Dataset,
    affine: npt.ArrayLike,
    *,
    times: npt.ArrayLike | None = None,
    software_version: str = "",
) -> dict[str, Any]:
    """Return the BIDS sidecar of a series with DICOM `template` and (k, r, c) -> LPS `affine`.

    Parameters
    ----------
    template
        The DICOM attributes shared by all images.
    affine
        The Series affine; gives ``ImageOrientationPatientDICOM``.
    times
        Acquisition time of each volume (seconds since midnight) of a time axis.
        Gives ``AcquisitionTime`` of the first volume when the template has none;
        evenly spaced volumes give ``RepetitionTime`` = the volume step for 3D
        acquisitions (the DICOM TR goes to ``RepetitionTimeExcitation``, as dcm2niix
        does); uneven ones give ``VolumeTiming``.
    software_version
        Written as ``ConversionSoftwareVersion``.

    Examples
    --------
    >>> ds = Dataset(); ds.EchoTime = 5.0; ds.RepetitionTime = 100.0; ds.FlipAngle = 15
    >>> d = sidecar(ds, geometry.default_affine())
    >>> d["EchoTime"], d["RepetitionTime"], d["FlipAngle"]
    (0.005, 0.1, 15)
    """
    out: dict[str, Any] = {}
    elements = _rawvalues.by_tag(template)
    for key, tag, keyword, conv in _FIELD_TAGS:
        elem = elements.get(tag)
        if elem is None:
            continue
        # pydicom's value (Dataset.get), plain raw ones decoded fast
        value = _rawvalues.element_value(template, tag, elem, keyword)
        if value is None or value == "" or value == []:
            continue
        try:
            out[key] = conv(value)
        except (TypeError, ValueError) as err:
            logger.debug("BIDS %s from %s=%r skipped: %s", key, keyword, value, err)
    if times is not None:
        _add_timing(out, template, np.asarray(times, dtype=np.float64).reshape(-1))
    out["ImageOrientationPatientDICOM"] = [round(v, 8) for v in geometry.iop(affine).tolist()]
    out["ConversionSoftware"] = "imagedata"
    out["ConversionSoftwareVersion"] = software_version
    return out


def sidecar_text(doc: dict[str, Any]) -> str:
    """``json.dumps(doc, indent="\\t") + "\\n"``, made faster for a sidecar's plain values.

    The json module writes indented text with its Python encoder; a sidecar holds
    strings, numbers and flat lists of them, whose text the C encoder gives value by
    value (the same text).  Anything else goes to ``json.dumps``.

    Examples
    --------
    >>> sidecar_text({"EchoTime": 0.03, "ImageType": ["M", "ND"], "Empty": []}).splitlines()
    ... # doctest: +NORMALIZE_WHITESPACE
    ['{', '\\t"EchoTime": 0.03,', '\\t"ImageType": [', '\\t\\t"M",', '\\t\\t"ND"',
     '\\t],', '\\t"Empty": []', '}']
    """
    lines = []
    for key, value in doc.items():
        if type(key) is not str:
            return json.dumps(doc, indent="\t") + "\n"
        if type(value) is list:
            if not value:
                text = "[]"
            elif all(type(v) in _PLAIN_JSON for v in value):
                text = "[\n\t\t" + ",\n\t\t".join(map(_json_value, value)) + "\n\t]"
            else:
                return json.dumps(doc, indent="\t") + "\n"
        elif type(value) is str:
            text = _ENCODE_STR(value)
        elif type(value) in _PLAIN_JSON:
            text = _json_value(value)
        else:
            return json.dumps(doc, indent="\t") + "\n"
        lines.append(f"\t{_ENCODE_STR(key)}: {text}")
    if not lines:
        return "{}\n"
    return "{\n" + ",\n".join(lines) + "\n}\n"


#: Types whose JSON text alone is the text json.dumps gives them in a document.
_PLAIN_JSON = frozenset({str, int, float, bool, type(None)})
_ENCODE = json.JSONEncoder().encode
_ENCODE_STR = json.encoder.encode_basestring_ascii


def _json_value(value: Any) -> str:
    """The JSON text of one value of a type in :data:`_PLAIN_JSON` (json's own functions)."""
    kind = type(value)
    if kind is str:
        return _ENCODE_STR(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    return _ENCODE(value)  # bool, None, NaN, infinities


def _clock(seconds: float) -> str:
    """Seconds since midnight as dcm2niix writes AcquisitionTime ("HH:MM:SS.ffffff")."""
    us = round(seconds * 1e6)
    h, rest = divmod(us, 3600 * 10**6)
    m, rest = divmod(rest, 60 * 10**6)
    return f"{h:02d}:{m:02d}:{rest // 10**6:02d}.{rest % 10**6:06d}"


def _add_timing(out: dict[str, Any], template: Dataset, times: FloatArray) -> None:
    if times.size == 0:
        return
    if "AcquisitionTime" not in out:
        out["AcquisitionTime"] = _clock(float(times[0]))
    if times.size < 2:
        return
    steps = np.diff(times)
    step = float(np.mean(steps))
    if step > 0 and np.all(np.abs(steps - step) <= 1e-4 * step + 1e-6):
        three_d = str(_rawvalues.get(template, "MRAcquisitionType", "")) == "3D"
        if three_d and "RepetitionTime" in out:
            out["RepetitionTimeExcitation"] = out["RepetitionTime"]
            out["RepetitionTime"] = round(step, 6)
    else:
        out["VolumeTiming"] = [round(float(v - times[0]), 6) for v in times]


def template_from_sidecar(doc: dict[str, Any]) -> Dataset:
    """Return DICOM attributes (DICOM units) recovered from a BIDS sidecar."""
    ds = Dataset()
    for key, (keyword, conv) in _BACK.items():
        if key in doc:
            try:
                setattr(ds, keyword, conv(doc[key]))
            except (TypeError, ValueError):
                logger.debug("BIDS %s=%r not converted", key, doc[key])
    return ds


# --- diffusion ---------------------------------------------------------------------------


def _unit_axes(affine: npt.ArrayLike) -> FloatArray:
    """U: unit voxel axes (i=column, j=row, k=slice) of the Series affine, in LPS."""
    a = np.asarray(affine, dtype=np.float64)
    cols = a[:3, [2, 1, 0]].copy()
    norms = np.linalg.norm(cols, axis=0)
    if norms[2] < 1e-12:
        cols[:, 2] = geometry.normal(a)
        norms[2] = 1.0
    return cols / norms[None, :]


def bvec_from_gradients(gradients: npt.ArrayLike, affine: npt.ArrayLike) -> FloatArray:
    """Return the FSL ``.bvec`` rows (3, n) of LPS gradient directions (n, 3).

    Examples
    --------
    >>> a = geometry.default_affine()  # axial, det(U) > 0
    >>> bvec_from_gradients([[1.0, 0.0, 0.0]], a)[:, 0].tolist()
    [-1.0, 0.0, 0.0]
    """
    g = np.asarray(gradients, dtype=np.float64).reshape(-1, 3)
    u = _unit_axes(affine)
    b = g @ u  # rows: U^T g
    if np.linalg.det(u) > 0:
        b[:, 0] = -b[:, 0]
    b[np.abs(b) < 1e-12] = 0.0
    return b.T.copy()


def gradients_from_bvec(bvec: npt.ArrayLike, affine: npt.ArrayLike) -> FloatArray:
    """Inverse of :func:`bvec_from_gradients`: LPS gradient directions (n, 3)."""
    b = np.asarray(bvec, dtype=np.float64).reshape(3, -1).T.copy()
    u = _unit_axes(affine)
    if np.linalg.det(u) > 0:
        b[:, 0] = -b[:, 0]
    g = np.linalg.solve(u.T, b.T).T
    return np.asarray(g, dtype=np.float64)


def format_bval(bvalues: npt.ArrayLike) -> str:
    """The ``.bval`` text: b-values on one line, separated by spaces.

    Examples
    --------
    >>> format_bval([50.0, 400.0, 800.0])
    '50 400 800\\n'
    """
    return " ".join(f"{float(v):.6g}" for v in np.asarray(bvalues).reshape(-1)) + "\n"


def format_bvec(bvec: npt.ArrayLike) -> str:
    """The ``.bvec`` text: three lines (x, y, z), one column per volume."""
    rows = np.asarray(bvec, dtype=np.float64).reshape(3, -1)
    return "".join(" ".join(f"{v:.6g}" for v in row) + "\n" for row in rows)


def parse_numbers(text: str, name: str, rows: int | None = None) -> FloatArray:
    """Parse a ``.bval``/``.bvec`` file's text; `rows` lines expected when given.

    Raises
    ------
    ReadError
        If the text holds anything but numbers, or lines of unequal length.
    """
    try:
        lines = [[float(v) for v in line.split()] for line in text.splitlines() if line.strip()]
        arr = np.asarray(lines, dtype=np.float64)
    except ValueError as err:
        raise ReadError(f"{name}: not a list of numbers ({err}); check the file") from err
    if arr.ndim != 2 or (rows is not None and arr.shape[0] != rows):
        raise ReadError(
            f"{name}: expected {rows or 'equal-length'} lines of numbers, got shape {arr.shape}"
        )
    return arr


__all__ = [
    "FIELDS",
    "bvec_from_gradients",
    "format_bval",
    "format_bvec",
    "gradients_from_bvec",
    "parse_numbers",
    "sidecar",
    "sidecar_text",
    "template_from_sidecar",
]
