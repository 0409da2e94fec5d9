"""Fast gzip for .nii.gz: every backend gives standard gzip that gzip and nibabel read."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from imagedata import Series, _gzip

nib = pytest.importorskip("nibabel")

INSTALLED = [b for b in _gzip.BACKENDS if _gzip._load(b) is not None]


@pytest.mark.parametrize("name", INSTALLED)
@pytest.mark.parametrize("level", [None, 1, 6, 9])
def test_backend_output_is_standard_gzip(name: str, level: int | None, tmp_path: Path) -> None:
    data = np.arange(200_000, dtype=np.int16).tobytes()
    packed = _gzip.compress(data, level, prefer=name)
    assert packed[:2] == b"\x1f\x8b"
    assert gzip.decompress(packed) == data
    tool = shutil.which("gzip")
    if tool is not None:  # the gzip program checks the stream and its CRC
        f = tmp_path / "x.gz"
        f.write_bytes(packed)
        subprocess.run([tool, "-t", str(f)], check=True)


def test_preferred_backend_is_the_fastest_installed() -> None:
    assert _gzip.backend() == INSTALLED[0]
    assert _gzip.backend("zlib") == "zlib"


def test_bad_level() -> None:
    for bad in (0, 10, 2.5, True):
        with pytest.raises(ValueError, match="compression level"):
            _gzip.check_level(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", INSTALLED)
def test_nifti_written_with_each_backend_reads_in_nibabel(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEDATA_GZIP", name)
    a = (np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7) - 50) * 3
    target = tmp_path / f"{name}.nii.gz"
    Series(a).write(target, formats=["nifti"], compression_level=9)
    img = nib.load(target)
    assert np.array_equal(np.transpose(np.asarray(img.dataobj), (2, 1, 0)), a)
    assert img.header.get_data_dtype() == np.int16
    assert np.array_equal(np.asarray(Series(target)), a)


def test_compression_level_changes_size_not_content(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = (rng.normal(0, 30, (20, 64, 64)) + np.arange(64)).astype(np.int16)
    sizes = {}
    for level in (1, 9):
        target = tmp_path / f"l{level}.nii.gz"
        Series(a).write(target, formats=["nifti"], compression_level=level)
        sizes[level] = target.stat().st_size
        assert np.array_equal(np.transpose(np.asarray(nib.load(target).dataobj), (2, 1, 0)), a)
    assert sizes[9] < sizes[1]


def test_bad_compression_level_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="compression level"):
        Series(np.zeros((2, 3, 4), np.int16)).write(
            tmp_path / "x.nii.gz", formats=["nifti"], compression_level=0
        )
    assert list(tmp_path.iterdir()) == []


def test_gzip_writer_streams_and_refuses_backward_seeks(tmp_path: Path) -> None:
    path = tmp_path / "s.gz"
    with _gzip.GzipWriter(path, 9) as fp:
        fp.write(b"head")
        fp.seek(8)  # forward: zeros
        assert fp.tell() == 8
        with pytest.raises(OSError, match="cannot seek backwards"):
            fp.seek(2)
        fp.write(memoryview(np.arange(4, dtype=np.int16)))
    assert (
        gzip.decompress(path.read_bytes())
        == b"head\0\0\0\0" + np.arange(4, dtype=np.int16).tobytes()
    )


def test_gzip_writer_on_an_open_file_closes_it(tmp_path: Path) -> None:
    """Given a file open for writing, the stream goes into it, and closing closes it."""
    path = tmp_path / "f.gz"
    with open(path, "wb") as raw:
        with _gzip.GzipWriter(raw, 6) as fp:
            fp.write(b"abc" * 100)
        assert raw.closed
    with _gzip.GzipWriter(tmp_path / "p.gz", 6) as fp:
        fp.write(b"abc" * 100)
    assert gzip.decompress(path.read_bytes()) == b"abc" * 100
    assert path.read_bytes() == (tmp_path / "p.gz").read_bytes()
