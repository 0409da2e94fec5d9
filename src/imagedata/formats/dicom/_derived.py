"""What derived DICOM objects (Parametric Map, Segmentation) share: the IOD choice and references.

A derived object must reference the images it was computed from.  The reader records,
in the template's private block ``(0009, "IMAGEDATA")``, the SOP Instance UID and the
position of every source image (:func:`record_sources`); a series computed from it
(``adc = fit(dwi)``, ``mask = si > 100``) keeps that template, so the writer can name
the source images whose slice positions the derived frames share
(:func:`source_datasets`).  Private attributes are never copied into written files.

The choice of IOD (:class:`IOD`, the ``iod=`` write option):

- ``'image'``: one MR/CT/Secondary Capture image per slice, values quantised to 16 bits
  with RescaleSlope/Intercept when they are not whole numbers (see :mod:`._values`);
- ``'parametric-map'``: one multi-frame Parametric Map with float pixel data and a
  Real World Value Mapping carrying the units (see :mod:`._parametric`);
- ``'seg'``: one DICOM Segmentation, binary (bool or label data) or fractional
  (probabilities in [0, 1]); see :mod:`._seg`;
- ``'auto'``: a Parametric Map for float data without tag axes that 16-bit images
  could not hold exactly and whose source images are known; images otherwise.
"""

from __future__ import annotations

import enum
import logging
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.uid import generate_uid

from imagedata import geometry
from imagedata.errors import WriteError
from imagedata.formats.dicom._values import user_stacklevel
from imagedata.header import TEMPLATE_KEYWORDS, Header, SeriesLike

logger = logging.getLogger(__name__)

#: Private block of the reader's bookkeeping in a template (never written to files).
PRIVATE_GROUP = 0x0009
PRIVATE_CREATOR = "IMAGEDATA"
_UIDS = 0x02  # UT: the SOP Instance UIDs, separated by backslashes
_POSITIONS = 0x03  # UT: 3 numbers per source image (LPS), separated by spaces
_CLASS = 0x04  # UI, the source images' SOP Class UID
_SERIES = 0x05  # UI, the source images' Series Instance UID
_PLANE = 0x06  # FD: Rows, Columns, ImageOrientationPatient (6), PixelSpacing (2), thickness

#: Distance (mm) within which a derived frame and a source image are the same plane.
POSITION_TOLERANCE = 0.01


class IOD(str, enum.Enum):
    """Which DICOM object a write makes (see the module doc)."""

    AUTO = "auto"
    IMAGE = "image"
    PARAMETRIC_MAP = "parametric-map"
    SEG = "seg"

    @classmethod
    def parse(cls, value: str | IOD) -> IOD:
        """Accept an IOD or its name (case-insensitive; ``pm`` and ``_`` spellings too).

        Examples
        --------
        >>> IOD.parse("Parametric_Map"), IOD.parse("pm"), IOD.parse("SEG")
        (<IOD.PARAMETRIC_MAP: 'parametric-map'>, <IOD.PARAMETRIC_MAP: 'parametric-map'>, \
<IOD.SEG: 'seg'>)
        """
        text = str(getattr(value, "value", value)).strip().lower().replace("_", "-")
        if text == "pm":
            text = "parametric-map"
        try:
            return cls(text)
        except ValueError as err:
            raise ValueError(f"iod={value!r} is not one of {[k.value for k in cls]}") from err


# --- recording and finding the source images ------------------------------------------------


def record_sources(
    template: Dataset,
    uids: Sequence[str],
    positions: npt.ArrayLike | None,
    sop_class: str,
    series_uid: str = "",
    plane: Sequence[float] = (),
) -> None:
    """Store the source images' UIDs and positions in the template's private block.

    Examples
    --------
    >>> ds = Dataset()
    >>> record_sources(ds, ["1.2.3", "1.2.4"], [[0, 0, 0], [0, 0, 2]], "1.2.840.10008.5.1.4.1.1.4")
    >>> source_references(ds)[1].tolist()
    [[0.0, 0.0, 0.0], [0.0, 0.0, 2.0]]
    >>> [s.SOPInstanceUID for s in source_references(ds)[0]]
    ['1.2.3', '1.2.4']
    """
    # One text value each (not multi-valued elements): copying a template stays cheap.
    block = private_block(template)
    block.add(_UIDS, "UT", "\\".join(str(u) for u in uids))
    if positions is not None:  # unknown positions: every source image is referenced
        pos = np.asarray(positions, dtype=np.float64).ravel().tolist()
        block.add(_POSITIONS, "UT", _exact_text(pos))  # shortest exact text
    if sop_class:
        block.add(_CLASS, "UI", str(sop_class))
    if series_uid:
        block.add(_SERIES, "UI", str(series_uid))
    if len(plane) == 11:
        block.add(_PLANE, "FD", [float(v) for v in plane])


def _exact_text(values: Sequence[float]) -> str:
    """``" ".join(map(repr, values))``: the shortest exact text of each number.

    When values repeat (the x and y of an axial stack, the slices of every volume of a
    time series) each distinct value's text is made once (``repr`` takes about half a
    microsecond).  Equal nonzero floats have the same text; 0.0 and -0.0 are equal
    with different texts, so values with a zero are written one by one.

    Examples
    --------
    >>> _exact_text([1.5, 2.0, 1.5, 2.0, 1.5, 0.1 + 0.2])
    '1.5 2.0 1.5 2.0 1.5 0.30000000000000004'
    >>> _exact_text([-0.0, 0.0, -0.0, 0.0])
    '-0.0 0.0 -0.0 0.0'
    """
    unique = set(values)
    if 2 * len(unique) > len(values) or 0.0 in unique:
        return " ".join(map(repr, values))
    texts = {v: repr(v) for v in unique}
    return " ".join(map(texts.__getitem__, values))


_CREATOR_TAGS = range(PRIVATE_GROUP << 16 | 0x10, PRIVATE_GROUP << 16 | 0x100)
_CREATOR_SET = frozenset(_CREATOR_TAGS)


class Block(NamedTuple):
    """imagedata's private block of a dataset (see :func:`private_block`)."""

    ds: Dataset
    #: The high byte of the block's elements (its creator's element number).
    start: int

    def add(self, element: int, vr: str, value: Any) -> None:
        """Add element `element` (low byte) of the block, as pydicom's ``add_new`` does.

        The value is validated as ``add_new`` validates it; the element goes straight into
        the dataset (``Dataset.__setitem__`` would look its creator up again and format
        the tag for a debug message: most of a small series' cost of recording sources).
        """
        tag = BaseTag(PRIVATE_GROUP << 16 | self.start << 8 | element)
        elem = DataElement(tag, vr, value)
        elem.private_creator = PRIVATE_CREATOR
        self.ds._dict[tag] = elem


def private_block(ds: Dataset) -> Block:
    """imagedata's private block of `ds`, its creator added when absent.

    Where ``ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)`` puts it (the
    block of the first IMAGEDATA creator element, else a new creator in the first free
    slot), without that call's sort of every tag of the dataset, which cost more than
    the rest of a small series' template.

    Examples
    --------
    >>> ds = Dataset()
    >>> private_block(ds).add(0x02, "LO", "x")
    >>> ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)[0x02].value
    'x'
    """
    tags = ds._dict
    present = sorted(int(t) for t in tags.keys() & _CREATOR_SET)  # (a loop over 240 slots
    for tag in present:  # cost 30 us a template)
        if ds[tag].value == PRIVATE_CREATOR:
            return Block(ds, tag & 0xFF)
    taken = set(present)
    free = next((tag & 0xFF for tag in _CREATOR_TAGS if tag not in taken), None)
    if free is None:
        raise KeyError(f"no free private block in group {PRIVATE_GROUP:04X}")
    tag = BaseTag(PRIVATE_GROUP << 16 | free)
    if PRIVATE_GROUP << 16 in tags:  # a group length: add_new's odd creator lookup
        ds.add_new(tag, "LO", PRIVATE_CREATOR)
    else:  # what add_new stores (a creator has no creator)
        tags[tag] = DataElement(tag, "LO", PRIVATE_CREATOR)
    return Block(ds, free)


def source_references(template: Dataset) -> tuple[list[Dataset], npt.NDArray[np.float64]]:
    """(one small dataset per recorded source image, their positions (n, 3)).

    Empty when the template records no source images (a Series made from an array, or
    read from a file format without the imagedata header).
    """
    try:
        block = template.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
        uids = [u for u in str(block[_UIDS].value or "").split("\\") if u]
    except KeyError:
        return [], np.zeros((0, 3))
    if not uids:
        return [], np.zeros((0, 3))
    try:
        pos = (
            np.array(str(block[_POSITIONS].value).split(), dtype=np.float64)
            if _POSITIONS in block
            else np.full(3 * len(uids), np.nan)
        )
    except ValueError:
        pos = np.zeros(0)
    if pos.size != 3 * len(uids):
        logger.warning(
            "the template's source image record is inconsistent (%d UIDs, %d coordinates); ignored",
            len(uids),
            pos.size,
        )
        return [], np.zeros((0, 3))
    sop_class = block[_CLASS].value if _CLASS in block else template.get("SOPClassUID", "")
    patient = _patient_study(template)
    if _SERIES in block:
        patient.SeriesInstanceUID = block[_SERIES].value
    if _PLANE in block:
        plane = [float(v) for v in block[_PLANE].value]
        patient.Rows, patient.Columns = int(plane[0]), int(plane[1])
        patient.ImageOrientationPatient = plane[2:8]
        patient.PixelSpacing = plane[8:10]
        if len(plane) > 10 and "SliceThickness" not in patient:
            patient.SliceThickness = plane[10]
    pos3 = pos.reshape(-1, 3)
    out = []
    keep = []
    seen = set()
    for i, uid in enumerate(uids):
        if uid in seen:  # frames of one multi-frame source file
            continue
        seen.add(uid)
        ds = Dataset()
        ds.update(patient)
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = uid
        ds.ImagePositionPatient = [float(v) for v in pos3[i]]
        out.append(ds)
        keep.append(i)
    return out, pos3[keep]


def _patient_study(template: Dataset) -> Dataset:
    ds = Dataset()
    for kw in (
        *TEMPLATE_KEYWORDS,
        "SeriesInstanceUID",
        "SeriesNumber",
        "SpecificCharacterSet",
        "Rows",
        "Columns",
        "ImageOrientationPatient",
        "PixelSpacing",
    ):
        if kw in template:
            ds[kw] = template[kw]
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate"):
        if kw not in ds:
            setattr(ds, kw, "")
    for kw in ("StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName"):
        if kw not in ds:
            setattr(ds, kw, "")
    return ds


def source_datasets(
    header: Header, source: SeriesLike | None = None, *, what: str = "derived object"
) -> list[Dataset]:
    """The source images a derived object with `header` references.

    Those whose positions match a slice of `header` (within :data:`POSITION_TOLERANCE`);
    all recorded ones when none matches (a resampled result).  `source` (a series read
    from DICOM) takes the place of the header's own record.

    Raises
    ------
    WriteError
        If no source image is recorded: the object could not say what it was derived from.
    """
    if source is not None and not hasattr(source, "header"):
        raise TypeError(
            f"source= takes the Series the {what} was derived from, read from DICOM, not "
            f"{type(source).__name__}; Series(path, headers_only=True) reads just its headers"
        )
    template = header.template if source is None else source.header.template
    refs, positions = source_references(template)
    if not refs:
        where = "the source series" if source is not None else "this series"
        raise WriteError(
            f"a {what} references the DICOM images it was derived from, but {where} "
            "records none (made from an array, read from a format other than DICOM, or "
            "de-identified, which drops the record); "
            "pass source=<the Series read from DICOM>, or write with iod='image'"
        )
    frames = header.slice_positions()
    dist = np.linalg.norm(positions[:, None, :] - frames[None, :, :], axis=-1)
    match = np.any(dist < POSITION_TOLERANCE, axis=1)
    if not match.any():
        logger.info(
            "%s: no source image lies on its slices (resampled?); referencing all %d",
            what,
            len(refs),
        )
        return refs
    return [ds for ds, m in zip(refs, match) if m]


# --- what both writers share ----------------------------------------------------------------


def frame_geometry(header: Header) -> dict[str, Any]:
    """highdicom's pixel measures, plane orientation and plane positions of `header`."""
    hd = highdicom()
    affine = header.affine
    x, y = geometry.direction_cosines(affine)
    if abs(float(np.dot(x, y))) > 1e-4:
        raise WriteError(
            "the rows and columns of this series are not perpendicular; DICOM needs "
            "perpendicular axes: resample the series first"
        )
    step = geometry.slice_distance(affine)
    thickness = step if step > 0 else float(header.template.get("SliceThickness", 0) or 0)
    if not thickness > 0:
        thickness = 1.0
        warnings.warn(
            "a single slice without SliceThickness: the derived object says 1 mm (DICOM "
            "requires a value); set it with si.setDicomAttribute('SliceThickness', t)",
            stacklevel=user_stacklevel(),
        )
    spacing = [float(v) for v in geometry.pixel_spacing(affine)]
    return {
        "pixel_measures": hd.PixelMeasuresSequence(
            spacing, thickness, step if step > 0 and header.nslices > 1 else None
        ),
        "plane_orientation": hd.PlaneOrientationSequence(
            "PATIENT", [float(v) for v in geometry.iop(affine)]
        ),
        "plane_positions": [
            hd.PlanePositionSequence("PATIENT", [float(v) for v in p])
            for p in header.slice_positions()
        ],
    }


def frames(header: Header, arr: np.ndarray, what: str) -> np.ndarray:
    """`arr` as (frames, rows, columns): only (slice, row, column) or (row, column) axes."""
    names = header.axis_names
    if names not in (("slice", "row", "column"), ("row", "column")):
        raise WriteError(
            f"a {what} is written from axes (slice, row, column); this series has axes "
            f"{names}: write one tag at a time (e.g. si[0]), or write with iod='image'"
        )
    if arr.size == 0:
        raise WriteError(f"cannot write an empty series (shape {arr.shape})")
    return arr.reshape(header.nslices, *arr.shape[-2:])


def identity(template: Dataset, sernum: int | None, keep_uid: bool, kind: str) -> dict[str, Any]:
    """The series and instance identity arguments highdicom needs.

    The equipment named is the one that makes the object, imagedata (Enhanced General
    Equipment module), not the scanner of the source; its DeviceSerialNumber (type 1)
    is ``0``, since software has none.
    """
    number = sernum if sernum is not None else template.get("SeriesNumber")
    try:
        series_number = int(number) if number not in (None, "") else 1
    except (TypeError, ValueError):
        series_number = 1
    if keep_uid and "SeriesInstanceUID" in template:
        series_uid = str(template.SeriesInstanceUID)
        sop_uid = str(generate_uid(entropy_srcs=[series_uid, kind]))
    else:
        series_uid, sop_uid = str(generate_uid()), str(generate_uid())
    return {
        "series_instance_uid": series_uid,
        "series_number": max(series_number, 1),
        "sop_instance_uid": sop_uid,
        "instance_number": 1,
        "manufacturer": "imagedata",
        "manufacturer_model_name": "imagedata",
        "software_versions": _version(),
        "device_serial_number": "0",
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"imagedata {version('imagedata')}"
    except PackageNotFoundError:
        return "imagedata"


def finish(ds: Dataset, template: Dataset, serdes: str | None, laterality: bool = True) -> Dataset:
    """Description, body part and (with `laterality`) an empty Laterality (type 2C).

    dciodvfy wants Laterality in a Parametric Map unless the body part is unpaired, and
    never in a SEG.
    """
    description = serdes if serdes is not None else template.get("SeriesDescription")
    if description:
        ds.SeriesDescription = str(description)
    for kw in ("BodyPartExamined", "PatientPosition", "StudyDescription"):
        if kw in template and kw not in ds:
            ds[kw] = template[kw]
    from imagedata.formats.dicom._write_template import UNPAIRED_BODY_PARTS

    part = str(ds.get("BodyPartExamined", "") or "").upper()
    if laterality and part not in UNPAIRED_BODY_PARTS and "Laterality" not in ds:
        ds.Laterality = ""
    return ds


def highdicom() -> Any:
    """The highdicom module, or :class:`~imagedata.errors.MissingDependencyError`."""
    from imagedata._optional import import_optional

    return import_optional("highdicom", "derived", "write and read DICOM Parametric Maps and SEG")
