"""Enhanced and legacy multi-frame files: one :class:`~._scan.Image` per frame.

Enhanced objects (MR, CT, PET, Siemens XA, Philips) carry the geometry of each frame
in functional groups: per-frame values override the shared ones.  Never assume a
top-level ImagePositionPatient.  Legacy multi-frame files (one position, NumberOfFrames
> 1) are stacked along the slice normal (GridFrameOffsetVector, SpacingBetweenSlices)
or, when FrameIncrementPointer names FrameTime, along time.
"""

from __future__ import annotations

import logging
from typing import Any, TypeAlias

import numpy as np
from pydicom.dataset import Dataset

from imagedata._fastenh import PER_FRAME_KEY, SEQUENCES, SHARED_KEY
from imagedata.errors import HeaderError
from imagedata.formats.dicom._scan import (
    AXIAL_IOP,
    FileInfo,
    FloatArray,
    Image,
    floats,
    pixel_spacing_of,
    resolution_of,
    slice_normal_of,
    spacing_or_none,
)

logger = logging.getLogger(__name__)


#: A functional-group item: a pydicom Dataset, or the dict the fast header pass gives
#: (:mod:`imagedata._fastenh`); both answer ``get(keyword)`` alike.
Group: TypeAlias = Dataset | dict[str, Any]


#: The functional-group macro sequences read here.
_MACROS = tuple(k for k in SEQUENCES if k != "DiffusionGradientDirectionSequence")


def _first_items(group: Group | None) -> dict[str, Group]:
    """The first item of each macro sequence (:data:`_MACROS`) of a functional group."""
    if group is None:
        return {}
    if isinstance(group, dict):  # from the fast header pass: only the kept sequences
        return {k: s[0] for k, s in group.items() if s}
    out = {}
    for k in _MACROS:
        s = group.get(k)
        if s:
            out[k] = s[0]
    return out


def _get(items: dict[str, Group], seq: str, keyword: str) -> Any:
    item = items.get(seq)
    return None if item is None else item.get(keyword)


def _frame_extra(items: dict[str, Group]) -> dict[str, Any]:
    """Per-frame tag values, under their classic keywords (`items`: see :func:`frames_of`)."""
    extra: dict[str, Any] = {}
    content = items.get("FrameContentSequence")
    if content is not None:
        for src, dst in (
            ("FrameAcquisitionDateTime", "AcquisitionDateTime"),
            ("TemporalPositionIndex", "TemporalPositionIdentifier"),
            ("StackID", "StackID"),
            ("InStackPositionNumber", "InStackPositionNumber"),
            ("DimensionIndexValues", "DimensionIndexValues"),
            ("FrameAcquisitionNumber", "AcquisitionNumber"),
        ):
            v = content.get(src)
            if v is not None and v != "":
                extra[dst] = (
                    tuple(v) if dst == "DimensionIndexValues" and not isinstance(v, int) else v
                )
    diffusion = items.get("MRDiffusionSequence")
    if diffusion is not None:
        if diffusion.get("DiffusionBValue") is not None:
            extra["DiffusionBValue"] = diffusion.get("DiffusionBValue")
        direction = diffusion.get("DiffusionGradientDirectionSequence")
        if direction:
            extra["DiffusionGradientOrientation"] = direction[0].get("DiffusionGradientOrientation")
    for seq, src, dst in (
        ("MREchoSequence", "EffectiveEchoTime", "EchoTime"),
        ("CardiacSynchronizationSequence", "NominalCardiacTriggerDelayTime", "TriggerTime"),
        ("MRTimingAndRelatedParametersSequence", "FlipAngle", "FlipAngle"),
        ("MRTimingAndRelatedParametersSequence", "RepetitionTime", "RepetitionTime"),
    ):
        v = _get(items, seq, src)
        if v is not None:
            extra[dst] = v
    ti = _get(items, "MRModifierSequence", "InversionTimes")
    if ti:
        extra["InversionTime"] = ti[0] if not isinstance(ti, (int, float)) else ti
    frame_type = _get(items, "MRImageFrameTypeSequence", "FrameType") or _get(
        items, "CTImageFrameTypeSequence", "FrameType"
    )
    if frame_type is not None:
        extra["FrameType"] = tuple(frame_type)
    component = _get(items, "MRImageFrameTypeSequence", "ComplexImageComponent")
    if component:
        extra["ComplexImageComponent"] = str(component)
    return extra


def fast_groups(info: FileInfo) -> tuple[list[Group], list[Group]] | None:
    """(shared, per-frame) functional groups read by the fast header pass, else None."""
    values = info.values
    if not info.fast or (SHARED_KEY not in values and PER_FRAME_KEY not in values):
        return None
    return list(values.get(SHARED_KEY) or [])[:1], list(values.get(PER_FRAME_KEY) or [])


def _groups_of(info: FileInfo) -> tuple[list[Group], list[Group]]:
    """(shared, per-frame) functional groups: from the header pass, else from pydicom."""
    fast = fast_groups(info)
    if fast is not None:
        return fast
    ds = info.ds
    shared = list(ds.get("SharedFunctionalGroupsSequence") or [])[:1]
    return shared, list(ds.get("PerFrameFunctionalGroupsSequence") or [])


class _Floats:
    """:func:`floats` of the values many frames share (orientation, spacing), converted
    once: the arrays are shared, so callers copy what they keep."""

    def __init__(self) -> None:
        self._done: dict[tuple[Any, int], FloatArray | None] = {}

    def __call__(self, value: Any, n: int) -> FloatArray | None:
        try:
            key = (tuple(value) if isinstance(value, list) else value, n)
            return self._done[key]
        except KeyError:
            got = self._done[key] = floats(value, n)
            return got
        except TypeError:  # not hashable
            return floats(value, n)


def _scale(value: Any, default: float) -> float:
    """RescaleSlope/Intercept as a float; `default` when missing, empty or zero."""
    if value is None or value == "":
        return default
    return float(value) or default


def frames_of(info: FileInfo) -> list[Image]:
    """The frames of an enhanced multi-frame file, with geometry from functional groups.

    The functional groups come from the fast header pass (:mod:`imagedata._fastenh`)
    when it read them, else from the pydicom dataset; the top-level attributes from
    :meth:`FileInfo.get` (the same values either way).

    Raises
    ------
    HeaderError
        If a frame has no plane position or orientation in any functional group.
    """
    shared, per_frame = _groups_of(info)
    get = info.get
    top_pos = floats(get("ImagePositionPatient"), 3)
    top_iop = floats(get("ImageOrientationPatient"), 6)
    top_spacing = spacing_or_none(info)
    rows, cols = int(get("Rows")), int(get("Columns"))
    shared_items = _first_items(shared[0] if shared else None)
    numbers = _Floats()
    out: list[Image] = []
    for f in range(info.nframes):
        # each macro's first item: in the per-frame group, else in the shared group
        items = {**shared_items, **_first_items(per_frame[f] if f < len(per_frame) else None)}
        ipp = _get(items, "PlanePositionSequence", "ImagePositionPatient")
        pos = floats(ipp, 3)
        iop = numbers(_get(items, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
        pos = top_pos if pos is None else pos
        iop = top_iop if iop is None else iop
        extra = _frame_extra(items)
        if pos is None or iop is None:
            if get("Modality") in ("MR", "CT", "PT"):
                raise HeaderError(
                    f"{info.name}: frame {f + 1} has no PlanePositionSequence/"
                    "PlaneOrientationSequence in its per-frame or shared functional groups"
                )
            extra["_no_position"] = True
        ps = numbers(_get(items, "PixelMeasuresSequence", "PixelSpacing"), 2)
        if ps is None and top_spacing is None:
            extra["_default_spacing"] = True
        if iop is None:
            extra["_default_iop"] = True
        transform = items.get("PixelValueTransformationSequence")
        src_get = transform.get if transform is not None else get
        out.append(
            Image(
                file=info,
                frame=f,
                position=pos.copy() if pos is not None else np.zeros(3),
                iop=iop.copy() if iop is not None else np.array(AXIAL_IOP),
                spacing=(float(ps[0]), float(ps[1])) if ps is not None else pixel_spacing_of(info),
                rows=rows,
                cols=cols,
                slope=_scale(src_get("RescaleSlope"), 1.0),
                intercept=_scale(src_get("RescaleIntercept"), 0.0),
                extra=extra,
                resolution=resolution_of(ipp),
            )
        )
    return out


def _frame_time_pointer(ds: Dataset) -> bool:
    pointer = ds.get("FrameIncrementPointer")
    if pointer is None:
        return False
    pointers = pointer if isinstance(pointer, list) or hasattr(pointer, "__iter__") else [pointer]
    return any(int(p) in (0x00181063, 0x00181065) for p in pointers)


def legacy_frames_of(info: FileInfo) -> list[Image]:
    """Frames of a legacy multi-frame file (one top-level position).

    Frames are time points when FrameIncrementPointer names FrameTime/FrameTimeVector;
    otherwise slices at GridFrameOffsetVector, or SpacingBetweenSlices apart, along n.
    """
    ds = info.ds
    ipp = ds.get("ImagePositionPatient")
    pos0 = floats(ipp, 3)
    iop = floats(ds.get("ImageOrientationPatient"), 6)
    defaults = {"_default_origin": pos0 is None, "_default_iop": iop is None}
    defaults["_default_spacing"] = spacing_or_none(ds) is None
    defaults = {k: True for k, v in defaults.items() if v}  # warned about by the reader
    pos0 = pos0 if pos0 is not None else np.zeros(3)
    iop = iop if iop is not None else np.array(AXIAL_IOP)
    normal = slice_normal_of(info, iop)
    timed = _frame_time_pointer(ds)
    offsets = floats(ds.get("GridFrameOffsetVector"), info.nframes)
    step = float(ds.get("SpacingBetweenSlices", 0) or ds.get("SliceThickness", 0) or 1.0)
    frame_ms = float(ds.get("FrameTime", 0) or 0)
    out: list[Image] = []
    for f in range(info.nframes):
        extra: dict[str, Any] = dict(defaults)
        if timed:
            extra["TriggerTime"] = f * frame_ms
            extra["TemporalPositionIdentifier"] = f + 1
            pos = pos0
        else:
            d = offsets[f] if offsets is not None else f * step
            pos = pos0 + d * normal
        out.append(
            Image(
                file=info,
                frame=f,
                position=pos,
                iop=iop,
                spacing=pixel_spacing_of(ds),
                rows=int(ds.Rows),
                cols=int(ds.Columns),
                slope=float(ds.get("RescaleSlope", 1.0) or 1.0),
                intercept=float(ds.get("RescaleIntercept", 0.0) or 0.0),
                extra=extra,
                resolution=resolution_of(ipp),
            )
        )
    logger.debug(
        "%s: legacy multi-frame, %d frames as %s",
        info.name,
        info.nframes,
        "time points" if timed else "slices",
    )
    return out
