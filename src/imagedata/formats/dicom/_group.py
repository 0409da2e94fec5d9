"""Group images into series: by SeriesInstanceUID, then by SeriesNumber, geometry and type.

A series whose images differ in SeriesNumber, orientation, matrix, pixel spacing, frame
of reference, ImageType/FrameType, ComplexImageComponent or StackID is split into
sub-series, so localizers, transfer-syntax copies and magnitude/phase frames come apart.
Philips' derived isotropic ("trace") DWI images get a sub-series of their own.

Two images with one SOPInstanceUID are one image when their pixels are equal (the copy
is dropped with a logged note naming both files); with different pixels the second goes
into a sub-series of its own whose listing names both files.  Only images that share a
SOPInstanceUID have their pixels compared; every other decision comes from the header
pass.  Several groups where one series is expected give :class:`MultipleSeriesError`.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imagedata.errors import MultipleSeriesError
from imagedata.formats.dicom import _diffusion
from imagedata.formats.dicom._scan import Image, as_list

logger = logging.getLogger(__name__)

IOP_TOLERANCE = 1e-4

#: Position of each part of :func:`_signature`.
_MATRIX, _FOR, _TYPE, _STACK, _NUMBER, _TRACE, _COPY = 0, 3, 4, 5, 6, 7, 8


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

    @property
    def trace(self) -> bool:
        """True for Philips' derived isotropic (trace) DWI images."""
        return bool(self.signature and self.signature[_TRACE])

    def summary(self) -> str:
        """One line for error messages and listings."""
        extra = f" ({self.reason})" if self.reason else ""
        return (
            f"series={self.label!r}: SeriesNumber {self.number}, {self.description!r}, "
            f"{len(self.images)} images, UID {self.uid}{extra}"
        )


def is_trace(img: Image) -> bool:
    """True for a Philips derived isotropic DWI image ("trace", dropped by dcm2niix too).

    Philips marks it with Diffusion Direction (2001,xx04) 'I'; without that tag, a
    b-value above 0 with a zero gradient direction gives it away.
    """
    if "PHILIPS" not in str(img.file.get("Manufacturer", "")).upper():
        return False
    direction = img.file.private(0x2001, "Philips Imaging DD 001", 0x04)
    if direction is not None:
        return str(direction).strip().upper() == "I"
    b = _diffusion.b_value(img)
    g = _diffusion.gradient(img)
    return b is not None and b > 0 and g is not None and not np.any(g)


@functools.lru_cache(maxsize=1024)
def _type_of(value: Any) -> tuple[str, ...]:
    return tuple(str(v).strip().upper() for v in as_list(value))


def _image_type(value: Any) -> tuple[str, ...]:
    """ImageType/FrameType as upper-case stripped strings (one conversion per value seen)."""
    if isinstance(value, list):
        value = tuple(value)  # as_list gives the same items
    try:
        return _type_of(value)
    except TypeError:  # not hashable
        return tuple(str(v).strip().upper() for v in as_list(value))


def _signature(img: Image) -> tuple[Any, ...]:
    get = img.file.get
    frame_type = img.extra.get("FrameType") or get("ImageType")
    return (
        img.rows,
        img.cols,
        int(get("SamplesPerPixel", 1) or 1),
        str(get("FrameOfReferenceUID", "")),
        (
            _image_type(frame_type),
            str(img.get("ComplexImageComponent", "") or "").upper(),
        ),
        str(img.get("StackID", "")),
        str(get("SeriesNumber", "")),
        is_trace(img),
        0,
    )


#: Per-image values that enter a signature beside the file's (frames of enhanced files).
_IMAGE_KEYS = ("FrameType", "ComplexImageComponent", "StackID")
#: Per-image values :func:`is_trace` reads for a Philips image (through
#: :func:`._diffusion.b_value` and :func:`._diffusion.gradient`, with their caches).
_TRACE_KEYS = ("DiffusionBValue", "DiffusionGradientOrientation", "_csa_b", "_csa_g", "_b", "_g")
_PHILIPS_KEYS = _IMAGE_KEYS + _TRACE_KEYS
#: Key part of a value an image does not have.
_ABSENT = object()


def _key_part(value: Any) -> Any:
    """`value` as part of a memo key, equal only to a value of the same type that reads
    the same (a float by its repr: 0.0 and -0.0 differ); TypeError for other types."""
    kind = type(value)
    if kind is str or value is None or value is _ABSENT:
        return value
    if kind is int:
        return (int, value)
    if kind is float:
        return (float, repr(value))
    if kind is tuple or kind is list:
        items = tuple(value)
        if all(type(v) is str for v in items):
            return (kind, items)
        return (kind, tuple(map(_key_part, items)))
    raise TypeError(f"no memo key for {kind.__name__}")


def _signature_of(img: Image, memo: dict[Any, Any]) -> tuple[Any, ...]:
    """:func:`_signature`, computed once per file, matrix and per-image values it reads.

    Those are :data:`_IMAGE_KEYS` in :attr:`Image.extra` (frames of enhanced files),
    and for a Philips file also :data:`_TRACE_KEYS` (the trace test reads each image's
    b-value and gradient); the rest comes from the file.  Images with values of other
    types than str, int, float, None or lists of these are computed one by one.
    """
    file, extra = img.file, img.extra
    if not extra or extra.keys().isdisjoint(_PHILIPS_KEYS):  # only the file decides
        key: tuple[Any, ...] = (id(file), img.rows, img.cols)
    else:
        philips = memo.get(id(file))
        if philips is None:
            philips = memo[id(file)] = "PHILIPS" in str(file.get("Manufacturer", "")).upper()
        values = [extra.get(k, _ABSENT) for k in (_PHILIPS_KEYS if philips else _IMAGE_KEYS)]
        try:
            for i, v in enumerate(values):
                if type(v) is not str and v is not _ABSENT:
                    values[i] = _key_part(v)
        except TypeError:
            return _signature(img)
        key = (id(file), img.rows, img.cols, *values)
    sig = memo.get(key)
    if sig is None:
        sig = memo[key] = _signature(img)
    return sig


def merge_key(group: Group) -> tuple[Any, ...]:
    """The group's signature without its SeriesNumber (for joining series across UIDs)."""
    sig = group.signature
    return (*sig[:_NUMBER], *sig[_NUMBER + 1 :])


def _same(iop: list[float], spacing: Sequence[float], rep: _Rep, sig: tuple[Any, ...]) -> bool:
    """True when an image (its orientation, spacing, signature) joins `rep`'s group."""
    rep_iop, rep_spacing, rep_sig = rep
    if sig != rep_sig:
        return False
    if iop != rep_iop and any(abs(a - b) > IOP_TOLERANCE for a, b in zip(iop, rep_iop)):
        return False
    return spacing == rep_spacing or all(
        abs(a - b) <= 1e-6 + 1e-4 * abs(b) for a, b in zip(spacing, rep_spacing)
    )


#: A group's first image as :func:`_same` compares it: orientation, spacing, signature.
_Rep = tuple[list[float], Sequence[float], tuple[Any, ...]]


def _reason(group: Group, main: Group) -> str:
    a, b = group.first, main.first
    sa, sb = group.signature, main.signature
    if sa[_COPY]:
        twin = a.extra.get("_uid_twin", "another file")
        return (
            f"SOPInstanceUIDs also used by other images with different pixels, "
            f"e.g. {a.name} and {twin}"
        )
    if sa[_NUMBER] != sb[_NUMBER]:
        return f"SeriesNumber {sa[_NUMBER] or 'missing'} under the same SeriesInstanceUID"
    if sa[:3] != sb[:3]:
        return f"matrix {a.rows}x{a.cols} instead of {b.rows}x{b.cols}"
    if np.max(np.abs(a.iop - b.iop)) > IOP_TOLERANCE:
        return f"orientation {np.round(a.iop, 4).tolist()} differs (localizer?)"
    if not np.allclose(a.spacing, b.spacing, rtol=1e-4, atol=1e-6):
        return f"pixel spacing {a.spacing} instead of {b.spacing}"
    if sa[_FOR] != sb[_FOR]:
        return "other FrameOfReferenceUID"
    if sa[_TRACE]:
        return "Philips derived isotropic (trace) DWI images"
    if sa[_TYPE] != sb[_TYPE]:
        kind, component = sa[_TYPE]
        return "ImageType/FrameType " + "\\".join(kind) + (f", {component}" if component else "")
    return f"StackID {sa[_STACK]}"


SamePixels = Callable[[Image, Image], bool]


def _split_uid_twins(
    img: Image,
    sig: tuple[Any, ...],
    seen: dict[tuple[Any, ...], list[Image]],
    same: SamePixels,
    series_uid: str,
) -> tuple[Any, ...] | None:
    """`img`'s signature with its copy index; None when it repeats an image seen before.

    Pixels are compared only for images sharing a SOPInstanceUID (and signature) in the
    series `series_uid` (the image's SeriesInstanceUID).
    """
    key = (series_uid, img.uid, sig)
    earlier = seen.setdefault(key, [])
    if not earlier:  # the common case: the first image with this UID
        earlier.append(img)
        return sig if sig[_COPY] == 0 else (*sig[:_COPY], 0)
    for other in earlier:
        if same(other, img):
            logger.info(
                "%s repeats %s (same SOPInstanceUID %s, same pixels): read once",
                img.name,
                other.name,
                img.uid,
            )
            return None
    if earlier:
        img.extra["_uid_twin"] = earlier[0].name
        logger.info(
            "%s and %s share SOPInstanceUID %s but differ in pixels: split apart",
            img.name,
            earlier[0].name,
            img.uid,
        )
    earlier.append(img)
    return (*sig[:_COPY], len(earlier) - 1)


def group_images(images: Sequence[Image], same_pixels: SamePixels) -> list[Group]:
    """Split images into series and sub-series; labels are SeriesNumber[.k].

    `same_pixels` compares two images that share a SOPInstanceUID.
    """
    by_uid: dict[str, list[Group]] = {}
    seen: dict[tuple[Any, ...], list[Image]] = {}
    reps: dict[int, _Rep] = {}  # by id(group)
    memo: dict[Any, Any] = {}  # signatures by file, matrix and per-image values
    file: Any = None
    uid, groups = "", []
    # the image placed last, as (orientation, spacing, signature, its group): an image of
    # the same file with the same orientation (object: mosaic tiles share it), spacing and
    # signature joins that group, since _same would give the same answers again
    last: tuple[Any, Sequence[float], tuple[Any, ...], Group] | None = None
    for img in images:
        if img.file is not file:  # SeriesInstanceUID is the file's
            file, last = img.file, None
            uid = str(file.get("SeriesInstanceUID", ""))
            groups = by_uid.setdefault(uid, [])
        sig = _split_uid_twins(img, _signature_of(img, memo), seen, same_pixels, uid)
        if sig is None:
            continue
        if last is not None and last[0] is img.iop and last[1] == img.spacing and last[2] == sig:
            last[3].images.append(img)
            continue
        iop = img.iop.tolist()
        for g in groups:
            if _same(iop, img.spacing, reps[id(g)], sig):
                g.images.append(img)
                break
        else:
            g = Group([img], signature=sig)
            reps[id(g)] = (iop, img.spacing, sig)
            groups.append(g)
        last = (img.iop, img.spacing, sig, g)
    out: list[Group] = []
    for uid, groups in by_uid.items():
        _label(uid, groups)
        out.extend(groups)
    labels = [g.label for g in out]
    for g in out:
        if labels.count(g.label) > 1:
            g.label = (
                g.uid if g.label == str(g.number) else f"{g.uid}{g.label[len(str(g.number)) :]}"
            )
    return out


def _label(uid: str, groups: list[Group]) -> None:
    """Label the groups of one SeriesInstanceUID: SeriesNumber, then .k for sub-series."""
    groups.sort(key=lambda g: (g.signature[_COPY], g.trace, -len(g.images)))
    by_number: dict[int | None, list[Group]] = {}
    for g in groups:
        by_number.setdefault(g.number, []).append(g)
    for number, same_number in by_number.items():
        base = str(number) if number is not None else uid
        for k, g in enumerate(same_number):
            g.label = base if len(same_number) == 1 else f"{base}.{k + 1}"
            if g is not groups[0]:
                g.reason = _reason(g, same_number[0] if k else groups[0])
    if len(groups) > 1:
        logger.info(
            "series %s split into %d groups: %s",
            uid,
            len(groups),
            "; ".join(f"{g.label}: {g.reason or 'main'}" for g in groups),
        )


def _without_trace(groups: Sequence[Group]) -> Group | None:
    """The one DWI group when the only others are its derived trace images (dropped)."""
    main = [g for g in groups if not g.trace]
    if len(main) != 1 or len(main) == len(groups):
        return None
    traces = [g for g in groups if g.trace]
    if any(g.uid != main[0].uid for g in traces):
        return None
    labels = ", ".join(repr(g.label) for g in traces)
    n = sum(len(g.images) for g in traces)
    warnings.warn(
        f"{traces[0].first.name}: {n} Philips derived isotropic (trace) DWI images left out "
        f"of series {main[0].label!r} (as dcm2niix does); read them with series={labels}",
        stacklevel=5,
    )
    return main[0]


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
    dwi = _without_trace(chosen) if len(chosen) > 1 else None
    if dwi is not None:
        return dwi
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
        f"{source}: {what} {len(chosen)} series (or sub-series split by SeriesNumber, "
        "geometry or image type):\n"
        f"{listing}\nPick one with series=<label>, e.g. Series(path, series={chosen[0].label!r}); "
        "series also accepts a SeriesNumber, SeriesInstanceUID or SeriesDescription; "
        "or read them all with imagedata.Study(path)"
    )
