"""Processing helpers of imagedata 3.x: RGB series, mask fusion, ROI drawing, alignment.

* :func:`to_rgb` -- an RGB Series (last axis ``rgb``) with the geometry of the input;
* :func:`fuse_mask` -- an RGB Series of an image with a mask overlaid;
* :func:`get_roi` -- draw a polygon ROI in the viewer, return the mask;
* :func:`align` -- resample a Series onto another's grid in world (LPS) space.

``Series.to_rgb``, ``fuse_mask``, ``get_roi`` and ``align`` call these.  Matplotlib,
scipy and SimpleITK are imported only when needed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from imagedata import geometry
from imagedata.axis import Axis
from imagedata.errors import GeometryError, ImageDataError, MissingDependencyError

#: A :class:`imagedata.series.Series` (not imported: series calls this module).
Series = Any

logger = logging.getLogger(__name__)

#: imagedata 3.x colour map names that mean the grey scale (no matplotlib needed).
_GREYS = {"Greys_r", "gray", "grey", "Greys"}


class HeadlessError(ImageDataError, RuntimeError):
    """An interactive function was called where no window can be opened."""


def _rgb_series(rgb: np.ndarray, like: Series) -> Series:
    """Wrap RGB uint8 data (``like.shape + (3,)``) as a Series with `like`'s geometry."""
    h = like.header
    header = h.replace(shape=rgb.shape, axes=(*h.axes, Axis("rgb"))).with_attribute(
        "PhotometricInterpretation", "RGB"
    )
    return type(like)._wrap(rgb, header)


def to_rgb(si: Series, colormap: str = "gray", **options: Any) -> Series:
    """An RGB Series (uint8, last axis ``rgb``) of `si` with the same geometry.

    `colormap` takes 3.x's 'Greys_r' for the grey scale; `options` are those of
    :func:`imagedata.viewer.to_rgb` (``window=(center, width)``, ``invert``).
    """
    from imagedata import viewer

    if viewer.is_rgb(si):
        return si
    cmap = "gray" if colormap in _GREYS and colormap != "Greys" else colormap
    if colormap == "Greys":
        cmap, options = "gray", {**options, "invert": True}
    return _rgb_series(viewer.to_rgb(si, colormap=cmap, **options), si)


def _is_binary(mask: np.ndarray) -> bool:
    if mask.dtype.kind == "b":
        return True
    if mask.dtype.kind in "iu" and mask.size:
        return bool(np.nanmin(mask) == 0 and np.nanmax(mask) <= 1)
    return False


def _smooth(mask: np.ndarray) -> np.ndarray:
    """Gaussian blur (sigma 1.5) of each 2-D plane, to soften a binary mask's edges."""
    from imagedata._optional import import_optional

    ndimage = import_optional("scipy.ndimage", "mat", "soften the mask edges (fuse_mask)")
    m = mask.astype(np.float32)
    planes = m.reshape(-1, *m.shape[-2:])
    for k in range(len(planes)):
        planes[k] = ndimage.gaussian_filter(planes[k], sigma=1.5)
    return planes.reshape(m.shape)


def fuse_mask(
    si: Series,
    mask: npt.ArrayLike,
    alpha: float = 0.7,
    blend: bool = False,
    colormap: str = "gray",
    maskmap: str = "magma",
    maskrange: Sequence[float] | None = None,
    window: Sequence[float] | None = None,
) -> Series:
    """An RGB Series of `si` with `mask` overlaid (imagedata 3.x ``fuse_mask``).

    A binary mask is drawn in red with softened edges; another mask through `maskmap`
    over `maskrange` (default: its range).  Each colour is
    ``(1 - alpha) * overlay + background`` (``blend``: ``alpha * background``), clipped.

    Raises
    ------
    IndexError
        If the mask's shape is not that of the image's last 2 or 3 axes.
    """
    m = np.asarray(mask)
    if m.dtype.kind not in "biuf":
        raise ValueError(f"the mask must be numbers or booleans, not {m.dtype}")
    base = si if _is_rgb(si) else to_rgb(si, colormap=colormap, window=window)
    spatial = base.shape[:-1][-m.ndim :] if m.ndim <= base.ndim - 1 else None
    if m.ndim not in (2, 3) or spatial != m.shape:
        raise IndexError(
            f"mask shape {m.shape} does not match the image {si.shape}; give a mask of its "
            "last two (rows, columns) or three (slice, rows, columns) dimensions"
        )
    background = np.asarray(base, dtype=np.float32) / 255.0
    if _is_binary(m):
        overlay = np.zeros((*m.shape, 3), dtype=np.float32)
        overlay[..., 0] = _smooth(m)
    else:
        lo, hi = (float(np.nanmin(m)), float(np.nanmax(m))) if maskrange is None else maskrange
        width = (hi - lo) or 1.0
        from imagedata import viewer

        rgb = viewer.to_rgb(m.astype(np.float64), colormap=maskmap, window=(lo + width / 2, width))
        overlay = rgb.astype(np.float32) / 255.0
    front = (1.0 - alpha) * overlay
    img = front + (alpha * background if blend else background)
    out = np.rint(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
    return _rgb_series(out, si)


def _is_rgb(si: Any) -> bool:
    from imagedata import viewer

    return bool(viewer.is_rgb(si))


# --- ROI --------------------------------------------------------------------------------


def mask_from_vertices(
    shape: Sequence[int], vertices: dict[tuple[int, ...], list[tuple[float, float]]]
) -> np.ndarray:
    """A uint8 mask of `shape` with 1 inside each polygon.

    `vertices` maps an index of the leading axes (e.g. ``(tag, slice)`` or ``(slice,)``)
    to polygon corners as (column, row) pairs, as matplotlib reports them.

    Examples
    --------
    >>> m = mask_from_vertices((1, 4, 4), {(0,): [(0.5, 0.5), (2.5, 0.5), (2.5, 2.5), (0.5, 2.5)]})
    >>> int(m.sum())
    4
    """
    from matplotlib.path import Path

    out = np.zeros(tuple(shape), dtype=np.uint8)
    rows, cols = out.shape[-2:]
    rr, cc = np.mgrid[0:rows, 0:cols]
    centres = np.column_stack([cc.ravel(), rr.ravel()])
    for index, corners in vertices.items():
        if len(corners) < 3:
            continue
        inside = Path(np.asarray(corners, dtype=np.float64)).contains_points(centres)
        out[tuple(index)] |= inside.reshape(rows, cols).astype(np.uint8)
    return out


class RoiDrawing:
    """Polygons drawn on a Series in the viewer, one per (tag, slice) shown.

    :func:`get_roi` returns one when given a ``figure`` (a notebook or a test): draw,
    then call :meth:`mask` (3.x: ``get_roi_mask()``).
    """

    def __init__(self, si: Series, **options: Any) -> None:
        from matplotlib.widgets import PolygonSelector

        from imagedata.viewer import Viewer

        self.si = si
        self.viewer = Viewer([si], **options)
        self.vertices: dict[tuple[int, ...], list[tuple[float, float]]] = {}
        self.selector = PolygonSelector(self.viewer.panels[0].axes, cast(Any, self.add))

    def add(self, corners: Any) -> None:
        """Keep a completed polygon for the slice (and tag) shown."""
        v = self.viewer
        key = (v.slice,) if self.si.ndim <= 3 else (v.tag, v.slice)
        self.vertices[key] = [(float(x), float(y)) for x, y in corners]

    def mask(self) -> Series:
        """uint8 mask Series with the geometry of the series (1 inside the polygons)."""
        si = self.si
        shape = si.shape if si.ndim >= 3 else (1, *si.shape)
        mask = mask_from_vertices(shape, self.vertices).reshape(si.shape)
        return type(si)._wrap(mask, si.header)


def get_roi(si: Series, vertices: bool = False, **options: Any) -> Any:
    """Draw polygon ROIs on `si` in the viewer; return the mask (imagedata 3.x ``get_roi``).

    Scroll to a slice (and tag) and click the corners of a polygon; close it on its
    first corner.  Each slice keeps its last polygon.  Closing the window returns a
    uint8 Series mask with `si`'s geometry (1 inside), and with ``vertices=True`` also
    the dict ``{(tag..., slice): [(column, row), ...]}``.  With ``figure=`` (e.g. in a
    notebook) it returns at once a :class:`RoiDrawing`; call its ``mask()`` when done.

    Raises
    ------
    HeadlessError
        Without a display (no window can be opened); draw the mask with another tool
        and read it, or build one with :func:`mask_from_vertices`.
    """
    from imagedata.viewer import is_headless

    if options.get("figure") is not None:
        return RoiDrawing(si, **options)
    if is_headless():
        raise HeadlessError(
            "get_roi needs a window to draw in, and no display is available; give "
            "vertices to imagedata.processing.mask_from_vertices() instead, or run with a display"
        )
    import matplotlib.pyplot as plt

    drawing = RoiDrawing(si, **options)
    plt.show(block=True)
    drawing.selector.disconnect_events()
    mask = drawing.mask()
    return (mask, drawing.vertices) if vertices else mask


# --- alignment --------------------------------------------------------------------------


_ORDERS = {"nearest": 0, "linear": 1, "cubic": 3}


def align(
    moving: Series,
    reference: Series,
    interpolation: str = "linear",
    force: bool = False,
    fill_value: float = 0,
) -> Series:
    """Resample `moving` onto the grid of `reference` in world (LPS) space.

    Every reference voxel centre is mapped through both affines to a position in the
    moving grid and interpolated there (``'nearest'``, ``'linear'`` or ``'cubic'``);
    voxels outside the moving volume get `fill_value`.  Identical grids give the data
    unchanged; integer data are rounded.  Tag axes of `moving` are kept.  Uses
    scipy.ndimage, or SimpleITK when scipy is missing.

    Raises
    ------
    GeometryError
        If the series are in different frames of reference (unless `force`), or are colour.
    """
    if interpolation not in _ORDERS:
        raise ValueError(f"interpolation must be one of {sorted(_ORDERS)}, not {interpolation!r}")
    if _is_rgb(moving) or _is_rgb(reference):
        raise GeometryError("align: colour series cannot be resampled; align the grey data")
    fm, fr = moving.frameOfReferenceUID, reference.frameOfReferenceUID
    if not force and fm and fr and fm != fr:
        raise GeometryError(
            f"align: FrameOfReferenceUID differs ({fm} vs {fr}); positions in different frames "
            "do not correspond. Pass force=True if you know they share one"
        )
    ref_shape = (reference.header.nslices, reference.rows, reference.columns)
    mov = np.asarray(moving)
    mov_vol = (moving.header.nslices, moving.rows, moving.columns)
    nspatial = sum(a.is_spatial for a in moving.header.axes)
    tag_shape = mov.shape[: mov.ndim - nspatial]
    volumes = mov.reshape(-1, *mov_vol)
    same = ref_shape == mov_vol and np.allclose(
        reference.header.affine, moving.header.affine, atol=1e-6
    )
    if same:
        out = volumes.copy()
    else:
        coords = geometry.resampling_coordinates(
            moving.header.affine, reference.header.affine, ref_shape
        )
        near = np.abs(coords - np.rint(coords)) < 1e-6
        coords = np.where(near, np.rint(coords), coords)
        out = np.stack([_resample(v, coords, interpolation, fill_value) for v in volumes])
        if mov.dtype.kind in "iub":
            info = np.iinfo(mov.dtype) if mov.dtype.kind != "b" else None
            out = np.rint(out)
            if info is not None:
                out = np.clip(out, info.min, info.max)
        out = out.astype(mov.dtype)
    ref_spatial = tuple(n for a, n in zip(reference.header.axes, reference.shape) if a.is_spatial)
    return _aligned(out.reshape(*tag_shape, *ref_spatial), moving, reference)


def _resample(volume: np.ndarray, coords: np.ndarray, how: str, fill: float) -> np.ndarray:
    try:
        from scipy import ndimage
    except ImportError:
        return _resample_sitk(volume, coords, how, fill)
    return np.asarray(
        ndimage.map_coordinates(
            volume.astype(np.float64), coords, order=_ORDERS[how], mode="constant", cval=fill
        )
    )


def _resample_sitk(volume: np.ndarray, coords: np.ndarray, how: str, fill: float) -> np.ndarray:
    """The same resampling with SimpleITK (index space of the moving volume)."""
    try:
        import SimpleITK as sitk
    except ImportError as err:
        raise MissingDependencyError(
            "align needs scipy or SimpleITK; install one with: pip install 'imagedata[mat]' "
            "or 'imagedata[itk]'"
        ) from err
    img = sitk.GetImageFromArray(volume.astype(np.float64))  # index (k, r, c) -> ITK (c, r, k)
    field = np.ascontiguousarray(np.moveaxis(coords[::-1], 0, -1))  # (..., 3) as (c, r, k)
    disp = sitk.GetImageFromArray(field, isVector=True)
    interp = {"nearest": sitk.sitkNearestNeighbor, "linear": sitk.sitkLinear}.get(
        how, sitk.sitkBSpline
    )
    transform = sitk.DisplacementFieldTransform(sitk.Cast(disp, sitk.sitkVectorFloat64))
    ident = np.moveaxis(np.indices(coords.shape[1:], dtype=np.float64)[::-1], 0, -1)
    transform.SetDisplacementField(
        sitk.GetImageFromArray(np.ascontiguousarray(field - ident), isVector=True)
    )
    grid = sitk.Image(list(coords.shape[1:][::-1]), sitk.sitkFloat64)
    out = sitk.Resample(img, grid, transform, interp, float(fill))
    return np.asarray(sitk.GetArrayFromImage(out))


def _aligned(data: np.ndarray, moving: Series, reference: Series) -> Series:
    spatial = tuple(a for a in reference.header.axes if a.is_spatial)
    tags = tuple(a for a in moving.header.axes if a.is_tag)
    out = type(moving)(data, template=moving)
    h = reference.header
    out.header = out.header.replace(
        axes=(*tags, *spatial),
        affine=h.affine.copy(),
        positions=h.positions,
        input_order=moving.input_order,
    )
    if "FrameOfReferenceUID" in h.template:
        out.header = out.header.with_attribute(
            "FrameOfReferenceUID", h.template.FrameOfReferenceUID
        )
    return out


__all__ = [
    "HeadlessError",
    "RoiDrawing",
    "align",
    "fuse_mask",
    "get_roi",
    "mask_from_vertices",
    "to_rgb",
]
