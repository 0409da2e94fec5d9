"""A minimal DICOM header parser: the fast path of the header pass.

pydicom builds a full :class:`~pydicom.dataset.Dataset` for every file, which costs
more than reading a small image.  For the common case (Part 10 file, little-endian
transfer syntax, single frame) this module walks the element headers of the file's
first bytes with :mod:`struct`, decodes only the attributes the reader needs
(:data:`._scan.FAST_KEYWORDS` and the pixel description) and stops at the pixel data.
Anything unusual (big endian, deflate, enhanced multi-frame, malformed data) returns
:data:`FALLBACK` so the caller uses pydicom instead.
"""

from __future__ import annotations

import struct
from typing import Any

from pydicom.datadict import tag_for_keyword

#: Returned when this parser cannot handle the file (use pydicom).
FALLBACK = "fallback"
#: Returned for DICOM files without pixel data (SR, RTSTRUCT, ...).
NO_IMAGE = "no image"
#: Returned when the complete file ends inside an element.
TRUNCATED = "truncated"

_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ", b"UC", b"UR", b"UT", b"UN"}
_PIXEL = 0x7FE00010
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_IMPLICIT = "1.2.840.10008.1.2"
_NOT_HANDLED = {"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}  # big endian, deflate
#: Text attributes decoded by the fast path (absent here means absent in the file).
FAST_KEYWORDS = [
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "RescaleSlope",
    "RescaleIntercept",
    "SOPInstanceUID",
    "SOPClassUID",
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "FrameOfReferenceUID",
    "SeriesNumber",
    "InstanceNumber",
    "ImageType",
    "AcquisitionDateTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "ContentDate",
    "ContentTime",
    "SeriesDate",
    "StudyDate",
    "TemporalPositionIdentifier",
    "AcquisitionNumber",
    "TriggerTime",
    "EchoTime",
    "InversionTime",
    "FlipAngle",
    "EchoNumbers",
    "Manufacturer",
    "SeriesDescription",
    "SpacingBetweenSlices",
    "SliceThickness",
    "PhotometricInterpretation",
    "StackID",
    "NumberOfFrames",
    "PatientID",
    "Modality",
    "FrameType",
    "ImagerPixelSpacing",
    "NominalScannedPixelSpacing",
]
#: Binary attributes decoded by the fast path.
_FD = ("DiffusionBValue", "DiffusionGradientOrientation")
#: Unsigned short attributes decoded from binary (both the fast path and pydicom path).
US_KEYWORDS = (
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "PlanarConfiguration",
)
#: Tags that need the full dataset (enhanced multi-frame functional groups, float pixels).
_ABORT = {0x52009229, 0x52009230, 0x7FE00008, 0x7FE00009}

_u16 = struct.Struct("<H").unpack_from
_u32 = struct.Struct("<I").unpack_from
_tag = struct.Struct("<HH").unpack_from
_explicit_header = struct.Struct("<HH2sH").unpack_from
_implicit_header = struct.Struct("<HHI").unpack_from


class _Short(Exception):
    """The data ended inside the header: read more of the file."""


class _End(_Short):
    """The data ended exactly between two elements."""


class _Bad(Exception):
    """Structure this parser does not handle."""


def _wanted() -> dict[int, tuple[str, str]]:
    out = {tag_for_keyword(kw): (kw, "text") for kw in FAST_KEYWORDS}
    out.update({tag_for_keyword(kw): (kw, "US") for kw in US_KEYWORDS})
    out.update({tag_for_keyword(kw): (kw, "FD") for kw in _FD})
    return {t: v for t, v in out.items() if t is not None}


#: Every keyword the fast path knows: absent from its values means absent from the file.
KNOWN = frozenset(FAST_KEYWORDS) | frozenset(US_KEYWORDS) | frozenset(_FD)
_WANTED = _wanted()


def _element(data: bytes, pos: int, explicit: bool) -> tuple[int, bytes | None, int, int]:
    """(tag, VR or None, header length, value length) of the element at `pos`."""
    if pos + 8 > len(data):
        raise _End if pos == len(data) else _Short
    if explicit:
        group, elem, vr, short = _explicit_header(data, pos)
        if group != 0xFFFE:  # items and delimiters have no VR
            if vr in _LONG_VRS:
                if pos + 12 > len(data):
                    raise _Short
                return group << 16 | elem, vr, 12, _u32(data, pos + 8)[0]
            if not vr.isalpha():
                raise _Bad
            return group << 16 | elem, vr, 8, short
    group, elem, length = _implicit_header(data, pos)
    return group << 16 | elem, None, 8, length


def _skip_sequence(data: bytes, pos: int, explicit: bool) -> int:
    """Position after an undefined-length sequence whose items start at `pos`."""
    while True:
        tag, _, hdr, length = _element(data, pos, False)
        pos += hdr
        if tag == _SEQ_END:
            return pos
        if tag != _ITEM:
            raise _Bad
        pos = _skip_dataset(data, pos, explicit) if length == _UNDEFINED else pos + length


def _skip_dataset(data: bytes, pos: int, explicit: bool) -> int:
    """Position after an undefined-length item (its elements start at `pos`)."""
    while True:
        tag, vr, hdr, length = _element(data, pos, explicit)
        pos += hdr
        if tag == _ITEM_END:
            return pos
        if length == _UNDEFINED:
            pos = _skip_sequence(data, pos, explicit and vr != b"UN")
        else:
            pos += length


def _meta(data: bytes) -> tuple[str, int]:
    """Transfer syntax and the position after the file meta group."""
    pos, ts = 132, ""
    while pos + 8 <= len(data) and _tag(data, pos)[0] == 0x0002:
        tag, _, hdr, length = _element(data, pos, True)
        if tag == 0x00020010:
            ts = data[pos + hdr : pos + hdr + length].decode("latin-1").strip("\0 ")
        pos += hdr + length
    return ts, pos


def parse(data: bytes, complete: bool = False) -> tuple[dict[str, Any], str, int, int] | str:
    """Parse the header in `data` (the first bytes of a Part 10 file, or all with `complete`).

    Returns ``(values, transfer syntax UID, pixel value offset, pixel value length)``
    (length -1 for encapsulated data), or :data:`FALLBACK`, :data:`NO_IMAGE` or
    :data:`TRUNCATED` (only when `complete`).  Raises :class:`EOFError` when `data`
    ends inside the header and is not `complete`.
    """
    if data[128:132] != b"DICM":
        return FALLBACK
    wanted = _WANTED
    try:
        ts, pos = _meta(data)
        if not ts or ts in _NOT_HANDLED:
            return FALLBACK
        explicit = ts != _IMPLICIT
        values: dict[str, Any] = {}
        while True:  # ends at the pixel data, or with _Short at the end of `data`
            tag, vr, hdr, length = _element(data, pos, explicit)
            if tag == _PIXEL:
                if "Rows" not in values:
                    return NO_IMAGE
                return values, ts, pos + hdr, -1 if length == _UNDEFINED else length
            if tag in _ABORT:
                return FALLBACK
            pos += hdr
            if length == _UNDEFINED:
                pos = _skip_sequence(data, pos, explicit and vr != b"UN")
                continue
            hit = wanted.get(tag)
            if hit is not None:
                if pos + length > len(data):
                    raise _Short
                raw = data[pos : pos + length]
                kw, kind = hit
                if kind == "US":
                    values[kw] = _u16(raw)[0] if length == 2 else None
                elif kind == "FD":
                    n = length // 8
                    fd = struct.unpack_from(f"<{n}d", raw) if n else ()
                    values[kw] = fd[0] if n == 1 else list(fd)
                else:
                    text = raw.decode("latin-1").strip(" \0")
                    parts = text.split("\\")
                    values[kw] = parts if len(parts) > 1 else text
            pos += length
    except _Short as err:
        if complete:
            return NO_IMAGE if isinstance(err, _End) else TRUNCATED
        raise EOFError("header continues beyond the data read") from err
    except (_Bad, struct.error, UnicodeDecodeError):
        return FALLBACK
