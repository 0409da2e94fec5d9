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

Examples
--------
>>> import gzip
>>> data = bytes(range(256)) * 100
>>> gzip.decompress(compress(data, 6)) == data
True
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

logger = logging.getLogger(__name__)

#: Backends in order of preference (module name, its gzip-compatible module).
BACKENDS = ("isal", "zlib_ng", "zlib")


def _load(name: str) -> ModuleType | None:
    try:
        if name == "isal":
            return importlib.import_module("isal.igzip")
        if name == "zlib_ng":
            return importlib.import_module("zlib_ng.gzip_ng")
    except ImportError:
        return None
    return importlib.import_module("gzip")


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
    out: bytes = module.compress(data, native_level(name, level), mtime=0)
    return out


def decompress(data: bytes) -> bytes:
    """Decompress a gzip stream (with the fast backend when there is one)."""
    module = _load(backend())
    assert module is not None
    out: bytes = module.decompress(data)
    return out


__all__ = ["BACKENDS", "backend", "check_level", "compress", "decompress", "native_level"]
