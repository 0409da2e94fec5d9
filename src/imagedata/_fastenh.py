"""Functional groups of enhanced multi-frame files read straight from the bytes.

pydicom builds a :class:`~pydicom.dataset.Dataset` for every item of the Per-frame
Functional Groups Sequence (thousands for a few hundred frames), which costs far more
than the image.  :func:`functional_groups` walks the sequence with :mod:`struct` for the
fast header pass (:func:`._fastscan.parse`) and keeps only what
:func:`imagedata.formats.dicom._enhanced.frames_of` reads: each functional-group item
becomes a plain dict of the wanted macro sequences (:data:`SEQUENCES`), each a list of
dict items holding the wanted values (:data:`VALUES`) decoded as pydicom decodes them
(binary numbers as int/float, several values as a list; text as str).

Anything this walker does not handle (implicit VR, a wanted attribute with another VR
than the dictionary's, text that is not ASCII, a length that does not add up, an
unexpected SOP class) raises :class:`._fastscan._Bad`, so the file is read by pydicom
as before: never a different result.
"""

from __future__ import annotations

import functools
import struct
from typing import Any

from pydicom import config
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.valuerep import DSfloat

from imagedata._fastscan import (
    _ITEM,
    _ITEM_END,
    _SEQ_END,
    _UNDEFINED,
    _Bad,
    _element,
    _Short,
    _skip_sequence,
)

SHARED = 0x52009229
PER_FRAME = 0x52009230
#: Keys of the parsed groups in the header values.
SHARED_KEY, PER_FRAME_KEY = "_shared_groups", "_per_frame_groups"
#: Byte range (start, end) of the Per-frame Functional Groups Sequence element.
PER_FRAME_SPAN = "_per_frame_span"

#: SOP classes whose functional groups are read here (others: pydicom).
SOP_CLASSES = frozenset(
    [
        "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image Storage
        "1.2.840.10008.5.1.4.1.1.4.3",  # Enhanced MR Color Image Storage
        "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy Converted Enhanced MR Image Storage
        "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
        "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT Image Storage
        "1.2.840.10008.5.1.4.1.1.130",  # Enhanced PET Image Storage
        "1.2.840.10008.5.1.4.1.1.128.1",  # Legacy Converted Enhanced PET Image Storage
    ]
)

#: Sequences whose items are kept (functional-group macros and their nested sequences).
SEQUENCES = (
    "PlanePositionSequence",
    "PlaneOrientationSequence",
    "PixelMeasuresSequence",
    "FrameContentSequence",
    "MRDiffusionSequence",
    "DiffusionGradientDirectionSequence",
    "MREchoSequence",
    "CardiacSynchronizationSequence",
    "MRTimingAndRelatedParametersSequence",
    "CTExposureSequence",
    "MRModifierSequence",
    "MRImageFrameTypeSequence",
    "CTImageFrameTypeSequence",
    "PixelValueTransformationSequence",
)
#: Values decoded inside the kept sequences' items (DS as text, converted by the reader).
VALUES = (
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "FrameAcquisitionDateTime",
    "TemporalPositionIndex",
    "StackID",
    "InStackPositionNumber",
    "DimensionIndexValues",
    "FrameAcquisitionNumber",
    "DiffusionBValue",
    "DiffusionGradientOrientation",
    "EffectiveEchoTime",
    "NominalCardiacTriggerDelayTime",
    "FlipAngle",
    "RepetitionTime",
    "InversionTimes",
    "FrameType",
    "ComplexImageComponent",
    "RescaleSlope",
    "RescaleIntercept",
)
#: DS values kept as numbers as pydicom gives them (the reader passes them on unconverted).
DS_NUMBERS = frozenset(["FlipAngle", "RepetitionTime"])


def _table(keywords: tuple[str, ...]) -> dict[int, tuple[str, bytes]]:
    out = {}
    for kw in keywords:
        tag = tag_for_keyword(kw)
        assert tag is not None, kw
        vr = dictionary_VR(tag).encode()
        out[tag] = (kw, b"DSnumber" if kw in DS_NUMBERS else vr)
    return out


_SEQ_TAGS = _table(SEQUENCES)
_VALUE_TAGS = _table(VALUES)
#: struct code and size of the binary VRs decoded here.
_BINARY = {b"FD": ("d", 8), b"FL": ("f", 4), b"UL": ("I", 4), b"US": ("H", 2), b"SL": ("i", 4)}
#: Text VRs whose values pydicom strips one by one (others: the whole text, then split).
_STRIP_EACH = frozenset([b"SH", b"LO"])


def functional_groups(
    data: bytes, pos: int, tag: int, explicit: bool, values: dict[str, Any]
) -> int:
    """Parse the functional groups sequence element at `pos` into `values`; its end.

    The items go to ``values[SHARED_KEY]`` or ``values[PER_FRAME_KEY]``; the byte range
    of the per-frame sequence to ``values[PER_FRAME_SPAN]``.

    Raises
    ------
    _Bad
        For anything not handled here (the caller falls back to pydicom).
    _Short
        When `data` ends inside the sequence.
    """
    if not explicit or values.get("SOPClassUID") not in SOP_CLASSES:
        raise _Bad
    _, vr, hdr, length = _element(data, pos, True)
    if vr != b"SQ":
        raise _Bad
    items, end = _items(data, pos + hdr, length)
    if tag == SHARED:
        values[SHARED_KEY] = items
    else:
        values[PER_FRAME_KEY] = items
        values[PER_FRAME_SPAN] = (pos, end)
    return end


def _items(data: bytes, pos: int, length: int) -> tuple[list[dict[str, Any]], int]:
    """The items of a sequence whose value starts at `pos`, and the position after it."""
    end = None if length == _UNDEFINED else pos + length
    if end is not None and end > len(data):
        raise _Short
    items: list[dict[str, Any]] = []
    while end is None or pos < end:
        tag, _, hdr, item_length = _element(data, pos, False)
        pos += hdr
        if tag == _SEQ_END and end is None:
            return items, pos
        if tag != _ITEM:
            raise _Bad
        item, pos = _dataset(data, pos, item_length)
        items.append(item)
    if pos != end:
        raise _Bad
    return items, pos


def _dataset(data: bytes, pos: int, length: int) -> tuple[dict[str, Any], int]:
    """The wanted contents of an item whose elements start at `pos`, and its end."""
    end = None if length == _UNDEFINED else pos + length
    out: dict[str, Any] = {}
    while end is None or pos < end:
        tag, vr, hdr, size = _element(data, pos, True)
        pos += hdr
        if tag == _ITEM_END and end is None:
            return out, pos
        if vr is None:  # an item or delimiter where an element belongs
            raise _Bad
        seq = _SEQ_TAGS.get(tag)
        if seq is not None:
            if vr != b"SQ" or seq[0] in out:
                raise _Bad
            out[seq[0]], pos = _items(data, pos, size)
            continue
        if size == _UNDEFINED:
            if vr not in (b"SQ", b"UN"):
                raise _Bad
            pos = _skip_sequence(data, pos, vr == b"SQ")
            continue
        stop = pos + size
        if stop > len(data):
            raise _Short
        want = _VALUE_TAGS.get(tag)
        if want is not None:
            if vr != want[1][:2]:
                raise _Bad
            out[want[0]] = decode(data[pos:stop], want[1])
        pos = stop
    if pos != end:
        raise _Bad
    return out, pos


def decode(raw: bytes, vr: bytes) -> Any:
    """A value as pydicom gives it: None when empty (text: ''), a list for several values.

    Examples
    --------
    >>> decode(b"ORIGINAL\\\\PRIMARY ", b"CS"), decode(b"\\x01\\x00\\x00\\x00", b"UL")
    (['ORIGINAL', 'PRIMARY'], 1)
    """
    binary = _BINARY.get(vr)
    if binary is not None:
        code, size = binary
        n, rest = divmod(len(raw), size)
        if rest:
            raise _Bad
        if not n:
            return None
        got = struct.unpack_from(f"<{n}{code}", raw)
        return got[0] if n == 1 else list(got)
    if vr in (b"DS", b"IS", b"DSnumber"):
        if not raw.strip(b" \0"):
            return None
        parts = _ascii(raw).strip(" \0").split("\\")
        if vr == b"DSnumber":
            numbers = [_number(p) for p in parts]
            return numbers[0] if len(numbers) == 1 else numbers
    elif vr in _STRIP_EACH:
        parts = [p.rstrip("\0 ") for p in _ascii(raw).split("\\")]
    elif vr in (b"CS", b"DT"):
        parts = _ascii(raw).rstrip(" \0").split("\\")
    else:
        raise _Bad
    return parts[0] if len(parts) == 1 else parts


@functools.lru_cache(maxsize=4096)
def _number(text: str) -> Any:
    """A DS value as pydicom makes it (shared: the values are immutable)."""
    if config.use_DS_decimal:
        raise _Bad
    try:
        return DSfloat(text)
    except ValueError as err:  # pydicom's reading validation decides
        raise _Bad from err


def _ascii(raw: bytes) -> str:
    """`raw` as text; bytes beyond ASCII depend on the character set: pydicom's task."""
    if not raw.isascii():
        raise _Bad
    return raw.decode("ascii")
