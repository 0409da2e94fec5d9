"""The header pass: read every file up to its pixel data and describe each image.

One :class:`FileInfo` per DICOM file (its header dataset, transfer syntax, where its
pixel data start), the :class:`Image` record of one 2D image and the image of a
single-frame file (:func:`single_image`).  Multi-frame files and mosaics are split by
:mod:`._enhanced` and :mod:`._mosaic`, which build on this module (the reader's
``images_of`` chooses between them).  No pixel data are read here.
"""

from __future__ import annotations

import functools
import io
import logging
import math
import os
import struct
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from imagedata import geometry
from imagedata._fastenh import (
    PER_FRAME_KEY,
    PER_FRAME_SPAN,
    SHARED_KEY,
    Short,
    Unhandled,
    raw_dataset,
)
from imagedata._fastscan import (
    DIGEST_SKIP,
    FAST_KEYWORDS,
    KNOWN,
    NO_IMAGE,
    PRIVATE,
    TRUNCATED,
    US_KEYWORDS,
    HeaderContinues,
    is_image_class,
    numbers_key,
    parse,
    private_key,
)
from imagedata._progress import Reporter
from imagedata.archives import Member
from imagedata.errors import GeometryError, HeaderError, ImageDataError, ReadError
from imagedata.formats.dicom._checks import (
    check_encapsulated,
    check_native,
    frame_count,
    native_bytes,
    pixel_description,
)
from imagedata.formats.dicom._csa import SCAN_KEY, header_scan_items
from imagedata.formats.dicom._headfile import FILE_SIZE, HeadFile

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

_PIXEL_TAGS = (b"\xe0\x7f\x10\x00", b"\xe0\x7f\x08\x00", b"\xe0\x7f\x09\x00")
_PIXEL_TAGS_BE = (b"\x7f\xe0\x00\x10", b"\x7f\xe0\x00\x08", b"\x7f\xe0\x00\x09")
_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN"}
AXIAL_IOP = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
_WAY_OUT = "remove it or read with skip_broken=True"


_ABSENT = object()


@dataclass(eq=False)
class FileInfo:
    """One DICOM file: its header values and where the pixel data are.

    The pydicom dataset (without pixel data) is read on first use of :attr:`ds`
    when the fast header parser handled the file.
    """

    member: Member
    transfer_syntax: UID
    #: Byte offset of the pixel data value in the file, -1 when unknown (deflated).
    offset: int = -1
    #: Length of the pixel data value; -1 for encapsulated (compressed) data.
    length: int = -1
    nframes: int = 1
    #: Attribute values by keyword: text attributes decoded from the raw bytes in the
    #: header pass (strings, or lists of strings for several values), others cached.
    values: dict[str, Any] = field(default_factory=dict)
    _ds: Dataset | None = None
    #: True when :attr:`values` came from the fast parser (it knows what is absent).
    fast: bool = False

    @property
    def name(self) -> str:
        """Display name of the file."""
        return self.member.name

    @property
    def ds(self) -> Dataset:
        """The file's dataset without pixel data (read with pydicom on first use)."""
        if self._ds is None:
            try:
                with self.member.fileobj() as fp:
                    self._ds = _dataset_of(fp, self.values, self.offset, self._raw_ok)
            except ImageDataError:
                raise
            except Exception as err:  # pydicom raises many types for damaged data
                raise ReadError(
                    f"{self.name}: not a readable DICOM file ({type(err).__name__}: {err}); "
                    f"{_WAY_OUT}"
                ) from err
        return self._ds

    @property
    def _raw_ok(self) -> bool:
        """True when the header pass walked this file as explicit VR little endian."""
        ts = self.transfer_syntax
        return self.fast and not ts.is_implicit_VR and ts.is_little_endian and not ts.is_deflated

    def get(self, keyword: str, default: Any = None) -> Any:
        """Value of `keyword` (fast: from :attr:`values`, else the dataset, then cached)."""
        value = self.values.get(keyword, _ABSENT)
        if value is _ABSENT:  # (a sentinel, not KeyError: absent values are common)
            if self.fast and keyword in KNOWN:
                return default
            value = self.values[keyword] = self._converted(keyword)
        return default if value is None else value

    def _converted(self, keyword: str) -> Any:
        try:
            return self.ds.get(keyword)
        except ImageDataError:
            raise
        except Exception as err:  # pydicom converts raw values on first use
            raise ReadError(
                f"{self.name}: {keyword} cannot be decoded ({type(err).__name__}: {err}); "
                f"{_WAY_OUT}"
            ) from err

    def private(self, group: int, creator: str, element: int) -> Any:
        """Value of a vendor private element (see :data:`._fastscan.PRIVATE`), or None.

        Read from the header pass for the private elements it knows, else from the dataset.
        """
        key = private_key(group, creator, element)
        if key in self.values:
            return self.values[key]
        if self.fast and (group, creator.strip().upper(), element) in PRIVATE:
            return None
        value = self.values[key] = private_value(self.ds, group, creator, element)
        return value

    @property
    def digest(self) -> int:
        """Hash of the header without per-image and private attributes.

        Files with equal digests differ at most in identity, position, per-image times
        and counters (InstanceNumber, AcquisitionNumber, ...) and private attributes.
        """
        value = self.values.get("_digest")
        if value is None:
            value = self.values["_digest"] = _dataset_digest(self.ds)
        return int(value)


def _dataset_of(fp: Any, values: dict[str, Any], offset: int, raw_ok: bool = False) -> Dataset:
    """The dataset of a file without pixel data (:attr:`FileInfo.ds`).

    For a file the fast header pass walked as explicit VR little endian (`raw_ok`) it is
    made from the bytes without parsing (:func:`._fastenh.raw_dataset`: pydicom decodes
    each element on first use, as it would have read it); for an enhanced file also
    without the Per-frame Functional Groups Sequence: the frames' values are in the
    images, and the template leaves the sequence out.  Anything that structure does not
    allow is read by :func:`pydicom.dcmread`.
    """
    enhanced = SHARED_KEY in values or PER_FRAME_KEY in values
    if offset < 0 or not (enhanced or raw_ok):
        return pydicom.dcmread(fp, stop_before_pixels=True, force=True)
    data = fp.read(offset)
    cut = values.get(PER_FRAME_SPAN)
    try:
        return raw_dataset(data, cut, fp)
    except (Unhandled, Short, struct.error):
        if cut is not None:
            data = data[: cut[0]] + data[cut[1] :]
        return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)


@dataclass(frozen=True)
class ScannedHeader:
    """What the header pass learnt of a single-frame file, without the file itself.

    Picklable and small (a few hundred bytes), so that the process that read a file's
    header can hand it to the process that reads its pixel data, which then need not
    read the header again (:meth:`bind`).  Only files read by the fast header parser
    have one (:meth:`of`); the others are read again where they are needed.
    """

    transfer_syntax: str
    offset: int
    length: int
    values: dict[str, Any]

    @classmethod
    def of(cls, info: FileInfo) -> ScannedHeader | None:
        """The header of `info` as read (None for multi-frame and pydicom-read files)."""
        if not info.fast or info.nframes != 1:
            return None
        return cls(str(info.transfer_syntax), info.offset, info.length, dict(info.values))

    def bind(self, member: Member) -> FileInfo:
        """The :class:`FileInfo` of `member`, the same file this header was read from."""
        uid = _uid(self.transfer_syntax)
        values = dict(self.values)
        return FileInfo(member, uid, self.offset, self.length, 1, values, fast=True)


def _dataset_digest(ds: Dataset) -> int:
    """:attr:`FileInfo.digest` of a dataset read by pydicom."""
    items = []
    for key in ds.keys():  # noqa: SIM118 - tags only, no value conversion
        tag = int(key)
        if tag & 0x10000 or tag in DIGEST_SKIP or tag >> 16 == 0x7FE0 or not tag & 0xFFFF:
            continue
        elem = ds.get_item(key)
        raw = elem.value if isinstance(elem, RawDataElement) else str(getattr(elem, "value", ""))
        items.append((tag, raw))
    return hash(tuple(items))


@dataclass(eq=False)
class Image:
    """One 2D image: a file, a frame of a multi-frame file, or a tile of a mosaic."""

    file: FileInfo
    frame: int
    position: FloatArray
    iop: FloatArray
    spacing: tuple[float, float]
    rows: int
    cols: int
    slope: float = 1.0
    intercept: float = 0.0
    #: Mosaic tile index (-1 when not a mosaic tile); tiles share one frame.
    tile: int = -1
    #: Per-frame values that override the file's dataset (multi-frame, mosaic, private tags).
    extra: dict[str, Any] = field(default_factory=dict)
    #: Smallest decimal resolution of the position strings (for tolerances).
    resolution: float = 1e-6

    @property
    def name(self) -> str:
        """File name, with the frame number for multi-frame files."""
        if self.file.nframes > 1:
            return f"{self.file.name} (frame {self.frame + 1})"
        if self.tile >= 0:
            return f"{self.file.name} (tile {self.tile + 1})"
        return self.file.name

    @property
    def ds(self) -> Dataset:
        """The file's header dataset."""
        return self.file.ds

    @property
    def uid(self) -> str:
        """SOPInstanceUID, with the frame/tile for multi-frame files and mosaics."""
        value = self.file.get("SOPInstanceUID")
        sop = self.file.name if value is None else str(value)
        if self.file.nframes > 1 or self.tile >= 0:
            return f"{sop}#{self.frame}.{self.tile}"
        return sop

    def get(self, keyword: str, default: Any = None) -> Any:
        """Value of `keyword`: the per-frame value if there is one, else the file's."""
        if keyword in self.extra:
            return self.extra[keyword]
        return self.file.get(keyword, default)


_FAST_TAGS = [(kw, tag_for_keyword(kw)) for kw in FAST_KEYWORDS]
_TEXT_VRS = {None, "DS", "IS", "CS", "UI", "DA", "TM", "DT", "LO", "SH", "AS", "PN"}

_BINARY_TAGS = [(kw, tag_for_keyword(kw)) for kw in US_KEYWORDS]


def fast_values(ds: Dataset) -> dict[str, Any]:
    """Values of :data:`FAST_KEYWORDS` decoded without pydicom's value conversion.

    Single values are stripped strings, several values lists of strings (like a
    backslash-separated DICOM string).  The small binary attributes describing the
    pixel data are read through pydicom.
    """
    out: dict[str, Any] = {}
    for kw, tag in _FAST_TAGS:
        elem = ds.get_item(tag)  # type: ignore[arg-type]
        if elem is None:
            continue
        if isinstance(elem, RawDataElement) and elem.VR in _TEXT_VRS:
            if elem.value is None:
                continue
            text = elem.value.decode("latin-1").strip(" \x00")
            parts = text.split("\\")
            out[kw] = parts if len(parts) > 1 else text
        else:
            out[kw] = ds.get(kw)
    byteorder = "big" if ds.original_encoding[1] is False else "little"
    for kw, tag in _BINARY_TAGS:
        elem = ds.get_item(tag)  # type: ignore[arg-type]
        if (
            isinstance(elem, RawDataElement)
            and elem.VR in (None, "US")
            and len(elem.value or b"") == 2
        ):
            out[kw] = int.from_bytes(elem.value, byteorder)
        else:
            out[kw] = ds.get(kw)
    return out


def as_list(value: Any) -> list[Any]:
    """A DICOM value as a list (one string is one value)."""
    if value is None or value == "":
        return []
    if isinstance(value, (str, bytes, int, float)):
        return [value]
    return list(value)


def floats(value: Any, n: int | None = None) -> FloatArray | None:
    """Convert a DICOM multi-value to floats; None when missing, not finite or of the wrong length.

    Examples
    --------
    >>> floats(["1", "2.5"], 2), floats(["nan", "1"], 2)
    (array([1. , 2.5]), None)
    """
    if value is None:
        return None
    try:
        seq = list(value) if not isinstance(value, (str, bytes)) else str(value).split("\\")
        vals = [float(v) for v in seq]
    except (TypeError, ValueError):
        return None
    if (n is not None and len(vals) != n) or not all(map(math.isfinite, vals)):
        return None
    return np.array(vals, dtype=np.float64)


def resolution_of(value: Any) -> float:
    """Decimal resolution of a DS multi-value (10**-decimals of the coarsest value)."""
    res = 1e-6
    for v in as_list(value):
        text = getattr(v, "original_string", None) or str(v)
        text = text.strip().lower()
        if "e" in text:
            continue
        _, dot, dec = text.partition(".")
        res = max(res, 10.0 ** -(len(dec) if dot else 0))
    return res


def _pixel_location(fp: Any, ds: Dataset) -> tuple[int, int, bool | str]:
    """(value offset, value length, has pixel data) of the element at the file position.

    The third value is ``"float"`` for (Double) Float Pixel Data.
    """
    start = fp.tell()
    head = fp.read(12)
    implicit, little = ds.original_encoding
    tags = _PIXEL_TAGS if little is not False else _PIXEL_TAGS_BE
    if len(head) < 8 or head[:4] not in tags:
        return -1, -1, False
    if head[:4] != tags[0]:  # Float / Double Float Pixel Data: decoded by pydicom
        return -1, -1, "float"
    fmt = "<" if little is not False else ">"
    if not implicit:
        if head[4:6] in _LONG_VRS and len(head) == 12:
            (length,) = struct.unpack(fmt + "I", head[8:12])
            return start + 12, -1 if length == 0xFFFFFFFF else length, True
        (length,) = struct.unpack(fmt + "H", head[6:8])
        return start + 8, length, True
    (length,) = struct.unpack(fmt + "I", head[4:8])
    return start + 8, -1 if length == 0xFFFFFFFF else length, True


def _looks_raw_dicom(head: bytes) -> bool:
    return len(head) >= 8 and head[0:2] in (b"\x08\x00", b"\x02\x00") and head[3:4] == b"\x00"


def _member_size(member: Member, fp: Any) -> int:
    if member.path is not None:
        return os.path.getsize(member.path)
    if member.size is not None:
        return member.size
    pos = fp.tell()
    fp.seek(0, os.SEEK_END)
    size = int(fp.tell())
    fp.seek(pos)
    return size


#: Bytes read for the fast header parser (the rest of the file only when needed).
HEAD_BYTES = 1 << 15
#: Bytes read when the header is longer than :data:`HEAD_BYTES` and the walk cannot tell
#: how much longer (then 8 times more).
_MORE_BYTES = 1 << 24


def _fast_header(member: Member) -> tuple[dict[str, Any], str, int, int] | str:
    """:func:`._fastscan.parse` on the first bytes, then on more until the header is in.

    A long header is parsed again on more bytes: up to where the walk stopped and
    :data:`HEAD_BYTES` beyond (at least twice as many as before), or, where the walk
    cannot tell (functional groups, the Python walk), 16 MiB, then 128 MiB...; never on
    the whole of a big file with its pixel data.  The functional groups of an enhanced
    file are never walked on the first bytes (unless they are the whole file): reaching
    them asks for more at once.
    A file on disk also gives its size (:data:`FILE_SIZE` in the values).
    """
    with HeadFile(member.path) if member.path is not None else member.open() as fp:
        size = HEAD_BYTES
        data = fp.read(size)
        while True:
            try:
                result = parse(data, complete=len(data) < size, probe=size == HEAD_BYTES)
            except HeaderContinues as err:
                # as far as the walk got and a first read more, else (functional groups,
                # the Python walk) at once a size for long headers
                grown = (
                    max(size * 8, _MORE_BYTES)
                    if err.needed is None
                    else max(err.needed + HEAD_BYTES, 2 * size)
                )
                # no more than the file holds: read(n) allocates n bytes first
                whole = fp.size if isinstance(fp, HeadFile) else _member_size(member, fp)
                left = max(0, whole - len(data))
                data += fp.read(min(grown - size, left))
                size = grown
                continue
            if not isinstance(result, str):
                if isinstance(fp, HeadFile):
                    result[0][FILE_SIZE] = fp.size
                _keep_csa_items(data, result[0])
            return result


def _keep_csa_items(data: bytes, values: dict[str, Any]) -> None:
    """Keep the CSA image header items a Siemens mosaic's tiles need (:mod:`._mosaic`).

    Read from the header bytes while they are at hand, so that splitting the mosaic
    needs no dataset (:func:`._csa.scan_items`; it reads the dataset where they are not
    kept).  ``images_of``'s test for a mosaic, or a wider one.
    """
    image_type = values.get("ImageType")  # text, or a list of texts (see _fastscan)
    if isinstance(image_type, list):
        image_type = "\\".join(image_type)  # MOSAIC in str(list) is MOSAIC in one of them
    if image_type and "MOSAIC" in str(image_type).upper():
        items = header_scan_items(data)
        if items is not None:
            values[SCAN_KEY] = items


def _file_size(member: Member, values: Mapping[str, Any] | None = None) -> int:
    known = None if values is None else values.get(FILE_SIZE)
    if known is not None:
        return int(known)
    if member.path is not None:
        return os.path.getsize(member.path)
    if member.size is not None:
        return member.size
    with member.fileobj() as fp:
        return _member_size(member, fp)


def read_header(member: Member, pixel_data: bool = True) -> FileInfo | None:
    """Read one file up to its pixel data; None for non-DICOM files and non-images.

    The pixel description is checked (see :mod:`._checks`), and with `pixel_data`
    compared with the Pixel Data the file holds, before anything is allocated
    (`pixel_data` False: headers only, such as the pixel-less headers a PACS query gives).

    Raises
    ------
    ReadError
        If the file is DICOM but cannot be parsed, is truncated, or its header does not
        match its pixel data (every failure, whatever raised it, names the file).
    """
    try:
        info = _read_header(member)
        if info is not None:
            _check_pixels(info, pixel_data)
        return info
    except ImageDataError:
        raise
    except Exception as err:  # pydicom, struct and numpy raise many types for damaged data
        raise ReadError(
            f"{member.name}: not a readable DICOM file ({type(err).__name__}: {err}); {_WAY_OUT}"
        ) from err


def _read_header(member: Member) -> FileInfo | None:
    try:
        fast = _fast_header(member)
    except ReadError:
        raise
    except OSError as err:
        raise ReadError(f"{member.name}: cannot read ({err})") from err
    if fast == NO_IMAGE:
        logger.debug("%s: no image, skipped", member.name)
        return None
    if fast == TRUNCATED:
        raise ReadError(
            f"{member.name}: truncated DICOM file (it ends inside its header or before its "
            f"Pixel Data); {_WAY_OUT}"
        )
    if not isinstance(fast, str):
        values, ts, offset, length = fast
        nframes = frame_count(member.name, values.get("NumberOfFrames"))
        if nframes == 1 or SHARED_KEY in values or PER_FRAME_KEY in values:
            uid = _transfer_syntax(member.name, ts)
            return FileInfo(member, uid, offset, length, nframes, values, fast=True)
    return _pydicom_header(member)


@functools.lru_cache(maxsize=64)
def _uid(ts: str) -> UID:
    """One :class:`UID` per transfer syntax string (pydicom validates each new UID)."""
    return UID(ts)


@functools.lru_cache(maxsize=64)
def _is_transfer_syntax(ts: str) -> bool:
    return bool(_uid(ts).is_transfer_syntax)


@functools.lru_cache(maxsize=64)
def _is_compressed(ts: UID) -> bool:
    """``ts.is_compressed``, once per transfer syntax (pydicom checks the UID each time)."""
    return bool(ts.is_compressed)


def _transfer_syntax(name: str, ts: str) -> UID:
    uid = _uid(ts)
    if not _is_transfer_syntax(ts):
        raise ReadError(
            f"{name}: TransferSyntaxUID {ts!r} is not a known transfer syntax; {_WAY_OUT}"
        )
    return uid


#: Largest decompressed / compressed size ratio of deflate (a bound for deflated files).
_DEFLATE_RATIO = 1100


def _check_pixels(info: FileInfo, pixel_data: bool = True) -> None:
    """Compare the pixel description with the Pixel Data the file holds (no allocation)."""
    name = info.name
    rows, cols, samples, bits = pixel_description(name, info.get)
    if not pixel_data:
        return
    need = native_bytes(rows, cols, samples, bits, info.nframes)
    if str(info.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
        need = need * 2 // 3
    if info.offset < 0:  # deflated or float pixel data: bounded by the file size
        size = _file_size(info.member, info.values)
        ratio = _DEFLATE_RATIO if info.values.get("_float_pixels") is None else 1
        if need > size * ratio:
            raise ReadError(
                f"{name}: Rows x Columns x samples x bits x {info.nframes} frame(s) need {need} "
                f"bytes, more than a {size}-byte file can hold; {_WAY_OUT}"
            )
        return
    if info.length >= 0 and not _is_compressed(info.transfer_syntax):
        if info.offset + info.length > _file_size(info.member, info.values):
            raise ReadError(
                f"{name}: truncated file, pixel data need {info.length} bytes from offset "
                f"{info.offset}; {_WAY_OUT}"
            )
        check_native(name, need, info.length, info.nframes)
    elif info.length < 0:
        with info.member.fileobj() as fp:
            check_encapsulated(name, fp, info.offset, info.nframes)


def _pydicom_header(member: Member) -> FileInfo | None:
    """The header pass through pydicom (any encoding, multi-frame)."""
    head = member.head(132)  # sniff before opening a member as a whole
    force = False
    if head[128:132] != b"DICM":
        if not _looks_raw_dicom(head):
            logger.debug("%s: not a DICOM file, skipped", member.name)
            return None
        force = True
    with member.fileobj() as fp:
        try:
            ds = pydicom.dcmread(fp, stop_before_pixels=True, force=force)
            offset, length, has_pixels = _pixel_location(fp, ds)
            deflated = (
                ds.file_meta.get("TransferSyntaxUID") == pydicom.uid.DeflatedExplicitVRLittleEndian
            )
            if deflated:
                offset, length, has_pixels = -1, -1, "Rows" in ds
        except (InvalidDicomError, EOFError, struct.error, ValueError, OSError) as err:
            raise ReadError(
                f"{member.name}: not a readable DICOM file ({err}); {_WAY_OUT}"
            ) from err
        if not has_pixels or "Rows" not in ds:
            _not_an_image(member, ds, fp, bool(has_pixels))
            return None
        ts = ds.file_meta.get("TransferSyntaxUID") or (
            pydicom.uid.ImplicitVRLittleEndian
            if ds.original_encoding[0]
            else pydicom.uid.ExplicitVRLittleEndian
        )
        if length >= 0 and offset + length > _member_size(member, fp):
            if UID(ts).is_compressed:  # pydicom reads these itself
                offset, length = -1, -1
            else:
                raise ReadError(
                    f"{member.name}: truncated file, pixel data need {length} bytes from offset "
                    f"{offset}; {_WAY_OUT}"
                )
    nframes = frame_count(member.name, ds.get("NumberOfFrames"))
    values = fast_values(ds)
    if has_pixels == "float":
        values["_float_pixels"] = 8 if ds.get("BitsAllocated") == 64 else 4
    return FileInfo(member, _transfer_syntax(member.name, ts), offset, length, nframes, values, ds)


def _not_an_image(member: Member, ds: Dataset, fp: Any, has_pixels: bool) -> None:
    """None for a complete non-image object; ReadError for a damaged image."""
    sop = ds.get("SOPClassUID")
    media = getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID")
    if has_pixels or "Rows" in ds or is_image_class(sop) or is_image_class(media):
        what = "Pixel Data but no Rows" if has_pixels else "no Pixel Data"
        raise ReadError(
            f"{member.name}: an image ({getattr(sop, 'name', sop)}) with {what}: truncated or "
            f"damaged; {_WAY_OUT}"
        )
    media = getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", sop)
    if not isinstance(sop, str) or not UID(sop).is_valid or media != sop:
        raise ReadError(
            f"{member.name}: SOPClassUID {str(sop)[:70]!r} is missing, not a UID or not the "
            f"MediaStorageSOPClassUID {str(media)[:70]!r}: truncated or damaged; {_WAY_OUT}"
        )
    at, size = fp.tell(), _member_size(member, fp)
    if at < size:
        raise ReadError(
            f"{member.name}: DICOM parsing stopped at byte {at} of {size} (damaged element "
            f"lengths); {_WAY_OUT}"
        )
    logger.debug("%s: no image (%s), skipped", member.name, getattr(sop, "name", sop))
    return None


def scan(
    members: Sequence[Member],
    skip_broken: bool = False,
    report: Reporter | None = None,
    pixel_data: bool = True,
    known: Mapping[str, FileInfo] | None = None,
) -> list[FileInfo]:
    """Read the headers of all members; skip non-DICOM files and non-image objects.

    `report` counts the members read (skipped ones too); `pixel_data` False skips the
    comparison of each header with its Pixel Data (see :func:`read_header`); `known`
    holds headers read before (by member name, see :meth:`ScannedHeader.bind`): those
    members are not read again.

    Raises
    ------
    ReadError
        For a broken file, unless `skip_broken` (then a warning names it).
    """
    out: list[FileInfo] = []
    for m in members:
        try:
            info = known.get(m.name) if known else None
            if info is None:
                info = read_header(m, pixel_data)
        except ReadError as err:
            if not skip_broken:
                raise
            warnings.warn(f"skipped broken file: {err}", stacklevel=4)
            info = None
        if info is not None:
            out.append(info)
        if report is not None:
            report.advance()
    if report is not None:
        report.finish()
    return out


_IPP_NUMBERS = numbers_key("ImagePositionPatient")
_SPACINGS = ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing")


def numbers_of(info: FileInfo, keyword: str, n: int) -> tuple[float, ...] | None:
    """:func:`floats` of a DS attribute of `info` as a tuple (None as there).

    The header pass decoded the geometry attributes to numbers
    (:func:`imagedata._fastscan.numbers_key`) when their text is plain decimal numbers;
    any other text is converted here by :func:`floats`, so the result is the same.
    """
    got = info.values.get(numbers_key(keyword))
    if got is None:
        vals = floats(info.get(keyword), n)
        return None if vals is None else tuple(vals.tolist())
    numbers: tuple[float, ...] = got[0]
    return numbers if len(numbers) == n else None


def position_resolution(info: FileInfo) -> float:
    """:func:`resolution_of` the file's ImagePositionPatient (from the header pass's numbers)."""
    got = info.values.get(_IPP_NUMBERS)
    if got is None:
        return resolution_of(info.get("ImagePositionPatient"))
    decimals: int = got[1]
    return max(1e-6, 10.0**-decimals) if decimals >= 0 else 1e-6


def single_image(info: FileInfo) -> Image:
    """The image of a single-frame file."""
    get = info.get
    ipp = numbers_of(info, "ImagePositionPatient", 3)
    iop_numbers = numbers_of(info, "ImageOrientationPatient", 6)
    pos = None if ipp is None else np.array(ipp)
    iop = None if iop_numbers is None else np.array(iop_numbers)
    extra: dict[str, Any] = {}
    if pos is None or iop is None:
        extra["_no_position"] = True
    if iop is None:
        extra["_default_iop"] = True
    spacing = spacing_or_none(info)
    if spacing is None:
        extra["_default_spacing"] = True
    return Image(
        file=info,
        frame=0,
        position=pos if pos is not None else np.zeros(3),
        iop=iop if iop is not None else np.array(AXIAL_IOP),
        spacing=spacing or (1.0, 1.0),
        rows=int(get("Rows")),
        cols=int(get("Columns")),
        slope=float(get("RescaleSlope", 1.0) or 1.0),
        intercept=float(get("RescaleIntercept", 0.0) or 0.0),
        extra=extra,
        resolution=position_resolution(info),
    )


def slice_normal_of(info: FileInfo, iop: npt.ArrayLike) -> FloatArray:
    """The slice normal of a file's ImageOrientationPatient (:func:`geometry.slice_normal`).

    Raises
    ------
    HeaderError
        If the orientation is not two (nearly) perpendicular axes, naming the file.
    """
    try:
        return geometry.slice_normal(iop)
    except GeometryError as err:
        raise HeaderError(f"{info.name}: ImageOrientationPatient: {err}") from err


def spacing_or_none(info: FileInfo | Dataset) -> tuple[float, float] | None:
    """(row, column) spacing from PixelSpacing, ImagerPixelSpacing, or None."""
    if isinstance(info, FileInfo):
        for kw in _SPACINGS:
            nums = numbers_of(info, kw, 2)
            if nums is not None and nums[0] > 0 and nums[1] > 0:  # finite
                return nums[0], nums[1]
        return None
    for kw in _SPACINGS:
        ps = floats(info.get(kw), 2)
        if ps is not None and ps[0] > 0 and ps[1] > 0:  # floats() are finite
            return float(ps[0]), float(ps[1])
    return None


def pixel_spacing_of(info: FileInfo | Dataset) -> tuple[float, float]:
    """(row, column) spacing from PixelSpacing, ImagerPixelSpacing, or (1, 1)."""
    return spacing_or_none(info) or (1.0, 1.0)


#: Geometry defaults marked in :attr:`Image.extra` and the warning that names them.
_DEFAULTS = (
    ("_default_spacing", "PixelSpacing is missing or unparsable; 1 x 1 mm pixels used"),
    (
        "_default_iop",
        "ImageOrientationPatient is missing or unparsable; axial (1, 0, 0, 0, 1, 0) used",
    ),
    ("_default_origin", "ImagePositionPatient is missing or unparsable; origin (0, 0, 0) used"),
)


def warn_defaults(images: Sequence[Image], stacklevel: int = 2) -> None:
    """One warning per geometry default used for `images`, naming the files."""
    notes = list(_DEFAULTS)
    unplaced = [img for img in images if img.extra.get("_no_position")]
    if unplaced:
        how = (
            "slices stacked 1 mm apart in InstanceNumber order"
            if len(unplaced) == len(images)
            else "position (0, 0, 0) used"
        )
        notes.append(("_no_position", f"ImagePositionPatient is missing or unparsable; {how}"))
    for key, text in notes:
        names = sorted({img.file.name for img in images if img.extra.get(key)})
        if names:
            more = f" and {len(names) - 1} other file(s)" if len(names) > 1 else ""
            warnings.warn(f"{names[0]}{more}: {text}", stacklevel=stacklevel + 1)


def _private_blocks(ds: Dataset) -> dict[tuple[int, str], int]:
    """{(group, CREATOR): block} of a dataset's private creators (cached on the dataset)."""
    cached: dict[tuple[int, str], int] | None = ds.__dict__.get("_imagedata_private")
    if cached is None:
        cached = {}
        for tag in ds.keys():  # noqa: SIM118 - tags only, no value conversion
            if tag.group & 1 and 0x10 <= tag.element <= 0xFF:
                value = ds[tag].value
                cached[(tag.group, str(value).strip().upper())] = tag.element
        ds.__dict__["_imagedata_private"] = cached
    return cached


def private_value(ds: Dataset, group: int, creator: str, element: int) -> Any:
    """Value of private element `element` (low byte) in `creator`'s block of `group`, or None.

    Examples
    --------
    >>> ds = Dataset()
    >>> block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    >>> block.add_new(0x0C, "IS", 800)
    >>> int(private_value(ds, 0x0019, "SIEMENS MR HEADER", 0x0C))
    800
    """
    block = _private_blocks(ds).get((group, creator.upper()))
    if block is None:
        return None
    e = ds.get((group, (block << 8) | element))
    return None if e is None else e.value
