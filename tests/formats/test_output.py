"""Safe output: atomic folders/files/zips, no silent overwrite, cleanup on failure."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from imagedata.errors import WriteError
from imagedata.formats._output import (
    atomic_file,
    atomic_files,
    atomic_folder,
    atomic_output,
    check_target,
)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "imagedata-" in p.name)


def test_new_folder_created_with_parents(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "series"
    with atomic_folder(out) as tmp:
        assert tmp.parent == out.parent and tmp != out
        assert not out.exists()  # nothing at the target while writing
        (tmp / "x.dcm").write_bytes(b"1")
    assert [p.name for p in out.iterdir()] == ["x.dcm"]
    assert _leftovers(out.parent) == []


def test_empty_existing_folder_is_filled(tmp_path: Path) -> None:
    out = tmp_path / "series"
    out.mkdir()
    with atomic_folder(out) as tmp:
        (tmp / "x.dcm").write_bytes(b"1")
    assert [p.name for p in out.iterdir()] == ["x.dcm"]


def test_nonempty_folder_is_an_error_before_writing(tmp_path: Path) -> None:
    out = tmp_path / "series"
    out.mkdir()
    (out / "other.txt").write_text("keep me")
    entered = False
    with pytest.raises(WriteError, match="overwrite=True"), atomic_folder(out):
        entered = True
    assert not entered
    assert (out / "other.txt").read_text() == "keep me"
    assert _leftovers(tmp_path) == []


def test_overwrite_replaces_content_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "series"
    (out / "sub").mkdir(parents=True)
    (out / "stale.dcm").write_bytes(b"old")
    (out / "sub" / "stale2.dcm").write_bytes(b"old")
    with atomic_folder(out, overwrite=True) as tmp:
        (tmp / "new.dcm").write_bytes(b"new")
    assert sorted(p.name for p in out.rglob("*")) == ["new.dcm"]
    assert _leftovers(tmp_path) == []


def test_exception_mid_write_leaves_target_untouched(tmp_path: Path) -> None:
    out = tmp_path / "series"
    out.mkdir()
    (out / "old.dcm").write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic_folder(out, overwrite=True) as tmp:
        (tmp / "half.dcm").write_bytes(b"half")
        raise RuntimeError("boom")
    assert [p.name for p in out.iterdir()] == ["old.dcm"]
    assert _leftovers(tmp_path) == []


def test_exception_mid_write_new_target_does_not_appear(tmp_path: Path) -> None:
    out = tmp_path / "series"
    with pytest.raises(KeyboardInterrupt), atomic_folder(out) as tmp:
        (tmp / "half.dcm").write_bytes(b"half")
        raise KeyboardInterrupt
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_file_keeps_name_and_refuses_existing(tmp_path: Path) -> None:
    out = tmp_path / "img.nii.gz"
    with atomic_file(out) as tmp:
        assert tmp.name == "img.nii.gz" and tmp != out
        tmp.write_bytes(b"one")
    assert out.read_bytes() == b"one"
    with pytest.raises(WriteError, match="file exists"), atomic_file(out) as tmp:
        tmp.write_bytes(b"two")
    assert out.read_bytes() == b"one"
    with atomic_file(out, overwrite=True) as tmp:
        tmp.write_bytes(b"two")
    assert out.read_bytes() == b"two"
    assert list(tmp_path.iterdir()) == [out]


def test_atomic_file_writer_produced_nothing(tmp_path: Path) -> None:
    out = tmp_path / "img.mha"
    with pytest.raises(WriteError, match="did not produce"), atomic_file(out):
        pass
    assert list(tmp_path.iterdir()) == []


def test_atomic_files_pair(tmp_path: Path) -> None:
    hdr, img = tmp_path / "a.hdr", tmp_path / "a.img"
    with pytest.raises(ValueError, match="boom"), atomic_files([hdr, img]) as tmp:
        (tmp / "a.hdr").write_bytes(b"h")
        raise ValueError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_files([hdr, img]) as tmp:
        (tmp / "a.hdr").write_bytes(b"h")
        (tmp / "a.img").write_bytes(b"i")
    assert hdr.read_bytes() == b"h" and img.read_bytes() == b"i"
    with pytest.raises(WriteError, match="in one folder"), atomic_files([hdr, tmp_path / "x/b"]):
        pass


def test_zip_output(tmp_path: Path) -> None:
    out = tmp_path / "series.ZIP"
    with atomic_output(out) as tmp:
        (tmp / "Image_00000.dcm").write_bytes(b"a")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "Image_00001.dcm").write_bytes(b"b")
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["Image_00000.dcm", "sub/Image_00001.dcm"]
        assert zf.read("sub/Image_00001.dcm") == b"b"
    assert list(tmp_path.iterdir()) == [out]
    with pytest.raises(WriteError), atomic_output(out):
        pass
    with pytest.raises(RuntimeError), atomic_output(out, overwrite=True) as tmp:
        (tmp / "x").write_bytes(b"x")
        raise RuntimeError
    assert zipfile.ZipFile(out).namelist()  # old zip intact
    assert list(tmp_path.iterdir()) == [out]


def test_target_is_file_when_folder_wanted(tmp_path: Path) -> None:
    out = tmp_path / "series"
    out.write_bytes(b"f")
    with pytest.raises(WriteError, match="file exists"):
        check_target(out, overwrite=False, folder=True)
    with atomic_output(out, overwrite=True) as tmp:
        (tmp / "a").write_bytes(b"a")
    assert out.is_dir()


def test_atomic_zip(tmp_path: Path) -> None:
    from imagedata.formats._output import atomic_zip

    out = tmp_path / "s.zip"
    with atomic_zip(out) as zf:
        with zf.open("a/Image_00000.dcm", "w", force_zip64=True) as fp:
            fp.write(b"abc")
        assert not out.exists()
    with zipfile.ZipFile(out) as zf:
        assert zf.read("a/Image_00000.dcm") == b"abc"
        assert zf.getinfo("a/Image_00000.dcm").compress_type == zipfile.ZIP_STORED
    with pytest.raises(WriteError, match="file exists"), atomic_zip(out):
        pass
    with pytest.raises(RuntimeError), atomic_zip(out, overwrite=True) as zf:
        zf.writestr("x", b"new")
        raise RuntimeError
    assert zipfile.ZipFile(out).namelist() == ["a/Image_00000.dcm"]
    assert list(tmp_path.iterdir()) == [out]


def test_atomic_writes_temporary_names_share_a_token_and_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One random suffix per group of files (their names differ); a name taken by another
    writer is passed over (O_EXCL), and nothing of it is touched."""
    from imagedata.formats import _output

    tokens = iter(["00000001", "00000002"])
    monkeypatch.setattr(_output, "_token", lambda: next(tokens))
    taken = tmp_path / ".a.nii.imagedata-tmp-00000001"
    taken.write_bytes(b"someone else's")
    targets = [tmp_path / "a.nii", tmp_path / "a.json"]
    with _output.atomic_writes(targets) as files:
        names = [path.name for path, _ in files]
        for _, fp in files:
            fp.write(b"x")
    assert names == [".a.nii.imagedata-tmp-00000002", ".a.json.imagedata-tmp-00000001"]
    assert taken.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == [taken.name, "a.json", "a.nii"]


def test_temporary_name_tokens_differ_in_a_forked_child() -> None:
    """Writers forked from one process (batch workers) draw different temporary names."""
    import os

    from imagedata.formats import _output

    if not hasattr(os, "fork"):
        pytest.skip("no os.fork on this platform")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first token, then out
        os.write(write, _output._token().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 16).decode()
    os.close(read)
    os.close(write)
    assert len(child) == 8 and child != _output._token()
