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
from pydicom.dataelem import RawDataElement
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
    if isinstance(elem, RawDataElement):
        value = _raw_value(tag, elem)
        if value is not _MISSING:
            return value
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
        or elem.length == 0xFFFFFFFF
        or not isinstance(raw, bytes)
        or not raw.isascii()
        or b"\x1b" in raw
    ):
        return _MISSING
    text = raw.decode("ascii")
    if vr in _STRING_VRS or (vr in _DATE_VRS and not config.datetime_conversion):
        parts = text.rstrip(" \x00").split("\\")
    elif vr in _MULTI_TEXT_VRS:
        parts = [p.rstrip("\x00 ") for p in text.split("\\")]
    elif vr in _SINGLE_TEXT_VRS:
        parts = [text.rstrip("\x00 ")]
    else:
        return _MISSING
    if not raw or not all(_valid(str(vr), p) for p in parts):
        return _MISSING  # empty values and invalid ones: pydicom's own (it may warn)
    return parts[0] if len(parts) == 1 else parts


def _valid(vr: str, part: str) -> bool:
    """True when pydicom would take `part` without a warning (its rules for `vr`)."""
    if len(part) > MAX_VALUE_LEN.get(vr, 1 << 30) or part.endswith("\n"):
        return False
    if vr == "DS":
        return bool(_DS.match(part))
    regex = STR_VR_REGEXES.get(vr)
    return regex is None or part == "" or bool(regex.match(part))


__all__ = ["get"]
