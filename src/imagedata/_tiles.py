"""What a rendered montage writes beside its tiles, and the PNG of ``show()`` without a display.

Every tile of :func:`imagedata.viewer.render` gets its four orientation letters and,
below it, the slice number and the slice location (``"slice 12, -34.5 mm"``).  The letters
sit against their own tile (their near edge :data:`PAD` pixels from it) and the gap
between tiles is wide enough for both neighbours' letters plus :data:`SEPARATION`
pixels, so a letter never runs into the next tile's letters or image.  Under a
tile, from top to bottom: its bottom letter, its slice text, free space, the next
row's top letter.

:func:`headless_png` is what ``si.show()`` does where no window can open: it renders
the montage to a PNG file and warns with its path.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Pixels between a tile's edge and the near edge of its letters and slice text.
PAD = 3
#: Least pixels between the texts of two neighbouring tiles.
SEPARATION = 12
#: Width of a character relative to the font size in pixels (DejaVu Sans, bold caps).
_CHAR_WIDTH = 0.75
#: Height of a line relative to the font size in pixels.
_LINE_HEIGHT = 1.3


def _px(font_pt: float) -> float:
    """Font size in pixels at 100 dpi."""
    return font_pt * 100.0 / 72.0


def gap_for(font_pt: float, longest: int, slice_texts: bool) -> int:
    """Pixels between tiles for letters of `longest` characters (and slice texts).

    Examples
    --------
    >>> gap_for(8.25, 1, True) >= gap_for(8.25, 1, False)
    True
    """
    size = _px(font_pt)
    across = 2 * (PAD + math.ceil(_CHAR_WIDTH * size * longest)) + SEPARATION
    lines = 3 if slice_texts else 2
    down = 2 * PAD + lines * math.ceil(_LINE_HEIGHT * size) + SEPARATION
    return int(max(across, down))


def label_spots(
    origin: tuple[int, int], tile: tuple[int, int], font_pt: float
) -> dict[str, tuple[float, float, str, str]]:
    """(x, y, horizontal alignment, vertical alignment) of each edge letter of a tile."""
    r0, c0 = origin
    th, tw = tile
    return {
        "left": (c0 - PAD, r0 + th / 2.0, "right", "center"),
        "right": (c0 + tw + PAD, r0 + th / 2.0, "left", "center"),
        "top": (c0 + tw / 2.0, r0 - PAD, "center", "bottom"),
        "bottom": (c0 + tw / 2.0, r0 + th + PAD, "center", "top"),
    }


def slice_texts(si: Any, slices: Sequence[int]) -> list[str]:
    """``"slice k, location mm"`` for each slice index (``"k"`` for an array without geometry).

    Examples
    --------
    >>> slice_texts(np.zeros((2, 3, 3)), [0, 1])
    ['0', '1']
    """
    header = getattr(si, "_header", None)
    if header is None or header.axis_index("slice") is None:
        return [str(k) for k in slices]
    locations = header.slice_locations()
    return [f"slice {k}, {float(locations[k]):.1f} mm" for k in slices]


def draw_slice_texts(
    fig: Any,
    layout: Any,
    size: tuple[int, int],
    font_pt: float,
    texts: Sequence[str],
) -> list[Any]:
    """Draw `texts` under the tiles of `layout` (below the bottom letter); return the artists."""
    height, width = size
    th, tw = layout.tile_shape
    below = PAD + math.ceil(_LINE_HEIGHT * _px(font_pt))  # under the bottom letter
    artists = []
    for i, text in enumerate(texts):
        r0, c0 = layout.origin(i)
        artists.append(
            fig.text(
                (c0 + tw / 2.0) / width,
                1.0 - (r0 + th + below) / height,
                text,
                color="white",
                fontsize=font_pt,
                ha="center",
                va="top",
                family="DejaVu Sans",
            )
        )
    return artists


def pixel_box(artist: Any, height: int) -> tuple[float, float, float, float]:
    """(top, left, bottom, right) PNG pixels of a drawn text artist."""
    box = artist.get_window_extent()
    return (height - box.y1, box.x0, height - box.y0, box.x1)


def temporary_png(prefix: str) -> str:
    """The name of a new empty ``.png`` file in the temporary folder."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".png")
    os.close(fd)
    return name


def headless_png(
    render: Callable[..., Any], series: Sequence[Any], options: dict[str, Any]
) -> Path:
    """Render the first of `series` with `render` (:func:`imagedata.viewer.render`) to a
    PNG and warn where it went (what ``show()`` does without a display).

    `options` are the viewer's: ``window``, ``colormap``, ``tag`` are used, and ``png``
    (a path) chooses the file; default a new file ``imagedata-show-*.png`` in the
    temporary folder.

    Raises
    ------
    MissingDependencyError
        Without matplotlib.
    """
    si = series[0]
    path = options.get("png")
    if path is None:
        path = temporary_png("imagedata-show-")
    tag = options.get("tag") if np.ndim(si) > 3 else None
    render(
        si,
        Path(path),
        window=options.get("window"),
        colormap=options.get("colormap", "gray"),
        tag=tag,
    )
    more = f" (the first of {len(series)} series)" if len(series) > 1 else ""
    warnings.warn(
        f"no display: the montage{more} was written to {path}; open it, or in Jupyter use "
        "%matplotlib inline (or display the series) to see it inline",
        stacklevel=4,
    )
    logger.info("show() without a display: montage written to %s", path)
    return Path(path)
