"""Named axes of a Series.

A Series has one :class:`Axis` per array dimension.  Spatial axes are named
``slice``, ``row`` and ``column``; their geometry lives in the header's affine.
Tag axes (``time``, ``b``, ``te``, ``fa``, ``ti``, a DICOM keyword, ...) carry the
tag value of each index, and optionally the exact value per slice (DICOM
acquisition times differ from slice to slice).  A colour axis is named ``rgb``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

SPATIAL = ("slice", "row", "column")


class Order(str, enum.Enum):
    """Well-known tag orders; any DICOM keyword is accepted as well."""

    NONE = "none"
    AUTO = "auto"
    TIME = "time"
    TRIGGERTIME = "triggertime"
    B = "b"
    BVECTOR = "bvector"
    DTI = "dti"
    FA = "fa"
    TE = "te"
    TI = "ti"


#: DICOM keyword written for each well-known tag axis.
ORDER_KEYWORDS: dict[str, str] = {
    "time": "AcquisitionTime",
    "triggertime": "TriggerTime",
    "b": "DiffusionBValue",
    "bvector": "DiffusionGradientOrientation",
    "fa": "FlipAngle",
    "te": "EchoTime",
    "ti": "InversionTime",
}


@dataclass(frozen=True, eq=False)
class Axis:
    """One dimension of a Series.

    Parameters
    ----------
    name
        ``slice``, ``row``, ``column``, ``rgb``, or the tag name (``time``, ``b``, ...).
    values
        Tag values, one per index (shape (n,) or (n, 3) for gradient vectors);
        ``None`` for spatial axes.
    slice_values
        Optional exact tag value per (index, slice), shape (n, nslices).
    """

    name: str
    values: npt.NDArray[np.generic] | None = None
    slice_values: npt.NDArray[np.generic] | None = field(default=None, repr=False)

    @property
    def is_spatial(self) -> bool:
        """True for ``slice``, ``row`` and ``column``."""
        return self.name in SPATIAL

    @property
    def is_tag(self) -> bool:
        """True for a tag axis (anything but spatial and colour axes)."""
        return self.name not in SPATIAL and self.name != "rgb"

    def take(self, key: int | slice | npt.NDArray[np.intp]) -> Axis:
        """Return the axis restricted to `key` (values and per-slice values follow)."""
        if self.values is None:
            return self
        values = self.values[key]
        sv = None if self.slice_values is None else self.slice_values[key]
        return Axis(self.name, values, sv)

    def take_slices(self, key: int | slice | npt.NDArray[np.intp]) -> Axis:
        """Return the axis with per-slice values restricted to the slice `key`."""
        if self.slice_values is None:
            return self
        sv = self.slice_values[:, key]
        if sv.ndim == 1:
            sv = sv[:, None]
        return Axis(self.name, self.values, sv)

    @property
    def step(self) -> float:
        """Step between tag values (imagedata 3.x ``Axis.step``); 1 for index axes.

        Raises
        ------
        ValueError
            If the tag values are not evenly spaced (read them from ``values``).

        Examples
        --------
        >>> tag_axis("time", [0, 2.5, 5.0]).step
        2.5
        """
        if self.values is None or len(self.values) < 2:
            return 1.0
        v = np.asarray(self.values, dtype=np.float64)
        if v.ndim != 1:
            raise ValueError(f"axis {self.name!r} holds vectors; it has no single step")
        d = np.diff(v)
        if not np.allclose(d, d[0], rtol=1e-6, atol=1e-9):
            raise ValueError(
                f"axis {self.name!r} values are not evenly spaced ({v.tolist()}); use axis.values"
            )
        return float(d[0])

    def __repr__(self) -> str:
        if self.values is None:
            return f"Axis({self.name!r})"
        return f"Axis({self.name!r}, n={len(self.values)})"


def tag_axis(name: str, values: npt.ArrayLike, slice_values: npt.ArrayLike | None = None) -> Axis:
    """Create a tag axis, converting values to arrays.

    Examples
    --------
    >>> tag_axis("time", [0, 2.5]).values.tolist()
    [0.0, 2.5]
    """
    v = np.asarray(values)
    if v.dtype.kind in "iub":
        v = v.astype(np.float64)
    sv = None if slice_values is None else np.asarray(slice_values)
    if sv is not None and sv.shape[0] != v.shape[0]:
        raise ValueError(
            f"slice_values of axis {name!r} has {sv.shape[0]} rows, expected {v.shape[0]}"
        )
    return Axis(name, v, sv)


def default_axes(shape: tuple[int, ...]) -> tuple[Axis, ...]:
    """Return the default axes of an array: the last three spatial, the rest tags.

    A 2D array is (row, column); a 1D array a single column.  Leading dimensions
    become tag axes named ``time`` (first), then ``tag1``, ``tag2``, ... with index values.

    Examples
    --------
    >>> [a.name for a in default_axes((3, 4, 5, 6))]
    ['time', 'slice', 'row', 'column']
    """
    n = len(shape)
    spatial = SPATIAL[max(0, 3 - n) :] if n <= 3 else SPATIAL
    ntag = n - len(spatial)
    tags = []
    for i in range(ntag):
        name = "time" if i == 0 else f"tag{i}"
        tags.append(Axis(name, np.arange(shape[i], dtype=np.float64)))
    return (*tags, *(Axis(s) for s in spatial))


class Axes(tuple):
    """The axes of a Series: a tuple that also finds an axis by name (``si.axes.time``).

    Examples
    --------
    >>> axes = Axes(default_axes((2, 3, 4, 5)))
    >>> axes.time.name, axes.slice.name, len(axes)
    ('time', 'slice', 4)
    """

    def __getattr__(self, name: str) -> Axis:
        for a in self:
            if a.name == name:
                return a
        raise AttributeError(f"no axis named {name!r}; the axes are {[a.name for a in self]}")
