"""Single-file enhanced multi-frame output: Enhanced MR and Enhanced CT Image Storage.

All images of the series become the frames of one file, in output order.  What
differs per frame lives in the per-frame functional groups, what all frames share in
the shared functional groups:

=================================  ====================================================
functional group                   content
=================================  ====================================================
PixelMeasuresSequence (shared)     PixelSpacing, SliceThickness, SpacingBetweenSlices
PlaneOrientationSequence (shared)  ImageOrientationPatient
PlanePositionSequence (per frame)  ImagePositionPatient from the affine
FrameContentSequence (per frame)   StackID, InStackPositionNumber, DimensionIndexValues,
                                   TemporalPositionIndex, FrameAcquisitionDateTime
MRDiffusionSequence (per frame)    ``b``/``bvector``/``dti`` axes
MREchoSequence (per frame)         ``te`` axis (EffectiveEchoTime)
CardiacSynchronizationSequence     ``triggertime`` axis (NominalCardiacTriggerDelayTime)
PixelValueTransformationSequence   RescaleSlope/Intercept (when rescaled; always for CT)
FrameVOILUTSequence (shared)       WindowCenter/WindowWidth
=================================  ====================================================

The output is marked DERIVED (ImageType value 1): it is a re-encoding, and the
acquisition macros an ORIGINAL enhanced image requires cannot be rebuilt from a
Series.  Tag axes ``fa``, ``ti`` and other keywords have no place in these groups
here: write them as single files.  Missing Enhanced General Equipment attributes
(type 1) are filled with ``UNKNOWN``; other required values that a Series does not
know get neutral values: FrameAnatomy "Entire body" (SCT 38266002), ContentQualification
RESEARCH, ApplicableSafetyStandardAgency IEC (MR), and for CT an
IrradiationEventUID derived from the SeriesInstanceUID.
"""

from __future__ import annotations

import datetime as _dt
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import EnhancedCTImageStorage, EnhancedMRImageStorage, generate_uid

from imagedata.errors import WriteError
from imagedata.formats.dicom._write_tags import format_time

if TYPE_CHECKING:
    from imagedata.axis import Axis
    from imagedata.formats.dicom._plan import _Plan

logger = logging.getLogger(__name__)

ENHANCED = {"MR": EnhancedMRImageStorage, "CT": EnhancedCTImageStorage}

#: Tag axes that the enhanced writer can place in functional groups, per modality.
SUPPORTED_AXES = {"MR": {"time", "triggertime", "b", "bvector", "dti", "te"}, "CT": {"time"}}

#: Top-level attributes that move into functional groups or do not belong to the IOD.
_MOVED = (
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "PatientOrientation",
    "RescaleIntercept",
    "RescaleSlope",
    "RescaleType",
    "WindowCenter",
    "WindowWidth",
    "ScanningSequence",
    "SequenceVariant",
    "ScanOptions",
    "MRAcquisitionType",
    "EchoTime",
    "RepetitionTime",
    "EchoTrainLength",
    "FlipAngle",
    "TriggerTime",
    "InversionTime",
    "SliceLocation",
    "KVP",
    "AcquisitionNumber",
    "ConversionType",
    "Laterality",
    # MR Pulse Sequence and related modules: only allowed for ORIGINAL images
    "PulseSequenceName",
    "EchoPulseSequence",
    "MultipleSpinEcho",
    "MultiPlanarExcitation",
    "PhaseContrast",
    "TimeOfFlightContrast",
    "ArterialSpinLabelingContrast",
    "SteadyStatePulseSequence",
    "EchoPlanarPulseSequence",
    "SaturationRecovery",
    "SpectrallySelectedSuppression",
    "OversamplingPhase",
    "GeometryOfKSpaceTraversal",
    "RectilinearPhaseEncodeReordering",
    "SegmentedKSpaceTraversal",
    "CoverageOfKSpace",
    "NumberOfKSpaceTrajectories",
    "BulkMotionCompensationTechnique",
    "BulkMotionSignalSource",
    "ReferencedImageEvidenceSequence",
)

_EQUIPMENT = ("Manufacturer", "ManufacturerModelName", "DeviceSerialNumber", "SoftwareVersions")


def _item(**attrs: Any) -> Dataset:
    ds = Dataset()
    for kw, v in attrs.items():
        setattr(ds, kw, v)
    return ds


def _seq(*items: Dataset) -> DicomSequence:
    return DicomSequence(list(items))


def _check(plan: _Plan, tag_axes: list[Axis], modality: str) -> None:
    if int(plan.base.SamplesPerPixel) != 1:
        raise WriteError(
            "enhanced output is for grey-value images; write colour images as single "
            "Secondary Capture files (enhanced=False)"
        )
    if modality not in ENHANCED:
        raise WriteError(
            f"enhanced output exists for MR and CT, not modality {modality!r}; "
            "pass modality='MR' or 'CT', or write single files (enhanced=False)"
        )
    bad = [a.name for a in tag_axes if a.name not in SUPPORTED_AXES[modality]]
    if bad:
        raise WriteError(
            f"enhanced {modality} output cannot hold tag axes {bad} (supported: "
            f"{sorted(SUPPORTED_AXES[modality])}); write single files (enhanced=False)"
        )


def _header(plan: _Plan, modality: str, nframes: int) -> Dataset:
    """Top-level attributes of the multi-frame file."""
    base = plan.base
    ds = Dataset()
    for elem in base:
        if elem.keyword not in _MOVED:
            ds.add(elem)
    ds.SOPClassUID = ENHANCED[modality]
    ds.SOPInstanceUID = (
        generate_uid(entropy_srcs=[str(base.SeriesInstanceUID), "enhanced"])
        if plan.keep_uid
        else generate_uid()
    )
    ds.InstanceNumber = 1
    ds.NumberOfFrames = nframes
    ds.ImageType = list(_header_type(base, modality))
    for kw in _EQUIPMENT:
        if not ds.get(kw):
            setattr(ds, kw, "UNKNOWN")
    ds.ContentQualification = ds.get("ContentQualification") or "RESEARCH"
    ds.BurnedInAnnotation = ds.get("BurnedInAnnotation") or "NO"
    ds.LossyImageCompression = ds.get("LossyImageCompression") or "00"
    ds.PresentationLUTShape = "IDENTITY"
    ds.AcquisitionContextSequence = _seq()
    for kw, value in _description(modality).items():
        setattr(ds, kw, value)
    if modality == "MR" and not ds.get("ApplicableSafetyStandardAgency"):
        ds.ApplicableSafetyStandardAgency = "IEC"
    return ds


def _shared_groups(plan: _Plan, modality: str) -> Dataset:
    base = plan.base
    measures = _item(PixelSpacing=base.PixelSpacing, SliceThickness=base.SliceThickness)
    if "SpacingBetweenSlices" in base:
        measures.SpacingBetweenSlices = base.SpacingBetweenSlices
    g = Dataset()
    g.PixelMeasuresSequence = _seq(measures)
    g.PlaneOrientationSequence = _seq(_item(ImageOrientationPatient=base.ImageOrientationPatient))
    region = _item(CodeValue="38266002", CodingSchemeDesignator="SCT", CodeMeaning="Entire body")
    side = str(base.get("Laterality", "") or "U")
    g.FrameAnatomySequence = _seq(_item(AnatomicRegionSequence=_seq(region), FrameLaterality=side))
    kind = "MRImageFrameTypeSequence" if modality == "MR" else "CTImageFrameTypeSequence"
    ftype = _item(FrameType=list(_header_type(base, modality)), **_description(modality))
    setattr(g, kind, _seq(ftype))
    if modality == "CT":  # mandatory; the source's event is unknown: a UID of this series
        event = generate_uid(entropy_srcs=[str(base.SeriesInstanceUID), "irradiation"])
        g.IrradiationEventIdentificationSequence = _seq(_item(IrradiationEventUID=event))
    g.PixelValueTransformationSequence = _seq(
        _item(
            RescaleIntercept=base.get("RescaleIntercept", "0.0"),
            RescaleSlope=base.get("RescaleSlope", "1.0"),
            RescaleType="HU" if modality == "CT" else "US",
        )
    )
    if "WindowCenter" in base:
        g.FrameVOILUTSequence = _seq(
            _item(WindowCenter=base.WindowCenter, WindowWidth=base.WindowWidth)
        )
    return g


def _description(modality: str) -> dict[str, str]:
    """Image/frame level description (Common CT/MR Image Description macro)."""
    out = {
        "PixelPresentation": "MONOCHROME",
        "VolumetricProperties": "VOLUME",
        "VolumeBasedCalculationTechnique": "NONE",
    }
    if modality == "MR":
        out["ComplexImageComponent"] = "MAGNITUDE"
        out["AcquisitionContrast"] = "UNKNOWN"
    return out


def _header_type(base: Dataset, modality: str) -> tuple[str, str, str, str]:
    it = [*list(base.ImageType), "", "", ""][:4]
    flavor = it[2] or ("OTHER" if modality == "MR" else "AXIAL")
    return ("DERIVED", "PRIMARY", flavor, it[3] or "NONE")  # value 2: PRIMARY only


def _dimensions(ds: Dataset, tag_axes: list[Axis]) -> None:
    """DimensionOrganizationSequence and DimensionIndexSequence: stack position, then tags."""
    uid = generate_uid()
    ds.DimensionOrganizationSequence = _seq(_item(DimensionOrganizationUID=uid))
    pointers: list[tuple[str, str, str]] = []
    for a in tag_axes:
        if a.name == "time":
            pointers.append(("TemporalPositionIndex", "FrameContentSequence", "time"))
        elif a.name in ("b", "dti"):
            pointers.append(("DiffusionBValue", "MRDiffusionSequence", a.name))
        elif a.name == "bvector":
            pointers.append(("DiffusionGradientOrientation", "MRDiffusionSequence", a.name))
        elif a.name == "te":
            pointers.append(("EffectiveEchoTime", "MREchoSequence", "te"))
        elif a.name == "triggertime":
            pointers.append(
                ("NominalCardiacTriggerDelayTime", "CardiacSynchronizationSequence", a.name)
            )
    items = [
        _item(
            DimensionOrganizationUID=uid,
            DimensionIndexPointer=Tag("InStackPositionNumber"),
            FunctionalGroupPointer=Tag("FrameContentSequence"),
            DimensionDescriptionLabel="slice",
        )
    ]
    for index, group, label in pointers:
        items.append(
            _item(
                DimensionOrganizationUID=uid,
                DimensionIndexPointer=Tag(index),
                FunctionalGroupPointer=Tag(group),
                DimensionDescriptionLabel=label,
            )
        )
    ds.DimensionIndexSequence = _seq(*items)


def _axis_value(axis: Axis, i: int, k: int) -> Any:
    sv = axis.slice_values
    values = axis.values
    assert values is not None
    if sv is not None and sv.ndim >= 2 and k < sv.shape[1] and sv.shape[0] == len(values):
        return sv[i, k]
    return values[i]


def _frame_group(plan: _Plan, tag_axes: list[Axis], t: int, k: int, day0: _dt.date) -> Dataset:
    idx = [int(v) for v in np.unravel_index(t, plan.tag_shape)] if tag_axes else []
    content = _item(StackID="1", InStackPositionNumber=k + 1)
    dims = [k + 1] + [i + 1 for i in idx]
    g = _item(PlanePositionSequence=_seq(_item(ImagePositionPatient=plan.positions[k])))
    for axis, i in zip(tag_axes, idx):
        v = _axis_value(axis, i, k)
        if axis.name == "time":
            _, _, dt = format_time(float(v), day0)
            content.FrameAcquisitionDateTime = dt
            content.FrameReferenceDateTime = dt
            content.TemporalPositionIndex = i + 1
        elif axis.name in ("b", "bvector", "dti"):
            g.MRDiffusionSequence = _seq(_diffusion(axis.name, v))
        elif axis.name == "te":
            g.MREchoSequence = _seq(_item(EffectiveEchoTime=float(v)))
        elif axis.name == "triggertime":
            g.CardiacSynchronizationSequence = _seq(
                _item(
                    NominalCardiacTriggerDelayTime=float(v),
                    ActualCardiacTriggerDelayTime=float(v),
                )
            )
    content.DimensionIndexValues = dims if len(dims) > 1 else dims[0]
    g.FrameContentSequence = _seq(content)
    return g


def _diffusion(name: str, value: Any) -> Dataset:
    v = np.asarray(value, dtype=np.float64).reshape(-1)
    b = float(v[0]) if name in ("b", "dti") else None
    g = v[1:4] if name == "dti" else (v[:3] if name == "bvector" else None)
    item = Dataset()
    if b is not None:
        item.DiffusionBValue = b
    if g is not None and np.linalg.norm(g) > 0:
        item.DiffusionDirectionality = "DIRECTIONAL"
        item.DiffusionGradientDirectionSequence = _seq(
            _item(DiffusionGradientOrientation=[float(x) for x in g])
        )
    else:
        item.DiffusionDirectionality = "NONE" if not b else "ISOTROPIC"
    if b is None:
        item.DiffusionBValue = 0.0
    return item


def enhanced_dataset(plan: _Plan, tag_axes: list[Axis]) -> Dataset:
    """The one multi-frame dataset (without file meta) holding every image of `plan`."""
    modality = str(plan.base.Modality)
    _check(plan, tag_axes, modality)
    images = plan.images
    ds = _header(plan, modality, len(images))
    _dimensions(ds, tag_axes)
    ds.SharedFunctionalGroupsSequence = _seq(_shared_groups(plan, modality))
    day0 = plan.day0
    ds.PerFrameFunctionalGroupsSequence = _seq(
        *(_frame_group(plan, tag_axes, im.tag, im.slice, day0) for im in images)
    )
    frames = np.stack([plan.stored[im.tag, im.slice] for im in images])
    ds.add_new(0x7FE00010, "OW", frames.tobytes())
    logger.debug("enhanced %s with %d frames", modality, len(images))
    return ds


__all__ = ["ENHANCED", "SUPPORTED_AXES", "enhanced_dataset"]
