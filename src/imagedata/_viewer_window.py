"""The interactive viewer behind :func:`imagedata.viewer.show` (matplotlib, imported lazily).

Kept apart from :mod:`imagedata.viewer` (colour, montages, PNG rendering), which
re-exports :class:`Viewer`, :func:`show` and :func:`is_headless`.  Both use the display
helpers of :mod:`imagedata._display`; this module never imports :mod:`imagedata.viewer`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imagedata import geometry
from imagedata._display import (
    _EDGE_SPOTS,
    Window,
    _attr,
    _check_window,
    _colour,
    _magnitude,
    auto_window,
    is_inverted,
    is_rgb,
    orientation_labels,
    tag_text,
    volume,
)

#: matplotlib backends that cannot open a window.
_HEADLESS_BACKENDS = {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template"}


def _reversed(colormap: str) -> str:
    """The matplotlib name of `colormap` reversed (MONOCHROME1 data: high values dark)."""
    return colormap[:-2] if colormap.endswith("_r") else f"{colormap}_r"


@dataclass
class _Panel:
    """One series in the viewer: its data, window and artists."""

    si: Any
    window: Window
    image: Any = None
    axes: Any = None


class Viewer:
    """Scroll through slices and tags of one or more series shown side by side, linked.

    Mouse wheel or up/down arrows: slice; shift+wheel or left/right arrows: tag
    (time, b-value, ...); page up/down: 10 slices; drag with the left button:
    window (horizontal: width, vertical: center); ``r``: reset the window.  The status
    line shows the slice location, the tag value and the pixel value under the
    cursor for every series.

    Parameters
    ----------
    series
        The series to show; all follow the same slice and tag index.
    figure
        A matplotlib Figure to draw in (default: a new pyplot figure).
    window
        (center, width) for every series; default :func:`auto_window` per series.
    colormap
        A matplotlib colour map name.
    slice, tag
        The slice and tag index shown first (default: middle slice, first tag).
    """

    def __init__(
        self,
        series: Sequence[Any],
        *,
        figure: Any = None,
        window: Sequence[float] | None = None,
        colormap: str = "gray",
        slice: int | None = None,
        tag: int = 0,
    ) -> None:
        if not series:
            raise ValueError("the viewer needs at least one series")
        self.panels = [
            _Panel(s, default_window(s) if window is None else _check_window(window))
            for s in series
        ]
        self.nslices = max(volume(p.si, 0).shape[0] for p in self.panels)
        self.ntags = max(_ntags(p.si) for p in self.panels)
        #: The PNG montage written by :func:`show` where no window could open.
        self.png: Path | None = None
        self.slice = self.nslices // 2 if slice is None else int(slice) % self.nslices
        self.tag = int(tag) % self.ntags
        self.colormap = colormap
        self._drag: tuple[float, float, list[Window]] | None = None
        self.figure = figure if figure is not None else _new_figure(len(series))
        self.status = self.figure.text(
            0.01, 0.01, "", color="white", fontsize=9, family="DejaVu Sans"
        )
        self._build()
        self._connect()
        self.update()

    # --- drawing ---------------------------------------------------------------------------

    def _build(self) -> None:
        n = len(self.panels)
        for i, panel in enumerate(self.panels):
            ax = self.figure.add_subplot(1, n, i + 1)
            ax.set_facecolor("black")
            ax.set_xticks([])
            ax.set_yticks([])
            affine = _affine(panel.si)
            dr, dc = geometry.pixel_spacing(affine)
            lo, hi = _limits(panel.window)
            panel.image = ax.imshow(
                self.plane(i),
                cmap=_reversed(self.colormap) if is_inverted(panel.si) else self.colormap,
                vmin=lo,
                vmax=hi,
                aspect=float(dr / dc),
                interpolation="nearest",
            )
            for side, letters in orientation_labels(affine).items():
                x, y, ha, va = _EDGE_SPOTS[side]
                ax.text(
                    x,
                    y,
                    letters,
                    transform=ax.transAxes,
                    color="yellow",
                    ha=ha,
                    va=va,
                    fontweight="bold",
                )
            ax.set_title(_title(panel.si), color="white", fontsize=9)
            panel.axes = ax

    def plane(self, i: int) -> np.ndarray:
        """The 2-D image panel `i` shows now (indices clamped to its own size)."""
        panel = self.panels[i]
        vol = volume(panel.si, min(self.tag, _ntags(panel.si) - 1))
        plane = _magnitude(np.asarray(vol[min(self.slice, vol.shape[0] - 1)]))
        return _colour(plane, panel.window) if is_rgb(panel.si) else plane

    def update(self) -> None:
        """Redraw the images and the status line for the current slice, tag and windows."""
        for i, panel in enumerate(self.panels):
            panel.image.set_data(self.plane(i))
            panel.image.set_clim(*_limits(panel.window))
        self.status.set_text(self.describe())
        self.figure.canvas.draw_idle()

    def describe(self, row: int | None = None, column: int | None = None) -> str:
        """The status line: slice, location, tag, window, and the pixel values at (row, column)."""
        first = self.panels[0].si
        parts = [f"slice {self.slice + 1}/{self.nslices}"]
        if getattr(first, "_header", None) is not None:
            locations = first.sliceLocations
            if self.slice < len(locations):
                parts.append(f"location {float(locations[self.slice]):.2f} mm")
        if self.ntags > 1:
            parts.append(tag_text(first, self.tag))
        c, w = self.panels[0].window
        parts.append(f"window {c:g}/{w:g}")
        if row is not None and column is not None:
            values = []
            for i in range(len(self.panels)):
                img = self.plane(i)
                if 0 <= row < img.shape[0] and 0 <= column < img.shape[1]:
                    values.append(_value_text(self.panels[i], row, column, img))
            parts.append(f"({row}, {column}) = {' | '.join(values)}")
        return "   ".join(parts)

    # --- navigation -------------------------------------------------------------------------

    def set_slice(self, k: int) -> None:
        """Show slice `k` (clamped to the valid range) in every panel."""
        self.slice = int(np.clip(k, 0, self.nslices - 1))
        self.update()

    def set_tag(self, t: int) -> None:
        """Show tag index `t` (clamped) in every panel."""
        self.tag = int(np.clip(t, 0, self.ntags - 1))
        self.update()

    def set_window(self, center: float, width: float, panel: int = 0) -> None:
        """Set the (center, width) window of one panel."""
        self.panels[panel].window = _check_window((center, max(width, 1e-6)))
        self.update()

    # --- events -----------------------------------------------------------------------------

    def _connect(self) -> None:
        canvas = self.figure.canvas
        self._cids = [
            canvas.mpl_connect("scroll_event", self.on_scroll),
            canvas.mpl_connect("key_press_event", self.on_key),
            canvas.mpl_connect("button_press_event", self.on_press),
            canvas.mpl_connect("button_release_event", self.on_release),
            canvas.mpl_connect("motion_notify_event", self.on_motion),
        ]

    def on_scroll(self, event: Any) -> None:
        """Wheel: next/previous slice; with shift: next/previous tag."""
        step = 1 if event.button == "up" else -1
        if event.key and "shift" in event.key:
            self.set_tag(self.tag + step)
        else:
            self.set_slice(self.slice + step)

    def on_key(self, event: Any) -> None:
        """Arrow keys, page up/down, home/end and ``r`` (reset window)."""
        moves = {
            "up": (1, 0),
            "down": (-1, 0),
            "pageup": (10, 0),
            "pagedown": (-10, 0),
            "right": (0, 1),
            "left": (0, -1),
        }
        if event.key in moves:
            ds, dt = moves[event.key]
            self.slice = int(np.clip(self.slice + ds, 0, self.nslices - 1))
            self.tag = int(np.clip(self.tag + dt, 0, self.ntags - 1))
            self.update()
        elif event.key in ("home", "end"):
            self.set_slice(0 if event.key == "home" else self.nslices - 1)
        elif event.key == "r":
            for p in self.panels:
                p.window = default_window(p.si)
            self.update()

    def _panel_at(self, event: Any) -> int | None:
        for i, p in enumerate(self.panels):
            if event.inaxes is p.axes:
                return i
        return None

    def on_press(self, event: Any) -> None:
        """Left button down in an image: start windowing."""
        if event.button == 1 and self._panel_at(event) is not None:
            self._drag = (float(event.x), float(event.y), [p.window for p in self.panels])

    def on_release(self, event: Any) -> None:
        """Left button up: stop windowing."""
        self._drag = None

    def on_motion(self, event: Any) -> None:
        """Drag: change the window (linked panels follow); move: report the pixel value."""
        if self._drag is not None and event.x is not None:
            x0, y0, start = self._drag
            dx, dy = float(event.x) - x0, float(event.y) - y0
            for p, (c, w) in zip(self.panels, start):
                p.window = (c - dy * w / 200.0, max(w * math.exp(dx / 200.0), 1e-6))
            self.update()
            return
        if self._panel_at(event) is None or event.xdata is None:
            return
        row, column = round(event.ydata), round(event.xdata)
        self.status.set_text(self.describe(row, column))
        self.figure.canvas.draw_idle()


def default_window(si: Any) -> Window:
    """The window a series is first shown with: 8-bit colour as is, else :func:`auto_window`."""
    if is_rgb(si) and si.dtype == np.uint8:
        return 127.5, 255.0
    return auto_window(volume(si, 0))


def _ntags(si: Any) -> int:
    return int(si.shape[0]) if si.ndim > 3 + int(is_rgb(si)) else 1


def _value_text(panel: _Panel, row: int, column: int, shown: np.ndarray) -> str:
    """The stored value at (row, column): a number, or (r, g, b) for colour data."""
    if not is_rgb(panel.si):
        return f"{shown[row, column]:g}"
    return "(" + ", ".join(f"{v:g}" for v in np.asarray(shown[row, column])) + ")"


def _affine(si: Any) -> np.ndarray:
    return si.affine if getattr(si, "_header", None) is not None else geometry.default_affine()


def _limits(window: Window) -> tuple[float, float]:
    c, w = window
    return c - w / 2.0, c + w / 2.0


def _title(si: Any) -> str:
    text = " ".join(p for p in (_attr(si, "SeriesNumber"), _attr(si, "SeriesDescription")) if p)
    shape = "x".join(str(n) for n in si.shape)
    return f"{text}  ({shape})" if text else shape


def _new_figure(n: int) -> Any:
    from imagedata._optional import import_optional

    plt = import_optional("matplotlib.pyplot", "viewer", "show images")
    fig = plt.figure(figsize=(5 * n, 5.5), facecolor="black")
    return fig


def is_headless() -> bool:
    """True when matplotlib cannot open a window (no display, or a file-only backend)."""
    import os
    import sys

    from imagedata._optional import import_optional

    mpl = import_optional("matplotlib", "viewer", "show images")
    backend = str(mpl.get_backend()).lower()
    if any(k in backend for k in ("inline", "ipympl", "widget", "nbagg")):
        return False
    if backend in _HEADLESS_BACKENDS:
        return True
    no_display = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return sys.platform.startswith("linux") and no_display


def show(si: Any, *others: Any, block: bool | None = None, **options: Any) -> Viewer:
    """Open the interactive viewer on `si` (and `others` side by side, linked).

    Works in a terminal session (a window), and in Jupyter (an inline figure; scrolling
    needs the ``%matplotlib widget`` backend).  Without a display the figure is made
    but not shown; :func:`imagedata.viewer.show` then writes a PNG montage.

    Parameters
    ----------
    si, others
        Series (or arrays) to show.
    block
        Wait until the window is closed (default: yes, outside Jupyter).
    **options
        ``window``, ``colormap``, ``slice``, ``tag``, ``figure``: see :class:`Viewer`.

    Returns
    -------
    Viewer
        The viewer, with its ``figure``.
    """
    viewer = Viewer([si, *others], **options)
    if options.get("figure") is None and not is_headless():
        import matplotlib.pyplot as plt

        plt.show(block=block)
    return viewer
