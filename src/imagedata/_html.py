"""HTML for notebooks: a Series as a small montage with its header, collections as tables.

``Series._repr_html_`` (what Jupyter shows for a Series at the end of a cell) is
:func:`series_html`: an inline PNG montage of up to :data:`MAX_TILES` slices, at most
:data:`MAX_WIDTH` pixels wide, beside a table of the patient, series, shape, axes,
spacing and orientation.  The PNG is made with numpy and zlib only (no matplotlib),
so the display always works; a series whose pixels cannot be shown (e.g. complex, or
unusual axes) gets the table and a note why.  Study, Patient and Cohort show a
table of their series (:func:`collection_html`).

Examples
--------
>>> import numpy as np
>>> from imagedata.series import Series
>>> text = series_html(Series(np.zeros((3, 8, 8), dtype=np.uint16)))
>>> "data:image/png;base64," in text and "(3, 8, 8)" in text
True
"""

from __future__ import annotations

import base64
import html
import logging
import math
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from imagedata import geometry
from imagedata._curves import TAG_UNITS

logger = logging.getLogger(__name__)

#: Most slices in the inline montage.
MAX_TILES = 12
#: Widest inline montage in pixels (larger ones are subsampled by whole pixels).
MAX_WIDTH = 480


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode an (rows, columns, 3) uint8 image as PNG (no dependency beyond zlib).

    Examples
    --------
    >>> png_bytes(np.zeros((2, 3, 3), dtype=np.uint8))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = img.shape[:2]
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def montage_png(si: Any) -> bytes:
    """A small PNG montage of `si` (first tag, up to :data:`MAX_TILES` slices)."""
    from imagedata.viewer import montage

    image = montage(si, max_tiles=MAX_TILES, gap=2)
    step = max(1, math.ceil(image.shape[1] / MAX_WIDTH))
    return png_bytes(image[::step, ::step])


def _value(si: Any, keyword: str) -> str:
    try:
        value = si.header.template.get(keyword)
    except Exception:  # a Series whose header was lost
        return ""
    return "" if value is None else str(value)


def _axes_text(si: Any) -> str:
    parts = []
    for axis, n in zip(si.header.axes, si.shape):
        if axis.is_tag and axis.values is not None and np.ndim(axis.values) == 1:
            vals = np.asarray(axis.values)
            try:
                lo, hi = float(vals[0]), float(vals[-1])
                if axis.name == "time":  # seconds from the first time point
                    lo, hi = 0.0, hi - lo
                unit = f" {TAG_UNITS[axis.name]}" if axis.name in TAG_UNITS else ""
                parts.append(f"{axis.name} ({n}: {lo:g} .. {hi:g}{unit})")
                continue
            except (TypeError, ValueError):
                pass
        parts.append(f"{axis.name} ({n})")
    return ", ".join(parts)


def series_rows(si: Any) -> list[tuple[str, str]]:
    """(label, value) rows describing `si` for the HTML table."""
    name = _value(si, "PatientName").replace("^", " ").strip()
    pid = _value(si, "PatientID")
    patient = f"{name} ({pid})" if name and pid else name or pid
    series = " ".join(v for v in (_value(si, "SeriesNumber"), _value(si, "SeriesDescription")) if v)
    rows = [
        ("patient", patient),
        ("series", series),
        ("modality", _value(si, "Modality")),
        ("shape", f"{tuple(int(n) for n in si.shape)} {np.dtype(si.dtype).name}"),
        ("axes", _axes_text(si)),
    ]
    affine = si.header.affine
    spacing = " x ".join(f"{float(v):g}" for v in si.spacing)
    rows.append(("spacing", f"{spacing} mm (slice, row, column)"))
    iop = ", ".join(f"{float(v):.3g}" for v in geometry.iop(affine))
    rows.append(("orientation", f"{geometry.orientation_name(affine)} ({iop})"))
    return [(k, v) for k, v in rows if v]


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
        f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    return f"<table>{body}</table>"


def series_html(si: Any) -> str:
    """The notebook display of a Series: inline PNG montage and header table."""
    try:
        rows = series_rows(si)
    except Exception as err:  # a Series whose header was lost: show what numpy knows
        rows = [("shape", f"{tuple(si.shape)} {si.dtype}"), ("header", str(err))]
        return f"<div><b>Series</b>{_table(rows)}</div>"
    try:
        data = base64.b64encode(montage_png(si)).decode("ascii")
        picture = (
            f"<img src='data:image/png;base64,{data}' "
            "style='image-rendering:pixelated;max-width:100%' alt='montage'/>"
        )
    except Exception as err:  # the table must always show
        logger.debug("no montage for the HTML display: %s", err)
        picture = f"<p><i>no montage: {html.escape(str(err))}</i></p>"
    return (
        "<div style='display:flex;gap:1em;align-items:flex-start'>"
        f"<div>{picture}</div><div><b>Series</b>{_table(rows)}</div></div>"
    )


# --- collections ---------------------------------------------------------------------------

_COLUMNS = ("patient", "study", "series", "modality", "shape", "axes", "spacing")


def _walk(obj: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(keys from the collection down, series) for every series in a nested collection."""
    for key, value in obj.items():
        if isinstance(value, dict):
            yield from _walk(value, (*path, str(key)))
        else:
            yield (*path, str(key)), value


def collection_rows(collection: Any) -> list[dict[str, str]]:
    """One row per series of a Study, Patient or Cohort."""
    rows = []
    for _, si in _walk(collection):
        try:
            info = dict(series_rows(si))
        except Exception as err:
            info = {"series": f"(no header: {err})"}
        date = _value(si, "StudyDate")
        description = _value(si, "StudyDescription")
        info["study"] = " ".join(v for v in (date, description) if v)
        info["spacing"] = info.get("spacing", "").replace(" mm (slice, row, column)", " mm")
        rows.append(info)
    rows.sort(key=lambda r: (r.get("patient", ""), r.get("study", ""), r.get("series", "")))
    return rows


def collection_html(collection: Any) -> str:
    """A table of the series of a Study, Patient or Cohort."""
    rows = collection_rows(collection)
    columns = [c for c in _COLUMNS if any(r.get(c) for r in rows)]
    head = "".join(f"<th style='text-align:left'>{c}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td style='text-align:left'>{html.escape(r.get(c, ''))}</td>" for c in columns)
        + "</tr>"
        for r in rows
    )
    kind = type(collection).__name__
    return (
        f"<div><b>{html.escape(kind)}</b>: {len(rows)} series"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )
