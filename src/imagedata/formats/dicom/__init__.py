"""DICOM format plugin: reading (:mod:`.reader`) and writing (:mod:`.writer`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from imagedata.archives import Member
    from imagedata.header import Header, SeriesLike


class DicomFormat:
    """The 'dicom' format: folders, archives or lists of DICOM files."""

    name = "dicom"
    extensions: tuple[str, ...] = (".dcm", ".ima", ".dicom")
    extra: str | None = None
    #: Takes ``progress=`` (see :mod:`imagedata._progress`); formats without it never receive it.
    reports_progress = True

    def sniff(self, name: str, head: bytes) -> bool:
        """DICOM Part 10 files have 'DICM' at byte 128; raw datasets start with group 0008."""
        if len(head) >= 132 and head[128:132] == b"DICM":
            return True
        return len(head) >= 8 and head[0:2] in (b"\x08\x00", b"\x02\x00") and head[3:4] == b"\x00"

    def read(
        self, members: Sequence[Member], *, input_order: str, headers_only: bool, **options: Any
    ) -> tuple[np.ndarray, Header]:
        """Read DICOM members into one sorted array; see :func:`.reader.read_series`."""
        from imagedata.formats.dicom.reader import read_series

        return read_series(members, input_order=input_order, headers_only=headers_only, **options)

    def write(self, si: SeriesLike, destination: Path, **options: Any) -> list[str]:
        """Write `si` as DICOM; see :func:`.writer.write_series`."""
        from imagedata.formats.dicom.writer import write_series

        return write_series(si, destination, **options)


plugin = DicomFormat()
