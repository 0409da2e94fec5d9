"""Write the values of a Series' tag axes into the DICOM attribute each axis came from.

====================  ===========================================================
axis                  attributes written per image
====================  ===========================================================
``time``              AcquisitionDate, AcquisitionTime, AcquisitionDateTime,
                      TemporalPositionIdentifier (1-based), NumberOfTemporalPositions
``triggertime``       TriggerTime (ms)
``b``                 DiffusionBValue
``bvector``           DiffusionGradientOrientation (LPS)
``dti``               DiffusionBValue and DiffusionGradientOrientation
``te``                EchoTime (ms) and EchoNumbers (1-based)
``fa``                FlipAngle
``ti``                InversionTime
a DICOM keyword       that attribute, converted to its VR
====================  ===========================================================

``time`` values are seconds since midnight of the first acquisition date (the
template's AcquisitionDate, else SeriesDate, StudyDate, else today); values of a day
or more roll over into the next date.  Exact per-slice values (``Axis.slice_values``)
are written where present, so slice timing survives a round trip.
"""

from __future__ import annotations

import datetime as _dt
import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pydicom.datadict import dictionary_VR, keyword_dict
from pydicom.dataset import Dataset

from imagedata.axis import Axis
from imagedata.errors import WriteError
from imagedata.formats.dicom._values import ds_str, user_stacklevel

logger = logging.getLogger(__name__)

#: Sets the attributes of one tag axis on one image: (dataset, index on the axis, slice).
TagSetter = Callable[[Dataset, int, int], None]

#: Keywords written for the well-known axes (removed from the template before writing).
AXIS_KEYWORDS: dict[str, tuple[str, ...]] = {
    "time": (
        "AcquisitionDate",
        "AcquisitionTime",
        "AcquisitionDateTime",
        "TemporalPositionIdentifier",
        "NumberOfTemporalPositions",
    ),
    "triggertime": ("TriggerTime",),
    "b": ("DiffusionBValue",),
    "bvector": ("DiffusionGradientOrientation",),
    "dti": ("DiffusionBValue", "DiffusionGradientOrientation"),
    "te": ("EchoTime", "EchoNumbers"),
    "fa": ("FlipAngle",),
    "ti": ("InversionTime",),
}

_SIMPLE_DS = {"triggertime": "TriggerTime", "fa": "FlipAngle", "ti": "InversionTime"}


def axis_keywords(axis: Axis) -> tuple[str, ...]:
    """DICOM keywords written for `axis` (empty when it maps to no attribute)."""
    if axis.name in AXIS_KEYWORDS:
        return AXIS_KEYWORDS[axis.name]
    return (axis.name,) if axis.name in keyword_dict else ()


def base_date(template: Dataset) -> _dt.date:
    """The date that ``time`` values count from."""
    for kw in ("AcquisitionDate", "SeriesDate", "StudyDate", "ContentDate"):
        value = str(template.get(kw, "") or "")
        if len(value) >= 8:
            try:
                return _dt.datetime.strptime(value[:8], "%Y%m%d").date()
            except ValueError:
                logger.warning("ignoring invalid %s %r", kw, value)
    return _dt.date.today()


def format_time(seconds: float, day0: _dt.date) -> tuple[str, str, str]:
    """(DA, TM, DT) strings of `seconds` since midnight of `day0`, to the microsecond.

    Examples
    --------
    >>> format_time(43200.25, _dt.date(2024, 2, 29))
    ('20240229', '120000.250000', '20240229120000.250000')
    >>> format_time(86400.0 + 61.5, _dt.date(2024, 2, 29))[:2]
    ('20240301', '000101.500000')
    """
    us = round(float(seconds) * 1_000_000)
    days, us = divmod(us, 86_400_000_000)
    secs, frac = divmod(us, 1_000_000)
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    date = (day0 + _dt.timedelta(days=days)).strftime("%Y%m%d")
    tm = f"{h:02d}{m:02d}{s:02d}.{frac:06d}"
    return date, tm, date + tm


def _per_slice(axis: Axis, nslices: int) -> Callable[[int, int], Any]:
    """Value of `axis` at (index, slice): exact per-slice values when present."""
    values = axis.values
    sv = axis.slice_values
    if values is None:
        raise WriteError(f"tag axis {axis.name!r} has no values; give it values before writing")
    if sv is not None and sv.ndim >= 2 and sv.shape[1] == nslices and sv.shape[0] == len(values):
        return lambda i, k: sv[i, k]
    return lambda i, k: values[i]


def _time_setter(axis: Axis, nslices: int, day0: _dt.date) -> TagSetter:
    value = _per_slice(axis, nslices)
    n = len(axis.values) if axis.values is not None else 0

    def set_time(ds: Dataset, i: int, k: int) -> None:
        date, tm, dt = format_time(float(value(i, k)), day0)
        ds.AcquisitionDate = date
        ds.AcquisitionTime = tm
        ds.AcquisitionDateTime = dt
        ds.TemporalPositionIdentifier = i + 1
        ds.NumberOfTemporalPositions = n

    return set_time


def _bvector(v: Any) -> list[float]:
    g = np.asarray(v, dtype=np.float64).reshape(-1)
    if g.size != 3:
        raise WriteError(f"a diffusion gradient needs 3 values (x, y, z), got {g.tolist()}")
    return [float(x) for x in g]


def _diffusion_setter(axis: Axis, nslices: int) -> TagSetter:
    value = _per_slice(axis, nslices)
    name = axis.name

    def set_diffusion(ds: Dataset, i: int, k: int) -> None:
        v = np.asarray(value(i, k), dtype=np.float64).reshape(-1)
        if name == "b":
            ds.DiffusionBValue = float(v[0])
        elif name == "bvector":
            ds.DiffusionGradientOrientation = _bvector(v)
        else:  # dti: b, gx, gy, gz
            if v.size != 4:
                raise WriteError(f"axis 'dti' needs 4 values (b, gx, gy, gz), got {v.tolist()}")
            ds.DiffusionBValue = float(v[0])
            ds.DiffusionGradientOrientation = _bvector(v[1:])

    return set_diffusion


def _echo_setter(axis: Axis, nslices: int) -> TagSetter:
    value = _per_slice(axis, nslices)

    def set_echo(ds: Dataset, i: int, k: int) -> None:
        ds.EchoTime = ds_str(float(value(i, k)))
        ds.EchoNumbers = i + 1

    return set_echo


def _convert(value: Any, vr: str, keyword: str) -> Any:
    """Convert one axis value to what pydicom expects for `vr`."""
    arr = np.asarray(value)
    items: Sequence[Any] = arr.reshape(-1).tolist()
    if vr == "DS":
        out: list[Any] = [ds_str(float(x)) for x in items]
    elif vr in ("IS", "US", "SS", "UL", "SL", "UV", "SV"):
        out = [round(float(x)) for x in items]
    elif vr in ("FD", "FL"):
        out = [float(x) for x in items]
    elif vr in ("SQ", "OB", "OW", "OF", "OD", "OL", "OV", "UN"):
        raise WriteError(f"cannot write tag axis values into {keyword} (VR {vr})")
    else:
        out = [str(x) for x in items]
    return out[0] if len(out) == 1 else out


def _keyword_setter(axis: Axis, nslices: int) -> TagSetter:
    value = _per_slice(axis, nslices)
    keyword = axis.name
    vr = dictionary_VR(keyword).split(" ")[0]

    def set_keyword(ds: Dataset, i: int, k: int) -> None:
        setattr(ds, keyword, _convert(value(i, k), vr, keyword))

    return set_keyword


def _simple_setter(axis: Axis, nslices: int) -> TagSetter:
    value = _per_slice(axis, nslices)
    keyword = _SIMPLE_DS[axis.name]

    def set_simple(ds: Dataset, i: int, k: int) -> None:
        setattr(ds, keyword, ds_str(float(value(i, k))))

    return set_simple


def tag_setter(axis: Axis, nslices: int, day0: _dt.date) -> TagSetter | None:
    """The function that writes `axis` into an image, or None (with a warning) if none fits."""
    if axis.name == "time":
        return _time_setter(axis, nslices, day0)
    if axis.name in ("b", "bvector", "dti"):
        return _diffusion_setter(axis, nslices)
    if axis.name == "te":
        return _echo_setter(axis, nslices)
    if axis.name in _SIMPLE_DS:
        return _simple_setter(axis, nslices)
    if axis.name in keyword_dict:
        return _keyword_setter(axis, nslices)
    warnings.warn(
        f"tag axis {axis.name!r} is no DICOM attribute: its values are not written and the "
        "images of this axis differ only by InstanceNumber; name the axis after a DICOM "
        "keyword (e.g. 'EchoTime') to keep them",
        stacklevel=user_stacklevel(),
    )
    return None


__all__ = ["AXIS_KEYWORDS", "axis_keywords", "base_date", "format_time", "tag_setter"]
