"""Values of template elements still raw, decoded cheaply for the BIDS sidecar.

A template read from DICOM keeps most elements raw (as bytes) until they are used;
pydicom decodes one on first access, which costs tens of microseconds each (the
sidecar of a series reads about thirty).  :func:`get` decodes the plain cases itself,
giving the value pydicom would give: a text element of a string VR (AE, AS, CS, DA,
DS, IS, LO, LT, SH, ST, TM, UT, UI) whose bytes are ASCII (no escape sequences, so
the same text in every DICOM character set) and valid for its VR (so pydicom would
not warn), read as explicit VR little endian (or a standard element read with
implicit VR, or text read as big endian: the same bytes).  Multiple values are a
list of strings; DS and IS values are their strings (``float()`` of them is the
number pydicom gives).  Everything else is left to pydicom (``Dataset.get``), and the
dataset is never modified.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from pydicom import config
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.valuerep import MAX_VALUE_LEN, STR_VR_REGEXES

from imagedata.formats._template import _BYTE_ORDER_FREE_VRS, _dictionary_vr

#: VRs decoded by pydicom's ``convert_string`` (one split on backslashes, trailing
#: spaces and NULs of the whole value removed).
_STRING_VRS = frozenset({"AE", "AS", "CS", "DS", "IS", "UI"})
#: Dates and times: strings too while pydicom's ``datetime_conversion`` is off.
_DATE_VRS = frozenset({"DA", "TM"})
#: Text VRs with multiple values (each value's trailing spaces and NULs removed).
_MULTI_TEXT_VRS = frozenset({"LO", "SH"})
#: Text VRs of one value.
_SINGLE_TEXT_VRS = frozenset({"ST", "LT", "UT"})
_DS = re.compile(r"^ *[+\-]?(\d+|\d+\.\d*|\.\d+)([eE][+\-]?\d+)? *$")

_MISSING = object()


@functools.lru_cache(maxsize=256)
def _tag(keyword: str) -> int | None:
    return tag_for_keyword(keyword)


#: Largest value length per VR (pydicom's), and the check of one value's text: pydicom's
#: regular expression as a whole-text match (the same as its anchored ``match``
#: with the trailing newline refused: no pattern matches a newline).  DS: :data:`_DS`.
_LIMITS = {str(vr): n for vr, n in MAX_VALUE_LEN.items()}
_CHECKS = {str(vr): rx.fullmatch for vr, rx in STR_VR_REGEXES.items()}
_CHECKS["DS"] = _DS.fullmatch
#: How a VR's text is split into values (see the sets above).
_SPLIT_WHOLE, _SPLIT_DATES, _SPLIT_EACH, _SPLIT_NONE = range(4)
_SPLITS = {
    **dict.fromkeys(_STRING_VRS, _SPLIT_WHOLE),
    **dict.fromkeys(_DATE_VRS, _SPLIT_DATES),
    **dict.fromkeys(_MULTI_TEXT_VRS, _SPLIT_EACH),
    **dict.fromkeys(_SINGLE_TEXT_VRS, _SPLIT_NONE),
}


def by_tag(ds: Dataset) -> dict[int, Any]:
    """The elements of `ds` by plain int tag.

    Looking an int up among pydicom's tags calls their Python ``__eq__``; among ints
    it does not.  For several look-ups in one dataset (:func:`element_value`).
    """
    elements = ds._dict
    return dict(zip(map(int, elements), elements.values()))


def get(ds: Dataset, keyword: str, default: Any = None) -> Any:
    """``ds.get(keyword, default)``, with plain raw values decoded here.

    Examples
    --------
    >>> from io import BytesIO
    >>> from pydicom.filereader import read_dataset
    >>> raw = b"\\x08\\x00\\x08\\x00CS\\x10\\x00ORIGINAL\\\\PRIMARY "
    >>> get(read_dataset(BytesIO(raw), False, True), "ImageType")
    ['ORIGINAL', 'PRIMARY']
    """
    tag = _tag(keyword)
    if tag is None:
        return ds.get(keyword, default)
    elem = ds._dict.get(tag)  # type: ignore[call-overload]
    if elem is None:
        return default  # a DICOM keyword the dataset does not hold
    return element_value(ds, tag, elem, keyword, default)


def element_value(ds: Dataset, tag: int, elem: Any, keyword: str, default: Any = None) -> Any:
    """``ds.get(keyword, default)`` for `elem`, the element of `ds` with `tag` (`keyword`).

    A plain raw value is decoded here; a decoded element (not a sequence) gives its
    value, as ``Dataset.get`` does; anything else is left to ``Dataset.get``.
    """
    if isinstance(elem, RawDataElement):
        value = _raw_value(tag, elem)
        if value is not _MISSING:
            return value
    elif isinstance(elem, DataElement) and elem.VR != "SQ":
        return elem.value  # what Dataset.get returns: ds[tag].value, the same element
    return ds.get(keyword, default)


def _raw_value(tag: int, elem: RawDataElement) -> Any:
    """The value pydicom would decode from `elem`, or :data:`_MISSING` to let it decode."""
    vr, raw, implicit, little = elem.VR, elem.value, elem.is_implicit_VR, elem.is_little_endian
    if vr is None and little:  # as _template._normalised, without a new tuple
        vr, implicit = _dictionary_vr(tag), False
    elif not little and vr in _BYTE_ORDER_FREE_VRS:
        little = True
    if (
        implicit
        or not little
        or not raw
        or elem.length == 0xFFFFFFFF
        or not isinstance(raw, bytes)
        or not raw.isascii()
        or b"\x1b" in raw
    ):
        return _MISSING  # empty values too: pydicom's own (it may warn)
    split = _SPLITS.get(vr)  # type: ignore[arg-type]
    if split is None or (split == _SPLIT_DATES and config.datetime_conversion):
        return _MISSING
    text = raw.decode("ascii")
    if split <= _SPLIT_DATES:
        parts = text.rstrip(" \x00").split("\\")
    elif split == _SPLIT_EACH:
        parts = [p.rstrip("\x00 ") for p in text.split("\\")]
    else:
        parts = [text.rstrip("\x00 ")]
    limit = _LIMITS.get(vr, 1 << 30)  # type: ignore[arg-type]
    check = _CHECKS.get(vr)  # type: ignore[arg-type]
    for part in parts:
        if len(part) > limit or part.endswith("\n"):
            return _MISSING  # invalid values: pydicom's own (it warns)
        if check is not None and (part or vr == "DS") and not check(part):
            return _MISSING
    return parts[0] if len(parts) == 1 else parts


__all__ = ["by_tag", "element_value", "get"]
