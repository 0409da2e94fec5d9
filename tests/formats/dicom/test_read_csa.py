"""Siemens CSA headers: the numbers imagedata reads are nibabel's, damaged headers are safe.

nibabel's ``nicom.csareader`` is an independent reader of the same structure; the
numeric items (DS, IS, FD, ...) of every CSA image and series header in ../shared/data
must agree.  Damaged or cut headers give a dict (possibly empty), never an exception.
"""

from __future__ import annotations

import random
import warnings

import pydicom
import pytest

from imagedata.formats.dicom._csa import _csa_element, parse_csa
from tests.conftest import SHARED_DATA

_NUMERIC = {"DS", "IS", "FD", "FL", "SL", "UL", "US", "SS"}


def _siemens_datasets() -> list[pydicom.Dataset]:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real scanner data not found at {SHARED_DATA}")
    out = []
    for f in sorted(SHARED_DATA.rglob("*")):
        if not f.is_file() or f.stat().st_size < 1000:
            continue
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except Exception:
            continue
        if "SIEMENS" in str(ds.get("Manufacturer", "")).upper() and 0x00291010 in ds:
            out.append(ds)
    if not out:
        pytest.skip("no Siemens file with a CSA header in the shared data")
    return out


def test_numbers_agree_with_nibabel() -> None:
    csareader = pytest.importorskip("nibabel.nicom.csareader")
    compared = 0
    for ds in _siemens_datasets():
        for kind, offset in (("image", 0x10), ("series", 0x20)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = csareader.get_csa_header(ds, kind)
            if theirs is None:
                continue
            ours = _csa_element(ds, offset)
            for name, tag in theirs["tags"].items():
                if tag["vr"] in _NUMERIC:
                    assert ours.get(name) == tag["items"], name
                    compared += 1
    assert compared > 1000


def test_damaged_headers_give_a_dict() -> None:
    rng = random.Random(2)
    blobs = [bytes(ds[0x00291010].value) for ds in _siemens_datasets()[:5]]
    for blob in blobs:
        assert parse_csa(blob)["NumberOfImagesInMosaic"] is not None
        for _ in range(200):
            data = bytearray(blob)
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            cut = bytes(data[: rng.randint(0, len(data))])
            assert isinstance(parse_csa(cut), dict)
            assert isinstance(parse_csa(bytes(data)), dict)
