"""The DICOM template as a binary dataset: explicit VR little endian, without bulk data.

NIfTI stores the template of a series (the DICOM attributes all its images share) as
a NIfTI extension with code 2 (see :mod:`._headerio`).  :func:`template_to_dicom_bytes`
encodes it in one pass over the dataset, without building an intermediate dataset:

- elements still raw as read from an explicit VR little endian file are copied byte
  for byte (so are text elements read as big endian, and standard elements read with
  implicit VR, with the VR pydicom would give them);
- raw sequences of such files are re-encoded by a walk over their bytes (items with
  defined lengths, long binary values and the pixel group dropped, as for the top
  level), without decoding them with pydicom;
- numbers read as explicit VR big endian (US, SS, UL, SL, FD) are swapped value by
  value, as pydicom's decoding and little endian encoding do;
- private elements read with implicit VR get the VR pydicom would give them (its
  private dictionary, by way of the block's private creator); their raw values are
  copied where pydicom's decoding and encoding give the same bytes back (binary
  values, whole numbers of integer or FD values, one ASCII text value with at most
  its padding space); the others are decoded by pydicom;
- decoded elements of simple VRs (numbers, UI, CS, DS/IS, short text in ASCII) are
  encoded here; any other element by pydicom's ``write_data_element``.

Anything this cannot judge with certainty (an unusual item, a VR pydicom may replace,
an ambiguous VR, a changed character set) goes to the reference encoder,
:func:`reference_dicom_bytes` (pydicom decodes what it must; :func:`strip_bulk`, then
an element-by-element encode), for that sequence or dataset.  Both give the same bytes:
``tests/formats/test_template.py`` checks it on real scanner series and pydicom's test
files.

Binary values longer than :data:`BULK_LIMIT` bytes and the pixel data group are left
out; lengths are defined throughout; retired group lengths are dropped.
"""

from __future__ import annotations

import copy
import functools
import logging
import operator
import re
import struct
from collections.abc import Iterable, MutableMapping
from io import BytesIO
from typing import Any

from pydicom import hooks
from pydicom.charset import default_encoding
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import _LUT_DESCRIPTOR_TAGS, BaseTag
from pydicom.uid import UID
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, IS, VR, DSfloat

logger = logging.getLogger(__name__)

#: Binary DICOM values longer than this many bytes are bulk data and left out.
BULK_LIMIT = 1024
#: The two-letter VRs of DICOM (PS3.5 6.2; pydicom also names ambiguous ones 'US or SS').
_KNOWN_VRS = frozenset(str(v) for v in VR if len(str(v)) == 2)
_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN", "OB or OW", "US or OW"})
#: Group of (Float, Double Float) Pixel Data and their encapsulation: never stored.
_PIXEL_GROUP = 0x7FE0
#: VRs whose raw (explicit VR little endian) elements are copied without decoding; SQ and
#: UN are decoded (items to strip, a VR pydicom may replace).
_RAW_COPY_VRS = _KNOWN_VRS - {"SQ", "UN"}
#: VRs whose values are the same bytes in either byte order (text, and OB).
_BYTE_ORDER_FREE_VRS = _KNOWN_VRS - {
    "AT", "FD", "FL", "OD", "OF", "OL", "OV", "OW", "SL", "SQ", "SS", "SV", "UL", "UN", "US", "UV"
}  # fmt: skip
_LONG_VRS = frozenset(str(v) for v in EXPLICIT_VR_LENGTH_32)
#: The known VRs by their two bytes in a file.
_VR_NAMES = {vr.encode("ascii"): vr for vr in _KNOWN_VRS}
#: (FFFE,E000): a sequence item, little endian.
_ITEM = b"\xfe\xff\x00\xe0"
_ITEM_TAG = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_SPECIFIC_CHARACTER_SET = BaseTag(0x00080005)
_HEAD = struct.Struct("<HH2sH")
_LONG_HEAD = struct.Struct("<HH2sHI")
_TAG_LENGTH = struct.Struct("<HHI")
_UINT32 = struct.Struct("<I")
#: struct codes of the number VRs encoded here.
_NUMBER_FORMATS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d"}
#: Types of one decoded DS/IS value (pydicom's, and numbers set in Python).
_ONE_NUMBER_STRING = frozenset({DSfloat, IS, float, int})
#: One value of each of those VRs.
_ONE_NUMBER = {vr: struct.Struct("<" + code).pack for vr, code in _NUMBER_FORMATS.items()}
#: VRs pydicom writes as ASCII strings (its ``write_string``), with their padding.
_STRING_PADDING = {"UI": "\0", "CS": " ", "AE": " ", "AS": " "}
#: Text VRs pydicom writes in the dataset's character set (its ``write_text``).
_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})


class _NotHere(Exception):
    """A byte walk met something the reference encoder must judge."""


# --- the reference encoder ---------------------------------------------------------------


def strip_bulk(ds: Dataset, limit: int = BULK_LIMIT) -> Dataset:
    """Return `ds` without pixel data and long binary values (recursively).

    The result is a new Dataset that shares the remaining elements with `ds` (it is
    only encoded, never modified).  Elements not decoded yet (as read from a file) are
    judged by their raw tag, VR and length, without decoding them; those read as
    explicit VR little endian stay raw, and the result is marked as encoded that way,
    so that they are copied byte for byte when it is encoded.  A standard element read
    with implicit VR little endian is kept raw too, with the VR pydicom would give it
    (its dictionary VR), and so is a text (or OB) element read as explicit VR big endian.
    Raw elements of other encodings (big endian numbers, private implicit VR),
    of VR SQ or UN (whose VR pydicom may replace), ambiguous VRs and deferred values are
    decoded.

    Examples
    --------
    >>> ds = Dataset(); ds.PatientID = "X"; ds.PixelData = b"\\0" * 4096
    >>> list(strip_bulk(ds).keys()) == [ds["PatientID"].tag]
    True
    """
    kept: dict[BaseTag, DataElement | RawDataElement] = {}
    ambiguous = False
    elements = ds._dict  # pydicom's element store: no conversion, no tag parsing
    for tag in sorted(elements, key=int):
        if tag >> 16 == _PIXEL_GROUP:
            continue
        elem = elements[tag]
        if isinstance(elem, RawDataElement):
            elem = _normalised(tag, elem)
            if elem.VR in _RAW_COPY_VRS and _copies_raw(elem):
                if elem.VR in _BINARY_VRS and len(elem.value or b"") > limit:
                    continue
                kept[tag] = elem
                continue
            elem = ds[tag]  # decoded: the VR from the dictionary, sequence items
        if elem.VR in _BINARY_VRS and len(elem.value or b"") > limit:
            continue
        if elem.VR == "SQ":
            new = copy.copy(elem)
            new.value = [strip_bulk(item, limit) for item in elem.value]
            elem = new
        elif elem.VR not in _KNOWN_VRS:
            ambiguous = True  # 'US or SS': pydicom resolves it when it encodes everything
        kept[tag] = elem
    out = Dataset(kept, parent_encoding=ds._parent_encoding)
    # the raw text is in the character set `ds` was read with (its own when made here)
    charset = ds.original_character_set or ds._character_set
    if not ambiguous:  # every raw element kept is explicit VR little endian
        out.set_original_encoding(False, True, charset)
    else:
        out.set_original_encoding(None, None, charset)
    return out


def _normalised(tag: int, elem: RawDataElement) -> RawDataElement:
    """`elem` as explicit VR little endian where its bytes are the same in that encoding."""
    if elem.VR is None and elem.is_little_endian:  # implicit VR: as pydicom reads it
        return elem._replace(VR=_dictionary_vr(tag), is_implicit_VR=False)
    if not elem.is_little_endian and elem.VR in _BYTE_ORDER_FREE_VRS:
        return elem._replace(is_little_endian=True)  # text: the same bytes
    return elem


@functools.lru_cache(maxsize=4096)
def _dictionary_vr(tag: int) -> str | None:
    """The VR pydicom gives a standard element read with implicit VR; None for private ones.

    None (the element is decoded by pydicom) also for tags not in the dictionary.
    """
    if tag >> 16 & 1:
        return None
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return None


def _copies_raw(elem: RawDataElement) -> bool:
    """True for a raw element (of a VR in :data:`_RAW_COPY_VRS`) that can be copied as is."""
    return (
        not elem.is_implicit_VR
        and elem.is_little_endian
        and elem.length != _UNDEFINED
        and (elem.value is not None or elem.length == 0)
    )


def reference_dicom_bytes(ds: Dataset, parent_encoding: Any = default_encoding) -> bytes:
    """The template encoded by way of :func:`strip_bulk` (the encoder before the one pass).

    :func:`template_to_dicom_bytes` gives the same bytes; it uses this for what it does
    not encode itself.
    """
    return _encode(strip_bulk(ds), parent_encoding)


def _encode(ds: Dataset, parent_encoding: Any) -> bytes:
    """`ds` (made by :func:`strip_bulk`) as explicit VR little endian bytes."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_data_element, write_dataset

    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    if ds.original_encoding != (False, True) or ds.original_character_set != ds._character_set:
        write_dataset(fp, ds, parent_encoding)  # decodes and encodes every element
        return fp.getvalue()
    encodings = ds.get("SpecificCharacterSet", parent_encoding)
    elements = ds._dict
    for tag in sorted(elements, key=int):
        if not tag & 0xFFFF and tag >> 16 > 6:
            continue  # retired group length, as pydicom
        elem = elements[tag]
        if isinstance(elem, RawDataElement):
            value = elem.value or b""
            fp.write(_element_head(tag, str(elem.VR), len(value)) + value)
        elif elem.VR == "SQ":
            value = _items(_encode(item, encodings) for item in elem.value)
            fp.write(_element_head(tag, "SQ", len(value)) + value)
        else:
            write_data_element(fp, elem, encodings)
    return bytes(fp.getvalue())


def _items(bodies: Iterable[bytes]) -> bytes:
    return b"".join(_ITEM + _UINT32.pack(len(body)) + body for body in bodies)


def _element_head(tag: int, vr: str, length: int) -> bytes:
    """Tag, VR and length of an explicit VR little endian element."""
    if vr in _LONG_VRS:
        return _LONG_HEAD.pack(tag >> 16, tag & 0xFFFF, vr.encode("ascii"), 0, length)
    if length > 0xFFFF:
        raise ValueError(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {vr} value of {length} bytes")
    return _HEAD.pack(tag >> 16, tag & 0xFFFF, vr.encode("ascii"), length)


# --- the one pass ----------------------------------------------------------------------


def template_to_dicom_bytes(ds: Dataset) -> bytes:
    """Encode the template (without bulk data) as a little endian explicit VR dataset.

    Elements still raw as read from an explicit VR little endian file are copied byte
    for byte, raw sequences of such files re-encoded by a walk over their bytes, the
    others encoded here or by pydicom (a dataset holding an ambiguous VR, or a changed
    character set, entirely by pydicom's :func:`~pydicom.filewriter.write_dataset`).
    Lengths are defined throughout.  The same bytes as :func:`reference_dicom_bytes`.

    Examples
    --------
    >>> ds = Dataset(); ds.PatientID = "X"; ds.Rows = 2; ds.PixelData = b"\\0" * 4096
    >>> template_to_dicom_bytes(ds) == reference_dicom_bytes(ds)
    True
    """
    return _dataset_bytes(ds, default_encoding, BULK_LIMIT)


def _dataset_bytes(ds: Dataset, parent_encoding: Any, limit: int) -> bytes:
    """One dataset (the template or a decoded item), as :func:`reference_dicom_bytes`."""
    charset = ds._character_set
    if (ds.original_character_set or charset) != charset:
        return reference_dicom_bytes(ds, parent_encoding)  # re-encoded by pydicom
    parts: list[bytes] = []
    append = parts.append
    encodings = _specific_character_set(ds, parent_encoding)
    short, long_ = _HEAD.pack, _LONG_HEAD.pack
    for tag, elem in _in_tag_order(ds._dict):
        group = tag >> 16
        if group == _PIXEL_GROUP or (not tag & 0xFFFF and group > 6):
            continue
        if isinstance(elem, RawDataElement):
            vr, value = elem.VR, elem.value
            if (  # the common case, inline: a raw explicit VR little endian element
                vr in _RAW_COPY_VRS
                and value is not None
                and not elem.is_implicit_VR
                and elem.is_little_endian
                and elem.length != _UNDEFINED
            ):
                n = len(value)
                if vr in _LONG_VRS:
                    if vr not in _BINARY_VRS or n <= limit:
                        append(long_(group, tag & 0xFFFF, vr.encode(), 0, n))
                        append(value)
                    continue
                if n <= 0xFFFF:
                    append(short(group, tag & 0xFFFF, vr.encode(), n))
                    append(value)
                    continue
            if group & 1 and elem.VR is None and elem.is_little_endian:  # private, implicit VR
                part = _private_part(ds, tag, elem, limit, encodings)
            else:
                part = _raw_part(tag, elem, limit)
            if part is not None:
                append(part)
                continue
            elem = ds[tag]  # decoded by pydicom, as the reference encoder does
        vr = elem.VR
        if vr in _BINARY_VRS and len(elem.value or b"") > limit:
            continue
        if vr not in _KNOWN_VRS:  # ambiguous: pydicom resolves it, for the whole dataset
            return reference_dicom_bytes(ds, parent_encoding)
        if vr == "SQ":
            body = _items(_dataset_bytes(item, encodings, limit) for item in elem.value)
            append(_element_head(tag, "SQ", len(body)) + body)
        else:
            append(_decoded_part(elem, encodings))
    return b"".join(parts)


def _specific_character_set(ds: Dataset, default: Any) -> Any:
    """``ds.get("SpecificCharacterSet", default)``; a decoded element's value without it."""
    elem = ds._dict.get(_SPECIFIC_CHARACTER_SET)
    if elem is None:
        return default
    if isinstance(elem, DataElement):
        return elem.value  # what Dataset.get returns: ds[tag].value, the same element
    return ds.get("SpecificCharacterSet", default)


def _in_tag_order(elements: MutableMapping[Any, Any]) -> list[tuple[int, Any]]:
    """(tag as int, element) pairs in tag order (usually the order they are stored in).

    The tags are unique, so sorting the pairs compares their tags only (plain ints).
    """
    tags = list(map(operator.index, elements))  # plain ints (pydicom's tags compare in Python)
    pairs = list(zip(tags, elements.values()))
    if tags != sorted(tags):
        pairs.sort()
    return pairs


def _raw_part(tag: int, elem: RawDataElement, limit: int) -> bytes | None:
    """The bytes of a raw element (b"" when left out); None when pydicom must decode it.

    As :func:`_normalised` and :func:`_copies_raw` judge it (without a new tuple).
    """
    vr, implicit, little = elem.VR, elem.is_implicit_VR, elem.is_little_endian
    if vr is None and little:  # implicit VR: as pydicom reads it
        vr, implicit = _dictionary_vr(tag), False
    elif not little and vr in _BYTE_ORDER_FREE_VRS:  # text: the same bytes
        little = True
    if (
        vr in _RAW_COPY_VRS
        and not implicit
        and little
        and elem.length != _UNDEFINED
        and (elem.value is not None or elem.length == 0)
    ):
        value = elem.value or b""
        if vr in _BINARY_VRS and len(value) > limit:
            return b""
        return _element_head(tag, vr, len(value)) + value
    if (
        elem.VR == "SQ"
        and not elem.is_implicit_VR
        and elem.is_little_endian
        and elem.value is not None
    ):
        try:
            body = _walk_sequence(memoryview(elem.value), limit)
        except (_NotHere, struct.error):
            return None
        return _element_head(tag, "SQ", len(body)) + body
    if not little and not implicit and vr in _NUMBER_SIZES:
        return _big_endian_numbers(tag, elem)
    return None


def _big_endian_numbers(tag: int, elem: RawDataElement) -> bytes | None:
    """A raw explicit VR big endian element of US/SS/UL/SL/FD, as pydicom writes it in
    little endian (each value's bytes swapped); None when pydicom must judge it."""
    vr, value = str(elem.VR), elem.value
    size = _NUMBER_SIZES[vr]
    if value is None or len(value) % size or tag in _LUT_DESCRIPTOR_TAGS or not _default_hooks():
        return None
    code = _NUMBER_FORMATS[vr]
    count = len(value) // size
    swapped = struct.pack(f"<{count}{code}", *struct.unpack(f">{count}{code}", value))
    return _element_head(tag, vr, len(swapped)) + swapped


# --- private elements read with implicit VR ---------------------------------------------

#: VRs of private elements whose raw values pydicom writes back unchanged: binary values,
#: and numbers (a whole number of values; not FL, whose NaNs may change through a double).
_PRIVATE_BINARY_VRS = frozenset({"OB", "OW", "UN"})
_NUMBER_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FD": 8}
#: Text VRs pydicom decodes by stripping trailing spaces (and NULs) and pads when it writes.
_PRIVATE_TEXT_VRS = frozenset({"LO", "SH", "CS", "ST", "LT", "UT"})
#: One plain DS or IS value (pydicom keeps its text and writes it back), without padding.
_NUMBER_TEXT = {
    "DS": re.compile(rb"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?"),
    "IS": re.compile(rb"[+-]?\d{1,9}"),
}


def _private_part(
    ds: Dataset, tag: int, elem: RawDataElement, limit: int, encodings: Any
) -> bytes | None:
    """The bytes of a raw private element read with implicit VR; None for pydicom to decode.

    The VR is the one pydicom gives it (``LO`` for a private creator, else its private
    dictionary's entry under the block's private creator, else ``UN``), found by
    pydicom's own function.  The raw value is copied where pydicom's decoding and
    encoding give it back unchanged: binary values (left out above the bulk limit),
    a whole number of US/SS/UL/SL/FD values, ASCII text of one value whose only
    trailing space is the padding, and one plain DS or IS number (with at most that
    space).  Anything else (dates, several values, other padding, hooks replaced by
    the user) goes to pydicom.
    """
    vr = _private_vr(ds, tag)
    value = elem.value
    if vr is None or value is None or elem.length == _UNDEFINED or len(value) % 2:
        return None
    n = len(value)
    if vr in _PRIVATE_BINARY_VRS:
        if n > limit:
            return b""
    elif vr in _NUMBER_SIZES:
        if n % _NUMBER_SIZES[vr]:
            return None  # pydicom raises or makes it UN
    elif vr in _NUMBER_TEXT:
        if len(value) > 16 or not _NUMBER_TEXT[vr].fullmatch(value.removesuffix(b" ")):
            return None
    elif vr not in _PRIVATE_TEXT_VRS or not _text_round_trips(vr, value, encodings):
        return None
    return _element_head(tag, vr, n) + value


def _private_vr(ds: Dataset, tag: int) -> str | None:
    """The VR pydicom gives a private element read with implicit VR; None when unsure."""
    find = getattr(hooks, "_private_vr_for_tag", None)
    if find is None or not _default_hooks() or _in_dictionary(tag):
        return None
    return str(find(ds, BaseTag(tag)))


def _default_hooks() -> bool:
    """True while pydicom decodes raw elements with its own functions (no user hooks)."""
    return (
        hooks.hooks.raw_element_vr is hooks.raw_element_vr
        and hooks.hooks.raw_element_value is hooks.raw_element_value
    )


@functools.lru_cache(maxsize=4096)
def _in_dictionary(tag: int) -> bool:
    """True when pydicom's dictionary holds `tag` (it takes the VR from there first)."""
    try:
        dictionary_VR(tag)
    except KeyError:
        return False
    return True


def _text_round_trips(vr: str, value: bytes, encodings: Any) -> bool:
    """True when pydicom decodes `value` (of text VR `vr`) and writes the same bytes back.

    One ASCII value (no backslash, NUL or escape) in an ASCII character set, with at
    most one trailing space: the value is the text without it, padded with a space
    again when written.
    """
    if not value.isascii() or b"\\" in value or b"\0" in value or b"\x1b" in value:
        return False
    if len(value) - len(value.rstrip(b" ")) > 1:
        return False
    return vr == "CS" or _ascii_charset(encodings)


# --- raw sequences, walked over their bytes ---------------------------------------------


def _walk_sequence(data: memoryview, limit: int) -> bytes:
    """The items of an explicit VR little endian sequence value, re-encoded.

    As pydicom reads them (items up to the end of `data` or a sequence delimiter) and
    the reference encoder writes them.  Raises :class:`_NotHere` on anything else.
    """
    bodies, _end = _sequence_items(data, 0, len(data), limit)
    return _items(bodies)


def _sequence_items(data: memoryview, pos: int, end: int, limit: int) -> tuple[list[bytes], int]:
    """Item bodies from `pos` until `end` or a sequence delimiter; (bodies, position after)."""
    bodies: list[bytes] = []
    while pos < end:
        group, element, length = _TAG_LENGTH.unpack_from(data, pos)
        tag = group << 16 | element
        pos += 8
        if tag == _SEQUENCE_END:
            return bodies, pos
        if tag != _ITEM_TAG:
            raise _NotHere
        if length == _UNDEFINED:
            body, pos = _item_elements(data, pos, len(data), limit, delimited=True)
        else:
            if pos + length > end:
                raise _NotHere
            body, _ = _item_elements(data, pos, pos + length, limit, delimited=False)
            pos += length
        bodies.append(body)
    if pos != end:
        raise _NotHere
    return bodies, pos


def _item_elements(
    data: memoryview, pos: int, end: int, limit: int, *, delimited: bool
) -> tuple[bytes, int]:
    """One item's elements, sorted and stripped as the reference encoder writes them.

    An item already written that way (tags ascending, no retired group length, bulk
    data or pixel group, lengths defined, long VRs' reserved bytes zero, nested
    sequences unchanged by their walk) is its own bytes: copied once, not rebuilt.  In
    an item in tag order with nothing to leave out, only the elements written otherwise
    (a nested sequence re-encoded, reserved bytes) are rebuilt, and the runs between
    them copied as they are.
    """
    spans: list[tuple[int, int, int, bytes | None]] = []  # (tag, start, end, bytes written)
    changed = False  # an element written otherwise than stored
    ordered = True  # tags ascending, no retired group length, nothing left out
    start, last = pos, -1
    head, long_length = _HEAD.unpack_from, _UINT32.unpack_from
    while pos < end:
        first = pos
        group, element, vr_bytes, length = head(data, pos)
        tag = group << 16 | element
        if tag == _ITEM_END:
            if not delimited:
                raise _NotHere
            return _item_body(data, start, first, spans, changed, ordered), pos + 8
        vr = _VR_NAMES.get(vr_bytes)
        if vr is None or vr == "UN" or group == 0xFFFE:
            raise _NotHere  # implicit VR inside, or a VR pydicom may replace (UN)
        if tag <= last or (element == 0 and group > 6):
            ordered = False  # sorted, or the group length dropped, by _joined
        last = tag
        same = True
        if vr in _LONG_VRS:
            same = length == 0  # the reserved bytes, which are written as zero
            (length,) = long_length(data, pos + 8)
            pos += 12
        else:
            pos += 8
        if vr == "SQ" or length == _UNDEFINED:
            value, pos = _item_value(data, pos, end, vr, length, limit)
            n = length if value is None else len(value)
        else:  # a plain value: the stored bytes
            if pos + length > end:
                raise _NotHere
            value, n = None, length
            pos += length
        if group == _PIXEL_GROUP or (vr in _BINARY_VRS and n > limit):
            spans.append((tag, first, pos, b""))  # left out
            ordered = False
        elif same and value is None:
            spans.append((tag, first, pos, None))
        else:
            if value is None:
                value = bytes(data[pos - length : pos])
            spans.append((tag, first, pos, _element_head(tag, vr, n) + value))
            changed = True
    if delimited:
        raise _NotHere  # no item delimiter
    return _item_body(data, start, pos, spans, changed, ordered), pos


def _item_body(
    data: memoryview,
    start: int,
    end: int,
    spans: list[tuple[int, int, int, bytes | None]],
    changed: bool,
    ordered: bool,
) -> bytes:
    """The item's elements (`spans`, from :func:`_item_elements`) as they are written.

    A span's bytes are None when written as stored, ``b""`` when left out.
    """
    if ordered and not changed:
        return bytes(data[start:end])
    if ordered:  # runs of stored bytes between the elements written otherwise
        parts: list[bytes] = []
        run = start
        for _tag, first, after, written in spans:
            if written is not None:
                parts.append(bytes(data[run:first]))
                parts.append(written)
                run = after
        parts.append(bytes(data[run:end]))
        return b"".join(parts)
    kept: dict[int, bytes] = {}
    for tag, first, after, written in spans:
        if written == b"":
            kept.pop(tag, None)
        else:
            kept[tag] = bytes(data[first:after]) if written is None else written
    return _joined(kept)


def _item_value(
    data: memoryview, pos: int, end: int, vr: str, length: int, limit: int
) -> tuple[bytes | None, int]:
    """(the value as written, or None when it is the stored bytes; the position after).

    A sequence is walked: of undefined length, it is written with defined lengths; of
    defined length, as its walk writes it (None when that is the stored bytes).
    """
    if length == _UNDEFINED:
        if vr != "SQ":
            raise _NotHere
        bodies, pos = _sequence_items(data, pos, len(data), limit)
        if pos > end:
            raise _NotHere
        return _items(bodies), pos
    if pos + length > end:
        raise _NotHere
    if vr != "SQ":
        return None, pos + length
    stored = bytes(data[pos : pos + length])
    value = _walk_sequence(memoryview(stored), limit)
    return (None if value == stored else value), pos + length


def _joined(kept: dict[int, bytes]) -> bytes:
    return b"".join(
        kept[tag] for tag in sorted(kept) if tag & 0xFFFF or tag >> 16 <= 6
    )  # retired group lengths dropped


# --- decoded elements --------------------------------------------------------------------


def _decoded_part(elem: DataElement, encodings: Any) -> bytes:
    """A decoded element as pydicom's ``write_data_element`` writes it (explicit VR LE)."""
    value = _simple_value(elem, encodings)
    if value is None or (len(value) > 0xFFFF and elem.VR not in _LONG_VRS):
        return _pydicom_part(elem, encodings)
    return _element_head(elem.tag, elem.VR, len(value)) + value


def _pydicom_part(elem: DataElement, encodings: Any) -> bytes:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_data_element

    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_data_element(fp, elem, encodings)
    return bytes(fp.getvalue())


def _simple_value(elem: DataElement, encodings: Any) -> bytes | None:
    """The encoded value of an element of a simple VR; None for pydicom to encode.

    The rules of pydicom's writers (``write_numbers``, ``write_string``,
    ``write_number_string``, ``write_text``), for the values they take plainly.
    """
    vr = elem.VR
    if vr in _NUMBER_FORMATS:
        return _numbers(elem)
    if vr not in _STRING_PADDING and vr not in _TEXT_VRS and vr not in ("DS", "IS"):
        return None
    value = elem.value
    if type(value) is str or type(value) is UID:  # one value: the same steps, fewer calls
        if not value:
            return b""  # pydicom's is_empty
        if vr in _TEXT_VRS and not _ascii_charset(encodings):
            return None
        return _ascii_padded(value, _STRING_PADDING.get(vr, " "))
    if type(value) in _ONE_NUMBER_STRING and vr in ("DS", "IS"):  # one DS/IS (not empty)
        text = value.original_string if hasattr(value, "original_string") else str(value)
        return _ascii_padded(text, " ")
    if elem.is_empty:
        return b""
    many = isinstance(value, (MultiValue, list, tuple))
    items = list(value) if many else [value]
    if vr in ("DS", "IS"):
        texts = (v.original_string if hasattr(v, "original_string") else str(v) for v in items)
        return _ascii_padded("\\".join(texts), " ")
    if not all(isinstance(v, str) for v in items):
        return None
    if vr in _TEXT_VRS and not _ascii_charset(encodings):
        return None
    return _ascii_padded("\\".join(items), _STRING_PADDING.get(vr, " "))


def _numbers(elem: DataElement) -> bytes | None:
    value = elem.value
    if type(value) is int or type(value) is float:  # one value, as below without a list
        try:
            return _ONE_NUMBER[elem.VR](value)
        except (struct.error, OverflowError):
            return None  # pydicom raises its own error
    if value is None or value == "":
        return b""
    many = hasattr(value, "append")  # as pydicom's write_numbers tells one value from many
    items = list(value) if many else [value]
    if (many and elem.VR == "SS") or not all(type(v) in (int, float) for v in items):
        return None  # LUT descriptors (US first), numpy numbers: pydicom
    try:
        return struct.pack(f"<{len(items)}{_NUMBER_FORMATS[elem.VR]}", *items)
    except (struct.error, OverflowError):
        return None  # pydicom raises its own error


#: First character sets (Python names) in which ASCII text is written as ASCII, unchanged.
_ASCII_SAFE = frozenset({"iso8859", "latin_1", "UTF8", "utf_8", "iso8859_2", "iso8859_15"})


def _ascii_charset(encodings: Any) -> bool:
    """True when text in `encodings` (a SpecificCharacterSet value) starts in an ASCII set."""
    key = encodings if isinstance(encodings, str) else tuple(encodings or ())
    return _first_encoding(key) in _ASCII_SAFE


@functools.lru_cache(maxsize=64)
def _first_encoding(key: str | tuple[str, ...]) -> str:
    from pydicom.charset import convert_encodings

    try:
        names = convert_encodings(list(key) if isinstance(key, tuple) else key)
    except (LookupError, ValueError):
        return ""
    return names[0] if names else ""


def _ascii_padded(text: str, padding: str) -> bytes | None:
    if not text.isascii() or "\x1b" in text:
        return None
    if len(text) % 2:
        text += padding
    return text.encode("ascii")


def template_from_dicom_bytes(data: bytes) -> Dataset:
    """Decode a dataset written by :func:`template_to_dicom_bytes` (or implicit VR)."""
    from pydicom.filereader import read_dataset

    implicit = data[4:6].decode("latin-1") not in _KNOWN_VRS
    ds = read_dataset(BytesIO(data), implicit, True)
    if 0 in ds:  # NUL padding after the last element reads as tag (0000,0000)
        del ds[0]
    return ds


__all__ = [
    "BULK_LIMIT",
    "reference_dicom_bytes",
    "strip_bulk",
    "template_from_dicom_bytes",
    "template_to_dicom_bytes",
]
