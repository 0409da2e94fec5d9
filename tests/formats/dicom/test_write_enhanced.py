"""Single-file Enhanced MR/CT output (enhanced=True)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imagedata.axis import tag_axis
from imagedata.errors import WriteError
from imagedata.formats.dicom.writer import build_datasets, write_series
from imagedata.series import Series
from imagedata.testing import oblique_orientation
from tests.conftest import require_tool
from tests.formats.dicom._helpers import dciodvfy, make_series
from tests.formats.dicom.test_write_tools import _check_mapping

CASES = [
    ("none", (4, 6, 8), "MR"),
    ("time", (3, 4, 6, 8), "MR"),
    ("b", (3, 4, 6, 8), "MR"),
    ("te", (2, 4, 6, 8), "MR"),
    ("triggertime", (2, 4, 6, 8), "MR"),
    ("none", (4, 6, 8), "CT"),
    ("time", (2, 4, 6, 8), "CT"),
]


@pytest.mark.parametrize(("order", "shape", "modality"), CASES)
def test_enhanced_valid_and_reads_back(
    tmp_path: Path, order: str, shape: tuple[int, ...], modality: str
) -> None:
    require_tool("dciodvfy")
    si, truth = make_series(tmp_path, shape, order=order, modality=modality, orientation="sagittal")
    files = write_series(si, tmp_path / "out", enhanced=True)
    assert [Path(f).name for f in files] == ["Image_00000.dcm"]
    assert dciodvfy(Path(files[0])) == []
    ds = pydicom.dcmread(files[0])
    assert ds.SOPClassUID.name == f"Enhanced {modality} Image Storage"
    assert int(ds.NumberOfFrames) == int(np.prod(shape[:-2]))
    assert "ImagePositionPatient" not in ds
    back = Series(tmp_path / "out", input_order=order)
    np.testing.assert_array_equal(np.asarray(back), truth.data)
    np.testing.assert_allclose(back.affine, truth.affine, atol=1e-9)
    if order != "none":
        np.testing.assert_allclose(back.axes[0].values, truth.tag_values)


def test_enhanced_dti_gradients(tmp_path: Path) -> None:
    si, _ = make_series(tmp_path, (3, 2, 4, 5), order="b")
    dti = np.array([[0, 0, 0, 0], [1000, 1, 0, 0], [1000, 0, 0.6, 0.8]], float)
    si.header = si.header.with_axes((tag_axis("dti", dti), *si.header.axes[1:]))
    f = write_series(si, tmp_path / "out", enhanced=True)[0]
    assert dciodvfy(Path(f)) == [] if require_tool("dciodvfy") else True
    back = Series(tmp_path / "out", input_order="dti")
    np.testing.assert_allclose(back.axes[0].values, dti)


@pytest.mark.parametrize("orientation", ["axial", oblique_orientation(20.0, (1, 2, 0))])
def test_enhanced_geometry_with_simpleitk_and_dcm2niix(tmp_path: Path, orientation) -> None:  # type: ignore[no-untyped-def]
    sitk = pytest.importorskip("SimpleITK")
    nib = pytest.importorskip("nibabel")
    si, _ = make_series(tmp_path, (5, 6, 9), pixel_spacing=(0.6, 0.9), orientation=orientation)
    f = write_series(si, tmp_path / "out", enhanced=True)[0]
    img = sitk.ReadImage(f)
    arr = sitk.GetArrayFromImage(img)
    assert arr.shape == (5, 6, 9)
    direction = np.array(img.GetDirection()).reshape(3, 3)
    xyz = np.indices(arr.shape[::-1]).reshape(3, -1)
    lps = (direction @ (np.array(img.GetSpacing())[:, None] * xyz)).T + np.array(img.GetOrigin())
    _check_mapping(si, lps, arr.transpose(2, 1, 0).reshape(-1), "SimpleITK enhanced")
    require_tool("dcm2niix")
    (tmp_path / "n").mkdir()
    subprocess.run(
        ["dcm2niix", "-z", "n", "-f", "v", "-o", str(tmp_path / "n"), str(tmp_path / "out")],
        capture_output=True,
        check=True,
    )
    nii = nib.load(tmp_path / "n" / "v.nii")
    data = np.asarray(nii.dataobj)
    ijk = np.indices(data.shape).reshape(3, -1)
    ras = nii.affine[:3, :3] @ ijk + nii.affine[:3, 3:4]
    _check_mapping(si, (np.diag([-1.0, -1.0, 1.0]) @ ras).T, data.reshape(-1), "dcm2niix")


def test_enhanced_compressed_and_build_datasets(tmp_path: Path) -> None:
    si, truth = make_series(tmp_path, (3, 32, 40))
    write_series(si, tmp_path / "out", enhanced=True, compression="rle")
    back = Series(tmp_path / "out")
    np.testing.assert_array_equal(np.asarray(back), truth.data)
    dss = list(build_datasets(si, enhanced=True, keep_uid=True))
    assert len(dss) == 1 and int(dss[0].NumberOfFrames) == 3
    assert dss[0].file_meta.MediaStorageSOPClassUID == dss[0].SOPClassUID


def test_enhanced_errors(tmp_path: Path) -> None:
    with pytest.raises(WriteError, match="MR and CT"):
        write_series(Series(np.zeros((2, 4, 4), np.uint16)), tmp_path / "a", enhanced=True)
    si, _ = make_series(tmp_path, (2, 2, 4, 5), order="fa")
    si.header = si.header.with_axes((tag_axis("fa", [5.0, 10.0]), *si.header.axes[1:]))
    with pytest.raises(WriteError, match=r"'fa'.*single files"):
        write_series(si, tmp_path / "b", enhanced=True)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
