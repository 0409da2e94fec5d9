"""The header of a Series: geometry (one affine), named axes and the DICOM template.

A :class:`Header` is immutable: every change makes a new one with
:meth:`Header.replace`, so views of one array may share it safely.  The DICOM
attributes shared by all images (patient, study, series, equipment) live in a
:class:`pydicom.Dataset`, the *template*; it is copied before any change
(copy-on-write, see :meth:`Header.with_attribute`).
"""

from __future__ import annotations

import copy
import dataclasses
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from imagedata import geometry
from imagedata.axis import SPATIAL, Axis, default_axes
from imagedata.errors import GeometryError

FloatArray = npt.NDArray[np.float64]

#: Attributes a template passes to a derived series (patient, study, frame of reference, equipment).
TEMPLATE_KEYWORDS: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "StudyDescription",
    "AccessionNumber",
    "ReferringPhysicianName",
    "FrameOfReferenceUID",
    "PositionReferenceIndicator",
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "InstitutionName",
    "StationName",
    "DeviceSerialNumber",
    "SoftwareVersions",
    "MagneticFieldStrength",
    "BodyPartExamined",
    "PatientPosition",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "RepetitionTime",
    "EchoTime",
    "FlipAngle",
    "ScanningSequence",
    "SequenceVariant",
    "ScanOptions",
    "MRAcquisitionType",
    "SliceThickness",
    "KVP",
)


def new_template(modality: str = "OT") -> Dataset:
    """Return a template for a series made from a bare array, with fresh UIDs.

    Examples
    --------
    >>> ds = new_template()
    >>> ds.SeriesNumber == 1, ds.Modality
    (True, 'OT')
    """
    ds = Dataset()
    ds.PatientName = ""
    ds.PatientID = ""
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.SeriesNumber = 1
    ds.Modality = modality
    return ds


@dataclass(frozen=True, eq=False)
class Header:
    """Geometry, axes and DICOM template of a Series.

    Parameters
    ----------
    shape
        The array shape the header describes.
    axes
        One :class:`~imagedata.axis.Axis` per dimension.
    affine
        4x4 (slice, row, column) -> LPS affine (see :mod:`imagedata.geometry`).
    positions
        Exact LPS position of each slice, shape (nslices, 3), where slices are not
        evenly spaced; ``None`` when the affine alone places every slice.
    template
        DICOM attributes shared by all images.
    input_order, input_format
        How the data were sorted and which format they came from.
    """

    shape: tuple[int, ...]
    axes: tuple[Axis, ...]
    affine: FloatArray
    template: Dataset
    positions: FloatArray | None = None
    input_order: str = "none"
    input_format: str = "none"

    # --- construction ------------------------------------------------------------

    @classmethod
    def default(cls, shape: tuple[int, ...], template: Dataset | None = None) -> Header:
        """Header of a bare array: axial, unit spacing, origin at 0, fresh UIDs."""
        return cls(
            shape=tuple(shape),
            axes=default_axes(tuple(shape)),
            affine=geometry.default_affine(),
            template=new_template() if template is None else template,
        )

    def replace(self, **changes: Any) -> Header:
        """Return a copy with the given fields changed."""
        return dataclasses.replace(self, **changes)

    def deepcopy(self) -> Header:
        """Return a copy that shares nothing mutable with this header."""
        return dataclasses.replace(
            self,
            affine=self.affine.copy(),
            template=copy.deepcopy(self.template),
            positions=None if self.positions is None else self.positions.copy(),
        )

    # --- queries ------------------------------------------------------------------

    @property
    def axis_names(self) -> tuple[str, ...]:
        """Names of the axes, in array order."""
        return tuple(a.name for a in self.axes)

    def axis_index(self, name: str) -> int | None:
        """Index of the axis called `name`, or None."""
        for i, a in enumerate(self.axes):
            if a.name == name:
                return i
        return None

    @property
    def tag_axes(self) -> tuple[Axis, ...]:
        """The tag axes, in array order."""
        return tuple(a for a in self.axes if a.is_tag)

    @property
    def nslices(self) -> int:
        """Number of slices (1 when the slice axis was indexed away)."""
        i = self.axis_index("slice")
        return 1 if i is None else self.shape[i]

    def slice_positions(self) -> FloatArray:
        """Exact LPS position S_k of every slice, shape (nslices, 3)."""
        if self.positions is not None:
            return self.positions
        return geometry.slice_positions(self.affine, self.nslices)

    def slice_locations(self) -> FloatArray:
        """n . S_k of every slice."""
        return geometry.slice_locations(self.affine, self.slice_positions())

    # --- geometry changes -----------------------------------------------------------

    def with_affine(self, affine: npt.ArrayLike) -> Header:
        """Return a header with a new affine (exact per-slice positions are dropped)."""
        return self.replace(affine=geometry.check_affine(affine), positions=None)

    def with_positions(self, positions: npt.ArrayLike) -> Header:
        """Return a header whose slices lie at `positions` (LPS, one row per slice).

        The affine's slice step becomes (S_last - S_first)/(N - 1); exact positions are
        kept only when they are not evenly spaced.
        """
        pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        if len(pos) != self.nslices:
            raise geometry.GeometryError(
                f"expected {self.nslices} slice positions (one per slice), got {len(pos)}"
            )
        x, y = geometry.direction_cosines(self.affine)
        dr, dc = geometry.pixel_spacing(self.affine)
        step: float | FloatArray = geometry.slice_distance(self.affine) or 1.0
        if len(pos) > 1:
            step = (pos[-1] - pos[0]) / (len(pos) - 1)
        affine = geometry.affine_from_parts(pos[0], np.concatenate([x, y]), (dr, dc), step)
        regular = np.allclose(geometry.slice_positions(affine, len(pos)), pos, atol=1e-6)
        return self.replace(affine=affine, positions=None if regular else pos)

    # --- DICOM attributes -------------------------------------------------------------

    def with_attribute(self, keyword: str, value: Any) -> Header:
        """Return a header whose template has `keyword` set (copy-on-write)."""
        template = copy.deepcopy(self.template)
        if value is None:
            if keyword in template:
                delattr(template, keyword)
        else:
            setattr(template, keyword, value)
        return self.replace(template=template)

    def with_geometry_of(self, source: Header) -> Header:
        """This header with the spatial geometry (and tag axes when they fit) of `source`.

        Raises
        ------
        GeometryError
            If `source` places another number of slices.
        """
        nslices = self.nslices
        positions = source.slice_positions()
        if len(positions) != nslices and source.nslices != nslices:
            raise GeometryError(
                f"geometry has {source.nslices} slices, the data {nslices}; "
                "pass a geometry with the same number of slices"
            )
        new = self.replace(affine=source.affine.copy(), positions=source.positions)
        if source.shape == self.shape:
            new = new.replace(axes=source.axes, input_order=source.input_order)
        if "FrameOfReferenceUID" in source.template:
            new = new.with_attribute("FrameOfReferenceUID", source.template.FrameOfReferenceUID)
        return new

    def with_axes(self, axes: Sequence[Axis]) -> Header:
        """Return a header with new axes (one per dimension)."""
        axes = tuple(axes)
        if len(axes) != len(self.shape):
            raise ValueError(
                f"expected {len(self.shape)} axes for shape {self.shape}, got {len(axes)}: "
                f"{[a.name for a in axes]}"
            )
        return self.replace(axes=axes)


# --- indexing -------------------------------------------------------------------------


def _expand_key(key: Any, ndim: int) -> list[Any] | None:
    """Expand Ellipsis; return one entry per original axis plus None for new axes."""
    if not isinstance(key, tuple):
        key = (key,)
    n_ell = 0
    nreal = 0
    for k in key:
        if k is Ellipsis:
            n_ell += 1
        elif k is not None:
            nreal += 1
    if n_ell > 1 or nreal > ndim:
        return None
    out: list[Any] = []
    for k in key:
        if k is Ellipsis:
            out.extend([slice(None)] * (ndim - nreal))
        else:
            out.append(k)
    if n_ell == 0:
        out.extend([slice(None)] * (ndim - nreal))
    return out


_SPATIAL_INDEX = {name: j for j, name in enumerate(SPATIAL)}


def index_header(header: Header, key: Any, shape: tuple[int, ...]) -> Header | None:
    """Return the header of ``array[key]``, or None where no geometry can be kept.

    Geometry is kept for integers, slices (with steps, reversed), Ellipsis and
    ``np.newaxis``; an integer array on one tag axis selects tags.  Boolean masks and
    fancy indexing of spatial axes give None.
    """
    items = _expand_key(key, len(header.axes))
    if items is None:
        return None
    starts = [0, 0, 0]
    steps = [1, 1, 1]
    moved = False
    slice_key: Any = None
    axes: list[Axis] = []
    fancy = 0
    i = 0
    for item in items:
        if item is None:
            axes.append(Axis("newaxis", np.zeros(1)))
            continue
        axis = header.axes[i]
        n = header.shape[i]
        i += 1
        j = _SPATIAL_INDEX.get(axis.name)
        if type(item) is slice:
            if item == _ALL:
                axes.append(axis)
                continue
            start, _, step = item.indices(n)
            if j is None:
                axes.append(axis.take(item))
                continue
            starts[j], steps[j] = start, step
            moved = True
            if j == 0:
                slice_key = item
            axes.append(axis)
            continue
        try:
            idx = operator.index(item)
        except TypeError:
            arr = np.asarray(item)
            fancy += 1
            if arr.dtype == bool or arr.ndim != 1 or not axis.is_tag or fancy > 1:
                return None
            axes.append(axis.take(arr.astype(np.intp)))
            continue
        if j is not None:
            starts[j] = idx + n if idx < 0 else idx
            moved = True
            if j == 0:
                slice_key = starts[0]
    if len(axes) != len(shape):
        return None
    positions = header.positions
    if slice_key is not None:
        axes, positions = _take_slices(axes, positions, slice_key)
    affine = geometry.index_affine(header.affine, starts, steps) if moved else header.affine
    return Header(
        shape,
        tuple(axes),
        affine,
        header.template,
        positions,
        header.input_order,
        header.input_format,
    )


_ALL = slice(None)


def _take_slices(
    axes: list[Axis], positions: FloatArray | None, key: int | slice
) -> tuple[list[Axis], FloatArray | None]:
    """Restrict per-slice tag values and exact positions to the slices `key`."""
    if any(a.slice_values is not None for a in axes):
        axes = [a.take_slices(key) if a.is_tag else a for a in axes]
    if positions is not None:
        positions = positions[key].reshape(-1, 3)
    return axes, positions


def reduce_header(
    header: Header, axes: Sequence[int], shape: tuple[int, ...], keepdims: bool
) -> Header | None:
    """Header after a reduction over `axes` (e.g. ``mean(axis=0)`` over time).

    A reduced tag axis or slice axis is dropped (the slice geometry stays that of the
    first slice); reducing a row or column axis loses the geometry (None).
    """
    ndim = len(header.axes)
    drop = {a % ndim for a in axes}
    if any(header.axes[a].name in ("row", "column") for a in drop):
        return None
    new_axes: list[Axis] = []
    for i, a in enumerate(header.axes):
        if i not in drop:
            new_axes.append(a)
        elif keepdims:
            new_axes.append(
                a if a.is_spatial else Axis(a.name, None if a.values is None else a.values[:1])
            )
    positions = header.positions
    if positions is not None and header.axis_index("slice") in drop:
        positions = positions[:1]
    if len(new_axes) != len(shape):
        return None
    return header.replace(shape=shape, axes=tuple(new_axes), positions=positions)


# --- what the plugins take ----------------------------------------------------------------


@runtime_checkable
class SeriesLike(Protocol):
    """What format plugins and transports take: an array with a :class:`Header`.

    :class:`imagedata.series.Series` is one; :class:`HeaderedArray` is the plain one
    the lower layers make for a bare array.  Plugins use ``obj.header`` and
    ``np.asarray(obj)``, and never import the Series type.
    """

    @property
    def header(self) -> Header:
        """Geometry, axes and DICOM template."""

    @property
    def shape(self) -> tuple[int, ...]:
        """The array shape."""

    @property
    def dtype(self) -> np.dtype[Any]:
        """The array dtype (``np.asarray(obj)`` gives the values)."""


@dataclass(frozen=True, eq=False)
class HeaderedArray:
    """A plain ndarray with its :class:`Header`: the SeriesLike of the lower layers.

    Examples
    --------
    >>> import numpy as np
    >>> h = HeaderedArray(np.zeros((2, 3, 4)), Header.default((2, 3, 4)))
    >>> isinstance(h, SeriesLike), np.asarray(h).shape
    (True, (2, 3, 4))
    """

    array: np.ndarray
    header: Header

    @property
    def shape(self) -> tuple[int, ...]:
        """The array shape."""
        return tuple(self.array.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The array dtype."""
        return self.array.dtype

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return int(self.array.ndim)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.array if dtype is None else self.array.astype(dtype, copy=False)


def has_header(obj: Any) -> bool:
    """True when `obj` carries a :class:`Header` (a Series with geometry, a HeaderedArray)."""
    header = obj._header if hasattr(obj, "_header") else getattr(obj, "header", None)
    return isinstance(header, Header)


def series_like(obj: Any) -> SeriesLike:
    """`obj` when it carries a header, else the array with the default header.

    Examples
    --------
    >>> import numpy as np
    >>> series_like(np.zeros((4, 5))).header.shape
    (4, 5)
    """
    if has_header(obj) or hasattr(obj, "_header"):
        # A Series whose header was lost is passed on: its ``header`` raises, naming why.
        return obj
    arr = np.asarray(obj)
    return HeaderedArray(arr, Header.default(arr.shape))
