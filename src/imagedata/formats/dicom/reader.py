"""Read DICOM files into one sorted array and its :class:`~imagedata.header.Header`.

The reader works in passes, so a huge series never holds more than its final array:

1. :mod:`._scan` reads every header up to the pixel data (non-DICOM files and
   non-image objects are skipped); :func:`images_of` splits each file into its images
   (:mod:`._enhanced` for multi-frame files, :mod:`._mosaic` for Siemens mosaics);
2. :mod:`._group` groups images into series and geometry sub-series;
3. :mod:`._sort` orders the chosen series into (tag..., slice) with all checks;
4. :mod:`._pixels` allocates the final array once and decodes every image into it.

Parametric Maps are read as enhanced multi-frame images (float pixel data, bit for
bit); a Segmentation (SEG) group is read by :mod:`._seg` as a mask or label image.
The SOP Instance UIDs and positions of the images read are recorded in the template
(:func:`._derived.record_sources`) so that a Parametric Map or SEG computed from the
series can reference them.

Examples
--------
>>> import tempfile
>>> from imagedata.archives import expand
>>> from imagedata.testing import make_dicom_series
>>> truth = make_dicom_series(tempfile.mkdtemp(), shape=(4, 6, 8))
>>> arr, header = read_series(expand(truth.path))
>>> arr.shape, header.input_order, bool((arr == truth.data).all())
((4, 6, 8), 'none', True)
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from pydicom import config
from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import BaseTag, Tag
from pydicom.valuerep import VR

from imagedata import geometry
from imagedata._progress import ProgressOption, reporter, resolved
from imagedata.archives import Member
from imagedata.axis import Axis, tag_axis
from imagedata.errors import ImageDataError, NoDataError, ReadError
from imagedata.formats import _rawvalues
from imagedata.formats.dicom import _derived, _diffusion_ge, _enhanced, _mosaic, _pixels, _seg
from imagedata.formats.dicom._group import Group, group_images, select_group
from imagedata.formats.dicom._pixels import Scaling
from imagedata.formats.dicom._scan import (
    FileInfo,
    Image,
    scan,
    single_image,
    warn_defaults,
)
from imagedata.formats.dicom._sort import PER_IMAGE, Sorted, sort_group
from imagedata.header import Header

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

__all__ = ["Scaling", "read_group", "read_series", "scan_groups"]

#: Attributes removed from the template: they differ per image or describe the encoding.
TEMPLATE_DROP = frozenset(PER_IMAGE) | {
    "PixelData",
    "FloatPixelData",
    "DoubleFloatPixelData",
    "NumberOfFrames",
    "PerFrameFunctionalGroupsSequence",
    "FrameIncrementPointer",
    "TemporalPositionIdentifier",
    "TriggerTime",
    "DiffusionBValue",
    "DiffusionGradientOrientation",
    "AcquisitionNumber",
    "ImagesInAcquisition",
}


def _tags_of(keywords: frozenset[str]) -> frozenset[BaseTag]:
    """The tags of the standard `keywords` (imagedata's own '_...' keys have none)."""
    tags = set()
    for k in keywords:
        t = tag_for_keyword(k)
        if t is not None:
            tags.add(Tag(t))
    return frozenset(tags)


_TEMPLATE_DROP_TAGS = _tags_of(frozenset(TEMPLATE_DROP))
_KNOWN_VRS = frozenset(str(v) for v in VR)


def scan_groups(
    members: Sequence[Member],
    *,
    skip_broken: bool = False,
    source: str = "",
    progress: ProgressOption = False,
    headers_only: bool = False,
    known: Mapping[str, FileInfo] | None = None,
) -> list[Group]:
    """Read all headers and group the images into series (no pixel data read).

    `progress` reports the files read in stage ``"headers"`` (see :func:`read_series`);
    `headers_only` accepts headers whose Pixel Data are left out (PACS query answers);
    `known` holds headers read before, by member name (not read again).

    Raises
    ------
    NoDataError
        If no DICOM image is found.
    ReadError
        For a broken file, unless `skip_broken`.
    """
    with resolved(progress) as callback:
        report = reporter(callback, len(members), "headers")
        files = scan(members, skip_broken, report, pixel_data=not headers_only, known=known)
    images: list[Image] = []
    for info in files:
        try:
            images.extend(images_checked(info))
        except ReadError as err:
            if not skip_broken:
                raise
            warnings.warn(f"skipped broken file: {err}", stacklevel=3)
    if not images:
        where = source or (members[0].name if members else "the input")
        raise NoDataError(
            f"{where}: no DICOM images found in {len(members)} file(s) "
            "(non-DICOM files and non-image objects such as SR, RTSTRUCT are skipped)"
        )
    return group_images(images, _same_pixels)


def images_of(info: FileInfo) -> list[Image]:
    """Split a file into its 2D images (frames, mosaic tiles, or the single image)."""
    if _enhanced.fast_groups(info) is not None:  # functional groups from the header pass
        return _enhanced.frames_of(info)
    if not info.fast:  # the fast parser hands other multi-frame files to pydicom
        ds = info.ds
        if "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds:
            return _enhanced.frames_of(info)
        if info.nframes > 1:
            return _enhanced.legacy_frames_of(info)
    mosaic = "MOSAIC" in str(info.get("ImageType", "")).upper()
    tiles = _mosaic.mosaic_tiles(info) if mosaic else 0
    if tiles:
        return _mosaic.tiles_of(info, tiles)
    return [single_image(info)]


def images_checked(info: FileInfo) -> list[Image]:
    """:func:`images_of`, with any failure a :class:`ReadError` naming the file."""
    try:
        return images_of(info)
    except ImageDataError:
        raise
    except Exception as err:  # a damaged header can break any conversion
        raise ReadError(
            f"{info.name}: cannot describe its images ({type(err).__name__}: {err}); "
            "remove it or read with skip_broken=True"
        ) from err


def read_series(
    members: Sequence[Member],
    *,
    input_order: str | Callable[[Dataset], Any] = "auto",
    headers_only: bool = False,
    series: int | str | None = None,
    accept_uneven_slices: bool = False,
    accept_duplicate_tag: bool = False,
    rescale: bool = True,
    scaling: Scaling | str | None = None,
    skip_broken: bool = False,
    workers: int | None = None,
    progress: ProgressOption = False,
) -> tuple[npt.NDArray[Any], Header]:
    """Read DICOM members into one sorted array and its header.

    Parameters
    ----------
    members
        Files (see :func:`imagedata.archives.expand`).
    input_order
        'none', 'auto', 'time', 'triggertime', 'b', 'bvector', 'dti', 'fa', 'te', 'ti',
        a DICOM keyword, a comma list ('time,te'), or a callable on the dataset.
    headers_only
        Read header and geometry only; the array is a read-only broadcast of zeros.
    series
        Which series to read when the input holds several: a label from the
        :class:`~imagedata.errors.MultipleSeriesError` message ('3' or '3.2'), a
        SeriesNumber, SeriesInstanceUID or SeriesDescription.
    accept_uneven_slices
        Keep unevenly spaced slices (exact positions in ``Header.positions``).
    accept_duplicate_tag
        Allow equal values along a one-attribute input_order (kept in InstanceNumber
        order); by default equal values are a :class:`~imagedata.errors.SortError`.
    rescale
        Apply RescaleSlope/Intercept (False keeps stored values; same as
        ``scaling='stored'``).
    scaling
        A :class:`Scaling`: 'modality' (default), 'stored', 'philips', 'realworld'.
    skip_broken
        Warn about and skip broken files instead of raising.
    workers
        Threads decoding pixel data (default: 2 x CPUs, at most 8, when some file must
        be decoded or converted or there are more than 32 MiB to read; uncompressed
        files read straight into the array are otherwise read in the calling thread).
    progress
        ``False`` (default): quiet; ``True``: a tqdm bar per stage on stderr;
        ``None``: a bar only when stderr is a terminal; or a callable
        ``f(done, total, stage)`` called with the files read in stage ``"headers"``,
        then the images decoded in stage ``"pixels"`` (at most every 1 % or 50
        items, and at the end of each stage).  See :mod:`imagedata._progress`.

    Raises
    ------
    NoDataError, MultipleSeriesError, SortError, ReadError, MissingDependencyError
    """
    source = (
        members[0].name if len(members) == 1 else f"{len(members)} files ({members[0].name}, ...)"
    )
    with resolved(progress) as resolved_callback:
        callback = resolved_callback or False  # None would mean "a bar on a terminal"
        groups = scan_groups(
            members,
            skip_broken=skip_broken,
            source=source if members else "",
            progress=callback,
            headers_only=headers_only,
        )
        group = select_group(groups, series, source)
        return read_group(
            group,
            input_order=input_order,
            headers_only=headers_only,
            accept_uneven_slices=accept_uneven_slices,
            accept_duplicate_tag=accept_duplicate_tag,
            scaling=_scaling(rescale, scaling),
            workers=workers,
            progress=callback,
        )


def _scaling(rescale: bool, scaling: Scaling | str | None) -> Scaling:
    if scaling is not None:
        return Scaling(scaling)
    return Scaling.MODALITY if rescale else Scaling.STORED


def _same_pixels(a: Image, b: Image) -> bool:
    """Equal stored pixels (only asked for images that share a SOPInstanceUID)."""
    return bool(np.array_equal(_pixels.image_pixels(a), _pixels.image_pixels(b)))


def read_group(
    group: Group,
    *,
    input_order: str | Callable[[Dataset], Any] = "auto",
    headers_only: bool = False,
    accept_uneven_slices: bool = False,
    accept_duplicate_tag: bool = False,
    scaling: Scaling = Scaling.MODALITY,
    workers: int | None = None,
    progress: ProgressOption = False,
) -> tuple[npt.NDArray[Any], Header]:
    """Sort one group and read its pixels (see :func:`read_series`).

    `progress` reports the images decoded in stage ``"pixels"``.
    """
    if _seg.readable_segmentation(group.images[0].file):
        return _seg.read_group(group.images, headers_only=headers_only)
    _diffusion_ge.attach(group.images)  # GE gradients: one rotation, one warning per series
    result, even = sort_group(group.images, input_order, accept_uneven_slices, accept_duplicate_tag)
    images = result.images
    warn_defaults(images, stacklevel=3)
    first = images[0]
    color = _pixels.is_color(first.file)
    shape = (*result.tag_shape, result.nslices, first.rows, first.cols) + ((3,) if color else ())
    scales = _pixels.scales_of(images, scaling)
    dtype = _pixels.choose_dtype(images, scales)
    affine = _named(first, lambda: _affine(result))
    if geometry.is_tilted(affine):
        warnings.warn(
            f"{first.name}: gantry tilt; the slice step {np.round(affine[:3, 0], 4).tolist()} "
            "is not along the slice normal; the sheared affine is kept exactly",
            stacklevel=4,
        )
    header = Header(
        shape=shape,
        axes=(*_tag_axes(result), Axis("slice"), Axis("row"), Axis("column"))
        + ((Axis("rgb"),) if color else ()),
        affine=affine,
        template=_named(first, lambda: _template(first, dtype, scaling, scales)),
        positions=None if even else result.positions.copy(),
        input_order=",".join(d.name for d in result.dims) or "none",
        input_format="dicom",
    )
    uids = _source_uids(images)
    sop_class = str(first.get("SOPClassUID", ""))
    series_uid = str(first.get("SeriesInstanceUID", ""))
    positions = [i.position for i in images]
    thickness = float(first.get("SliceThickness", 0) or geometry.slice_distance(affine) or 1)
    plane = [first.rows, first.cols, *first.iop, *first.spacing, thickness]
    _derived.record_sources(header.template, uids, positions, sop_class, series_uid, plane)
    if headers_only:
        return _single_image_2d(np.broadcast_to(np.zeros((), dtype), shape), header)
    with resolved(progress) as callback:
        report = reporter(callback, len(images), "pixels")
        arr = _pixels.read_pixels(images, shape, dtype, scales, workers=workers, report=report)
    return _single_image_2d(arr, header)


def _source_uids(images: Sequence[Image]) -> list[str]:
    """The SOPInstanceUID of each image's file (frames and tiles share their file's)."""
    files = {id(i.file): i.file for i in images}
    uid_of = {key: str(info.get("SOPInstanceUID", "")) for key, info in files.items()}
    return [uid_of[id(i.file)] for i in images]


def _single_image_2d(arr: npt.NDArray[Any], header: Header) -> tuple[npt.NDArray[Any], Header]:
    """A single image (one slice, no tag axis) is (rows, columns), as in imagedata 3.x.

    The affine keeps the slice direction and thickness, so writing the 2-D series gives
    the same image position, orientation and spacing back.
    """
    if header.axes[0].name != "slice" or header.shape[0] != 1:
        return arr, header
    shape = header.shape[1:]
    return arr.reshape(shape), header.replace(shape=shape, axes=header.axes[1:])


def _named(img: Image, make: Callable[[], _T]) -> _T:
    """`make()`, with a failure from a damaged value a ReadError naming `img`'s file."""
    try:
        return make()
    except ImageDataError:
        raise
    except Exception as err:  # pydicom converts values lazily
        raise ReadError(
            f"{img.file.name}: a damaged header value ({type(err).__name__}: {err}); "
            "remove it or read with skip_broken=True"
        ) from err


def _affine(result: Sorted) -> npt.NDArray[np.float64]:
    first = result.images[0]
    ds = first.ds
    step = float(_number(ds, "SpacingBetweenSlices") or _number(ds, "SliceThickness") or 1.0)
    return geometry.affine_from_positions(
        result.positions, first.iop, first.spacing, default_step=step
    )


def _number(ds: Dataset, keyword: str) -> Any:
    """``ds.get(keyword, 0)`` for a number, leaving a plain value raw in `ds`.

    A valid single decimal string is read without decoding its element (see
    :func:`imagedata.formats._rawvalues.get`), so that the template keeps it raw too
    (a decoded value is deep-copied into the template); the number is the one pydicom
    gives.  Anything else (several values, a value pydicom would warn about) is
    decoded by pydicom, as before.
    """
    value = _rawvalues.get(ds, keyword, 0)
    if isinstance(value, str):
        return float(value)
    if isinstance(value, list):
        return ds.get(keyword, 0)
    return value


def _tag_axes(result: Sorted) -> list[Axis]:
    sizes = result.tag_shape
    n = result.nslices
    axes = []
    for j, dim in enumerate(result.dims):
        values = []
        per_slice = []
        for i in range(sizes[j]):
            idx = [0] * len(sizes)
            idx[j] = i
            t = int(np.ravel_multi_index(idx, sizes))
            row = [dim.value(result.images[t * n + k]) for k in range(n)]
            values.append(row[0])
            per_slice.append(row)
        if dim.name == "time":
            ref = np.floor(np.min(np.asarray(per_slice, dtype=np.float64)) / 86400.0) * 86400.0
            values = list(np.asarray(values, dtype=np.float64) - ref)
            per_slice = list(np.asarray(per_slice, dtype=np.float64) - ref)
        scalar = dim.scalar and all(np.ndim(v) == 0 for v in values)
        if scalar:
            try:
                sv = np.asarray(per_slice, dtype=np.float64)
            except (TypeError, ValueError):
                sv = None
            vals: Any = (
                np.asarray(values, dtype=np.float64)
                if sv is not None
                else np.asarray(values, dtype=object)
            )
            axes.append(tag_axis(dim.name, vals, sv))
        else:
            axes.append(tag_axis(dim.name, np.asarray(values, dtype=np.float64)))
    return axes


def _template(
    first: Image, dtype: np.dtype[Any], scaling: Scaling, scales: Sequence[tuple[float, float]]
) -> Dataset:
    """The first image's dataset without pixel data and per-image attributes."""
    src = first.ds
    csa = _csa_header_tags(src)  # per image, large
    # as stored (iterating would decode every element), in order, without the dropped tags
    kept: dict[BaseTag, Any] = dict(src._dict)
    for tag in (*_TEMPLATE_DROP_TAGS, *csa):
        kept.pop(tag, None)  # type: ignore[call-overload]  # BaseTag == int
    for tag, elem in kept.items():
        if type(elem) is not RawDataElement or elem.VR not in _SHARED_VRS:
            kept[tag] = _kept(src, tag, elem)
    # built as pydicom builds a dataset it reads: Dataset.__setitem__ would decode every
    # private element (to name its creator), the slowest part of reading a small series
    out = Dataset(kept)
    _set_us(out, _ROWS, first.rows)
    _set_us(out, _COLUMNS, first.cols)
    if first.tile >= 0 and "ImageType" in out:
        _drop_mosaic(out)
    rescaled = scaling is not Scaling.STORED and any(s != (1.0, 0.0) for s in scales)
    if rescaled:
        out.RescaleSlope, out.RescaleIntercept = 1, 0
    elif scaling is Scaling.STORED and "RescaleSlope" in src:
        out.RescaleSlope, out.RescaleIntercept = src.RescaleSlope, src.get("RescaleIntercept", 0)
    _derived.private_block(out).add(0x01, "LO", scaling.value)  # the scaling of the values
    if hasattr(src, "file_meta"):
        meta = src.file_meta
        out.file_meta = FileMetaDataset({t: _kept(meta, t, e) for t, e in meta._dict.items()})
    logger.debug("template from %s, scaling %s, dtype %s", first.name, scaling.value, dtype)
    return out


_ROWS, _COLUMNS = BaseTag(0x00280010), BaseTag(0x00280011)
_IMAGE_TYPE = BaseTag(0x00080008)


def _drop_mosaic(ds: Dataset) -> None:
    """``ds.ImageType`` without its value MOSAIC (a tile is one image of the mosaic).

    When ImageType is raw with values pydicom takes without a warning, they are read
    without decoding the element (:func:`imagedata.formats._rawvalues.get`) and the
    element made as ``setattr`` makes it (its VR, value offset and length flag kept),
    without validating them again.  Anything else is left to pydicom.
    """
    raw = ds._dict.get(_IMAGE_TYPE)
    values = None
    if isinstance(raw, RawDataElement) and raw.VR in (None, "CS"):
        values = _rawvalues.get(ds, "ImageType")
    if (
        not isinstance(values, list)  # one value (a str) or not plain: pydicom decodes
        or ds._dict.get(_IMAGE_TYPE) is not raw
        or config.data_element_callback
    ):
        ds.ImageType = [v for v in ds.ImageType if str(v).upper() != "MOSAIC"]
        return
    assert isinstance(raw, RawDataElement)
    elem = DataElement(
        _IMAGE_TYPE,
        "CS",  # also the dictionary's VR (implicit VR)
        [v for v in values if v.upper() != "MOSAIC"],
        raw.value_tell,
        raw.length == 0xFFFFFFFF,
        validation_mode=config.IGNORE,  # valid values (checked by _rawvalues)
    )
    elem.validation_mode = config.settings.reading_validation_mode
    ds._dict[_IMAGE_TYPE] = elem


def _set_us(ds: Dataset, tag: BaseTag, value: int) -> None:
    """``ds.Rows = value`` (or Columns): the element ``setattr`` makes, made directly.

    When `ds` holds the element raw with VR US (or implicit VR), pydicom would decode
    its old value only to replace it (tens of microseconds: the dataset's character set
    is looked up first); the new element is the one it would make: VR US, the raw
    element's value offset and length flag, the value validated.  Anything else is left
    to ``setattr``.
    """
    raw = ds._dict.get(tag)
    if (
        isinstance(raw, RawDataElement)
        and raw.VR in (None, "US")
        and len(raw.value or b"") == 2
        and not config.data_element_callback
    ):
        ds._dict[tag] = DataElement(tag, "US", value, raw.value_tell, raw.length == 0xFFFFFFFF)
    else:
        setattr(ds, keyword_for_tag(tag), value)


#: Private creator of the Siemens CSA headers, and their elements in its block.
_CSA_CREATOR = "SIEMENS CSA HEADER"
_CSA_ELEMENTS = (0x10, 0x20)  # CSA Image Header Info, CSA Series Header Info


def _csa_header_tags(ds: Dataset) -> frozenset[int]:
    """Tags of the Siemens CSA image and series headers in `ds` (found by their creator).

    Only those two binary elements are left out of the template; their creator and the
    block's other elements (header type and version) stay, so no private element loses
    its creator.
    """
    elements = ds._dict
    out: set[int] = set()
    # creators only: (0029,0010-00FF); int operators (a BaseTag's comparisons are slow)
    for tag in [t for t in elements if t >> 8 == 0x2900 and t & 0xF0]:
        low = tag & 0xFF
        creator = elements[tag]
        value = creator.value
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if str(value).strip(" \0") == _CSA_CREATOR:
            out.update(0x00290000 | low << 8 | e for e in _CSA_ELEMENTS)
    return frozenset(out)


#: VRs of raw elements the template shares with the file's dataset (see :func:`_kept`).
_SHARED_VRS = _KNOWN_VRS | {None}

#: Value types a shallow copy of a decoded element shares safely (exact types).
_IMMUTABLE = frozenset([str, bytes, int, float, type(None)])


def _kept(src: Dataset, tag: BaseTag, elem: Any) -> Any:
    """An element of `src` for the template: shared while raw, else a deep copy."""
    if isinstance(elem, RawDataElement) and (elem.VR is None or elem.VR in _KNOWN_VRS):
        return elem  # not decoded yet, and immutable: shared, decoded on first use
    if type(elem) is DataElement and type(elem._value) in _IMMUTABLE:
        return copy.copy(elem)  # as a deep copy: every attribute immutable (3x faster)
    # decoded now: a damaged value fails here, naming the file (see _named)
    return copy.deepcopy(src[tag])
