"""DICOM reader geometry: GEOMETRY.md test vectors 1-4 and HARD_CASES 1-5, 9."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagedata import geometry
from imagedata.errors import MultipleSeriesError, SortError
from imagedata.loadsave import read
from imagedata.testing import make_dicom_series
from tests.formats.dicom._readutil import by_position, edit


def test_vector1_axial_unequal_spacing(tmp_path: Path) -> None:
    truth = make_dicom_series(
        tmp_path, shape=(10, 6, 9), pixel_spacing=(0.5, 0.8), position=(-100, -120, -50)
    )
    arr, h = read(tmp_path)
    assert arr.shape == (10, 6, 9)
    np.testing.assert_array_equal(arr, truth.data)
    np.testing.assert_allclose(h.affine[:3, 0], (0, 0, 2), atol=1e-9)
    np.testing.assert_allclose(h.affine[:3, 1], (0, 0.5, 0), atol=1e-9)
    np.testing.assert_allclose(h.affine[:3, 2], (0.8, 0, 0), atol=1e-9)
    np.testing.assert_allclose(h.affine[:3, 3], (-100, -120, -50), atol=1e-9)
    expected = [[-0.8, 0, 0, 100], [0, -0.5, 0, 120], [0, 0, 2, -50]]
    np.testing.assert_allclose(geometry.nifti_from_affine(h.affine)[:3], expected, atol=1e-9)
    assert h.input_format == "dicom" and h.input_order == "none"
    assert h.axes[-3:][0].name == "slice"


def test_hc1_instance_number_is_not_spatial_order(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(8, 4, 5))
    rng = np.random.default_rng(1)
    numbers = rng.permutation(8) + 1

    def scramble(ds: pydicom.Dataset, i: int) -> None:
        ds.InstanceNumber = int(numbers[i])
        ds.SliceLocation = -float(ds.SliceLocation)  # vendor sign: never used

    edit(truth.files, scramble)
    arr, h = read(tmp_path)
    np.testing.assert_array_equal(arr, truth.data)
    np.testing.assert_allclose(h.affine, truth.affine, atol=1e-6)


def test_vector2_sagittal_sorts_along_normal(tmp_path: Path) -> None:
    truth = make_dicom_series(
        tmp_path, shape=(5, 6, 7), orientation="sagittal", position=(10, -20, 30)
    )
    arr, h = read(tmp_path)
    np.testing.assert_array_equal(arr, truth.data)
    x = h.affine[0, 3] + np.arange(5) * h.affine[0, 0]
    assert np.all(np.diff(x) < 0), "n = (-1,0,0): x must decrease from slice to slice"
    np.testing.assert_allclose(h.affine, truth.affine, atol=1e-6)


def test_oblique_geometry(tmp_path: Path) -> None:
    truth = make_dicom_series(
        tmp_path, shape=(6, 8, 5), orientation="oblique", pixel_spacing=(0.7, 1.1)
    )
    arr, h = read(tmp_path)
    np.testing.assert_array_equal(arr, truth.data)
    np.testing.assert_allclose(h.affine, truth.affine, atol=1e-5)


def test_vector3_and_hc5_gantry_tilt_keeps_sheared_affine(tmp_path: Path) -> None:
    c, s = np.cos(np.deg2rad(20)), np.sin(np.deg2rad(20))
    truth = make_dicom_series(
        tmp_path,
        shape=(6, 4, 4),
        orientation=(1, 0, 0, 0, c, -s),
        slice_spacing=(0, 0, 2.5),
        modality="CT",
    )
    with pytest.warns(UserWarning, match="gantry tilt"):
        arr, h = read(tmp_path)
    np.testing.assert_allclose(h.affine[:3, 0], (0, 0, 2.5), atol=1e-6)
    assert geometry.slice_distance(h.affine) == pytest.approx(2.5 * c, abs=1e-4)
    assert geometry.is_tilted(h.affine)
    np.testing.assert_array_equal(arr, truth.data)


def test_vector4_time_series_and_missing_file(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(5, 20, 4, 6), order="time")
    arr, h = read(tmp_path)
    assert arr.shape == (5, 20, 4, 6)
    np.testing.assert_array_equal(arr, truth.data)
    assert h.input_order == "time"
    time = h.axes[0]
    assert time.name == "time"
    timeline = time.values - time.values[0]
    assert np.all(np.diff(timeline) > 0)
    np.testing.assert_allclose(timeline, truth.timeline)
    assert time.slice_values is not None and time.slice_values.shape == (5, 20)
    # 12:05:00 = 43500 s since midnight
    assert time.values[0] == pytest.approx(43500.0)

    victim = by_position(truth.files)[7 * 5 + 2]
    z = float(pydicom.dcmread(victim).ImagePositionPatient[2])
    victim.unlink()
    with pytest.raises(SortError, match="unequal number of images") as info:
        read(tmp_path)
    assert f"{z:.3f}" in str(info.value) and "has 4 images" in str(info.value)


def test_hc9_partial_last_volume_named(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 6, 4, 4), order="time")
    last = [f for f in truth.files if int(pydicom.dcmread(f).TemporalPositionIdentifier) == 3]
    for f in last[:4]:
        f.unlink()
    with pytest.raises(SortError, match="partial last volume"):
        read(tmp_path)


def test_hc2_two_series_in_one_folder(tmp_path: Path) -> None:
    a = make_dicom_series(tmp_path / "a", shape=(4, 4, 4), SeriesNumber=5, SeriesDescription="T1")
    b = make_dicom_series(tmp_path / "b", shape=(3, 4, 4), SeriesNumber=6, SeriesDescription="T2")
    with pytest.raises(MultipleSeriesError) as info:
        read(tmp_path)
    msg = str(info.value)
    for text in (
        a.series_instance_uid,
        b.series_instance_uid,
        "'T1'",
        "'T2'",
        "4 images",
        "3 images",
        "series=",
    ):
        assert text in msg
    assert read(tmp_path, series=6)[0].shape == (3, 4, 4)
    assert read(tmp_path, series="T1")[0].shape == (4, 4, 4)
    assert read(tmp_path, series=b.series_instance_uid)[0].shape == (3, 4, 4)
    with pytest.raises(MultipleSeriesError, match="no series matches"):
        read(tmp_path, series=99)


def test_hc3_localizer_split_off(tmp_path: Path) -> None:
    main = make_dicom_series(tmp_path / "main", shape=(6, 4, 4))
    loc = make_dicom_series(tmp_path / "loc", shape=(2, 4, 4), orientation="sagittal")

    def same_series(ds: pydicom.Dataset, i: int) -> None:
        ds.SeriesInstanceUID = main.series_instance_uid
        ds.StudyInstanceUID = main.study_instance_uid
        ds.FrameOfReferenceUID = pydicom.dcmread(main.files[0]).FrameOfReferenceUID

    edit(loc.files, same_series)
    with pytest.raises(MultipleSeriesError, match="orientation") as info:
        read(tmp_path)
    assert "series='3.1'" in str(info.value) and "series='3.2'" in str(info.value)
    arr, _ = read(tmp_path, series="3.1")
    np.testing.assert_array_equal(arr, main.data)
    assert read(tmp_path, series="3.2")[0].shape == (2, 4, 4)


def test_hc4_missing_slice_named_and_accepted(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(8, 4, 4))
    ordered = by_position(truth.files)
    gone_z = float(pydicom.dcmread(ordered[4]).ImagePositionPatient[2])
    ordered[4].unlink()
    with pytest.raises(SortError, match="not evenly spaced") as info:
        read(tmp_path)
    msg = str(info.value)
    assert f"{gone_z - 2:.3f}" in msg and f"{gone_z + 2:.3f}" in msg and "4 mm" in msg
    assert "accept_uneven_slices=True" in msg
    arr, h = read(tmp_path, accept_uneven_slices=True)
    assert arr.shape == (7, 4, 4)
    assert h.positions is not None
    np.testing.assert_allclose(h.positions, np.delete(truth.positions, 4, axis=0), atol=1e-6)
    np.testing.assert_array_equal(arr, np.delete(truth.data, 4, axis=0))


def test_hc4_precision_of_decimal_strings(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(10, 4, 4), slice_spacing=1.33333, position=(0, 0, 0))

    def coarse(ds: pydicom.Dataset, i: int) -> None:  # positions written with 1 decimal
        ds.ImagePositionPatient = [f"{float(v):.1f}" for v in ds.ImagePositionPatient]

    edit(truth.files, coarse)
    arr, h = read(tmp_path)
    assert arr.shape == (10, 4, 4)
    assert h.positions is None


def test_duplicate_sop_instance_dropped(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(4, 4, 4))
    shutil.copy(truth.files[0], tmp_path / "copy_of_first")
    arr, _ = read(tmp_path)
    np.testing.assert_array_equal(arr, truth.data)


def test_hc14_hc18_other_uid_is_never_a_duplicate(tmp_path: Path) -> None:
    """A copy under a new SOPInstanceUID is another image, even with equal pixels."""
    make_dicom_series(tmp_path, shape=(4, 4, 4))
    files = sorted(tmp_path.iterdir())
    ds = pydicom.dcmread(by_position(files)[1])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(tmp_path / "same_pixels")
    with pytest.raises(SortError, match="unequal number of images per slice position") as info:
        read(tmp_path)
    assert "same_pixels" in str(info.value)


def test_headers_only(tmp_path: Path) -> None:
    truth = make_dicom_series(
        tmp_path, shape=(3, 5, 4, 6), order="time", modality="CT", dtype=np.int16
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arr, h = read(tmp_path, headers_only=True)
    assert arr.shape == (3, 5, 4, 6) and arr.dtype == np.int16 and not arr.flags.writeable
    assert arr.strides == (0, 0, 0, 0)
    np.testing.assert_allclose(h.affine, truth.affine, atol=1e-6)
    assert h.input_order == "time"


def test_series_reads_paths(tmp_path: Path) -> None:
    from imagedata.series import Series

    truth = make_dicom_series(tmp_path, shape=(3, 4, 5, 6), order="time")
    si = Series(tmp_path)
    assert si.shape == (3, 4, 5, 6) and si.input_order == "time"
    np.testing.assert_allclose(si.timeline, truth.timeline)
    np.testing.assert_array_equal(np.asarray(si), truth.data)
    np.testing.assert_allclose(si.spacing, [2.0, 0.5, 0.8])
    assert si.slices == 4
    header_only = Series(tmp_path, headers_only=True)
    assert header_only.shape == (3, 4, 5, 6)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    angle=st.floats(-80, 80),
    axis=st.sampled_from([(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (1.0, 1.0, 1.0), (0.2, -1.0, 0.5)]),
    spacing=st.tuples(st.floats(0.3, 3.0), st.floats(0.3, 3.0)),
    step=st.floats(0.5, 6.0),
    nslices=st.integers(1, 6),
    seed=st.integers(0, 1000),
)
def test_random_geometry_round_trip(
    tmp_path_factory: pytest.TempPathFactory,
    angle: float,
    axis: tuple[float, float, float],
    spacing: tuple[float, float],
    step: float,
    nslices: int,
    seed: int,
) -> None:
    from imagedata.testing import oblique_orientation

    folder = tmp_path_factory.mktemp("geom")
    iop = oblique_orientation(angle, axis)
    truth = make_dicom_series(
        folder,
        shape=(nslices, 5, 3),
        orientation=iop,
        pixel_spacing=spacing,
        slice_spacing=step,
        position=(12.5, -40.25, 7.0),
        seed=seed,
    )
    arr, h = read(folder)
    assert arr.shape == truth.data.shape[1:] if nslices == 1 else truth.data.shape  # 2-D image
    arr = arr.reshape(truth.data.shape)
    np.testing.assert_array_equal(arr, truth.data)
    ours = geometry.voxel_to_world(h.affine, np.indices(arr.shape).reshape(3, -1).T)
    expected = geometry.voxel_to_world(truth.affine, np.indices(arr.shape).reshape(3, -1).T)
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def _legacy_multiframe(folder: Path, iop: list[float]) -> tuple[Path, np.ndarray]:
    """One legacy multi-frame file: 3 frames, one position, SpacingBetweenSlices 2.5."""
    truth = make_dicom_series(folder / "src", shape=(3, 4, 5), shuffle=False)
    first = pydicom.dcmread(truth.files[0])
    first.NumberOfFrames = 3
    first.SpacingBetweenSlices = 2.5
    first.ImageOrientationPatient = iop
    first.PixelData = np.asarray(truth.data, dtype=np.uint16).tobytes()
    out = folder / "multi.dcm"
    first.save_as(out, enforce_file_format=True)
    return out, np.asarray(truth.data)


def test_legacy_multiframe_frames_lie_along_the_normal(tmp_path: Path) -> None:
    sag = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]  # normal X x Y = (-1, 0, 0)
    path, data = _legacy_multiframe(tmp_path, sag)
    arr, h = read(path)
    np.testing.assert_array_equal(arr, data)
    start = np.asarray(pydicom.dcmread(path).ImagePositionPatient, dtype=np.float64)
    np.testing.assert_allclose(h.slice_positions(), start + np.outer([0, 2.5, 5.0], (-1, 0, 0)))


def test_legacy_multiframe_with_bad_orientation_names_the_file(tmp_path: Path) -> None:
    from imagedata.errors import HeaderError

    path, _ = _legacy_multiframe(tmp_path, [1.0, 0.0, 0.0, 0.1, 1.0, 0.0])
    with pytest.raises(HeaderError, match=r"multi\.dcm: ImageOrientationPatient.*not orthogonal"):
        read(path)
