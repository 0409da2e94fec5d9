"""Choose the DICOM object a write makes (``iod=``) and build the derived ones.

``iod='auto'`` (the default) writes a Parametric Map when all of these hold, and
images (today's MR/CT/Secondary Capture files) otherwise; the choice and its reason
are logged (logger ``imagedata.formats.dicom._iod``, level INFO):

- the data are float32/float64 and not colour;
- the axes are (slice, row, column) or (row, column) (a Parametric Map has no tag axes here);
- 16-bit stored values with a rescale slope could not hold them exactly;
- the source images are known (the series was computed from one read from DICOM,
  or ``source=`` names it), since a Parametric Map must reference them.

A SEG is never chosen automatically: a mask written as images stays readable by
every viewer; ask for ``iod='seg'``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from imagedata.formats.dicom._derived import IOD, SeriesLike, source_references

logger = logging.getLogger(__name__)


def _auto(si: SeriesLike, source: SeriesLike | None, colour: bool) -> tuple[IOD, str]:
    """(the IOD 'auto' picks, why)."""
    header = si.header
    arr = np.asarray(si)
    if arr.dtype.kind != "f" or colour:
        return IOD.IMAGE, f"{arr.dtype} data"
    if header.axis_names not in (("slice", "row", "column"), ("row", "column")):
        return IOD.IMAGE, f"axes {header.axis_names} (a Parametric Map takes no tag axes)"
    template = header.template if source is None else source.header.template
    if not source_references(template)[0]:
        return IOD.IMAGE, (
            "float data without source DICOM images to reference (a Parametric Map needs "
            "them: pass source=<the Series read from DICOM>)"
        )
    from imagedata.formats.dicom._values import quantize

    if quantize(arr).exact:
        return IOD.IMAGE, "float values that 16-bit images hold exactly"
    return IOD.PARAMETRIC_MAP, "float values that 16 bits cannot hold exactly"


def choose_iod(si: SeriesLike, iod: IOD, source: SeriesLike | None, colour: bool) -> IOD:
    """Resolve ``iod='auto'``; other choices are returned as they are."""
    if iod is not IOD.AUTO:
        return iod
    chosen, why = _auto(si, source, colour)
    logger.info("iod='auto': writing %s for %s", chosen.value, why)
    return chosen


def derived_dataset(
    si: SeriesLike,
    iod: IOD,
    *,
    units: str | None = None,
    segments: Mapping[int, str | tuple[str, str]] | None = None,
    window: str | tuple[float, float] | None = "auto",
    **common: Any,
) -> Dataset:
    """The Parametric Map or SEG of `si`.

    `common` are ``sernum``, ``serdes``, ``keep_uid`` and ``source`` (writer options).
    """
    if iod is IOD.PARAMETRIC_MAP:
        from imagedata.formats.dicom._parametric import parametric_map

        return parametric_map(si, units=units, window=window, **common)
    from imagedata.formats.dicom._seg import segmentation

    if units is not None:
        logger.info("units=%r has no meaning for a SEG; ignored", units)
    return segmentation(si, segments=segments, **common)
