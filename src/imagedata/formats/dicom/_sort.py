"""Sort the images of one series into (tag..., slice) order.

Slices are ordered by d = n . ImagePositionPatient (n = X x Y); InstanceNumber only
breaks ties.  Images at the same position are ordered along tag dimensions (see
:mod:`._tags`): given by ``input_order`` or found by ``'auto'``.  Images at one position
whose headers are equal except identity, per-image times and counters and private
attributes are repeats of one acquisition (e.g. GE fMRI volumes): ``'auto'`` orders them
by InstanceNumber (then AcquisitionNumber, TemporalPositionIdentifier) into a time
axis, with a logged note.  Every check names the files, positions and values involved.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from imagedata import geometry
from imagedata.errors import SortError
from imagedata.formats.dicom import _repeats
from imagedata.formats.dicom._scan import FloatArray, Image
from imagedata.formats.dicom._tags import (
    AUTO_CANDIDATES,
    AXIS_ORDER,
    Dim,
    make_dim,
    parse_order,
)

logger = logging.getLogger(__name__)

#: Attributes expected to differ from image to image; never a dimension for 'auto'.
PER_IMAGE = frozenset(
    [
        "SOPInstanceUID",
        "InstanceNumber",
        "ImagePositionPatient",
        "SliceLocation",
        "ContentTime",
        "ContentDate",
        "AcquisitionTime",
        "AcquisitionDateTime",
        "InstanceCreationTime",
        "InstanceCreationDate",
        "WindowCenter",
        "WindowWidth",
        "LargestImagePixelValue",
        "SmallestImagePixelValue",
        "MediaStorageSOPInstanceUID",
        "ImageComments",
        "WindowCenterWidthExplanation",
        "RescaleSlope",
        "RescaleIntercept",
        "InStackPositionNumber",
        "DimensionIndexValues",
        "FrameType",
        "_csa",
        "_csa_b",
        "_csa_g",
        "_no_position",
    ]
)


@dataclass
class Sorted:
    """The images of a series in C order over (tag..., slice)."""

    images: list[Image]
    tag_shape: tuple[int, ...]
    dims: list[Dim]
    positions: FloatArray

    @property
    def nslices(self) -> int:
        """Number of slice positions."""
        return len(self.positions)


def _fmt(p: FloatArray) -> str:
    return "(" + ", ".join(f"{v:.3f}" for v in p) + ")"


def _names(imgs: Sequence[Image], limit: int = 4) -> str:
    names = [i.name for i in imgs[:limit]]
    more = f" and {len(imgs) - limit} more" if len(imgs) > limit else ""
    return ", ".join(names) + more


_NO_INDEX: tuple[int, ...] = ()


def _tiebreak(img: Image) -> tuple[int, tuple[int, ...], int, int]:
    """InstanceNumber, then (enhanced frames) DimensionIndexValues and the frame number."""
    try:
        inst = int(img.file.get("InstanceNumber", 0) or 0)
    except (TypeError, ValueError):
        inst = 0
    div = img.extra.get("DimensionIndexValues", _NO_INDEX)
    if div is _NO_INDEX:  # not an enhanced frame
        return inst, div, img.frame, img.tile
    index = tuple(int(v) for v in div) if isinstance(div, (list, tuple)) else (int(div),)
    return inst, index, img.frame, img.tile


def _place_unpositioned(images: list[Image]) -> None:
    """Images without any position: one slice each, 1 mm apart, by InstanceNumber."""
    if not all(img.extra.get("_no_position") for img in images):
        return
    logger.info("%s: no ImagePositionPatient; images stacked by InstanceNumber", images[0].name)
    for k, img in enumerate(sorted(images, key=_tiebreak)):
        img.position = np.array([0.0, 0.0, float(k)])


def cluster_positions(images: Sequence[Image]) -> tuple[list[list[Image]], FloatArray, float]:
    """Group images by slice position, ordered by n . S; return groups, positions, tolerance."""
    normal = geometry.slice_normal(images[0].iop)
    res = max(img.resolution for img in images)
    tol = max(1e-3, 2.0 * res)
    d = geometry.locations_along(normal, [img.position for img in images]).tolist()
    if len(set(d)) == len(d):  # no two at one location: the tie-break is never asked
        order = sorted(range(len(images)), key=d.__getitem__)
    else:
        order = sorted(range(len(images)), key=lambda i: (d[i], _tiebreak(images[i])))
    groups: list[list[Image]] = []
    last = -math.inf
    for i in order:
        if d[i] - last > tol or not groups:
            groups.append([])
            last = d[i]
        groups[-1].append(images[i])
    positions = np.array([g[0].position for g in groups], dtype=np.float64)
    return groups, positions, res


def check_counts(groups: list[list[Image]], positions: FloatArray) -> int:
    """The number of images per position; SortError naming positions with an odd number."""
    counts = Counter(len(g) for g in groups)
    if len(counts) == 1:
        return len(groups[0])
    common = max(counts, key=lambda n: (counts[n], n))
    odd = [(k, len(g)) for k, g in enumerate(groups) if len(g) != common]
    lines = [
        f"  slice {k} at {_fmt(positions[k])} has {n} images ({_names(groups[k])})"
        for k, n in odd[:6]
    ]
    more = f"\n  ... and {len(odd) - 6} more positions" if len(odd) > 6 else ""
    if all(n == common - 1 for _, n in odd):
        hint = "\nA partial last volume (or a missing file)? "
    elif all(n > common for _, n in odd):
        hint = "\nA partial last volume, or extra files (e.g. a copy under a new SOPInstanceUID)? "
    else:
        hint = "\n"
    raise SortError(
        f"unequal number of images per slice position: {counts[common]} of {len(groups)} "
        f"positions have {common} images, but\n"
        + "\n".join(lines)
        + more
        + hint
        + "Add the missing files, remove the extra ones, or pick images with series=..."
    )


def varying_attributes(imgs: Sequence[Image]) -> list[str]:
    """Keywords (not per-image ones) whose values differ between `imgs`."""
    first = imgs[0].ds
    out = []
    for elem in first:
        kw = elem.keyword
        if not kw or kw in PER_IMAGE or elem.VR == "SQ" or elem.tag.is_private:
            continue
        values = {str(img.ds.get(kw)) for img in imgs}
        if len(values) > 1:
            out.append(kw)
    extra_keys = {
        k for img in imgs for k in img.extra if not k.startswith("_") and k not in PER_IMAGE
    }
    for k in sorted(extra_keys):
        if len({str(img.extra.get(k)) for img in imgs}) > 1 and k not in out:
            out.append(k)
    return out


def _unexplained(imgs: Sequence[Image], ncells: int) -> SortError:
    other = varying_attributes(imgs)
    return SortError(
        f"cannot tell apart the {len(imgs)} images at one slice position ({_names(imgs)}): "
        f"known dimensions give {ncells} groups. Attributes that vary: {other or 'none'}; "
        "read with input_order=<keyword or comma list>, e.g. input_order="
        f"{(other[0] if other else 'time')!r}"
    )


def _candidates(imgs: Sequence[Image]) -> tuple[list[Dim], int]:
    """The well-known dimensions that vary at one position, and the cells they give."""
    chosen: list[Dim] = []
    keys: list[tuple[Hashable, ...]] = [() for _ in imgs]
    ncells = 1
    for name in AUTO_CANDIDATES:
        if name == "b" and any(d.name == "dti" for d in chosen):
            continue
        dim = make_dim(name)
        k = [dim.key(img) for img in imgs]
        if len(set(k)) < 2:
            continue
        if name == "dti" and len({make_dim("b").key(img) for img in imgs}) == len(set(k)):
            continue  # only b varies: prefer 'b'
        combined = [(*a, b) for a, b in zip(keys, k)]
        n = len(set(combined))
        if n > ncells:
            chosen.append(dim)
            keys, ncells = combined, n
    return chosen, ncells


def resolve_auto(groups: Sequence[Sequence[Image]]) -> list[Dim]:
    """The dimensions that explain the images at each position ('auto').

    Well-known dimensions first; images they leave alike are repeats ordered by
    InstanceNumber (:func:`._repeats.repeats_dim`) when their headers are equal apart
    from identity, per-image times and counters and private attributes.
    """
    imgs = groups[0]
    if len(imgs) < 2:
        return []
    chosen, ncells = _candidates(imgs)
    if ncells < len(imgs):
        others = [d for d in chosen if d.name != "time"]
        repeats = _repeats.repeats_dim(groups, others, PER_IMAGE)
        if repeats is None:
            raise _unexplained(imgs, ncells)
        chosen = [*others, repeats]
    else:
        chosen = _time_by_rank(chosen, groups)
    chosen.sort(key=lambda d: AXIS_ORDER.index(d.name))
    return chosen


def _is_grid(dims: Sequence[Dim], imgs: Sequence[Image]) -> bool:
    sizes = [len({d.key(i) for i in imgs}) for d in dims]
    cells = {tuple(d.key(i) for d in dims) for i in imgs}
    return math.prod(sizes) == len(imgs) == len(cells)


def _time_by_rank(dims: list[Dim], groups: Sequence[Sequence[Image]]) -> list[Dim]:
    """Time as the rank in time per echo (...) when each image has its own acquisition time."""
    if len(dims) < 2 or not any(d.name == "time" for d in dims) or _is_grid(dims, groups[0]):
        return dims
    others = [d for d in dims if d.name != "time"]
    rank = _repeats.time_by_rank(groups, others)
    if rank is None:
        return dims
    alt = [rank if d.name == "time" else d for d in dims]
    if not _is_grid(alt, groups[0]):
        return dims
    logger.info(
        "%s: acquisition times differ within a time point (e.g. per echo); time points "
        "numbered by acquisition time within each %s",
        groups[0][0].name,
        ", ".join(d.name for d in others),
    )
    return alt


def check_present(dims: Sequence[Dim], groups: Sequence[Sequence[Image]]) -> None:
    """SortError when an image lacks the attribute of a forced order (never an axis of NaN)."""
    for d in dims:
        if d.present is None:
            continue
        missing = [img for g in groups for img in g if not d.present(img)]
        if missing:
            hint = (
                "input_order='dti' (b-value and direction in one axis; b=0 needs no "
                "direction) or input_order='auto'"
                if d.name == "bvector"
                else "input_order='auto' to sort by what the images have"
            )
            raise SortError(
                f"input_order={d.name!r}: {len(missing)} image(s) have no {d.attribute} "
                f"({_names(missing)}); read with {hint}"
            )


def _check_distinct(
    ordered: Sequence[Image], d: Dim, k: int, pos: FloatArray, accept_duplicate_tag: bool
) -> None:
    keys = [d.key(img) for img in ordered]
    if accept_duplicate_tag or len(set(keys)) == len(keys):
        return
    dup = [img for img, key in zip(ordered, keys) if keys.count(key) > 1]
    raise SortError(
        f"input_order={d.name!r}: slice {k} at {_fmt(pos)} has {len(dup)} images with equal "
        f"{d.attribute or d.name} {d.value(dup[0])!r} ({_names(dup)}); read with "
        "input_order='auto', or accept_duplicate_tag=True to keep the equal values "
        "(in InstanceNumber order)"
    )


def _grid(
    imgs: Sequence[Image],
    dims: Sequence[Dim],
    k: int,
    pos: FloatArray,
    accept_duplicate_tag: bool = False,
) -> tuple[list[int], list[Image]]:
    """Sizes of each dim and the images of one position in C order over the dims."""
    if len(dims) == 1:
        d = dims[0]
        sort = d.sort or d.key
        ordered = sorted(imgs, key=lambda i: (sort(i), _tiebreak(i)))
        _check_distinct(ordered, d, k, pos, accept_duplicate_tag)
        return [len(ordered)], ordered
    keys = [[d.key(img) for d in dims] for img in imgs]
    levels: list[list[Any]] = [sorted({kk[j] for kk in keys}) for j in range(len(dims))]
    sizes = [len(lv) for lv in levels]
    cells: dict[tuple[int, ...], Image] = {}
    names = ", ".join(d.name for d in dims)
    for img, kk in zip(imgs, keys):
        idx = tuple(levels[j].index(kk[j]) for j in range(len(dims)))
        if idx in cells:
            raise SortError(
                f"slice {k} at {_fmt(pos)}: {cells[idx].name} and {img.name} have the same "
                f"{names}; these do not form a regular grid; read with input_order='auto'"
            )
        cells[idx] = img
    if len(cells) != math.prod(sizes):
        hint = (
            "read with input_order='dti' (one axis of (b, direction))"
            if {d.name for d in dims} == {"b", "bvector"}
            else "read with input_order='auto'"
        )
        raise SortError(
            f"slice {k} at {_fmt(pos)}: {len(cells)} images for {'x'.join(map(str, sizes))} "
            f"combinations of {names}; some combinations are missing; {hint}"
        )
    return sizes, [cells[idx] for idx in np.ndindex(*sizes)]


def _consensus(groups: list[list[Image]], d: Dim) -> list[list[Image]] | None:
    """Groups re-ordered by one order of `d`'s values (their mean rank over positions).

    For dimensions kept in acquisition order (gradient directions): an odd
    AcquisitionNumber or time on a few files must not reorder their slices only.
    None when positions hold different values (reported by the caller) or equal ones.
    """
    if d.sort is None or len(groups) < 2:
        return None
    ranks: dict[Hashable, list[int]] = {}
    for g in groups:
        ordered = sorted(g, key=lambda i: (d.sort(i), _tiebreak(i)))  # type: ignore[misc]
        keys = [d.key(img) for img in ordered]
        if len(set(keys)) < len(keys):
            return None
        for r, key in enumerate(keys):
            ranks.setdefault(key, []).append(r)
    if any(len(r) != len(groups) for r in ranks.values()):
        return None
    place = {key: sum(r) / len(r) for key, r in ranks.items()}
    return [sorted(g, key=lambda i: place[d.key(i)]) for g in groups]


def order_positions(
    groups: list[list[Image]],
    positions: FloatArray,
    dims: list[Dim],
    accept_duplicate_tag: bool = False,
) -> tuple[list[int], list[list[Image]]]:
    """Order each position's images along `dims`; check that all positions agree."""
    out: list[list[Image]] = []
    sizes0: list[int] = [1]
    consensus = _consensus(groups, dims[0]) if len(dims) == 1 else None
    if consensus is not None:
        return [len(consensus[0])], consensus
    for k, g in enumerate(groups):
        sizes, ordered = _grid(g, dims, k, positions[k], accept_duplicate_tag)
        if k == 0:
            sizes0 = sizes
        elif sizes != sizes0:
            raise SortError(
                f"slice {k} at {_fmt(positions[k])} has {sizes} values of "
                f"{', '.join(d.name for d in dims)}, slice 0 has {sizes0}"
            )
        else:
            _check_same_tags(out[0], ordered, dims, k, positions[k])
        out.append(ordered)
    return sizes0, out


def _check_same_tags(
    ref: list[Image], ordered: list[Image], dims: list[Dim], k: int, pos: FloatArray
) -> None:
    for d in dims:
        if d.name in ("time", "triggertime"):
            continue  # acquisition times differ from slice to slice
        for n, (a, b) in enumerate(zip(ref, ordered)):
            if d.key(a) != d.key(b):
                raise SortError(
                    f"{d.name} differs between slices: slice {k} at {_fmt(pos)} has "
                    f"{d.value(b)} at index {n} ({b.name}) where slice 0 has {d.value(a)} "
                    f"({a.name}); check for missing or extra files"
                )


def check_spacing(
    positions: FloatArray, groups: list[list[Image]], res: float, accept_uneven: bool, iop: Any
) -> bool:
    """True when slices are evenly spaced; SortError naming the gap unless `accept_uneven`."""
    normal = geometry.slice_normal(iop)
    odd = geometry.uneven_steps(positions, normal)
    if not odd:
        return True
    steps = np.diff(geometry.locations_along(normal, positions))
    median = float(np.median(steps))
    tol = max(
        geometry.STEP_ABS_TOLERANCE,
        geometry.STEP_REL_TOLERANCE * abs(median),
        2.0 * res * float(np.sum(np.abs(normal))),
    )
    odd = [(k, s) for k, s in odd if abs(s - median) > tol]
    if not odd:
        return True
    if accept_uneven:
        logger.info("uneven slice spacing kept (accept_uneven_slices=True): %s", odd[:5])
        return False
    lines = [
        f"  between slice {k} at {_fmt(positions[k])} ({groups[k][0].name}) and slice {k + 1} at "
        f"{_fmt(positions[k + 1])} ({groups[k + 1][0].name}): {s:.4g} mm"
        for k, s in odd[:6]
    ]
    raise SortError(
        f"slices are not evenly spaced (typical step {median:.4g} mm along the normal):\n"
        + "\n".join(lines)
        + "\nA slice may be missing. Read with accept_uneven_slices=True to keep the exact "
        "per-slice positions."
    )


def _dims(order: Any, groups: list[list[Image]], m: int) -> list[Dim]:
    """The tag dimensions of `order` ('auto': found; forced: checked) for these positions."""
    dims = parse_order(order)
    if dims is None:
        return resolve_auto(groups)
    if not dims and m > 1:
        other = varying_attributes(groups[0])
        raise SortError(
            f"{m} images at each slice position (e.g. {_names(groups[0])}) but input_order='none'; "
            f"attributes that vary: {other or 'none'}; read with input_order='auto' or a keyword"
        )
    check_present(dims, groups)
    return _time_by_rank(dims, groups)


def sort_group(
    images: Sequence[Image],
    order: Any,
    accept_uneven_slices: bool = False,
    accept_duplicate_tag: bool = False,
) -> tuple[Sorted, bool]:
    """Sort a group's images into (tag..., slice) order; return it and whether spacing is even.

    Raises
    ------
    SortError
        For unequal image counts per position, images that cannot be told apart, a
        forced order whose attribute is missing or has equal values (unless
        `accept_duplicate_tag`), tags that differ between slices, or uneven spacing
        (unless accepted).
    """
    imgs = list(images)
    _place_unpositioned(imgs)
    groups, positions, res = cluster_positions(imgs)
    m = check_counts(groups, positions)
    dims = _dims(order, groups, m)
    if dims:
        sizes, ordered = order_positions(groups, positions, dims, accept_duplicate_tag)
    else:
        sizes, ordered = [], groups
    even = check_spacing(positions, groups, res, accept_uneven_slices, imgs[0].iop)
    flat = [ordered[k][t] for t in range(max(1, math.prod(sizes))) for k in range(len(groups))]
    return Sorted(flat, tuple(sizes), dims, positions), even
