"""MATLAB: conformance suite, scipy/h5py as independent readers, v7.3 reading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from imagedata.errors import MultipleSeriesError, ReadError
from imagedata.series import Series
from tests.formats.test_conformance import FormatConformance, read_plugin, synthetic

scipy_io = pytest.importorskip("scipy.io")


class TestMatConformance(FormatConformance):
    fmt = "mat"
    ext = ".mat"


def test_variables_in_matlab_order(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 2, 4, 5), order="time", tag_values=[0.0, 2.5, 5.0])
    si.write(tmp_path / "m.mat", formats=["mat"])
    v = scipy_io.loadmat(str(tmp_path / "m.mat"))
    assert v["Image"].shape == (4, 5, 2, 3)  # (row, column, slice, time)
    a = np.asarray(si)
    assert v["Image"][3, 1, 0, 2] == a[2, 0, 3, 1]
    np.testing.assert_allclose(v["affine"], si.affine)
    assert str(v["tag_axis"][0]) == "time"
    np.testing.assert_allclose(v["tag_values"].ravel() - v["tag_values"].ravel()[0], [0, 2.5, 5])
    assert json.loads(str(v["imagedata_header"][0]))["imagedata_header"] == 1


def _write_v73(path: Path, variables: dict[str, np.ndarray | str]) -> None:
    """A MATLAB 7.3 file as MATLAB writes it: HDF5 after a 512-byte header, arrays transposed."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            if isinstance(value, str):
                codes = np.frombuffer(value.encode("utf-16-le"), dtype=np.uint16).reshape(-1, 1)
                ds = f.create_dataset(name, data=codes)
                ds.attrs["MATLAB_class"] = np.bytes_(b"char")
            else:
                ds = f.create_dataset(name, data=np.asarray(value).T)
                ds.attrs["MATLAB_class"] = np.bytes_(b"double")
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5"
    with open(path, "r+b") as fh:
        fh.write(header.ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM" + b"\0" * (512 - 128))


def test_reads_v73_through_h5py(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 4, 5))
    si.write(tmp_path / "v5.mat", formats=["mat"])
    v5 = scipy_io.loadmat(str(tmp_path / "v5.mat"))
    _write_v73(
        tmp_path / "v73.mat",
        {
            "Image": v5["Image"].astype(np.float64),
            "affine": v5["affine"],
            "imagedata_header": str(v5["imagedata_header"][0]),
        },
    )
    back = read_plugin(tmp_path / "v73.mat", "mat")
    np.testing.assert_array_equal(np.asarray(back), np.asarray(si).astype(np.float64))
    np.testing.assert_allclose(back.affine, si.affine)
    assert back.patientID == si.patientID


def test_foreign_mat_and_variable_choice(tmp_path: Path) -> None:
    a = np.arange(4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)  # (row, column, slice)
    scipy_io.savemat(str(tmp_path / "f.mat"), {"vol": a, "note": "x"})
    back = read_plugin(tmp_path / "f.mat", "mat")
    assert back.shape == (3, 4, 5)
    np.testing.assert_array_equal(np.asarray(back)[2], a[:, :, 2])
    scipy_io.savemat(str(tmp_path / "two.mat"), {"a": a, "b": a})
    with pytest.raises(MultipleSeriesError, match="variable="):
        read_plugin(tmp_path / "two.mat", "mat")
    assert read_plugin(tmp_path / "two.mat", "mat", variable="b").shape == (3, 4, 5)
    with pytest.raises(ReadError, match="no variable 'c'"):
        read_plugin(tmp_path / "two.mat", "mat", variable="c")


def test_bool_becomes_uint8(tmp_path: Path) -> None:
    mask = Series(np.arange(24).reshape(2, 3, 4) % 3 == 0)
    back = read_plugin(mask.write(tmp_path / "b.mat", formats=["mat"])[0], "mat")
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(back), np.asarray(mask).astype(np.uint8))


def test_missing_scipy_names_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    from imagedata.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(MissingDependencyError, match=r"imagedata\[mat\]"):
        Series(np.zeros((2, 3, 4))).write(tmp_path / "x.mat", formats=["mat"])
