"""Geometry: the only place where affines are computed.

All functions are pure and work on numpy arrays.  Conventions (see docs/geometry.md):

* Patient space is DICOM LPS: x to the Left, y to Posterior, z to Head.
* The array index order is (slice k, row r, column c).
* The one affine ``A`` maps (k, r, c, 1) to LPS (x, y, z, 1)::

      A = [ t | dr*Y | dc*X | S_0 ]

  with ``X = IOP[0:3]`` (direction of growing column index), ``Y = IOP[3:6]``
  (direction of growing row index), ``dr, dc`` the PixelSpacing, ``t`` the slice
  step vector and ``S_0`` the ImagePositionPatient of the first slice.
* The imagedata 3.x attributes (``spacing``, ``imagePositions``, ``orientation``,
  ``transformationMatrix``) use (z, y, x) order; they are derived here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from imagedata.errors import GeometryError

FloatArray = npt.NDArray[np.float64]

#: Largest |X . Y| (cosine between the row and column directions) taken as rounding of
#: decimal-string cosines (16 chars) and made exact by :func:`orthonormalize`.  The DICOM
#: reader and writer share it, so every series imagedata reads can be written back.
ORTHOGONALITY_TOLERANCE = 1e-3
#: Absolute slice-step tolerance in mm (GEOMETRY.md: max(0.01 mm, 1 % of the step)).
STEP_ABS_TOLERANCE = 0.01
STEP_REL_TOLERANCE = 0.01

#: Permutes (x, y, z, 1) to (z, y, x, 1).
_XYZ_TO_ZYX = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)
#: LPS to RAS (and back).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def default_affine() -> FloatArray:
    """Return the affine of an axial series at the origin with unit spacing.

    Examples
    --------
    >>> default_affine()[:3, :3].tolist()
    [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    """
    return affine_from_parts((0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), (1.0, 1.0), 1.0)


def orthonormalize(iop: Sequence[float] | npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Return unit row and column direction cosines (X, Y) made exactly orthonormal.

    Parameters
    ----------
    iop
        ImageOrientationPatient: six numbers, X (along a row) then Y (down a column).

    Raises
    ------
    GeometryError
        If `iop` does not have six finite values, an axis has zero length, or the two
        axes are not orthogonal within :data:`ORTHOGONALITY_TOLERANCE` (after normalising).

    Examples
    --------
    >>> x, y = orthonormalize([1, 0, 0, 0, 1, 0.00001])
    >>> round(float(np.dot(x, y)), 12)
    0.0
    """
    x, y = _orthonormal(np.asarray(iop, dtype=np.float64).reshape(-1).tobytes())
    return np.array(x), np.array(y)


@functools.lru_cache(maxsize=64)
def _orthonormal(key: bytes) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """:func:`orthonormalize` of the float64 values whose bytes are `key`, as tuples.

    A series' images share one orientation, asked for several times per series (about
    15 us each); the bytes (not the values) are the key, so that -0.0 and 0.0 keep
    their own results.  Failures are not cached.
    """
    v = np.frombuffer(key, dtype=np.float64)
    if v.shape != (6,) or not np.all(np.isfinite(v)):
        raise GeometryError(
            f"orientation must be six finite numbers (row cosines X, column cosines Y), got {v}"
        )
    x, y = v[:3].copy(), v[3:].copy()
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    if nx < 1e-6 or ny < 1e-6:
        raise GeometryError(
            f"orientation {v.tolist()} has a zero-length axis; expected unit vectors"
        )
    x /= nx
    y /= ny
    dot = float(np.dot(x, y))
    if abs(dot) > ORTHOGONALITY_TOLERANCE:
        raise GeometryError(
            f"orientation {v.tolist()} is not orthogonal (X.Y = {dot:.6g}); "
            "expected two perpendicular unit vectors"
        )
    y = y - dot * x
    y /= np.linalg.norm(y)
    return tuple(x.tolist()), tuple(y.tolist())


def slice_normal(iop: Sequence[float] | npt.ArrayLike) -> FloatArray:
    """Return the slice normal n = X x Y.

    Examples
    --------
    >>> slice_normal([0, 1, 0, 0, 0, -1]).tolist()
    [-1.0, 0.0, 0.0]
    """
    x, y = orthonormalize(iop)
    return _cross(x, y)


def affine_from_parts(
    position: Sequence[float] | npt.ArrayLike,
    iop: Sequence[float] | npt.ArrayLike,
    pixel_spacing: Sequence[float] | npt.ArrayLike,
    slice_step: float | Sequence[float] | npt.ArrayLike,
) -> FloatArray:
    """Build the (k, r, c) -> LPS affine from DICOM-style parts.

    Parameters
    ----------
    position
        ImagePositionPatient of the first slice (LPS, mm).
    iop
        ImageOrientationPatient (six numbers).
    pixel_spacing
        PixelSpacing (row spacing dr, column spacing dc).
    slice_step
        Either a scalar distance along the slice normal, or the slice step vector t.

    Examples
    --------
    >>> a = affine_from_parts((-100, -120, -50), (1, 0, 0, 0, 1, 0), (0.5, 0.8), 2.0)
    >>> a[:3].tolist()
    [[0.0, 0.0, 0.8, -100.0], [0.0, 0.5, 0.0, -120.0], [2.0, 0.0, 0.0, -50.0]]
    """
    x, y = orthonormalize(iop)
    ps = np.asarray(pixel_spacing, dtype=np.float64).reshape(-1)
    # the checks on plain floats (numpy's reductions cost ~4 us each on 2 or 3 values)
    if ps.shape != (2,) or not all(math.isfinite(v) and v > 0 for v in ps.tolist()):
        raise GeometryError(f"pixel spacing must be two positive numbers (row, column), got {ps}")
    step = np.asarray(slice_step, dtype=np.float64).reshape(-1)
    if step.shape == (1,):
        t = float(step[0]) * _cross(x, y)
    elif step.shape == (3,):
        t = step
    else:
        raise GeometryError(f"slice step must be a number or a 3-vector, got {step}")
    pos = np.asarray(position, dtype=np.float64).reshape(-1)
    if pos.shape != (3,) or not all(map(math.isfinite, pos.tolist())):
        raise GeometryError(f"image position must be three finite numbers (x, y, z), got {pos}")
    a = np.eye(4)
    a[:3, 0] = t
    a[:3, 1] = ps[0] * y
    a[:3, 2] = ps[1] * x
    a[:3, 3] = pos
    return a


def check_affine(affine: npt.ArrayLike) -> FloatArray:
    """Validate a 4x4 (k, r, c) -> LPS affine and return it as float64.

    Raises
    ------
    GeometryError
        If the matrix is not 4x4 with last row (0, 0, 0, 1), has non-finite values,
        or has a zero-length row or column axis.
    """
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4):
        raise GeometryError(f"affine must be a 4x4 matrix, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or not np.allclose(a[3], (0, 0, 0, 1)):
        raise GeometryError(
            f"affine must be finite with last row (0, 0, 0, 1), got {a[3].tolist()}"
        )
    norms = np.linalg.norm(a[:3, :3], axis=0)
    for name, value in zip(("slice", "row", "column"), norms):
        if value < 1e-9 and name != "slice":
            raise GeometryError(
                f"affine has a zero-length {name} axis; expected a positive pixel spacing"
            )
    return a


def decompose(affine: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Split an affine into (t, dr*Y, dc*X, S_0) columns."""
    a = np.asarray(affine, dtype=np.float64)
    return a[:3, 0].copy(), a[:3, 1].copy(), a[:3, 2].copy(), a[:3, 3].copy()


def pixel_spacing(affine: npt.ArrayLike) -> FloatArray:
    """Return (dr, dc) of an affine."""
    a = np.asarray(affine, dtype=np.float64)
    return np.linalg.norm(a[:3, 1:3], axis=0)


def direction_cosines(affine: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Return the unit (X, Y) of an affine: X along a row, Y down a column."""
    a = np.asarray(affine, dtype=np.float64)
    dr, dc = pixel_spacing(a)
    return a[:3, 2] / dc, a[:3, 1] / dr


def normal(affine: npt.ArrayLike) -> FloatArray:
    """Return the slice normal n = X x Y of an affine."""
    x, y = direction_cosines(affine)
    return _cross(x, y)


def _cross(a: FloatArray, b: FloatArray) -> FloatArray:
    """``np.cross`` of two 3-vectors, the same bits, without its overhead (~30 us per call).

    Examples
    --------
    >>> _cross(np.array([1.0, 0, 0]), np.array([0, 1.0, 0])).tolist()
    [0.0, 0.0, 1.0]
    """
    a0, a1, a2 = float(a[0]), float(a[1]), float(a[2])
    b0, b1, b2 = float(b[0]), float(b[1]), float(b[2])
    return np.array([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0])


def iop(affine: npt.ArrayLike) -> FloatArray:
    """Return ImageOrientationPatient (X then Y) of an affine."""
    x, y = direction_cosines(affine)
    return np.concatenate([x, y])


def slice_distance(affine: npt.ArrayLike) -> float:
    """Return the slice spacing along the normal, |n . t| (``spacing[0]`` of imagedata 3.x).

    With gantry tilt this is smaller than |t|.  A zero step (one slice of unknown
    thickness) gives 0.
    """
    a = np.asarray(affine, dtype=np.float64)
    return float(abs(np.dot(normal(a), a[:3, 0])))


def slice_positions(affine: npt.ArrayLike, nslices: int) -> FloatArray:
    """Return S_k (LPS, shape (nslices, 3)) of the slices of a regular affine."""
    a = np.asarray(affine, dtype=np.float64)
    k = np.arange(nslices, dtype=np.float64)[:, None]
    return a[:3, 3][None, :] + k * a[:3, 0][None, :]


def slice_locations(affine: npt.ArrayLike, positions: npt.ArrayLike) -> FloatArray:
    """Return n . S_k for each slice position (imagedata 3.x ``sliceLocations``)."""
    return locations_along(normal(affine), positions)


def locations_along(normal_: npt.ArrayLike, positions: npt.ArrayLike) -> FloatArray:
    """Return n . S_k for each position S_k (shape (N, 3) or (3,)): the slice locations.

    The one place slice locations are computed; :func:`slice_locations` takes the
    normal from an affine, readers pass :func:`slice_normal` of the orientation.

    Examples
    --------
    >>> locations_along([0, 0, 1], [[0, 0, -2.5], [10, 5, 0.5]]).tolist()
    [-2.5, 0.5]
    """
    pos = np.asarray(positions, dtype=np.float64)
    return pos @ np.asarray(normal_, dtype=np.float64).reshape(3)


def affine_from_positions(
    positions: npt.ArrayLike,
    iop_: Sequence[float] | npt.ArrayLike,
    pixel_spacing_: Sequence[float] | npt.ArrayLike,
    default_step: float = 1.0,
) -> FloatArray:
    """Build the affine from the positions of sorted slices.

    The slice step is t = (S_last - S_first)/(N - 1), exact even with gantry tilt.
    For one slice it is ``default_step`` along the normal (e.g. SpacingBetweenSlices).
    """
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    if len(pos) > 1:
        step: float | FloatArray = (pos[-1] - pos[0]) / (len(pos) - 1)
    else:
        step = default_step
    return affine_from_parts(pos[0], iop_, pixel_spacing_, step)


def uneven_steps(positions: npt.ArrayLike, normal_: npt.ArrayLike) -> list[tuple[int, float]]:
    """Return (k, step) for the gaps between slice k and k+1 that break even spacing.

    Slices are evenly spaced when every step is within max(0.01 mm, 1 % of the step)
    of the mean step (GEOMETRY.md); an empty list means they are.  Otherwise the
    steps that differ from the median step are returned, naming the gap.
    """
    d = locations_along(normal_, np.asarray(positions, dtype=np.float64).reshape(-1, 3))
    if len(d) < 3:
        return []
    steps = np.diff(d)
    mean = float(np.mean(steps))
    tol = max(STEP_ABS_TOLERANCE, STEP_REL_TOLERANCE * abs(mean))
    if np.all(np.abs(steps - mean) <= tol):
        return []
    # name the odd gaps: those that differ from the typical (median) step
    median = float(np.median(steps))
    tol = max(STEP_ABS_TOLERANCE, STEP_REL_TOLERANCE * abs(median))
    odd = [(int(k), float(s)) for k, s in enumerate(steps) if abs(s - median) > tol]
    return odd or [(int(k), float(s)) for k, s in enumerate(steps) if abs(s - mean) > tol]


def is_tilted(affine: npt.ArrayLike, tolerance: float = 1e-3) -> bool:
    """True when the slice step t is not parallel to the normal (gantry tilt)."""
    a = np.asarray(affine, dtype=np.float64)
    # plain floats: numpy's per-call overhead on 3-vectors cost ~40 us a series
    t, r, c = a[:3, :3].T.tolist()
    nt = _norm3(t)
    if nt < 1e-9:
        return False
    dr, dc = _norm3(r), _norm3(c)
    if not (dr and dc):  # a zero-length axis: numpy's nan (never tilted), as before
        return bool(np.linalg.norm(_cross(a[:3, 0] / nt, normal(a))) > tolerance)
    x, y = (c[0] / dc, c[1] / dc, c[2] / dc), (r[0] / dr, r[1] / dr, r[2] / dr)
    n = _cross3(x, y)
    return _norm3(_cross3((t[0] / nt, t[1] / nt, t[2] / nt), n)) > tolerance


def _norm3(v: Sequence[float]) -> float:
    """Length of a 3-vector of floats, summed as ``np.linalg.norm`` sums (x, then y, then z)."""
    return math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])


def _cross3(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """Cross product of two 3-vectors of floats (the formula of :func:`_cross`)."""
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


# --- indexing -------------------------------------------------------------------


def index_affine(
    affine: npt.ArrayLike, starts: Sequence[float], steps: Sequence[float]
) -> FloatArray:
    """Return the affine of a sub-grid: new index i on axis j maps to starts[j] + i*steps[j].

    Examples
    --------
    >>> a = affine_from_parts((0, 0, 0), (1, 0, 0, 0, 1, 0), (1, 1), 2.0)
    >>> index_affine(a, (3, 0, 0), (-1, 1, 1))[:3, [0, 3]].tolist()
    [[0.0, 0.0], [0.0, 0.0], [-2.0, 6.0]]
    """
    a = np.asarray(affine, dtype=np.float64)
    out = a * (float(steps[0]), float(steps[1]), float(steps[2]), 1.0)
    out[:3, 3] += a[:3, :3] @ (float(starts[0]), float(starts[1]), float(starts[2]))
    out += 0.0  # a reversed axis gives -0.0 for zero components: keep them +0.0
    return out


def voxel_to_world(affine: npt.ArrayLike, indices: npt.ArrayLike) -> FloatArray:
    """Map (k, r, c) indices (shape (..., 3)) to LPS positions (shape (..., 3))."""
    a = np.asarray(affine, dtype=np.float64)
    idx = np.asarray(indices, dtype=np.float64)
    return idx @ a[:3, :3].T + a[:3, 3]


# --- imagedata 3.x compatible views ----------------------------------------------


def spacing_zyx(affine: npt.ArrayLike) -> FloatArray:
    """Return imagedata 3.x ``spacing``: [slice distance along n, dr, dc]."""
    dr, dc = pixel_spacing(affine)
    return np.array([slice_distance(affine), dr, dc])


def orientation_zyx(affine: npt.ArrayLike) -> FloatArray:
    """Return imagedata 3.x ``orientation``: X then Y, each in (z, y, x) order.

    Examples
    --------
    >>> orientation_zyx(default_affine()).tolist()
    [0.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    """
    x, y = direction_cosines(affine)
    return np.concatenate([x[::-1], y[::-1]])


def orientation_from_zyx(orientation: Sequence[float] | npt.ArrayLike) -> FloatArray:
    """Convert imagedata 3.x ``orientation`` (z, y, x order) to DICOM IOP order."""
    v = np.asarray(orientation, dtype=np.float64).reshape(-1)
    if v.shape != (6,):
        raise GeometryError(f"orientation must have 6 values, got {v.size}: {v.tolist()}")
    return np.concatenate([v[2::-1], v[5:2:-1]])


def transformation_matrix(affine: npt.ArrayLike) -> FloatArray:
    """Return imagedata 3.x ``transformationMatrix``: (k, r, c, 1) -> (z, y, x, 1)."""
    return _XYZ_TO_ZYX @ np.asarray(affine, dtype=np.float64)


def position_for_voxel_zyx(affine: npt.ArrayLike, index: npt.ArrayLike) -> FloatArray:
    """imagedata 3.x ``getPositionForVoxel``: (s, r, c) -> (z, y, x) as a (3, 1) column.

    Examples
    --------
    >>> a = affine_from_parts((10, 20, 30), (1, 0, 0, 0, 1, 0), (0.5, 2.0), 3.0)
    >>> position_for_voxel_zyx(a, [1, 2, 3]).ravel().tolist()
    [33.0, 21.0, 16.0]
    """
    v = np.asarray(index, dtype=np.float64).reshape(-1)[:3]
    if v.shape != (3,):
        raise GeometryError(f"a voxel index is (slice, row, column), got {v.tolist()}")
    return (transformation_matrix(affine) @ np.append(v, 1.0))[:3].reshape(3, 1)


def voxel_for_position_zyx(affine: npt.ArrayLike, position: npt.ArrayLike) -> npt.NDArray[np.int_]:
    """imagedata 3.x ``getVoxelForPosition``: (z, y, x) -> nearest (s, r, c) as a (3, 1) column.

    Examples
    --------
    >>> a = affine_from_parts((10, 20, 30), (1, 0, 0, 0, 1, 0), (0.5, 2.0), 3.0)
    >>> voxel_for_position_zyx(a, [33.0, 21.0, 16.0]).ravel().tolist()
    [1, 2, 3]
    """
    p = np.asarray(position, dtype=np.float64).reshape(-1)[:3]
    if p.shape != (3,):
        raise GeometryError(f"a position is (z, y, x) in mm, got {p.tolist()}")
    r = np.linalg.solve(transformation_matrix(affine), np.append(p, 1.0))[:3]
    return np.floor(r + 0.5).astype(int).reshape(3, 1)


def resampling_coordinates(
    moving: npt.ArrayLike, reference: npt.ArrayLike, shape: Sequence[int]
) -> FloatArray:
    """Voxel coordinates in `moving` of every voxel of a `reference` grid of `shape`.

    Returns shape (3, *shape): the (k, r, c) index in the moving grid of each reference
    voxel centre, for world-space resampling (``Series.align``).

    Examples
    --------
    >>> a = default_affine()
    >>> resampling_coordinates(a, a, (1, 2, 2))[:, 0, 1, 1].tolist()
    [0.0, 1.0, 1.0]
    """
    ref = np.asarray(reference, dtype=np.float64)
    mov = np.asarray(moving, dtype=np.float64)
    m = np.linalg.solve(mov, ref)  # reference index -> moving index
    idx = np.indices(tuple(shape), dtype=np.float64).reshape(3, -1)
    out = m[:3, :3] @ idx + m[:3, 3:4]
    return out.reshape(3, *shape)


def affine_from_transformation_matrix(matrix: npt.ArrayLike) -> FloatArray:
    """Inverse of :func:`transformation_matrix`."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4):
        raise GeometryError(f"transformationMatrix must be 4x4, got shape {m.shape}")
    return check_affine(_XYZ_TO_ZYX @ m)


def with_spacing(affine: npt.ArrayLike, spacing: Sequence[float] | npt.ArrayLike) -> FloatArray:
    """Return the affine with new (slice, row, column) spacing; directions and S_0 kept."""
    s = np.asarray(spacing, dtype=np.float64).reshape(-1)
    if s.shape != (3,) or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise GeometryError(
            f"spacing must be three positive numbers (slice, row, column), got {s.tolist()}"
        )
    a = np.asarray(affine, dtype=np.float64).copy()
    t = a[:3, 0]
    d = slice_distance(a)
    if d > 1e-9:
        a[:3, 0] = t * (s[0] / d)
    else:
        a[:3, 0] = normal(a) * s[0]
    x, y = direction_cosines(a)
    a[:3, 1] = s[1] * y
    a[:3, 2] = s[2] * x
    return a


def with_orientation(affine: npt.ArrayLike, iop_: Sequence[float] | npt.ArrayLike) -> FloatArray:
    """Return the affine with a new IOP; spacings and S_0 kept, t along the new normal."""
    a = np.asarray(affine, dtype=np.float64)
    dr, dc = pixel_spacing(a)
    d = slice_distance(a)
    step = d if d > 1e-9 else float(np.linalg.norm(a[:3, 0])) or 1.0
    return affine_from_parts(a[:3, 3], iop_, (dr, dc), step)


# --- NIfTI and ITK -----------------------------------------------------------------


def nifti_from_affine(affine: npt.ArrayLike) -> FloatArray:
    """Return the NIfTI RAS affine for (i=c, j=r, k) index order.

    Examples
    --------
    >>> a = affine_from_parts((-100, -120, -50), (1, 0, 0, 0, 1, 0), (0.5, 0.8), 2.0)
    >>> nifti_from_affine(a)[:3].tolist()
    [[-0.8, 0.0, 0.0, 100.0], [0.0, -0.5, 0.0, 120.0], [0.0, 0.0, 2.0, -50.0]]
    """
    a = np.asarray(affine, dtype=np.float64)
    return LPS_TO_RAS @ a[:, [2, 1, 0, 3]]


def nifti_qform(nifti_affine: npt.ArrayLike) -> tuple[list[float], float, FloatArray]:
    """The NIfTI qform of a NIfTI affine: (quaternion b, c, d; qfac; zooms).

    The qform is the nearest rotation (polar decomposition by SVD), zooms and qfac (the
    sign of the determinant), computed with the floating point operations of nibabel's
    ``Nifti1Header.set_qform`` (its ``mat2quat``: the eigenvector of the largest
    eigenvalue of Bar-Itzhack's matrix, with w >= 0), so that the header fields get the
    same bits (tests/formats/test_nifti_exact.py compares them) without the header's
    per-call costs.

    Raises
    ------
    numpy.linalg.LinAlgError
        If a column is zero or not finite, or a decomposition fails; nibabel's
        ``set_qform`` raises its own error for such an affine.

    Examples
    --------
    >>> quat, qfac, zooms = nifti_qform(np.diag([-2.0, 2.0, 3.0, 1.0]))
    >>> [float(v) for v in quat], qfac, zooms.tolist()
    ([0.0, 1.0, 0.0], -1.0, [2.0, 2.0, 3.0])
    """
    m = np.asarray(nifti_affine, dtype=np.float64)
    rzs = m[:3, :3]
    zooms = np.sqrt(np.sum(rzs * rzs, axis=0))
    if not all(0.0 < z < math.inf for z in zooms.tolist()):
        raise np.linalg.LinAlgError("the affine has a zero or non-finite column")
    r = rzs / zooms
    qfac = _det_sign(r)
    if qfac < 0:
        r[:, -1] *= -1
    p, _, qs = np.linalg.svd(r)
    q = _quaternion(np.dot(p, qs))
    return q[1:], qfac, zooms


def _det_sign(r: FloatArray) -> float:
    """1.0 where ``numpy.linalg.det(r) > 0``, else -1.0, for a 3x3 matrix of unit columns.

    The cofactor sum where the determinant is clearly away from 0 (both ways are
    accurate to ~1e-15 there, so the sign is the same); numpy's otherwise.
    """
    (a, b, c), (d, e, f), (g, h, i) = r.tolist()
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    if abs(det) > 1e-6:
        return 1.0 if det > 0 else -1.0
    return 1.0 if np.linalg.det(r) > 0 else -1.0


def _quaternion(rotation: FloatArray) -> list[float]:
    """(w, x, y, z) of a 3x3 rotation, as nibabel's ``quaternions.mat2quat`` computes it.

    The matrix entries as Python floats (the same IEEE operations as numpy scalars,
    without their per-operation cost), the same 4x4 matrix and ``eigh`` call.
    """
    qxx, qyx, qzx, qxy, qyy, qzy, qxz, qyz, qzz = rotation.ravel().tolist()
    k = (
        np.array(
            [
                [qxx - qyy - qzz, 0, 0, 0],
                [qyx + qxy, qyy - qxx - qzz, 0, 0],
                [qzx + qxz, qzy + qyz, qzz - qxx - qyy, 0],
                [qyz - qzy, qzx - qxz, qxy - qyx, qxx + qyy + qzz],
            ]
        )
        / 3.0
    )
    vals, vecs = np.linalg.eigh(k)
    q = vecs[[3, 0, 1, 2], np.argmax(vals)]
    if q[0] < 0:
        q *= -1
    out: list[float] = q.tolist()
    return out


def affine_from_nifti(nifti_affine: npt.ArrayLike) -> FloatArray:
    """Inverse of :func:`nifti_from_affine`."""
    m = np.asarray(nifti_affine, dtype=np.float64)
    return check_affine((LPS_TO_RAS @ m)[:, [2, 1, 0, 3]])


def itk_from_affine(affine: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return ITK (origin, spacing, direction) for (x=c, y=r, z=k) index order.

    Direction columns are unit vectors (X, Y, t/|t|); spacing is (dc, dr, |t|).
    """
    a = np.asarray(affine, dtype=np.float64)
    cols = a[:3, [2, 1, 0]]
    spacing = np.linalg.norm(cols, axis=0)
    safe = np.where(spacing > 1e-12, spacing, 1.0)
    direction = cols / safe[None, :]
    if spacing[2] <= 1e-12:
        direction[:, 2] = normal(a)
        spacing[2] = 1.0
    return a[:3, 3].copy(), spacing, direction


def affine_from_itk(
    origin: npt.ArrayLike, spacing: npt.ArrayLike, direction: npt.ArrayLike
) -> FloatArray:
    """Inverse of :func:`itk_from_affine`."""
    o = np.asarray(origin, dtype=np.float64).reshape(3)
    s = np.asarray(spacing, dtype=np.float64).reshape(3)
    d = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    a = np.eye(4)
    a[:3, [2, 1, 0]] = d * s[None, :]
    a[:3, 3] = o
    return check_affine(a)


def orientation_name(affine: npt.ArrayLike) -> str:
    """Name the slice orientation: 'axial', 'sagittal', 'coronal' or 'oblique'.

    Examples
    --------
    >>> orientation_name(default_affine())
    'axial'
    """
    n = np.abs(normal(affine))
    i = int(np.argmax(n))
    if n[i] < 0.9999:
        return "oblique"
    return ("sagittal", "coronal", "axial")[i]


def dominant_plane(iop: Sequence[float] | npt.ArrayLike) -> tuple[str, float]:
    """The plane nearest to the slices and how clearly it is nearest.

    Returns ('sagittal', 'coronal' or 'axial' for the largest component of the slice
    normal, ties going to the later one as dcm2niix does) and the margin: the largest
    minus the second largest absolute component (0 at exactly 45 degrees).

    Examples
    --------
    >>> dominant_plane([1, 0, 0, 0, 1, 0])
    ('axial', 1.0)
    """
    n = np.abs(slice_normal(iop))
    i = 2 if n[2] >= n[0] and n[2] >= n[1] else (1 if n[1] >= n[0] else 0)
    margin = float(n[i] - np.max(np.delete(n, i)))
    return ("sagittal", "coronal", "axial")[i], margin


def logical_gradient_frame(iop: Sequence[float] | npt.ArrayLike, phase_in_rows: bool) -> FloatArray:
    """Columns: the LPS directions of GE's logical (frequency, phase, slice) gradient axes.

    GE stores diffusion directions relative to the prescription, not the patient.  With
    X, Y the row and column directions of the IOP and n = X x Y, the axes are, up to one
    common sign (a diffusion direction has none)::

        phase along columns (COL): frequency = -X, phase = a * Y, slice = n
        phase along rows (ROW):    frequency = Y,  phase = a * X, slice = n
        a = +1 for coronal slices, -1 for axial and sagittal slices

    the plane being the largest component of n (:func:`dominant_plane`).  This is
    dcm2niix's rule (geCorrectBvecs, derived from dicm2nii and validated by GE on
    phantoms in every plane; coronal with ROW as corrected in dcm2niix 2025), expressed
    in patient coordinates; the result does not depend on the order of the slices.

    Examples
    --------
    >>> logical_gradient_frame([1, 0, 0, 0, 1, 0], False).astype(int).tolist()
    [[-1, 0, 0], [0, -1, 0], [0, 0, 1]]
    """
    x, y = orthonormalize(iop)
    n = _cross(x, y)
    a = 1.0 if dominant_plane(iop)[0] == "coronal" else -1.0
    freq, phase = (y, a * x) if phase_in_rows else (-x, a * y)
    return np.column_stack([freq, phase, n])
