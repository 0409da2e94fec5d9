"""NIfTI: conformance suite, and checks against nibabel and dcm2niix."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pydicom
import pytest

from imagedata import geometry
from imagedata.axis import tag_axis
from imagedata.errors import MissingDependencyError, ReadError, WriteError
from imagedata.formats import _bids, _headerio
from imagedata.formats import nifti as nifti_module
from imagedata.formats.nifti import to_nibabel
from imagedata.series import Series
from imagedata.testing import make_dicom_series
from tests.conftest import require_tool
from tests.formats.test_conformance import (
    ORIENTATIONS,
    FormatConformance,
    dicom_series,
    read_plugin,
    synthetic,
)

nib = pytest.importorskip("nibabel")


class TestNiftiGzConformance(FormatConformance):
    fmt = "nifti"
    ext = ".nii.gz"

    def check_uneven_time(self, back: Series, embed: bool) -> None:
        if embed:
            np.testing.assert_allclose(back.timeline, [0.0, 1.0, 3.5], atol=1e-6)
        else:  # no step is made up: pixdim[4] = 0, the values are only in the header
            assert back.shape[0] == 3


class TestNiftiConformance(TestNiftiGzConformance):
    ext = ".nii"


def _dcm2niix(dicom: Path, out: Path) -> Path:
    exe = require_tool("dcm2niix")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [exe, "-z", "n", "-f", "ref", "-o", str(out), str(dicom)], check=True, capture_output=True
    )
    return out / "ref.nii"


def _same_world(ours: object, ref: object, step: int = 1) -> None:
    """Every voxel of `ours` (every `step`-th row and column) sits at the world position
    of an equal voxel of `ref`."""
    a, b = np.asarray(ours.dataobj), np.asarray(ref.dataobj)  # type: ignore[attr-defined]
    assert a.shape == b.shape
    ranges = [np.arange(0, a.shape[0], step), np.arange(0, a.shape[1], step), np.arange(a.shape[2])]
    idx = np.stack(np.meshgrid(*ranges, indexing="ij"), -1)
    idx = idx.reshape(-1, 3).astype(np.float64)
    world = idx @ ours.affine[:3, :3].T + ours.affine[:3, 3]  # type: ignore[attr-defined]
    inv = np.linalg.inv(ref.affine)  # type: ignore[attr-defined]
    ref_idx = world @ inv[:3, :3].T + inv[:3, 3]
    np.testing.assert_allclose(ref_idx, np.round(ref_idx), atol=2e-3)
    r = np.round(ref_idx).astype(int)
    ii = idx.astype(int)
    np.testing.assert_array_equal(a[ii[:, 0], ii[:, 1], ii[:, 2]], b[r[:, 0], r[:, 1], r[:, 2]])


# --- geometry against GEOMETRY.md and nibabel ---------------------------------------------


def test_geometry_test_vector_1(tmp_path: Path) -> None:
    si = synthetic(
        tmp_path,
        (10, 6, 9),
        pixel_spacing=(0.5, 0.8),
        slice_spacing=2.0,
        position=(-100.0, -120.0, -50.0),
    )
    out = si.write(tmp_path / "v1.nii", formats=["nifti"])
    img = nib.load(out[0])
    want = [[-0.8, 0, 0, 100], [0, -0.5, 0, 120], [0, 0, 2, -50]]
    np.testing.assert_allclose(img.header.get_sform()[:3], want, atol=1e-6)
    np.testing.assert_allclose(img.header.get_qform()[:3], want, atol=1e-5)
    assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1
    assert nib.aff2axcodes(img.affine) == ("L", "P", "S")
    assert img.shape == (9, 6, 10)  # (column, row, slice)
    np.testing.assert_array_equal(np.asarray(img.dataobj), np.asarray(si).transpose(2, 1, 0))


def test_tilt_sform_exact_qform_rotation_with_warning(tmp_path: Path) -> None:
    tilt = (1.0, 0.0, 0.0, 0.0, np.cos(np.deg2rad(20)), -np.sin(np.deg2rad(20)))
    si = synthetic(tmp_path, (5, 4, 6), orientation=tilt, slice_spacing=(0.0, 0.0, 2.5))
    with pytest.warns(UserWarning, match="sheared"):
        out = si.write(tmp_path / "tilt.nii", formats=["nifti"])
    img = nib.load(out[0])
    np.testing.assert_allclose(
        img.header.get_sform(), geometry.nifti_from_affine(si.affine), atol=1e-5
    )
    q = img.header.get_qform()[:3, :3]
    u = q / np.linalg.norm(q, axis=0)
    np.testing.assert_allclose(u.T @ u, np.eye(3), atol=1e-5)  # a rotation: no shear
    assert not np.allclose(img.header.get_qform(), img.header.get_sform(), atol=1e-3)


@pytest.mark.parametrize("codes", [(0, 1), (0, 0), (2, 1)])
def test_read_order_sform_qform_pixdim(tmp_path: Path, codes: tuple[int, int]) -> None:
    sform = np.array([[-1.0, 0, 0, 10], [0, -2.0, 0, 20], [0, 0, 3.0, 30], [0, 0, 0, 1]])
    qform = np.array([[-1.0, 0, 0, 5], [0, -2.0, 0, 6], [0, 0, 3.0, 7], [0, 0, 0, 1]])
    img = nib.Nifti1Image(np.zeros((4, 5, 6), np.int16), None)
    img.header.set_sform(sform, code=codes[0])
    img.header.set_qform(qform, code=codes[1])
    nib.save(img, tmp_path / "o.nii")
    back = read_plugin(tmp_path / "o.nii", "nifti")
    expected = nib.load(tmp_path / "o.nii").header.get_best_affine()
    np.testing.assert_allclose(back.affine, geometry.affine_from_nifti(expected), atol=1e-6)
    np.testing.assert_allclose(back.spacing, [3.0, 2.0, 1.0])


# --- against dcm2niix ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sag_ap", "sag_hf", "cor_hf", "cor_rl", "tra_rl"])
def test_world_positions_equal_dcm2niix_real_data(
    testdata: Path, tmp_path: Path, name: str
) -> None:
    with zipfile.ZipFile(testdata / "dicom" / f"{name}.zip") as zf:
        zf.extractall(tmp_path)
    files = sorted(p for p in (tmp_path / name).iterdir() if p.is_file())
    ref = nib.load(testdata / "nifti" / f"{name}.nii.gz")
    si = dicom_series(files)  # pydicom only
    out = si.write(tmp_path / f"{name}.nii.gz", formats=["nifti"])
    _same_world(nib.load(out[0]), ref)
    via_reader = Series(str(testdata / "dicom" / f"{name}.zip"))  # imagedata's DICOM reader
    out = via_reader.write(tmp_path / f"{name}_reader.nii.gz", formats=["nifti"])
    _same_world(nib.load(out[0]), ref)


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_world_positions_equal_dcm2niix_synthetic(tmp_path: Path, orientation: str) -> None:
    truth = make_dicom_series(
        tmp_path / "dicom",
        (6, 10, 14),
        orientation=ORIENTATIONS[orientation],
        pixel_spacing=(0.7, 1.1),
        slice_spacing=3.0,
    )
    ref = _dcm2niix(truth.path, tmp_path / "ref")
    si = dicom_series(truth.files)
    out = si.write(tmp_path / "ours.nii.gz", formats=["nifti"])
    _same_world(nib.load(out[0]), nib.load(ref))


def test_bids_sidecar_matches_dcm2niix(tmp_path: Path) -> None:
    truth = make_dicom_series(
        tmp_path / "dicom",
        (4, 6, 8),
        ProtocolName="t1_fl2d",
        InstitutionName="Hospital",
        SoftwareVersions="syngo",
        SequenceName="*fl2d1",
    )
    ref = json.loads(
        _dcm2niix(truth.path, tmp_path / "ref").with_suffix("").with_suffix(".json").read_text()
    )
    si = dicom_series(truth.files)
    out = si.write(tmp_path / "ours.nii.gz", formats=["nifti"])
    ours = json.loads((tmp_path / "ours.json").read_text())
    assert str(tmp_path / "ours.json") in out
    # per-image attributes (not in the shared template) and the converter's own keys differ
    skip = {
        "AcquisitionTime",
        "AcquisitionNumber",
        "ConversionSoftware",
        "ConversionSoftwareVersion",
        "ImageOrientationPatientDICOM",
    }
    compared = [k for k in ref if k not in skip]
    assert len(compared) >= 16
    for key in compared:
        assert (
            ours.get(key) == pytest.approx(ref[key])
            if isinstance(ref[key], float)
            else ours.get(key) == ref[key]
        ), (key, ours.get(key), ref[key])
    np.testing.assert_allclose(
        ours["ImageOrientationPatientDICOM"], ref["ImageOrientationPatientDICOM"], atol=1e-6
    )


# --- embedded header ------------------------------------------------------------------------


def test_extensions_dicom_and_json(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 4, 5))
    out = si.write(tmp_path / "e.nii.gz", formats=["nifti"])
    img = nib.load(out[0])
    codes = [int(e.get_code()) for e in img.header.extensions]
    assert codes == [2, 6]
    ds = img.header.extensions[0].get_content()  # nibabel parses code 2 with pydicom
    assert isinstance(ds, pydicom.Dataset)
    assert ds.PatientID == si.getDicomAttribute("PatientID")
    assert ds.StudyInstanceUID == si.studyInstanceUID
    doc = json.loads(img.header.extensions[1].get_content())
    # the template is stored once, in the code-2 extension; the JSON refers to it
    assert doc["imagedata_header"] == 2 and doc["template_in"] == "dicom"
    assert "template" not in doc


def test_template_ending_in_nul_bytes_read_whole(tmp_path: Path) -> None:
    """nibabel strips the NUL bytes that end an extension; the JSON's length restores them."""
    si = synthetic(tmp_path, (3, 4, 5))
    block = si.header.template.private_block(0x0099, "TEST", create=True)
    value = b"\1" + b"\0" * 41  # the last element of the dataset
    block.add_new(0x10, "OB", value)
    si.write(tmp_path / "z.nii", formats=["nifti"])
    img = nib.load(tmp_path / "z.nii")
    doc = json.loads(img.header.extensions[1].get_content())
    dicom = _headerio.template_to_dicom_bytes(si.header.template)
    assert doc["template_bytes"] == len(dicom) and dicom.endswith(b"\0" * 41)
    back = read_plugin(tmp_path / "z.nii", "nifti")
    assert back.dicomTemplate[0x00991010].value == value
    assert back.dicomTemplate.PatientID == si.dicomTemplate.PatientID


def _old_layout(si: Series, path: Path, with_dicom: bool) -> None:
    """A NIfTI file as imagedata wrote it before: the template in the JSON (version 1)."""
    img = to_nibabel(si, embed_header=False)
    if with_dicom:
        dicom = _headerio.template_to_dicom_bytes(si.header.template)
        img.header.extensions.append(nib.nifti1.Nifti1Extension(2, dicom))
    text = _headerio.header_to_json(si.header)
    assert json.loads(text)["imagedata_header"] == 1 and "template" in json.loads(text)
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, text.encode("ascii")))
    nib.save(img, path)


@pytest.mark.parametrize("with_dicom", [True, False])
def test_old_layout_template_in_json_still_read(tmp_path: Path, with_dicom: bool) -> None:
    si = synthetic(tmp_path, (3, 2, 5, 6), order="time", tag_values=[0.0, 1.0, 3.5])
    _old_layout(si, tmp_path / "old.nii", with_dicom)
    back = read_plugin(tmp_path / "old.nii", "nifti")
    assert back.header.input_order == "time"
    np.testing.assert_allclose(back.timeline, [0.0, 1.0, 3.5], atol=1e-6)
    assert back.studyInstanceUID == si.studyInstanceUID
    assert back.getDicomAttribute("PatientName") == si.getDicomAttribute("PatientName")
    assert back.dicomTemplate.PatientID == si.dicomTemplate.PatientID


def test_json_referring_to_missing_template_warns(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 4, 5))
    img = to_nibabel(si)
    del img.header.extensions[0]  # the code-2 template the JSON refers to
    nib.save(img, tmp_path / "m.nii")
    with pytest.warns(UserWarning, match="does not hold"):
        back = read_plugin(tmp_path / "m.nii", "nifti")
    assert back.studyInstanceUID != si.studyInstanceUID  # a fresh template, said so
    np.testing.assert_array_equal(back, si)


def test_template_from_dicom_extension_only(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 4, 5))
    img = to_nibabel(si)
    img.header.extensions.pop()  # keep only the code-2 DICOM extension
    nib.save(img, tmp_path / "d.nii")
    back = read_plugin(tmp_path / "d.nii", "nifti")
    assert back.getDicomAttribute("PatientName") == si.getDicomAttribute("PatientName")
    # every attribute, including the last one (empty, its zero length field at the very end)
    assert list(back.dicomTemplate.keys()) == list(si.dicomTemplate.keys())
    for elem in si.dicomTemplate:
        assert back.dicomTemplate[elem.tag].value == elem.value, elem.keyword


def test_plain_nifti_time_axis_from_pixdim(tmp_path: Path) -> None:
    img = nib.Nifti1Image(np.zeros((4, 5, 6, 3), np.float32), np.diag([2.0, 2.0, 3.0, 1.0]))
    img.header.set_zooms((2.0, 2.0, 3.0, 1500.0))
    img.header.set_xyzt_units("mm", "msec")
    nib.save(img, tmp_path / "p.nii.gz")
    back = read_plugin(tmp_path / "p.nii.gz", "nifti")
    assert back.shape == (3, 6, 5, 4)
    np.testing.assert_allclose(back.timeline, [0.0, 1.5, 3.0])


def test_uneven_time_has_no_made_up_step(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 2, 5, 6), order="time", tag_values=[0.0, 1.0, 3.5])
    si.write(tmp_path / "u.nii", formats=["nifti"])
    img = nib.load(tmp_path / "u.nii")
    assert img.header.get_zooms()[3] == 0.0
    assert json.loads((tmp_path / "u.json").read_text())["VolumeTiming"] == [0.0, 1.0, 3.5]


def test_uniform_time_step_in_pixdim(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 2, 5, 6), order="time", tag_values=[0.0, 2.5, 5.0])
    si.write(tmp_path / "t.nii", formats=["nifti"])
    img = nib.load(tmp_path / "t.nii")
    assert img.header.get_zooms()[3] == pytest.approx(2.5)
    assert img.header.get_xyzt_units() == ("mm", "sec")


# --- diffusion ------------------------------------------------------------------------------


def test_bval_bvec_written_and_read(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 2, 5, 6), order="b", tag_values=[0.0, 500.0, 1000.0])
    out = si.write(tmp_path / "dwi.nii.gz", formats=["nifti"], embed_header=False)
    assert {Path(p).name for p in out} == {"dwi.nii.gz", "dwi.json", "dwi.bval", "dwi.bvec"}
    assert (tmp_path / "dwi.bval").read_text() == "0 500 1000\n"
    assert (tmp_path / "dwi.bvec").read_text() == "0 0 0\n0 0 0\n0 0 0\n"
    back = read_plugin(tmp_path / "dwi.nii.gz", "nifti")
    assert back.input_order == "b"
    np.testing.assert_allclose(back.bvalues, [0.0, 500.0, 1000.0])


@pytest.mark.parametrize("orientation", ["axial", "sagittal", "oblique"])
def test_bvec_rule_and_round_trip(tmp_path: Path, orientation: str) -> None:
    si = synthetic(tmp_path, (3, 4, 5), orientation=ORIENTATIONS[orientation])
    g = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.6, 0.8]])
    dti = np.column_stack([[0.0, 1000.0, 1000.0], g])
    vol = Series(np.stack([np.asarray(si)] * 3))
    vol.header = vol.header.replace(
        affine=si.affine, template=si.header.template, input_order="dti"
    )
    vol.axes = (tag_axis("dti", dti), *vol.axes[1:])
    vol.write(tmp_path / "d.nii.gz", formats=["nifti"], embed_header=False)
    bvec = _bids.parse_numbers((tmp_path / "d.bvec").read_text(), "d.bvec", rows=3)
    img = nib.load(tmp_path / "d.nii.gz")
    u = img.affine[:3, :3] / np.linalg.norm(img.affine[:3, :3], axis=0)  # RAS unit axes
    g_ras = g * [-1.0, -1.0, 1.0]
    want = (g_ras @ u).T
    if np.linalg.det(u) > 0:
        want[0] = -want[0]
    np.testing.assert_allclose(bvec, want, atol=1e-5)
    back = read_plugin(tmp_path / "d.nii.gz", "nifti")
    np.testing.assert_allclose(back.bvectors, g, atol=1e-5)
    np.testing.assert_allclose(back.bvalues, [0.0, 1000.0, 1000.0])


# --- interop and errors -------------------------------------------------------------------


def test_to_from_nibabel(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 4, 5), orientation=ORIENTATIONS["oblique"])
    img = si.to_nibabel()
    assert isinstance(img, nib.Nifti1Image)
    back = Series.from_nibabel(img)
    np.testing.assert_allclose(back.affine, si.affine, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(back), np.asarray(si))
    assert back.patientID == si.patientID
    assert Series.from_nibabel(to_nibabel(si, embed_header=False)).patientID == ""


def test_nifti2(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 4, 5))
    si.write(tmp_path / "n2.nii", formats=["nifti"], nifti2=True)
    assert isinstance(nib.load(tmp_path / "n2.nii"), nib.Nifti2Image)
    back = read_plugin(tmp_path / "n2.nii", "nifti")
    np.testing.assert_allclose(back.affine, si.affine, atol=1e-4)
    assert back.patientID == si.patientID


def test_corrupt_gzip_is_read_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"\x1f\x8b" + b"\x00" * 400)
    with pytest.raises(ReadError, match=r"bad\.nii\.gz"):
        read_plugin(bad, "nifti")


def test_missing_nibabel_names_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "nibabel", None)
    with pytest.raises(MissingDependencyError, match=r"imagedata\[nifti\]"):
        Series(np.zeros((2, 3, 4))).write(tmp_path / "x.nii", formats=["nifti"])


# --- with imagedata's DICOM reader and writer ---------------------------------------------


def test_time_series_equals_dcm2niix(testdata: Path, tmp_path: Path) -> None:
    si = Series(str(testdata / "dicom" / "time_all"), input_order="time")
    out = si.write(tmp_path / "t.nii.gz", formats=["nifti"])
    ref_nii = next((testdata / "nifti" / "time_all").glob("*.nii.gz"))
    ours, ref = nib.load(out[0]), nib.load(ref_nii)
    _same_world(ours, ref)  # all three time points, voxel by voxel (dcm2niix flips rows)
    assert ours.header.get_zooms()[3] == pytest.approx(ref.header.get_zooms()[3], abs=1e-4)
    ref_json = json.loads(ref_nii.with_suffix("").with_suffix(".json").read_text())
    mine = json.loads((tmp_path / "t.json").read_text())
    same = [
        "Modality",
        "MagneticFieldStrength",
        "ImagingFrequency",
        "Manufacturer",
        "ManufacturersModelName",
        "InstitutionName",
        "StationName",
        "BodyPartExamined",
        "PatientPosition",
        "SoftwareVersions",
        "MRAcquisitionType",
        "SeriesDescription",
        "ProtocolName",
        "ScanningSequence",
        "SequenceVariant",
        "ScanOptions",
        "SequenceName",
        "ImageType",
        "SeriesNumber",
        "SliceThickness",
        "SAR",
        "EchoTime",
        "RepetitionTime",
        "RepetitionTimeExcitation",
        "FlipAngle",
        "PixelBandwidth",
        "PercentPhaseFOV",
        "PercentSampling",
        "DeviceSerialNumber",
    ]
    for key in same:
        want = ref_json[key]
        got = mine.get(key)
        if isinstance(want, float):
            assert got == pytest.approx(want, rel=1e-4), key
        else:
            assert got == want, key
    h, m, sec = ref_json["AcquisitionTime"].split(":")
    hh, mm, ss = mine["AcquisitionTime"].split(":")
    assert (h, m) == (hh, mm) and float(ss) == pytest.approx(float(sec), abs=1e-3)
    np.testing.assert_allclose(
        mine["ImageOrientationPatientDICOM"], ref_json["ImageOrientationPatientDICOM"], atol=1e-6
    )


def test_dwi_bval_bvec_equal_dcm2niix(testdata: Path, tmp_path: Path) -> None:
    ref = _dcm2niix(testdata / "dicom" / "dwi", tmp_path / "ref")
    si = Series(str(testdata / "dicom" / "dwi"), input_order="b")
    out = si.write(tmp_path / "dwi.nii.gz", formats=["nifti"])
    assert str(tmp_path / "dwi.bval") in out and str(tmp_path / "dwi.bvec") in out
    ours_bval = _bids.parse_numbers((tmp_path / "dwi.bval").read_text(), "ours")
    ref_bval = _bids.parse_numbers(ref.with_name("ref.bval").read_text(), "ref")
    np.testing.assert_allclose(ours_bval, ref_bval)
    ours_bvec = _bids.parse_numbers((tmp_path / "dwi.bvec").read_text(), "ours", rows=3)
    ref_bvec = _bids.parse_numbers(ref.with_name("ref.bvec").read_text(), "ref", rows=3)
    np.testing.assert_allclose(ours_bvec, ref_bvec, atol=1e-4)
    _same_world(nib.load(out[0]), nib.load(ref), step=5)
    back = Series(str(tmp_path / "dwi.nii.gz"))
    np.testing.assert_allclose(back.bvalues, [50.0, 400.0, 800.0])


@pytest.mark.parametrize("orientation", ["sagittal", "oblique"])
def test_dicom_nifti_dicom_keeps_positions_and_patient(tmp_path: Path, orientation: str) -> None:
    truth = make_dicom_series(
        tmp_path / "in",
        (3, 5, 6, 7),
        orientation=ORIENTATIONS[orientation],
        order="time",
        tag_values=[0.0, 2.0, 4.0],
        pixel_spacing=(0.7, 0.9),
    )
    si = Series(str(truth.path), input_order="time")
    si.write(tmp_path / "x.nii.gz", formats=["nifti"])
    back = Series(str(tmp_path / "x.nii.gz"))
    assert back.input_format == "nifti"
    back.write(tmp_path / "out", formats=["dicom"])
    originals = {}
    for f in truth.files:
        ds = pydicom.dcmread(f)
        originals[(round(float(ds.SliceLocation), 3))] = ds
    written = [pydicom.dcmread(p) for p in sorted((tmp_path / "out").rglob("*")) if p.is_file()]
    assert len(written) == len(truth.files)
    normal = np.cross(truth.iop[:3], truth.iop[3:])
    for ds in written:
        ipp = np.asarray(ds.ImagePositionPatient, dtype=np.float64)
        k = int(np.argmin(np.linalg.norm(truth.positions - ipp, axis=1)))
        np.testing.assert_allclose(ipp, truth.positions[k], atol=1e-4)
        np.testing.assert_allclose(
            np.asarray(ds.ImageOrientationPatient, dtype=np.float64), truth.iop, atol=1e-6
        )
        assert float(np.dot(normal, ipp)) == pytest.approx(
            float(np.dot(normal, truth.positions[k]))
        )
        for kw in (
            "PatientName",
            "PatientID",
            "PatientBirthDate",
            "StudyInstanceUID",
            "StudyDate",
            "AccessionNumber",
            "FrameOfReferenceUID",
        ):
            assert ds.get(kw) == pydicom.dcmread(truth.files[0]).get(kw), kw
    again = Series(str(tmp_path / "out"), input_order="time")
    np.testing.assert_array_equal(np.asarray(again), np.asarray(si))
    np.testing.assert_allclose(again.timeline, [0.0, 2.0, 4.0], atol=1e-3)


def test_registry_sniffs_by_extension_and_content(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 4, 5))
    si.write(tmp_path / "a.nii.gz", formats=["nifti"])
    assert Series(str(tmp_path / "a.nii.gz")).input_format == "nifti"
    (tmp_path / "a.nii.gz").rename(tmp_path / "renamed.gz")
    (tmp_path / "a.json").unlink()
    back = Series(str(tmp_path / "renamed.gz"))
    assert back.input_format == "nifti" and back.patientID == si.patientID


def test_sidecar_fills_template_of_plain_nifti(tmp_path: Path) -> None:
    img = nib.Nifti1Image(np.zeros((4, 5, 6), np.int16), np.eye(4))
    nib.save(img, tmp_path / "s.nii.gz")
    (tmp_path / "s.json").write_text(
        json.dumps(
            {"EchoTime": 0.0125, "RepetitionTime": 2.5, "FlipAngle": 90, "Manufacturer": "GE"}
        )
    )
    back = read_plugin(tmp_path / "s.nii.gz", "nifti")
    assert back.getDicomAttribute("EchoTime") == pytest.approx(12.5)
    assert back.getDicomAttribute("RepetitionTime") == pytest.approx(2500.0)
    assert back.getDicomAttribute("FlipAngle") == pytest.approx(90.0)


@pytest.mark.parametrize("name", ["x.nii.gz", "x.nii"])
def test_interrupted_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    def broken_save(hdr: object, data: object, fp: BinaryIO) -> None:
        fp.write(b"\0" * 100)  # half a file, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nifti_module, "_save", broken_save)  # where every NIfTI file is written
    si = synthetic(tmp_path / "src", (3, 2, 4, 5), order="b", tag_values=[0.0, 500.0, 1000.0])
    with pytest.raises(WriteError, match="No space left"):
        si.write(tmp_path / "out" / name, formats=["nifti"])
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_nifti_inside_zip(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 4, 5))
    si.write(tmp_path / "z.nii.gz", formats=["nifti"], sidecar=False)
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.write(tmp_path / "z.nii.gz", "sub/z.nii.gz")
    back = Series(str(tmp_path / "a.zip"))
    np.testing.assert_array_equal(np.asarray(back), np.asarray(si))
    assert back.patientID == si.patientID


def test_headers_only_reads_no_voxels(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 2, 4, 5), order="time", tag_values=[0.0, 2.5, 5.0])
    si.write(tmp_path / "h.nii", formats=["nifti"])
    back = read_plugin(tmp_path / "h.nii", "nifti", headers_only=True)
    assert back.shape == si.shape and not np.asarray(back).flags.writeable
    np.testing.assert_allclose(back.timeline, [0.0, 2.5, 5.0])


def test_real_dicom_nifti_dicom(testdata: Path, tmp_path: Path) -> None:
    src = testdata / "dicom" / "time_all"
    si = Series(str(src), input_order="time")
    si.write(tmp_path / "t.nii.gz", formats=["nifti"])
    Series(str(tmp_path / "t.nii.gz")).write(tmp_path / "out", formats=["dicom"])
    originals = [pydicom.dcmread(p) for p in sorted(src.iterdir()) if p.is_file()]
    written = [pydicom.dcmread(p) for p in sorted((tmp_path / "out").rglob("*")) if p.is_file()]
    assert len(written) == len(originals) == 9
    want = {tuple(np.round(np.asarray(d.ImagePositionPatient, float), 2)) for d in originals}
    for ds in written:
        ipp = np.asarray(ds.ImagePositionPatient, dtype=np.float64)
        match = [
            o
            for o in originals
            if np.allclose(np.asarray(o.ImagePositionPatient, float), ipp, atol=1e-4)
        ]
        assert match, (ipp, want)
        np.testing.assert_allclose(
            np.asarray(ds.ImageOrientationPatient, float),
            np.asarray(match[0].ImageOrientationPatient, float),
            atol=1e-6,
        )
        for kw in (
            "PatientName",
            "PatientID",
            "PatientBirthDate",
            "StudyInstanceUID",
            "StudyDate",
            "StudyTime",
            "AccessionNumber",
            "StudyID",
            "FrameOfReferenceUID",
        ):
            assert ds.get(kw) == originals[0].get(kw), kw


def test_overwrite_removes_stale_sidecars(tmp_path: Path) -> None:
    dwi = synthetic(tmp_path / "a", (3, 2, 4, 5), order="b", tag_values=[0.0, 500.0, 1000.0])
    dwi.write(tmp_path / "x.nii.gz", formats=["nifti"])
    assert (tmp_path / "x.bval").is_file()
    plain = synthetic(tmp_path / "b", (3, 2, 4, 5), order="time")
    plain.write(tmp_path / "x.nii.gz", formats=["nifti"], overwrite=True, sidecar=False)
    assert sorted(p.name for p in tmp_path.glob("x.*")) == ["x.nii.gz"]
    assert read_plugin(tmp_path / "x.nii.gz", "nifti").input_order == "time"


def test_two_tag_axes_5d(tmp_path: Path) -> None:
    from imagedata.axis import Axis

    si = Series(np.arange(2 * 3 * 4 * 5 * 6, dtype=np.int16).reshape(2, 3, 4, 5, 6))
    si.axes = (
        tag_axis("te", [5.0, 10.0]),
        tag_axis("time", [0.0, 2.0, 4.0]),
        Axis("slice"),
        Axis("row"),
        Axis("column"),
    )
    si.write(tmp_path / "f.nii.gz", formats=["nifti"])
    img = nib.load(tmp_path / "f.nii.gz")
    assert img.shape == (6, 5, 4, 3, 2)
    assert img.header.get_zooms()[3] == pytest.approx(2.0)  # the time axis is NIfTI dim 4
    back = read_plugin(tmp_path / "f.nii.gz", "nifti")
    assert back.header.axis_names == si.header.axis_names
    np.testing.assert_array_equal(np.asarray(back), np.asarray(si))


@pytest.mark.parametrize("name", ["sag_ap", "cor_rl", "tra_rl"])
def test_reading_dcm2niix_files_places_voxels_like_dicom(testdata: Path, name: str) -> None:
    """Our NIfTI reader on dcm2niix's files (row-flipped, independent writer) vs the DICOM."""
    ref = read_plugin(testdata / "nifti" / f"{name}.nii.gz", "nifti")
    with zipfile.ZipFile(testdata / "dicom" / f"{name}.zip") as zf:
        dss = [pydicom.dcmread(zf.open(n)) for n in zf.namelist() if not n.endswith("/")]
    dicom = dicom_series(dss)
    assert ref.shape == dicom.shape
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in ref.shape], indexing="ij"), -1)
    idx = idx.reshape(-1, 3)
    world = geometry.voxel_to_world(ref.affine, idx)
    inv = np.linalg.inv(dicom.affine)
    dicom_idx = world @ inv[:3, :3].T + inv[:3, 3]
    np.testing.assert_allclose(dicom_idx, np.round(dicom_idx), atol=2e-3)
    d = np.round(dicom_idx).astype(int)
    np.testing.assert_array_equal(
        np.asarray(ref)[idx[:, 0], idx[:, 1], idx[:, 2]],
        np.asarray(dicom)[d[:, 0], d[:, 1], d[:, 2]],
    )


def test_folder_with_sidecars_reads_as_nifti(tmp_path: Path) -> None:
    si = synthetic(tmp_path / "src", (3, 2, 4, 5), order="b", tag_values=[0.0, 500.0, 1000.0])
    out = si.write(tmp_path / "out", formats=["nifti"])
    assert len(out) == 4  # Image.nii.gz, .json, .bval, .bvec
    back = Series(str(tmp_path / "out"))
    assert back.input_format == "nifti"
    np.testing.assert_allclose(back.bvalues, [0.0, 500.0, 1000.0])
