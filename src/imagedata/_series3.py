"""Bodies of the imagedata 3.x Series API that :mod:`imagedata.series` delegates to.

Window, image positions set by dict, SOP instance UIDs, the ``tags`` setter and the
short ``repr``/``str`` summaries live here so that ``series.py`` stays the array type.
Nothing here runs on indexing or arithmetic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pydicom.uid import generate_uid

from imagedata import geometry
from imagedata.axis import tag_axis
from imagedata.errors import GeometryError, HeaderError, UnsupportedOptionError

if TYPE_CHECKING:
    from imagedata.header import Header

#: A :class:`imagedata.series.Series` (not imported: series imports this module).
Series = Any

FloatArray = npt.NDArray[np.float64]


# --- window -------------------------------------------------------------------------------


def window(si: Series) -> tuple[float, float]:
    """(center, width): WindowCenter/WindowWidth of the template, else from the data range.

    As in imagedata 3.x the range gives center (min + max) / 2 and width max - min,
    rounded for integer data.
    """
    tmpl = si.header.template
    c, w = tmpl.get("WindowCenter"), tmpl.get("WindowWidth")
    if c is not None and w is not None:
        return _first(c), _first(w)
    if si.size == 0:
        return 0.0, 0.0
    arr = np.asarray(si)
    if si.color:
        return 127.0, 256.0
    lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    center, width = (lo + hi) / 2, hi - lo
    if arr.dtype.kind in "iub":
        center = round(center) if abs(center) > 2 else center
        width = round(width) if abs(width) > 2 else width
    return center, width


def _first(value: Any) -> float:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = value[0]
    return float(value)


def window_property(index: int, keyword: str) -> property:
    """``windowCenter`` (index 0) or ``windowWidth`` (1): template value, else from the data."""

    def getter(si: Series) -> float:
        return window(si)[index]

    def setter(si: Series, value: Any) -> None:
        if value is not None and not isinstance(value, (int, float, np.number)):
            raise TypeError(f"{keyword} must be a number, got {value!r}")
        si.header = si.header.with_attribute(keyword, None if value is None else float(value))

    what = "(min + max) / 2" if index == 0 else "max - min"
    return property(getter, setter, doc=f"DICOM {keyword}; {what} of the data when absent (3.x).")


def photometric_property() -> property:
    """``photometricInterpretation``: the template's, else MONOCHROME2 (RGB for colour)."""

    def getter(si: Series) -> str:
        value = si.header.template.get("PhotometricInterpretation")
        return str(value) if value else ("RGB" if si.color else "MONOCHROME2")

    def setter(si: Series, value: str | None) -> None:
        si.header = si.header.with_attribute("PhotometricInterpretation", value)

    return property(getter, setter, doc="DICOM PhotometricInterpretation (imagedata 3.x).")


def affine_of(si: Series, transformation: Any) -> FloatArray:
    """`si`'s affine, or the one of a 3.x transformation matrix when one is given."""
    if transformation is None:
        return si.header.affine
    return geometry.affine_from_transformation_matrix(transformation)


# --- positions ------------------------------------------------------------------------------


def positions_from(header: Header, value: Any) -> FloatArray:
    """LPS positions (nslices, 3) for ``si.imagePositions = value`` (3.x semantics).

    A dict names slices to change; the others stay where they are.  ``{0: position}``
    alone moves the whole stack so that slice 0 lies at `position` (this sets the
    origin of a new Series, and keeps 3.x's ``for s: si.imagePositions = {s: ...}``
    loop exact).  A sequence or array gives every slice.  Positions are (z, y, x).
    """
    current = header.slice_positions().copy()
    if isinstance(value, Mapping):
        rows = {int(k): _zyx(v) for k, v in value.items()}
        bad = [k for k in rows if not 0 <= k < len(current)]
        if bad:
            raise GeometryError(
                f"imagePositions: slice(s) {bad} do not exist (the series has "
                f"{len(current)} slices)"
            )
        if set(rows) == {0}:
            return current + (rows[0][::-1] - current[0])
        for k, p in rows.items():
            current[k] = p[::-1]
        return current
    arr = [_zyx(v) for v in np.atleast_2d(np.asarray(value, dtype=np.float64))]
    return np.array([p[::-1] for p in arr])


def _zyx(v: Any) -> FloatArray:
    p = np.asarray(v, dtype=np.float64).reshape(-1)
    if p.shape != (3,):
        raise GeometryError(f"an image position is three numbers in (z, y, x) order, got {v!r}")
    return p


# --- tags, UIDs -------------------------------------------------------------------------------


def set_tags(si: Series, tags: Mapping[int, Any]) -> None:
    """``si.tags = {slice: values}``: the values of the first tag axis, per slice."""
    h = si.header
    idx = next((i for i, a in enumerate(h.axes) if a.is_tag), None)
    if idx is None:
        raise HeaderError("this series has no tag axis; make one with Series(arr, 'time')")
    n = h.nslices
    if sorted(int(k) for k in tags) != list(range(n)):
        raise HeaderError(f"tags must name every slice 0..{n - 1}, got {sorted(tags)}")
    rows = [np.asarray(tags[k]).reshape(-1) for k in range(n)]
    if any(r.shape != (si.shape[idx],) for r in rows):
        raise HeaderError(f"each slice needs {si.shape[idx]} tag values (axis {h.axes[idx].name})")
    values = np.stack(rows)  # (nslices, ntags)
    same = bool(np.all(values == values[:1]))
    axis = tag_axis(h.axes[idx].name, values[0], None if same else values.T)
    axes = list(h.axes)
    axes[idx] = axis
    si.header = h.replace(axes=tuple(axes))


def sop_instance_uids(si: Series) -> dict[tuple[int, int], str]:
    """{(tag, slice): SOPInstanceUID} that ``write(..., keep_uid=True)`` gives each image.

    The UIDs of the files read are not kept (an edited series is a new series); these
    are derived from the SeriesInstanceUID exactly as the DICOM writer derives them.
    """
    series = si.seriesInstanceUID or ""
    if not series:
        raise HeaderError("this series has no SeriesInstanceUID; set si.seriesInstanceUID")
    h = si.header
    ntags = int(np.prod([si.shape[i] for i, a in enumerate(h.axes) if a.is_tag]))
    return {
        (t, k): str(generate_uid(entropy_srcs=[series, str(t), str(k)]))
        for t in range(max(ntags, 1))
        for k in range(h.nslices)
    }


def per_image_attribute(slice: int | None, tag: int | None) -> None:
    """Refuse per-image attributes (3.x ``setDicomAttribute(..., slice=, tag=)``)."""
    if slice is None and tag is None:
        return
    raise UnsupportedOptionError(
        "setDicomAttribute(..., slice=, tag=): per-image attributes are not kept; the "
        "template holds what all images share. Set the attribute for the whole series, "
        "or split it (si[t] / si[:, k]) and write the parts (see docs/migrating.md)"
    )


# --- summaries --------------------------------------------------------------------------


def _text(si: Series, keyword: str) -> str:
    v = si.header.template.get(keyword)
    return "" if v is None else str(v)


def _when(date: str, time: str) -> str:
    if not date:
        return time
    try:
        d = dt.datetime.strptime(date[:8], "%Y%m%d").date().isoformat()
    except ValueError:
        d = date
    t = f"{time[0:2]}:{time[2:4]}:{time[4:6]}" if len(time) >= 6 and time[:6].isdigit() else time
    return f"{d} {t}".strip()


def _numbers(v: Sequence[float] | FloatArray) -> str:
    return "[" + ", ".join(f"{x:.4g}" for x in v) + "]"


def describe(si: Series) -> str:
    """``str(si)``: what imagedata 3.x printed, plus geometry."""
    h = si.header
    axes = " x ".join(f"{a.name}({n})" for a, n in zip(h.axes, si.shape))
    sn = _text(si, "SeriesNumber")
    lines = [
        f"Patient: {_text(si, 'PatientID')} {_text(si, 'PatientName')}".rstrip(),
        f"  Study  Time: {_when(_text(si, 'StudyDate'), _text(si, 'StudyTime'))}",
        f"  Series Time: {_when(_text(si, 'SeriesDate'), _text(si, 'SeriesTime'))}",
        f"  Series #{sn} {_text(si, 'Modality')}: {_text(si, 'SeriesDescription')}",
        f"  Shape: {'x'.join(map(str, si.shape))}, dtype: {si.dtype}, input order: {h.input_order}",
        f"  Axes: {axes}",
        f"  Spacing: {_numbers(si.spacing)} mm, orientation: {geometry.orientation_name(h.affine)}",
    ]
    return "\n".join(lines)


def summary(si: Series) -> str:
    """``repr(si)``: one line with the identity, shape, dtype and axes (never the values)."""
    h = si.header
    names = ",".join(a.name for a in h.axes)
    desc = _text(si, "SeriesDescription")
    who = _text(si, "PatientID")
    return (
        f"<Series {who + ' ' if who else ''}#{_text(si, 'SeriesNumber')} {desc!r} "
        f"shape={tuple(si.shape)} dtype={si.dtype} axes=({names}) "
        f"spacing={_numbers(si.spacing)} {geometry.orientation_name(h.affine)}>"
    )
