"""A classic file's dataset made from its bytes equals the one pydicom reads.

Files the header pass walked as explicit VR little endian get their dataset
(:attr:`FileInfo.ds`: the template, vendor private values) from
:func:`imagedata._fastenh.raw_dataset`, undecoded elements that pydicom decodes on first
use, instead of :func:`pydicom.dcmread`.  Every element, sequences and file meta
included, must decode to what pydicom reads (enhanced files: without the Per-frame
Functional Groups Sequence, whose values are in the frames).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset

from imagedata.archives import Member
from imagedata.formats.dicom._scan import read_header
from tests.conftest import SHARED_DATA
from tests.formats.dicom._readutil import PYDICOM_FILES, part10_files


def _decoded(ds: Dataset) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for tag in ds.keys():  # noqa: SIM118 - every element, decoded through ds[tag]
        elem = ds[tag]
        if elem.VR == "SQ":
            out[int(tag)] = ("SQ", [_decoded(item) for item in elem.value])
        else:
            out[int(tag)] = (elem.VR, repr(elem.value))
    return out


def _check(path: Path) -> bool:
    """True when `path` was compared (a fast explicit VR little endian image)."""
    info = read_header(Member(str(path), path))
    if info is None or not info._raw_ok:
        return False
    ours = info.ds
    ref = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    if "PerFrameFunctionalGroupsSequence" in ref:  # in the frames, left out on purpose
        del ref.PerFrameFunctionalGroupsSequence
    assert type(ours).__name__ == "FileDataset"
    assert _decoded(ours.file_meta) == _decoded(ref.file_meta), path.name
    assert _decoded(ours) == _decoded(ref), path.name
    return True


def test_pydicom_files() -> None:
    files = part10_files(PYDICOM_FILES.glob("*.dcm"))
    compared = 0
    for p in files:
        try:
            compared += _check(p)
        except Exception as err:  # damaged test files: the reader refuses them
            if "ReadError" not in type(err).__name__:
                raise
    assert compared >= 10


def test_real_scanner_files() -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real scanner data not found at {SHARED_DATA}")
    files = part10_files(SHARED_DATA.rglob("*"), most=120)
    assert sum(_check(p) for p in files) >= 50
