"""Look at a Series: RGB conversion, montages, PNG rendering and an interactive viewer.

:func:`to_rgb` and :func:`montage` are plain numpy (matplotlib only for colour maps
other than grey).  :func:`render` writes a PNG montage with orientation labels and a
caption without a display (matplotlib's Agg canvas, no pyplot, no global state).
:func:`show` opens an interactive matplotlib window (or a Jupyter figure) that scrolls
through slices and tags, windows by mouse drag and reports the value under the cursor.

matplotlib is an optional dependency (``pip install 'imagedata[viewer]'``); it is
imported only inside the functions that need it.

Examples
--------
>>> import numpy as np
>>> from imagedata.series import Series
>>> si = Series(np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4))
>>> to_rgb(si, window=(11.5, 23)).shape
(2, 3, 4, 3)
>>> montage(si, window=(11.5, 23), gap=1).shape
(5, 11, 3)
>>> orientation_labels(si.affine)
{'left': 'R', 'right': 'L', 'top': 'A', 'bottom': 'P'}
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from imagedata import _tiles, geometry
from imagedata._display import (
    LABEL_COLOUR,
    _attr,
    _check_window,
    _colour,
    auto_window,
    direction_letters,
    is_inverted,
    is_rgb,
    normalise,
    orientation_labels,
    tag_text,
    volume,
)
from imagedata._viewer_window import Viewer, is_headless
from imagedata._viewer_window import show as _show_window

logger = logging.getLogger(__name__)

Box = tuple[float, float, float, float]

# --- windows and colour ------------------------------------------------------------------


def to_rgb(
    si: npt.ArrayLike,
    *,
    colormap: str = "gray",
    window: Sequence[float] | None = None,
    invert: bool | None = None,
) -> np.ndarray:
    """Return the data as RGB uint8, shape ``si.shape + (3,)``.

    Parameters
    ----------
    si
        A Series or array.
    colormap
        ``"gray"`` (no matplotlib needed) or any matplotlib colour map name.
    window
        (center, width); default :func:`auto_window` over the whole array.
    invert
        Map high values dark; default: for MONOCHROME1 series (see :func:`is_inverted`).

    Raises
    ------
    ValueError
        For an unknown colour map or an invalid window.
    """
    if is_rgb(si):
        return _colour(np.asarray(si), window)
    win = auto_window(si) if window is None else _check_window(window)
    norm = normalise(si, win)
    if is_inverted(si) if invert is None else invert:
        norm = 1.0 - norm
    if colormap in ("gray", "grey"):
        grey = np.round(norm * 255.0).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    cmap = _colormap(colormap)
    return np.asarray(cmap(norm, bytes=True))[..., :3].copy()


def _colormap(name: str) -> Any:
    from imagedata._optional import import_optional

    mpl = import_optional("matplotlib", "viewer", f"use the colour map {name!r}")
    try:
        return mpl.colormaps[name]
    except KeyError as err:
        raise ValueError(
            f"unknown colour map {name!r}; use 'gray' or a matplotlib name such as 'viridis'"
        ) from err


# --- montage ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where each slice of a montage goes.

    ``slices[i]`` is drawn in tile ``i`` whose top-left pixel is :meth:`origin`;
    tiles are ``tile_shape`` pixels, ``gap`` pixels apart and around the border.
    """

    slices: tuple[int, ...]
    columns: int
    rows: int
    tile_shape: tuple[int, int]
    gap: int

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the montage in pixels."""
        th, tw = self.tile_shape
        return self.rows * th + (self.rows + 1) * self.gap, self.columns * tw + (
            self.columns + 1
        ) * self.gap

    def origin(self, i: int) -> tuple[int, int]:
        """(row, column) pixel of the top-left corner of tile `i`."""
        th, tw = self.tile_shape
        r, c = divmod(i, self.columns)
        return self.gap + r * (th + self.gap), self.gap + c * (tw + self.gap)


def pick_slices(
    nslices: int, slices: Sequence[int] | None = None, max_tiles: int = 48
) -> tuple[int, ...]:
    """The slices a montage shows: `slices` (checked), or all, or `max_tiles` evenly spaced.

    Examples
    --------
    >>> pick_slices(100, max_tiles=5)
    (0, 25, 50, 74, 99)
    """
    if slices is not None:
        out = []
        for k in slices:
            if not -nslices <= int(k) < nslices:
                raise IndexError(
                    f"slice {k} is out of range: the series has {nslices} slices (0..{nslices - 1})"
                )
            out.append(int(k) % nslices)
        return tuple(out)
    if nslices <= max_tiles:
        return tuple(range(nslices))
    return tuple(round(float(v)) for v in np.linspace(0, nslices - 1, max_tiles))


def layout(
    shape: tuple[int, int, int],
    *,
    slices: Sequence[int] | None = None,
    columns: int | None = None,
    gap: int = 2,
    max_tiles: int = 48,
) -> Layout:
    """The :class:`Layout` of a montage of a (slice, row, column) volume."""
    chosen = pick_slices(shape[0], slices, max_tiles)
    n = max(1, len(chosen))
    cols = columns or (n if n <= 4 else math.ceil(math.sqrt(n)))
    cols = min(cols, n)
    return Layout(chosen, cols, math.ceil(n / cols), (shape[1], shape[2]), int(gap))


def montage(
    si: Any,
    *,
    slices: Sequence[int] | None = None,
    tag: int | Sequence[int] | None = None,
    columns: int | None = None,
    window: Sequence[float] | None = None,
    colormap: str = "gray",
    gap: int = 2,
    max_tiles: int = 48,
) -> np.ndarray:
    """Return slices of `si` tiled into one RGB uint8 image, row by row.

    Parameters
    ----------
    si
        A Series or array (2-D to N-D; tag axes are indexed with `tag`).
    slices
        Which slices, in tile order; default all (at most `max_tiles`, evenly spaced).
    tag
        Index on the tag axis (or one per tag axis); default 0.
    columns
        Tiles per row; default one row for up to 4 tiles, else about the square root
        of the number of tiles.
    window
        (center, width); default :func:`auto_window` over the chosen volume.
    colormap
        ``"gray"`` or a matplotlib colour map name.
    gap
        Black pixels between tiles and around the border.
    max_tiles
        Most tiles when `slices` is not given.
    """
    vol = np.asarray(volume(si, tag))
    lay = layout(vol.shape[:3], slices=slices, columns=columns, gap=gap, max_tiles=max_tiles)
    out = np.zeros((*lay.shape, 3), dtype=np.uint8)
    th, tw = lay.tile_shape
    chosen = vol[list(lay.slices)]
    if is_rgb(si):
        tiles = _colour(chosen, window)
    else:
        win = auto_window(chosen) if window is None else _check_window(window)
        tiles = to_rgb(chosen, colormap=colormap, window=win, invert=is_inverted(si))
    for i in range(len(lay.slices)):
        r0, c0 = lay.origin(i)
        out[r0 : r0 + th, c0 : c0 + tw] = tiles[i]
    return out


# --- orientation labels and caption ------------------------------------------------------


def caption(si: Any, tag: int | None = None) -> str:
    """One line naming the patient, the series, the spacing and the orientation."""
    parts = []
    name, pid = _attr(si, "PatientName").replace("^", " ").strip(), _attr(si, "PatientID").strip()
    if name or pid:
        parts.append(f"{name} ({pid})" if name and pid else name or pid)
    series = " ".join(p for p in (_attr(si, "SeriesNumber"), _attr(si, "SeriesDescription")) if p)
    if series:
        parts.append(f"series {series}")
    if getattr(si, "_header", None) is not None:
        ds, dr, dc = (float(v) for v in si.spacing)
        parts.append(f"spacing {ds:g} x {dr:g} x {dc:g} mm")
        parts.append(geometry.orientation_name(si.affine))
        if si.ndim > 3 + int(is_rgb(si)):
            parts.append(tag_text(si, tag or 0))
    return "  |  ".join(parts)


def wrap_caption(text: str, width: int) -> list[str]:
    """Split a caption at its ``  |  `` separators into lines of at most `width` characters.

    Examples
    --------
    >>> wrap_caption("Doe Jane (P1)  |  series 3 T1  |  axial", 25)
    ['Doe Jane (P1)', 'series 3 T1  |  axial']
    """
    lines: list[str] = []
    for part in text.split("  |  "):
        if lines and len(lines[-1]) + 5 + len(part) <= width:
            lines[-1] += "  |  " + part
        else:
            lines.append(part)
    return lines or [""]


# --- PNG rendering -----------------------------------------------------------------------


@dataclass
class Rendered:
    """What :func:`render` drew, in PNG pixel coordinates (row 0 at the top)."""

    path: Path
    size: tuple[int, int]
    image_origin: tuple[int, int]
    scale: tuple[int, int]
    layout: Layout
    labels: list[tuple[int, str, str, tuple[float, float, float, float]]] = field(
        default_factory=list
    )
    caption: str = ""
    #: (tile, "slice k, location mm", box) under each tile.
    slice_texts: list[tuple[int, str, tuple[float, float, float, float]]] = field(
        default_factory=list
    )


def _scale(si: Any, tile_shape: tuple[int, int], min_tile: int) -> tuple[int, int]:
    """Integer upscaling (rows, columns) so that tiles are large and pixels keep their aspect."""
    dr, dc = 1.0, 1.0
    if getattr(si, "_header", None) is not None:
        dr, dc = (float(v) for v in geometry.pixel_spacing(si.affine))
    base = max(1, math.ceil(min_tile / max(1, min(tile_shape))))
    small = min(dr, dc)
    return max(1, round(base * dr / small)), max(1, round(base * dc / small))


def render(
    si: Any,
    path: str | Path,
    *,
    slices: Sequence[int] | None = None,
    tag: int | None = None,
    window: Sequence[float] | None = None,
    colormap: str = "gray",
    columns: int | None = None,
    labels: bool = True,
    min_tile: int = 128,
    max_tiles: int = 48,
) -> Rendered:
    """Write a PNG montage of `si` with orientation labels and a caption, without a display.

    The montage pixels are placed unscaled (``figimage``) after an integer nearest-neighbour
    upscaling, so the PNG holds exactly :func:`montage`'s tiles.  Labels sit in the black
    gaps beside each tile, never over the image.

    Returns
    -------
    Rendered
        Where the image, the tiles and the labels are in the PNG.
    """
    from imagedata._optional import import_optional

    import_optional("matplotlib", "viewer", "render a montage")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    vol = volume(si, tag)
    sy, sx = _scale(si, vol.shape[1:3], min_tile)
    font = 11
    affine = si.affine if getattr(si, "_header", None) is not None else geometry.default_affine()
    longest = max(len(v) for v in orientation_labels(affine).values())
    gap = _tiles.gap_for(font * 0.75, longest if labels else 0, slice_texts=True)
    base = montage(
        si,
        slices=slices,
        tag=tag,
        columns=columns,
        window=window,
        colormap=colormap,
        gap=0,
        max_tiles=max_tiles,
    )
    lay0 = layout(vol.shape[:3], slices=slices, columns=columns, gap=0, max_tiles=max_tiles)
    lay = Layout(lay0.slices, lay0.columns, lay0.rows, (vol.shape[1] * sy, vol.shape[2] * sx), gap)
    image = _spread(np.repeat(np.repeat(base, sy, axis=0), sx, axis=1), lay)
    text = caption(si, tag)
    lines = wrap_caption(text, max(40, int(image.shape[1] / (font * 0.6))))
    cap_h = int(len(lines) * font * 1.5) + 10
    height = image.shape[0] + cap_h
    width = max(image.shape[1], int(max(len(line) for line in lines) * font * 0.6) + 16)
    fig = Figure(figsize=(width / 100.0, height / 100.0), dpi=100, facecolor="black")
    canvas = FigureCanvasAgg(fig)
    fig.figimage(image, xo=0, yo=cap_h, origin="upper")
    fig.text(
        4 / width,
        (cap_h / 2) / height,
        "\n".join(lines),
        color="white",
        fontsize=font * 0.75,
        va="center",
        ha="left",
        family="DejaVu Sans",
    )
    result = Rendered(Path(path), (height, width), (0, 0), (sy, sx), lay, caption=text)
    artists = _draw_labels(fig, si, lay, (height, width), font, result) if labels else []
    texts = _tiles.slice_texts(si, [int(k) for k in lay.slices])
    text_artists = _tiles.draw_slice_texts(fig, lay, (height, width), font * 0.75, texts)
    canvas.draw()
    for i, artist in enumerate(artists):
        tile, side, letters, _ = result.labels[i]
        result.labels[i] = (tile, side, letters, _tiles.pixel_box(artist, height))
    result.slice_texts = [
        (i, t, _tiles.pixel_box(a, height)) for i, (t, a) in enumerate(zip(texts, text_artists))
    ]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(path), dpi=100, facecolor="black")
    return result


def _spread(image: np.ndarray, lay: Layout) -> np.ndarray:
    """Re-place gap-less tiles of `image` with `lay.gap` black pixels between and around them."""
    out = np.zeros((*lay.shape, 3), dtype=np.uint8)
    th, tw = lay.tile_shape
    for i in range(len(lay.slices)):
        r, c = divmod(i, lay.columns)
        r0, c0 = lay.origin(i)
        out[r0 : r0 + th, c0 : c0 + tw] = image[r * th : (r + 1) * th, c * tw : (c + 1) * tw]
    return out


def _draw_labels(
    fig: Any, si: Any, lay: Layout, size: tuple[int, int], font: int, result: Rendered
) -> list[Any]:
    affine = si.affine if getattr(si, "_header", None) is not None else geometry.default_affine()
    letters = orientation_labels(affine)
    height, width = size
    colour = tuple(v / 255.0 for v in LABEL_COLOUR)
    artists = []
    for i in range(len(lay.slices)):
        spots = _tiles.label_spots(lay.origin(i), lay.tile_shape, font * 0.75)
        for side, (x, y, ha, va) in spots.items():
            artist = fig.text(
                x / width,
                1.0 - y / height,
                letters[side],
                color=colour,
                fontsize=font * 0.75,
                fontweight="bold",
                ha=ha,
                va=va,
                family="DejaVu Sans",
            )
            artists.append(artist)
            result.labels.append((i, side, letters[side], (0.0, 0.0, 0.0, 0.0)))
    return artists


def show(si: Any, *others: Any, png: str | Path | None = None, **options: Any) -> Viewer:
    """Open the interactive viewer on `si` (and `others`); see :class:`Viewer`.

    Where no window can open (no display, a file-only backend) the montage of `si` is
    written as a PNG instead, at `png` (default: a new ``imagedata-show-*.png`` in the
    temporary folder), a warning names the file, and ``viewer.png`` holds its path.
    Options: ``window``, ``colormap``, ``slice``, ``tag``, ``figure``, ``block``.
    """
    viewer = _show_window(si, *others, **options)
    if options.get("figure") is None and is_headless():
        viewer.png = _tiles.headless_png(render, [si, *others], {**options, "png": png})
    return viewer


__all__ = [
    "Layout",
    "Rendered",
    "Viewer",
    "auto_window",
    "caption",
    "direction_letters",
    "is_headless",
    "is_inverted",
    "is_rgb",
    "layout",
    "montage",
    "normalise",
    "orientation_labels",
    "pick_slices",
    "render",
    "show",
    "tag_text",
    "to_rgb",
    "volume",
    "wrap_caption",
]
