"""Time axes made from the order of images: repeats and per-image acquisition times.

Two cases need a time axis that no attribute value gives directly:

* **Repeats** (GE fMRI, Philips ASL label/control): images at one slice position whose
  headers are equal except identity (SOPInstanceUID, InstanceNumber), per-image times and
  counters (AcquisitionTime, AcquisitionNumber, TemporalPositionIdentifier, ...) and
  private attributes.  Different SOPInstanceUIDs are different images, never duplicates:
  they are ordered by InstanceNumber, then AcquisitionNumber and
  TemporalPositionIdentifier, as dcm2niix does.
* **Per-image times** (multi-echo series whose echoes each have their own acquisition
  time): the time point of an image is its rank in time among the images of the same
  echo (more generally: the same values of the other dimensions).

Both give a :class:`~._tags.Dim` named 'time' whose key is that rank.  "Equal headers"
is decided from the header pass (:attr:`._scan.FileInfo.digest`), never by reading pixels.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from imagedata.formats.dicom._scan import Image
from imagedata.formats.dicom._tags import Dim, absolute_time, time_value
from imagedata.formats.dicom._values import user_stacklevel

logger = logging.getLogger(__name__)

#: Per-frame values (enhanced objects) that may differ between repeats.
_REPEAT_EXTRA = frozenset(
    [
        "AcquisitionNumber",
        "TemporalPositionIdentifier",
        "AcquisitionDateTime",
        "TriggerTime",
        "DimensionIndexValues",
        "InStackPositionNumber",
    ]
)


def _int(v: Any) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def instance_order(img: Image) -> tuple[int, int, int, int, int]:
    """InstanceNumber, AcquisitionNumber, TemporalPositionIdentifier, frame, tile."""
    return (
        _int(img.file.get("InstanceNumber")),
        _int(img.get("AcquisitionNumber")),
        _int(img.get("TemporalPositionIdentifier")),
        img.frame,
        img.tile,
    )


def image_digest(img: Image, per_image: frozenset[str]) -> Hashable:
    """The file's header digest plus the image's own per-frame values (not `per_image`)."""
    extra = tuple(
        sorted(
            (k, str(v))
            for k, v in img.extra.items()
            if not k.startswith("_") and k not in per_image and k not in _REPEAT_EXTRA
        )
    )
    return (img.file.digest, extra)


def _cells(imgs: Sequence[Image], others: Sequence[Dim]) -> dict[Hashable, list[Image]]:
    if not others:  # one cell
        return {(): list(imgs)}
    cells: dict[Hashable, list[Image]] = {}
    for img in imgs:
        cells.setdefault(tuple(d.key(img) for d in others), []).append(img)
    return cells


def rank_within(
    groups: Sequence[Sequence[Image]],
    others: Sequence[Dim],
    order: Callable[[Image], Any],
) -> bool:
    """Number images by `order` within each cell of `others` at each position.

    The rank goes to ``img.extra['_rank']``.  False when two images of a cell have the
    same `order` (the rank would be a choice by file name).
    """
    for imgs in groups:
        for cell in _cells(imgs, others).values():
            ranked = sorted([(order(img), img) for img in cell], key=_first)  # stable
            keys = [key for key, _ in ranked]
            if len(set(keys)) < len(keys):
                return False
            for r, (_, img) in enumerate(ranked):
                img.extra["_rank"] = r
    return True


def _first(pair: tuple[Any, Image]) -> Any:
    return pair[0]


def _rank_key(img: Image) -> int:
    rank: int = img.extra["_rank"]
    return rank


def rank_dim(value: Callable[[Image], Any] = time_value) -> Dim:
    """A 'time' dimension keyed by ``img.extra['_rank']`` (see :func:`rank_within`)."""
    return Dim("time", _rank_key, value)


def _time_order(img: Image) -> tuple[float, tuple[int, int, int, int, int]]:
    t = absolute_time(img)
    return (0.0 if t is None else round(t, 4)), instance_order(img)


def time_by_rank(groups: Sequence[Sequence[Image]], others: Sequence[Dim]) -> Dim | None:
    """A time dimension: the rank in acquisition time within each cell of `others`.

    For series where each echo (or other value) has its own acquisition times; None
    when the ranks cannot be given (equal times and counters).
    """
    if not rank_within(groups, others, _time_order):
        return None
    return rank_dim()


def are_repeats(cell: Sequence[Image], per_image: frozenset[str]) -> bool:
    """True when the images of `cell` differ only in what repeats may differ in."""
    return len({image_digest(img, per_image) for img in cell}) == 1


def repeats_dim(
    groups: Sequence[Sequence[Image]], others: Sequence[Dim], per_image: frozenset[str]
) -> Dim | None:
    """The time dimension of repeats ordered by InstanceNumber; None when not repeats.

    Every cell of `others` at every position must hold images with equal header
    digests and distinct InstanceNumber (or AcquisitionNumber, ...).  The axis values
    are acquisition times when they increase from repeat to repeat, else the repeat
    number times RepetitionTime (seconds), else the repeat number.  The rule is logged;
    values not read from the images (TR or repeat number) are a warning naming the file.
    """
    for imgs in groups:
        if not all(are_repeats(cell, per_image) for cell in _cells(imgs, others).values()):
            return None
    if not rank_within(groups, others, instance_order):
        return None
    first = groups[0]
    value, how = _repeat_value(first, others)
    n = 1 + max(_rank_key(img) for img in first)
    note = (
        f"{first[0].name} and others: images at one slice position that differ only in "
        "InstanceNumber, AcquisitionNumber, TemporalPositionIdentifier, times or private "
        f"attributes are {n} repeats, ordered by InstanceNumber into a time axis ({how})"
    )
    if value is time_value:
        logger.info("%s", note)
    else:  # the axis values are not read from the images: say so
        warnings.warn(note, stacklevel=user_stacklevel())
    return rank_dim(value)


def _repeat_value(
    first: Sequence[Image], others: Sequence[Dim]
) -> tuple[Callable[[Image], Any], str]:
    """Axis values of repeats: increasing acquisition times, else rank x TR, else rank."""
    ref = first[0]
    cell = sorted(
        (img for img in first if all(d.key(img) == d.key(ref) for d in others)), key=_rank_key
    )
    times = [absolute_time(img) for img in cell]
    known = [t for t in times if t is not None]
    if len(known) == len(times) and all(b > a for a, b in itertools.pairwise(known)):
        return time_value, "values: acquisition times"
    try:
        tr = float(ref.get("RepetitionTime")) / 1000.0
    except (TypeError, ValueError):
        tr = 0.0
    if tr > 0:
        return (
            lambda img: float(img.extra["_rank"]) * tr,
            f"acquisition times do not tell them apart; values: repeat number x "
            f"RepetitionTime ({tr:g} s)",
        )
    return (
        lambda img: float(img.extra["_rank"]),
        "acquisition times do not tell them apart and no RepetitionTime; values: repeat number",
    )
