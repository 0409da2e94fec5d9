"""SHA-256 checksums of a series' source files, for the manifest.

A series' checksum is the SHA-256 of the SHA-256 digests of its source files, in the
order of its source list (:func:`series_digest`).  Per-file digests let the process
that runs the batch compute them while it would otherwise wait (:class:`Prehash`, while
the worker processes start); a task computes those it was not given
(:func:`file_digest`).

Examples
--------
>>> import hashlib
>>> a, b = hashlib.sha256(b"one").digest(), hashlib.sha256(b"two").digest()
>>> series_digest([a, b]) == hashlib.sha256(a + b).hexdigest()
True
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from imagedata._catalog_scan import folder_files, is_archive
from imagedata.archives import Member

#: Bytes read at a time.
BLOCK = 1 << 20


def file_digest(member: Member) -> bytes:
    """SHA-256 of the bytes of one file or archive member."""
    h = hashlib.sha256()
    with member.open() as fp:
        for block in iter(lambda: fp.read(BLOCK), b""):
            h.update(block)
    return h.digest()


def series_digest(digests: Sequence[bytes]) -> str:
    """The checksum of a series: SHA-256 over its files' SHA-256 digests, in order."""
    return hashlib.sha256(b"".join(digests)).hexdigest()


def _files(sources: Sequence[str | os.PathLike[str]]) -> Iterator[Path]:
    """The plain files (not archives) under `sources`, in the catalogue's walk order."""
    for s in sources:
        p = Path(s).resolve()
        paths = folder_files(p) if p.is_dir() else [p] if p.is_file() else []
        yield from (f for f in paths if not is_archive(f.name))


class Prehash:
    """Digests of the plain files under the sources, one file a call.

    Called as the catalogue's ``idle`` callback: while the batch process waits for the
    worker processes to start, it computes the files' digests in walk order.  :attr:`digests` holds
    (size, mtime_ns, digest) by path; a task trusts a digest only when its source file
    has that size and modification time.
    """

    def __init__(self, sources: Sequence[str | os.PathLike[str]]) -> None:
        self._todo = _files(sources)
        self.digests: dict[str, tuple[int, int, bytes]] = {}

    def __call__(self) -> bool:
        """Digest the next file; False when there is none left."""
        path = next(self._todo, None)
        if path is None:
            return False
        try:
            st = path.stat()
            digest = file_digest(Member(str(path), path))
        except OSError:  # gone or unreadable: the task will say so
            return True
        if path.stat().st_mtime_ns == st.st_mtime_ns:  # not changed while read
            self.digests[str(path)] = (st.st_size, st.st_mtime_ns, digest)
        return True
