"""Pixel value quantisation for DICOM output: exact where possible, rounded otherwise.

DICOM MR, CT and Secondary Capture images store 16-bit integers (BitsAllocated 16).
:func:`quantize` chooses how a Series' values are stored:

- Integer values (any dtype, also floats holding whole numbers) whose range fits
  ``int16`` or ``uint16`` are stored **exactly**: RescaleSlope 1, RescaleIntercept 0,
  PixelRepresentation 1 (signed) when a value is negative, else 0.
- Integer values whose range fits 16 bits only after an offset are stored exactly
  with RescaleIntercept = the offset (slope 1).
- Anything else (wider integers, fractional floats) is stored with
  ``RescaleSlope = (max - min) / 65535`` and ``RescaleIntercept = min`` as written
  in the file (decimal strings of at most 16 characters), and
  ``stored = round((value - intercept) / slope)``: rounding to nearest, never
  truncation.  The largest error is ``slope / 2`` (plus a negligible decimal-string
  rounding term), i.e. ``(max - min) / 131070``; the exact value is computed and
  reported in :attr:`Quantized.max_error` and in a warning.

Non-finite values (NaN, inf) cannot be stored: they are written as the intercept
(the smallest finite value) and counted in the warning.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.valuerep import format_number_as_ds

from imagedata.errors import WriteError

logger = logging.getLogger(__name__)

UINT16_MAX = 65535


@dataclass(frozen=True)
class Quantized:
    """How a Series' values are stored.

    Attributes
    ----------
    stored
        The stored values, ``uint16`` or ``int16``, same shape as the input.
    slope, intercept
        RescaleSlope and RescaleIntercept as decimal strings (exactly as written).
    signed
        True when ``stored`` is int16 (PixelRepresentation 1).
    max_error
        Largest absolute difference between the input and
        ``stored * slope + intercept`` (0.0 when stored exactly).
    nonfinite
        Number of NaN/inf values replaced by the intercept.
    vmin, vmax
        Smallest and largest finite input value (0.0 for an empty or all-NaN array).
    """

    stored: npt.NDArray[np.integer]
    slope: str
    intercept: str
    signed: bool
    max_error: float
    nonfinite: int
    vmin: float
    vmax: float

    @property
    def exact(self) -> bool:
        """True when every finite value is stored without error."""
        return self.max_error == 0.0

    @property
    def rescaled(self) -> bool:
        """True when RescaleSlope/RescaleIntercept are not 1/0."""
        return float(self.slope) != 1.0 or float(self.intercept) != 0.0


def user_stacklevel() -> int:
    """``stacklevel`` for :func:`warnings.warn`: the first caller outside imagedata."""
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    frame = sys._getframe(1)  # the function that warns
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def ds_str(value: float) -> str:
    """Format a number as a valid DICOM DS (decimal string, at most 16 characters).

    Examples
    --------
    >>> ds_str(1 / 3)
    '0.33333333333333'
    >>> ds_str(2.0)
    '2.0'
    """
    v = float(value)
    if not np.isfinite(v):
        raise WriteError(f"cannot write {v} as a DICOM decimal string (DS)")
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v)}.0" if abs(v) < 1e13 else str(int(v))
    return format_number_as_ds(v)


def _finite_range(
    a: npt.NDArray[np.generic],
) -> tuple[float, float, int, npt.NDArray[np.bool_] | None]:
    """Return (min, max, number of non-finite values, mask of non-finite or None)."""
    if a.size == 0:
        return 0.0, 0.0, 0, None
    if a.dtype.kind in "iub":
        return float(a.min()), float(a.max()), 0, None
    vmin, vmax = float(np.min(a)), float(np.max(a))
    if np.isfinite(vmin) and np.isfinite(vmax):
        return vmin, vmax, 0, None
    bad = ~np.isfinite(a)
    nbad = int(bad.sum())
    good = a[~bad]
    if good.size == 0:
        return 0.0, 0.0, nbad, bad
    return float(good.min()), float(good.max()), nbad, bad


_CHUNK = 1 << 22


def _chunks(n: int) -> list[slice]:
    """Slices of at most ``_CHUNK`` elements covering ``range(n)`` (bounded temporaries)."""
    return [slice(i, min(n, i + _CHUNK)) for i in range(0, n, _CHUNK)] or [slice(0, 0)]


def _is_whole(a: npt.NDArray[np.generic], bad: npt.NDArray[np.bool_] | None) -> bool:
    """True when every finite value is a whole number."""
    if a.dtype.kind in "iub":
        return True
    flat = a.reshape(-1)
    for sl in _chunks(flat.size):
        part = flat[sl]
        if bad is not None:
            part = part[~bad.reshape(-1)[sl]]
        if not np.all(np.rint(part) == part):
            return False
    return True


def _store_exact(
    a: npt.NDArray[np.generic], vmin: float, vmax: float, bad: npt.NDArray[np.bool_] | None
) -> tuple[npt.NDArray[np.integer], float, bool] | None:
    """Store whole numbers exactly: (stored, intercept, signed), or None if impossible."""
    if a.dtype in (np.dtype(np.uint16), np.dtype(np.int16)) and bad is None:
        return np.ascontiguousarray(a), 0.0, a.dtype.kind == "i"
    dt: np.dtype[Any]
    if vmin >= 0 and vmax <= UINT16_MAX:
        offset, signed, dt = 0.0, False, np.dtype(np.uint16)
    elif vmin >= -32768 and vmax <= 32767:
        offset, signed, dt = 0.0, True, np.dtype(np.int16)
    elif vmax - vmin <= UINT16_MAX:
        offset, signed, dt = vmin, False, np.dtype(np.uint16)
    else:
        return None
    if offset == 0.0:
        src = a if bad is None else np.where(bad, 0, a)
        return np.asarray(src).astype(dt), offset, signed
    wide = a.astype(np.int64) if a.dtype.kind in "iub" else np.rint(a).astype(np.int64)
    wide -= int(offset)
    if bad is not None:
        wide[bad] = 0
    return wide.astype(dt), offset, signed


def quantize(data: npt.ArrayLike) -> Quantized:
    """Choose 16-bit stored values and rescale parameters for `data` (see module doc).

    Raises
    ------
    WriteError
        For data that are not real numbers (complex, strings, objects).

    Examples
    --------
    >>> q = quantize(np.array([0, 1, 4095], dtype=np.int32))
    >>> q.stored.dtype.name, q.slope, q.intercept, q.max_error
    ('uint16', '1.0', '0.0', 0.0)
    >>> q = quantize(np.float32([0, 1, 2]) / 7)
    >>> q.max_error < 0.3 / 65535
    True
    """
    a = np.asarray(data)
    if a.dtype.kind not in "biuf":
        raise WriteError(
            f"cannot write {a.dtype} data as DICOM; convert to a real-valued dtype first "
            "(e.g. np.abs(si) for complex data)"
        )
    vmin, vmax, nbad, bad = _finite_range(a)
    if _is_whole(a, bad):
        exact = _store_exact(a, vmin, vmax, bad)
        if exact is not None:
            stored, offset, signed = exact
            return Quantized(stored, "1.0", ds_str(offset), signed, 0.0, nbad, vmin, vmax)
    return _rescale(a, vmin, vmax, nbad, bad)


def _rescale(
    a: npt.NDArray[np.generic],
    vmin: float,
    vmax: float,
    nbad: int,
    bad: npt.NDArray[np.bool_] | None,
) -> Quantized:
    """Map [vmin, vmax] onto 0..65535 with rounding; error measured with the DS values."""
    span = vmax - vmin
    slope_s = ds_str(span / UINT16_MAX) if span > 0 else "1.0"
    intercept_s = ds_str(vmin)
    slope, intercept = float(slope_s), float(intercept_s)
    flat = a.reshape(-1)
    out = np.empty(flat.size, dtype=np.uint16)
    max_error = 0.0
    for sl in _chunks(flat.size):
        x = flat[sl].astype(np.float64)
        q = np.rint((x - intercept) / slope)
        np.clip(q, 0, UINT16_MAX, out=q)
        err = np.abs(q * slope + intercept - x)
        if bad is not None:
            mask = bad.reshape(-1)[sl]
            q[mask] = 0.0
            err[mask] = 0.0
        if err.size:
            max_error = max(max_error, float(err.max()))
        out[sl] = q
    stored = out.reshape(a.shape)
    return Quantized(stored, slope_s, intercept_s, False, max_error, nbad, vmin, vmax)


def colour_values(data: npt.ArrayLike) -> Quantized:
    """Store RGB data as 8-bit unsigned samples (exact; whole numbers 0..255 only).

    Raises
    ------
    WriteError
        For values that are not whole numbers in 0..255.

    Examples
    --------
    >>> colour_values(np.array([[0, 128, 255]])).stored.dtype.name
    'uint8'
    """
    a = np.asarray(data)
    if a.dtype.kind not in "biuf":
        raise WriteError(f"cannot write {a.dtype} colour data as DICOM")
    vmin, vmax, nbad, bad = _finite_range(a)
    if nbad or vmin < 0 or vmax > 255 or not _is_whole(a, bad):
        raise WriteError(
            f"RGB values must be whole numbers in 0..255 (got {a.dtype} in [{vmin:g}, {vmax:g}]"
            f"{', with NaN/inf' if nbad else ''}); convert with si.to_rgb() or np.clip/np.rint"
        )
    stored = np.ascontiguousarray(a, dtype=np.uint8)
    return Quantized(stored, "1.0", "0.0", False, 0.0, 0, vmin, vmax)


__all__ = ["Quantized", "colour_values", "ds_str", "quantize"]
