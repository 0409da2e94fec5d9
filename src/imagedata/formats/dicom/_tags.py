"""Tag dimensions: what varies between images at one slice position.

A :class:`Dim` turns an image into a sort key (exact, hashable) and an axis value.
Well-known dimensions are 'time', 'triggertime', 'b', 'bvector', 'dti', 'fa', 'te' and
'ti'; any DICOM keyword and any callable on the dataset are dimensions too.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.datadict import keyword_dict
from pydicom.dataset import Dataset

from imagedata.axis import Order
from imagedata.formats.dicom import _diffusion
from imagedata.formats.dicom._scan import Image, floats

#: Candidates of input_order='auto', in priority order (the first explaining a variation wins).
AUTO_CANDIDATES = ("dti", "b", "te", "ti", "fa", "time", "triggertime")
#: Outer-to-inner order of the tag axes found by 'auto' ('time,te' gives (time, te, ...)).
AXIS_ORDER = ("time", "triggertime", "dti", "bvector", "b", "ti", "fa", "te")


def norm_key(v: Any) -> Hashable:
    """A comparable, hashable key for a DICOM value (numbers rounded to 1e-6)."""
    if v is None or (isinstance(v, str) and v == ""):
        return (0,)
    if isinstance(v, np.ndarray):
        return (2, tuple(round(float(x), 6) for x in v.reshape(-1)))
    if isinstance(v, (int, float, np.number)):
        f = float(v)
        return (1, round(f, 6)) if math.isfinite(f) else (0,)
    if isinstance(v, (str, bytes)):
        try:
            return (1, round(float(v), 6))
        except ValueError:
            return (3, str(v))
    try:
        items = list(v)
    except TypeError:
        return (3, str(v))
    arr = floats(items)
    if arr is not None:
        return (2, tuple(round(float(x), 6) for x in arr))
    return (3, tuple(str(x) for x in items))


#: Day 0 of absolute times (keeps seconds exact to ~1e-7 in float64).
_EPOCH = _dt.date(2000, 1, 1).toordinal()


def _parse_time(text: str) -> float | None:
    t = text.strip().replace(":", "")
    if len(t) < 2:
        return None
    try:
        hh = int(t[0:2])
        mm = int(t[2:4]) if len(t) >= 4 else 0
        ss = float(t[4:]) if len(t) > 4 else 0.0
    except ValueError:
        return None
    return hh * 3600 + mm * 60 + ss


def _day_seconds(date: str) -> float | None:
    d = date.strip().replace(".", "").replace("-", "")
    try:
        day = _dt.date(int(d[0:4]), int(d[4:6]), int(d[6:8])).toordinal() - _EPOCH
        return float(day) * 86400.0
    except (ValueError, IndexError):
        return None


def absolute_time(img: Image) -> float | None:
    """Acquisition time in seconds since 2000-01-01 (or of the day when no date is known).

    From AcquisitionDateTime, else AcquisitionDate + AcquisitionTime, else
    ContentDate + ContentTime; None when no time is present.
    """
    if "_t" not in img.extra:
        img.extra["_t"] = _absolute_time(img)
    t: float | None = img.extra["_t"]
    return t


def _absolute_time(img: Image) -> float | None:
    adt = img.get("AcquisitionDateTime")
    if adt:
        s = str(adt).split("+")[0].split("-")[0]
        day = _day_seconds(s[:8])
        sec = _parse_time(s[8:]) if len(s) > 8 else 0.0
        if day is not None and sec is not None:
            return day + sec
    for dkw, tkw in (("AcquisitionDate", "AcquisitionTime"), ("ContentDate", "ContentTime")):
        t = img.get(tkw)
        if t:
            sec = _parse_time(str(t))
            if sec is None:
                continue
            date = img.get(dkw) or img.get("SeriesDate") or img.get("StudyDate")
            day = _day_seconds(str(date)) if date else None
            return (day or 0.0) + sec
    return None


def _int_or_zero(v: Any) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class Dim:
    """One tag dimension: its axis name, a sort key and the axis value of an image."""

    name: str
    key: Callable[[Image], Hashable]
    value: Callable[[Image], Any]
    #: True when the axis value is one number (then per-slice values are kept).
    scalar: bool = True
    #: Sort key when it differs from `key` (gradients keep their acquisition order).
    sort: Callable[[Image], Any] | None = None
    #: The attribute(s) the values come from (for error messages).
    attribute: str = ""
    #: True when an image has the attribute (None: always).
    present: Callable[[Image], bool] | None = None


def _time_key(img: Image) -> Hashable:
    t = absolute_time(img)
    return (
        round(t, 4) if t is not None else 0.0,
        _int_or_zero(img.get("TemporalPositionIdentifier")),
        _int_or_zero(img.get("AcquisitionNumber")),
    )


def time_value(img: Image) -> float:
    """Acquisition time (seconds) of an image, else its TemporalPositionIdentifier."""
    t = absolute_time(img)
    if t is not None:
        return t
    return float(_int_or_zero(img.get("TemporalPositionIdentifier")))


def _float_of(keyword: str) -> Callable[[Image], float]:
    def value(img: Image) -> float:
        v = img.get(keyword)
        try:
            return float(v if not hasattr(v, "__len__") or isinstance(v, str) else v[0])
        except (TypeError, ValueError, IndexError):
            return math.nan

    return value


def _keyed(value: Callable[[Image], Any]) -> Callable[[Image], Hashable]:
    return lambda img: norm_key(value(img))


def _b(img: Image) -> float:
    b = _diffusion.b_value(img)
    return math.nan if b is None else b


def _g(img: Image) -> Any:
    g = _diffusion.gradient(img)
    return np.zeros(3) if g is None else g


_TIME_ATTRS = "AcquisitionDateTime, AcquisitionTime, ContentTime or TemporalPositionIdentifier"
_B_ATTRS = "DiffusionBValue (or the vendor's b-value tags)"


def _has_time(img: Image) -> bool:
    return absolute_time(img) is not None or img.get("TemporalPositionIdentifier") is not None


def _has_b(img: Image) -> bool:
    return _diffusion.b_value(img) is not None


def _float_dim(name: str, keyword: str) -> Dim:
    value = _float_of(keyword)
    return Dim(
        name,
        _keyed(value),
        value,
        attribute=keyword,
        present=lambda img: not math.isnan(value(img)),
    )


def _keyword_dim(keyword: str) -> Dim:
    def value(img: Image) -> Any:
        v = img.get(keyword)
        arr = floats(v) if v is not None and not isinstance(v, (int, float)) else None
        if isinstance(v, (int, float)):
            return float(v)
        if arr is not None:
            return float(arr[0]) if arr.size == 1 else arr
        return "" if v is None else str(v)

    return Dim(
        keyword,
        _keyed(value),
        value,
        scalar=True,
        attribute=keyword,
        present=lambda img: img.get(keyword) is not None,
    )


def _callable_dim(fn: Callable[[Dataset], Any]) -> Dim:
    def value(img: Image) -> Any:
        ds = img.ds
        if img.extra:
            ds = Dataset(img.ds)
            for k, v in img.extra.items():
                if not k.startswith("_") and k in keyword_dict:
                    setattr(ds, k, v)
        return fn(ds)

    name = getattr(fn, "__name__", "tag")
    return Dim("tag" if name == "<lambda>" else name, _keyed(value), value)


def make_dim(order: str | Callable[[Dataset], Any]) -> Dim:
    """The dimension for one input_order item (a well-known name, DICOM keyword or callable).

    Raises
    ------
    ValueError
        If `order` is neither a known order, a DICOM keyword nor callable.
    """
    if callable(order):
        return _callable_dim(order)
    return _named_dim(str(getattr(order, "value", order)).strip())


@functools.lru_cache(maxsize=64)
def _named_dim(name: str) -> Dim:
    """:func:`make_dim` of a name, made once (a Dim is frozen, its functions pure)."""
    low = name if name not in keyword_dict else ""  # 'TriggerTime' is a keyword, 'triggertime' not
    if low == Order.TIME:
        return Dim("time", _time_key, time_value, attribute=_TIME_ATTRS, present=_has_time)
    if low == Order.TRIGGERTIME:
        return _float_dim("triggertime", "TriggerTime")
    if low == Order.B:
        return Dim("b", _keyed(_b), _b, attribute=_B_ATTRS, present=_has_b)
    if low == Order.BVECTOR:
        return Dim(
            "bvector",
            _keyed(_g),
            _g,
            scalar=False,
            sort=_time_key,
            attribute="DiffusionGradientOrientation (or the vendor's gradient tags)",
            present=lambda img: _diffusion.gradient(img) is not None,
        )
    if low == Order.DTI:
        return Dim(
            "dti",
            _keyed(_diffusion.dti),
            _diffusion.dti,
            scalar=False,
            sort=lambda img: (norm_key(_b(img)), _time_key(img)),
            attribute=_B_ATTRS,
            present=_has_b,
        )
    for short, kw in (("fa", "FlipAngle"), ("te", "EchoTime"), ("ti", "InversionTime")):
        if low == short:
            return _float_dim(short, kw)
    if name in keyword_dict or name in ("StackID", "InStackPositionNumber", "DimensionIndexValues"):
        return _keyword_dim(name)
    raise ValueError(
        f"unknown input_order {name!r}; use one of {', '.join(o.value for o in Order)}, "
        "a DICOM keyword (e.g. 'InversionTime'), a comma list ('time,te') or a callable"
    )


def parse_order(order: Any) -> list[Dim] | None:
    """Dimensions of an input_order; None for 'auto'; [] for 'none'.

    Examples
    --------
    >>> [d.name for d in parse_order("time,te")]
    ['time', 'te']
    >>> parse_order("none")
    []
    """
    if callable(order):
        return [make_dim(order)]
    if isinstance(order, (list, tuple)):
        return [make_dim(o) for o in order]
    text = str(getattr(order, "value", order)).strip()
    if text.lower() == Order.AUTO:
        return None
    if text.lower() in (Order.NONE, ""):
        return []
    return [make_dim(part) for part in text.split(",") if part.strip()]
