"""Helpers for the DICOM writer tests: Series with known geometry, tool runners."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from imagedata import geometry
from imagedata.axis import Axis, tag_axis
from imagedata.series import Series
from imagedata.testing import SyntheticSeries, make_dicom_series


def series_from_truth(truth: SyntheticSeries) -> Series:
    """A Series built from a synthetic series' truth (no reader involved)."""
    first = pydicom.dcmread(truth.files[0], stop_before_pixels=True)
    si = Series(np.asarray(truth.data))
    axes: list[Axis] = list(si.header.axes)
    if truth.data.ndim == 4:
        axes[0] = tag_axis(truth.order, truth.tag_values)
    header = si.header.replace(affine=truth.affine, template=first, axes=tuple(axes))
    si.header = header
    return si


def make_series(
    tmp: Path, shape: tuple[int, ...] = (5, 6, 8), **kwargs: Any
) -> tuple[Series, SyntheticSeries]:
    """Synthetic DICOM files plus the Series of their truth."""
    truth = make_dicom_series(tmp / "src", shape, **kwargs)
    return series_from_truth(truth), truth


def dciodvfy(path: Path) -> list[str]:
    """Error lines of dciodvfy for one file (warnings ignored)."""
    res = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    lines = (res.stdout + res.stderr).splitlines()
    return [ln for ln in lines if ln.startswith("Error")]


def dcentvfy(paths: list[Path]) -> list[str]:
    """Error lines of dcentvfy over a set of files."""
    res = subprocess.run(
        ["dcentvfy", *map(str, paths)], capture_output=True, text=True, check=False
    )
    lines = (res.stdout + res.stderr).splitlines()
    return [ln for ln in lines if ln.startswith("Error")]


def world_centres(affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """LPS centres of the corner voxels of a (slice, row, column) grid."""
    s, r, c = (n - 1 for n in shape)
    idx = np.array([[k, i, j] for k in (0, s) for i in (0, r) for j in (0, c)], dtype=float)
    return geometry.voxel_to_world(affine, idx)
