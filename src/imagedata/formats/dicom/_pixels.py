"""Pixel data: choose the output dtype, allocate once, decode each frame into its slot.

Uncompressed little-endian data are read straight from the file into the final array
(``readinto``) when no conversion is needed, else through one small buffer per file.
JPEG 2000, JPEG-LS and lossless JPEG frames are decoded by imagecodecs without the
GIL, straight into the final array (:mod:`._codecs`); other compressed data by pydicom
(pylibjpeg, pyjpegls, ... with the ``[jpeg]`` extra).  Files are decoded in a thread pool; no
decoded dataset is kept.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from imagedata._progress import Reporter
from imagedata.errors import HeaderError, ImageDataError, MissingDependencyError, ReadError
from imagedata.formats.dicom import _codecs
from imagedata.formats.dicom._mosaic import tile
from imagedata.formats.dicom._scan import FileInfo, Image, private_value

logger = logging.getLogger(__name__)

_NATIVE = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian)
_INT_TYPES = [np.dtype(t) for t in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "int64")]
#: (dtype, smallest, largest value) of :data:`_INT_TYPES` (``np.iinfo`` costs ~3 us a call).
_INT_RANGES = [(dt, int(np.iinfo(dt).min), int(np.iinfo(dt).max)) for dt in _INT_TYPES]


class Scaling(str, enum.Enum):
    """Which pixel value scaling to apply.

    ``modality`` (default): RescaleSlope/RescaleIntercept per image (real-world units);
    ``stored``: the stored values; ``philips``: Philips floating point values
    (SV*RS + RI)/(RS*SS) with the private scale slope SS (2005,xx0E);
    ``realworld``: the first RealWorldValueMappingSequence item.
    """

    MODALITY = "modality"
    STORED = "stored"
    PHILIPS = "philips"
    REALWORLD = "realworld"


def is_color(ds: FileInfo | Dataset) -> bool:
    """True for RGB/YBR (3 samples) and palette colour images (read as RGB)."""
    return int(ds.get("SamplesPerPixel", 1) or 1) == 3 or is_palette(ds)


def is_palette(ds: FileInfo | Dataset) -> bool:
    """True for PALETTE COLOR images."""
    return str(ds.get("PhotometricInterpretation", "")).strip() == "PALETTE COLOR"


def scale_of(img: Image, scaling: Scaling) -> tuple[float, float]:
    """(slope, intercept) to apply to the stored values of `img`.

    Raises
    ------
    HeaderError
        If the requested scaling's attributes are missing.
    """
    if scaling is Scaling.STORED or is_color(img.file):
        return 1.0, 0.0
    if scaling is Scaling.MODALITY:
        return img.slope, img.intercept
    if scaling is Scaling.PHILIPS:
        ss = private_value(img.ds, 0x2005, "Philips MR Imaging DD 001", 0x0E)
        if ss is None or float(ss) == 0:
            raise HeaderError(
                f"{img.name}: no Philips scale slope (2005,xx0E) for scaling='philips'; "
                "use scaling='modality'"
            )
        ss = float(ss)
        return 1.0 / ss, img.intercept / (img.slope * ss)
    rwv = img.get("RealWorldValueMappingSequence")
    if not rwv:
        raise HeaderError(
            f"{img.name}: no RealWorldValueMappingSequence for scaling='realworld'; "
            "use scaling='modality'"
        )
    item = rwv[0]
    return float(item.get("RealWorldValueSlope", 1.0)), float(
        item.get("RealWorldValueIntercept", 0.0)
    )


def stored_dtype(ds: FileInfo | Dataset) -> np.dtype[Any]:
    """numpy dtype of the stored values (little endian)."""
    representation = int(ds.get("PixelRepresentation", 0) or 0)
    return _stored_type(int(ds.get("BitsAllocated", 16)), representation)


@functools.lru_cache(maxsize=32)
def _stored_type(ba: int, representation: int) -> np.dtype[Any]:
    if ba == 1:
        return np.dtype("u1")
    if representation == 1:
        return np.dtype(f"<i{max(1, ba // 8)}")
    return np.dtype(f"<u{max(1, ba // 8)}")


def _stored_range(ds: FileInfo | Dataset) -> tuple[int, int]:
    bs = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16)
    if int(ds.get("PixelRepresentation", 0) or 0) == 1:
        return -(1 << (bs - 1)), (1 << (bs - 1)) - 1
    return 0, (1 << bs) - 1


def _palette_dtype(ds: Dataset) -> np.dtype[Any]:
    desc = ds.get("RedPaletteColorLookupTableDescriptor")
    return np.dtype("u1" if desc is not None and int(desc[2]) == 8 else "u2")


def scales_of(images: Sequence[Image], scaling: Scaling) -> list[tuple[float, float]]:
    """:func:`scale_of` of each image, with whether a file is colour asked once per file.

    The frames of a multi-frame file and the tiles of a mosaic share their file's
    colour; their slopes and intercepts are the images' own.
    """
    if scaling is Scaling.STORED:
        return [(1.0, 0.0)] * len(images)
    colour: dict[int, bool] = {}
    out = []
    for img in images:
        info = img.file
        key = id(info)
        color = colour.get(key)
        if color is None:
            color = colour[key] = is_color(info)
        if color:
            out.append((1.0, 0.0))
        elif scaling is Scaling.MODALITY:
            out.append((img.slope, img.intercept))
        else:
            out.append(scale_of(img, scaling))
    return out


def choose_dtype(images: Sequence[Image], scales: Sequence[tuple[float, float]]) -> np.dtype[Any]:
    """Smallest integer type holding every rescaled value, or float32 for fractional scaling.

    The range is computed from BitsStored/PixelRepresentation and all slopes and
    intercepts in Python integers (no overflow), never from the first image alone.
    """
    if is_palette(images[0].file):  # the dataset (a pydicom read) only for its LUT descriptor
        return _palette_dtype(images[0].ds)
    files = {id(img.file): img.file for img in images}  # frames and tiles share a file
    floats = {info.values.get("_float_pixels") for info in files.values()} - {None}
    if floats:  # Float / Double Float Pixel Data, no rescale
        return np.dtype("float64" if 8 in floats else "float32")
    if not all(float(s).is_integer() and float(i).is_integer() for s, i in set(scales)):
        return np.dtype("float32")
    lo, hi = 0, 0
    ranges = {key: _stored_range(info) for key, info in files.items()}
    cases = {(*ranges[id(img.file)], int(s), int(i)) for img, (s, i) in zip(images, scales)}
    for a, b, s, i in cases:
        vals = (a * s + i, b * s + i)
        lo, hi = min(lo, *vals), max(hi, *vals)
    for dt, smallest, largest in _INT_RANGES:
        if smallest <= lo and hi <= largest:
            return dt
    return np.dtype("float64")


def _fix_bits(arr: npt.NDArray[Any], ds: FileInfo) -> npt.NDArray[Any]:
    """Mask unused high bits, sign-extending from BitsStored for signed data."""
    ba = int(ds.get("BitsAllocated", 16))
    bs = int(ds.get("BitsStored", ba) or ba)
    if bs >= ba:
        return arr
    shift = ba - bs
    if arr.dtype.kind == "i":
        return (arr << shift) >> shift
    return arr & ((1 << bs) - 1)


def store(dst: npt.NDArray[Any], src: npt.NDArray[Any], slope: float, intercept: float) -> None:
    """Write `src` * slope + intercept into `dst` (exact in integer dtypes)."""
    if slope == 1.0 and intercept == 0.0:
        dst[...] = src
    elif dst.dtype.kind == "f":
        dst[...] = src.astype(np.float64) * slope + intercept
    else:
        dst[...] = src
        if slope != 1.0:
            dst *= int(slope)
        if intercept != 0.0:
            dst += int(intercept)


def _native_ok(info: FileInfo) -> bool:
    """True when the file's pixel data are read as they are stored (native, complete)."""
    if info.offset < 0 or info.length < 0:
        return False
    need = _native_bytes(info)
    return need is not None and info.length >= need


def _native_bytes(info: FileInfo) -> int | None:
    """Bytes of pixel data a native read of the file takes; None when it is not read so.

    Depends only on the file's pixel description (see :func:`_description`).
    """
    ds = info
    if info.transfer_syntax not in _NATIVE:
        return None
    if info.values.get("_float_pixels"):
        return None
    ba = int(ds.get("BitsAllocated", 16))
    if ba not in (8, 16, 32) or is_palette(ds):
        return None
    if ba == 8 and info.transfer_syntax == ExplicitVRBigEndian:
        return None  # OB or byte-swapped OW words: pydicom decides
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if samples == 3 and (photometric != "RGB" or int(ds.get("PlanarConfiguration", 0) or 0) != 0):
        return None
    return (
        int(ds.get("Rows"))
        * int(ds.get("Columns"))
        * samples
        * int(ds.get("BitsAllocated"))
        // 8
        * info.nframes
    )


#: What describes a file's pixel data (the header pass reads each, or knows it absent).
_PIXEL_KEYWORDS = (
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "PlanarConfiguration",
    "_float_pixels",
)


def _description(info: FileInfo) -> tuple[Any, ...] | None:
    """A key equal for files that :func:`_native_bytes` and :func:`_direct_type` cannot tell
    apart; None for a file read by pydicom (its values are converted on first use).

    The files of a series share one; asking once per description saves a dozen value
    look-ups per file (a 150-file series: about a millisecond).
    """
    if not info.fast:
        return None
    values = info.values
    return (str(info.transfer_syntax), info.nframes, *[values.get(k) for k in _PIXEL_KEYWORDS])


def _frame_shape(info: FileInfo) -> tuple[int, ...]:
    ds = info
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    shape: tuple[int, ...] = (info.nframes, int(ds.get("Rows")), int(ds.get("Columns")))
    return (*shape, 3) if samples == 3 or is_palette(ds) else shape


def _read_native(info: FileInfo) -> npt.NDArray[Any]:
    """The stored values of a native file (in its byte order: numpy converts on store)."""
    dt = stored_dtype(info)
    if info.transfer_syntax == ExplicitVRBigEndian:
        dt = dt.newbyteorder(">")
    shape = _frame_shape(info)
    nbytes = int(np.prod(shape)) * dt.itemsize
    if info.member.path is not None and hasattr(os, "preadv"):
        # straight into a writable array (no bytes object, no buffered file object), whose
        # unused high bits are then fixed in place
        arr = np.empty(shape, dtype=dt)
        n = _read_into(info.member.path, info.offset, arr.data.cast("B"))
        if n < nbytes:
            raise ReadError(f"{info.name}: truncated pixel data ({n} of {nbytes} bytes)")
        if not arr.dtype.isnative:  # big endian: the fixed copy is native, as before
            return _fix_bits(arr, info)
        _codecs._fix_bits_inplace(arr, info)
        return arr
    with info.member.fileobj() as f:
        f.seek(info.offset)
        data = f.read(nbytes)
    if len(data) < nbytes:
        raise ReadError(f"{info.name}: truncated pixel data ({len(data)} of {nbytes} bytes)")
    return _fix_bits(np.frombuffer(data, dtype=dt).reshape(shape), info)


def _read_into(path: str | os.PathLike[str], offset: int, dest: memoryview) -> int:
    """Read a file from `offset` into `dest`; the bytes read (fewer at the file's end).

    A very large read comes in parts (Linux reads at most about 2 GiB a call).
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        got = os.preadv(fd, [dest], offset)
        while 0 < got < len(dest):
            n = os.preadv(fd, [dest[got:]], offset + got)
            if n <= 0:
                break
            got += n
    finally:
        os.close(fd)
    return got


def _decode(info: FileInfo) -> npt.NDArray[Any]:
    """Decode a file's pixel data with pydicom; frames first."""
    from pydicom.pixels.decoders.base import get_decoder

    ts = info.transfer_syntax
    if ts.is_compressed:
        try:
            decoder = get_decoder(ts)
        except NotImplementedError as err:
            raise ReadError(
                f"{info.name}: transfer syntax {ts.name} ({ts}) is not supported"
            ) from err
        if not decoder.is_available:
            raise MissingDependencyError(
                f"{info.name}: no decoder for transfer syntax {ts.name} ({ts}) is installed; "
                "install it with: pip install 'imagedata[jpeg]'"
            )
    try:
        with info.member.fileobj() as f:
            ds = pydicom.dcmread(f, force=True)
        arr = ds.pixel_array
        if is_palette(ds):
            from pydicom.pixels import apply_color_lut

            arr = apply_color_lut(arr, ds)
    except (ValueError, RuntimeError, EOFError, OSError, AttributeError) as err:
        raise ReadError(f"{info.name}: cannot decode pixel data ({ts.name}): {err}") from err
    return arr.reshape(_frame_shape(info))


def _direct_ok(
    info: FileInfo,
    slots: list[tuple[int, Image, float, float]],
    dtype: np.dtype[Any],
    native: bool | None = None,
) -> bool:
    """True when the file's stored values go unchanged into their one slot (`native`:
    :func:`_native_ok` of the file when known)."""
    if not _one_slot(info, slots):
        return False
    if not (_native_ok(info) if native is None else native):
        return False
    return _unchanged(slots) and _direct_type(info, dtype)


def _unchanged(slots: list[tuple[int, Image, float, float]]) -> bool:
    """True for one whole image (not a tile) kept as stored (no rescale)."""
    _, img, slope, intercept = slots[0]
    return img.tile < 0 and slope == 1.0 and intercept == 0.0


def _direct_type(info: FileInfo, dtype: np.dtype[Any]) -> bool:
    """True when the stored values are `dtype` as they are (little endian, all bits)."""
    ds = info
    ba = int(ds.get("BitsAllocated"))
    return (
        info.transfer_syntax != ExplicitVRBigEndian
        and stored_dtype(ds) == dtype
        and int(ds.get("BitsStored", ba) or ba) == ba
    )


class _Files:
    """:func:`_native_ok` and :func:`_direct_ok` of a series' files into `dtype`.

    Asked once per file, and what depends only on the pixel description once per
    description (see :func:`_description`).
    """

    def __init__(self, dtype: np.dtype[Any]) -> None:
        self.dtype = dtype
        self.native_of: dict[int, bool] = {}
        self._bytes: dict[tuple[Any, ...], int | None] = {}
        self._type: dict[tuple[Any, ...], bool] = {}

    def native(self, info: FileInfo) -> bool:
        """:func:`_native_ok` of `info`."""
        value = self.native_of.get(id(info))
        if value is None:
            value = self.native_of[id(info)] = self._native(info)
        return value

    def _native(self, info: FileInfo) -> bool:
        if info.offset < 0 or info.length < 0:
            return False
        key = _description(info)
        if key is None:
            need = _native_bytes(info)
        elif key in self._bytes:
            need = self._bytes[key]
        else:
            need = self._bytes[key] = _native_bytes(info)
        return need is not None and info.length >= need

    def direct(self, info: FileInfo, slots: list[tuple[int, Image, float, float]]) -> bool:
        """:func:`_direct_ok` of `info` with `slots`."""
        if not _one_slot(info, slots) or not self.native(info) or not _unchanged(slots):
            return False
        key = _description(info)
        if key is None:
            return _direct_type(info, self.dtype)
        value = self._type.get(key)
        if value is None:
            value = self._type[key] = _direct_type(info, self.dtype)
        return value


def _is_fault(err: BaseException) -> bool:
    """True for exceptions a damaged file can raise while decoding.

    That is any :class:`Exception`, and a Rust panic in a codec (pyo3's PanicException
    derives from BaseException); never KeyboardInterrupt or SystemExit.
    """
    return isinstance(err, Exception) or type(err).__name__ == "PanicException"


def _fill_file(
    info: FileInfo,
    slots: list[tuple[int, Image, float, float]],
    flat: npt.NDArray[Any],
    direct: bool | None = None,
    threads: int | None = 1,
    native: bool | None = None,
) -> None:
    """Decode one file into its slots; every failure is a ReadError naming the file.

    `direct` and `native` are :func:`_direct_ok` and :func:`_native_ok` of the file when
    known; `threads` those the codec may use for this file (see
    :func:`._codecs.decode_into`; None: one per CPU).
    """
    with _pixel_faults(info):
        _fill_slots(info, slots, flat, direct, threads, native)


def _fault(info: FileInfo, err: BaseException) -> ReadError:
    return ReadError(f"{info.name}: cannot decode pixel data ({type(err).__name__}: {err})")


@contextlib.contextmanager
def _pixel_faults(info: FileInfo) -> Iterator[None]:
    """Turn a decoder's failure (a codec's panic included) into a ReadError naming the file."""
    try:
        yield
    except ImageDataError:
        raise
    except BaseException as err:
        if not _is_fault(err):
            raise
        raise _fault(info, err) from err


def _fill_slots(
    info: FileInfo,
    slots: list[tuple[int, Image, float, float]],
    flat: npt.NDArray[Any],
    direct: bool | None = None,
    threads: int | None = 1,
    native: bool | None = None,
) -> None:
    if direct is None:
        direct = _direct_ok(info, slots, flat.dtype, native)
    if direct:
        slot = slots[0][0]
        dest = memoryview(flat[slot]).cast("B")
        if info.member.path is not None and hasattr(os, "preadv"):  # one read into the array
            n = _read_into(info.member.path, info.offset, dest)
        else:
            with info.member.fileobj() as f:
                f.seek(info.offset)
                n = f.readinto(dest)  # type: ignore[attr-defined]
        if n != flat[slot].nbytes:
            raise ReadError(f"{info.name}: truncated pixel data ({n} of {flat[slot].nbytes} bytes)")
        return
    if native is None:
        native = _native_ok(info)
    if not native and _codecs.decode_into(info, slots, flat, store, threads or _cpus()):
        return
    arr = _read_native(info) if native else _decode(info)
    if _store_block(arr, slots, flat):
        return
    for slot, img, slope, intercept in slots:
        src = arr[img.frame]
        if img.tile >= 0:
            src = tile(src, img.tile, img.rows, img.cols)
        store(flat[slot], src, slope, intercept)


def _store_block(
    arr: npt.NDArray[Any], slots: list[tuple[int, Image, float, float]], flat: npt.NDArray[Any]
) -> bool:
    """Store a file's images in one operation; False when they are not such a block.

    That is several frames (or the tiles of one mosaic frame) with one slope and
    intercept, bound for consecutive slots (in any order): the same values as storing
    each image into its slot, without a numpy call per image.
    """
    if len(slots) < 2:
        return False
    _, _, slope, intercept = slots[0]
    if any(s != slope or i != intercept for _, _, s, i in slots):
        return False
    order = sorted(slots, key=lambda s: s[0])
    lo, hi = order[0][0], order[-1][0]
    if hi - lo + 1 != len(order):
        return False
    src: npt.NDArray[Any] | None
    if all(img.tile < 0 for _, img, _, _ in order):
        src = arr[[img.frame for _, img, _, _ in order]]
    else:
        src = _tiles(arr, [img for _, img, _, _ in order])
    dst = flat[lo : hi + 1]
    if src is None or src.shape != dst.shape:
        return False
    store(dst, src, slope, intercept)
    return True


def _tiles(arr: npt.NDArray[Any], images: list[Image]) -> npt.NDArray[Any] | None:
    """The tiles of `images` (tiles of one mosaic frame) stacked, or None when they are not.

    Tile k is :func:`._mosaic.tile` of the frame: row-major tiles of rows x columns.
    """
    first = images[0]
    rows, cols, frame = first.rows, first.cols, first.frame
    if any(
        img.tile < 0 or img.frame != frame or img.rows != rows or img.cols != cols for img in images
    ):
        return None
    src = arr[frame]
    if src.ndim != 2:
        return None
    side, down = src.shape[1] // cols, src.shape[0] // rows
    if max(img.tile for img in images) >= side * down:
        return None  # a tile past the frame: the per-tile copy says what is wrong
    grid = src[: down * rows, : side * cols].reshape(down, rows, side, cols)
    where = np.array([divmod(img.tile, side) for img in images], dtype=np.intp)
    return grid[where[:, 0], :, where[:, 1], :]  # (tiles, rows, columns): one copy


def read_pixels(
    images: Sequence[Image],
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    scales: Sequence[tuple[float, float]],
    workers: int | None = None,
    report: Reporter | None = None,
) -> npt.NDArray[Any]:
    """Allocate the final array and decode every image into its slot (C order of `images`).

    `report` counts the images decoded (all images of a file at once, from the
    thread that decoded it).
    """
    out = np.empty(shape, dtype=dtype)
    first = images[0]
    inner = (first.rows, first.cols, 3) if is_color(first.file) else (first.rows, first.cols)
    flat = out.reshape(-1, *inner)
    by_file: dict[int, tuple[FileInfo, list[tuple[int, Image, float, float]]]] = {}
    for slot, (img, (s, i)) in enumerate(zip(images, scales)):
        by_file.setdefault(id(img.file), (img.file, []))[1].append((slot, img, s, i))
    files = _Files(flat.dtype)
    jobs = [(info, slots, files.direct(info, slots)) for info, slots in by_file.values()]
    fill = _fill_file if report is None else _reporting(report)
    if workers is None and not _worth_threads(jobs, flat, files.native):
        nworkers = 1
    else:
        nworkers = workers or min(8, _cpus() * 2)
    if nworkers <= 1 or len(jobs) < 4:
        # files one after the other: a codec that shares out a frame gets the threads
        threads = workers or None  # None: every CPU, asked only when a file is decoded
        for info, slots, direct in jobs:
            fill(info, slots, flat, direct, threads, files.native_of.get(id(info)))
    else:
        with ThreadPoolExecutor(max_workers=nworkers) as pool:
            for fut in [pool.submit(fill, info, slots, flat, d) for info, slots, d in jobs]:
                fut.result()
    if report is not None:
        report.finish()
    return out


#: Bytes of uncompressed pixel data from which a series read straight into its array
#: (no decoding) is still read by threads (a cold cache or a network file system).
THREADED_READ_BYTES = 32 << 20
#: Bytes of uncompressed pixel data from which a series whose values must be copied out
#: of its files (frames of multi-frame files, rescaled or cast values) is read by threads.
THREADED_COPY_BYTES = 8 << 20


def _one_slot(info: FileInfo, slots: list[tuple[int, Image, float, float]]) -> bool:
    """True for a single-frame file with one image (the precondition of :func:`_direct_ok`)."""
    return info.nframes == 1 and len(slots) == 1


def _cpus() -> int:
    return os.cpu_count() or 1


def _worth_threads(
    jobs: Sequence[tuple[FileInfo, list[tuple[int, Image, float, float]], bool]],
    flat: npt.NDArray[Any],
    native: Callable[[FileInfo], bool] = _native_ok,
) -> bool:
    """True when some file must be decoded, or there is much to read or copy.

    Files read straight into the final array take microseconds each from a warm cache,
    and so do small uncompressed files whose values are copied out (the frames of a few
    enhanced files): starting a thread pool for them cost more than the reading
    (1-2 ms per series).
    """
    if flat.nbytes >= THREADED_READ_BYTES:
        return True
    if not all(direct or native(info) for info, _, direct in jobs):  # direct: native
        return True
    if flat.nbytes < THREADED_COPY_BYTES:
        return False
    return not all(direct for _, _, direct in jobs)  # direct: _direct_ok of each file


def _reporting(report: Reporter) -> Callable[..., None]:
    """:func:`_fill_file` counting the images of each file in `report`."""

    def fill(
        info: FileInfo,
        slots: list[tuple[int, Image, float, float]],
        flat: npt.NDArray[Any],
        direct: bool | None = None,
        threads: int | None = 1,
        native: bool | None = None,
    ) -> None:
        _fill_file(info, slots, flat, direct, threads, native)
        report.advance(len(slots))

    return fill


def image_pixels(img: Image) -> npt.NDArray[Any]:
    """Stored pixels of one image (for duplicate checks)."""
    info = img.file
    with _pixel_faults(info):
        arr = _read_native(info) if _native_ok(info) else _decode(info)
    src = arr[img.frame]
    return tile(src, img.tile, img.rows, img.cols) if img.tile >= 0 else src


def transfer_syntax_name(uid: UID) -> str:
    """Readable name of a transfer syntax UID."""
    return f"{uid.name} ({uid})"
