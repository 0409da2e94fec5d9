"""Diffusion b-values and gradient directions from standard and vendor attributes.

Looked up in this order: the standard attributes (DiffusionBValue,
DiffusionGradientOrientation; per frame for enhanced objects), Siemens private tags
(0019,xx0C/xx0E "SIEMENS MR HEADER") and the CSA image header (B_value,
DiffusionGradientDirection), GE (0043,xx39 "GEMS_PARM_01" first value;
0019,xxBB-BD "GEMS_ACQU_01"), Philips (2001,xx03 "Philips Imaging DD 001";
2005,xxB0-B2 "Philips MR Imaging DD 001", ordered RL, AP, FH, i.e. LPS).
Siemens and Philips vectors are in patient (LPS) coordinates; GE vectors are stored in
the logical (frequency, phase, slice) frame and rotated to LPS by :mod:`._diffusion_ge`
(which also scales GE b-values of shortened vectors as dcm2niix does).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from imagedata.formats.dicom import _diffusion_ge
from imagedata.formats.dicom._csa import csa_value, scan_items
from imagedata.formats.dicom._scan import FloatArray, Image, floats


def _first(v: Any) -> Any:
    if v is None or isinstance(v, (str, bytes, int, float)):
        return v
    try:
        return v[0]
    except (TypeError, IndexError):
        return v


def _to_float(v: Any) -> float | None:
    v = _first(v)
    if v is None or v == "":
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _csa(img: Image) -> dict[str, list[Any]]:
    """B_value and DiffusionGradientDirection of the CSA image header (of a Siemens file).

    :func:`._csa.scan_items`: kept by the header pass for a mosaic, else read from the
    file's dataset.
    """
    if "_csa" not in img.extra:
        man = str(img.file.get("Manufacturer", "")).upper()
        img.extra["_csa"] = scan_items(img.file) if "SIEMENS" in man else {}
    csa: dict[str, list[Any]] = img.extra["_csa"]
    return csa


def b_value(img: Image) -> float | None:
    """b-value (s/mm2) of an image, or None when no attribute holds one."""
    if "_b" not in img.extra:
        img.extra["_b"] = _b_value(img)
    b: float | None = img.extra["_b"]
    return b


def gradient(img: Image) -> FloatArray | None:
    """Unit-less gradient direction (x, y, z) of an image, or None."""
    if "_g" not in img.extra:
        img.extra["_g"] = _gradient(img)
    g: FloatArray | None = img.extra["_g"]
    return g


def _ge(img: Image) -> tuple[float | None, FloatArray | None]:
    """GE (b, unit direction in GE's frame), cached."""
    if "_ge" not in img.extra:
        b = _to_float(img.get("DiffusionBValue"))
        if b is None:
            ge = _to_float(img.file.private(0x0043, "GEMS_PARM_01", 0x39))
            b = None if ge is None else (float(ge % 1e9) if ge >= 1e9 else ge)
        raw = _diffusion_ge.raw_direction(img) if b is not None and b > 0 else None
        img.extra["_ge"] = _diffusion_ge.scaled(b, raw)
    out: tuple[float | None, FloatArray | None] = img.extra["_ge"]
    return out


def _b_value(img: Image) -> float | None:
    if _vendor(img) == "ge" and floats(img.get("DiffusionGradientOrientation"), 3) is None:
        return _ge(img)[0]
    b = _to_float(img.get("DiffusionBValue"))
    if b is not None:
        return b
    if "_csa_b" in img.extra:
        return float(img.extra["_csa_b"])
    man = _vendor(img)
    if man == "siemens":
        b = _to_float(img.file.private(0x0019, "SIEMENS MR HEADER", 0x0C))
        return b if b is not None else _to_float(csa_value(_csa(img), "B_value"))
    if man == "philips":
        return _to_float(img.file.private(0x2001, "Philips Imaging DD 001", 0x03))
    return None


def _vendor(img: Image) -> str:
    """'siemens', 'philips', 'ge' or '' from Manufacturer (private tags are vendor specific)."""
    man = str(img.file.get("Manufacturer", "")).upper()
    if "SIEMENS" in man:
        return "siemens"
    if "PHILIPS" in man:
        return "philips"
    return "ge" if man.startswith("GE") else ""


def _gradient(img: Image) -> FloatArray | None:
    g = floats(img.get("DiffusionGradientOrientation"), 3)
    if g is not None:
        return g
    if "_csa_g" in img.extra:
        return np.asarray(img.extra["_csa_g"], dtype=np.float64)
    man = _vendor(img)
    if man == "siemens":
        g = floats(img.file.private(0x0019, "SIEMENS MR HEADER", 0x0E), 3)
        return g if g is not None else floats(_csa(img).get("DiffusionGradientDirection"), 3)
    if man == "ge":
        raw = _ge(img)[1]
        return None if raw is None else _diffusion_ge.to_patient(img, raw)
    if man == "philips":
        elements = (0xB0, 0xB1, 0xB2)
        parts = [img.file.private(0x2005, "Philips MR Imaging DD 001", e) for e in elements]
        if all(p is not None for p in parts):
            return np.array([_to_float(p) or 0.0 for p in parts])
    return None


def dti(img: Image) -> FloatArray:
    """(b, gx, gy, gz) of an image; zeros where unknown."""
    b = b_value(img)
    g = gradient(img)
    out = np.zeros(4)
    out[0] = 0.0 if b is None else b
    if g is not None:
        out[1:] = g
    return out
