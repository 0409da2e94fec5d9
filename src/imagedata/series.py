"""The Series array type: a numpy array that knows its geometry and DICOM header.

Metadata rules (which operations keep the header):

* Indexing with integers, slices (steps, reversal), Ellipsis and ``np.newaxis``
  keeps exact geometry for every voxel that remains; an integer array on one tag
  axis selects tags.  Boolean masks and fancy indexing of spatial axes return a
  plain :class:`numpy.ndarray`.
* Ufuncs keep the header of the first Series operand whose shape equals the result.
  Reductions (``sum``, ``mean``, ``std``, ``max`` ...) over a tag or slice axis drop
  that axis; over rows or columns they return a plain ndarray.
* ``np.concatenate`` and ``np.stack`` along a tag axis merge the tag values.
* Shape-changing methods (``reshape``, ``transpose``, ``T``, ``swapaxes``, ``ravel``)
  and numpy functions not listed in :data:`KEEPS_HEADER` return plain ndarrays.
* ``copy()`` deep-copies the header; ``pickle`` keeps it; ``np.asarray(si)`` is a
  zero-copy view without it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from imagedata import _compat3, _dicomattrs, _series3, geometry
from imagedata.axis import Axes, Axis, tag_axis
from imagedata.errors import GeometryError, HeaderError
from imagedata.header import Header, index_header, reduce_header

FloatArray = npt.NDArray[np.float64]

Source = str | os.PathLike[str]


def _compat3_call(template: Any, options: dict[str, Any]) -> bool:
    """True for 3.x calls: opts as third positional argument, or 3.x option names."""
    if isinstance(template, dict) or type(template).__name__ == "Namespace":
        return True
    return bool(options) and not _compat3.COMPAT_NAMES.isdisjoint(options)


def _is_source(data: object) -> bool:
    if isinstance(data, (str, os.PathLike)):
        return True
    if isinstance(data, (list, tuple)) and data:
        return all(isinstance(d, (str, os.PathLike)) for d in data)
    return False


def _plain(x: Any) -> Any:
    """Replace Series by plain ndarray views, recursively in lists and tuples."""
    if isinstance(x, Series):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return x


class Series(np.ndarray):
    """A 2D-N-D image series with geometry and DICOM header.

    Index order is (tag..., slice, row, column).  See :mod:`imagedata.series`
    for which numpy operations keep the header.

    Parameters
    ----------
    data
        An array, a Series, a path or URL, or a list of paths.
    input_order
        How to sort images into tag axes when reading (``'none'``, ``'auto'``,
        ``'time'``, ``'b'``, ``'te'``, ..., or a DICOM keyword; not given: ``'auto'``,
        while an explicit ``'none'`` is honoured); for an array, the name of its first
        tag axis.
    template
        A Series, path or :class:`pydicom.Dataset` whose patient, study, frame of
        reference and equipment attributes the new series takes.
    geometry
        A Series or path whose geometry (affine, slice positions, tag axes) the new
        series takes.
    axes
        Axes to use for an array (one :class:`~imagedata.axis.Axis` per dimension).
    dtype
        Convert the data to this dtype.
    opts
        imagedata 3.x options (a dict or an argparse.Namespace), translated by
        :mod:`imagedata._compat3`; 3.x option names are accepted as keywords too.
    **options
        Passed to the reader (e.g. ``series=``, ``headers_only=``, ``rescale=``,
        ``progress=``: True for a bar, or ``f(done, total, stage)``).

    Examples
    --------
    >>> import numpy as np
    >>> si = Series(np.zeros((16, 160, 160), dtype=np.uint16))
    >>> si.spacing = (2.0, 1.3125, 1.3125)
    >>> si[5, ...].sliceLocations.tolist()
    [10.0]
    """

    _header: Header | None

    def __new__(
        cls,
        data: Any,
        input_order: str | None = None,
        template: Any = None,
        geometry: Any = None,
        axes: Sequence[Axis] | None = None,
        dtype: npt.DTypeLike | None = None,
        opts: Any = None,
        **options: Any,
    ) -> Series:
        if opts is not None or _compat3_call(template, options):
            if opts is None:  # 3.x passed opts as the third positional argument
                opts, template = template, None
            kw = {"template": template, "geometry": geometry, "axes": axes, "dtype": dtype}
            return _compat3.new_series(cls, data, input_order, opts, kw, options)
        header: Header | None = None
        if isinstance(data, Series):
            arr: np.ndarray = data.view(np.ndarray)
            header = data._header
        elif _is_source(data):
            from imagedata.loadsave import read

            arr, header = read(data, input_order=input_order or "auto", **options)
        else:
            if options:
                raise TypeError(f"unexpected options for array input: {sorted(options)}")
            arr = np.asarray(data)
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        if not arr.flags.c_contiguous and arr.ndim > 0 and arr.flags.writeable:
            arr = np.ascontiguousarray(arr)
        obj = arr.view(cls)
        if header is None or header.shape != obj.shape:
            header = Header.default(obj.shape)
            if input_order is not None and input_order not in ("none", "auto") and obj.ndim > 3:
                first = header.axes[0]
                header = header.with_axes((Axis(input_order, first.values), *header.axes[1:]))
                header = header.replace(input_order=input_order)
        if axes is not None:
            header = header.with_axes(axes)
        if geometry is not None:
            header = header.with_geometry_of(_header_of(geometry))
        if template is not None:
            header = header.replace(
                template=_dicomattrs.derived_template(_template_of(template), header.template)
            )
        obj._header = header
        return obj

    # --- numpy subclass protocol ------------------------------------------------------

    def __array_finalize__(self, obj: Any) -> None:
        h = getattr(obj, "_header", None)
        if h is not None and h.shape != self.shape:
            h = None
        self._header = h

    def __getitem__(self, key: Any) -> Any:
        out = super().__getitem__(key)
        if not isinstance(out, Series):
            return out
        h = self._header
        new = None if h is None else index_header(h, key, out.shape)
        if new is None:
            return out.view(np.ndarray)
        out._header = new
        return out

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        header: Header | None = None
        headers = []
        args = []
        for x in inputs:
            if isinstance(x, Series):
                headers.append(x._header)
                args.append(x.view(np.ndarray))
            else:
                args.append(x)
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = getattr(ufunc, method)(*args, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        if method == "__call__" or method == "accumulate":
            if isinstance(result, tuple):
                return tuple(self._wrap_same(r, headers) for r in result)
            return self._wrap_same(result, headers)
        if method == "reduce" and headers and headers[0] is not None:
            header = headers[0]
            return _wrap_reduced(result, header, kwargs)
        return result

    @staticmethod
    def _wrap_same(result: Any, headers: list[Header | None]) -> Any:
        if not isinstance(result, np.ndarray) or result.ndim == 0:
            return result
        for h in headers:
            if h is not None and h.shape == result.shape:
                out = result.view(Series)
                out._header = h
                return out
        return result

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        handler = _HANDLED.get(func)
        if handler is not None:
            return handler(*args, **kwargs)
        if func in KEEPS_HEADER:
            return super().__array_function__(func, types, args, kwargs)
        return func(*_plain(args), **{k: _plain(v) for k, v in kwargs.items()})

    def __reduce__(self) -> Any:
        reduced: Any = super().__reduce__()
        return reduced[0], reduced[1], (reduced[2], self._header)

    def __setstate__(self, state: Any) -> None:
        nd_state, header = state
        super().__setstate__(nd_state)
        self._header = header

    def copy(self, order: Any = "C") -> Series:
        """Return a copy of the data with a deep copy of the header."""
        out = super().copy(order=order)
        if self._header is not None:
            out._header = self._header.deepcopy()
        return out

    def __copy__(self) -> Series:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any] | None = None, /) -> Series:
        return self.copy()

    def transpose(self, *axes: Any) -> np.ndarray:  # type: ignore[override]
        """Transpose; the result is a plain ndarray (axes lose their meaning)."""
        return self.view(np.ndarray).transpose(*axes)

    @property
    def T(self) -> np.ndarray:  # type: ignore[override]
        """Transpose as a plain ndarray."""
        return self.view(np.ndarray).T

    def swapaxes(self, axis1: Any, axis2: Any) -> np.ndarray:  # type: ignore[override]
        """Swap axes; the result is a plain ndarray."""
        return self.view(np.ndarray).swapaxes(axis1, axis2)

    def reshape(self, *shape: Any, **kwargs: Any) -> Any:
        """Reshape; the header is kept only when the shape does not change."""
        out = self.view(np.ndarray).reshape(*shape, **kwargs)
        if out.shape == self.shape:
            return self.view()
        return out

    def ravel(self, order: Any = "C") -> np.ndarray:
        """Flatten to a plain 1-D ndarray."""
        return self.view(np.ndarray).ravel(order)

    # --- header access -----------------------------------------------------------------

    @property
    def header(self) -> Header:
        """The :class:`~imagedata.header.Header` (geometry, axes, DICOM template)."""
        if self._header is None:
            raise GeometryError(
                "this Series has no header: it came from an operation that cannot keep the "
                "geometry (e.g. reshape or transpose); pass it to Series(data, geometry=...)"
            )
        return self._header

    @header.setter
    def header(self, value: Header) -> None:
        if value.shape != self.shape:
            raise ValueError(f"header describes shape {value.shape}, the array has {self.shape}")
        self._header = value

    @property
    def axes(self) -> Axes:
        """One :class:`~imagedata.axis.Axis` per dimension; also by name: ``si.axes.time``."""
        return Axes(self.header.axes)

    @axes.setter
    def axes(self, axes: Sequence[Axis]) -> None:
        self._header = self.header.with_axes(axes)

    @property
    def input_order(self) -> str:
        """How the images were sorted into tag axes ('none', 'time', 'b', ...)."""
        return self.header.input_order

    @property
    def input_format(self) -> str:
        """The format the series was read from ('dicom', 'nifti', ..., 'none')."""
        return self.header.input_format

    @property
    def slices(self) -> int:
        """Number of slices."""
        return self.header.nslices

    @property
    def rows(self) -> int:
        """Number of rows."""
        return int(self.shape[-2]) if self.ndim >= 2 else 1

    @property
    def columns(self) -> int:
        """Number of columns."""
        return int(self.shape[-1])

    # --- geometry (all derived from the one affine) ------------------------------------

    @property
    def affine(self) -> FloatArray:
        """4x4 matrix from (slice, row, column, 1) to DICOM LPS (x, y, z, 1)."""
        return self.header.affine.copy()

    @affine.setter
    def affine(self, value: npt.ArrayLike) -> None:
        self._header = self.header.with_affine(value)

    @property
    def spacing(self) -> FloatArray:
        """[slice distance along the normal, row spacing, column spacing] in mm."""
        return geometry.spacing_zyx(self.header.affine)

    @spacing.setter
    def spacing(self, value: Sequence[float] | npt.ArrayLike) -> None:
        h = self.header
        self._header = h.with_affine(geometry.with_spacing(h.affine, value))

    @property
    def orientation(self) -> FloatArray:
        """Row cosines then column cosines, each in (z, y, x) order (imagedata 3.x)."""
        return geometry.orientation_zyx(self.header.affine)

    @orientation.setter
    def orientation(self, value: Sequence[float] | npt.ArrayLike) -> None:
        h = self.header
        iop = geometry.orientation_from_zyx(value)
        self._header = h.with_affine(geometry.with_orientation(h.affine, iop))

    @property
    def imagePositions(self) -> dict[int, FloatArray]:
        """{slice: position of its first voxel in (z, y, x) order}."""
        pos = self.header.slice_positions()
        return {k: p[::-1].copy() for k, p in enumerate(pos)}

    @imagePositions.setter
    def imagePositions(
        self, value: dict[int, npt.ArrayLike] | Sequence[npt.ArrayLike] | npt.ArrayLike
    ) -> None:
        """A dict updates the named slices; ``{0: p}`` alone moves the stack (3.x)."""
        self._header = self.header.with_positions(_series3.positions_from(self.header, value))

    @property
    def sliceLocations(self) -> FloatArray:
        """n . S_k of each slice (computed from positions, not the SliceLocation tag)."""
        return self.header.slice_locations()

    @sliceLocations.setter
    def sliceLocations(self, value: npt.ArrayLike) -> None:
        h = self.header
        loc = np.asarray(value, dtype=np.float64).reshape(-1)
        pos = h.slice_positions()
        if loc.shape != (len(pos),):
            raise GeometryError(f"expected {len(pos)} slice locations, got {loc.size}")
        n = geometry.normal(h.affine)
        shift = loc - geometry.locations_along(n, pos)
        self._header = h.with_positions(pos + shift[:, None] * n[None, :])

    @property
    def transformationMatrix(self) -> FloatArray:
        """4x4 matrix from (slice, row, column, 1) to (z, y, x, 1) (imagedata 3.x)."""
        return geometry.transformation_matrix(self.header.affine)

    @transformationMatrix.setter
    def transformationMatrix(self, value: npt.ArrayLike) -> None:
        self._header = self.header.with_affine(geometry.affine_from_transformation_matrix(value))

    # --- tags ---------------------------------------------------------------------------

    def _tag_axis(self, *names: str) -> Axis | None:
        for a in self.header.axes:
            if a.name in names:
                return a
        return None

    def _tag_values(self, names: tuple[str, ...], what: str, order: str) -> tuple[str, FloatArray]:
        """Name and values of the first tag axis called one of `names`, or a HeaderError."""
        axis = self._tag_axis(*names)
        if axis is None or axis.values is None:
            raise HeaderError(
                f"this series has no {what} axis (axes: {self.header.axis_names}); "
                f"read it with input_order='{order}'"
            )
        return axis.name, np.asarray(axis.values, dtype=np.float64)

    @property
    def tags(self) -> dict[int, np.ndarray]:
        """{slice: tag values} of the first tag axis (imagedata 3.x)."""
        axis = next(iter(self.header.tag_axes), None)
        n = self.header.nslices
        if axis is None or axis.values is None:
            return {k: np.zeros(1) for k in range(n)}
        if axis.slice_values is not None and axis.slice_values.shape[1] == n:
            return {k: axis.slice_values[:, k].copy() for k in range(n)}
        return {k: axis.values.copy() for k in range(n)}

    @tags.setter
    def tags(self, tags: dict[int, npt.ArrayLike]) -> None:
        _series3.set_tags(self, tags)

    @property
    def timeline(self) -> FloatArray:
        """Seconds of each time point from the first one."""
        name, v = self._tag_values(("time", "triggertime"), "time", "time")
        if name == "triggertime":
            v = v / 1000.0
        return v - v[0]

    @timeline.setter
    def timeline(self, value: npt.ArrayLike) -> None:
        self._set_tag_values(("time",), value)

    @property
    def bvalues(self) -> FloatArray:
        """b-value of each volume (s/mm2)."""
        _, v = self._tag_values(("b", "dti"), "b-value", "b")
        return v[:, 0] if v.ndim == 2 else v

    @bvalues.setter
    def bvalues(self, value: npt.ArrayLike) -> None:
        self._set_tag_values(("b",), value)

    @property
    def bvectors(self) -> FloatArray:
        """Diffusion gradient direction of each volume (LPS), shape (n, 3)."""
        _, v = self._tag_values(("dti", "bvector"), "gradient", "dti")
        return v[:, 1:4] if v.shape[1] == 4 else v

    def _set_tag_values(self, names: tuple[str, ...], value: npt.ArrayLike) -> None:
        h = self.header
        tag_axes = [i for i, a in enumerate(h.axes) if a.is_tag]
        idx = next((i for i in tag_axes if h.axes[i].name in names), None)
        if idx is None:
            if not tag_axes:
                raise HeaderError(f"this series has no tag axis to hold {names[0]} values")
            idx = tag_axes[0]
        v = np.asarray(value)
        if len(v) != self.shape[idx]:
            raise HeaderError(
                f"expected {self.shape[idx]} {names[0]} values (one per index of axis "
                f"{h.axes[idx].name!r}), got {len(v)}"
            )
        axes = list(h.axes)
        axes[idx] = tag_axis(names[0], v)
        self._header = h.replace(axes=tuple(axes), input_order=names[0])

    # --- DICOM attributes ---------------------------------------------------------------

    @property
    def dicomTemplate(self) -> Dataset:
        """The DICOM attributes shared by all images (a :class:`pydicom.Dataset`)."""
        return self.header.template

    @dicomTemplate.setter
    def dicomTemplate(self, ds: Dataset) -> None:
        self._header = self.header.replace(template=ds)

    def getDicomAttribute(self, keyword: str | int | tuple[int, int]) -> Any:
        """Return the value of a DICOM attribute, by keyword or tag; None when absent.

        Examples
        --------
        >>> si = Series(np.zeros((2, 4, 4)))
        >>> si.getDicomAttribute("SeriesNumber")  # an IS (integer string) value
        '1'
        >>> si.getDicomAttribute((0x0020, 0x0011)) == 1
        True
        """
        ds = self.header.template
        tag = _tag_of(keyword)
        elem = ds.get(tag)
        return None if elem is None else elem.value

    def setDicomAttribute(
        self,
        keyword: str | int | tuple[int, int],
        value: Any,
        slice: int | None = None,
        tag: int | None = None,
    ) -> None:
        """Set a DICOM attribute of the template (None removes it).

        `slice`/`tag` (3.x per-image attributes) raise UnsupportedOptionError.
        """
        _series3.per_image_attribute(slice, tag)
        tag = _tag_of(keyword)
        from pydicom.datadict import keyword_for_tag

        kw = keyword_for_tag(tag)
        if not kw:
            raise HeaderError(f"{keyword!r} is not a public DICOM attribute; use its keyword")
        self._header = self.header.with_attribute(kw, value)

    seriesNumber = _dicomattrs.attribute("SeriesNumber", int)
    seriesDescription = _dicomattrs.attribute("SeriesDescription", str)
    seriesInstanceUID = _dicomattrs.attribute("SeriesInstanceUID", str, uid=True)
    studyInstanceUID = _dicomattrs.attribute("StudyInstanceUID", str, uid=True)
    frameOfReferenceUID = _dicomattrs.attribute("FrameOfReferenceUID", str, uid=True)
    patientID = _dicomattrs.attribute("PatientID", str)
    patientName = _dicomattrs.attribute("PatientName", str)
    patientBirthDate = _dicomattrs.attribute("PatientBirthDate", str)
    accessionNumber = _dicomattrs.attribute("AccessionNumber", str)
    modality = _dicomattrs.attribute("Modality", str)
    imageType = _dicomattrs.attribute("ImageType", list)
    SOPClassUID = _dicomattrs.attribute("SOPClassUID", str, uid=True)
    studyID = _dicomattrs.attribute("StudyID", str)
    seriesDate = _dicomattrs.attribute("SeriesDate", str)
    seriesTime = _dicomattrs.attribute("SeriesTime", str)
    protocolName = _dicomattrs.attribute("ProtocolName", str)
    bodyPartExamined = _dicomattrs.attribute("BodyPartExamined", str)
    patientPosition = _dicomattrs.attribute("PatientPosition", str)
    laterality = _dicomattrs.attribute("Laterality", str)

    photometricInterpretation = _series3.photometric_property()
    windowCenter = _series3.window_property(0, "WindowCenter")
    windowWidth = _series3.window_property(1, "WindowWidth")

    color = property(lambda self: self.header.axes[-1].name == "rgb", doc="RGB (last axis rgb)")

    @property
    def SOPInstanceUIDs(self) -> dict[tuple[int, int], str]:
        """{(tag, slice): UID} that ``write(..., keep_uid=True)`` gives each image."""
        return _series3.sop_instance_uids(self)

    def getPositionForVoxel(self, r: npt.ArrayLike, transformation: Any = None) -> FloatArray:
        """(z, y, x) position in mm of voxel (s, r, c), as a (3, 1) column (imagedata 3.x)."""
        return geometry.position_for_voxel_zyx(_series3.affine_of(self, transformation), r)

    def getVoxelForPosition(self, p: npt.ArrayLike, transformation: Any = None) -> np.ndarray:
        """Nearest voxel (s, r, c) of position (z, y, x), as a (3, 1) column (imagedata 3.x)."""
        return geometry.voxel_for_position_zyx(_series3.affine_of(self, transformation), p)

    def __repr__(self) -> str:  # a summary, never the values (np.asarray(si) shows them)
        return _series3.summary(self) if self._header and self.ndim else super().__repr__()

    def __str__(self) -> str:
        return _series3.describe(self) if self._header and self.ndim else super().__str__()

    # --- I/O and interop ----------------------------------------------------------------

    @classmethod
    def _wrap(cls, array: np.ndarray, header: Header) -> Series:
        """A Series of `array` with `header` (what the plugins return).

        The view is made directly: ``cls(array)`` would first make a default header,
        with a new template and three new UIDs, only for it to be replaced.
        """
        arr = np.asarray(array)
        if not arr.flags.c_contiguous and arr.ndim > 0 and arr.flags.writeable:
            arr = np.ascontiguousarray(arr)
        out = arr.view(cls)
        out.header = header
        return out

    def write(
        self,
        destination: Source,
        formats: Sequence[str] | None = None,
        opts: Any = None,
        **options: Any,
    ) -> list[str]:
        """Write the series; by default in its input format (DICOM for arrays).

        ``%p`` in `destination` is replaced by the format name.  `opts` takes imagedata
        3.x options (a dict or argparse.Namespace; see :mod:`imagedata._compat3`).
        Returns the paths (or URLs) written.
        """
        if opts is not None or "%p" in str(destination) or _compat3_call(formats, {}):
            return _compat3.write(self, destination, formats, opts, options, Series.write)
        options = _compat3.native_write_options(self, destination, formats, options)
        from imagedata.loadsave import write

        return write(self, destination, formats=formats, **options)

    def anonymize(self, **options: Any) -> Series:
        """A de-identified copy (DICOM PS3.15 Basic Profile); this series is unchanged.

        Pixel values, geometry and axes are kept; the DICOM template is de-identified
        with new UIDs.  Options: see :class:`imagedata.deidentify.Options`
        (``keep_dates``, ``shift_days``, ``patient_id``, ``keep_descriptions`` ...).

        Examples
        --------
        >>> import numpy as np
        >>> si = Series(np.zeros((2, 3, 4), dtype=np.uint16))
        >>> si.patientName = "Doe^John"
        >>> anon = si.anonymize(patient_id="ANON1")
        >>> anon.patientID, si.patientName
        ('ANON1', 'Doe^John')
        """
        from imagedata.deidentify import anonymize_series

        return Series._wrap(np.array(self, copy=True), anonymize_series(self, **options))

    def show(self, *others: Series, **options: Any) -> Any:
        """Open the interactive viewer (see :func:`imagedata.viewer.show`)."""
        from imagedata.viewer import show

        flat = [o for x in others for o in (x if isinstance(x, (list, tuple)) else [x])]
        return show(self, *flat, **options)

    def _repr_html_(self) -> str:
        """Notebook display: a small montage and the header (see :mod:`imagedata._html`)."""
        from imagedata._html import series_html

        return series_html(self)

    def widget(self, **options: Any) -> Any:
        """An interactive NiiVue notebook widget (see :func:`imagedata._widget.widget`)."""
        from imagedata._widget import widget

        return widget(self, **options)

    def plot_curve(self, mask: Any, **options: Any) -> Any:
        """Plot the mean over `mask` along the tag axis (see :mod:`imagedata._curves`)."""
        from imagedata._curves import plot_curve

        return plot_curve(self, mask, **options)

    def to_rgb(self, **options: Any) -> Series:
        """An RGB Series with this geometry (see :func:`imagedata.processing.to_rgb`)."""
        from imagedata.processing import to_rgb

        return to_rgb(self, **options)

    def fuse_mask(self, mask: Any, **options: Any) -> Series:
        """RGB Series with `mask` overlaid (see :func:`imagedata.processing.fuse_mask`)."""
        from imagedata.processing import fuse_mask

        return fuse_mask(self, mask, **options)

    def get_roi(self, **options: Any) -> Any:
        """Draw a polygon ROI; return the mask (see :func:`imagedata.processing.get_roi`)."""
        from imagedata.processing import get_roi

        return get_roi(self, **options)

    def align(self, reference: Series, **options: Any) -> Series:
        """Resample onto `reference`'s grid (see :func:`imagedata.processing.align`)."""
        from imagedata.processing import align

        return align(self, reference, **options)

    def montage(self, **options: Any) -> np.ndarray:
        """Return an RGB montage of the slices (see :func:`imagedata.viewer.montage`)."""
        from imagedata.viewer import montage

        return montage(self, **options)

    def to_nibabel(self) -> Any:
        """Return a :class:`nibabel.Nifti1Image` with the same voxels and geometry."""
        from imagedata.formats.nifti import to_nibabel

        return to_nibabel(self)

    @classmethod
    def from_nibabel(cls, img: Any) -> Series:
        """Create a Series from a nibabel image."""
        from imagedata.formats.nifti import decode_nibabel

        return cls._wrap(*decode_nibabel(img))

    def to_sitk(self) -> Any:
        """Return a :class:`SimpleITK.Image` (3D, or 4D with the tag axis last in ITK order)."""
        from imagedata.formats.itk import to_sitk

        return to_sitk(self)

    @classmethod
    def from_sitk(cls, img: Any) -> Series:
        """Create a Series from a SimpleITK image."""
        from imagedata.formats.itk import decode_sitk

        return cls._wrap(*decode_sitk(img))


# --- helpers used by Series.__new__ and numpy protocols --------------------------------


def _tag_of(keyword: str | int | tuple[int, int]) -> Any:
    if isinstance(keyword, str):
        tag = tag_for_keyword(keyword[:1].upper() + keyword[1:])  # 3.x: 'seriesNumber' too
        if tag is None:
            raise HeaderError(f"{keyword!r} is not a DICOM keyword (e.g. 'SeriesNumber')")
        return Tag(tag)
    return Tag(keyword)


def _header_of(obj: Any) -> Header:
    if isinstance(obj, Series):
        return obj.header
    if isinstance(obj, Header):
        return obj
    if _is_source(obj):
        from imagedata.loadsave import read

        return read(obj, input_order="auto", headers_only=True)[1]
    raise TypeError(f"expected a Series, Header or path, got {type(obj).__name__}")


def _template_of(obj: Any) -> Dataset:
    if isinstance(obj, Dataset):
        return obj
    return _header_of(obj).template


def _wrap_reduced(result: Any, header: Header, kwargs: dict[str, Any]) -> Any:
    if not isinstance(result, np.ndarray) or result.ndim == 0:
        return result
    axis = kwargs.get("axis", 0)
    if axis is None:
        return result
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    new = reduce_header(header, [int(a) for a in axes], result.shape, bool(kwargs.get("keepdims")))
    if new is None:
        return result
    out = result.view(Series)
    out._header = new
    return out


def _join(arrays: Sequence[Any], axis: int, stacking: bool, **kwargs: Any) -> Any:
    plain = [np.asarray(a) for a in arrays]
    result = (np.stack if stacking else np.concatenate)(plain, axis=axis, **kwargs)
    first = next((a for a in arrays if isinstance(a, Series) and a._header is not None), None)
    if first is None:
        return result
    h = first.header
    ax = axis % result.ndim
    if stacking:
        if ax >= result.ndim - len([a for a in h.axes if not a.is_tag]):
            return result
        new_axes = list(h.axes)
        new_axes.insert(ax, tag_axis(f"tag{ax}" if h.tag_axes else "time", np.arange(len(arrays))))
    else:
        old = h.axes[ax]
        if not old.is_tag:
            return result
        values = [
            a.header.axes[ax].values
            if isinstance(a, Series) and a._header is not None
            else np.full(np.shape(a)[ax], np.nan)
            for a in arrays
        ]
        new_axes = list(h.axes)
        new_axes[ax] = Axis(old.name, np.concatenate([np.asarray(v) for v in values]))
    out = result.view(Series)
    out._header = h.replace(shape=result.shape, axes=tuple(new_axes))
    return out


def _concatenate(arrays: Sequence[Any], axis: int = 0, **kwargs: Any) -> Any:
    return _join(arrays, axis, False, **kwargs)


def _stack(arrays: Sequence[Any], axis: int = 0, **kwargs: Any) -> Any:
    return _join(arrays, axis, True, **kwargs)


_HANDLED: dict[Callable[..., Any], Callable[..., Any]] = {
    np.concatenate: _concatenate,
    np.stack: _stack,
}

#: numpy functions whose Series results keep the header (through ufuncs and reductions).
KEEPS_HEADER: frozenset[Callable[..., Any]] = frozenset(
    {
        np.sum,
        np.mean,
        np.std,
        np.var,
        np.min,
        np.max,
        np.amin,
        np.amax,
        np.prod,
        np.any,
        np.all,
        np.clip,
        np.round,
        np.around,
        np.nan_to_num,
        np.nanmean,
        np.nansum,
        np.nanmax,
        np.nanmin,
        np.cumsum,
        np.real,
        np.imag,
        np.shape,
        np.ndim,
        np.size,
        np.iscomplexobj,
        np.isrealobj,
    }
)


def as_series(data: Any, like: Series) -> Series:
    """Wrap `data` (same shape as `like`) as a Series with `like`'s header."""
    arr = np.asarray(data)
    if arr.shape != like.shape:
        raise ValueError(f"shape {arr.shape} does not match the series shape {like.shape}")
    out = arr.view(Series)
    out._header = like.header
    return out
