"""A minimal DICOM header parser: the fast path of the header pass.

pydicom builds a full :class:`~pydicom.dataset.Dataset` for every file, which costs
more than reading a small image.  For the common case (Part 10 file, little-endian
transfer syntax, single frame) this module walks the element headers of the file's
first bytes with :mod:`struct`, decodes only the attributes the reader needs
(:data:`._scan.FAST_KEYWORDS` and the pixel description) and stops at the pixel data.
The functional groups of enhanced multi-frame files are read by :mod:`._fastenh`.
Anything unusual (big endian, deflate, float pixel data, malformed data) returns
:data:`FALLBACK` so the caller uses pydicom instead.
"""

from __future__ import annotations

import math
import re
import struct
from types import ModuleType
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.valuerep import EXPLICIT_VR_LENGTH_16

from imagedata._fastenh import Short, Unhandled, functional_groups

#: Returned when this parser cannot handle the file (use pydicom).
FALLBACK = "fallback"
#: Returned for DICOM files without pixel data (SR, RTSTRUCT, ...).
NO_IMAGE = "no image"
#: Returned when the complete file ends inside an element.
TRUNCATED = "truncated"

#: VRs with a 4-byte value length in explicit VR (PS3.5 7.1.2).
_LONG_VRS = {
    b"OB",
    b"OW",
    b"OF",
    b"OD",
    b"OL",
    b"OV",
    b"SQ",
    b"SV",
    b"UC",
    b"UR",
    b"UT",
    b"UN",
    b"UV",
}
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
    "RepetitionTime",
    "ComplexImageComponent",
    "InPlanePhaseEncodingDirection",
    "PatientPosition",
]
#: Binary attributes decoded by the fast path.
_FD = ("DiffusionBValue", "DiffusionGradientOrientation")
#: DS attributes of the image geometry, also decoded to numbers (:func:`numbers_key`).
NUMBERS = (
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "NominalScannedPixelSpacing",
)
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
#: Vendor private attributes decoded by the fast path: (group, creator, element low byte)
#: -> (name, VR).  Values are stored under :func:`private_key`.
PRIVATE: dict[tuple[int, str, int], str] = {
    (0x0019, "SIEMENS MR HEADER", 0x0A): "US",  # NumberOfImagesInMosaic
    (0x0019, "SIEMENS MR HEADER", 0x0C): "IS",  # B_value
    (0x0019, "SIEMENS MR HEADER", 0x0E): "FD",  # DiffusionGradientDirection
    (0x0043, "GEMS_PARM_01", 0x39): "IS",  # slop_int_6..9: b-value first
    (0x0019, "GEMS_ACQU_01", 0xBB): "DS",  # gradient x, y, z
    (0x0019, "GEMS_ACQU_01", 0xBC): "DS",
    (0x0019, "GEMS_ACQU_01", 0xBD): "DS",
    (0x2001, "PHILIPS IMAGING DD 001", 0x03): "FL",  # Diffusion B-Factor
    (0x2001, "PHILIPS IMAGING DD 001", 0x04): "CS",  # Diffusion Direction ('I': isotropic)
    (0x2005, "PHILIPS MR IMAGING DD 001", 0xB0): "FL",  # Diffusion Direction RL
    (0x2005, "PHILIPS MR IMAGING DD 001", 0xB1): "FL",  # AP
    (0x2005, "PHILIPS MR IMAGING DD 001", 0xB2): "FL",  # FH
    (0x2005, "PHILIPS MR IMAGING DD 005", 0x29): "CS",  # ASL label/control
}
_PRIVATE_VRS = frozenset([b"FD", b"FL", b"US", b"DS", b"IS", b"CS", b"LO", b"SH"])
_PRIVATE_GROUPS = frozenset(g for g, _, _ in PRIVATE)


def private_key(group: int, creator: str, element: int) -> str:
    """Key of a private value in the header values: ``'gggg:CREATOR:ee'``.

    Examples
    --------
    >>> private_key(0x2001, "Philips Imaging DD 001", 0x03)
    '2001:PHILIPS IMAGING DD 001:03'
    """
    return f"{group:04X}:{creator.strip().upper()}:{element:02X}"


#: The wanted elements (low byte, values key, VR) of each (group, CREATOR).
_BY_CREATOR: dict[tuple[int, str], list[tuple[int, str, str]]] = {}
for (_group, _creator, _low), _kind in PRIVATE.items():
    _BY_CREATOR.setdefault((_group, _creator), []).append(
        (_low, private_key(_group, _creator, _low), _kind)
    )

#: Attributes left out of the header digest: they differ from image to image in any
#: series (identity, position, display, per-image times and counters).
DIGEST_SKIP: frozenset[int] = frozenset(
    tag
    for tag in map(
        tag_for_keyword,
        (
            "SOPInstanceUID",
            "InstanceNumber",
            "ImagePositionPatient",
            "SliceLocation",
            "ContentTime",
            "ContentDate",
            "AcquisitionTime",
            "AcquisitionDate",
            "AcquisitionDateTime",
            "InstanceCreationTime",
            "InstanceCreationDate",
            "WindowCenter",
            "WindowWidth",
            "WindowCenterWidthExplanation",
            "LargestImagePixelValue",
            "SmallestImagePixelValue",
            "ImageComments",
            "AcquisitionNumber",
            "TemporalPositionIdentifier",
            "TriggerTime",
            "RescaleSlope",
            "RescaleIntercept",
            "InStackPositionNumber",
            "ReferencedImageSequence",
            "SourceImageSequence",
            "IconImageSequence",
            "RequestAttributesSequence",
        ),
    )
    if tag is not None
)

#: :data:`DIGEST_SKIP` and the group lengths (they vary with the values' lengths).
_CUT = DIGEST_SKIP | frozenset(group << 16 for group in range(0, 0x10000, 2))

#: Tags that stop the walk: functional groups (:mod:`._fastenh`, else pydicom), float pixels.
_ABORT = {0x52009229, 0x52009230, 0x7FE00008, 0x7FE00009}
#: Shared and Per-frame Functional Groups Sequences: read by :mod:`._fastenh`.
_GROUPS = {0x52009229, 0x52009230}

_u16 = struct.Struct("<H").unpack_from
_u32 = struct.Struct("<I").unpack_from
_tag = struct.Struct("<HH").unpack_from
_explicit_header = struct.Struct("<HH2sH").unpack_from
_implicit_header = struct.Struct("<HHI").unpack_from


class _Short(Exception):
    """The data ended inside the header: read more of the file (at least `needed` bytes,
    where the walk knows: the end of an element it stepped over, or where one starts)."""

    def __init__(self, needed: int | None = None) -> None:
        super().__init__(needed)
        self.needed = needed


class HeaderContinues(EOFError):
    """:func:`parse`: the header goes on beyond the data; `needed` (or None): the data
    must hold at least that many bytes (the header may need more)."""

    def __init__(self, needed: int | None) -> None:
        super().__init__("header continues beyond the data read")
        self.needed = needed


class _End(_Short):
    """The data ended exactly between two elements."""


class _Bad(Exception):
    """Structure this parser does not handle."""


class _GroupsShort(_Short):
    """The data ended inside the functional groups (:mod:`._fastenh`): read more, or,
    when the data are the whole file, let pydicom tell (a damaged length pydicom may
    read past, or a truncated file)."""


def numbers_key(keyword: str) -> str:
    """Key of a :data:`NUMBERS` attribute's numbers in the header values.

    Its value is ``(floats, decimals)``: the floats of every value (what ``float()``
    gives), and the fewest digits after the decimal point among the values written
    without exponent (-1 when all have one), present only when every value is a plain
    decimal number (see :func:`ds_numbers`).
    """
    return f"_num:{keyword}"


#: One DS value that :func:`ds_numbers` converts: digits with an optional point and
#: exponent, spaces around it (nothing that float() alone would also accept: no
#: underscores, inf, nan, other white space).
_DS_NUMBER = re.compile(rb" *([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))([eE][+-]?[0-9]+)? *")


def ds_numbers(raw: bytes) -> tuple[tuple[float, ...], int] | None:
    """``(floats, decimals)`` of a DS value's bytes, or None (see :func:`numbers_key`).

    None when some value is not a plain decimal number, is empty or is not finite: the
    reader then converts the text as it would without these numbers.

    Examples
    --------
    >>> ds_numbers(b"-1.25\\\\2\\\\3.5e2 "), ds_numbers(b"1\\\\nan"), ds_numbers(b"")
    (((-1.25, 2.0, 350.0), 0), None, None)
    """
    numbers = []
    fewest = -1
    for part in raw.strip(b" \0").split(b"\\"):
        m = _DS_NUMBER.fullmatch(part)
        if m is None or len(part.strip(b" ")) >= 64:
            return None
        value = float(part)
        if not math.isfinite(value):
            return None
        numbers.append(value)
        if m.group(2) is None:
            _, dot, dec = m.group(1).partition(b".")
            decimals = len(dec) if dot else 0
            fewest = decimals if fewest < 0 else min(fewest, decimals)
    return tuple(numbers), fewest


def _wanted() -> dict[int, tuple[str, str]]:
    out = {tag_for_keyword(kw): (kw, "NUM" if kw in NUMBERS else "text") for kw in FAST_KEYWORDS}
    out.update({tag_for_keyword(kw): (kw, "US") for kw in US_KEYWORDS})
    out.update({tag_for_keyword(kw): (kw, "FD") for kw in _FD})
    return {t: v for t, v in out.items() if t is not None}


#: Every keyword the fast path knows: absent from its values means absent from the file.
KNOWN = frozenset(FAST_KEYWORDS) | frozenset(US_KEYWORDS) | frozenset(_FD)
_WANTED = _wanted()


def _load_cwalk() -> ModuleType | None:
    """The C walker, configured; None where it was not built (no compiler at install)."""
    try:
        from imagedata import _cwalk
    except ImportError:  # pragma: no cover - depends on the install
        return None
    code = {"US": 1, "FD": 2, "FL": 3, "NUM": 4}  # anything else is text (0)
    _cwalk.configure(
        [(tag, kw, code.get(kind, 0)) for tag, (kw, kind) in _WANTED.items()],
        list(DIGEST_SKIP),
        list(_PRIVATE_GROUPS),
        {
            creator: [(low, key, code.get(kind, 0)) for low, key, kind in entries]
            for creator, entries in _BY_CREATOR.items()
        },
        list(_ABORT),
    )
    return _cwalk


_cwalk = _load_cwalk()
#: True when the header walk runs in C (:mod:`imagedata._cwalk`), False in pure Python.
ACCELERATED = _cwalk is not None


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


#: SOP classes that hold pixel data besides the "... Image Storage" classes.
_IMAGE_CLASSES = {"Enhanced US Volume Storage", "Parametric Map Storage", "Segmentation Storage"}


def is_image_class(sop_class: Any) -> bool:
    """True when `sop_class` (a UID string) is an image storage SOP class.

    Examples
    --------
    >>> is_image_class("1.2.840.10008.5.1.4.1.1.4"), is_image_class("1.2.840.10008.5.1.4.1.1.88.11")
    (True, False)
    """
    from pydicom.uid import UID

    if not isinstance(sop_class, str) or not sop_class:
        return False
    name = UID(sop_class.strip("\0 ")).name
    return "Image Storage" in name or name in _IMAGE_CLASSES


def looks_like_image(values: dict[str, Any]) -> bool:
    """True when decoded `values` describe an image (Rows, or an image SOP class)."""
    return values.get("Rows") is not None or is_image_class(values.get("SOPClassUID"))


def _meta(data: bytes) -> tuple[str, str, int]:
    """Transfer syntax, MediaStorageSOPClassUID and the position after the file meta group."""
    pos, ts, media = 132, "", ""
    while pos + 8 <= len(data) and _tag(data, pos)[0] == 0x0002:
        tag, _, hdr, length = _element(data, pos, True)
        if tag in (0x00020010, 0x00020002):
            text = data[pos + hdr : pos + hdr + length].decode("latin-1").strip("\0 ")
            ts, media = (text, media) if tag == 0x00020010 else (ts, text)
        pos += hdr + length
    return ts, media, pos


def _meta_c(data: bytes) -> tuple[str, str, int]:
    """:func:`_meta` in C."""
    assert _cwalk is not None
    status, ts, media, pos = _cwalk.meta(data)
    if status:
        raise _C_STATUS[status]
    return ts, media, pos


def _decode(raw: bytes, kind: str) -> Any:
    """A value from its bytes: US, FD or FL binary, else text (a list for several values)."""
    if kind == "US":
        return _u16(raw)[0] if len(raw) == 2 else None
    if kind in ("FD", "FL"):
        size = 8 if kind == "FD" else 4
        n = len(raw) // size
        fd = struct.unpack_from(f"<{n}{'d' if size == 8 else 'f'}", raw) if n else ()
        return fd[0] if n == 1 else list(fd)
    text = raw.decode("latin-1").strip(" \0")
    parts = text.split("\\")
    return parts if len(parts) > 1 else text


def _private(
    data: bytes,
    pos: int,
    end: int,
    tag: int,
    vr: bytes | None,
    private: dict[int, tuple[str, str]],
    values: dict[str, Any],
) -> None:
    """A private creator (adds its wanted tags to `private`) or a wanted private value."""
    if end > len(data):
        raise _Short
    group, elem = tag >> 16, tag & 0xFFFF
    if elem > 0xFF:
        key, kind = private[tag]
        if vr in _PRIVATE_VRS:
            kind = vr.decode()  # the file's VR wins over the table's (UN, OB: the table's)
        values[key] = _decode(data[pos:end], kind)
        return
    if elem < 0x10 or group not in _PRIVATE_GROUPS:
        return
    creator = data[pos:end].decode("latin-1").strip(" \0").upper()
    for low, key, kind in _BY_CREATOR.get((group, creator), ()):
        private[group << 16 | elem << 8 | low] = (key, kind)


def _cut(cuts: list[int], start: int, end: int) -> None:
    """Leave the element at start..end out of the digest."""
    if cuts[-1] == start:  # right after another left-out element: one cut
        cuts[-1] = end
    else:
        cuts += (start, end)


def _sequence(
    data: bytes, start: int, pos: int, tag: int, explicit: bool, vr: bytes | None, cuts: list[int]
) -> int:
    """Skip an undefined-length sequence (cut out of the digest when private or per image)."""
    end = _skip_sequence(data, pos, explicit and vr != b"UN")
    if tag in DIGEST_SKIP or tag & 0x10000:
        _cut(cuts, start, end)
    return end


def _at_pixels(
    data: bytes,
    values: dict[str, Any],
    cuts: list[int],
    ts: str,
    pos: int,
    hdr: int,
    length: int,
) -> tuple[dict[str, Any], str, int, int] | str:
    """The result of :func:`parse` at the pixel data element at `pos`."""
    if "Rows" not in values:  # pixel data without Rows: let pydicom tell
        return FALLBACK
    cuts.append(pos)
    values["_digest"] = _digest(data, cuts)
    return values, ts, pos + hdr, -1 if length == _UNDEFINED else length


def _digest(data: bytes, cuts: list[int]) -> int:
    """Hash of the header bytes in the ranges `cuts` bounds (start, end, start, end...)."""
    if _cwalk is not None:
        return int(_cwalk.digest(data, cuts))
    it = iter(cuts)
    return hash(b"".join(data[a:b] for a, b in zip(it, it)))


def _functional_groups(
    data: bytes, pos: int, tag: int, explicit: bool, values: dict[str, Any], probe: bool
) -> int:
    """Read functional groups with :mod:`._fastenh`; the position after them.

    Raises :class:`_Bad` (use pydicom) for the other :data:`_ABORT` tags, and
    :class:`_GroupsShort` at once with `probe` (see :func:`parse`).
    """
    if tag not in _GROUPS:
        raise _Bad
    if probe:
        raise _GroupsShort
    try:
        return functional_groups(data, pos, tag, explicit, values, _cwalk is not None)
    except Short as err:
        raise _GroupsShort from err
    except Unhandled as err:
        raise _Bad from err


def parse(
    data: bytes, complete: bool = False, probe: bool = False
) -> tuple[dict[str, Any], str, int, int] | str:
    """Parse the header in `data` (the first bytes of a Part 10 file, or all with `complete`).

    Returns ``(values, transfer syntax UID, pixel value offset, pixel value length)``
    (length -1 for encapsulated data), or :data:`FALLBACK`, :data:`NO_IMAGE` or
    :data:`TRUNCATED` (only when `complete`; an image that ends between two elements
    before its pixel data is truncated, not a non-image).  Raises :class:`HeaderContinues`
    (an :class:`EOFError`) when `data` ends inside the header and is not `complete`, and
    with `probe` (`data` are a first read, sized for a classic header) also at the
    functional groups of an enhanced file unless `complete`: they are read on more data,
    not walked in part first.  The element
    walk runs in C where the extension was built (:data:`ACCELERATED`), else in Python,
    with the same results.
    """
    if data[128:132] != b"DICM":
        return FALLBACK
    values: dict[str, Any] = {}
    media = ""
    try:
        ts, media, pos = _meta_c(data) if _cwalk is not None else _meta(data)
        if not ts or ts in _NOT_HANDLED:
            return FALLBACK
        walker = _walk_c if _cwalk is not None else _walk_py
        return walker(data, pos, ts != _IMPLICIT, values, ts, probe and not complete)
    except _Short as err:
        if complete and isinstance(err, _GroupsShort):
            return FALLBACK
        if complete:
            sop = values.get("SOPClassUID")
            ended_cleanly = (
                isinstance(err, _End)
                and sop == media
                and not looks_like_image(values)
                and not is_image_class(media)
            )
            return NO_IMAGE if ended_cleanly else TRUNCATED
        raise HeaderContinues(err.needed) from err
    except (_Bad, struct.error, UnicodeDecodeError):
        return FALLBACK


_Parsed = tuple[dict[str, Any], str, int, int] | str


def _walk_py(
    data: bytes, pos: int, explicit: bool, values: dict[str, Any], ts: str, probe: bool
) -> _Parsed:
    """The element walk in Python (the reference for :mod:`imagedata._cwalk`)."""
    wanted = _WANTED
    private: dict[int, tuple[str, str]] = {}  # wanted private tags of this file
    # boundaries of the byte ranges kept in the digest (a value left out ends one)
    cuts: list[int] = [pos]
    while True:  # ends at the pixel data, or with _Short at the end of `data`
        tag, vr, hdr, length = _element(data, pos, explicit)
        if tag == _PIXEL:
            return _at_pixels(data, values, cuts, ts, pos, hdr, length)
        if tag in _ABORT:
            pos = _functional_groups(data, pos, tag, explicit, values, probe)
            continue
        start = pos
        pos += hdr
        if length == _UNDEFINED:
            pos = _sequence(data, start, pos, tag, explicit, vr, cuts)
            continue
        end = pos + length
        if tag & 0x10000:  # private: out of the digest; a creator, or maybe wanted
            _cut(cuts, start, end)
            if not tag & 0xFF00 or tag in private:
                _private(data, pos, end, tag, vr, private, values)
        else:
            if tag in _CUT:
                _cut(cuts, start, end)
            hit = wanted.get(tag)
            if hit is not None:
                if end > len(data):
                    raise _Short
                values[hit[0]] = _decode(data[pos:end], hit[1])
                if hit[1] == "NUM":
                    numbers = ds_numbers(data[pos:end])
                    if numbers is not None:
                        values[numbers_key(hit[0])] = numbers
        pos = end


_C_STATUS: dict[int, type[Exception]] = {1: _End, 2: _Short, 3: _Bad}


def _joined(cuts: list[int], more: list[int], pos: int) -> list[int]:
    """Digest boundaries of a walk stopped at a kept element, then resumed at `pos`.

    The range open at the stop runs on through `pos` (as in :func:`_walk_py`), unless
    the resumed walk cut an element starting at `pos` (then its first entry moved).

    Examples
    --------
    >>> _joined([10, 20, 30], [90, 95], 90), _joined([10, 20, 30], [99], 90)
    ([10, 20, 30, 95], [10, 20, 30, 90, 99])
    """
    return cuts + more[1:] if more[0] == pos else [*cuts, pos, *more]


def _walk_c(
    data: bytes, pos: int, explicit: bool, values: dict[str, Any], ts: str, probe: bool
) -> _Parsed:
    """The element walk in C (it decodes the wanted values into `values`).

    The C walk stops at the functional groups (an :data:`_ABORT` tag), which
    :func:`_functional_groups` reads; it then goes on after them.
    """
    assert _cwalk is not None
    status, pos, hdr, length, cuts = _cwalk.walk(data, pos, explicit, values)
    while status == 4:
        group, elem = _tag(data, pos)
        pos = _functional_groups(data, pos, group << 16 | elem, explicit, values, probe)
        status, resumed, hdr, length, more = _cwalk.walk(data, pos, explicit, values)
        cuts = _joined(cuts, more, pos)
        pos = resumed
    if status == 0:
        return _at_pixels(data, values, cuts, ts, pos, hdr, length)
    if status in (1, 2):  # the walk got as far as `pos`: at least 8 more bytes are needed
        raise _C_STATUS[status](pos + 8)
    raise _C_STATUS[status]


#: VRs pydicom knows (explicit VR): any other makes :func:`group_elements` give up.
_KNOWN_VRS = _LONG_VRS | frozenset(str(vr).encode() for vr in EXPLICIT_VR_LENGTH_16)
_Elements = dict[int, tuple[str | None, int, int]]


def group_elements(data: bytes, group: int) -> _Elements | None:
    """The top-level elements of `group` in a Part 10 file's header `data`.

    ``{tag: (VR, value start, value end)}`` (VR None in implicit VR files), read from the
    bytes :func:`parse` walked (up to the pixel data): a vendor's private block is found
    without building a dataset.  None where pydicom might read the data set otherwise
    than this walk: anything :func:`parse` would not walk, a VR pydicom does not know,
    an undefined length other than a sequence's, a value past the data, a tag seen
    twice, or functional groups.  Walked in C where the extension was built.
    """
    try:
        ts, _, pos = _meta_c(data) if _cwalk is not None else _meta(data)
    except (_Short, _Bad, struct.error):
        return None
    if not ts or ts in _NOT_HANDLED:
        return None
    explicit = ts != _IMPLICIT
    if _cwalk is not None:
        found: _Elements | None = _cwalk.group_elements(data, pos, explicit, group)
        return found
    return _group_elements_py(data, pos, explicit, group)


def _group_elements_py(data: bytes, pos: int, explicit: bool, group: int) -> _Elements | None:
    """:func:`group_elements` in Python (the reference for :mod:`imagedata._cwalk`)."""
    out: _Elements = {}
    try:
        while True:
            tag, vr, hdr, length = _element(data, pos, explicit)
            if tag >> 16 == 0xFFFE or tag in _ABORT:
                return None
            if tag == _PIXEL:
                return out
            if vr is not None and vr not in _KNOWN_VRS:
                return None
            start = pos + hdr
            if length == _UNDEFINED:
                if (vr is not None and vr != b"SQ") or tag >> 16 == group:
                    return None
                pos = _skip_sequence(data, start, explicit)
                continue
            pos = start + length
            if pos > len(data) or (tag >> 16 == group and tag in out):
                return None
            if tag >> 16 == group:
                out[tag] = (None if vr is None else vr.decode(), start, pos)
    except (_Short, _Bad, struct.error):
        return None
