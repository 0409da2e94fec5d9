"""Property test: any orthonormal geometry is written per image and read back unchanged."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagedata import geometry
from imagedata.formats.dicom.writer import write_series
from imagedata.series import Series

unit = st.floats(-1.0, 1.0, allow_nan=False)
spacing = st.floats(0.1, 5.0, allow_nan=False)


@pytest.mark.filterwarnings("ignore:.*gantry tilt:UserWarning")
@settings(max_examples=40, deadline=None)
@given(
    q=st.tuples(unit, unit, unit, unit).filter(lambda v: np.linalg.norm(v) > 0.1),
    dr=spacing,
    dc=spacing,
    step=st.tuples(st.floats(-3, 3), st.floats(-3, 3), st.floats(0.5, 4)),
    origin=st.tuples(*(st.floats(-500, 500),) * 3),
    shape=st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5)),
)
def test_any_geometry_written_and_read_back(q, dr, dc, step, origin, shape) -> None:  # type: ignore[no-untyped-def]
    w, x, y, z = np.asarray(q) / np.linalg.norm(q)
    rot = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    iop = np.r_[rot[:, 0], rot[:, 1]]
    t = rot @ np.asarray(step)  # slice step along a direction with a normal component > 0
    affine = geometry.affine_from_parts(origin, iop, (dr, dc), t)
    data = np.arange(int(np.prod(shape)), dtype=np.uint16).reshape(shape)
    si = Series(data)
    si.header = si.header.replace(affine=affine)
    with tempfile.TemporaryDirectory() as tmp:
        files = write_series(si, Path(tmp) / "out")
        n = np.cross(rot[:, 0], rot[:, 1])
        for k, f in enumerate(files):
            ds = pydicom.dcmread(f)
            pos = np.asarray(origin) + k * t
            scale = max(1.0, float(np.abs(pos).max()))
            np.testing.assert_allclose(
                np.array(ds.ImagePositionPatient, float), pos, atol=1e-9 * scale
            )
            np.testing.assert_allclose(np.array(ds.ImageOrientationPatient, float), iop, atol=1e-12)
            np.testing.assert_allclose(np.array(ds.PixelSpacing, float), [dr, dc], rtol=1e-12)
            assert abs(float(ds.SliceLocation) - n @ pos) < 1e-9 * scale
        back = Series(Path(tmp) / "out")
        np.testing.assert_array_equal(np.asarray(back).reshape(shape), data)
        if shape[0] > 1:
            np.testing.assert_allclose(
                back.affine, affine, atol=1e-7 * max(1.0, np.abs(origin).max())
            )
