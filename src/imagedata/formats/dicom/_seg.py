"""DICOM Segmentation (SEG, SOP Class 1.2.840.10008.5.1.4.1.1.66.4): write and read.

Writing (:func:`segmentation`):

- a bool series becomes a BINARY SEG with one segment;
- an integer (label) series a BINARY SEG with one segment per label 1..max (0 is
  background), named by ``segments={1: 'tumour', 2: ('oedema', 'peritumoural')}``
  (a name, or a (name, description) pair; unnamed labels are called ``label N``);
- a float series with values in [0, 1] a FRACTIONAL (probability) SEG with one segment,
  stored in 8 bits (steps of 1/255).

Every slice is written, also empty ones, so the SEG alone gives the whole geometry of
its source; the source images are referenced (:func:`._derived.source_datasets`).

Reading (:func:`read_segmentation`) gives the label image (uint8/uint16; bool for one
binary segment; float for a fractional one) on the SEG's planes, slices sorted along
the slice normal as the image reader sorts them, so it matches the source series.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from imagedata import geometry
from imagedata.axis import Axis
from imagedata.errors import ReadError, WriteError
from imagedata.formats.dicom import _derived
from imagedata.formats.dicom._derived import SeriesLike
from imagedata.header import Header

logger = logging.getLogger(__name__)

SegmentNames = Mapping[int, "str | tuple[str, str]"]


def _kind(arr: np.ndarray) -> tuple[str, np.ndarray, list[int]]:
    """(segmentation type, pixel array for highdicom, segment numbers)."""
    if arr.dtype == bool:
        return "BINARY", arr, [1]
    if arr.dtype.kind in "iu":
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        if lo < 0:
            raise WriteError(
                f"a SEG label image needs labels >= 0 (0 is background), found {lo}; relabel first"
            )
        if hi > 65535:
            raise WriteError(f"a SEG holds at most 65535 segments, found label {hi}")
        dtype = np.uint8 if hi < 256 else np.uint16
        return "BINARY", arr.astype(dtype, copy=False), list(range(1, max(hi, 1) + 1))
    if arr.dtype.kind == "f" and bool(np.all((arr == 0) | (arr == 1))):
        logger.info("SEG: float data holding only 0 and 1 written as a binary mask")
        return "BINARY", arr.astype(bool), [1]
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all() or (arr.size and (arr.min() < 0 or arr.max() > 1)):
            raise WriteError(
                "a fractional SEG holds probabilities in [0, 1]; these float values are "
                "outside (or not finite): threshold them to a mask (si > t) or scale them"
            )
        return "FRACTIONAL", arr.astype(np.float32, copy=False), [1]
    raise WriteError(f"cannot write {arr.dtype} data as a SEG: give bool, labels or [0, 1] floats")


def _descriptions(numbers: list[int], segments: SegmentNames | None, default: str) -> list[Any]:
    hd = _derived.highdicom()
    from pydicom.sr.codedict import codes

    names = dict(segments or {})
    unknown = sorted(set(names) - set(numbers))
    if unknown:
        raise WriteError(
            f"segments= names labels {unknown} that the data do not have (labels 1..{max(numbers)})"
        )
    out = []
    for n in numbers:
        entry = names.get(n, default if len(numbers) == 1 else f"label {n}")
        name, text = (entry, None) if isinstance(entry, str) else (str(entry[0]), str(entry[1]))
        desc = hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=str(name)[:64],
            segmented_property_category=codes.cid7150.Tissue,
            segmented_property_type=codes.SCT.Tissue,
            algorithm_type="MANUAL",
        )
        if text:
            desc.SegmentDescription = text[:64]
        out.append(desc)
    return out


def segmentation(
    si: SeriesLike,
    *,
    segments: SegmentNames | None = None,
    sernum: int | None = None,
    serdes: str | None = None,
    keep_uid: bool = False,
    source: SeriesLike | None = None,
) -> Dataset:
    """The DICOM SEG of `si` (one multi-frame dataset with file meta).

    Raises
    ------
    WriteError
        For axes other than (slice, row, column), values a SEG cannot hold, names of
        labels the data lack, or no source images.
    MissingDependencyError
        Without highdicom (``pip install 'imagedata[derived]'``).
    """
    hd = _derived.highdicom()
    header = si.header
    arr = _derived.frames(header, np.asarray(si), "SEG")
    kind, pixels, numbers = _kind(arr)
    sources = _derived.source_datasets(header, source, what="SEG")
    default = str(serdes or header.template.get("SeriesDescription", "") or "mask")
    ds = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=np.ascontiguousarray(pixels),
        segmentation_type=kind,
        segment_descriptions=_descriptions(numbers, segments, default),
        omit_empty_frames=False,
        **_derived.identity(header.template, sernum, keep_uid, "seg"),
        **_derived.frame_geometry(header),
    )
    logger.info(
        "SEG (%s): %d frames, %d segment(s), %d source images",
        kind,
        arr.shape[0],
        len(numbers),
        len(sources),
    )
    return _derived.finish(ds, header.template, serdes, laterality=False)


# --- reading ----------------------------------------------------------------------------------


def is_segmentation(ds: Dataset | Any) -> bool:
    """True for a dataset (or scanned file) of the Segmentation SOP class."""
    from pydicom.uid import SegmentationStorage

    return str(ds.get("SOPClassUID", "")) == SegmentationStorage


def readable_segmentation(info: Any) -> bool:
    """True for a SEG file read as a label image; False (with a warning) for a big
    endian SEG, which highdicom cannot parse: its frames are then read as images."""
    if not is_segmentation(info):
        return False
    if str(info.transfer_syntax) == "1.2.840.10008.1.2.2":  # Explicit VR Big Endian
        warnings.warn(
            f"{info.name}: a SEG in big endian transfer syntax cannot be read as a label "
            "image (highdicom needs little endian); its frames are read as images, one per "
            "segment and plane",
            stacklevel=5,
        )
        return False
    return True


def read_group(
    images: Sequence[Any], headers_only: bool = False
) -> tuple[npt.NDArray[Any], Header]:
    """Read the SEG file(s) behind the scanned `images` (frames of one group)."""
    import pydicom

    files = list({id(img.file): img.file for img in images}.values())
    datasets = []
    for info in files:
        with info.member.fileobj() as fp:
            datasets.append(pydicom.dcmread(fp))
    return read_segmentation(datasets, files[0].name, headers_only)


def read_segmentation(
    datasets: Sequence[Dataset], name: str, headers_only: bool = False
) -> tuple[npt.NDArray[Any], Header]:
    """The label image of one SEG dataset, on its planes (see the module doc).

    Raises
    ------
    ReadError
        For several SEG files at once, overlapping segments, or frames that are not
        parallel planes.
    """
    if len(datasets) != 1:
        raise ReadError(f"{name}: {len(datasets)} SEG files in one series; read them one at a time")
    hd = _derived.highdicom()
    seg = hd.seg.Segmentation.from_dataset(datasets[0], copy=False)
    numbers = list(seg.segment_numbers)
    try:
        volume = seg.get_volume(combine_segments=len(numbers) > 1)
    except (ValueError, RuntimeError) as err:
        raise ReadError(
            f"{name}: cannot place the SEG frames as one label image ({err}); "
            "overlapping segments or frames that are not parallel planes"
        ) from err
    arr = np.asarray(volume.array)
    if arr.ndim == 4:  # one segment: (slices, rows, columns, 1)
        arr = arr[..., 0]
    if str(seg.SegmentationType) == "BINARY" and len(numbers) == 1:
        arr = arr.astype(bool)
    affine = geometry.check_affine(np.asarray(volume.affine, dtype=np.float64))
    if geometry.normal(affine) @ affine[:3, 0] < 0:
        arr = arr[::-1]
        affine = geometry.index_affine(affine, [arr.shape[0] - 1, 0, 0], [-1, 1, 1])
    header = Header(
        shape=arr.shape,
        axes=(Axis("slice"), Axis("row"), Axis("column")),
        affine=affine,
        template=_template(datasets[0], affine, arr.shape),
        input_format="dicom",
    )
    if headers_only:
        return np.broadcast_to(np.zeros((), arr.dtype), arr.shape), header
    return np.ascontiguousarray(arr), header


def _template(ds: Dataset, affine: npt.NDArray[np.float64], shape: tuple[int, ...]) -> Dataset:
    """The SEG's attributes without pixel data and per-frame sequences.

    The images the SEG references are recorded as the source of what is derived from
    it (positions unknown: a SEG written from the mask references all of them).
    """
    out = Dataset()
    drop = {"PixelData", "PerFrameFunctionalGroupsSequence", "NumberOfFrames"}
    for elem in ds:
        if elem.keyword not in drop:
            out.add(copy.deepcopy(elem))
    if hasattr(ds, "file_meta"):
        out.file_meta = copy.deepcopy(ds.file_meta)
    for series in ds.get("ReferencedSeriesSequence", []):
        items = list(series.get("ReferencedInstanceSequence", []))
        if not items:
            continue
        uids = [str(i.ReferencedSOPInstanceUID) for i in items]
        plane = [
            *shape[-2:],
            *geometry.iop(affine),
            *geometry.pixel_spacing(affine),
            geometry.slice_distance(affine) or 1.0,
        ]
        _derived.record_sources(
            out,
            uids,
            None,
            str(items[0].get("ReferencedSOPClassUID", "")),
            str(series.get("SeriesInstanceUID", "")),
            [float(v) for v in plane],
        )
        break  # one source series
    return out


def segment_names(template: Dataset) -> dict[int, str]:
    """{segment number: label} of a SEG template.

    Examples
    --------
    >>> segment_names(Dataset())
    {}
    """
    return {
        int(item.SegmentNumber): str(item.get("SegmentLabel", ""))
        for item in template.get("SegmentSequence", [])
    }
