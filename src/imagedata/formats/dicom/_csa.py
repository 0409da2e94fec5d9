"""Siemens CSA headers (0029,1010 image, 0029,1020 series): a compact parser.

The CSA header is a Siemens private binary structure ("SV10" for CSA2, no magic for
CSA1).  Only what imagedata needs is read: the tag names and their item strings,
converted to numbers where the CSA VR says so.  The layout follows the public
description used by nibabel (``nibabel.nicom.csareader``) and dcm2niix.

The header pass keeps the few items a mosaic needs (:data:`SCAN_ITEMS`), found in the
file's header bytes and read without converting the others (:func:`header_scan_items`,
:func:`parse_items`): splitting a mosaic then needs neither its dataset nor the full
parse (:func:`scan_items` gives the same values either way).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from typing import Any, Protocol

from pydicom.dataset import Dataset

from imagedata._fastscan import group_elements

logger = logging.getLogger(__name__)

_MAX_ITEMS = 1000
_INT_VRS = {"IS", "SL", "SS", "UL", "US"}
_FLOAT_VRS = {"DS", "FL", "FD"}


def _convert(text: str, vr: str) -> Any:
    try:
        if vr in _INT_VRS:
            return int(float(text))
        if vr in _FLOAT_VRS:
            return float(text)
    except (ValueError, OverflowError):  # not a number, or an integer item 'inf'
        return text
    return text


def parse_csa(data: bytes) -> dict[str, list[Any]]:
    """Parse a CSA header into {tag name: [values]}.

    Returns an empty dict (and logs at debug level) for data that is not a CSA header.

    Examples
    --------
    >>> parse_csa(b"not csa")
    {}
    """
    try:
        return _parse(bytes(data))
    except (struct.error, ValueError, UnicodeDecodeError) as err:
        logger.debug("not a readable CSA header: %s", err)
        return {}


_TAG = struct.Struct("<64si4s3i")
_ITEM = struct.Struct("<4i")


def _parse(data: bytes) -> dict[str, list[Any]]:
    csa2 = data[:4] == b"SV10"
    ptr = 8 if csa2 else 0
    ntags, _check = struct.unpack_from("<2I", data, ptr)
    ptr += 8
    if not 0 < ntags <= 128 * 8:
        raise ValueError(f"bad CSA tag count {ntags}")
    out: dict[str, list[Any]] = {}
    first_nitems = 0
    size = len(data)
    tag_at, item_at = _TAG.unpack_from, _ITEM.unpack_from
    for tag_no in range(ntags):
        name_b, vm, vr_b, _syngodt, nitems, _x = tag_at(data, ptr)
        ptr += 84
        name = name_b.split(b"\0", 1)[0].decode("latin-1")
        vr = vr_b.split(b"\0", 1)[0].decode("latin-1")
        if tag_no == 1:
            first_nitems = nitems
        if not 0 <= nitems <= _MAX_ITEMS:
            raise ValueError(f"bad CSA item count {nitems} for {name}")
        items: list[Any] = []
        for _ in range(nitems):
            x0, x1, _x2, _x3 = item_at(data, ptr)
            ptr += 16
            length = x1 if csa2 else x0 - first_nitems
            if length == 0:  # an empty item (most are)
                continue
            end = ptr + length
            if length < 0 or end > size:
                break
            nul = data.find(b"\0", ptr, end)
            text = data[ptr : end if nul < 0 else nul].decode("latin-1").strip()
            ptr = end + (-length % 4)
            if text:
                items.append(_convert(text, vr))
        n = vm if vm > 0 else len(items)
        out[name] = items[:n]
    return out


def parse_items(data: bytes, names: Sequence[str]) -> dict[str, list[Any]]:
    """The tags `names` of :func:`parse_csa`'s result (those it has), converting no others.

    The same values as ``parse_csa(data)`` gives for them; {} where it gives {}.  The
    header is walked in C where the extension was built (``_cwalk.csa_items``).

    Examples
    --------
    >>> parse_items(b"not csa", ("B_value",))
    {}
    """
    from imagedata._fastscan import _cwalk

    if _cwalk is None:
        full = parse_csa(data)
        return {name: full[name] for name in names if name in full}
    found = _cwalk.csa_items(bytes(data), tuple(n.encode("latin-1") for n in names))
    if found is None:  # where _parse raises
        logger.debug("not a readable CSA header")
        return {}
    out: dict[str, list[Any]] = {}
    for name_b, vm, vr_b, raw_items in found:
        vr = vr_b.decode("latin-1")
        items = []
        for raw in raw_items:
            text = raw.decode("latin-1").strip()
            if text:
                items.append(_convert(text, vr))
        out[name_b.decode("latin-1")] = items[: vm if vm > 0 else len(items)]
    return out


#: The CSA image header items the header pass keeps for a mosaic (:func:`scan_items`):
#: its number of tiles, slice normal, b-value and gradient direction.
SCAN_ITEMS = (
    "NumberOfImagesInMosaic",
    "SliceNormalVector",
    "B_value",
    "DiffusionGradientDirection",
)
#: Key of the :data:`SCAN_ITEMS` in a file's header values (``FileInfo.values``).
SCAN_KEY = "_csa_items"
_CSA_CREATOR = "SIEMENS CSA HEADER"


def header_scan_items(data: bytes) -> dict[str, list[Any]] | None:
    """The :data:`SCAN_ITEMS` of the CSA image header in a file's header bytes `data`.

    The header is the one :func:`csa_image_header` finds in the file's dataset, found
    in the bytes (:func:`imagedata._fastscan.group_elements`), without building the
    dataset; {} when there is none.  None where the bytes alone cannot tell which
    header pydicom's dataset would give (then read it from the dataset).
    """
    elements = group_elements(data, 0x0029)
    if elements is None:
        return None
    for block in range(0x10, 0x100):
        creator = elements.get(0x00290000 | block)
        if creator is None:
            continue
        text = _plain_creator(data, *creator)
        if text is None:
            return None
        if text != _CSA_CREATOR:
            continue
        elem = elements.get(0x00290000 | block << 8 | 0x10)
        if elem is None:
            continue
        vr, start, end = elem
        if vr not in (None, "OB", "UN"):
            return None
        if end > start:
            return parse_items(data[start:end], SCAN_ITEMS)
    return {}


def _plain_creator(data: bytes, vr: str | None, start: int, end: int) -> str | None:
    """A private creator's text as ``str(ds[tag].value).strip()`` gives it, or None.

    Only for plain text: an LO value of at most 64 bytes, printable ASCII characters (no
    backslash) then spaces or NULs, which pydicom decodes the same in every character
    set without a warning (and strips of trailing spaces and NULs); None for anything else.
    """
    if vr not in (None, "LO"):
        return None
    if end - start > 64:  # pydicom would warn
        return None
    raw = data[start:end].rstrip(b"\0 ")
    if b"\\" in raw or not all(0x20 <= c <= 0x7E for c in raw):
        return None
    return raw.decode("ascii").strip()


class _File(Protocol):
    """What :func:`scan_items` needs of a ``_scan.FileInfo`` (which imports this module)."""

    values: dict[str, Any]

    @property
    def ds(self) -> Dataset: ...


def scan_items(info: _File) -> dict[str, list[Any]]:
    """The :data:`SCAN_ITEMS` of a file's CSA image header (those it has).

    From the header pass where it kept them (mosaics: :data:`SCAN_KEY`), else from the
    header :func:`csa_image_header` finds in the file's dataset (:func:`parse_items`):
    the same values either way.
    """
    items: dict[str, list[Any]] | None = info.values.get(SCAN_KEY)
    if items is not None:
        return items
    ds = info.ds
    full = ds.__dict__.get("_imagedata_csa", {}).get(0x10)  # parsed in full before
    if full is not None:
        return {name: full[name] for name in SCAN_ITEMS if name in full}
    value = _csa_value(ds, 0x10)
    return {} if value is None else parse_items(value, SCAN_ITEMS)


def csa_image_header(ds: Dataset) -> dict[str, list[Any]]:
    """The CSA image header (0029,xx10) of a Siemens dataset, parsed; {} when absent."""
    return _csa_element(ds, 0x10)


def csa_series_header(ds: Dataset) -> dict[str, list[Any]]:
    """The CSA series header (0029,xx20) of a Siemens dataset, parsed; {} when absent."""
    return _csa_element(ds, 0x20)


def _csa_element(ds: Dataset, offset: int) -> dict[str, list[Any]]:
    """The parsed CSA header at `offset` of its block; cached on the dataset (parsed once)."""
    cache: dict[int, dict[str, list[Any]]] = ds.__dict__.setdefault("_imagedata_csa", {})
    if offset not in cache:
        cache[offset] = _find_csa(ds, offset)
    return cache[offset]


def _find_csa(ds: Dataset, offset: int) -> dict[str, list[Any]]:
    value = _csa_value(ds, offset)
    return {} if value is None else parse_csa(value)


def _csa_value(ds: Dataset, offset: int) -> Any:
    """The value of the CSA header at `offset` of the first block that has one, or None."""
    elements = ds._dict  # looked up by tag: no element decoded but the creators
    for group_el in range(0x10, 0x100):
        if (0x00290000 | group_el) not in elements:
            continue
        creator = ds.get((0x0029, group_el))
        if creator is not None and str(creator.value).strip() == _CSA_CREATOR:
            elem = ds.get((0x0029, (group_el << 8) | offset))
            if elem is not None and elem.value:
                return elem.value
    return None


def csa_value(csa: dict[str, list[Any]], name: str) -> Any:
    """First value of a CSA tag, or None when missing or empty."""
    items = csa.get(name)
    return items[0] if items else None
