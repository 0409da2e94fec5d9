"""Colour (rgb) series in NIfTI (RGB24), MetaImage and NRRD (3-component vector pixels).

Each file is checked with nibabel or SimpleITK directly (voxel type, sample values at
known places, geometry), then read back to the same Series (axis ``rgb`` last).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagedata import geometry
from imagedata.axis import Axis, tag_axis
from imagedata.errors import WriteError
from imagedata.series import Series

nib = pytest.importorskip("nibabel")
sitk = pytest.importorskip("SimpleITK")

AFFINE = geometry.affine_from_parts((-10.0, 20.0, 30.0), (0, 1, 0, 0, 0, -1), (0.7, 0.4), 3.0)


def rgb_series(shape: tuple[int, ...] = (2, 5, 7, 3), tags: int = 0) -> Series:
    rng = np.random.default_rng(len(shape) + tags)
    full = ((tags,) if tags else ()) + shape
    data = rng.integers(0, 256, full, dtype=np.uint8)
    spatial = [Axis("slice"), Axis("row"), Axis("column")][3 - (len(shape) - 1) :]
    axes = ([tag_axis("time", np.arange(tags) * 2.5)] if tags else []) + spatial + [Axis("rgb")]
    si = Series(data, axes=axes)
    si.header = si.header.replace(affine=AFFINE)
    return si


def world(affine_ras: np.ndarray, ijk: tuple[int, int, int]) -> np.ndarray:
    return (affine_ras @ np.array([*ijk, 1.0]))[:3] * np.array([-1.0, -1.0, 1.0])


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_nifti_rgb24_seen_by_nibabel_and_read_back(tmp_path: Path, ext: str) -> None:
    si = rgb_series()
    (path,) = [p for p in si.write(tmp_path / f"c{ext}", formats=["nifti"]) if "nii" in p]
    img = nib.load(path)
    assert int(img.header["datatype"]) == 128  # NIFTI_TYPE_RGB24
    assert img.shape == (7, 5, 2)
    vox = np.asanyarray(img.dataobj)
    k, r, c = 1, 3, 6
    assert tuple(vox[c, r, k]) == tuple(int(v) for v in np.asarray(si)[k, r, c])
    want = geometry.voxel_to_world(si.affine, [k, r, c])
    assert np.allclose(world(img.affine, (c, r, k)), want)
    back = Series(path)
    assert back.axes[-1].name == "rgb" and back.shape == si.shape and back.dtype == np.uint8
    assert np.array_equal(np.asarray(back), np.asarray(si))
    assert np.allclose(back.affine, si.affine)


@pytest.mark.parametrize(("fmt", "ext"), [("itk", ".mha"), ("nrrd", ".nrrd")])
def test_itk_vector_pixels_seen_by_simpleitk_and_read_back(
    tmp_path: Path, fmt: str, ext: str
) -> None:
    si = rgb_series()
    (path,) = si.write(tmp_path / f"c{ext}", formats=[fmt])
    img = sitk.ReadImage(path)
    assert img.GetNumberOfComponentsPerPixel() == 3
    assert img.GetPixelID() == sitk.sitkVectorUInt8
    assert img.GetSize() == (7, 5, 2)
    k, r, c = 1, 3, 6
    assert img.GetPixel(c, r, k) == tuple(int(v) for v in np.asarray(si)[k, r, c])
    want = geometry.voxel_to_world(si.affine, [k, r, c])
    assert np.allclose(img.TransformIndexToPhysicalPoint((c, r, k)), want)
    back = Series(path)
    assert back.axes[-1].name == "rgb" and back.shape == si.shape
    assert np.array_equal(np.asarray(back), np.asarray(si))
    assert np.allclose(back.affine, si.affine)


def test_foreign_three_channel_uint8_image_reads_as_rgb(tmp_path: Path) -> None:
    data = np.random.default_rng(1).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    img = sitk.GetImageFromArray(data, isVector=True)
    sitk.WriteImage(img, str(tmp_path / "f.mha"))
    back = Series(tmp_path / "f.mha")
    assert back.axes[-1].name == "rgb" and np.array_equal(np.asarray(back), data)


@pytest.mark.parametrize(("fmt", "ext"), [("nifti", ".nii"), ("itk", ".mha")])
def test_rgb_with_a_time_axis(tmp_path: Path, fmt: str, ext: str) -> None:
    si = rgb_series(tags=3)
    path = next(p for p in si.write(tmp_path / f"t{ext}", formats=[fmt]) if p.endswith(ext))
    back = Series(path)
    assert [a.name for a in back.axes] == ["time", "slice", "row", "column", "rgb"]
    assert np.array_equal(np.asarray(back), np.asarray(si))
    assert np.allclose(back.axes[0].values, [0.0, 2.5, 5.0])


def test_2d_rgb_round_trip(tmp_path: Path) -> None:
    si = rgb_series((5, 7, 3))
    for fmt, ext in (("nifti", ".nii"), ("itk", ".mha"), ("nrrd", ".nrrd")):
        path = next(p for p in si.write(tmp_path / f"d{ext}", formats=[fmt]) if p.endswith(ext))
        back = Series(path)
        assert back.shape == (5, 7, 3) and back.axes[-1].name == "rgb", fmt
        assert np.array_equal(np.asarray(back), np.asarray(si)), fmt


def test_rgb_refusals_name_the_way_out(tmp_path: Path) -> None:
    si = rgb_series(tags=2)
    with pytest.raises(WriteError, match="use MetaImage"):
        si.write(tmp_path / "x.nrrd", formats=["nrrd"])
    wide = Series(np.zeros((2, 5, 7, 3), dtype=np.uint16), axes=rgb_series().axes)
    with pytest.raises(WriteError, match="8-bit samples"):
        wide.write(tmp_path / "w.nii", formats=["nifti"])


def test_dicom_rgb_to_nifti_and_mha(tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    src = Series(get_testdata_file("SC_rgb_rle.dcm"))
    assert src.axes[-1].name == "rgb"
    for fmt, ext in (("nifti", ".nii"), ("itk", ".mha")):
        path = next(p for p in src.write(tmp_path / f"s{ext}", formats=[fmt]) if p.endswith(ext))
        back = Series(path)
        assert np.array_equal(np.asarray(back), np.asarray(src)), fmt
