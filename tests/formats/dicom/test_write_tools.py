"""Our DICOM output read by independent tools: dcm2niix (NIfTI) and SimpleITK (GDCM).

Each voxel the tool returns is mapped to LPS with the tool's own geometry, then back
to an index of the source Series with the source affine: the index must be a whole
voxel and the value there must equal the tool's value.  This checks positions,
orientation, spacing (dr != dc, non-square images) and slice order at once.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from imagedata.formats.dicom.writer import write_series
from imagedata.series import Series
from imagedata.testing import oblique_orientation
from tests.conftest import require_tool
from tests.formats.dicom._helpers import make_series

CASES = {
    "axial": dict(orientation="axial"),
    "sagittal": dict(orientation="sagittal"),
    "coronal": dict(orientation="coronal"),
    "oblique": dict(orientation=oblique_orientation(25.0, (1.0, 2.0, 0.5))),
}


def _check_mapping(si: Series, lps: np.ndarray, values: np.ndarray, what: str) -> None:
    """`lps` (N, 3) world positions of voxels with `values` (N,) must hit `si` exactly."""
    inv = np.linalg.inv(si.affine)
    idx = (inv[:3, :3] @ lps.T + inv[:3, 3:4]).T
    whole = np.rint(idx)
    assert np.abs(idx - whole).max() < 1e-3, f"{what}: voxel centres off the source grid"
    k, r, c = whole.astype(int).T
    shape = si.shape[-3:]
    inside = (k >= 0) & (k < shape[0]) & (r >= 0) & (r < shape[1]) & (c >= 0) & (c < shape[2])
    assert inside.all(), f"{what}: voxels outside the source volume"
    np.testing.assert_array_equal(values, np.asarray(si)[k, r, c], err_msg=what)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("modality", ["MR", "OT"])
def test_dcm2niix_reads_source_geometry(tmp_path: Path, case: str, modality: str) -> None:
    require_tool("dcm2niix")
    nib = pytest.importorskip("nibabel")
    si, _ = make_series(tmp_path, (5, 6, 9), pixel_spacing=(0.6, 0.9), **CASES[case])
    write_series(si, tmp_path / "dcm", modality=modality)
    out = tmp_path / "nii"
    out.mkdir()
    res = subprocess.run(
        ["dcm2niix", "-z", "n", "-b", "n", "-f", "vol", "-o", str(out), str(tmp_path / "dcm")],
        capture_output=True,
        text=True,
        check=False,
    )
    niis = sorted(out.glob("*.nii"))
    assert res.returncode == 0 and len(niis) == 1, res.stdout + res.stderr
    img = nib.load(niis[0])
    data = np.asarray(img.dataobj)
    assert data.shape == (9, 6, 5)
    ijk = np.indices(data.shape).reshape(3, -1)
    ras = img.affine[:3, :3] @ ijk + img.affine[:3, 3:4]
    lps = (np.diag([-1.0, -1.0, 1.0]) @ ras).T
    _check_mapping(si, lps, data.reshape(-1), f"dcm2niix {case}")


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("modality", ["MR", "CT", "OT"])
def test_simpleitk_reads_source_geometry(tmp_path: Path, case: str, modality: str) -> None:
    sitk = pytest.importorskip("SimpleITK")
    si, _ = make_series(
        tmp_path, (5, 6, 9), pixel_spacing=(0.6, 0.9), modality="CT" if modality == "CT" else "MR",
        **CASES[case],
    )  # fmt: skip
    write_series(si, tmp_path / "dcm", modality=modality)
    reader = sitk.ImageSeriesReader()
    names = reader.GetGDCMSeriesFileNames(str(tmp_path / "dcm"))
    assert len(names) == 5
    reader.SetFileNames(names)
    img = reader.Execute()
    arr = sitk.GetArrayFromImage(img)  # (z, y, x)
    assert arr.shape == (5, 6, 9)
    np.testing.assert_allclose(img.GetSpacing()[:2], (0.9, 0.6), atol=1e-9)
    origin = np.array(img.GetOrigin())
    spacing = np.array(img.GetSpacing())
    direction = np.array(img.GetDirection()).reshape(3, 3)
    xyz = np.indices(arr.shape[::-1]).reshape(3, -1)
    lps = (direction @ (spacing[:, None] * xyz) + origin[:, None]).T
    values = arr.transpose(2, 1, 0).reshape(-1)
    _check_mapping(si, lps, values, f"SimpleITK {case} {modality}")


def test_simpleitk_single_slice(tmp_path: Path) -> None:
    sitk = pytest.importorskip("SimpleITK")
    si, truth = make_series(tmp_path, (6, 6, 9), orientation="sagittal")
    files = write_series(si[4], tmp_path / "one")
    img = sitk.ReadImage(files[0])
    np.testing.assert_allclose(img.GetOrigin(), truth.positions[4], atol=1e-9)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img)[0], truth.data[4])
