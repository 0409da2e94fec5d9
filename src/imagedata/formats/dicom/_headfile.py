"""A file on disk read from its start in as few system calls as possible (the header pass).

:class:`HeadFile` reads with :func:`os.read` straight into one bytes object and takes
the file size from the open file: the header pass of a folder of small files spends
as much time opening and reading as parsing.
"""

from __future__ import annotations

import os
from typing import Any

#: Key of the file size in the header values, where the header pass learnt it.
FILE_SIZE = "_file_size"
_O_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)


class HeadFile:
    """A file on disk read from its start by :func:`os.read`, its size from ``fstat``.

    The header pass reads each file once, in one call for most headers: a buffered file
    object would add a buffer and a copy, and the size would cost another ``stat``.
    """

    def __init__(self, path: Any) -> None:
        self.fd = os.open(path, _O_READ)
        self.pos = 0
        try:
            self.size = os.fstat(self.fd).st_size
        except OSError:
            os.close(self.fd)
            raise

    def read(self, n: int) -> bytes:
        """Up to `n` bytes (fewer only at the end of the file)."""
        parts = []
        while n > 0:
            data = os.read(self.fd, n)
            if not data:
                break
            parts.append(data)
            n -= len(data)
            self.pos += len(data)
            if self.pos >= self.size:  # the end: no read to learn it
                break
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def __enter__(self) -> HeadFile:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)
