"""Where input files come from: files, folders, glob patterns, lists (and archives).

:func:`expand` turns any input into a flat list of :class:`Member`: one per file,
with a display ``name`` (used in error messages) and a way to open it.  Folders
are searched recursively; hidden files are skipped.  Archive support (zip, tar)
plugs in through :data:`ARCHIVE_OPENERS`.
"""

from __future__ import annotations

import glob
import io
import logging
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from imagedata.errors import NoDataError, ReadError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Member:
    """One input file: on disk (``path``) or inside an archive (``opener``)."""

    name: str
    path: Path | None = None
    opener: Callable[[], IO[bytes]] | None = None
    #: Size in bytes when the archive knows it (None: ask the file).
    size: int | None = None

    def open(self) -> IO[bytes]:
        """Open the file for binary reading."""
        if self.path is not None:
            return open(self.path, "rb")
        if self.opener is None:
            raise NoDataError(f"{self.name}: no way to open this member")
        return self.opener()

    def read_bytes(self) -> bytes:
        """Return the whole content."""
        if self.path is not None:
            return self.path.read_bytes()
        with self.open() as f:
            return f.read()

    def head(self, n: int) -> bytes:
        """Return the first `n` bytes (fewer for a short file; none if it cannot be opened).

        Raises
        ------
        ReadError
            If the member of an archive is damaged (the archive names it).
        """
        try:
            with self.open() as f:
                return f.read(n)
        except ReadError:
            raise
        except OSError:
            return b""

    def fileobj(self) -> IO[bytes]:
        """A seekable file object (an archive member's own stream when it can seek)."""
        if self.path is not None:
            return open(self.path, "rb")
        f = self.open()
        if f.seekable():
            return f
        with f:
            return io.BytesIO(f.read())


#: Functions that expand an archive path (with an optional "?member/" selector) into members.
#: Keyed by lower-case file name suffix; filled in by :mod:`imagedata.archives.archive`.
ARCHIVE_OPENERS: dict[str, Callable[[Path, str], list[Member]]] = {}


def _archive_opener(path: str) -> tuple[Callable[[Path, str], list[Member]], Path, str] | None:
    base, _, selector = path.partition("?")
    low = base.lower()
    _load_archive_support()
    for suffix, opener in ARCHIVE_OPENERS.items():
        if low.endswith(suffix) and Path(base).is_file():
            return opener, Path(base), selector
    return None


def _load_archive_support() -> None:
    if not ARCHIVE_OPENERS:
        import imagedata.archives.archive  # noqa: F401


def _regular(p: Path) -> bool:
    """True for a regular file (following symlinks); FIFOs, devices and sockets are never opened."""
    try:
        return stat.S_ISREG(p.stat().st_mode)
    except OSError:
        return False


def _walk(folder: Path) -> list[Member]:
    """The regular files under `folder`, each folder's files (by name) before its subfolders.

    One ``scandir`` per folder: a regular file is known from its directory entry without
    a ``stat`` call (symbolic links are followed, as ``stat`` would).  Linked folders are
    not entered (as :func:`os.walk`); hidden files and folders are skipped.
    """
    out: list[Member] = []
    _walk_into(os.fspath(folder), out)
    return out


def _walk_into(root: str, out: list[Member]) -> None:
    try:
        with os.scandir(root) as it:
            entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as err:  # as os.walk: an unreadable folder is passed over
        logger.info("%s: cannot list this folder (%s); skipped", root, err)
        return
    subfolders = []
    here = root == "."  # Path(".") / name is "name", not "./name"
    for entry in entries:
        path = entry.name if here else entry.path
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            if not entry.is_symlink():  # os.walk does not follow linked folders either
                subfolders.append(path)
            continue
        try:
            regular = entry.is_file()
        except OSError:
            regular = False
        if regular:
            out.append(Member(path, Path(path)))
        else:
            logger.info(
                "%s: not a regular file (FIFO, device, socket or broken link); skipped", path
            )
    for sub in subfolders:
        _walk_into(sub, out)


def _expand_one(source: str | os.PathLike[str]) -> list[Member]:
    text = os.fspath(source)
    arch = _archive_opener(text)
    if arch is not None:
        opener, base, selector = arch
        return opener(base, selector)
    p = Path(text)
    if p.is_dir():
        return _walk(p)
    if _regular(p):
        return [Member(str(p), p)]
    if p.exists():
        raise NoDataError(f"{text}: not a regular file (a FIFO, device or socket); not read")
    if glob.has_magic(text):
        out: list[Member] = []
        for match in sorted(glob.glob(text, recursive=True)):
            if Path(match).is_dir() or _regular(Path(match)):
                out.extend(_expand_one(match))
            else:
                logger.info("%s: not a regular file (FIFO, device or socket); skipped", match)
        return out
    raise NoDataError(f"{text}: no such file or folder; check the path")


def expand(source: Any) -> list[Member]:
    """Expand a path, glob pattern, archive, or list of them into file members.

    Raises
    ------
    NoDataError
        If a path does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.dcm").write_bytes(b"x")
    >>> [m.name.endswith("a.dcm") for m in expand(d)]
    [True]
    """
    if isinstance(source, (str, os.PathLike)):
        return _expand_one(source)
    if isinstance(source, Sequence):
        out: list[Member] = []
        for s in source:
            out.extend(_expand_one(s))
        return out
    raise TypeError(f"expected a path or a list of paths, got {type(source).__name__}")
