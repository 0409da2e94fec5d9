"""DICOM reader on real scanner data, checked against dcm2niix, nibabel and pydicom."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imagedata import geometry
from imagedata.errors import MultipleSeriesError
from imagedata.header import Header
from imagedata.loadsave import read
from tests.conftest import require_tool
from tests.formats.dicom._readutil import PYDICOM_FILES, nibabel_file

ORIENTATIONS = ["sag_ap", "sag_hf", "cor_hf", "cor_rl", "tra_rl"]


def _nifti_indices(header: Header, shape: tuple[int, ...], nifti_affine: np.ndarray) -> np.ndarray:
    """NIfTI voxel indices of the centres of our voxels (via world coordinates)."""
    k, r, c = np.indices(shape[-3:]).reshape(3, -1)
    lps = geometry.voxel_to_world(header.affine, np.stack([k, r, c], axis=1))
    ras = lps * [-1.0, -1.0, 1.0]
    return np.linalg.solve(nifti_affine, np.c_[ras, np.ones(len(ras))].T)[:3].T


def test_time_all_timeline(testdata: Path) -> None:
    arr, h = read(testdata / "dicom" / "time_all")
    assert arr.shape == (3, 3, 192, 152)
    assert h.input_order == "time"
    np.testing.assert_allclose(
        h.axes[0].values - h.axes[0].values[0], [0, 2.9875, 5.975], atol=1e-6
    )


def test_time_all_matches_dcm2niix_4d(testdata: Path) -> None:
    nib = pytest.importorskip("nibabel")
    niftis = sorted((testdata / "nifti" / "time_all").glob("*.nii*"))
    img = nib.load(niftis[0])
    arr, h = read(testdata / "dicom" / "time_all")
    ijk = _nifti_indices(h, arr.shape, img.affine)
    assert np.abs(ijk - np.round(ijk)).max() < 1e-3
    idx = np.round(ijk).astype(int)
    data = np.asanyarray(img.dataobj)
    for t in range(3):
        np.testing.assert_array_equal(data[idx[:, 0], idx[:, 1], idx[:, 2], t], arr[t].reshape(-1))


def test_dwi_siemens_private_b_values(testdata: Path) -> None:
    arr, h = read(testdata / "dicom" / "dwi")
    assert arr.shape == (3, 30, 384, 312)
    assert h.input_order == "b"
    np.testing.assert_allclose(h.axes[0].values, [50, 400, 800])
    arr_b, _ = read(testdata / "dicom" / "dwi", input_order="b")
    np.testing.assert_array_equal(arr_b, arr)


@pytest.mark.parametrize("name", ORIENTATIONS)
def test_orientation_zip_matches_dcm2niix(testdata: Path, name: str) -> None:
    nib = pytest.importorskip("nibabel")
    arr, h = read(testdata / "dicom" / f"{name}.zip")
    img = nib.load(testdata / "nifti" / f"{name}.nii.gz")
    ijk = _nifti_indices(h, arr.shape, img.affine)
    assert np.abs(ijk - np.round(ijk)).max() < 1e-3, "voxel centres must coincide"
    idx = np.round(ijk).astype(int)
    data = np.asanyarray(img.dataobj)
    np.testing.assert_array_equal(data[idx[:, 0], idx[:, 1], idx[:, 2]], arr.reshape(-1))


def test_mr700_seven_orientations_not_stacked() -> None:
    with pytest.raises(MultipleSeriesError) as info:
        read(PYDICOM_FILES / "dicomdirtests" / "98892003" / "MR700")
    assert str(info.value).count("1 images") == 7
    arr, _ = read(PYDICOM_FILES / "dicomdirtests" / "98892003" / "MR700", series="700.3")
    assert arr.ndim == 2  # one image reads 2-D (rows, columns), as in imagedata 3.x


def test_ct5n_five_slices_sorted() -> None:
    folder = PYDICOM_FILES / "dicomdirtests" / "98892001" / "CT5N"
    arr, h = read(folder)
    assert arr.shape[0] == 5
    files = sorted(folder.iterdir())
    dss = [pydicom.dcmread(f) for f in files]
    n = geometry.slice_normal([float(v) for v in dss[0].ImageOrientationPatient])
    dss.sort(key=lambda d: float(np.dot(n, [float(v) for v in d.ImagePositionPatient])))
    for k, ds in enumerate(dss):
        expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(arr[k], expected)
    np.testing.assert_allclose(h.affine[:3, 3], [float(v) for v in dss[0].ImagePositionPatient])


def test_ct5n_matches_simpleitk() -> None:
    sitk = pytest.importorskip("SimpleITK")
    folder = PYDICOM_FILES / "dicomdirtests" / "98892001" / "CT5N"
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    image = reader.Execute()
    arr, h = read(folder)
    np.testing.assert_allclose(h.affine[:3, 3], image.GetOrigin(), atol=1e-4)
    ref = sitk.GetArrayFromImage(image)
    np.testing.assert_array_equal(arr, ref)


def _dcm2niix(src: Path, out: Path) -> Path:
    tool = require_tool("dcm2niix")
    out.mkdir()
    subprocess.run(
        [tool, "-z", "n", "-f", "x", "-o", str(out), str(src)], check=True, capture_output=True
    )
    return next(out.glob("*.nii"))


def test_enhanced_philips_mprage_matches_dcm2niix(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel")
    (tmp_path / "in").mkdir()
    f = nibabel_file("philips_mprage.dcm.gz", tmp_path / "in")
    arr, h = read(f)
    assert arr.shape == (176, 256, 256)
    img = nib.load(_dcm2niix(tmp_path / "in", tmp_path / "out"))
    ijk = _nifti_indices(h, arr.shape, img.affine)
    assert np.abs(ijk - np.round(ijk)).max() < 1e-2
    assert ijk.min() > -0.01 and np.all(ijk.max(axis=0) < np.array(img.shape[:3]) - 0.99)
    ds = pydicom.dcmread(f, stop_before_pixels=True)
    assert "PerFrameFunctionalGroupsSequence" not in h.template
    assert h.template.SeriesInstanceUID == ds.SeriesInstanceUID


def test_siemens_mosaic_geometry_matches_dcm2niix(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel")
    (tmp_path / "in").mkdir()
    f = nibabel_file("siemens_dwi_1000.dcm.gz", tmp_path / "in")
    arr, h = read(f)
    assert arr.shape == (48, 128, 128)
    img = nib.load(_dcm2niix(tmp_path / "in", tmp_path / "out"))
    assert img.shape == (128, 128, 48)
    ijk = _nifti_indices(h, arr.shape, img.affine)
    assert np.abs(ijk - np.round(ijk)).max() < 1e-2
    assert ijk.min() > -0.01 and np.all(ijk.max(axis=0) < np.array(img.shape[:3]) - 0.99)


def test_hc12_mosaic_untiled_and_hc15_gradients(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel")
    from nibabel.nicom import csareader

    b0 = nibabel_file("siemens_dwi_0.dcm.gz", tmp_path)
    b1000 = nibabel_file("siemens_dwi_1000.dcm.gz", tmp_path)
    ds = pydicom.dcmread(b1000)
    tiles = (
        np.arange(48, dtype=np.uint16)[:, None, None] * 64
        + np.arange(128, dtype=np.uint16)[None, :, None] // 2
    )
    tiles = np.broadcast_to(tiles, (48, 128, 128))
    mosaic = np.zeros((896, 896), dtype=np.uint16)
    for k in range(48):
        r, c = divmod(k, 7)
        mosaic[r * 128 : (r + 1) * 128, c * 128 : (c + 1) * 128] = tiles[k]
    ds.PixelData = mosaic.tobytes()
    ds.save_as(b1000)
    arr, h = read([b0, b1000], input_order="dti")
    assert arr.shape == (2, 48, 128, 128)
    normal = geometry.slice_normal(h.affine[:3, 2].tolist() + h.affine[:3, 1].tolist())
    csa = csareader.get_csa_header(ds)
    csa_normal = np.asarray(csareader.get_slice_normal(csa))
    order = np.arange(48) if np.dot(normal, csa_normal) > 0 else np.arange(48)[::-1]
    np.testing.assert_array_equal(arr[1], tiles[order])
    expected_g = np.asarray(csareader.get_vector(csa, "DiffusionGradientDirection", 3))
    np.testing.assert_allclose(
        h.axes[0].values[1], [csareader.get_b_value(csa), *expected_g], atol=1e-6
    )
    np.testing.assert_allclose(h.axes[0].values[0], 0, atol=1e-9)
    assert nib is not None


def _edit_enhanced(tmp_path: Path, change: object) -> Path:
    f = nibabel_file("philips_mprage.dcm.gz", tmp_path)
    ds = pydicom.dcmread(f)
    change(ds)  # type: ignore[operator]
    ds.save_as(f)
    return f


def test_hc11_enhanced_ignores_top_level_position(tmp_path: Path) -> None:
    (tmp_path / "ref").mkdir()
    _, ref = read(nibabel_file("philips_mprage.dcm.gz", tmp_path / "ref"))

    def bogus(ds: pydicom.Dataset) -> None:
        ds.ImagePositionPatient = [1000, 1000, 1000]
        ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]

    (tmp_path / "edit").mkdir()
    _, h = read(_edit_enhanced(tmp_path / "edit", bogus))
    np.testing.assert_allclose(h.affine, ref.affine)


def test_hc11_enhanced_stack_ids_split(tmp_path: Path) -> None:
    def two_stacks(ds: pydicom.Dataset) -> None:
        for i, fg in enumerate(ds.PerFrameFunctionalGroupsSequence):
            fg.FrameContentSequence[0].StackID = "1" if i < 100 else "2"

    f = _edit_enhanced(tmp_path, two_stacks)
    with pytest.raises(MultipleSeriesError, match="StackID") as info:
        read(f)
    assert "100 images" in str(info.value) and "76 images" in str(info.value)
    assert read(f, series="301.2")[0].shape == (76, 256, 256)


def test_hc11_enhanced_diffusion_frames_sorted_into_4d(tmp_path: Path) -> None:
    def diffusion(ds: pydicom.Dataset) -> None:
        frames = ds.PerFrameFunctionalGroupsSequence
        for i, fg in enumerate(frames):
            if i >= 88:  # second volume at the positions of the first
                src = frames[175 - i].PlanePositionSequence[0].ImagePositionPatient
                fg.PlanePositionSequence[0].ImagePositionPatient = list(src)
            item = pydicom.Dataset()
            item.DiffusionBValue = 0.0 if i < 88 else 1000.0
            fg.MRDiffusionSequence = [item]

    arr, h = read(_edit_enhanced(tmp_path, diffusion))
    assert arr.shape == (2, 88, 256, 256)
    assert h.input_order == "b"
    np.testing.assert_allclose(h.axes[0].values, [0, 1000])
