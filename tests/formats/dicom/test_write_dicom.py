"""The DICOM writer: files, geometry per image, tag attributes, options, validity, safety.

These tests read the output with pydicom directly (no imagedata reader) and check it
with dciodvfy/dcentvfy.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from imagedata import geometry
from imagedata.axis import tag_axis
from imagedata.errors import WriteError
from imagedata.formats.dicom import writer
from imagedata.formats.dicom.writer import build_datasets, write_series
from imagedata.series import Series
from imagedata.testing import oblique_orientation
from tests.conftest import require_tool
from tests.formats.dicom._helpers import dcentvfy, dciodvfy, make_series


def _read(files: list[str]) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(f) for f in files]


def test_bare_array_writes_valid_secondary_capture(tmp_path: Path) -> None:
    si = Series(np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5))
    files = write_series(si, tmp_path / "out")
    assert [Path(f).name for f in files] == [f"Image_{i:05d}.dcm" for i in range(3)]
    dss = _read(files)
    assert dss[0].SOPClassUID.name == "Secondary Capture Image Storage"
    assert dss[0].file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    meta = dss[0].file_meta
    for kw in (
        "FileMetaInformationGroupLength",
        "FileMetaInformationVersion",
        "MediaStorageSOPClassUID",
        "MediaStorageSOPInstanceUID",
        "TransferSyntaxUID",
        "ImplementationClassUID",
    ):
        assert kw in meta, kw
    assert meta.MediaStorageSOPInstanceUID == dss[0].SOPInstanceUID
    np.testing.assert_array_equal(np.stack([d.pixel_array for d in dss]), np.asarray(si))
    assert [int(d.InstanceNumber) for d in dss] == [1, 2, 3]
    assert len({d.SOPInstanceUID for d in dss}) == 3
    assert len({d.SeriesInstanceUID for d in dss}) == 1


@pytest.mark.parametrize("modality", ["MR", "CT", "OT"])
def test_dciodvfy_and_dcentvfy_find_no_errors(tmp_path: Path, modality: str) -> None:
    require_tool("dciodvfy")
    require_tool("dcentvfy")
    si, _ = make_series(tmp_path, (3, 6, 8), modality="CT" if modality == "CT" else "MR")
    files = write_series(si, tmp_path / "out", modality=modality)
    sop = pydicom.dcmread(files[0]).SOPClassUID.name
    assert sop.startswith({"MR": "MR", "CT": "CT", "OT": "Secondary"}[modality])
    for f in files:
        assert dciodvfy(Path(f)) == [], f
    assert dcentvfy([Path(f) for f in files]) == []


def test_float_data_valid_and_within_error(tmp_path: Path) -> None:
    require_tool("dciodvfy")
    data = np.linspace(-3.0, 5.0, 2 * 6 * 8, dtype=np.float32).reshape(2, 6, 8) / 7
    si = Series(data)
    with pytest.warns(UserWarning, match="quantised.*largest error"):
        files = write_series(si, tmp_path / "out", modality="MR")
    assert dciodvfy(Path(files[0])) == []
    dss = _read(files)
    back = np.stack(
        [d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in dss]
    )
    bound = (data.max() - data.min()) / (2 * 65535)
    assert np.abs(back - data).max() <= bound * (1 + 1e-6)


@pytest.mark.parametrize(
    "orientation", ["axial", "sagittal", "coronal", "oblique", (1, 0, 0, 0, 0.94, -0.34)]
)
def test_geometry_per_image_from_the_affine(tmp_path: Path, orientation: object) -> None:
    si, truth = make_series(tmp_path, (4, 6, 9), orientation=orientation, pixel_spacing=(0.5, 0.8))
    dss = _read(write_series(si, tmp_path / "out"))
    x, y = geometry.direction_cosines(truth.affine)
    n = np.cross(x, y)
    for k, ds in enumerate(dss):
        np.testing.assert_allclose(
            np.array(ds.ImagePositionPatient, float), truth.positions[k], atol=1e-9
        )
        np.testing.assert_allclose(
            np.array(ds.ImageOrientationPatient, float), np.r_[x, y], atol=1e-12
        )
        assert [float(v) for v in ds.PixelSpacing] == [0.5, 0.8]
        assert (ds.Rows, ds.Columns) == (6, 9)
        assert float(ds.SliceLocation) == pytest.approx(n @ truth.positions[k])
        assert float(ds.SliceThickness) == pytest.approx(2.0)
        assert float(ds.SpacingBetweenSlices) == pytest.approx(2.0)


def test_tilted_geometry_keeps_positions(tmp_path: Path) -> None:
    c, s = np.cos(np.deg2rad(20)), np.sin(np.deg2rad(20))
    si, truth = make_series(
        tmp_path,
        (4, 6, 8),
        orientation=(1, 0, 0, 0, c, -s),
        slice_spacing=(0, 0, 2.5),
        modality="CT",
    )
    dss = _read(write_series(si, tmp_path / "out"))
    pos = np.array([ds.ImagePositionPatient for ds in dss], float)
    np.testing.assert_allclose(pos, truth.positions, atol=1e-9)
    assert float(dss[0].SliceThickness) == pytest.approx(2.5 * c)


def test_reversed_and_cropped_series_written_where_the_voxels_are(tmp_path: Path) -> None:
    si, truth = make_series(tmp_path, (6, 6, 8), orientation="sagittal")
    sub = si[::-2, 1:5, 2:]
    dss = _read(write_series(sub, tmp_path / "out"))
    aff = truth.affine
    for k, ds in enumerate(dss):
        want = geometry.voxel_to_world(aff, [[5 - 2 * k, 1, 2]])[0]
        np.testing.assert_allclose(np.array(ds.ImagePositionPatient, float), want, atol=1e-9)
        np.testing.assert_array_equal(ds.pixel_array, np.asarray(truth.data)[5 - 2 * k, 1:5, 2:])


def test_single_slice_written_at_its_place(tmp_path: Path) -> None:
    si, truth = make_series(tmp_path, (8, 6, 7))
    dss = _read(write_series(si[5, ...], tmp_path / "out"))
    assert len(dss) == 1
    np.testing.assert_allclose(np.array(dss[0].ImagePositionPatient, float), truth.positions[5])
    np.testing.assert_array_equal(dss[0].pixel_array, truth.data[5])
    assert float(dss[0].SliceThickness) == pytest.approx(2.0)


def test_time_axis_written_with_per_slice_times(tmp_path: Path) -> None:
    si, truth = make_series(tmp_path, (3, 2, 4, 5), order="time", tag_values=[0.0, 2.5, 86400.5])
    t0 = 12 * 3600 + 5 * 60
    values = t0 + truth.tag_values
    per_slice = values[:, None] + np.array([[0.0, 0.125]])
    si.header = si.header.with_axes((tag_axis("time", values, per_slice), *si.header.axes[1:]))
    dss = _read(write_series(si, tmp_path / "out"))
    assert [ds.AcquisitionTime for ds in dss] == [
        "120500.000000", "120500.125000", "120502.500000", "120502.625000",
        "120500.500000", "120500.625000",
    ]  # fmt: skip
    assert [ds.AcquisitionDate for ds in dss][-1] == "20240301"
    assert dss[3].AcquisitionDateTime == "20240229120502.625000"
    assert [int(ds.TemporalPositionIdentifier) for ds in dss] == [1, 1, 2, 2, 3, 3]
    assert {int(ds.NumberOfTemporalPositions) for ds in dss} == {3}


@pytest.mark.parametrize(
    ("name", "values", "check"),
    [
        ("b", [0.0, 1000.0], lambda ds, v: float(ds.DiffusionBValue) == v),
        ("te", [5.0, 12.5], lambda ds, v: float(ds.EchoTime) == v),
        ("fa", [5.0, 30.0], lambda ds, v: float(ds.FlipAngle) == v),
        ("ti", [100.0, 900.0], lambda ds, v: float(ds.InversionTime) == v),
        ("triggertime", [10.0, 420.0], lambda ds, v: float(ds.TriggerTime) == v),
        ("RepetitionTime", [300.0, 600.0], lambda ds, v: float(ds.RepetitionTime) == v),
    ],
)
def test_tag_axis_into_its_attribute(tmp_path: Path, name: str, values: list[float], check) -> None:  # type: ignore[no-untyped-def]
    si, _ = make_series(tmp_path, (2, 3, 4, 5), order="none")
    si.header = si.header.with_axes((tag_axis(name, values), *si.header.axes[1:]))
    dss = _read(write_series(si, tmp_path / "out"))
    for i, ds in enumerate(dss):
        assert check(ds, values[i // 3]), (name, i)


def test_dti_axis_writes_b_and_gradient(tmp_path: Path) -> None:
    si, _ = make_series(tmp_path, (3, 2, 4, 5), order="b")
    dti = np.array([[0, 0, 0, 0], [1000, 1, 0, 0], [1000, 0, 0.6, 0.8]], float)
    si.header = si.header.with_axes((tag_axis("dti", dti), *si.header.axes[1:]))
    dss = _read(write_series(si, tmp_path / "out"))
    got = np.array([[ds.DiffusionBValue, *ds.DiffusionGradientOrientation] for ds in dss[::2]])
    np.testing.assert_array_equal(got, dti)


def test_output_sort_and_dir(tmp_path: Path) -> None:
    si, truth = make_series(tmp_path, (2, 3, 4, 5), order="time")
    by_tag = write_series(si, tmp_path / "tag", output_sort="tag")
    dss = _read(by_tag)
    assert [int(ds.TemporalPositionIdentifier) for ds in dss] == [1, 2] * 3
    np.testing.assert_array_equal(dss[1].pixel_array, truth.data[1, 0])
    multi = write_series(si, tmp_path / "multi", output_dir="multi")
    rel = [Path(f).relative_to(tmp_path / "multi").as_posix() for f in multi]
    assert rel == [f"time{t}/Image_{k:05d}.dcm" for t in range(2) for k in range(3)]
    multi_tag = write_series(si, tmp_path / "mt", output_dir="multi", output_sort="TAG")
    rel = [Path(f).relative_to(tmp_path / "mt").as_posix() for f in multi_tag]
    assert rel == [f"slice{k}/Image_{t:05d}.dcm" for k in range(3) for t in range(2)]
    assert [int(pydicom.dcmread(f).InstanceNumber) for f in multi_tag] == list(range(1, 7))
    with pytest.raises(ValueError, match="output_sort"):
        write_series(si, tmp_path / "bad", output_sort="sideways")
    with pytest.raises(TypeError, match="unknown DICOM write option"):
        write_series(si, tmp_path / "bad", outputsort="tag")


def test_template_keeps_patient_and_study_new_identity(tmp_path: Path) -> None:
    src, truth = make_series(tmp_path, (3, 6, 8))
    derived = Series(np.asarray(src) * 2, template=src, geometry=src)
    dss = _read(write_series(derived, tmp_path / "out", sernum=42, serdes="Doubled"))
    t = src.header.template
    for ds in dss:
        for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                   "StudyDate", "StudyTime", "AccessionNumber", "FrameOfReferenceUID"):  # fmt: skip
            assert ds[kw].value == t[kw].value, kw
        assert ds.SeriesInstanceUID != truth.series_instance_uid
        assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        assert "ReferencedSeriesSequence" not in ds  # needs instance UIDs we do not have
        related = ds.RelatedSeriesSequence[0]
        assert related.SeriesInstanceUID == truth.series_instance_uid
        assert related.StudyInstanceUID == t.StudyInstanceUID
        assert (int(ds.SeriesNumber), ds.SeriesDescription) == (42, "Doubled")
        for uid in (ds.SeriesInstanceUID, ds.SOPInstanceUID):
            assert len(uid) <= 64 and set(uid) <= set("0123456789.")


def test_uids_new_on_every_write_unless_keep_uid(tmp_path: Path) -> None:
    si, truth = make_series(tmp_path, (2, 4, 5))
    a = _read(write_series(si, tmp_path / "a"))
    b = _read(write_series(si, tmp_path / "b"))
    assert a[0].SeriesInstanceUID != b[0].SeriesInstanceUID != truth.series_instance_uid
    assert a[0].SOPInstanceUID != b[0].SOPInstanceUID
    k1 = _read(write_series(si, tmp_path / "k1", keep_uid=True))
    k2 = _read(write_series(si, tmp_path / "k2", keep_uid=True))
    assert k1[0].SeriesInstanceUID == truth.series_instance_uid
    assert [d.SOPInstanceUID for d in k1] == [d.SOPInstanceUID for d in k2]
    assert len({d.SOPInstanceUID for d in k1}) == 2


def test_imagetype_and_window_options(tmp_path: Path) -> None:
    si, _ = make_series(tmp_path, (2, 4, 5))
    ds = _read(write_series(si, tmp_path / "a", imagetype="DERIVED\\SECONDARY\\MAP"))[0]
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "MAP"]
    vmin, vmax = float(np.min(si)), float(np.max(si))
    assert float(ds.WindowCenter) == pytest.approx((vmin + vmax) / 2)
    assert float(ds.WindowWidth) == pytest.approx(vmax - vmin)
    ds = _read(write_series(si, tmp_path / "b", window=(40, 400)))[0]
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (40.0, 400.0)
    ds = _read(write_series(si, tmp_path / "c", window=None))[0]
    assert "WindowCenter" not in ds


def test_stale_per_image_and_private_attributes_are_not_copied(tmp_path: Path) -> None:
    si, _ = make_series(tmp_path, (2, 4, 5))
    t = si.header.template
    t.LargestImagePixelValue = 9
    t.add_new(0x00291010, "OB", b"CSA with old geometry")
    ds = _read(write_series(si, tmp_path / "out"))[1]
    assert "LargestImagePixelValue" not in ds and (0x0029, 0x1010) not in ds


@pytest.mark.parametrize("compression", ["rle", "jpeg-ls", "jpeg2000"])
@pytest.mark.parametrize("dtype", [np.uint16, np.int16])
def test_lossless_compression(tmp_path: Path, compression: str, dtype: type) -> None:
    si, _ = make_series(tmp_path, (2, 32, 40), dtype=dtype)
    if dtype == np.int16:
        si = si - 100
    files = write_series(si, tmp_path / "out", compression=compression)
    for k, ds in enumerate(_read(files)):
        assert (
            ds.file_meta.TransferSyntaxUID
            == writer.TRANSFER_SYNTAX[writer.Compression(compression)]
        )
        np.testing.assert_array_equal(ds.pixel_array, np.asarray(si)[k])
    if require_tool("dciodvfy"):
        assert dciodvfy(Path(files[0])) == []


def test_jpeg2000_small_images_clear_error(tmp_path: Path) -> None:
    si, _ = make_series(tmp_path, (2, 6, 8))
    with pytest.raises(WriteError, match=r"at least 32x32.*rle"):
        write_series(si, tmp_path / "out", compression="jpeg2000")
    assert not (tmp_path / "out").exists()


def test_zip_output(tmp_path: Path) -> None:
    si, truth = make_series(tmp_path, (3, 4, 5))
    out = write_series(si, tmp_path / "series.zip")
    assert out == [str(tmp_path / "series.zip")]
    with zipfile.ZipFile(out[0]) as zf:
        assert zf.namelist() == [f"Image_{i:05d}.dcm" for i in range(3)]
        ds = pydicom.dcmread(zf.open("Image_00002.dcm"))
    np.testing.assert_array_equal(ds.pixel_array, truth.data[2])


def test_build_datasets_equals_written_files(tmp_path: Path) -> None:
    si, _ = make_series(tmp_path, (3, 4, 5))
    dss = list(build_datasets(si, keep_uid=True))
    files = _read(write_series(si, tmp_path / "out", keep_uid=True))
    assert len(dss) == 3
    for a, b in zip(dss, files):
        assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
        for elem in b:
            if elem.keyword not in ("ContentDate", "ContentTime"):
                assert (a[elem.tag].value or None) == (elem.value or None), elem.keyword


# --- safety ------------------------------------------------------------------------------


def test_non_empty_folder_is_an_error_and_overwrite_replaces(tmp_path: Path) -> None:
    si, _ = make_series(tmp_path, (3, 4, 5))
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(WriteError, match="overwrite=True"):
        write_series(si, out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    write_series(si, out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [f"Image_{i:05d}.dcm" for i in range(3)]
    write_series(si[:1], out, overwrite=True)  # fewer images: no stale files left
    assert sorted(p.name for p in out.iterdir()) == ["Image_00000.dcm"]


def test_interrupted_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    si, _ = make_series(tmp_path, (5, 4, 5))
    out = tmp_path / "out"
    write_series(si, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = writer._ImageWriter.write
    calls = []

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(writer._ImageWriter, "write", failing)
    with pytest.raises(WriteError, match="disk full"):
        write_series(si * 2, out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    calls.clear()
    with pytest.raises(WriteError):
        write_series(si, tmp_path / "new")
    assert not (tmp_path / "new").exists()
    calls.clear()
    with pytest.raises(WriteError):
        write_series(si, tmp_path / "new.zip")
    assert not (tmp_path / "new.zip").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def test_input_never_modified(tmp_path: Path) -> None:
    si, truth = make_series(tmp_path, (3, 4, 5))
    data = np.asarray(si).copy()
    template = si.header.template.to_json()
    axes, affine = si.header.axes, si.header.affine.copy()
    src_bytes = {p: p.read_bytes() for p in truth.files}
    with pytest.warns(UserWarning, match="quantised"):
        write_series(si * 1.5, tmp_path / "f")
    write_series(si, tmp_path / "g", compression="rle", keep_uid=True)
    np.testing.assert_array_equal(np.asarray(si), data)
    assert si.header.template.to_json() == template
    assert si.header.axes == axes and np.array_equal(si.header.affine, affine)
    assert {p: p.read_bytes() for p in truth.files} == src_bytes


def test_bad_input_errors(tmp_path: Path) -> None:
    with pytest.raises(WriteError, match="complex"):
        write_series(Series(np.ones((2, 3, 3), complex)), tmp_path / "c")
    with pytest.raises(WriteError, match="enhanced"):
        write_series(Series(np.ones((2, 3, 3))), tmp_path / "e", enhanced=True)
    assert not any(tmp_path.iterdir())


def test_oblique_orientation_is_orthonormal_in_files(tmp_path: Path) -> None:
    si, _ = make_series(tmp_path, (2, 4, 5), orientation=oblique_orientation(33.0, (1, 2, 3)))
    ds = _read(write_series(si, tmp_path / "o"))[0]
    x, y = np.array(ds.ImageOrientationPatient, float).reshape(2, 3)
    assert abs(np.linalg.norm(x) - 1) < 1e-12 and abs(x @ y) < 1e-12
    assert all(len(str(v)) <= 16 for v in ds.ImageOrientationPatient)


@pytest.mark.parametrize("order", ["none", "time", "b"])
def test_fast_encoder_is_byte_identical_to_dcmwrite(tmp_path: Path, order: str) -> None:
    shape = (3, 4, 6, 8) if order != "none" else (4, 6, 8)
    si, _ = make_series(tmp_path, shape, order=order, PatientName="Ærø^Åse")
    si.header = si.header.with_attribute("SpecificCharacterSet", "ISO_IR 100")
    plan = writer._plan(si, writer.parse_options({"keep_uid": True}))
    fast = writer._ImageWriter(plan)
    for image in plan.images[:5]:
        fast.write_file(tmp_path / "fast.dcm", image)
        ds = writer._dataset(plan, image)
        pydicom.dcmwrite(tmp_path / "slow.dcm", ds, enforce_file_format=True)
        assert (tmp_path / "fast.dcm").read_bytes() == (tmp_path / "slow.dcm").read_bytes()
    assert pydicom.dcmread(tmp_path / "fast.dcm").PatientName == "Ærø^Åse"


def test_uneven_slice_positions_written_exactly(tmp_path: Path) -> None:
    si, truth = make_series(tmp_path, (4, 6, 8), orientation="coronal")
    n = np.cross(*np.array(truth.iop).reshape(2, 3))
    steps = np.array([0.0, 2.0, 5.0, 5.5])
    pos = truth.positions[0] + steps[:, None] * n
    si.header = si.header.with_positions(pos)
    assert si.header.positions is not None
    dss = _read(write_series(si, tmp_path / "out"))
    got = np.array([ds.ImagePositionPatient for ds in dss], float)
    np.testing.assert_allclose(got, pos, atol=1e-9)
    assert [float(ds.SliceLocation) for ds in dss] == pytest.approx(list(pos @ n))


def _rgb_series(shape: tuple[int, ...] = (2, 5, 7, 3)) -> Series:
    from imagedata.axis import Axis

    data = (np.arange(int(np.prod(shape))) % 256).astype(np.uint8).reshape(shape)
    axes = [Axis("slice"), Axis("row"), Axis("column"), Axis("rgb")]
    si = Series(data, axes=axes)
    si.header = si.header.replace(
        affine=geometry.affine_from_parts((-10, 20, 30), (0, 1, 0, 0, 0, -1), (0.7, 0.4), 3.0)
    )
    return si


def test_colour_written_as_rgb_secondary_capture(tmp_path: Path) -> None:
    si = _rgb_series()
    files = write_series(si, tmp_path / "out", modality="MR")
    dss = _read(files)
    ds = dss[1]
    assert ds.SOPClassUID.name == "Secondary Capture Image Storage"
    assert (ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.BitsAllocated) == (3, "RGB", 8)
    np.testing.assert_array_equal(np.stack([d.pixel_array for d in dss]), np.asarray(si))
    np.testing.assert_allclose(
        np.array(ds.ImagePositionPatient, float), si.affine[:3, 3] + si.affine[:3, 0]
    )
    if require_tool("dciodvfy"):
        assert dciodvfy(Path(files[0])) == []
    back = Series(tmp_path / "out")
    np.testing.assert_array_equal(np.asarray(back), np.asarray(si))
    np.testing.assert_allclose(back.affine, si.affine, atol=1e-9)
    rle = _read(write_series(si, tmp_path / "rle", compression="rle"))
    np.testing.assert_array_equal(rle[0].pixel_array, np.asarray(si)[0])


def test_colour_fast_encoder_identical_and_errors(tmp_path: Path) -> None:
    si = _rgb_series((1, 5, 7, 3))  # 105 bytes: odd length is padded
    plan = writer._plan(si, writer.parse_options({"keep_uid": True}))
    writer._ImageWriter(plan).write_file(tmp_path / "fast.dcm", plan.images[0])
    pydicom.dcmwrite(
        tmp_path / "slow.dcm", writer._dataset(plan, plan.images[0]), enforce_file_format=True
    )
    assert (tmp_path / "fast.dcm").read_bytes() == (tmp_path / "slow.dcm").read_bytes()
    with pytest.raises(WriteError, match=r"0\.\.255"):
        write_series(si.astype(np.float32) / 3, tmp_path / "f")
    with pytest.raises(WriteError, match="grey-value"):
        write_series(si, tmp_path / "e", enhanced=True)


def test_sheared_in_plane_geometry_is_an_error(tmp_path: Path) -> None:
    from imagedata.errors import GeometryError

    si = Series(np.zeros((2, 4, 4), np.uint16))
    affine = si.affine.copy()
    affine[:3, 1] = [0.3, 1.0, 0.0]  # row direction not perpendicular to column direction
    si.header = si.header.replace(affine=affine)
    with pytest.raises(GeometryError, match="perpendicular"):
        write_series(si, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_quantisation_warning_points_at_the_caller(tmp_path: Path) -> None:
    si = Series(np.float32(np.arange(24).reshape(2, 3, 4)) / 7)
    with pytest.warns(UserWarning, match="quantised") as record:
        si.write(tmp_path / "out")
    assert record[0].filename == __file__


@pytest.mark.parametrize("part", [None, "BRAIN", "KIDNEY", "SACRUM", "WHOLE BODY", "URETER"])
def test_laterality_follows_body_part(tmp_path: Path, part: str | None) -> None:
    require_tool("dciodvfy")
    si = Series(np.zeros((1, 4, 4), np.uint16))
    if part:
        si.setDicomAttribute("BodyPartExamined", part)
    files = write_series(si, tmp_path / "out", modality="MR")
    assert dciodvfy(Path(files[0])) == []


@pytest.mark.parametrize("order", ["time", "b", "te"])
def test_4d_series_valid_and_consistent(tmp_path: Path, order: str) -> None:
    require_tool("dciodvfy")
    require_tool("dcentvfy")
    si, _ = make_series(tmp_path, (3, 2, 6, 8), order=order)
    files = [Path(f) for f in write_series(si, tmp_path / "out")]
    assert dciodvfy(files[0]) == [] and dciodvfy(files[-1]) == []
    assert dcentvfy(files) == []


@pytest.mark.parametrize("enhanced", [False, True])
def test_derived_series_is_valid(tmp_path: Path, enhanced: bool) -> None:
    require_tool("dciodvfy")
    src, _ = make_series(tmp_path, (2, 3, 6, 8), order="time")
    derived = Series(np.asarray(src) + 1, template=src, geometry=src)
    files = write_series(derived, tmp_path / "out", enhanced=enhanced)
    assert dciodvfy(Path(files[0])) == []
    ds = pydicom.dcmread(files[0])
    assert ds.ImageType[0] == "DERIVED"
