"""Sanity checks of a file's pixel description, made in the header pass.

Before anything is allocated, the image size the header claims (Rows x Columns x
frames x samples x bits) is compared with the Pixel Data the file holds: its length
for native data, its fragment count for encapsulated data.  A header that lies (a
damaged or hostile file) is a :class:`~imagedata.errors.ReadError` naming the file,
the attribute and its value, never a huge allocation or a hang.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import IO, Any

from imagedata.errors import ReadError

_WAY_OUT = "remove it or read with skip_broken=True"
_ITEM, _SEQ_END = 0xFFFEE000, 0xFFFEE0DD
_BITS = (1, 8, 16, 32, 64)


def _as_int(name: str, keyword: str, value: Any, default: int | None = None) -> int:
    if type(value) is int:  # decoded by the header pass: nothing to check
        return value
    if value is None or value == "":
        if default is None:
            raise ReadError(f"{name}: {keyword} is missing; {_WAY_OUT}")
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as err:
        raise ReadError(f"{name}: {keyword} {value!r} is not a number; {_WAY_OUT}") from err


def pixel_description(name: str, get: Callable[[str], Any]) -> tuple[int, int, int, int]:
    """(rows, columns, samples, bits allocated), each checked for a valid value.

    Raises
    ------
    ReadError
        If Rows or Columns is missing or not positive, BitsAllocated is not 1, 8, 16,
        32 or 64, BitsStored exceeds it, PixelRepresentation is not 0 or 1, or
        SamplesPerPixel is not 1 or 3.

    Examples
    --------
    >>> pixel_description("x.dcm", {"Rows": 4, "Columns": 5, "BitsAllocated": 16}.get)
    (4, 5, 1, 16)
    """
    rows = _as_int(name, "Rows", get("Rows"))
    cols = _as_int(name, "Columns", get("Columns"))
    if rows <= 0 or cols <= 0:
        raise ReadError(f"{name}: Rows x Columns {rows} x {cols} is not an image size; {_WAY_OUT}")
    bits = _as_int(name, "BitsAllocated", get("BitsAllocated"), 16)
    if bits not in _BITS:
        raise ReadError(f"{name}: BitsAllocated {bits} is not one of {_BITS}; {_WAY_OUT}")
    stored = _as_int(name, "BitsStored", get("BitsStored"), bits)
    if not 1 <= stored <= bits:
        raise ReadError(
            f"{name}: BitsStored {stored} does not fit BitsAllocated {bits}; {_WAY_OUT}"
        )
    rep = _as_int(name, "PixelRepresentation", get("PixelRepresentation"), 0)
    if rep not in (0, 1):
        raise ReadError(
            f"{name}: PixelRepresentation {rep} is invalid (0 unsigned, 1 signed); {_WAY_OUT}"
        )
    samples = _as_int(name, "SamplesPerPixel", get("SamplesPerPixel"), 1)
    if samples not in (1, 3):
        raise ReadError(f"{name}: SamplesPerPixel {samples} is not supported (1 or 3); {_WAY_OUT}")
    return rows, cols, samples, bits


def frame_count(name: str, value: Any) -> int:
    """NumberOfFrames as a positive int (1 when absent).

    Raises
    ------
    ReadError
        If the value is zero, negative or not a number.
    """
    n = _as_int(name, "NumberOfFrames", value, 1)
    if n < 1:
        raise ReadError(f"{name}: NumberOfFrames {n} is not a frame count; {_WAY_OUT}")
    return n


def native_bytes(rows: int, cols: int, samples: int, bits: int, frames: int) -> int:
    """Bytes of native (uncompressed) pixel data the description needs."""
    n = rows * cols * samples * frames
    return (n + 7) // 8 if bits == 1 else n * (bits // 8)


def check_native(name: str, need: int, length: int, frames: int) -> None:
    """Raise ReadError when native Pixel Data of `length` bytes is shorter than `need`."""
    if length < need:
        raise ReadError(
            f"{name}: Pixel Data holds {length} bytes but Rows x Columns x samples x bits x "
            f"{frames} frame(s) need {need}; the header or the file is damaged; {_WAY_OUT}"
        )


def count_fragments(fp: IO[bytes], offset: int) -> int:
    """Fragments of the encapsulated Pixel Data whose items start at `offset`.

    The Basic Offset Table item is not counted.  Returns -1 when the data end before
    the sequence delimiter (truncated) or hold something other than items.
    """
    fp.seek(offset)
    items = 0
    while True:
        head = fp.read(8)
        if len(head) < 8:
            return -1
        group, elem, length = struct.unpack("<HHI", head)
        tag = group << 16 | elem
        if tag == _SEQ_END:
            break
        if tag != _ITEM or length == 0xFFFFFFFF:
            return -1
        items += 1
        fp.seek(length, 1)
    return max(0, items - 1)


def check_encapsulated(name: str, fp: IO[bytes], offset: int, frames: int) -> None:
    """Raise ReadError when encapsulated Pixel Data hold fewer fragments than frames.

    Every frame is at least one fragment, so `frames` larger than the fragment count
    is a lying header; a missing sequence delimiter is a truncated file.
    """
    found = count_fragments(fp, offset)
    if found < 0:
        raise ReadError(
            f"{name}: truncated file, the encapsulated Pixel Data end before their "
            f"sequence delimiter; {_WAY_OUT}"
        )
    if found < frames:
        raise ReadError(
            f"{name}: NumberOfFrames {frames} but the encapsulated Pixel Data hold "
            f"{found} fragment(s); the header or the file is damaged; {_WAY_OUT}"
        )
