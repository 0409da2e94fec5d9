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
unexpected SOP class) raises :class:`Unhandled`, so the file is read by pydicom as
before: never a different result.

The walk of the sequence runs in C where the extension :mod:`imagedata._cwalk` was built
(its ``groups``, see ``_cwalk_fastenh.c``: the same structures, the same exceptions;
:data:`ACCELERATED`), else in Python (:func:`_items`, the reference).  This module
imports nothing else from imagedata.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from types import ModuleType
from typing import Any

from pydicom import config
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.valuerep import EXPLICIT_VR_LENGTH_16, EXPLICIT_VR_LENGTH_32, DSfloat


class Unhandled(Exception):
    """Structure not handled here: the caller reads the file with pydicom."""


class Short(Exception):
    """The data end inside the functional groups: read more of the file."""


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


_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
#: VRs with a 4-byte length in explicit VR (pydicom's table: SV and UV too), and the others.
_LONG_VRS = frozenset(str(v).encode() for v in EXPLICIT_VR_LENGTH_32)
_SHORT_VRS = frozenset(str(v).encode() for v in EXPLICIT_VR_LENGTH_16)
_head = struct.Struct("<HH2sH").unpack_from  # explicit VR element: group, element, VR, length
_item_head = struct.Struct("<HHI").unpack_from  # item, delimiter or implicit VR element
_u32 = struct.Struct("<I").unpack_from


def functional_groups(
    data: bytes,
    pos: int,
    tag: int,
    explicit: bool,
    values: dict[str, Any],
    accelerated: bool = True,
) -> int:
    """Parse the functional groups sequence element at `pos` into `values`; its end.

    The items go to ``values[SHARED_KEY]`` or ``values[PER_FRAME_KEY]``; the byte range
    of the per-frame sequence to ``values[PER_FRAME_SPAN]``.  The sequence is walked in
    C where it was built and `accelerated` (the default), else in Python.

    Raises
    ------
    Unhandled
        For anything not handled here (the caller falls back to pydicom).
    Short
        When `data` ends inside the sequence.
    """
    if not explicit or values.get("SOPClassUID") not in SOP_CLASSES:
        raise Unhandled
    if data[pos + 4 : pos + 6] != b"SQ":
        raise Unhandled
    walk = _items_c if accelerated and _items_c is not None else _items
    try:
        items, end = walk(data, pos + 12, _u32(data, pos + 8)[0])
    except struct.error as err:  # an element header beyond the end of `data`
        raise Short from err
    if tag == SHARED:
        values[SHARED_KEY] = items
    else:
        values[PER_FRAME_KEY] = items
        values[PER_FRAME_SPAN] = (pos, end)
    return end


def _items(data: bytes, pos: int, length: int) -> tuple[list[dict[str, Any]], int]:
    """The items of a kept sequence whose value starts at `pos`, and the position after it."""
    n = len(data)
    end = None if length == _UNDEFINED else pos + length
    if end is not None and end > n:
        raise Short
    items: list[dict[str, Any]] = []
    while end is None or pos < end:
        group, elem, item_length = _item_head(data, pos)
        pos += 8
        tag = group << 16 | elem
        if tag == _SEQ_END and end is None:
            return items, pos
        if tag != _ITEM:
            raise Unhandled
        item, pos = _dataset(data, pos, item_length)
        items.append(item)
    if pos != end:
        raise Unhandled
    return items, pos


def _dataset(data: bytes, pos: int, length: int) -> tuple[dict[str, Any], int]:
    """The wanted contents of an item whose elements start at `pos`, and its end."""
    n = len(data)
    end = None if length == _UNDEFINED else pos + length
    if end is not None and end > n:
        raise Short
    out: dict[str, Any] = {}
    while end is None or pos < end:
        group, elem, vr, size = _head(data, pos)
        if group == 0xFFFE:
            if elem == 0xE00D and end is None:
                return out, pos + 8
            raise Unhandled
        if vr in _LONG_VRS:
            size = _u32(data, pos + 8)[0]
            pos += 12
        elif vr in _SHORT_VRS:
            pos += 8
        else:
            raise Unhandled
        tag = group << 16 | elem
        seq = _SEQ_TAGS.get(tag)
        if seq is not None:
            if vr != b"SQ" or seq[0] in out:
                raise Unhandled
            out[seq[0]], pos = _items(data, pos, size)
        elif size == _UNDEFINED:
            if vr not in (b"SQ", b"UN"):
                raise Unhandled
            pos = _skip_items(data, pos, vr == b"SQ")
        else:
            want = _VALUE_TAGS.get(tag)
            if want is not None:
                if vr != want[1][:2]:
                    raise Unhandled
                if pos + size > n:
                    raise Short
                out[want[0]] = decode(data[pos : pos + size], want[1])
            pos += size
    if pos != end:
        raise Unhandled
    return out, pos


def _skip_items(data: bytes, pos: int, explicit: bool) -> int:
    """Position after an undefined-length sequence whose items start at `pos`."""
    while True:
        group, elem, length = _item_head(data, pos)
        pos += 8
        tag = group << 16 | elem
        if tag == _SEQ_END:
            return pos
        if tag != _ITEM:
            raise Unhandled
        pos = _skip_item(data, pos, explicit) if length == _UNDEFINED else pos + length


def _skip_item(data: bytes, pos: int, explicit: bool) -> int:
    """Position after an undefined-length item whose elements start at `pos`."""
    while True:
        if explicit:
            group, elem, vr, size = _head(data, pos)
            if group != 0xFFFE and vr in _LONG_VRS:
                size = _u32(data, pos + 8)[0]
                pos += 4
            elif group != 0xFFFE and vr not in _SHORT_VRS:
                raise Unhandled
        else:
            group, elem, size = _item_head(data, pos)
            vr = b"UN"
        pos += 8
        if group == 0xFFFE:
            if elem == 0xE00D:
                return pos
            raise Unhandled
        if size == _UNDEFINED:
            pos = _skip_items(data, pos, explicit and vr != b"UN")
        else:
            pos += size


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
            raise Unhandled
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
        raise Unhandled
    return parts[0] if len(parts) == 1 else parts


@functools.lru_cache(maxsize=4096)
def _number(text: str) -> Any:
    """A DS value as pydicom makes it (shared: the values are immutable)."""
    if config.use_DS_decimal:
        raise Unhandled
    try:
        return DSfloat(text)
    except ValueError as err:  # pydicom's reading validation decides
        raise Unhandled from err


def _load_c() -> ModuleType | None:
    """The C walks of :func:`_items` and :func:`_raw_elements`, configured (None where
    the extension was not built)."""
    try:
        from imagedata import _cwalk
    except ImportError:  # pragma: no cover - depends on the install
        return None
    if not hasattr(_cwalk, "groups_configure"):  # pragma: no cover - a stale build
        return None  # (tests/formats/dicom/test_cwalk_fastenh.py fails on it)
    _cwalk.groups_configure(
        [(tag, kw) for tag, (kw, _) in _SEQ_TAGS.items()],
        [(tag, kw, vr) for tag, (kw, vr) in _VALUE_TAGS.items()],
        _number,
        Short,
        Unhandled,
    )
    _cwalk.raw_configure(BaseTag, RawDataElement)
    return _cwalk


def _raw_elements_c(
    data: bytes, pos: int, cut: tuple[int, int] | None, meta: bool
) -> tuple[dict[Any, Any], int]:
    """:func:`_raw_elements` in C."""
    assert _cwalk is not None
    start, end = cut if cut is not None else (-1, -1)
    return _cwalk.raw_elements(data, pos, start, end, meta)


def _ascii(raw: bytes) -> str:
    """`raw` as text; bytes beyond ASCII depend on the character set: pydicom's task."""
    if not raw.isascii():
        raise Unhandled
    return raw.decode("ascii")


_cwalk = _load_c()
_items_c: Callable[[bytes, int, int], tuple[list[dict[str, Any]], int]] | None = (
    None if _cwalk is None else _cwalk.groups
)
#: True when the functional groups and raw elements are walked in C (:mod:`imagedata._cwalk`).
ACCELERATED = _cwalk is not None

_PIXEL_TAGS = frozenset([0x7FE00010, 0x7FE00008, 0x7FE00009])


def raw_dataset(data: bytes, cut: tuple[int, int] | None, source: Any) -> FileDataset:
    """The dataset in `data` up to the pixel data, without the byte range `cut`.

    As :func:`pydicom.dcmread` with ``stop_before_pixels`` gives it, but every element,
    sequences too, stays a :class:`~pydicom.dataelem.RawDataElement` that pydicom
    decodes on first use: a template copies them without decoding.  `source` is what
    :func:`pydicom.dcmread` would have been given (the dataset's ``filename``).

    The elements are walked in C where the extension was built (:data:`ACCELERATED`).

    Raises
    ------
    Unhandled
        For what pydicom treats specially while reading (an undefined length other than
        a sequence's, an unknown VR, a truncated value): read the file with pydicom.
        :class:`Short` or :class:`struct.error` where the data end inside a sequence or
        an element header (the same way out).
    """
    walk = _raw_elements_c if ACCELERATED else _raw_elements
    meta, pos = walk(data, 132, None, meta=True)
    elements, _ = walk(data, pos, cut, meta=False)
    ds = FileDataset(source, elements, data[:128], FileMetaDataset(meta), False, True)
    ds.set_original_encoding(False, True, ds._character_set)
    return ds


def _raw_elements(
    data: bytes, pos: int, cut: tuple[int, int] | None, meta: bool
) -> tuple[dict[Any, Any], int]:
    """Explicit VR little endian elements from `pos`: the file meta group, or the rest."""
    out: dict[Any, Any] = {}
    n = len(data)
    while pos + 8 <= n:
        if cut is not None and pos == cut[0]:
            pos = cut[1]
            continue
        group, elem, vr, size = _head(data, pos)
        tag = group << 16 | elem
        if (group != 2) if meta else (tag in _PIXEL_TAGS):
            break
        if vr in _LONG_VRS:
            size = _u32(data, pos + 8)[0]
            start = pos + 12
        elif vr in _SHORT_VRS:
            start = pos + 8
        else:
            raise Unhandled
        if size == _UNDEFINED:
            if vr != b"SQ":
                raise Unhandled
            pos = _skip_items(data, start, True)
            value = data[start : pos - 8]  # without the sequence delimiter
        else:
            pos = start + size
            if pos > n:
                raise Unhandled
            value = data[start:pos]
        key = BaseTag(tag)
        out[key] = RawDataElement(key, vr.decode(), size, value, start, False, True)
    return out, pos
