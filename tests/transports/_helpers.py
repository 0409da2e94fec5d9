"""Helpers for the network tests: compare received files with the originals."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pydicom

from imagedata.testing import SyntheticSeries, make_dicom_series

_ids = itertools.count(1)


def unique_series(
    folder: Path, shape: tuple[int, ...] = (4, 12, 16), **attrs: object
) -> SyntheticSeries:
    """A small synthetic series with a patient ID of its own."""
    n = next(_ids)
    attrs.setdefault("PatientID", f"NET{n:04d}")
    return make_dicom_series(folder / f"src{n}", shape, **attrs)


def by_sop(files: list[Path]) -> dict[str, pydicom.Dataset]:
    """Datasets keyed by SOP Instance UID."""
    out = {}
    for f in files:
        ds = pydicom.dcmread(f)
        out[str(ds.SOPInstanceUID)] = ds
    return out


def assert_same_instances(original: list[Path], received: list[Path]) -> None:
    """Every original arrived once, with identical pixels and identical data elements."""
    a, b = by_sop(original), by_sop(received)
    assert sorted(a) == sorted(b), f"{len(a)} sent, {len(b)} received"
    for uid, ds in a.items():
        got = b[uid]
        np.testing.assert_array_equal(got.pixel_array, ds.pixel_array)
        for elem in ds:
            assert elem.tag in got, f"{uid}: {elem.keyword or elem.tag} missing after transfer"
            assert got[elem.tag].value == elem.value, f"{uid}: {elem.keyword} changed"
