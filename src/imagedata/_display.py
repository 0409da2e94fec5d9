"""Display helpers shared by :mod:`imagedata.viewer` and :mod:`imagedata._viewer_window`.

Windows (center, width), colour detection, the (slice, row, column) volume at a tag
index, orientation letters and tag text.  Plain numpy: no matplotlib here.

Examples
--------
>>> import numpy as np
>>> auto_window(np.array([0.0, 10.0]))
(5.0, 10.0)
>>> direction_letters([0, 1, 0])
'P'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from imagedata import geometry

#: Letters for the +x, +y, +z directions of DICOM LPS space, and for the opposite ones.
_POSITIVE = ("L", "P", "H")
_NEGATIVE = ("R", "A", "F")

#: Colour of orientation labels (RGB, 0-255).
LABEL_COLOUR = (255, 255, 0)

Window = tuple[float, float]

#: Where each edge label sits inside its axes: (x, y, horizontal and vertical alignment).
_EDGE_SPOTS = {
    "left": (0.01, 0.5, "left", "center"),
    "right": (0.99, 0.5, "right", "center"),
    "top": (0.5, 0.99, "center", "top"),
    "bottom": (0.5, 0.01, "center", "bottom"),
}


# --- windows and colour ------------------------------------------------------------------


def auto_window(data: npt.ArrayLike) -> Window:
    """A (center, width) window spanning the 0.5-99.5 percentiles of the finite values.

    Examples
    --------
    >>> auto_window(np.array([0.0, 10.0]))
    (5.0, 10.0)
    """
    arr = _magnitude(np.asarray(data))
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return 0.5, 1.0
    if finite.size > 1_000_000:
        finite = finite[:: finite.size // 1_000_000 + 1]
    lo, hi = (float(v) for v in np.percentile(finite, [0.5, 99.5]))
    if finite.size <= 200:
        lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        return lo, 1.0
    return (lo + hi) / 2.0, hi - lo


def _magnitude(arr: np.ndarray) -> np.ndarray:
    if np.iscomplexobj(arr):
        return np.abs(arr)
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    return arr


def _check_window(window: Sequence[float]) -> Window:
    if len(window) != 2:
        raise ValueError(f"a window is (center, width), got {tuple(window)!r}")
    center, width = float(window[0]), float(window[1])
    if not (math.isfinite(center) and math.isfinite(width)) or width <= 0:
        raise ValueError(
            f"window width must be a positive number, got center={center}, width={width}"
        )
    return center, width


def normalise(data: npt.ArrayLike, window: Window) -> np.ndarray:
    """Map `data` through the (center, width) `window` to [0, 1] (NaN gives 0)."""
    center, width = window
    arr = _magnitude(np.asarray(data)).astype(np.float64)
    out = (arr - (center - width / 2.0)) / width
    return np.clip(np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def is_rgb(si: Any) -> bool:
    """True for a colour Series (last axis ``rgb``, e.g. DICOM secondary captures)."""
    header = getattr(si, "_header", None)
    return header is not None and bool(header.axes) and header.axes[-1].name == "rgb"


def is_inverted(si: Any) -> bool:
    """True for MONOCHROME1 data (the lowest value is displayed white: CR, DX, some MG).

    The values stay as stored; only the display maps them inverted.
    """
    header = getattr(si, "_header", None)
    template = getattr(header, "template", None)
    value = template.get("PhotometricInterpretation", "") if template is not None else ""
    return str(value).strip().upper() == "MONOCHROME1"


def _colour(data: np.ndarray, window: Sequence[float] | None) -> np.ndarray:
    """RGB data (last axis of 3) as uint8: 8-bit data unchanged, others through the window."""
    if window is None and data.dtype == np.uint8:
        return data.copy()
    win = auto_window(data) if window is None else _check_window(window)
    return np.round(normalise(data, win) * 255.0).astype(np.uint8)


# --- volumes -------------------------------------------------------------------------------


def volume(si: Any, tag: int | Sequence[int] | None = None) -> Any:
    """The 3-D (slice, row, column) volume of `si` at tag index `tag` (default 0 on every tag axis).

    A 2-D image becomes one slice.

    Raises
    ------
    IndexError
        If `tag` is out of range, naming the axis and its length.
    """
    arr = si
    colour = int(is_rgb(si))
    if arr.ndim == 2 + colour:
        return arr[None, ...]
    lead = arr.ndim - 3 - colour
    tags = [0] * lead if tag is None else ([tag] if isinstance(tag, int) else list(tag))
    tags = (tags + [0] * lead)[:lead]
    for i, t in enumerate(tags):
        n = arr.shape[0]
        if not -n <= t < n:
            raise IndexError(f"tag index {t} is out of range: axis {i} has {n} values (0..{n - 1})")
        arr = arr[t]
    return arr


# --- orientation letters and tag text -----------------------------------------------------


def direction_letters(vector: npt.ArrayLike, threshold: float = 0.25) -> str:
    """Letters (L/R, P/A, H/F) of an LPS direction, strongest first.

    Components weaker than `threshold` are left out; the strongest is always given.

    Examples
    --------
    >>> direction_letters([1, 0, 0]), direction_letters([0, 0, -1])
    ('L', 'F')
    >>> direction_letters([-0.8, 0.6, 0])
    'RP'
    """
    v = np.asarray(vector, dtype=np.float64).reshape(3)
    order = np.argsort(-np.abs(v), kind="stable")
    out: list[str] = []
    for i in order:
        if out and abs(v[i]) < threshold:
            break
        out.append(_POSITIVE[i] if v[i] > 0 else _NEGATIVE[i])
    return "".join(out)


def orientation_labels(affine: npt.ArrayLike) -> dict[str, str]:
    """Letters at the four edges of a displayed slice (row 0 at the top, column 0 at the left).

    The right edge is where the column index grows (direction X), the bottom edge
    where the row index grows (direction Y); see ../shared/GEOMETRY.md.

    Examples
    --------
    >>> from imagedata.geometry import affine_from_parts
    >>> sag = affine_from_parts((0, 0, 0), (0, 1, 0, 0, 0, -1), (1, 1), 1)
    >>> orientation_labels(sag)
    {'left': 'A', 'right': 'P', 'top': 'H', 'bottom': 'F'}
    """
    x, y = geometry.direction_cosines(affine)
    return {
        "left": direction_letters(-x),
        "right": direction_letters(x),
        "top": direction_letters(-y),
        "bottom": direction_letters(y),
    }


def _attr(si: Any, keyword: str) -> str:
    try:
        value = si.getDicomAttribute(keyword)
    except Exception:  # a plain array or a header without the attribute
        return ""
    return "" if value is None else str(value)


def tag_text(si: Any, index: int) -> str:
    """Describe tag index `index` of the first tag axis, e.g. ``'time 2.5 s'`` or ``'b 500'``."""
    header = getattr(si, "_header", None)
    axes = header.tag_axes if header is not None else ()
    if not axes or axes[0].values is None:
        return f"tag {index}"
    axis = axes[0]
    value = np.asarray(axis.values)[index]
    if axis.name == "time":
        return f"time {float(value) - float(np.asarray(axis.values)[0]):g} s"
    if axis.name in ("triggertime", "te", "ti"):
        return f"{axis.name} {float(value):g} ms"
    if axis.name == "b":
        return f"b {float(value):g} s/mm2"
    if np.ndim(value) == 0:
        try:
            return f"{axis.name} {float(value):g}"
        except (TypeError, ValueError):
            return f"{axis.name} {value}"
    return f"{axis.name} {np.array2string(np.asarray(value), precision=3)}"
