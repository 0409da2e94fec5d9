"""GE diffusion directions: from the logical (frequency, phase, slice) frame to LPS.

GE stores a diffusion direction in (0019,xxBB/BC/BD) "GEMS_ACQU_01" relative to the
prescription: frequency, phase and slice axes.  Turning it into patient coordinates
needs the in-plane phase-encoding direction (0018,1312), the image orientation and
the plane nearest to the slices; the rule is
:func:`imagedata.geometry.logical_gradient_frame`, the one dcm2niix applies.

As dcm2niix does, a vector of length between 0.03 and 0.97 is normalised and its
b-value scaled by the squared length (GE writes the nominal b-value for such
vectors), and a vector with b = 0 is zero.

Whatever cannot be decided with certainty gives one warning per series that names
the file and the choice made: a missing or unknown phase-encoding direction (the
vectors stay in GE's frame), slices close to 45 degrees between two planes, a
patient position other than head or feet first supine.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from imagedata import geometry
from imagedata.formats.dicom._scan import FloatArray, Image, floats

logger = logging.getLogger(__name__)

#: Key in Image.extra of the series context shared by the images of one group.
SERIES_KEY = "_ge_series"
#: Below this margin between the two largest normal components the plane is ambiguous.
PLANE_MARGIN = 0.05
#: Patient positions for which GE's rule is validated (head/feet first supine).
VALIDATED_POSITIONS = ("HFS", "FFS")


def is_ge(img: Image) -> bool:
    """True when the image comes from a GE scanner (Manufacturer starts with 'GE')."""
    return str(img.file.get("Manufacturer", "")).strip().upper().startswith("GE")


def raw_direction(img: Image) -> FloatArray | None:
    """The direction as GE stores it (frequency, phase, slice), or None."""
    parts = [img.file.private(0x0019, "GEMS_ACQU_01", e) for e in (0xBB, 0xBC, 0xBD)]
    if any(p is None for p in parts):
        return None
    return floats([_number(p) for p in parts], 3)


def _number(v: Any) -> float:
    if isinstance(v, (bytes, str)):
        v = v.decode("ascii", "replace") if isinstance(v, bytes) else v
        v = v.split("\\")[0].strip() or "0"
    try:
        return float(v[0] if isinstance(v, (list, tuple)) else v)
    except (TypeError, ValueError):
        return float("nan")


class SeriesContext:
    """What the images of one series share: their rotation and the warnings given."""

    def __init__(self) -> None:
        self.warned: set[str] = set()
        #: One frame per (orientation, phase direction), so equal vectors stay equal.
        self.frames: dict[tuple[tuple[float, ...], str], FloatArray] = {}

    def frame(self, iop: FloatArray, pe: str) -> FloatArray:
        """The logical-to-LPS frame of orientation `iop` and phase direction `pe`."""
        key = (tuple(np.round(np.asarray(iop, dtype=np.float64), 4).tolist()), pe)
        if key not in self.frames:
            self.frames[key] = geometry.logical_gradient_frame(iop, pe == "ROW")
        return self.frames[key]

    def warn(self, key: str, message: str) -> None:
        """Warn once per series for `key`."""
        if key not in self.warned:
            self.warned.add(key)
            warnings.warn(message, stacklevel=6)


def attach(images: Sequence[Image]) -> None:
    """Give the images of one series a shared context (cheap: nothing is read)."""
    ctx = SeriesContext()
    for img in images:
        img.extra[SERIES_KEY] = ctx


def _context(img: Image) -> SeriesContext:
    ctx = img.extra.get(SERIES_KEY)
    if ctx is None:
        ctx = img.extra[SERIES_KEY] = SeriesContext()
    assert isinstance(ctx, SeriesContext)
    return ctx


def scaled(b: float | None, raw: FloatArray | None) -> tuple[float | None, FloatArray | None]:
    """(b, unit direction) as dcm2niix reads GE: b scaled by |v|^2 for 0.03 < |v| < 0.97.

    Examples
    --------
    >>> b, v = scaled(1000.0, np.array([0.0, 0.0, 0.5]))
    >>> b, v.tolist()
    (250.0, [0.0, 0.0, 1.0])
    """
    if raw is None:
        return b, None
    length = float(np.linalg.norm(raw))
    if b is None or b <= 1e-6 or not length > 1e-6:
        return b, np.zeros(3)
    if 0.03 < length < 0.97:
        return b * length * length, raw / length
    return b, raw


def to_patient(img: Image, raw: FloatArray) -> FloatArray:
    """The LPS direction of GE direction `raw` of `img` (warnings: see the module)."""
    if not np.any(raw):
        return np.zeros(3)
    ctx = _context(img)
    pe = str(img.get("InPlanePhaseEncodingDirection", "") or "").strip().upper()
    if pe not in ("ROW", "COL"):
        ctx.warn(
            "pe",
            f"{img.name}: GE diffusion directions kept in GE's (frequency, phase, slice) "
            f"frame, not rotated to the patient: InPlanePhaseEncodingDirection is {pe or 'missing'}"
            " (expected ROW or COL); the .bvec written from them is not in the image frame",
        )
        return np.asarray(raw, dtype=np.float64)
    _check(img, ctx)
    g = ctx.frame(img.iop, pe) @ np.asarray(raw, dtype=np.float64)
    g[np.abs(g) < 1e-12] = 0.0
    return np.asarray(g, dtype=np.float64)


def _check(img: Image, ctx: SeriesContext) -> None:
    plane, margin = geometry.dominant_plane(img.iop)
    if margin < PLANE_MARGIN:
        ctx.warn(
            "plane",
            f"{img.name}: GE diffusion directions: slices about 45 degrees between two planes "
            f"(margin {margin:.3f}); rotated as {plane} slices, as dcm2niix does; check the .bvec",
        )
    pos = str(img.get("PatientPosition", "") or "").strip().upper()
    if pos not in VALIDATED_POSITIONS:
        ctx.warn(
            "position",
            f"{img.name}: GE diffusion directions: PatientPosition {pos or 'missing'} "
            f"(rule validated for {', '.join(VALIDATED_POSITIONS)}); rotated the same way, "
            "check the .bvec",
        )
