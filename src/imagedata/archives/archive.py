"""Archive inputs: zip, tar (plain or compressed) and DICOMDIR.

Each opener expands an archive into :class:`~imagedata.archives.Member` objects that
stream their bytes lazily and thread-safely (a member is never inflated whole to sniff
its first bytes).  A selector after ``?`` picks one member
or a sub-folder: ``study.zip?series3/`` reads only the members under ``series3/``.
Archives are opened read-only; nothing is extracted to disk.

Examples
--------
>>> import io, tempfile, zipfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.zip"
>>> with zipfile.ZipFile(p, "w") as z:
...     z.writestr("s1/x.dcm", b"1"); z.writestr("s2/y.dcm", b"2")
>>> [m.name.split("?")[1] for m in open_zip(p, "s2/")]
['s2/y.dcm']
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import shutil
import tarfile
import tempfile
import threading
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, Any

from imagedata.archives import ARCHIVE_OPENERS, Member
from imagedata.errors import NoDataError, ReadError

logger = logging.getLogger(__name__)


def _selected(name: str, selector: str) -> bool:
    """True when archive member `name` is `selector` or lies under it."""
    if not selector:
        return True
    sel = selector.strip("/")
    return name == sel or name.startswith(sel + "/")


def _hidden(name: str) -> bool:
    """Hidden files and folders, and macOS resource forks ("..": a name only, never a path)."""
    parts = PurePosixPath(name).parts
    return any((p.startswith(".") and p != "..") or p == "__MACOSX" for p in parts)


def _check(members: list[Member], path: Path, selector: str, names: list[str]) -> list[Member]:
    if not members:
        where = f"{path}?{selector}" if selector else str(path)
        sample = ", ".join(names[:5]) or "nothing"
        raise NoDataError(
            f"{where}: no files match in the archive (it holds {sample}); check the selector"
        )
    return members


class _Guarded(io.RawIOBase):
    """A read-only stream whose read errors become :class:`ReadError` naming the member."""

    def __init__(self, raw: IO[bytes], name: str) -> None:
        self._raw = raw
        self.name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._raw.seekable()

    def readinto(self, b: Any) -> int:
        try:
            return int(self._raw.readinto(b))  # type: ignore[attr-defined]
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
            if isinstance(err, ReadError):
                raise
            raise ReadError(f"{self.name}: cannot read from the archive ({err})") from err

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return int(self._raw.seek(offset, whence))

    def tell(self) -> int:
        return int(self._raw.tell())

    def close(self) -> None:
        self._raw.close()
        super().close()


class _ZipSource:
    """One open ZipFile shared by members; each member is streamed (never inflated whole)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as err:
            raise ReadError(f"{path}: not a readable zip archive ({err})") from err

    def open(self, name: str) -> IO[bytes]:
        """A seekable stream of member `name` (zipfile reads the shared file under its lock)."""
        with self.lock:
            try:
                raw = self.zf.open(name)
            except (zipfile.BadZipFile, zlib.error, OSError, NotImplementedError) as err:
                raise ReadError(
                    f"{self.path}?{name}: cannot read from the zip archive ({err})"
                ) from err
        return io.BufferedReader(_Guarded(raw, f"{self.path}?{name}"), 1 << 16)


def open_zip(path: Path, selector: str = "") -> list[Member]:
    """Members of a zip archive (optionally only those under `selector`)."""
    src = _ZipSource(path)
    infos = {i.filename: i for i in src.zf.infolist() if not i.is_dir()}
    names = list(infos)
    members = [
        Member(f"{path}?{n}", None, functools.partial(src.open, n), infos[n].file_size)
        for n in sorted(names)
        if _selected(n, selector) and not _hidden(n)
    ]
    return _check(members, path, selector, names)


class _Shared:
    """A file descriptor shared by the members of one archive, read with pread (thread-safe).

    For a compressed tar this is an unnamed temporary file holding the members'
    uncompressed bytes: it has no name on disk and disappears when the last member
    is released.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class _Window(io.RawIOBase):
    """A read-only, seekable view of `size` bytes at `start` of a :class:`_Shared` file."""

    def __init__(self, src: _Shared, start: int, size: int, name: str) -> None:
        self._src, self._start, self._size, self._pos = src, start, size, 0
        self.name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self._size - self._pos)
        if n <= 0:
            return 0
        view = memoryview(b).cast("B")[:n]
        got = os.preadv(self._src.fd, [view], self._start + self._pos)
        self._pos += got
        return got

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


def _window(src: _Shared, start: int, size: int, name: str) -> IO[bytes]:
    return io.BufferedReader(_Window(src, start, size, name), 1 << 16)


def _tar_source(path: Path) -> _Shared:
    return _Shared(os.open(path, os.O_RDONLY))


def open_tar(path: Path, selector: str = "") -> list[Member]:
    """Members of a tar archive, streamed from the file.

    A compressed tar is inflated once, in one sequential pass, into an unnamed
    temporary file (not into memory); members are windows into it.
    """
    try:
        tf = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError) as err:
        raise ReadError(f"{path}: not a readable tar archive ({err})") from err
    compressed = not path.name.lower().endswith(".tar")
    spool = tempfile.TemporaryFile() if compressed else None  # noqa: SIM115 - kept by _Shared
    src = _Shared(os.dup(spool.fileno())) if spool is not None else _tar_source(path)
    members: list[Member] = []
    names: list[str] = []
    try:
        with tf:
            for info in tf:
                if not info.isfile():  # FIFOs, devices, links and folders are never opened
                    continue
                names.append(info.name)
                if not _selected(info.name, selector) or _hidden(info.name):
                    continue
                start = info.offset_data
                if spool is not None:
                    start = spool.tell()
                    f = tf.extractfile(info)
                    if f is not None:
                        shutil.copyfileobj(f, spool, 1 << 20)
                name = f"{path}?{info.name}"
                members.append(
                    Member(
                        name,
                        None,
                        functools.partial(_window, src, start, info.size, name),
                        info.size,
                    )
                )
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise ReadError(f"{path}: the tar archive is damaged or truncated ({err})") from err
    finally:
        if spool is not None:
            spool.close()  # the duplicated descriptor in `src` keeps the data
    members.sort(key=lambda m: m.name)
    return _check(members, path, selector, names)


def _safe_parts(dicomdir: Path, parts: list[str]) -> None:
    """ReadError when a ReferencedFileID leaves the DICOMDIR's folder."""
    rel = "\\".join(parts)
    for part in parts:
        bad = (
            part in ("..", ".", "")
            or "/" in part
            or "\\" in part
            or ":" in part
            or PurePosixPath(part).is_absolute()
        )
        if bad:
            raise ReadError(
                f"{dicomdir}: ReferencedFileID {rel!r} points outside the DICOMDIR's folder "
                f"(component {part!r}); refused. Read the files directly instead"
            )


def open_dicomdir(path: Path, selector: str = "") -> list[Member]:
    """The files a DICOMDIR references (all records, or those whose path starts with `selector`)."""
    import pydicom

    try:
        ds = pydicom.dcmread(path)
    except Exception as err:  # pydicom raises several types for a bad DICOMDIR
        raise ReadError(f"{path}: not a readable DICOMDIR ({err})") from err
    root = path.parent
    members: list[Member] = []
    names: list[str] = []
    for rec in ds.get("DirectoryRecordSequence", []):
        ref = rec.get("ReferencedFileID")
        if not ref:
            continue
        parts = [str(p) for p in ([ref] if isinstance(ref, str) else list(ref))]
        _safe_parts(path, parts)
        rel = "/".join(parts)
        names.append(rel)
        if not _selected(rel, selector):
            continue
        p = root.joinpath(*parts)
        if not p.is_file():
            # media written on case-insensitive file systems
            alt = root.joinpath(*[str(x).lower() for x in parts])
            if not alt.is_file():
                logger.warning("%s: referenced file %s is missing", path, rel)
                continue
            p = alt
        members.append(Member(str(p), p))
    return _check(members, path, selector, names)


ARCHIVE_OPENERS.update(
    {
        ".zip": open_zip,
        ".tar": open_tar,
        ".tar.gz": open_tar,
        ".tgz": open_tar,
        ".tar.bz2": open_tar,
        ".tar.xz": open_tar,
        "dicomdir": open_dicomdir,
    }
)
