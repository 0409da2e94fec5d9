"""Fast, standard gzip compression for ``.nii.gz`` (and any other gzip output).

gzip is the slowest stage of writing a compressed NIfTI file.  This module
compresses with the fastest backend installed, in this order:

1. ``isal`` (python-isal, Intel ISA-L; levels 0-3),
2. ``zlib_ng`` (zlib-ng; levels 1-9),
3. the standard library's ``zlib`` (levels 1-9).

The first two are optional (``pip install 'imagedata[fastgzip]'``).  Every
backend writes a standard single-member gzip stream (RFC 1952) that gzip, nibabel,
FSL and dcm2niix read; only the speed and the size differ.

A *compression level* is given on the zlib scale, 1 (fastest) to 9 (smallest);
for ISA-L it maps to 1-3 (1-3 -> 1, 4-6 -> 2, 7-9 -> 3).  ``None`` chooses each
backend's fast default: ISA-L 1, zlib-ng 1, zlib 1 (nibabel's default is zlib 1).
The environment variable ``IMAGEDATA_GZIP`` (``isal``, ``zlib_ng``, ``zlib``) picks a
backend.  :class:`GzipWriter` compresses a stream as it is written (the NIfTI writer
hands it to nibabel), :func:`compress` a buffer at once.

Examples
--------
>>> import gzip
>>> data = bytes(range(256)) * 100
>>> gzip.decompress(compress(data, 6)) == data
True
"""

from __future__ import annotations

import importlib
import io
import logging
import os
from types import ModuleType
from typing import Any, BinaryIO

logger = logging.getLogger(__name__)

#: Backends in order of preference (module name, its gzip-compatible module).
BACKENDS = ("isal", "zlib_ng", "zlib")


#: wbits for a gzip header and trailer with the zlib-style one-shot ``compress``.
GZIP_WBITS = 31


def _load(name: str) -> ModuleType | None:
    """The backend's zlib-compatible module (one-shot ``compress(data, level, wbits)``)."""
    try:
        if name == "isal":
            return importlib.import_module("isal.isal_zlib")
        if name == "zlib_ng":
            return importlib.import_module("zlib_ng.zlib_ng")
    except ImportError:
        return None
    return importlib.import_module("zlib")


def backend(prefer: str | None = None) -> str:
    """Name of the backend :func:`compress` uses ('isal', 'zlib_ng' or 'zlib').

    `prefer` (or the environment variable ``IMAGEDATA_GZIP``) picks one when it is
    installed.
    """
    wanted = prefer or os.environ.get("IMAGEDATA_GZIP")
    if wanted:
        if wanted not in BACKENDS:
            raise ValueError(f"unknown gzip backend {wanted!r}; choose one of {BACKENDS}")
        if _load(wanted) is not None:
            return wanted
        logger.warning("gzip backend %s is not installed; using the next available", wanted)
    for name in BACKENDS:
        if _load(name) is not None:
            return name
    return "zlib"  # pragma: no cover - zlib is always there


def check_level(level: int | None) -> int | None:
    """Return `level` if it is None or 1..9; raise ValueError otherwise."""
    if level is None:
        return None
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 9:
        raise ValueError(f"compression level {level!r} is not 1 (fastest) .. 9 (smallest)")
    return level


def native_level(name: str, level: int | None) -> int:
    """The backend's own level for zlib-scale `level` (None: the fast default).

    Examples
    --------
    >>> native_level("isal", 9), native_level("isal", 1), native_level("zlib", None)
    (3, 1, 1)
    """
    level = check_level(level)
    if name == "isal":
        return 1 if level is None else (level + 2) // 3
    return 1 if level is None else level


def compress(
    data: bytes | memoryview, level: int | None = None, prefer: str | None = None
) -> bytes:
    """Compress `data` into one standard gzip member with the fastest backend.

    Parameters
    ----------
    data
        The uncompressed bytes.
    level
        1 (fastest) .. 9 (smallest), or None for the backend's fast default.
    prefer
        A backend name to use when installed (see :func:`backend`).
    """
    name = backend(prefer)
    module = _load(name)
    assert module is not None
    # the zlib-style call writes header, deflate stream and trailer into one buffer (the
    # gzip-module wrappers concatenate them: a copy of the whole output)
    out: bytes = module.compress(data, native_level(name, level), wbits=GZIP_WBITS)
    return out


class GzipWriter(io.IOBase):
    """A write-only file object that gzips what is written into `path` as it comes.

    `path` may also be a binary file open for writing (at its start); it is closed with
    this one.  One standard gzip member; for writers (such as nibabel's) that write a file in
    chunks, so neither the whole uncompressed nor the whole compressed file is held in
    memory.  It cannot seek (:meth:`tell` counts the uncompressed bytes).  Use as a
    context manager; the file is complete when it is closed.

    Examples
    --------
    >>> import gzip, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.gz"
    >>> with GzipWriter(p, 6) as fp:
    ...     _ = fp.write(b"abc" * 10)
    >>> gzip.decompress(p.read_bytes())
    b'abcabcabcabcabcabcabcabcabcabc'
    """

    def __init__(self, path: str | os.PathLike[str] | BinaryIO, level: int | None = None) -> None:
        super().__init__()
        name = backend()
        module = _load(name)
        assert module is not None
        self._z = module.compressobj(native_level(name, level), module.DEFLATED, GZIP_WBITS)
        if isinstance(path, (str, os.PathLike)):
            path = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._fp: BinaryIO = path
        self._pos = 0

    def write(self, data: Any) -> int:
        """Compress and write `data` (bytes-like); return its length (uncompressed)."""
        view = memoryview(data)
        self._fp.write(self._z.compress(view))
        self._pos += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        """Uncompressed bytes written so far."""
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move forward only (zeros are written); backwards is not possible in a stream."""
        target = self._pos + offset if whence == os.SEEK_CUR else offset
        if whence not in (os.SEEK_SET, os.SEEK_CUR) or target < self._pos:
            raise io.UnsupportedOperation("a gzip stream being written cannot seek backwards")
        if target > self._pos:
            self.write(bytes(target - self._pos))
        return self._pos

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        """Finish the gzip stream and close the file."""
        if not self.closed:
            try:
                self._fp.write(self._z.flush())
            finally:
                self._fp.close()
                super().close()


def decompress(data: bytes) -> bytes:
    """Decompress a gzip stream (with the fast backend when there is one)."""
    module = _load(backend())
    assert module is not None
    out: bytes = module.decompress(data, wbits=GZIP_WBITS)
    return out


__all__ = [
    "BACKENDS",
    "GzipWriter",
    "backend",
    "check_level",
    "compress",
    "decompress",
    "native_level",
]
