"""Image sizes checked against the bytes a file holds, before any allocation.

A damaged or hostile header (NIfTI ``dim``, MetaImage ``DimSize``, NRRD ``sizes``) can
claim an image of terabytes.  :func:`check_size` compares the claim with the bytes
available (times the largest ratio a compressed encoding reaches) and raises a
:class:`~imagedata.errors.ReadError` naming the file instead of allocating.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from imagedata.errors import ReadError

#: Largest decompressed / compressed size ratio of deflate (gzip, zlib): about 1032.
DEFLATE_RATIO = 1100
#: bzip2 reaches far higher ratios on runs of one value; used for bz2/zstd encodings.
ANY_CODEC_RATIO = 1 << 20


def check_size(
    name: str,
    shape: Sequence[int],
    itemsize: int,
    available: int,
    ratio: int = 1,
) -> None:
    """Raise ReadError when `shape` x `itemsize` bytes cannot come from `available` bytes.

    Parameters
    ----------
    name
        The file, for the message.
    shape
        Dimensions the header claims.
    itemsize
        Bytes per voxel (all components).
    available
        Bytes of image data in the file (file size less header).
    ratio
        Largest expansion of the file's encoding (1 for raw data).

    Raises
    ------
    ReadError
        If a dimension is not positive or the image needs more bytes than possible.

    Examples
    --------
    >>> check_size("a.nii", (4, 5, 6), 2, 240)
    >>> try:
    ...     check_size("a.nii", (32767, 32767, 32767), 2, 240)
    ... except ReadError as err:
    ...     print(str(err)[:46])
    a.nii: dimensions (32767, 32767, 32767) x 2 by
    """
    dims = tuple(int(n) for n in shape)
    if any(n <= 0 for n in dims):
        raise ReadError(f"{name}: dimensions {dims} are not an image size; the header is damaged")
    need = math.prod(dims) * int(itemsize)
    if need > max(0, available) * ratio:
        how = "" if ratio == 1 else f" (at most {ratio}x expanded)"
        raise ReadError(
            f"{name}: dimensions {dims} x {itemsize} bytes need {need} bytes but the file holds "
            f"{available}{how}; the header is damaged or the file truncated"
        )
