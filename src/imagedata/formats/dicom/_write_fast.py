"""Fast encoding of many images that share most of their attributes.

``pydicom.dcmwrite`` encodes every element of every file.  The images of a series
share almost all of them, so :class:`SharedEncoder` encodes the shared elements
once and per image only the few that differ (UIDs, position, tag values), then
writes preamble, File Meta Information, the merged elements in tag order and
the pixel data straight from the array.  Only for Explicit VR Little Endian,
uncompressed; the output is byte-identical to ``pydicom.dcmwrite(path, ds,
enforce_file_format=True)`` of the same dataset (tested).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr, write_data_element

_PREAMBLE = b"\x00" * 128 + b"DICM"


def _encode(elem: DataElement, encodings: str | list[str] | None) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_data_element(fp, elem, encodings)
    return fp.getvalue()


def _encode_uid(group: int, element: int, uid: str) -> bytes:
    value = uid.encode("ascii")
    if len(value) % 2:
        value += b"\x00"
    return struct.pack("<HH2sH", group, element, b"UI", len(value)) + value


class SharedEncoder:
    """Encode the images of one series: shared elements once, the rest per image.

    Parameters
    ----------
    base
        The shared attributes (no pixel data).  Ambiguous VRs are resolved in place.
    meta
        File Meta Information shared by all images (MediaStorageSOPInstanceUID is
        set per image).
    """

    def __init__(self, base: Dataset, meta: FileMetaDataset) -> None:
        correct_ambiguous_vr(base, True)
        self.encodings = base._character_set
        self.shared: dict[int, bytes] = {
            int(elem.tag): _encode(elem, self.encodings) for elem in base
        }
        parts = []
        for elem in meta:
            if elem.tag not in (0x00020000, 0x00020003):
                parts.append((int(elem.tag), _encode(elem, None)))
        self.meta_before = b"".join(b for t, b in parts if t < 0x00020003)
        self.meta_after = b"".join(b for t, b in parts if t > 0x00020003)

    def file_meta(self, sop_instance_uid: str) -> bytes:
        """Encoded File Meta Information group with its group length."""
        body = self.meta_before + _encode_uid(0x0002, 0x0003, sop_instance_uid) + self.meta_after
        return struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(body)) + body

    def elements(self, per_image: Dataset) -> bytes:
        """All elements except pixel data, shared and per image, in tag order."""
        merged = dict(self.shared)
        for elem in per_image:
            merged[int(elem.tag)] = _encode(elem, self.encodings)
        return b"".join(merged[t] for t in sorted(merged))

    def write(
        self,
        fp: IO[bytes],
        sop_instance_uid: str,
        per_image: Dataset,
        pixels: npt.NDArray[np.integer],
    ) -> None:
        """Write one complete Part 10 file to the open binary file `fp`."""
        data = np.ascontiguousarray(pixels)
        vr = b"OB" if data.itemsize == 1 else b"OW"
        pad = data.nbytes % 2
        fp.write(_PREAMBLE)
        fp.write(self.file_meta(sop_instance_uid))
        fp.write(self.elements(per_image))
        fp.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, vr, 0, data.nbytes + pad))
        fp.write(data.data)
        if pad:
            fp.write(b"\x00")

    def write_file(
        self,
        path: Path,
        sop_instance_uid: str,
        per_image: Dataset,
        pixels: npt.NDArray[np.integer],
    ) -> None:
        """Write one complete Part 10 file at `path`."""
        with open(path, "wb") as fp:
            self.write(fp, sop_instance_uid, per_image, pixels)


__all__ = ["SharedEncoder"]
