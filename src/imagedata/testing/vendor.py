"""Vendor header patterns for synthetic series (Philips private diffusion and ASL tags).

Real Philips classic (one image per file) MR data keep their diffusion and ASL
attributes in private tags:

* (2001,xx03) FL "Philips Imaging DD 001": b-value; (2001,xx04) CS: diffusion
  direction, 'I' for the derived isotropic ("trace") image;
* (2005,xxB0-B2) FL "Philips MR Imaging DD 001": gradient direction (RL, AP, FH);
* (2005,xx29) CS "Philips MR Imaging DD 005" (block 0x14): ASL 'LABEL' or 'CONTROL'.

:func:`make_philips_dwi` writes a DWI series with these tags only (no standard
DiffusionBValue), a trace volume and, optionally, an odd AcquisitionNumber on a few
files, as seen in real multiband DTI.

Examples
--------
>>> import tempfile
>>> truth = make_philips_dwi(tempfile.mkdtemp(), nslices=2, directions=3)
>>> truth.data.shape, len(truth.files)
((4, 2, 8, 8), 10)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from imagedata.testing import SyntheticSeries, make_dicom_series

PHILIPS = "Philips Medical Systems"


def philips_diffusion(
    ds: Dataset, b: float, direction: Sequence[float], isotropic: bool = False
) -> None:
    """Store b-value and gradient direction the Philips way (private tags only)."""
    if "DiffusionBValue" in ds:
        del ds.DiffusionBValue
    ds.Manufacturer = PHILIPS
    block = ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
    block.add_new(0x03, "FL", float(b))
    block.add_new(0x04, "CS", "I" if isotropic else ("O" if b > 0 else "N"))
    grad = ds.private_block(0x2005, "Philips MR Imaging DD 001", create=True)
    for element, value in zip((0xB0, 0xB1, 0xB2), direction):
        grad.add_new(element, "FL", float(value))


def philips_asl(ds: Dataset, label: bool) -> None:
    """Mark an image as ASL label or control (Philips private tag (2005,1429))."""
    ds.Manufacturer = PHILIPS
    ds.add_new(0x20050014, "LO", "Philips MR Imaging DD 005")
    ds.add_new(0x20051429, "CS", "LABEL" if label else "CONTROL")


def dti_directions(n: int) -> list[tuple[float, float, float]]:
    """`n` unit vectors, spread over a half sphere (deterministic)."""
    out = []
    for i in range(n):
        z = 1.0 - (i + 0.5) / n
        r = float(np.sqrt(1.0 - z * z))
        phi = i * 2.399963229728653  # golden angle
        out.append((round(r * float(np.cos(phi)), 6), round(r * float(np.sin(phi)), 6), z))
    return out


def make_philips_dwi(
    folder: str | Path,
    nslices: int = 4,
    directions: int = 6,
    b: float = 1000.0,
    *,
    rows: int = 8,
    columns: int = 8,
    trace: bool = True,
    odd_acquisition_number: Sequence[int] = (),
    shuffle: bool = True,
) -> SyntheticSeries:
    """A Philips classic DWI series: b=0, `directions` gradients and a trace volume.

    The returned truth holds the b=0 and gradient volumes (the trace volume, the last
    one written, is not in ``data``); ``tag_values`` are their b-values.  Files whose
    running number is in `odd_acquisition_number` get AcquisitionNumber 99.
    """
    grads = [(0.0, 0.0, 0.0), *dti_directions(directions)]
    bvals = [0.0] + [b] * directions
    nvol = len(grads) + (1 if trace else 0)

    def edit(ds: Dataset, t: int, k: int) -> None:
        if t < len(grads):
            philips_diffusion(ds, bvals[t], grads[t])
        else:
            philips_diffusion(ds, b, (0.0, 0.0, 0.0), isotropic=True)
        ds.AcquisitionNumber = 99 if t * nslices + k in odd_acquisition_number else 1

    truth = make_dicom_series(
        folder,
        shape=(nvol, nslices, rows, columns),
        order="b",
        tag_values=[*bvals, b][:nvol],
        shuffle=shuffle,
        edit=edit,
        SeriesDescription="DTI_32dir",
        ImageType=["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"],
    )
    truth.data = truth.data[: len(grads)]
    truth.tag_values = truth.tag_values[: len(grads)]
    truth.attributes["gradients"] = grads
    return truth


__all__ = ["dti_directions", "make_philips_dwi", "philips_asl", "philips_diffusion"]
