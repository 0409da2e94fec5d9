"""Write a series as DICOM: one file per image in a folder or a zip archive.

:func:`write_series` is what ``si.write(path, formats=['dicom'])`` calls;
:func:`build_datasets` yields the same complete datasets (with File Meta
Information) without writing files, e.g. for a C-STORE.

- Files are called ``Image_00000.dcm``, ``Image_00001.dcm``, ... in output order;
  with ``output_dir='multi'`` one sub-folder per tag index (``time0/``, ``time1/``,
  ... nested for N-D; numbering restarts in each) or, with ``output_sort='tag'``,
  one per slice (``slice0/`` ...).  InstanceNumber runs over the whole series.
- Geometry comes from the affine for every image: ImagePositionPatient from
  ``header.slice_positions()``, ImageOrientationPatient, PixelSpacing (row, column),
  SliceThickness and SpacingBetweenSlices from the real slice step, SliceLocation
  = n . S.  A single slice (``si[5]``) is written where it lies.
- Tag axes go into their attributes (see :mod:`._write_tags`); values are quantised as
  described in :mod:`._values`.
- Colour series (last axis ``rgb``) become 8-bit RGB Secondary Capture images;
  ``enhanced=True`` writes one Enhanced MR/CT multi-frame file instead
  (:mod:`._enhanced_writer`).
- Uncompressed files are encoded by :mod:`._write_fast` (shared attributes once per
  series); compressed ones by ``pydicom.dcmwrite`` after ``Dataset.compress``.
- Writing is atomic and never overwrites other files without ``overwrite=True``
  (see :mod:`imagedata.formats._output`).
"""

from __future__ import annotations

import enum
import io
import logging
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    MRImageStorage,
    RLELossless,
    generate_uid,
)

from imagedata import geometry
from imagedata._progress import Reporter, reporter, resolved
from imagedata.errors import GeometryError, MissingDependencyError, WriteError
from imagedata.formats._output import atomic_folder, atomic_zip, is_zip_target
from imagedata.formats.dicom._derived import IOD
from imagedata.formats.dicom._enhanced_writer import enhanced_dataset
from imagedata.formats.dicom._plan import _Image, _Plan
from imagedata.formats.dicom._values import (
    Quantized,
    colour_values,
    ds_str,
    quantize,
    user_stacklevel,
)
from imagedata.formats.dicom._write_fast import SharedEncoder
from imagedata.formats.dicom._write_tags import axis_keywords, base_date, tag_setter
from imagedata.formats.dicom._write_template import (
    base_dataset,
    colour_attributes,
    patient_orientation,
)
from imagedata.header import SeriesLike, series_like

logger = logging.getLogger(__name__)

FILENAME = "Image_{:05d}.dcm"
IMPLEMENTATION_VERSION = "IMAGEDATA4"
_PIXEL_DATA = Tag(0x7FE0, 0x0010)


class OutputSort(str, enum.Enum):
    """Image order in the output: slices fastest ('slice') or tags fastest ('tag')."""

    SLICE = "slice"
    TAG = "tag"


class OutputDir(str, enum.Enum):
    """All files in one folder ('single') or one sub-folder per tag/slice ('multi')."""

    SINGLE = "single"
    MULTI = "multi"


class Compression(str, enum.Enum):
    """Transfer syntax: uncompressed Explicit VR Little Endian, or a lossless codec."""

    NONE = "none"
    RLE = "rle"
    JPEG_LS = "jpeg-ls"
    JPEG2000 = "jpeg2000"


TRANSFER_SYNTAX: dict[Compression, UID] = {
    Compression.NONE: ExplicitVRLittleEndian,
    Compression.RLE: RLELossless,
    Compression.JPEG_LS: JPEGLSLossless,
    Compression.JPEG2000: JPEG2000Lossless,
}


@dataclass(frozen=True)
class WriteOptions:
    """Options of the DICOM writer (keyword arguments of :func:`write_series`).

    Attributes
    ----------
    overwrite
        Replace a non-empty target folder (or existing zip) instead of raising.
    keep_uid
        Keep the series' SeriesInstanceUID; SOPInstanceUIDs are then derived from it
        and the image index, so writing the same series again gives the same UIDs.
        Default: a new SeriesInstanceUID and new SOPInstanceUIDs on every write.
    sernum, serdes
        SeriesNumber and SeriesDescription.
    imagetype
        ImageType, e.g. ``'DERIVED\\SECONDARY'`` or a list of values.
    window
        ``'auto'`` (center/width from the data range), ``None`` (no window) or
        ``(center, width)`` in real-world units.
    output_sort, output_dir
        See :class:`OutputSort` and :class:`OutputDir`.
    compression
        See :class:`Compression`; codecs come with ``pip install 'imagedata[jpeg]'``.
    modality
        Modality to write (chooses the SOP class: MR, CT, else Secondary Capture).
    enhanced
        One Enhanced MR/CT multi-frame file (``Image_00000.dcm``) instead of one file
        per image; see :mod:`._enhanced_writer`.
    iod
        Which DICOM object: ``'auto'`` (default), ``'image'``, ``'parametric-map'`` or
        ``'seg'``; see :mod:`._derived`.  Parametric Maps and SEGs are one multi-frame
        file, ``Image_00000.dcm``.
    units
        UCUM code of the values of a Parametric Map (``'ms'``, ``'mm2/s'``).
    segments
        Names of the labels of a SEG: ``{1: 'tumour', 2: ('oedema', 'description')}``.
    source
        The series (read from DICOM) a Parametric Map or SEG was derived from, when its
        own template does not record the source images.
    """

    overwrite: bool = False
    keep_uid: bool = False
    sernum: int | None = None
    serdes: str | None = None
    imagetype: str | Sequence[str] | None = None
    window: str | tuple[float, float] | None = "auto"
    output_sort: OutputSort = OutputSort.SLICE
    output_dir: OutputDir = OutputDir.SINGLE
    compression: Compression = Compression.NONE
    modality: str | None = None
    enhanced: bool = False
    iod: IOD = IOD.AUTO
    units: str | None = None
    segments: Mapping[int, str | tuple[str, str]] | None = None
    source: Any = None


def parse_options(options: dict[str, Any]) -> WriteOptions:
    """Validate keyword options into :class:`WriteOptions`.

    Raises
    ------
    TypeError
        For an unknown option (the message lists the known ones).
    ValueError
        For an invalid choice.
    """
    known = {f.name for f in fields(WriteOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown DICOM write option(s) {unknown}; known options: {sorted(known)}")
    opts = dict(options)
    for name, kind in (
        ("output_sort", OutputSort),
        ("output_dir", OutputDir),
        ("compression", Compression),
    ):
        value = opts.get(name)
        if value is None:
            opts.pop(name, None)
        else:
            try:
                opts[name] = kind(str(getattr(value, "value", value)).lower())
            except ValueError as err:
                choices = [k.value for k in kind]
                raise ValueError(f"{name}={value!r} is not one of {choices}") from err
    if opts.get("iod") is not None:
        opts["iod"] = IOD.parse(opts["iod"])
    else:
        opts.pop("iod", None)
    return WriteOptions(**opts)


def _arrange(si: SeriesLike) -> tuple[npt.NDArray[np.generic], list[Any], tuple[int, ...], bool]:
    """Return (array as (T, S, R, C[, 3]), tag axes, tag shape, colour) checking axis order."""
    header = si.header
    names = header.axis_names
    colour = names[-1:] == ("rgb",)
    core = names[:-1] if colour else names
    if "rgb" in core or core[-2:] != ("row", "column"):
        raise WriteError(
            f"cannot write axes {names} as DICOM images: expected (tag..., slice, row, "
            "column) or (..., row, column, rgb)"
        )
    arr = np.asarray(si)
    tag_axes = [a for a in header.axes if a.is_tag]
    spatial = core[len(tag_axes) :]
    if spatial not in (("slice", "row", "column"), ("row", "column")) or any(
        not a.is_tag for a in header.axes[: len(tag_axes)]
    ):
        raise WriteError(f"cannot write axes {names}: expected (tag..., slice, row, column)")
    if colour and arr.shape[-1] != 3:
        raise WriteError(f"a colour axis needs 3 values (R, G, B), got {arr.shape[-1]}")
    if arr.size == 0:
        raise WriteError(f"cannot write an empty series (shape {arr.shape})")
    tag_shape = tuple(arr.shape[: len(tag_axes)])
    ntags = int(np.prod(tag_shape)) if tag_shape else 1
    image_shape = arr.shape[-3:] if colour else arr.shape[-2:]
    return arr.reshape(ntags, header.nslices, *image_shape), tag_axes, tag_shape, colour


def _geometry(si: SeriesLike, base: Dataset) -> tuple[list[list[str]], list[str]]:
    """Set the shared image plane attributes; return per-slice IPP and SliceLocation strings."""
    header = si.header
    affine = header.affine
    positions = header.slice_positions()
    try:  # the reader's tolerance and orthonormalisation: what imagedata reads, it writes
        x, y = geometry.orthonormalize(geometry.iop(affine))
    except GeometryError as err:
        raise GeometryError(
            f"the rows and columns of this series are not perpendicular ({err}); DICOM images "
            "need perpendicular axes: resample the series first"
        ) from err
    iop = np.concatenate([x, y])
    base.ImageOrientationPatient = [ds_str(v) for v in iop]
    base.PixelSpacing = [ds_str(v) for v in geometry.pixel_spacing(affine)]
    step = geometry.slice_distance(affine)
    if step > 0:
        base.SliceThickness = ds_str(step)
        if base.SOPClassUID == MRImageStorage:
            base.SpacingBetweenSlices = ds_str(step)
    else:
        thickness = si.header.template.get("SliceThickness")
        base.SliceThickness = "" if thickness in (None, "") else ds_str(float(thickness))
    if base.SOPClassUID not in (MRImageStorage, CTImageStorage):
        base.PatientOrientation = [patient_orientation(x), patient_orientation(y)]
    ipp = [[ds_str(v) for v in p] for p in positions]
    locations = [ds_str(v) for v in geometry.locations_along(geometry.slice_normal(iop), positions)]
    return ipp, locations


def _pixel_attributes(base: Dataset, q: Quantized, opts: WriteOptions) -> None:
    base.PixelRepresentation = 1 if q.signed else 0
    if q.rescaled or base.SOPClassUID == CTImageStorage:
        base.RescaleIntercept = q.intercept
        base.RescaleSlope = q.slope
        if base.SOPClassUID != CTImageStorage:
            base.RescaleType = "US"
    window = opts.window
    if isinstance(window, str):
        if window.lower() != "auto":
            raise ValueError(f"window={window!r}: give 'auto', None or (center, width)")
        center, width = (q.vmin + q.vmax) / 2.0, max(q.vmax - q.vmin, 1.0)
        base.WindowCenter, base.WindowWidth = ds_str(center), ds_str(width)
    elif window is not None:
        center, width = (float(v) for v in window)
        if width < 1:
            raise ValueError(f"window width must be at least 1, got {width}")
        base.WindowCenter, base.WindowWidth = ds_str(center), ds_str(width)


def _identity(base: Dataset, opts: WriteOptions) -> None:
    if opts.sernum is not None:
        base.SeriesNumber = int(opts.sernum)
    if opts.serdes is not None:
        base.SeriesDescription = str(opts.serdes)
    if opts.imagetype is not None:
        it = opts.imagetype
        base.ImageType = it.split("\\") if isinstance(it, str) else [str(v) for v in it]


def _order(
    ntags: int, nslices: int, tag_axes: list[Any], tag_shape: tuple[int, ...], opts: WriteOptions
) -> list[_Image]:
    """File names and array indices in output order."""
    pairs = (
        [(t, s) for t in range(ntags) for s in range(nslices)]
        if opts.output_sort == OutputSort.SLICE
        else [(t, s) for s in range(nslices) for t in range(ntags)]
    )
    images: list[_Image] = []
    counters: dict[str, int] = {}
    for n, (t, s) in enumerate(pairs):
        folder = ""
        if opts.output_dir == OutputDir.MULTI:
            if opts.output_sort == OutputSort.SLICE and tag_axes:
                idx = np.unravel_index(t, tag_shape)
                parts = [
                    f"{a.name}{int(i):0{len(str(size))}d}"
                    for a, i, size in zip(tag_axes, idx, tag_shape)
                ]
                folder = "/".join(parts) + "/"
            elif opts.output_sort == OutputSort.TAG:
                folder = f"slice{s:0{len(str(nslices))}d}/"
        i = counters.get(folder, 0)
        counters[folder] = i + 1
        images.append(_Image(folder + FILENAME.format(i), t, s, n + 1))
    return images


def _warn_quantized(si: SeriesLike, q: Quantized) -> None:
    if q.nonfinite:
        warnings.warn(
            f"{q.nonfinite} NaN/inf values cannot be stored in DICOM and were written as "
            f"{float(q.intercept):g}",
            stacklevel=user_stacklevel(),
        )
    if not q.exact:
        warnings.warn(
            f"{si.dtype} values in [{q.vmin:g}, {q.vmax:g}] were quantised to 16 bits "
            f"(RescaleSlope {q.slope}, RescaleIntercept {q.intercept}); largest error "
            f"{q.max_error:.3g}",
            stacklevel=user_stacklevel(),
        )


def _plan(si: SeriesLike, opts: WriteOptions) -> _Plan:
    """Prepare the shared dataset, the stored values and the image list."""
    si = series_like(si)
    header = si.header
    arr, tag_axes, tag_shape, colour = _arrange(si)
    ntags, nslices = arr.shape[:2]
    extra_drop = tuple(kw for a in tag_axes for kw in axis_keywords(a))
    if not any(a.name == "time" for a in tag_axes):  # e.g. si[1] of a time series
        extra_drop += ("NumberOfTemporalPositions", "TemporalPositionIdentifier")
    base = base_dataset(
        header.template, modality=opts.modality, keep_uid=opts.keep_uid, extra_drop=extra_drop
    )
    _identity(base, opts)
    base.Rows, base.Columns = int(arr.shape[2]), int(arr.shape[3])
    if colour:
        colour_attributes(base)
        q = colour_values(arr)
    positions, locations = _geometry(si, base)
    if not colour:
        q = quantize(arr)
        _warn_quantized(si, q)
        _pixel_attributes(base, q, opts)
    day0 = base_date(header.template)
    setters = [tag_setter(a, nslices, day0) for a in tag_axes]
    stored = q.stored.astype(q.stored.dtype.newbyteorder("<"), copy=False)
    syntax = TRANSFER_SYNTAX[opts.compression]
    if syntax != ExplicitVRLittleEndian:
        check_encoder(syntax, int(arr.shape[2]), int(arr.shape[3]))
    plan = _Plan(
        base=base,
        stored=stored,
        tag_shape=tag_shape,
        setters=setters,
        positions=positions,
        locations=locations,
        images=_order(ntags, nslices, tag_axes, tag_shape, opts),
        transfer_syntax=syntax,
        quantized=q,
        keep_uid=opts.keep_uid,
        tag_axes=tag_axes,
        day0=day0,
    )
    return plan


def _sop_uid(plan: _Plan, image: _Image) -> str:
    if plan.keep_uid:
        series = str(plan.base.SeriesInstanceUID)
        return str(generate_uid(entropy_srcs=[series, str(image.tag), str(image.slice)]))
    return str(generate_uid())


def _file_meta(plan: _Plan, sop_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = plan.base.SOPClassUID
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    return meta


def _per_image(plan: _Plan, image: _Image) -> tuple[str, Dataset]:
    """(SOPInstanceUID, the attributes that differ between images) of one image."""
    ds = Dataset()
    sop_uid = _sop_uid(plan, image)
    ds.SOPInstanceUID = sop_uid
    ds.InstanceNumber = image.instance
    ds.ImagePositionPatient = plan.positions[image.slice]
    ds.SliceLocation = plan.locations[image.slice]
    if plan.setters:
        idx = np.unravel_index(image.tag, plan.tag_shape)
        for setter, i in zip(plan.setters, idx):
            if setter is not None:
                setter(ds, int(i), image.slice)
    return sop_uid, ds


def _dataset(plan: _Plan, image: _Image) -> Dataset:
    """The complete dataset of one image (file meta included)."""
    sop_uid, per_image = _per_image(plan, image)
    ds = Dataset(dict(plan.base._dict))  # shares the (unchanged) shared elements
    ds.update(per_image)
    pixels = plan.stored[image.tag, image.slice]
    ds.add_new(_PIXEL_DATA, "OB" if pixels.itemsize == 1 else "OW", pixels.tobytes())
    ds.file_meta = _file_meta(plan, sop_uid)
    if plan.transfer_syntax != ExplicitVRLittleEndian:
        _compress(ds, plan.transfer_syntax)
    return ds


def _enhanced(plan: _Plan) -> Dataset:
    """The single enhanced multi-frame dataset of a plan, with file meta."""
    ds = enhanced_dataset(plan, plan.tag_axes)
    meta = _file_meta(plan, str(ds.SOPInstanceUID))
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta = meta
    if plan.transfer_syntax != ExplicitVRLittleEndian:
        _compress(ds, plan.transfer_syntax)
    return ds


class _ImageWriter:
    """Writes the files of a plan: shared elements encoded once when uncompressed."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.encoder: SharedEncoder | None = None
        if plan.transfer_syntax == ExplicitVRLittleEndian:
            self.encoder = SharedEncoder(plan.base, _file_meta(plan, "1.2"))

    def write(self, fp: IO[bytes], image: _Image) -> None:
        """Write the Part 10 file of one image to the open binary file `fp`."""
        if self.encoder is None:
            _dcmwrite(fp, _dataset(self.plan, image))
            return
        sop_uid, per_image = _per_image(self.plan, image)
        pixels = self.plan.stored[image.tag, image.slice]
        self.encoder.write(fp, sop_uid, per_image, pixels)

    def write_file(self, path: Path, image: _Image) -> None:
        """Write the file of one image at `path`."""
        with open(path, "wb") as fp:
            self.write(fp, image)


def _dcmwrite(fp: IO[bytes], ds: Dataset) -> None:
    """``pydicom.dcmwrite`` into any writable binary file (also unseekable zip members)."""
    if fp.seekable():
        pydicom.dcmwrite(fp, ds, enforce_file_format=True)
        return
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    fp.write(buffer.getbuffer())


class _FolderSink:
    """Opens output files in a folder, creating sub-folders as needed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.made: set[Path] = {folder}

    def open(self, relpath: str) -> IO[bytes]:
        path = self.folder / relpath
        if path.parent not in self.made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.made.add(path.parent)
        return open(path, "wb")


class _ZipSink:
    """Opens output files as members of a zip archive."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf

    def open(self, relpath: str) -> IO[bytes]:
        return self.zf.open(relpath, "w", force_zip64=True)


def check_encoder(syntax: UID, rows: int, columns: int) -> None:
    """Raise when `syntax` cannot be encoded here (missing codec, image too small)."""
    from pydicom.pixels import get_encoder

    encoder = get_encoder(syntax)
    if not encoder.is_available:
        raise MissingDependencyError(
            f"cannot compress to {syntax.name}: no encoder available "
            f"({'; '.join(encoder.missing_dependencies)}); install the codecs with: "
            "pip install 'imagedata[jpeg]'"
        )
    if syntax == JPEG2000Lossless and min(rows, columns) < 32:
        raise WriteError(
            f"JPEG 2000 needs images of at least 32x32 pixels (the openjpeg encoder uses 6 "
            f"resolution levels), got {rows}x{columns}; use compression='rle' or 'jpeg-ls'"
        )


def _compress(ds: Dataset, syntax: UID) -> None:
    try:
        ds.compress(syntax, generate_instance_uid=False)
    except (RuntimeError, ValueError) as err:
        raise WriteError(
            f"cannot compress image {ds.InstanceNumber} to {syntax.name}: {err}"
        ) from err


def build_datasets(si: SeriesLike, **options: Any) -> Iterator[Dataset]:
    """Yield the complete DICOM datasets of `si` (with File Meta), in output order.

    The same datasets :func:`write_series` writes, for sending without files.
    Accepts the options of :class:`WriteOptions` (``overwrite`` is ignored).

    Examples
    --------
    >>> [int(ds.InstanceNumber) for ds in build_datasets(np.zeros((3, 4, 5), dtype=np.uint16))]
    [1, 2, 3]
    """
    opts = parse_options(options)
    derived = _derived_dataset(si, opts)
    if derived is not None:
        yield derived
        return
    plan = _plan(si, opts)
    if opts.enhanced:
        yield _enhanced(plan)
        return
    for image in plan.images:
        yield _dataset(plan, image)


def write_series(si: SeriesLike, destination: Path, **options: Any) -> list[str]:
    """Write `si` as DICOM at `destination` (a folder, or a zip archive if it ends in .zip).

    Parameters
    ----------
    si
        The series (a bare array gets the default header: axial, unit spacing).
    destination
        Target folder or ``.zip`` file.
    **options
        See :class:`WriteOptions`; also ``progress``: ``False`` (default, quiet),
        ``True`` (a tqdm bar on stderr), ``None`` (a bar only when stderr is a
        terminal) or a callable ``f(done, total, stage)`` called with the images
        written in stage ``"write"`` (at most every 1 % or 50 images, and at the end).

    Returns
    -------
    list of str
        The files written (for a zip archive: the archive).

    Raises
    ------
    WriteError
        If the target holds other files (without ``overwrite=True``), the data cannot
        be written as DICOM, or writing fails (nothing is left at the target then).
    """
    options = dict(options)
    progress = options.pop("progress", False)
    opts = parse_options(options)
    destination = Path(destination)
    derived = _derived_dataset(si, opts)
    if derived is not None:
        return _write_one(derived, destination, opts, progress)
    plan = _plan(si, opts)
    with resolved(progress) as callback:
        report = reporter(callback, len(plan.images), "write")
        if is_zip_target(destination):
            with atomic_zip(destination, opts.overwrite) as zf:
                _write_all(plan, opts, _ZipSink(zf), report)
            logger.info("wrote %d DICOM images to %s", len(plan.images), destination)
            return [str(destination)]
        with atomic_folder(destination, opts.overwrite) as tmp:
            written = _write_all(plan, opts, _FolderSink(tmp), report)
    logger.info("wrote %d DICOM images to %s", len(plan.images), destination)
    return [str(destination / name) for name in written]


def _write_one(ds: Dataset, destination: Path, opts: WriteOptions, progress: Any) -> list[str]:
    """Write the single multi-frame dataset `ds` as ``Image_00000.dcm`` (folder or zip)."""
    name = FILENAME.format(0)
    with resolved(progress) as callback:
        report = reporter(callback, 1, "write")
        if is_zip_target(destination):
            with atomic_zip(destination, opts.overwrite) as zf, zf.open(name, "w") as fp:
                _dcmwrite(fp, ds)
            written = [str(destination)]
        else:
            with atomic_folder(destination, opts.overwrite) as tmp, open(tmp / name, "wb") as fp:
                _dcmwrite(fp, ds)
            written = [str(destination / name)]
        if report is not None:
            report.advance()
            report.finish()
    logger.info("wrote %s (%s) to %s", ds.SOPClassUID.name, name, destination)
    return written


def _derived_dataset(si: Any, opts: WriteOptions) -> Dataset | None:
    """The Parametric Map or SEG dataset `opts.iod` asks for; None for images."""
    from imagedata.formats.dicom import _iod

    si = series_like(si)
    iod = _iod.choose_iod(si, opts.iod, opts.source, colour=_is_colour(si))
    if iod is IOD.IMAGE:
        lost = [n for n in ("units", "segments") if getattr(opts, n) is not None]
        if lost:
            warnings.warn(
                f"{' and '.join(lost)}= apply to Parametric Maps and SEGs; this write makes "
                f"images (iod={opts.iod.value!r}), which do not store them",
                stacklevel=user_stacklevel(),
            )
        return None
    if opts.enhanced or opts.compression is not Compression.NONE:
        raise WriteError(
            f"iod={iod.value!r} writes its own multi-frame object: leave out enhanced= "
            "and compression="
        )
    return _iod.derived_dataset(
        si,
        iod,
        units=opts.units,
        segments=opts.segments,
        window=opts.window,
        sernum=opts.sernum,
        serdes=opts.serdes,
        keep_uid=opts.keep_uid,
        source=opts.source,
    )


def _is_colour(si: Any) -> bool:
    return bool(si.header.axis_names[-1:] == ("rgb",))


def _write_all(
    plan: _Plan, opts: WriteOptions, sink: _FolderSink | _ZipSink, report: Reporter | None = None
) -> list[str]:
    """Write every file of `plan` through `sink`; return their relative paths.

    `report` counts the images written (all frames at once for an enhanced file).
    """
    if opts.enhanced:
        with sink.open(FILENAME.format(0)) as fp:
            _dcmwrite(fp, _enhanced(plan))
        if report is not None:
            report.advance(len(plan.images))
            report.finish()
        return [FILENAME.format(0)]
    image_writer = _ImageWriter(plan)
    for image in plan.images:
        with sink.open(image.relpath) as fp:
            image_writer.write(fp, image)
        if report is not None:
            report.advance()
    if report is not None:
        report.finish()
    return [image.relpath for image in plan.images]


__all__ = [
    "Compression",
    "OutputDir",
    "OutputSort",
    "WriteOptions",
    "build_datasets",
    "parse_options",
    "write_series",
]
