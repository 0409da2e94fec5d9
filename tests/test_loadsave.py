"""The one door: format choice for folders, stray files beside DICOM, bare arrays, URLs."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

import imagedata
from imagedata import loadsave
from imagedata.errors import UnknownFormatError
from imagedata.header import Header, HeaderedArray
from imagedata.series import Series
from imagedata.testing import make_dicom_series


def test_top_level_names_are_the_door() -> None:
    assert imagedata.read is loadsave.read
    assert imagedata.write is loadsave.write


def test_folder_with_stray_nifti_and_json_reads_dicom(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A folder means DICOM when it holds DICOM: a stray .nii/.json is skipped and named."""
    folder = tmp_path / "series"
    truth = make_dicom_series(folder, shape=(4, 6, 5))
    # A NIfTI of another series and its sidecar, as dcm2niix would leave beside the input.
    Series(np.ones((2, 6, 5), dtype=np.int16)).write(folder / "other.nii.gz", formats=["nifti"])
    (folder / "other.json").write_text('{"SeriesDescription": "other"}')
    (folder / "README").write_text("acquired on the 3T\n")
    before = sorted(p.name for p in folder.iterdir())
    with caplog.at_level(logging.INFO, logger="imagedata.loadsave"):
        arr, header = loadsave.read(folder)
    np.testing.assert_array_equal(arr, truth.data)
    assert header.input_format == "dicom"
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped and "other.nii.gz" in skipped[0], caplog.text
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing in the input changed


def test_explicit_file_beside_dicom_still_reads_that_file(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    make_dicom_series(folder, shape=(3, 6, 5))
    nifti = folder / "other.nii.gz"
    Series(np.full((2, 6, 5), 7, dtype=np.int16)).write(nifti, formats=["nifti"])
    arr, header = loadsave.read(nifti)
    assert header.input_format == "nifti"
    assert arr.shape == (2, 6, 5) and int(arr.max()) == 7


def test_folder_of_nifti_only_reads_nifti(tmp_path: Path) -> None:
    folder = tmp_path / "nii"
    folder.mkdir()
    Series(np.full((2, 6, 5), 3, dtype=np.int16)).write(folder / "a.nii.gz", formats=["nifti"])
    (folder / "a.json").write_text("{}")
    arr, header = loadsave.read(folder)
    assert header.input_format == "nifti" and int(arr.max()) == 3


def test_folder_of_two_other_formats_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    si = Series(np.zeros((2, 6, 5), dtype=np.int16))
    si.write(folder / "a.nii.gz", formats=["nifti"])
    si.write(folder / "b.mha", formats=["itk"])
    with pytest.raises(UnknownFormatError, match=r"several formats.*itk.*nifti"):
        loadsave.read(folder)


def test_write_takes_a_bare_array_and_a_headered_array(tmp_path: Path) -> None:
    data = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    written = loadsave.write(data, tmp_path / "bare", formats=["dicom"])
    assert len(written) == 2
    header = Header.default(data.shape).with_affine(np.diag([3.0, 0.5, 0.25, 1.0]))
    loadsave.write(HeaderedArray(data, header), tmp_path / "h.nii.gz")
    back, h = loadsave.read(tmp_path / "h.nii.gz")
    np.testing.assert_array_equal(back, data)
    np.testing.assert_allclose(h.affine, header.affine, atol=1e-6)


def test_write_chooses_format_by_extension_then_input_format(tmp_path: Path) -> None:
    src = tmp_path / "dcm"
    make_dicom_series(src, shape=(3, 6, 5))
    si = Series(src)
    out = si.write(tmp_path / "copy")  # input format: DICOM
    assert all(Path(p).suffix == ".dcm" for p in out)
    out = si.write(tmp_path / "copy.mha")
    assert out == [str(tmp_path / "copy.mha")]


def test_url_is_told_from_path() -> None:
    assert loadsave.is_url("dicomweb+https://pacs/dicom-web?PatientID=1")
    assert not loadsave.is_url("dicom/volume")
    assert not loadsave.is_url(Path("dicom://x"))


def test_local_source_passes_paths_through(tmp_path: Path) -> None:
    with loadsave.local_source(tmp_path, timeout=3) as (local, options):
        assert local == tmp_path and options == {"timeout": 3}


def test_read_groups_reads_every_series(tmp_path: Path) -> None:
    make_dicom_series(tmp_path / "a", shape=(3, 6, 5), SeriesNumber=1)
    make_dicom_series(tmp_path / "b", shape=(2, 6, 5), SeriesNumber=2)
    shutil.copytree(tmp_path / "a", tmp_path / "all" / "a")
    shutil.copytree(tmp_path / "b", tmp_path / "all" / "b")
    found = loadsave.read_groups(tmp_path / "all")
    assert sorted(arr.shape for _, arr, _ in found) == [(2, 6, 5), (3, 6, 5)]
    assert len({key for key, _, _ in found}) == 2
