"""Group images into series: by SeriesInstanceUID, then by geometry and ImageType.

A series whose images differ in orientation, matrix, pixel spacing, frame of
reference, ImageType or StackID is split into sub-series, so localizers come apart.
Several groups where one series is expected give :class:`MultipleSeriesError`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imagedata.errors import MultipleSeriesError
from imagedata.formats.dicom._scan import Image, as_list

logger = logging.getLogger(__name__)

IOP_TOLERANCE = 1e-4


@dataclass(eq=False)
class Group:
    """Images of one (sub-)series."""

    images: list[Image]
    label: str = ""
    #: What sets this group apart from others of the same SeriesInstanceUID.
    reason: str = ""
    signature: tuple[Any, ...] = field(default_factory=tuple)

    @property
    def first(self) -> Image:
        """The first image (in scan order)."""
        return self.images[0]

    @property
    def uid(self) -> str:
        """SeriesInstanceUID."""
        return str(self.first.get("SeriesInstanceUID", ""))

    @property
    def number(self) -> int | None:
        """SeriesNumber, or None."""
        try:
            return int(self.first.get("SeriesNumber"))
        except (TypeError, ValueError):
            return None

    @property
    def description(self) -> str:
        """SeriesDescription (empty when absent)."""
        return str(self.first.get("SeriesDescription", "") or "")

    def summary(self) -> str:
        """One line for error messages and listings."""
        extra = f" ({self.reason})" if self.reason else ""
        return (
            f"series={self.label!r}: SeriesNumber {self.number}, {self.description!r}, "
            f"{len(self.images)} images, UID {self.uid}{extra}"
        )


def _signature(img: Image) -> tuple[Any, ...]:
    get = img.file.get
    return (
        img.rows,
        img.cols,
        int(get("SamplesPerPixel", 1) or 1),
        str(get("FrameOfReferenceUID", "")),
        tuple(str(v).strip() for v in as_list(get("ImageType"))),
        str(img.get("StackID", "")),
    )


def _same(img: Image, rep: Image, sig: tuple[Any, ...], rep_sig: tuple[Any, ...]) -> bool:
    if sig != rep_sig:
        return False
    if any(abs(a - b) > IOP_TOLERANCE for a, b in zip(img.iop.tolist(), rep.iop.tolist())):
        return False
    return all(abs(a - b) <= 1e-6 + 1e-4 * abs(b) for a, b in zip(img.spacing, rep.spacing))


def _reason(group: Group, main: Group) -> str:
    a, b = group.first, main.first
    sa, sb = group.signature, main.signature
    if sa[:3] != sb[:3]:
        return f"matrix {a.rows}x{a.cols} instead of {b.rows}x{b.cols}"
    if np.max(np.abs(a.iop - b.iop)) > IOP_TOLERANCE:
        return f"orientation {np.round(a.iop, 4).tolist()} differs (localizer?)"
    if not np.allclose(a.spacing, b.spacing, rtol=1e-4, atol=1e-6):
        return f"pixel spacing {a.spacing} instead of {b.spacing}"
    if sa[3] != sb[3]:
        return "other FrameOfReferenceUID"
    if sa[4] != sb[4]:
        return "ImageType " + "\\".join(sa[4])
    return f"StackID {sa[5]}"


def group_images(images: Sequence[Image]) -> list[Group]:
    """Split images into series and geometry sub-series; labels are SeriesNumber[.k]."""
    by_uid: dict[str, list[Group]] = {}
    for img in images:
        uid = str(img.file.get("SeriesInstanceUID", ""))
        groups = by_uid.setdefault(uid, [])
        sig = _signature(img)
        for g in groups:
            if _same(img, g.first, sig, g.signature):
                g.images.append(img)
                break
        else:
            groups.append(Group([img], signature=sig))
    out: list[Group] = []
    for uid, groups in by_uid.items():
        groups.sort(key=lambda g: -len(g.images))
        base = str(groups[0].number) if groups[0].number is not None else uid
        for k, g in enumerate(groups):
            g.label = base if len(groups) == 1 else f"{base}.{k + 1}"
            if k > 0:
                g.reason = _reason(g, groups[0])
        if len(groups) > 1:
            logger.info("series %s split into %d groups by geometry/ImageType", uid, len(groups))
        out.extend(groups)
    labels = [g.label for g in out]
    for g in out:
        if labels.count(g.label) > 1:
            g.label = (
                g.uid if g.label == str(g.number) else f"{g.uid}{g.label[len(str(g.number)) :]}"
            )
    return out


def _matches(g: Group, series: Any) -> bool:
    if isinstance(series, int) and not isinstance(series, bool):
        return g.number == series
    text = str(series).strip()
    if text in (g.label, g.uid):
        return True
    if text == str(g.number) and g.number is not None:
        return True
    return bool(text) and text.lower() == g.description.strip().lower()


def select_group(groups: Sequence[Group], series: Any, source: str) -> Group:
    """Pick the one group `series` names (or the only group).

    Raises
    ------
    MultipleSeriesError
        If several groups match (or exist, when `series` is None), or none matches.
    """
    chosen = list(groups) if series is None else [g for g in groups if _matches(g, series)]
    if len(chosen) == 1:
        return chosen[0]
    if series is not None and len(chosen) > 1:
        exact = [g for g in chosen if str(series) in (g.label, g.uid)]
        if len(exact) == 1:
            return exact[0]
    listing = "\n".join("  " + g.summary() for g in (chosen or groups))
    if not chosen:
        raise MultipleSeriesError(
            f"{source}: no series matches series={series!r}; the input holds:\n{listing}"
        )
    what = "holds" if series is None else f"has {len(chosen)} matches for series={series!r}:"
    raise MultipleSeriesError(
        f"{source}: {what} {len(chosen)} series (or sub-series split by geometry/ImageType):\n"
        f"{listing}\nPick one with series=<label>, e.g. Series(path, series={chosen[0].label!r}); "
        "series also accepts a SeriesNumber, SeriesInstanceUID or SeriesDescription; "
        "or read them all with imagedata.Study(path)"
    )
