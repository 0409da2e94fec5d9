"""DICOM attribute helpers for the Series header: properties and templates."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, generate_uid

from imagedata.errors import HeaderError

_UID_CHARS = set("0123456789.")


def check_uid(value: str) -> str:
    """Return `value` if it is a valid UID (digits and dots, at most 64 characters).

    Examples
    --------
    >>> check_uid("1.2.3")
    '1.2.3'
    """
    v = str(value)
    if not v or len(v) > 64 or not set(v) <= _UID_CHARS or ".." in v or v[0] == "." or v[-1] == ".":
        raise HeaderError(
            f"{v!r} is not a valid DICOM UID (digits and dots, at most 64 characters); "
            "make one with pydicom.uid.generate_uid()"
        )
    return v


def attribute(keyword: str, kind: Callable[[Any], Any], uid: bool = False) -> property:
    """Return a Series property that reads and writes `keyword` in the DICOM template."""

    def getter(self: Any) -> Any:
        value = self.header.template.get(keyword)
        if value is None:
            return None
        if kind is list:
            return list(value) if not isinstance(value, str) else value.split("\\")
        if kind is str:
            return str(value)
        return kind(value)

    def setter(self: Any, value: Any) -> None:
        if value is not None and uid:
            value = UID(check_uid(value))
        self._header = self.header.with_attribute(keyword, value)

    return property(getter, setter, doc=f"DICOM {keyword} (None when absent).")


def derived_template(source: Dataset, current: Dataset) -> Dataset:
    """Template of a series derived from `source`: its patient/study/equipment, new identity.

    The new series keeps the source's patient, study, frame of reference and equipment
    attributes (:data:`imagedata.header.TEMPLATE_KEYWORDS`), gets a new
    SeriesInstanceUID, ImageType DERIVED\\SECONDARY, and names the source series in
    RelatedSeriesSequence.
    """
    from imagedata.header import TEMPLATE_KEYWORDS

    out = Dataset()
    for kw in TEMPLATE_KEYWORDS:
        if kw in source:
            setattr(out, kw, copy.deepcopy(source[kw].value))
    for kw in ("SeriesNumber", "SeriesDescription"):
        if kw in current:
            setattr(out, kw, current[kw].value)
        elif kw in source:
            setattr(out, kw, source[kw].value)
    out.SeriesInstanceUID = generate_uid()
    if "FrameOfReferenceUID" not in out:
        out.FrameOfReferenceUID = current.get("FrameOfReferenceUID", generate_uid())
    if "StudyInstanceUID" not in out:
        out.StudyInstanceUID = current.get("StudyInstanceUID", generate_uid())
    out.ImageType = ["DERIVED", "SECONDARY"]
    _copy_source_record(source, out)
    if "SeriesInstanceUID" in source:
        # General Series module: a related series named by study and series UID
        ref = Dataset()
        ref.StudyInstanceUID = out.StudyInstanceUID
        ref.SeriesInstanceUID = source.SeriesInstanceUID
        ref.PurposeOfReferenceCodeSequence = DicomSequence([])
        out.RelatedSeriesSequence = DicomSequence([ref])
    if "SOPClassUID" in source:
        out.SOPClassUID = source.SOPClassUID
    return out


def _copy_source_record(source: Dataset, out: Dataset) -> None:
    """Copy the reader's record of the source images (private block ``IMAGEDATA``).

    Parametric Maps and SEGs written from the derived series reference those images
    (see :mod:`imagedata.formats.dicom._derived`).
    """
    try:
        block = source.private_block(0x0009, "IMAGEDATA")
    except KeyError:
        return
    new = out.private_block(0x0009, "IMAGEDATA", create=True)
    for element in (0x02, 0x03, 0x04, 0x05, 0x06):
        if element in block:
            elem = block[element]
            new.add_new(element, elem.VR, copy.deepcopy(elem.value))
