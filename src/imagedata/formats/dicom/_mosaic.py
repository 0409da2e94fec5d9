"""Siemens mosaic: one file holding all slices of a volume as tiles of one image.

A file is a mosaic only when it says how many images it holds: CSA image header
``NumberOfImagesInMosaic`` or the private (0019,xx0A) tag; ImageType MOSAIC alone is
not trusted.  ImagePositionPatient of a mosaic is the corner of the whole mosaic; the
first slice's position is corrected for the tile offset, and slice k lies
k * SpacingBetweenSlices along the CSA ``SliceNormalVector``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from imagedata.formats.dicom._csa import csa_value, scan_items
from imagedata.formats.dicom._scan import (
    FileInfo,
    Image,
    as_list,
    floats,
    numbers_of,
    pixel_spacing_of,
    position_resolution,
    slice_normal_of,
)

logger = logging.getLogger(__name__)


def mosaic_tiles(info: FileInfo) -> int:
    """Number of images in a Siemens mosaic; 0 when `info` is not a mosaic."""
    image_type = [str(v).strip().upper() for v in as_list(info.get("ImageType"))]
    if "MOSAIC" not in image_type:
        return 0
    n = info.private(0x0019, "SIEMENS MR HEADER", 0x0A)
    if n is None:
        n = csa_value(scan_items(info), "NumberOfImagesInMosaic")
    try:
        count = int(n[0] if isinstance(n, (list, tuple, bytes)) and not isinstance(n, bytes) else n)
    except (TypeError, ValueError):
        logger.warning(
            "ImageType says MOSAIC but the number of images is unknown; read as one image"
        )
        return 0
    return count if count > 1 else 0


def _number(info: FileInfo, keyword: str) -> float:
    """A DS attribute as a float (0.0 when absent or empty, as pydicom's value would be)."""
    value = info.get(keyword)
    return float(value) if value not in (None, "") else 0.0


def tiles_of(info: FileInfo, ntiles: int) -> list[Image]:
    """The slices of a mosaic file, positioned in patient space.

    The values come from the header pass, the CSA image header's too where it kept them
    (else the file's dataset is read for them: :func:`._csa.scan_items`).
    """
    side = math.ceil(math.sqrt(ntiles))
    all_rows, all_cols = int(info.get("Rows")), int(info.get("Columns"))
    rows, cols = all_rows // side, all_cols // side
    ipp = numbers_of(info, "ImagePositionPatient", 3)
    iop_numbers = numbers_of(info, "ImageOrientationPatient", 6)
    if ipp is None or iop_numbers is None:
        from imagedata.errors import HeaderError

        raise HeaderError(
            f"{info.name}: mosaic without ImagePositionPatient/ImageOrientationPatient"
        )
    pos, iop = np.array(ipp), np.array(iop_numbers)
    dr, dc = pixel_spacing_of(info)
    x, y = iop[:3], iop[3:]
    # IPP is the centre of the mosaic's first pixel: move to the first tile's first pixel
    first = pos + y * dr * (all_rows - rows) / 2.0 + x * dc * (all_cols - cols) / 2.0
    csa = scan_items(info)
    normal = floats(csa.get("SliceNormalVector"), 3)
    if normal is None:
        normal = slice_normal_of(info, iop)
    step = _number(info, "SpacingBetweenSlices") or _number(info, "SliceThickness") or 1.0
    extra: dict[str, Any] = {}
    b = csa_value(csa, "B_value")
    if b is not None:
        extra["_csa_b"] = float(b)
    g = floats(csa.get("DiffusionGradientDirection"), 3)
    if g is not None:
        extra["_csa_g"] = g
    slope = _number(info, "RescaleSlope") or 1.0
    intercept = _number(info, "RescaleIntercept")
    resolution = position_resolution(info)
    # first + (k * step) * normal for every k at once (the same operations, the same bits)
    positions = first + (np.arange(ntiles) * float(step))[:, None] * normal
    spacing = (dr, dc)
    # positional arguments in Image's field order (twice as fast as keywords); each tile
    # its own row of `positions` and its own `extra` (per-image values are cached there)
    return [
        Image(
            info,
            0,
            position,
            iop,
            spacing,
            rows,
            cols,
            slope,
            intercept,
            k,
            dict(extra),
            resolution,
        )
        for k, position in enumerate(positions)
    ]


def tile(frame: np.ndarray, k: int, rows: int, cols: int) -> np.ndarray:
    """Tile `k` of a mosaic frame (row-major tiles of rows x cols)."""
    side = frame.shape[1] // cols
    r, c = divmod(k, side)
    return frame[r * rows : (r + 1) * rows, c * cols : (c + 1) * cols]
