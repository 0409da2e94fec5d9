"""ITK MetaImage: conformance suite, and checks with SimpleITK as the independent reader."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imagedata import geometry
from imagedata.errors import MissingDependencyError, WriteError
from imagedata.formats import itk
from imagedata.series import Series
from imagedata.testing import make_dicom_series
from tests.formats.test_conformance import (
    ORIENTATIONS,
    FormatConformance,
    dicom_series,
    read_plugin,
    synthetic,
)

sitk = pytest.importorskip("SimpleITK")


class TestMhaConformance(FormatConformance):
    fmt = "itk"
    ext = ".mha"


class TestMhdConformance(FormatConformance):
    fmt = "itk"
    ext = ".mhd"

    def test_mhd_writes_raw_beside(self, tmp_path: Path) -> None:
        out = Series(np.zeros((2, 3, 4), np.int16)).write(tmp_path / "a.mhd", formats=["itk"])
        assert sorted(Path(p).name for p in out) == ["a.mhd", "a.raw"]
        assert "ElementDataFile = a.raw" in (tmp_path / "a.mhd").read_text(errors="replace")


def check_sitk_geometry(path: str, si: Series) -> None:
    """SimpleITK places every voxel where the DICOM geometry does (corners incl. last slice)."""
    img = sitk.ReadImage(path)
    x, y = geometry.direction_cosines(si.affine)
    dr, dc = geometry.pixel_spacing(si.affine)
    t = si.affine[:3, 0]
    np.testing.assert_allclose(img.GetOrigin()[:3], si.affine[:3, 3], atol=1e-6)
    np.testing.assert_allclose(img.GetSpacing()[:3], [dc, dr, np.linalg.norm(t)], atol=1e-6)
    d = np.asarray(img.GetDirection()).reshape(img.GetDimension(), -1)[:3, :3]
    np.testing.assert_allclose(d[:, 0], x, atol=1e-6)
    np.testing.assert_allclose(d[:, 1], y, atol=1e-6)
    np.testing.assert_allclose(d[:, 2], t / np.linalg.norm(t), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(d, axis=0), 1.0, atol=1e-9)  # unit directions
    k, r, c = si.shape[-3:]
    for kk in (0, k - 1):
        for rr in (0, r - 1):
            for cc in (0, c - 1):
                want = si.affine[:3, 3] + kk * t + rr * dr * y + cc * dc * x
                index = [cc, rr, kk] + [0] * (img.GetDimension() - 3)
                got = img.TransformIndexToPhysicalPoint(index)[:3]
                np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("ext", [".mha", ".mhd"])
@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_simpleitk_reads_dicom_geometry(tmp_path: Path, orientation: str, ext: str) -> None:
    si = synthetic(
        tmp_path,
        (5, 6, 9),
        orientation=ORIENTATIONS[orientation],
        pixel_spacing=(0.5, 0.8),
        slice_spacing=2.5,
    )
    out = si.write(tmp_path / f"g{ext}", formats=["itk"])
    check_sitk_geometry(out[-1], si)
    arr = sitk.GetArrayFromImage(sitk.ReadImage(out[-1]))
    np.testing.assert_array_equal(arr, np.asarray(si))


def test_mha_header_has_unit_direction(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (5, 6, 9), slice_spacing=4.0)
    si.write(tmp_path / "u.mha", formats=["itk"])
    head = (tmp_path / "u.mha").read_bytes().split(b"ElementDataFile")[0].decode()
    fields = dict(line.split(" = ", 1) for line in head.splitlines() if " = " in line)
    np.testing.assert_allclose(
        [float(v) for v in fields["TransformMatrix"].split()], [1, 0, 0, 0, 1, 0, 0, 0, 1]
    )
    np.testing.assert_allclose(
        [float(v) for v in fields["ElementSpacing"].split()], [0.8, 0.5, 4.0]
    )


def test_4d_mha_has_time_step(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 2, 4, 5), order="time", tag_values=[0.0, 2.5, 5.0])
    si.write(tmp_path / "t.mha", formats=["itk"])
    img = sitk.ReadImage(str(tmp_path / "t.mha"))
    assert img.GetSize() == (5, 4, 2, 3)
    assert img.GetSpacing()[3] == pytest.approx(2.5)
    check_sitk_geometry(str(tmp_path / "t.mha"), si)


def test_uneven_time_values_beside_unit_spacing(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 2, 4, 5), order="time", tag_values=[0.0, 1.0, 3.5])
    si.write(tmp_path / "t.mha", formats=["itk"], embed_header=False)
    img = sitk.ReadImage(str(tmp_path / "t.mha"))
    assert img.GetSpacing()[3] == 1.0 and img.GetOrigin()[3] == 0.0
    assert img.GetMetaData("imagedata_tag_axis") == "time"
    values = np.array(json.loads(img.GetMetaData("imagedata_tag_values")))
    np.testing.assert_allclose(values - values[0], [0.0, 1.0, 3.5])


def test_long_header_is_split_and_joined(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (2, 4, 5))
    si.header = si.header.with_attribute("StudyDescription", "é" + "y" * 60)
    for kw in (
        "AdditionalPatientHistory",
        "PatientComments",
        "ImageComments",
        "StudyComments",
        "RequestedProcedureComments",
    ):
        si.header = si.header.with_attribute(kw, kw[0] * 10000)
    si.write(tmp_path / "long.mha", formats=["itk"])
    img = sitk.ReadImage(str(tmp_path / "long.mha"))
    keys = [k for k in img.GetMetaDataKeys() if k.startswith("imagedata_header")]
    assert len(keys) > 2 and "imagedata_header_000" in keys
    back = read_plugin(tmp_path / "long.mha", "itk")
    assert back.getDicomAttribute("AdditionalPatientHistory") == "A" * 10000
    assert back.getDicomAttribute("RequestedProcedureComments") == "R" * 10000
    assert back.getDicomAttribute("StudyDescription") == "é" + "y" * 60


def test_to_from_sitk(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (4, 5, 6), orientation=ORIENTATIONS["oblique"])
    img = si.to_sitk()
    assert img.GetSize() == (6, 5, 4)
    back = Series.from_sitk(img)
    np.testing.assert_allclose(back.affine, si.affine, atol=1e-9)
    np.testing.assert_array_equal(np.asarray(back), np.asarray(si))
    assert back.patientID == si.patientID
    v = itk.to_sitk(synthetic(tmp_path / "b", (3, 2, 4, 5), order="b"), vector_tags=True)
    assert v.GetNumberOfComponentsPerPixel() == 3 and v.GetDimension() == 3


def test_plain_sitk_image_reads(tmp_path: Path) -> None:
    img = sitk.Image([5, 4, 3], sitk.sitkFloat32)
    img.SetSpacing((0.5, 0.6, 2.0))
    img.SetOrigin((10.0, 20.0, 30.0))
    sitk.WriteImage(img, str(tmp_path / "p.mha"))
    back = read_plugin(tmp_path / "p.mha", "itk")
    assert back.shape == (3, 4, 5) and back.dtype == np.float32
    np.testing.assert_allclose(back.spacing, [2.0, 0.6, 0.5])
    np.testing.assert_allclose(back.affine[:3, 3], [10.0, 20.0, 30.0])


def test_missing_simpleitk_names_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "SimpleITK", None)
    with pytest.raises(MissingDependencyError, match=r"imagedata\[itk\]"):
        Series(np.zeros((2, 3, 4))).write(tmp_path / "x.mha", formats=["itk"])


def test_interrupted_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenWriter:
        def SetFileName(self, name: str) -> None:
            self.name = name

        def SetUseCompression(self, flag: bool) -> None:
            pass

        def Execute(self, img: object) -> None:
            Path(self.name).write_bytes(b"ObjectType = Image\n")
            raise RuntimeError("ITK ERROR: disk full")

    class FakeSitk:
        def __getattr__(self, name: str) -> object:
            return BrokenWriter if name == "ImageFileWriter" else getattr(sitk, name)

    monkeypatch.setattr(itk, "_sitk", lambda: FakeSitk())
    with pytest.raises(WriteError, match="disk full"):
        Series(np.zeros((2, 3, 4), np.int16)).write(tmp_path / "o" / "a.mhd", formats=["itk"])
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []


def test_mha_inside_zip(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 4, 5))
    si.write(tmp_path / "z.mha", formats=["itk"])
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.write(tmp_path / "z.mha", "z.mha")
    back = Series(str(tmp_path / "a.zip"))
    np.testing.assert_array_equal(np.asarray(back), np.asarray(si))
    assert back.input_format == "itk" and back.patientID == si.patientID


@pytest.mark.parametrize("fmt,ext", [("itk", ".mha"), ("nrrd", ".nrrd")])
@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_simpleitk_geometry_equals_dicom_attributes(
    tmp_path: Path, orientation: str, fmt: str, ext: str
) -> None:
    """Compare what SimpleITK reads with the DICOM attributes themselves (pydicom)."""
    truth = make_dicom_series(
        tmp_path / "d",
        (5, 6, 9),
        orientation=ORIENTATIONS[orientation],
        pixel_spacing=(0.5, 0.8),
        slice_spacing=2.5,
    )
    iop = np.asarray(pydicom.dcmread(truth.files[0]).ImageOrientationPatient, dtype=np.float64)
    n = np.cross(iop[:3], iop[3:])
    dss = sorted(
        (pydicom.dcmread(f) for f in truth.files),
        key=lambda d: float(np.dot(n, np.asarray(d.ImagePositionPatient, float))),
    )
    ipp = np.array([np.asarray(d.ImagePositionPatient, dtype=np.float64) for d in dss])
    out = dicom_series(truth.files).write(tmp_path / f"g{ext}", formats=[fmt])
    img = sitk.ReadImage(out[-1])
    ps = [float(v) for v in dss[0].PixelSpacing]
    step = ipp[1] - ipp[0]
    np.testing.assert_allclose(img.GetOrigin(), ipp[0], atol=1e-6)
    np.testing.assert_allclose(img.GetSpacing(), [ps[1], ps[0], np.linalg.norm(step)], atol=1e-6)
    d = np.asarray(img.GetDirection()).reshape(3, 3)
    np.testing.assert_allclose(d[:, 0], iop[:3], atol=1e-6)
    np.testing.assert_allclose(d[:, 1], iop[3:], atol=1e-6)
    np.testing.assert_allclose(d[:, 2], step / np.linalg.norm(step), atol=1e-6)
    for k, ds in enumerate(dss):
        np.testing.assert_allclose(img.TransformIndexToPhysicalPoint((0, 0, k)), ipp[k], atol=1e-5)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(img)[k], ds.pixel_array)


def test_two_tag_axes_need_one_volume_at_a_time(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (2, 3, 4, 5), order="time")
    five = Series(np.stack([np.asarray(si)] * 2))
    with pytest.raises(WriteError, match="at most 1"):
        five.write(tmp_path / "x.mha", formats=["itk"])
    assert not (tmp_path / "x.mha").exists()
