"""The plan of a DICOM write: what each output image is, shared by both DICOM writers.

:func:`imagedata.formats.dicom.writer` makes a :class:`_Plan` from a series; the
classic writer (one file per image) and the enhanced writer
(:mod:`._enhanced_writer`, one multi-frame file) both make their datasets from it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.uid import UID

from imagedata.formats.dicom._values import Quantized
from imagedata.formats.dicom._write_tags import TagSetter


@dataclass(frozen=True)
class _Image:
    """One output image: where it goes and which part of the array it is."""

    relpath: str
    tag: int  # flat index over the tag axes
    slice: int
    instance: int


@dataclass
class _Plan:
    """Everything needed to make the datasets of one series."""

    base: Dataset
    stored: npt.NDArray[np.integer]  # (T, S, R, C) little-endian
    tag_shape: tuple[int, ...]
    setters: list[TagSetter | None]
    positions: list[list[str]]
    locations: list[str]
    images: list[_Image]
    transfer_syntax: UID
    quantized: Quantized
    keep_uid: bool = False
    tag_axes: list[Any] = field(default_factory=list)
    day0: dt.date = field(default_factory=dt.date.today)
