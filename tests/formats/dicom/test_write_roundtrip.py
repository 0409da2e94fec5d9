"""Round trips through the DICOM reader: DICOM -> Series -> DICOM -> Series.

The synthetic sources are written by :func:`imagedata.testing.make_dicom_series`
(not by our writer), so the first read is independent of the writer.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from imagedata.series import Series
from imagedata.testing import make_dicom_series, oblique_orientation

KEEP = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "FrameOfReferenceUID",
    "Modality",
    "SOPClassUID",
)


def assert_same_series(a: Series, b: Series, exact: bool = True) -> None:
    """Values, geometry, axes (names, values, per-slice values) and patient/study tags."""
    assert a.shape == b.shape
    if exact:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-9)
    assert a.header.axis_names == b.header.axis_names
    for x, y in zip(a.header.axes, b.header.axes):
        if x.values is not None:
            np.testing.assert_allclose(np.asarray(x.values, float), np.asarray(y.values, float))
        if x.slice_values is not None and y.slice_values is not None:
            np.testing.assert_allclose(
                np.asarray(x.slice_values, float), np.asarray(y.slice_values, float)
            )
    for kw in KEEP:
        assert a.getDicomAttribute(kw) == b.getDicomAttribute(kw), kw


def _roundtrip(src: Path, tmp: Path, order: str, **options: object) -> tuple[Series, ...]:
    a = Series(src, input_order=order)
    a.write(tmp / "w1", formats=["dicom"], **options)
    b = Series(tmp / "w1", input_order=order)
    b.write(tmp / "w2", formats=["dicom"], **options)
    c = Series(tmp / "w2", input_order=order)
    return a, b, c


@pytest.mark.parametrize(
    ("shape", "order", "kwargs"),
    [
        ((5, 6, 9), "none", {"orientation": "sagittal"}),
        ((5, 6, 9), "none", {"orientation": oblique_orientation(), "modality": "CT"}),
        ((4, 3, 6, 9), "time", {"orientation": "coronal"}),
        ((4, 3, 6, 9), "b", {}),
        ((3, 3, 6, 9), "te", {}),
        ((3, 3, 6, 9), "triggertime", {"tag_values": [0.0, 350.5, 701.0]}),
    ],
)
def test_roundtrip(tmp_path: Path, shape: tuple[int, ...], order: str, kwargs: dict) -> None:  # type: ignore[type-arg]
    truth = make_dicom_series(tmp_path / "src", shape, order=order, **kwargs)
    a, b, c = _roundtrip(truth.path, tmp_path, order)
    np.testing.assert_array_equal(np.asarray(a), truth.data)
    assert_same_series(a, b)
    assert_same_series(b, c)
    if order == "time":
        np.testing.assert_allclose(b.timeline, truth.timeline)
    if order == "b":
        np.testing.assert_allclose(b.bvalues, truth.tag_values)
    assert b.seriesInstanceUID != a.seriesInstanceUID


def test_roundtrip_output_sort_tag_and_multi(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "src", (3, 4, 6, 9), order="time")
    a, b, c = _roundtrip(truth.path, tmp_path, "time", output_sort="tag", output_dir="multi")
    assert_same_series(a, b)
    assert_same_series(b, c)


def test_roundtrip_keep_uid(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "src", (3, 6, 9))
    a, b, c = _roundtrip(truth.path, tmp_path, "none", keep_uid=True)
    assert a.seriesInstanceUID == b.seriesInstanceUID == c.seriesInstanceUID
    sops = sorted(pydicom.dcmread(p).SOPInstanceUID for p in (tmp_path / "w1").iterdir())
    sops2 = sorted(pydicom.dcmread(p).SOPInstanceUID for p in (tmp_path / "w2").iterdir())
    assert sops == sops2


def _five_d_source(folder: Path) -> tuple[np.ndarray, list[float]]:
    """A 'time,te' series: 3 times x 2 echoes x 3 slices, all in one series."""
    tes = [5.0, 12.5]
    uids = {k: generate_uid() for k in ("SeriesInstanceUID", "StudyInstanceUID", "Frame")}
    data = []
    for e, te in enumerate(tes):
        truth = make_dicom_series(
            folder / f"e{e}", (3, 3, 6, 9), order="time", EchoTime=te, EchoNumbers=e + 1,
            start_time=dt.datetime(2024, 2, 29, 12, 5, 0),
        )  # fmt: skip
        data.append(np.asarray(truth.data) + 1000 * e)
        for f in truth.files:
            ds = pydicom.dcmread(f)
            ds.SeriesInstanceUID = uids["SeriesInstanceUID"]
            ds.StudyInstanceUID = uids["StudyInstanceUID"]
            ds.FrameOfReferenceUID = uids["Frame"]
            arr = ds.pixel_array.astype(np.uint16) + 1000 * e
            ds.PixelData = arr.tobytes()
            ds.save_as(f)
    return np.stack(data, axis=1), tes


def test_roundtrip_5d_time_te(tmp_path: Path) -> None:
    want, tes = _five_d_source(tmp_path / "src")
    a, b, c = _roundtrip(tmp_path / "src", tmp_path, "time,te")
    assert a.header.axis_names == ("time", "te", "slice", "row", "column")
    np.testing.assert_array_equal(np.asarray(a), want)
    assert_same_series(a, b)
    assert_same_series(b, c)
    np.testing.assert_allclose(b.axes[1].values, tes)
    np.testing.assert_allclose(b.timeline, [0.0, 2.5, 5.0])


def test_float_roundtrip_within_documented_error(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "src", (4, 6, 9))
    a = Series(truth.path)
    f = a.astype(np.float32) / 7
    with pytest.warns(UserWarning, match="quantised"):
        f.write(tmp_path / "w", formats=["dicom"], iod="image")
    b = Series(tmp_path / "w")
    # half a quantisation step, plus float32 rounding when the reader returns float32
    bound = (float(f.max()) - float(f.min())) / (2 * 65535)
    bound += float(np.finfo(np.float32).eps) * float(np.abs(f).max())
    assert np.abs(np.asarray(b, np.float64) - np.asarray(f, np.float64)).max() <= bound
    np.testing.assert_allclose(b.affine, a.affine, atol=1e-9)


def test_array_with_template_and_geometry_sorts_back(tmp_path: Path) -> None:
    """NIfTI-born data: a bare array + template + geometry comes back as the same array."""
    truth = make_dicom_series(tmp_path / "src", (5, 6, 9), orientation="sagittal")
    src = Series(truth.path)
    rng = np.random.default_rng(1)
    data = rng.integers(0, 3000, size=src.shape).astype(np.int32)
    derived = Series(data, template=src, geometry=src)
    derived.write(tmp_path / "w", formats=["dicom"])
    back = Series(tmp_path / "w")
    np.testing.assert_array_equal(np.asarray(back), data)
    np.testing.assert_allclose(back.affine, src.affine, atol=1e-9)
    for kw in KEEP[:9]:
        assert back.getDicomAttribute(kw) == src.getDicomAttribute(kw), kw
    assert back.seriesInstanceUID != src.seriesInstanceUID
    assert list(back.imageType)[:2] == ["DERIVED", "SECONDARY"]


def test_single_slice_roundtrip(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "src", (6, 6, 9), orientation="oblique")
    src = Series(truth.path)
    src[4].write(tmp_path / "w", formats=["dicom"])
    back = Series(tmp_path / "w")
    np.testing.assert_array_equal(np.asarray(back).reshape(6, 9), truth.data[4])
    np.testing.assert_allclose(back.header.slice_positions()[0], truth.positions[4], atol=1e-9)


def test_bare_array_roundtrip(tmp_path: Path) -> None:
    si = Series(np.arange(2 * 3 * 4 * 5, dtype=np.int16).reshape(2, 3, 4, 5) - 50)
    si.write(tmp_path / "w")
    back = Series(tmp_path / "w", input_order="time")
    np.testing.assert_array_equal(np.asarray(back), np.asarray(si))
    np.testing.assert_allclose(back.affine, si.affine, atol=1e-9)


def test_one_time_point_of_a_time_series(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "src", (3, 4, 6, 9), order="time")
    a = Series(truth.path, input_order="time")
    files = a[1].write(tmp_path / "w", formats=["dicom"])
    ds = pydicom.dcmread(files[0])
    assert "NumberOfTemporalPositions" not in ds and "TemporalPositionIdentifier" not in ds
    back = Series(tmp_path / "w")
    np.testing.assert_array_equal(np.asarray(back), truth.data[1])
    np.testing.assert_allclose(back.affine, a.affine, atol=1e-9)


def _skewed_iop(cosine: float) -> tuple[float, ...]:
    """Axial IOP whose column direction leans `cosine` towards the row direction."""
    return (1.0, 0.0, 0.0, cosine, float(np.sqrt(1.0 - cosine**2)), 0.0)


def test_nearly_perpendicular_dicom_reads_and_writes_back(tmp_path: Path) -> None:
    # decimal-string IOPs are only nearly perpendicular: what the reader accepts, the
    # writer must accept too (one geometry.ORTHOGONALITY_TOLERANCE for both)
    truth = make_dicom_series(tmp_path / "src", shape=(4, 6, 8), orientation=_skewed_iop(5e-4))
    si = Series(truth.path)
    si.write(tmp_path / "out")
    back = Series(tmp_path / "out")
    assert_same_series(si, back)
    iop = [
        float(v)
        for v in pydicom.dcmread(sorted((tmp_path / "out").iterdir())[0]).ImageOrientationPatient
    ]
    assert abs(float(np.dot(iop[:3], iop[3:]))) < 1e-12  # written as read: orthonormal


def test_nearly_perpendicular_nifti_writes_to_dicom(tmp_path: Path) -> None:
    # a NIfTI whose voxel axes are 5e-4 from perpendicular reads; DICOM refused it before
    nib = pytest.importorskip("nibabel")
    lean = 5e-4
    ras = np.diag([-0.9, -0.8, 2.0, 1.0])  # (i, j, k) = (column, row, slice) spacings
    ras[:3, 3] = [100.0, 90.0, -20.0]
    ras[0, 1] = 0.8 * lean  # the row axis j leans towards x
    image = nib.Nifti1Image(np.arange(7 * 6 * 5, dtype=np.int16).reshape(5, 6, 7), ras)
    image.set_sform(ras, 1)
    image.set_qform(None, 0)
    nib.save(image, tmp_path / "lean.nii.gz")
    si = Series(tmp_path / "lean.nii.gz")
    si.write(tmp_path / "out", formats=["dicom"])
    back = Series(tmp_path / "out")
    np.testing.assert_array_equal(np.asarray(back), np.asarray(si))
    np.testing.assert_allclose(back.header.slice_positions(), si.header.slice_positions())
    # the row direction is made perpendicular, as the reader does: it turns by 5e-4 rad
    np.testing.assert_allclose(back.affine, si.affine, atol=0.8 * lean * 1.01)
    assert not np.allclose(back.affine, si.affine, atol=1e-6)


def test_orthogonality_tolerance_is_shared_by_reader_and_writer(tmp_path: Path) -> None:
    from imagedata import geometry
    from imagedata.errors import GeometryError

    too_far = 2 * geometry.ORTHOGONALITY_TOLERANCE
    truth = make_dicom_series(tmp_path / "src", shape=(2, 4, 4), shuffle=False)
    for f in Path(truth.path).iterdir():
        ds = pydicom.dcmread(f)
        ds.ImageOrientationPatient = list(_skewed_iop(too_far))
        ds.save_as(f)
    with pytest.raises(GeometryError, match="not orthogonal"):
        Series(truth.path)
    si = Series(np.zeros((2, 4, 4), np.uint16))
    affine = si.affine.copy()
    affine[:3, 1] = _skewed_iop(too_far)[3:]
    si.header = si.header.replace(affine=affine)
    with pytest.raises(GeometryError, match="perpendicular"):
        si.write(tmp_path / "out")
