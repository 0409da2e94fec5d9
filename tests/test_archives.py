"""Archive inputs: zip, tar, tar.gz, member selectors and DICOMDIR."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imagedata.archives import expand
from imagedata.errors import MultipleSeriesError, NoDataError, ReadError
from imagedata.loadsave import read
from imagedata.testing import make_dicom_series

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


@pytest.fixture
def two_series(tmp_path: Path) -> tuple[Path, object, object]:
    src = tmp_path / "src"
    a = make_dicom_series(src / "series3", shape=(4, 6, 5), SeriesNumber=3)
    b = make_dicom_series(src / "series4", shape=(3, 6, 5), SeriesNumber=4)
    return src, a, b


def _zip(src: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as z:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(src).as_posix())
        z.writestr("__MACOSX/._junk", b"junk")
        z.writestr("notes.txt", b"not dicom")
    return dest


def _tar(src: Path, dest: Path, mode: str) -> Path:
    with tarfile.open(dest, mode) as t:
        t.add(src, arcname=".")
    return dest


def test_zip_with_selector(two_series: tuple, tmp_path: Path) -> None:
    src, a, b = two_series
    z = _zip(src, tmp_path / "study.zip")
    with pytest.raises(MultipleSeriesError):
        read(z)
    arr, _ = read(f"{z}?series3/")
    np.testing.assert_array_equal(arr, a.data)
    arr, _ = read(f"{z}?series4")
    np.testing.assert_array_equal(arr, b.data)
    assert read(z, series=4)[0].shape == (3, 6, 5)
    one = sorted(m.name for m in expand(f"{z}?series3/"))[0].split("?")[1]
    assert read(f"{z}?{one}")[0].shape == (6, 5)  # one image: 2-D, as in 3.x
    assert not any("__MACOSX" in m.name for m in expand(z))


@pytest.mark.parametrize(("suffix", "mode"), [(".tar", "w"), (".tar.gz", "w:gz"), (".tgz", "w:gz")])
def test_tar_variants(two_series: tuple, tmp_path: Path, suffix: str, mode: str) -> None:
    src, a, _ = two_series
    t = _tar(src, tmp_path / f"study{suffix}", mode)
    arr, _ = read(f"{t}?./series3/")
    np.testing.assert_array_equal(arr, a.data)
    assert len(expand(t)) == 7


def test_selector_without_match(two_series: tuple, tmp_path: Path) -> None:
    src, _, _ = two_series
    z = _zip(src, tmp_path / "study.zip")
    with pytest.raises(NoDataError, match="series9"):
        expand(f"{z}?series9/")


def test_broken_archive(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ReadError, match=r"bad\.zip"):
        expand(bad)


def test_threads_read_zip_members(tmp_path: Path) -> None:
    src = tmp_path / "src"
    truth = make_dicom_series(src, shape=(24, 8, 8))
    z = _zip(src, tmp_path / "many.zip")
    arr, _ = read(z)
    np.testing.assert_array_equal(arr, truth.data)


def test_dicomdir_reads_referenced_files() -> None:
    dicomdir = PYDICOM_FILES / "dicomdirtests" / "DICOMDIR"
    members = expand(dicomdir)
    assert len(members) >= 30 and all(m.path is not None and m.path.is_file() for m in members)
    arr, _h = read(f"{dicomdir}?98892001/CT5N")
    assert arr.shape[0] == 5
    direct, _ = read(PYDICOM_FILES / "dicomdirtests" / "98892001" / "CT5N")
    np.testing.assert_array_equal(arr, direct)
    with pytest.raises(MultipleSeriesError):
        read(dicomdir)


def _os_walk(folder: Path) -> list[str]:
    """The folder order of imagedata before its walk used scandir (the reference)."""
    import os
    import stat

    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            p = Path(root) / f
            try:
                regular = stat.S_ISREG(p.stat().st_mode)
            except OSError:
                regular = False
            if not f.startswith(".") and regular:
                out.append(str(p))
    return out


def test_folder_walk_order_and_skips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Files before subfolders, by name; hidden entries, linked folders and FIFOs skipped."""
    import logging
    import os

    root = tmp_path / "in"
    for name in ("b", "a", "Z", "sub/c", "sub/deeper/d", "sub/.hidden", ".h/e", "a2/f"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    (root / "linked").symlink_to(root / "sub", target_is_directory=True)
    (root / "alias").symlink_to(root / "a")
    (root / "broken").symlink_to(root / "nowhere")
    os.mkfifo(root / "fifo")
    with caplog.at_level(logging.INFO, logger="imagedata.archives"):
        names = [m.name for m in expand(root)]
    assert names == _os_walk(root)
    assert [Path(n).relative_to(root).as_posix() for n in names] == [
        "Z", "a", "alias", "b", "a2/f", "sub/c", "sub/deeper/d",
    ]  # fmt: skip
    skipped = caplog.text
    assert "fifo: not a regular file" in skipped and "broken: not a regular file" in skipped
    assert all(m.path == Path(m.name) for m in expand(root))
    monkeypatch.chdir(root)  # Path(".") / name is "name"
    assert [m.name for m in expand(".")] == _os_walk(Path("."))
    assert [m.name for m in expand("sub")] == ["sub/c", "sub/deeper/d"]


def test_header_read_gives_whole_head_and_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header pass reads a file on disk by os.read: short reads are read on."""
    import os

    from imagedata.formats.dicom import _scan

    f = tmp_path / "f"
    f.write_bytes(bytes(range(256)) * 200)  # 51200 bytes
    plain = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: plain(fd, min(n, 1000)))  # short reads
    with _scan.HeadFile(f) as fp:
        assert fp.size == 51200
        assert fp.read(32768) == f.read_bytes()[:32768]
        assert fp.read(1 << 20) == f.read_bytes()[32768:]
        assert fp.read(10) == b""
    truth = make_dicom_series(tmp_path / "s", shape=(1, 4, 4))
    info = _scan.read_header(expand(truth.files[0])[0])
    assert info is not None and info.values[_scan.FILE_SIZE] == truth.files[0].stat().st_size
