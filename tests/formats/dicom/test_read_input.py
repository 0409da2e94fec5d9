"""DICOM reader input handling: bad files, non-images, skip_broken, read-only input, fast parser."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imagedata import _fastscan
from imagedata.archives import Member
from imagedata.errors import NoDataError, ReadError
from imagedata.formats.dicom.reader import read_series
from imagedata.loadsave import read
from imagedata.testing import make_dicom_series
from tests.formats.dicom._readutil import PYDICOM_FILES


def test_empty_folder_names_path(tmp_path: Path) -> None:
    with pytest.raises(NoDataError, match=str(tmp_path)):
        read(tmp_path)


def test_no_dicom_names_path(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "b.bin").write_bytes(b"\0" * 300)
    with pytest.raises(NoDataError, match="no DICOM images"):
        read_series([Member(str(p), p) for p in sorted(tmp_path.iterdir())])


def test_non_dicom_and_non_image_files_skipped(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 4, 4))
    (tmp_path / "README").write_text("not dicom")
    for name in ("rtstruct.dcm", "test-SR.dcm", "rtplan.dcm"):
        shutil.copy(PYDICOM_FILES / name, tmp_path / f"x_{name}")
    arr, _ = read(tmp_path)
    np.testing.assert_array_equal(arr, truth.data)


def test_truncated_file_error_and_skip_broken(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(4, 8, 8))
    victim = sorted(truth.files)[0]
    victim.write_bytes(victim.read_bytes()[:-50])
    with pytest.raises(ReadError, match=victim.name) as info:
        read(tmp_path)
    assert "skip_broken=True" in str(info.value)
    shutil.copy(PYDICOM_FILES / "MR_truncated.dcm", tmp_path / "mr_truncated")
    with pytest.warns(UserWarning, match="skipped broken file") as record:
        arr, _ = read(tmp_path, skip_broken=True, accept_uneven_slices=True)
    assert len(record) == 2
    assert arr.shape == (3, 8, 8)


@pytest.mark.parametrize("size", [300, 700, 1000])
def test_truncated_header_is_read_error(tmp_path: Path, size: int) -> None:
    truth = make_dicom_series(tmp_path, shape=(1, 8, 8))
    f = truth.files[0]
    f.write_bytes(f.read_bytes()[:size])
    with pytest.raises(ReadError, match=f"{f.name}: truncated"):
        read_series([Member(str(f), f)])


def test_input_is_not_modified(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 2, 4, 4), order="time")
    before = {
        f: (hashlib.sha1(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns) for f in truth.files
    }
    read(tmp_path)
    read(tmp_path, headers_only=True)
    after = {
        f: (hashlib.sha1(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns) for f in truth.files
    }
    assert before == after
    assert sorted(tmp_path.iterdir()) == sorted(truth.files)


def test_template_has_no_per_image_attributes(tmp_path: Path) -> None:
    truth = make_dicom_series(
        tmp_path, shape=(3, 2, 4, 4), order="time", modality="CT", dtype=np.int16
    )
    _, h = read(tmp_path)
    for kw in (
        "PixelData",
        "SOPInstanceUID",
        "InstanceNumber",
        "ImagePositionPatient",
        "SliceLocation",
        "AcquisitionTime",
        "AcquisitionDateTime",
    ):
        assert kw not in h.template, kw
    assert h.template.SeriesInstanceUID == truth.series_instance_uid
    assert h.template.PatientID == truth.patient_id
    assert h.input_format == "dicom"


@pytest.mark.parametrize(
    "name",
    ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "JPEG2000.dcm", "rtstruct.dcm"],
)
def test_fast_parser_agrees_with_pydicom(name: str) -> None:
    data = (PYDICOM_FILES / name).read_bytes()
    result = _fastscan.parse(data)
    ds = pydicom.dcmread(PYDICOM_FILES / name, stop_before_pixels=True, force=True)
    if "PixelData" not in pydicom.dcmread(PYDICOM_FILES / name, force=True):
        assert result in (_fastscan.NO_IMAGE, _fastscan.FALLBACK)
        return
    assert not isinstance(result, str)
    values, ts, offset, length = result
    assert ts == ds.file_meta.TransferSyntaxUID
    for kw, value in values.items():
        if kw.startswith("_") or ":" in kw:  # the header digest, private values
            continue
        ref = ds.get(kw)
        if isinstance(value, list):
            assert [str(v).strip() for v in ref] == [v.strip() for v in value], kw
        elif isinstance(value, (int, float)):
            assert value == ref, kw
        else:
            assert str(ref).strip() == value, kw
    raw = pydicom.dcmread(PYDICOM_FILES / name)["PixelData"]
    if length >= 0:
        assert data[offset : offset + length] == raw.value


def test_fast_parser_falls_back() -> None:
    big = (PYDICOM_FILES / "MR_small_bigendian.dcm").read_bytes()
    assert _fastscan.parse(big) == _fastscan.FALLBACK
    assert _fastscan.parse(b"no dicom here" * 20) == _fastscan.FALLBACK
    with pytest.raises(EOFError):
        _fastscan.parse((PYDICOM_FILES / "CT_small.dcm").read_bytes()[:1000])


def test_template_drops_csa_headers_by_creator(tmp_path: Path) -> None:
    """Only the CSA image and series headers leave the template; no private element is
    left without its creator, and another vendor's elements at xx10/xx20 stay."""
    make_dicom_series(tmp_path, shape=(2, 4, 4))
    for path in sorted(tmp_path.iterdir()):
        ds = pydicom.dcmread(path)
        other = ds.private_block(0x0029, "OTHER VENDOR", create=True)  # block 0x10
        other.add_new(0x10, "LO", "kept")
        csa = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)  # block 0x11
        csa.add_new(0x08, "CS", "IMAGE NUM 4")
        csa.add_new(0x10, "OB", b"SV10" + b"\0" * 60)
        csa.add_new(0x20, "OB", b"SV10" + b"\0" * 60)
        ds.save_as(path)
    _, h = read(tmp_path)
    t = h.template
    assert t[0x00290010].value == "OTHER VENDOR" and t[0x00291010].value == "kept"
    assert t[0x00290011].value == "SIEMENS CSA HEADER" and t[0x00291108].value == "IMAGE NUM 4"
    assert 0x00291110 not in t and 0x00291120 not in t
