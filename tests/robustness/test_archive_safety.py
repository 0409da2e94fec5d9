"""Hostile inputs around the files: FIFOs, DICOMDIR paths leaving the folder, archive
member names, and archive members that inflate to far more than their size."""

from __future__ import annotations

import os
import shutil
import signal
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _memory import read_peak

from imagedata import read
from imagedata.archives import expand
from imagedata.errors import NoDataError, ReadError
from imagedata.testing import make_dicom_series

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail (not hang) when the test blocks for 60 s, e.g. opening a FIFO."""

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("the read blocked for 60 s")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_in_folder_is_skipped_unopened(tmp_path: Path, alarm: None) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 6, 6))
    fifo = tmp_path / "zz_fifo.dcm"
    os.mkfifo(fifo)  # opening it for reading would block: nobody writes
    assert all(m.name != str(fifo) for m in expand(tmp_path))
    arr, _ = read(tmp_path)
    np.testing.assert_array_equal(arr, truth.data)
    with pytest.raises(NoDataError, match="not a regular file"):
        read(fifo)


@pytest.fixture
def dicomdir(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    shutil.copytree(PYDICOM_FILES / "dicomdirtests", root)
    return root / "DICOMDIR"


@pytest.mark.parametrize(
    "ref",
    [["..", "..", "etc", "passwd"], ["/etc/passwd"], ["98892001", "..", "..", "x"], ["a/../../b"]],
)
def test_dicomdir_reference_leaving_its_folder_is_refused(dicomdir: Path, ref: list[str]) -> None:
    ds = pydicom.dcmread(dicomdir)
    records = [r for r in ds.DirectoryRecordSequence if "ReferencedFileID" in r]
    records[3].ReferencedFileID = ref if len(ref) > 1 else ref[0]
    ds.save_as(dicomdir)
    with pytest.raises(ReadError, match="outside the DICOMDIR's folder") as info:
        read(dicomdir)
    assert str(dicomdir) in str(info.value)


def test_dicomdir_inside_references_still_read(dicomdir: Path) -> None:
    arr, _ = read(f"{dicomdir}?98892001/CT5N")
    assert arr.shape[0] == 5


def test_archive_member_names_never_reach_the_file_system(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(2, 6, 6))
    z = tmp_path / "evil.zip"
    t = tmp_path / "evil.tar"
    names = ["../../escaped.dcm", "/abs/escaped2.dcm"]
    with zipfile.ZipFile(z, "w") as zf, tarfile.open(t, "w") as tf:
        for f, name in zip(truth.files, names):
            zf.write(f, name)
            tf.add(f, name)
    before = sorted(p.name for p in tmp_path.parent.rglob("*escaped*"))
    for archive in (z, t):
        arr, _ = read(archive)
        assert arr.shape == (2, 6, 6)
    assert sorted(p.name for p in tmp_path.parent.rglob("*escaped*")) == before == []


def test_damaged_zip_member_is_read_error(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(3, 8, 8))
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in truth.files:
            zf.write(f, f.name)
    data = bytearray(z.read_bytes())
    start = 30 + int.from_bytes(data[26:28], "little") + int.from_bytes(data[28:30], "little")
    for i in range(start, start + 40):  # the first member's deflate stream
        data[i] ^= 0x5A
    z.write_bytes(bytes(data))
    first = zipfile.ZipFile(z).infolist()[0].filename
    with pytest.raises(ReadError, match=f"a.zip\\?{first}: cannot read from the archive"):
        read(z)


def _bomb_zip(path: Path, series: list[Path], size: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for f in series:
            z.write(f, f"series/{f.name}")
        with z.open("zeros.bin", "w", force_zip64=True) as w:
            chunk = bytes(1 << 24)
            for _ in range(size // len(chunk)):
                w.write(chunk)


def test_zip_member_of_1gib_zeros_is_sniffed_not_inflated(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(4, 16, 16))
    bomb = tmp_path / "bomb.zip"
    _bomb_zip(bomb, list(truth.files), 1 << 30)
    assert bomb.stat().st_size < 20 << 20  # a few MB on disk, 1 GiB inflated
    nbytes, peak, _ = read_peak(bomb)
    assert nbytes == truth.data.nbytes
    assert peak < 200 << 20, f"reading raised peak memory by {peak >> 20} MB"


def test_gzip_tar_member_is_not_held_in_memory(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(4, 16, 16))
    tgz = tmp_path / "bomb.tar.gz"
    zeros = tmp_path / "zeros.bin"
    with open(zeros, "wb") as f:
        f.truncate(256 << 20)  # sparse: 256 MiB of zeros
    with tarfile.open(tgz, "w:gz", compresslevel=1) as t:
        for f in truth.files:
            t.add(f, f"series/{f.name}")
        t.add(zeros, "zeros.bin")
    zeros.unlink()
    nbytes, peak, _ = read_peak(tgz)
    assert nbytes == truth.data.nbytes
    assert peak < 100 << 20, f"reading raised peak memory by {peak >> 20} MB"
