"""JPEG 2000, JPEG-LS, lossless JPEG and RLE frames decoded without the GIL, into the array.

pydicom's decoders (pylibjpeg-openjpeg, pyjpegls, pylibjpeg-libjpeg) hold the GIL, so
a thread pool decodes on one core.  imagecodecs (OpenJPEG, CharLS and its lossless
JPEG decoder, the ``[jpeg]`` extra) releases it: the reader's threads then decode on
every core (RLE Lossless: imagecodecs' DICOM RLE decoder, without the read of the
whole file that pydicom's decoding needs; lossless JPEG: libjpeg-turbo, twice as fast as
imagecodecs' ljpeg, which decodes what libjpeg-turbo refuses).  This module takes the
encapsulated frames of a file (pydicom's :func:`~pydicom.encaps.generate_frames`),
decodes each one into its slot of the final array when the stored type allows (else
into a small array converted as pydicom would: the stored bits reinterpreted with
PixelRepresentation, sign-extended from BitsStored) and returns False for anything it
does not handle (colour, palette, another transfer syntax, no imagecodecs), which the
caller then decodes with pydicom.
"""

from __future__ import annotations

import importlib
import logging
import warnings
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.encaps import generate_frames

from imagedata.errors import ReadError
from imagedata.formats.dicom._scan import FileInfo, Image

logger = logging.getLogger(__name__)

#: Transfer syntax UID -> imagecodecs function name.
CODECS = {
    "1.2.840.10008.1.2.4.90": "jpeg2k_decode",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": "jpeg2k_decode",  # JPEG 2000
    "1.2.840.10008.1.2.4.80": "jpegls_decode",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": "jpegls_decode",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.57": "ljpeg_decode",  # JPEG lossless (process 14)
    "1.2.840.10008.1.2.4.70": "ljpeg_decode",  # JPEG lossless, first-order prediction
    "1.2.840.10008.1.2.5": "dicomrle_decode",  # RLE Lossless
}
#: Type of a monochrome RLE frame's samples by its segment count (one per byte).
_RLE_TYPES: dict[int, np.dtype[Any]] = {1: np.dtype("u1"), 2: np.dtype("<u2")}

Slot = tuple[int, Image, float, float]


@cache
def _decoder(name: str) -> Callable[..., npt.NDArray[Any]] | None:
    """imagecodecs' decoder `name`, or None when imagecodecs (or the codec) is missing.

    The decoder takes ``(data, out=None, threads=1)``; only OpenJPEG (JPEG 2000) uses
    `threads`, its decoding does not depend on them.
    """
    try:
        ic = importlib.import_module("imagecodecs")
    except ImportError:
        logger.debug("imagecodecs not installed: compressed frames decode on one core")
        return None
    fn = getattr(ic, name, None)
    if fn is None or not getattr(ic, name.split("_")[0].upper()).available:
        return None
    if name == "jpeg2k_decode":
        return lambda data, out=None, threads=1, size=0: fn(data, numthreads=threads, out=out)
    if name == "dicomrle_decode":
        return lambda data, out=None, threads=1, size=0: _rle(fn, data, out, size)
    if name == "ljpeg_decode" and ic.JPEG8.available:
        turbo = ic.jpeg8_decode
        return lambda data, out=None, threads=1, size=0: _ljpeg(turbo, fn, data, out)
    return lambda data, out=None, threads=1, size=0: fn(data, out=out)


def _ljpeg(
    turbo: Callable[..., npt.NDArray[Any]],
    fallback: Callable[..., npt.NDArray[Any]],
    data: bytes,
    out: npt.NDArray[Any] | None,
) -> npt.NDArray[Any]:
    """A lossless JPEG frame by libjpeg-turbo (twice as fast), else by imagecodecs' ljpeg.

    libjpeg-turbo (3.0 and later) decodes every predictor and precision of process 14;
    ljpeg gets the frames it refuses (older builds without lossless support, odd streams),
    and its own error is the one raised.
    """
    try:
        return turbo(data, out=out)
    except RuntimeError:  # imagecodecs' Jpeg8Error; a wrong `out` is a ValueError/TypeError
        return fallback(data, out=out)


def _rle(
    fn: Callable[..., bytes], data: bytes, out: npt.NDArray[Any] | None, size: int
) -> npt.NDArray[Any]:
    """A monochrome RLE frame (PS3.5 G: one segment per byte of a sample) as unsigned samples.

    Raises
    ------
    ValueError
        When the segment count is not the `size` of a stored sample in bytes (1 or 2).
    TypeError
        When `out` has another item size (the caller then decodes into a new array).
    """
    segments = int.from_bytes(data[:4], "little")
    dtype = _RLE_TYPES.get(segments)
    if dtype is None or segments != size:
        raise ValueError(
            f"an RLE frame of {segments} segments for {size}-byte samples (BitsAllocated)"
        )
    if out is not None and out.dtype.itemsize != dtype.itemsize:
        raise TypeError("RLE samples of another size")
    arr = np.frombuffer(fn(data, dtype), dtype)
    if out is None:
        return arr
    out.reshape(-1).view(dtype)[...] = arr  # ValueError when the sizes differ
    return out


def handles(info: FileInfo) -> bool:
    """True when :func:`decode_into` decodes this file."""
    if str(info.transfer_syntax) not in CODECS or info.offset < 0:
        return False
    if int(info.get("SamplesPerPixel", 1) or 1) != 1:
        return False
    if str(info.get("PhotometricInterpretation", "")).strip() not in ("MONOCHROME1", "MONOCHROME2"):
        return False
    if int(info.get("BitsAllocated", 16)) not in (8, 16):
        return False
    return _decoder(CODECS[str(info.transfer_syntax)]) is not None


def _stored(info: FileInfo) -> np.dtype[Any]:
    ba = int(info.get("BitsAllocated", 16))
    signed = int(info.get("PixelRepresentation", 0) or 0) == 1
    return np.dtype(f"<{'i' if signed else 'u'}{ba // 8}")


def _fix_bits_inplace(a: npt.NDArray[Any], info: FileInfo) -> None:
    """Sign-extend (signed) or mask (unsigned) the values above BitsStored, in place."""
    ba = int(info.get("BitsAllocated", 16))
    bs = int(info.get("BitsStored", ba) or ba)
    if bs >= ba:
        return
    if a.dtype.kind == "i":
        np.left_shift(a, ba - bs, out=a)
        np.right_shift(a, ba - bs, out=a)
    else:
        np.bitwise_and(a, (1 << bs) - 1, out=a)


def _as_stored(a: npt.NDArray[Any], stored: np.dtype[Any]) -> npt.NDArray[Any]:
    """The decoded frame as the stored type: same bits when the sizes agree."""
    if a.dtype == stored:
        return a
    if a.dtype.itemsize == stored.itemsize:
        return a.view(stored)
    return a.astype(stored)


def decode_into(
    info: FileInfo,
    slots: list[Slot],
    flat: npt.NDArray[Any],
    store: Callable[[npt.NDArray[Any], npt.NDArray[Any], float, float], None],
    threads: int = 1,
) -> bool:
    """Decode the frames of `info` into `flat`; False when this module does not handle it.

    `threads` is how many threads a codec that can share out one frame (OpenJPEG) may
    use: 1 when the reader's threads decode several files at once.
    """
    if not handles(info):
        return False
    codec = _decoder(CODECS[str(info.transfer_syntax)])
    assert codec is not None

    size = _stored(info).itemsize

    def decode(frame: bytes, out: npt.NDArray[Any] | None = None) -> npt.NDArray[Any]:
        return codec(frame, out=out, threads=threads, size=size)

    with info.member.fileobj() as f:
        f.seek(info.offset)
        data = f.read()
    try:
        frames = list(generate_frames(data, number_of_frames=info.nframes))
        _warn_unended(info, frames)
        _decode_all(info, frames, slots, flat, store, decode)
    except (RuntimeError, ValueError, IndexError) as err:
        raise ReadError(
            f"{info.name}: cannot decode pixel data ({info.transfer_syntax.name}): {err}"
        ) from err
    return True


#: The marker that ends a JPEG, JPEG-LS (EOI) or JPEG 2000 (EOC) codestream.
_END_MARKER = b"\xff\xd9"


def _warn_unended(info: FileInfo, frames: list[bytes]) -> None:
    """Warn about frames that do not end with their end marker (cut short, most likely).

    The decoders give values for such a frame without an error (the part that was never
    stored comes out as whatever the decoder fills in), so the file is named here.  The
    frame's padding to an even length (a NUL byte, or 0xFF fill) may follow the marker.
    """
    if not str(info.transfer_syntax).startswith("1.2.840.10008.1.2.4."):
        return  # RLE (1.2.840.10008.1.2.5) has no end marker
    bad = [i for i, f in enumerate(frames) if not f.rstrip(b"\0\xff").endswith(_END_MARKER)]
    if bad:
        shown = ", ".join(str(i) for i in bad[:5]) + (" ..." if len(bad) > 5 else "")
        warnings.warn(
            f"{info.name}: {len(bad)} compressed frame(s) ({shown}) do not end with the "
            f"codestream's end marker FFD9: the file was probably cut short when it was "
            f"written, and their pixel values may be incomplete; check the source",
            stacklevel=6,
        )


def _decode_all(
    info: FileInfo,
    frames: list[bytes],
    slots: list[Slot],
    flat: npt.NDArray[Any],
    store: Callable[[npt.NDArray[Any], npt.NDArray[Any], float, float], None],
    decode: Callable[..., npt.NDArray[Any]],
) -> None:
    stored = _stored(info)
    shape = (int(info.get("Rows")), int(info.get("Columns")))
    decoded: dict[int, npt.NDArray[Any]] = {}  # a mosaic frame is decoded once for its tiles
    for slot, img, slope, intercept in slots:
        dst = flat[slot]
        frame = frames[img.frame]
        direct = img.tile < 0 and slope == 1.0 and intercept == 0.0 and dst.dtype == stored
        if direct and _decode_in_place(decode, frame, dst, shape):
            _fix_bits_inplace(dst, info)
            continue
        arr = decoded.get(img.frame)
        if arr is None:
            arr = _as_stored(np.asarray(decode(frame)), stored).reshape(shape).copy()
            _fix_bits_inplace(arr, info)
            if img.tile >= 0:
                decoded[img.frame] = arr
        if img.tile >= 0:
            from imagedata.formats.dicom._mosaic import tile

            arr = tile(arr, img.tile, img.rows, img.cols)
        store(dst, arr, slope, intercept)


def _decode_in_place(
    decode: Callable[..., npt.NDArray[Any]],
    frame: bytes,
    dst: npt.NDArray[Any],
    shape: tuple[int, int],
) -> bool:
    """Decode into `dst` (or its same-size unsigned view); False when the codec's type differs."""
    if dst.shape != shape or not dst.flags.c_contiguous:
        return False
    for target in (dst, dst.view(np.dtype(f"<u{dst.dtype.itemsize}"))):
        try:
            decode(frame, out=target)
            return True
        except (ValueError, TypeError):
            continue
    return False
