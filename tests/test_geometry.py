"""Geometry functions against the test vectors of GEOMETRY.md and independent math."""

from __future__ import annotations

import numpy as np
import pytest

from imagedata import geometry
from imagedata.errors import GeometryError


def test_vector1_axial_affine_and_nifti() -> None:
    a = geometry.affine_from_parts((-100, -120, -50), (1, 0, 0, 0, 1, 0), (0.5, 0.8), 2.0)
    np.testing.assert_allclose(a[:3, 0], (0, 0, 2))
    np.testing.assert_allclose(a[:3, 1], (0, 0.5, 0))
    np.testing.assert_allclose(a[:3, 2], (0.8, 0, 0))
    np.testing.assert_allclose(a[:3, 3], (-100, -120, -50))
    ras = geometry.nifti_from_affine(a)
    np.testing.assert_allclose(
        ras[:3], [[-0.8, 0, 0, 100], [0, -0.5, 0, 120], [0, 0, 2, -50]], atol=1e-12
    )
    np.testing.assert_allclose(geometry.affine_from_nifti(ras), a)
    nib = pytest.importorskip("nibabel")
    assert nib.aff2axcodes(ras) == ("L", "P", "S")


def test_vector2_sagittal_normal() -> None:
    np.testing.assert_allclose(geometry.slice_normal((0, 1, 0, 0, 0, -1)), (-1, 0, 0))
    positions = np.array([[x, 0.0, 0.0] for x in (10.0, 20.0, 30.0)])
    d = geometry.slice_locations(
        geometry.affine_from_parts((0, 0, 0), (0, 1, 0, 0, 0, -1), (1, 1), 1), positions
    )
    # increasing x means decreasing n . S: sorted order is decreasing x
    assert list(np.argsort(d)) == [2, 1, 0]


def test_slice_locations_one_function() -> None:
    # readers (normal from the orientation) and the header (normal from the affine) agree
    iop = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    a = geometry.affine_from_parts((5.0, -3.0, 7.0), iop, (0.7, 0.9), 2.5)
    positions = geometry.slice_positions(a, 4)
    from_iop = geometry.locations_along(geometry.slice_normal(iop), positions)
    np.testing.assert_allclose(from_iop, geometry.slice_locations(a, positions))
    np.testing.assert_allclose(from_iop, -5.0 + 2.5 * np.arange(4))
    assert geometry.locations_along((0, 0, 1), (1.0, 2.0, 3.0)) == 3.0


def test_vector3_tilt_keeps_exact_step() -> None:
    th = np.deg2rad(20)
    iop = (1, 0, 0, 0, np.cos(th), -np.sin(th))
    positions = np.array([[0, 0, 2.5 * k] for k in range(5)], dtype=float)
    a = geometry.affine_from_positions(positions, iop, (1.0, 1.0))
    np.testing.assert_allclose(a[:3, 0], (0, 0, 2.5))
    assert geometry.slice_distance(a) == pytest.approx(2.5 * np.cos(th), abs=1e-3)
    assert geometry.slice_distance(a) == pytest.approx(2.349, abs=1e-3)
    assert geometry.is_tilted(a)
    np.testing.assert_allclose(geometry.slice_positions(a, 5), positions, atol=1e-12)


def test_uneven_steps_tolerance() -> None:
    n = np.array([0.0, 0.0, 1.0])
    even = np.array([[0, 0, 2.0 * k + 1e-4 * (k % 2)] for k in range(6)])
    assert geometry.uneven_steps(even, n) == []
    gap = np.array([[0, 0, z] for z in (0, 2, 4, 8, 10, 12)], dtype=float)
    bad = geometry.uneven_steps(gap, n)
    assert [k for k, _ in bad] == [2]


def test_compat_views_axial() -> None:
    a = geometry.affine_from_parts((1, 2, 3), (1, 0, 0, 0, 1, 0), (1.3125, 1.5), 2.0)
    np.testing.assert_allclose(geometry.spacing_zyx(a), (2.0, 1.3125, 1.5))
    np.testing.assert_allclose(geometry.orientation_zyx(a), (0, 0, 1, 0, 1, 0))
    t = geometry.transformation_matrix(a)
    # (k, r, c) = (1, 2, 3) maps to (z, y, x)
    zyx = t @ (1, 2, 3, 1)
    xyz = a @ (1, 2, 3, 1)
    np.testing.assert_allclose(zyx[:3], xyz[2::-1])
    np.testing.assert_allclose(geometry.affine_from_transformation_matrix(t), a)
    np.testing.assert_allclose(
        geometry.orientation_from_zyx(geometry.orientation_zyx(a)), (1, 0, 0, 0, 1, 0)
    )


def test_itk_round_trip_unit_directions() -> None:
    a = geometry.affine_from_parts((5, 6, 7), (0, 1, 0, 0, 0, -1), (0.7, 0.9), 3.0)
    origin, spacing, direction = geometry.itk_from_affine(a)
    np.testing.assert_allclose(np.linalg.norm(direction, axis=0), 1.0)
    np.testing.assert_allclose(spacing, (0.9, 0.7, 3.0))
    np.testing.assert_allclose(origin, (5, 6, 7))
    np.testing.assert_allclose(geometry.affine_from_itk(origin, spacing, direction), a)


@pytest.mark.parametrize(
    ("iop", "name"),
    [
        ((1, 0, 0, 0, 1, 0), "axial"),
        ((0, 1, 0, 0, 0, -1), "sagittal"),
        ((1, 0, 0, 0, 0, -1), "coronal"),
        ((1, 0, 0, 0, np.cos(0.3), np.sin(0.3)), "oblique"),
    ],
)
def test_orientation_name(iop: tuple[float, ...], name: str) -> None:
    assert geometry.orientation_name(geometry.affine_from_parts((0, 0, 0), iop, (1, 1), 1)) == name


@pytest.mark.parametrize(
    ("iop", "message"),
    [
        ((1, 0, 0, 0, 1), "six finite numbers"),
        ((1, 0, 0, 1, 0, 0), "not orthogonal"),
        ((0, 0, 0, 0, 1, 0), "zero-length"),
        ((1, 0, 0, 0, np.nan, 0), "six finite numbers"),
    ],
)
def test_bad_orientation(iop: tuple[float, ...], message: str) -> None:
    with pytest.raises(GeometryError, match=message):
        geometry.orthonormalize(iop)


def test_bad_affine_and_spacing() -> None:
    a = np.eye(4)
    a[:3, 1] = 0
    with pytest.raises(GeometryError, match="zero-length row axis"):
        geometry.check_affine(a)
    with pytest.raises(GeometryError, match="4x4"):
        geometry.check_affine(np.eye(3))
    with pytest.raises(GeometryError, match="three positive numbers"):
        geometry.with_spacing(geometry.default_affine(), (1, 2))
    with pytest.raises(GeometryError, match="two positive numbers"):
        geometry.affine_from_parts((0, 0, 0), (1, 0, 0, 0, 1, 0), (0, 1), 1)


def test_orthonormalize_decimal_string_precision() -> None:
    # IOP values as written with limited precision in decimal strings
    iop = (0.99996192, 0.0, 0.00872654, -0.00872654, 0.0, 0.99996192)
    x, y = geometry.orthonormalize(iop)
    assert abs(np.dot(x, y)) < 1e-12
    assert np.linalg.norm(x) == pytest.approx(1.0)


def test_cross_same_bits_as_numpy() -> None:
    """geometry._cross (cheap 3-vector cross product) equals np.cross bit for bit."""
    rng = np.random.default_rng(7)
    vectors = [*rng.normal(size=(500, 2, 3)), *(rng.normal(size=(100, 2, 3)) * 1e-300)]
    vectors += [np.array([[1.0, -0.0, 0.0], [0.0, 1.0, -0.0]]), np.eye(3)[:2]]
    for a, b in vectors:
        ours = geometry._cross(a, b)
        ref = np.cross(a, b)
        assert ours.dtype == ref.dtype and ours.tobytes() == ref.tobytes()
