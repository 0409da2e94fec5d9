"""Write a float series as a DICOM Parametric Map (SOP Class 1.2.840.10008.5.1.4.1.1.30).

A Parametric Map stores the values themselves: float32 data as Float Pixel Data,
float64 as Double Float Pixel Data, uint8/uint16 as Pixel Data, so reading it back
gives the same numbers bit for bit.  The geometry is given per frame (plane position)
and shared (orientation, pixel spacing, slice spacing); a Real World Value Mapping
(identity: slope 1, intercept 0) carries the units as a UCUM code (``units='ms'``,
``'mm2/s'``, ``'s'``; ``'1'`` when none is given).  Patient, study and frame of
reference come from the series' template; the source images are referenced (see
:func:`._derived.source_datasets`).  Built with highdicom (``imagedata[derived]``).

The reader reads Parametric Maps like any enhanced multi-frame image; the units are
in the template's RealWorldValueMappingSequence (see :func:`units_of`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from imagedata.errors import WriteError
from imagedata.formats.dicom import _derived
from imagedata.formats.dicom._derived import SeriesLike

logger = logging.getLogger(__name__)

#: Meanings of common UCUM codes (others are written with the code as meaning).
UCUM_MEANINGS = {
    "1": "no units",
    "ms": "millisecond",
    "s": "second",
    "min": "minute",
    "mm2/s": "square millimeter per second",
    "um2/ms": "square micrometer per millisecond",
    "10-3.mm2/s": "10^-3 square millimeter per second",
    "/s": "per second",
    "/min": "per minute",
    "1/min": "per minute",
    "ml/100g/min": "milliliter per 100 gram per minute",
    "mL/100g/min": "milliliter per 100 gram per minute",
    "mm": "millimeter",
    "Hz": "hertz",
    "ppm": "parts per million",
    "%": "percent",
    "{ratio}": "ratio",
    "mmol/L": "millimole per liter",
}

_PM_DTYPES = ("float32", "float64", "uint8", "uint16")


def units_concept(units: str | None) -> Any:
    """The highdicom CodedConcept of a UCUM code (``'1'``, no units, when None).

    Examples
    --------
    >>> units_concept("mm2/s").meaning
    'square millimeter per second'
    """
    hd = _derived.highdicom()
    code = "1" if units in (None, "") else str(units)
    return hd.sr.CodedConcept(code, "UCUM", UCUM_MEANINGS.get(code, code))


def _window(arr: np.ndarray, window: str | tuple[float, float] | None) -> list[Any] | None:
    """highdicom VOI LUT transformations for `window` ('auto', None or (center, width))."""
    if window is None:
        return None
    hd = _derived.highdicom()
    if isinstance(window, str):
        if window.lower() != "auto":
            raise ValueError(f"window={window!r}: give 'auto', None or (center, width)")
        finite = arr[np.isfinite(arr)]
        if finite.size == 0:
            return None
        lo, hi = float(finite.min()), float(finite.max())
        center, width = (lo + hi) / 2.0, hi - lo
    else:
        center, width = (float(v) for v in window)
    if not width > 0:
        return None
    function = "LINEAR_EXACT" if width < 1 else "LINEAR"
    return [hd.VOILUTTransformation(center, width, voi_lut_function=function)]


def _values(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.name in _PM_DTYPES:
        return arr
    if arr.dtype.kind == "f":
        return arr.astype(np.float64)
    raise WriteError(
        f"a Parametric Map holds float32, float64, uint8 or uint16 values, not {arr.dtype}; "
        "convert first (e.g. si.astype(np.float32)), or write with iod='image'"
    )


def parametric_map(
    si: SeriesLike,
    *,
    units: str | None = None,
    sernum: int | None = None,
    serdes: str | None = None,
    window: str | tuple[float, float] | None = "auto",
    keep_uid: bool = False,
    source: SeriesLike | None = None,
) -> Dataset:
    """The Parametric Map of `si` (one multi-frame dataset with file meta).

    Raises
    ------
    WriteError
        For axes other than (slice, row, column), unsupported dtypes, or no source images.
    MissingDependencyError
        Without highdicom (``pip install 'imagedata[derived]'``).
    """
    hd = _derived.highdicom()
    header = si.header
    arr = _values(_derived.frames(header, np.asarray(si), "Parametric Map"))
    sources = _derived.source_datasets(header, source, what="Parametric Map")
    finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if arr.dtype.kind == "u":
        value_range: tuple[Any, Any] = (int(lo), int(hi))
    else:
        value_range = (lo, hi)
    label = str(serdes or header.template.get("SeriesDescription", "") or "values")[:16]
    mapping = hd.pm.RealWorldValueMapping(
        lut_label=label,
        lut_explanation=label,
        unit=units_concept(units),
        value_range=value_range,
        slope=1,
        intercept=0,
    )
    ds = hd.pm.ParametricMap(
        source_images=sources,
        pixel_array=np.ascontiguousarray(arr),
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        voi_lut_transformations=_window(arr, window),
        **_derived.identity(header.template, sernum, keep_uid, "parametric-map"),
        **_derived.frame_geometry(header),
    )
    logger.info(
        "Parametric Map: %d frames of %s, units %r, %d source images",
        arr.shape[0],
        arr.dtype,
        units or "1",
        len(sources),
    )
    return _derived.finish(ds, header.template, serdes)


def units_of(template: Dataset) -> str | None:
    """The UCUM code of the first Real World Value Mapping in `template`, if any.

    Examples
    --------
    >>> units_of(Dataset()) is None
    True
    """
    items = [template]
    for kw in ("SharedFunctionalGroupsSequence",):
        items.extend(template.get(kw, []))
    for item in items:
        for rwvm in item.get("RealWorldValueMappingSequence", []):
            for code in rwvm.get("MeasurementUnitsCodeSequence", []):
                value = code.get("CodeValue")
                if value:
                    return str(value)
    return None
