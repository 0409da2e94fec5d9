"""Time (or b-value, echo time ...) curves: the mean over a mask along the tag axis.

:func:`curve` computes the numbers (numpy only); :func:`plot_curve` draws them with
matplotlib, labelled with the tag axis and its units (time in s from the first time
point, b in s/mm2, te/ti/triggertime in ms) and the values' units when the series
knows them (a Parametric Map's Real World Value Mapping, HU for CT).

Examples
--------
>>> import numpy as np
>>> from imagedata.series import Series
>>> si = Series(np.arange(2 * 3 * 4 * 4, dtype=float).reshape(2, 3, 4, 4), input_order="time")
>>> si.timeline = [0.0, 2.5]
>>> c = curve(si, np.ones((3, 4, 4), dtype=bool))
>>> c.x.tolist(), c.y.tolist(), c.xlabel
([0.0, 2.5], [23.5, 71.5], 'time (s)')
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

#: Units of the tag axes (after :func:`curve` makes time relative to the first point).
TAG_UNITS = {"time": "s", "b": "s/mm2", "te": "ms", "ti": "ms", "triggertime": "ms"}


@dataclass
class Curve:
    """A curve: tag values `x`, mean values `y` over `voxels` voxels, and their labels."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    xlabel: str
    ylabel: str
    voxels: int
    figure: Any = None
    png: Path | None = None


def _mask_array(si: Any, mask: Any) -> npt.NDArray[np.bool_]:
    """`mask` as a bool array over the spatial axes of `si`."""
    m = np.asarray(mask)
    spatial = tuple(si.shape[-3:]) if si.ndim >= 4 else tuple(si.shape[-2:])
    if m.shape == tuple(si.shape):
        m = m.reshape(-1, *spatial)[0]  # a mask drawn on the whole series: the first tag
    if m.shape != spatial:
        raise ValueError(
            f"the mask has shape {m.shape}; it must cover the series' spatial axes "
            f"{spatial} (slice, row, column)"
        )
    out = m.astype(bool) if m.dtype != bool else m
    if not out.any():
        raise ValueError("the mask is empty: no voxel to average")
    return out


def _ylabel(si: Any) -> str:
    template = si.header.template
    from imagedata.formats.dicom._parametric import units_of

    units = units_of(template)
    if units is None and str(template.get("Modality", "")).upper() == "CT":
        units = "HU"
    return f"mean ({units})" if units and units != "1" else "mean"


def curve(si: Any, mask: Any) -> Curve:
    """The mean of `si` over `mask` at each index of its tag axis.

    Parameters
    ----------
    si
        A Series with one tag axis first: (tag, slice, row, column) or (tag, row, column).
    mask
        Bool (or 0/1) array over the spatial axes, or over the whole series (its first
        tag is used); a SEG read back is one.

    Raises
    ------
    ValueError
        Without exactly one tag axis, for a mask of another shape, or an empty mask.
    """
    header = si.header
    tags = header.tag_axes
    if len(tags) != 1 or not header.axes[0].is_tag:
        raise ValueError(
            f"a curve needs one tag axis first (time, b, te ...); this series has axes "
            f"{header.axis_names}: select one tag axis first, e.g. si[:, 0]"
        )
    m = _mask_array(si, mask)
    arr = np.asarray(si).reshape(si.shape[0], -1)
    y = arr[:, m.ravel()].astype(np.float64).mean(axis=1)
    axis = tags[0]
    name = axis.name
    if axis.values is not None and np.ndim(axis.values) == 1:
        x = np.asarray(axis.values, dtype=np.float64)
    else:
        x = np.arange(si.shape[0], dtype=np.float64)
        name = f"{name} index"
    if axis.name == "time" and x.size:
        x = x - x[0]
    unit = TAG_UNITS.get(axis.name)
    xlabel = f"{name} ({unit})" if unit and not name.endswith("index") else name
    return Curve(x, y, xlabel, _ylabel(si), int(m.sum()))


def plot_curve(
    si: Any,
    mask: Any,
    *,
    ax: Any = None,
    path: str | Path | None = None,
    label: str | None = None,
) -> Curve:
    """Plot :func:`curve` of `si` over `mask`.

    Into `ax` when given; else into a new figure saved as PNG at `path`; else a
    window (or an inline figure in Jupyter); where no window can open, a PNG in the
    temporary folder, with a warning naming it.

    Raises
    ------
    MissingDependencyError
        Without matplotlib (``pip install 'imagedata[viewer]'``).
    """
    from imagedata._optional import import_optional

    import_optional("matplotlib", "viewer", "plot curves")
    c = curve(si, mask)
    if ax is not None:
        _draw(ax, c, label)
        c.figure = ax.figure
        return c
    from imagedata.viewer import is_headless

    if path is None and not is_headless():
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(layout="constrained")
        _draw(axes, c, label)
        c.figure = fig
        plt.show()
        return c
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    _draw(fig.add_subplot(), c, label)
    warn = path is None
    if path is None:
        from imagedata._tiles import temporary_png

        path = temporary_png("imagedata-curve-")
    fig.savefig(str(path))
    c.figure, c.png = fig, Path(path)
    if warn:
        warnings.warn(f"no display: the curve was written to {path}", stacklevel=2)
    logger.info("curve of %d voxels written to %s", c.voxels, path)
    return c


def _draw(ax: Any, c: Curve, label: str | None) -> None:
    ax.plot(c.x, c.y, marker="o", label=label or f"mask ({c.voxels} voxels)")
    ax.set_xlabel(c.xlabel)
    ax.set_ylabel(c.ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()
