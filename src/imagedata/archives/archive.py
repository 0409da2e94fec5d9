"""Archive inputs: zip, tar (plain or compressed) and DICOMDIR.

Each opener expands an archive into :class:`~imagedata.archives.Member` objects that
read their bytes lazily and thread-safely.  A selector after ``?`` picks one member
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

import functools
import logging
import tarfile
import threading
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

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
    return any(part.startswith(".") or part == "__MACOSX" for part in PurePosixPath(name).parts)


def _check(members: list[Member], path: Path, selector: str, names: list[str]) -> list[Member]:
    if not members:
        where = f"{path}?{selector}" if selector else str(path)
        sample = ", ".join(names[:5]) or "nothing"
        raise NoDataError(
            f"{where}: no files match in the archive (it holds {sample}); check the selector"
        )
    return members


class _ZipSource:
    """One open ZipFile shared by members; reads are serialised with a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as err:
            raise ReadError(f"{path}: not a readable zip archive ({err})") from err

    def read(self, name: str) -> bytes:
        with self.lock:
            try:
                return self.zf.read(name)
            except (zipfile.BadZipFile, OSError, EOFError) as err:
                raise ReadError(
                    f"{self.path}?{name}: cannot read from the zip archive ({err})"
                ) from err


def _bytes_opener(read: functools.partial[bytes]) -> IO[bytes]:
    import io

    return io.BytesIO(read())


def open_zip(path: Path, selector: str = "") -> list[Member]:
    """Members of a zip archive (optionally only those under `selector`)."""
    src = _ZipSource(path)
    names = [i.filename for i in src.zf.infolist() if not i.is_dir()]
    members = [
        Member(
            f"{path}?{n}", None, functools.partial(_bytes_opener, functools.partial(src.read, n))
        )
        for n in sorted(names)
        if _selected(n, selector) and not _hidden(n)
    ]
    return _check(members, path, selector, names)


def _read_at(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


def open_tar(path: Path, selector: str = "") -> list[Member]:
    """Members of a tar archive; compressed tars are read in one sequential pass."""
    try:
        tf = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError) as err:
        raise ReadError(f"{path}: not a readable tar archive ({err})") from err
    members: list[Member] = []
    names: list[str] = []
    compressed = not path.name.lower().endswith(".tar")
    with tf:
        for info in tf:
            if not info.isfile():
                continue
            names.append(info.name)
            if not _selected(info.name, selector) or _hidden(info.name):
                continue
            if compressed:
                f = tf.extractfile(info)
                data = f.read() if f is not None else b""
                reader = functools.partial(bytes, data)
            else:
                reader = functools.partial(_read_at, path, info.offset_data, info.size)
            members.append(
                Member(f"{path}?{info.name}", None, functools.partial(_bytes_opener, reader))
            )
    members.sort(key=lambda m: m.name)
    return _check(members, path, selector, names)


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
        parts = [ref] if isinstance(ref, str) else list(ref)
        rel = "/".join(str(p) for p in parts)
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
