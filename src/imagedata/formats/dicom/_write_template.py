"""The attributes shared by every image of a written series (the *base* dataset).

The Series template (patient, study, frame of reference, equipment, acquisition) is
copied; everything that describes one image or its pixel encoding is removed and
recomputed (positions, UIDs, pixel description, rescale, window, the tag axes'
attributes), as are private attributes (vendor headers such as Siemens CSA repeat
the source geometry and would contradict the written one).  Attributes that the
chosen IOD requires and the template lacks are filled with valid defaults.

SOP class by Modality (the ``modality`` option, else the template's):
``MR`` -> MR Image Storage, ``CT`` -> CT Image Storage, anything else (a Series made
from a bare array has Modality ``OT``) -> Secondary Capture Image Storage, which
accepts any modality; its files still carry the full image plane (position,
orientation, spacing).
"""

from __future__ import annotations

import copy
import datetime as _dt
import logging

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import (
    CTImageStorage,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from imagedata._dicomattrs import check_uid
from imagedata.errors import WriteError

logger = logging.getLogger(__name__)

SOP_CLASSES = {"MR": MRImageStorage, "CT": CTImageStorage}

#: Removed from the template: recomputed per image or per write, or not valid any more.
DROP_KEYWORDS: tuple[str, ...] = (
    "SOPInstanceUID",
    "InstanceNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceLocation",
    "SliceThickness",
    "SpacingBetweenSlices",
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "PlanarConfiguration",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PixelData",
    "FloatPixelData",
    "DoubleFloatPixelData",
    "NumberOfFrames",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "WindowCenter",
    "WindowWidth",
    "WindowCenterWidthExplanation",
    "VOILUTFunction",
    "VOILUTSequence",
    "ModalityLUTSequence",
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "SmallestPixelValueInSeries",
    "LargestPixelValueInSeries",
    "PixelPaddingValue",
    "PixelPaddingRangeLimit",
    "RealWorldValueMappingSequence",
    "IconImageSequence",
    "PerFrameFunctionalGroupsSequence",
    "SharedFunctionalGroupsSequence",
    "DimensionIndexSequence",
    "DimensionOrganizationSequence",
    "DimensionOrganizationType",
    "FrameIncrementPointer",
    "ImagesInAcquisition",
    "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
    "ReferencedImageSequence",
    "SourceImageSequence",
    "MediaStorageSOPInstanceUID",
    "VelocityEncodingDirection",  # enhanced per-frame value, often an invalid 0\\0\\0
)

#: BodyPartExamined values of unpaired structures (as dciodvfy knows them): no Laterality.
#: For any other body part (or none) Laterality is type 2: written empty when unknown.
UNPAIRED_BODY_PARTS = frozenset(
    {
        "ABDOMEN",
        "ABDOMENPELVIS",
        "AORTA",
        "BLADDER",
        "BRAIN",
        "CEREBELLUM",
        "CHEST",
        "CHESTABDOMEN",
        "CHESTABDPELVIS",
        "CIRCLEOFWILLIS",
        "COCCYX",
        "COLON",
        "CORONARYARTERY",
        "CSPINE",
        "CTSPINE",
        "DUODENUM",
        "ESOPHAGUS",
        "GALLBLADDER",
        "HEAD",
        "HEADNECK",
        "HEART",
        "ILEUM",
        "ILIUM",
        "JEJUNUM",
        "LARYNX",
        "LIVER",
        "LSPINE",
        "LSSPINE",
        "MAXILLA",
        "MEDIASTINUM",
        "MOUTH",
        "NECK",
        "NECKCHEST",
        "NECKCHESTABDOMEN",
        "NECKCHESTABDPELV",
        "NOSE",
        "PANCREAS",
        "PELVIS",
        "PENIS",
        "PHARYNX",
        "PROSTATE",
        "RECTUM",
        "SCALP",
        "SKULL",
        "SPINE",
        "SPLEEN",
        "STERNUM",
        "STOMACH",
        "THYMUS",
        "THYROID",
        "TLSPINE",
        "TONGUE",
        "TRACHEA",
        "TSPINE",
        "URETER",
        "URETHRA",
        "UTERUS",
        "VAGINA",
        "VULVA",
        "WHOLEBODY",
    }
)

_MR_DEFAULTS: dict[str, object] = {
    "ScanningSequence": "RM",
    "SequenceVariant": "NONE",
    "ScanOptions": "",
    "MRAcquisitionType": "",
    "RepetitionTime": "",
    "EchoTime": "",
    "EchoTrainLength": "",
}
_CT_DEFAULTS: dict[str, object] = {"KVP": "", "AcquisitionNumber": ""}
_COMMON_DEFAULTS: dict[str, object] = {
    "PatientName": "",
    "PatientID": "",
    "PatientBirthDate": "",
    "PatientSex": "",
    "StudyDate": "",
    "StudyTime": "",
    "ReferringPhysicianName": "",
    "StudyID": "",
    "AccessionNumber": "",
    "PositionReferenceIndicator": "",
    "Manufacturer": "",
}


def choose_sop_class(template: Dataset, modality: str | None) -> tuple[str, str]:
    """Return (Modality, SOPClassUID) to write (see module docstring).

    Examples
    --------
    >>> ds = Dataset(); ds.Modality = "MR"
    >>> choose_sop_class(ds, None)[1].name
    'MR Image Storage'
    >>> choose_sop_class(ds, "OT")[1].name
    'Secondary Capture Image Storage'
    """
    mod = str(modality or template.get("Modality", "") or "OT").upper()
    return mod, SOP_CLASSES.get(mod, SecondaryCaptureImageStorage)


def clean_template(template: Dataset, extra_drop: tuple[str, ...] = ()) -> Dataset:
    """Copy `template` without per-image, pixel-encoding, file meta and private attributes."""
    out = Dataset()
    drop = {Tag(kw) for kw in DROP_KEYWORDS + extra_drop}
    for elem in template:
        tag = elem.tag
        if tag.group in (0x0002, 0xFFFE) or tag.is_private or tag in drop:
            continue
        if 0x6000 <= tag.group <= 0x60FF:  # overlays
            continue
        out[tag] = copy.deepcopy(elem)
    return out


def _series_uid(template: Dataset, keep_uid: bool) -> str:
    if not keep_uid:
        return str(generate_uid())
    if "SeriesInstanceUID" not in template:
        raise WriteError(
            "keep_uid=True, but the series has no SeriesInstanceUID to keep; "
            "write without keep_uid to get a new one"
        )
    return check_uid(str(template.SeriesInstanceUID))


def patient_orientation(direction: npt.ArrayLike) -> str:
    """The anatomical letters of an LPS direction, strongest first (e.g. 'L', 'PH').

    Examples
    --------
    >>> patient_orientation([0.0, -0.8, 0.6])
    'AH'
    """
    v = np.asarray(direction, dtype=np.float64)
    letters = ("RL", "AP", "FH")
    out = ""
    for i in np.argsort(-np.abs(v)):
        if abs(v[i]) > 1e-4:
            out += letters[i][1] if v[i] > 0 else letters[i][0]
    return out


def _values(value: object) -> list[object]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]


def related_series(ds: Dataset) -> None:
    """Turn series references without instance lists into RelatedSeriesSequence items.

    A Series made with ``template=`` references its source series in
    ReferencedSeriesSequence, but without the source's SOP Instance UIDs, which that
    sequence requires (Common Instance Reference module).  RelatedSeriesSequence
    (General Series module) names a related series by study and series UID alone.
    """
    refs = ds.get("ReferencedSeriesSequence")
    if not refs:
        return
    keep, related = [], []
    for item in refs:
        if item.get("ReferencedInstanceSequence"):
            keep.append(item)
            continue
        rel = Dataset()
        rel.StudyInstanceUID = item.get("StudyInstanceUID", ds.StudyInstanceUID)
        rel.SeriesInstanceUID = item.SeriesInstanceUID
        rel.PurposeOfReferenceCodeSequence = DicomSequence([])
        related.append(rel)
    if keep:
        ds.ReferencedSeriesSequence = DicomSequence(keep)
    else:
        del ds.ReferencedSeriesSequence
    if related:
        ds.RelatedSeriesSequence = DicomSequence([*ds.get("RelatedSeriesSequence", []), *related])


def _fill(ds: Dataset, defaults: dict[str, object]) -> None:
    for kw, value in defaults.items():
        if kw not in ds:
            setattr(ds, kw, value)


def base_dataset(
    template: Dataset,
    *,
    modality: str | None,
    keep_uid: bool,
    extra_drop: tuple[str, ...] = (),
) -> Dataset:
    """Shared attributes of the series to write: cleaned template, identity, IOD defaults."""
    mod, sop_class = choose_sop_class(template, modality)
    ds = clean_template(template, extra_drop)
    ds.SOPClassUID = sop_class
    ds.Modality = mod
    ds.SeriesInstanceUID = _series_uid(template, keep_uid)
    for kw in ("StudyInstanceUID", "FrameOfReferenceUID"):
        if kw in ds:
            check_uid(str(ds[kw].value))
        else:
            setattr(ds, kw, generate_uid())
    _fill(ds, _COMMON_DEFAULTS)
    related_series(ds)
    part = str(ds.get("BodyPartExamined", "") or "").upper()
    paired = part not in UNPAIRED_BODY_PARTS
    if paired and "Laterality" not in ds and "ImageLaterality" not in ds:
        ds.Laterality = ""  # type 2C: paired (or unknown) body part, side unknown
    if "SeriesNumber" not in ds or ds.SeriesNumber in (None, ""):
        ds.SeriesNumber = 1
    if "ImageType" not in ds or not ds.ImageType:
        ds.ImageType = ["DERIVED", "SECONDARY"]
    now = _dt.datetime.now()
    if "ContentDate" not in ds:
        ds.ContentDate = now.strftime("%Y%m%d")
        ds.ContentTime = now.strftime("%H%M%S")
    if sop_class in (MRImageStorage, CTImageStorage):
        _fill(ds, _MR_DEFAULTS if sop_class == MRImageStorage else _CT_DEFAULTS)
        gating = {"CG", "PPG"} & {str(v) for v in _values(ds.get("ScanOptions"))}
        if sop_class == MRImageStorage and gating and "TriggerTime" not in ds:
            ds.TriggerTime = ""  # type 2C with cardiac/peripheral gating
        if "PatientPosition" not in ds:
            ds.PatientPosition = ""
        it = list(ds.ImageType) + ["DERIVED", "SECONDARY"][len(ds.ImageType) :]
        if len(it) < 3 or not it[2]:
            it = [*it[:2], "OTHER" if sop_class == MRImageStorage else "AXIAL", *it[3:]]
        ds.ImageType = it
    else:
        if "ConversionType" not in ds:
            ds.ConversionType = "WSD"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    return ds


def colour_attributes(ds: Dataset) -> None:
    """Make `ds` describe 8-bit RGB Secondary Capture images (colour is SC only here)."""
    if ds.SOPClassUID != SecondaryCaptureImageStorage:
        logger.info("colour images are written as Secondary Capture (modality %s)", ds.Modality)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    for kw in ("RescaleSlope", "RescaleIntercept", "RescaleType", "WindowCenter", "WindowWidth"):
        if kw in ds:
            delattr(ds, kw)
    if "ConversionType" not in ds:
        ds.ConversionType = "WSD"
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0


__all__ = [
    "DROP_KEYWORDS",
    "SOP_CLASSES",
    "base_dataset",
    "choose_sop_class",
    "clean_template",
    "colour_attributes",
    "patient_orientation",
    "related_series",
]
