"""Sorting real vendor data (dcm_qa) like dcm2niix: repeats, series split under one UID.

Compared in world space (voxel centres) with dcm2niix's NIfTI in each folder's Ref/.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from imagedata import geometry
from imagedata.archives import expand
from imagedata.errors import MultipleSeriesError, SortError
from imagedata.formats.dicom.reader import scan_groups
from imagedata.header import Header
from imagedata.loadsave import read
from tests.conftest import SHARED_DATA

DCM_QA = SHARED_DATA / "dcm_qa"


def _qa(*parts: str) -> Path:
    path = DCM_QA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"dcm_qa data not found at {path} (../shared/data is not beside the repo)")
    return path


def _ref_voxels(header: Header, arr: np.ndarray, ref: Path) -> tuple[np.ndarray, np.ndarray]:
    """dcm2niix's voxels at the centres of ours (via world coordinates), and its image."""
    nib = pytest.importorskip("nibabel")
    img = nib.load(ref)
    k, r, c = np.indices(arr.shape[-3:]).reshape(3, -1)
    lps = geometry.voxel_to_world(header.affine, np.stack([k, r, c], axis=1))
    ras = lps * [-1.0, -1.0, 1.0]
    ijk = np.linalg.solve(img.affine, np.c_[ras, np.ones(len(ras))].T)[:3].T
    assert np.abs(ijk - np.round(ijk)).max() < 1e-3, "voxel centres are not dcm2niix's"
    return np.round(ijk).astype(int), img


@pytest.mark.parametrize("n", [4, 5, 6, 7])
def test_hc18_ge_fmri_volumes_by_instance_number(n: int, caplog: pytest.LogCaptureFixture) -> None:
    folder = _qa("dcm_qa_nih", "In", "20180918GE", f"mr_000{n}")
    ref = _qa("dcm_qa_nih", "Ref", f"DCM2NIIX_regression_test_{n}.nii")
    with pytest.warns(UserWarning, match=r"ordered by InstanceNumber into a time axis.*TR|Repet"):
        arr, h = read(folder)
    assert arr.shape == (10, 15, 64, 64) and h.input_order == "time"
    tr = json.loads(ref.with_suffix(".json").read_text())["RepetitionTime"]
    np.testing.assert_allclose(h.axes[0].values, np.arange(10) * tr)
    idx, img = _ref_voxels(h, arr, ref)
    data = np.asanyarray(img.dataobj)
    assert data.shape[3] == arr.shape[0]
    for t in range(arr.shape[0]):
        np.testing.assert_array_equal(data[idx[:, 0], idx[:, 1], idx[:, 2], t], arr[t].ravel())
    with pytest.raises(SortError, match=r"input_order='time'.*equal.*input_order='auto'"):
        read(folder, input_order="time")


@pytest.mark.parametrize(
    ("folder", "numbers"), [("dcm_qa_ts", range(1, 10)), ("dcm_qa_12bit", range(2, 5))]
)
def test_hc19_series_numbers_under_one_uid_split(folder: str, numbers: range) -> None:
    """dcm_qa_ts: one image per transfer syntax; dcm_qa_12bit: one SOPInstanceUID, 3 images."""
    src = _qa(folder, "In")
    with pytest.raises(MultipleSeriesError, match=r"SeriesNumber \d+ under the same"):
        read(src)
    groups = scan_groups(expand(src))
    assert sorted(g.label for g in groups) == sorted(str(n) for n in numbers)
    assert len({g.uid for g in groups}) == 1
    for n in numbers:
        arr, h = read(src, series=n)
        idx, img = _ref_voxels(h, arr, _qa(folder, "Ref", f"{n}.nii"))
        data = np.asanyarray(img.dataobj)
        np.testing.assert_array_equal(data[idx[:, 0], idx[:, 1], idx[:, 2]], arr.ravel())


def test_hc20_philips_enhanced_magnitude_and_field_map_split() -> None:
    src = _qa("dcm_qa_enh", "In", "Philips")
    with pytest.raises(MultipleSeriesError) as info:
        read(src)
    assert "FIELD_MAP" in str(info.value) and "EchoTime" not in str(info.value)
    refs = {
        "801.1": "Philips_WIP_B0_NS_801_e1.nii",
        "801.2": "Philips_WIP_B0_NS_801_e2_fieldmaphz.nii",
    }
    for label, name in refs.items():
        arr, h = read(src, series=label)
        assert arr.shape == (32, 64, 64) and h.input_order == "none"
        idx, img = _ref_voxels(h, arr, _qa("dcm_qa_enh", "Ref", name))
        ours = arr.ravel()
        if label == "801.1":  # dcm2niix keeps Philips' stored magnitude values
            stored, _ = read(src, series=label, scaling="stored")
            ours = stored.ravel()
            theirs = np.asanyarray(img.dataobj.get_unscaled())
        else:
            theirs = img.get_fdata()
        np.testing.assert_allclose(theirs[idx[:, 0], idx[:, 1], idx[:, 2]], ours, atol=0.01)
