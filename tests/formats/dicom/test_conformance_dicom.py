"""DICOM in the shared round-trip conformance suite (tests/formats/test_conformance.py).

A write makes a folder of single-frame files; reading it back goes through the DICOM
plugin with every file as a member.  DICOM images hold 16-bit integers: uint8 and int32
values come back exactly as uint16, and float data are stored quantised (16-bit
integers with RescaleSlope/RescaleIntercept), checked within half a step.  The tests
below replace the suite's where DICOM differs by design, and say how.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from imagedata import geometry
from imagedata.archives import expand
from imagedata.errors import SortError
from imagedata.formats import get
from imagedata.series import Series
from tests.formats.test_conformance import FormatConformance, synthetic


class TestDicomConformance(FormatConformance):
    fmt = "dicom"
    ext = ""  # a folder
    dtypes = ("int16", "uint16")
    stored_as: ClassVar[dict[str, str]] = {"uint8": "uint16", "int32": "uint16"}
    quantised = ("float32", "float64")
    identity_options: ClassVar[dict[str, Any]] = {"keep_uid": True}  # else a new series UID
    #: What every written image holds and the reader keeps as shared: the image plane and
    #: pixel description, type 2 attributes written empty, and the reader's own private
    #: block (how the values were scaled, which images were read).
    template_added = frozenset(
        {
            "SpacingBetweenSlices",
            "ImageOrientationPatient",
            "PixelSpacing",
            "Rows",
            "Columns",
            "SamplesPerPixel",
            "PhotometricInterpretation",
            "BitsAllocated",
            "BitsStored",
            "HighBit",
            "PixelRepresentation",
            "NumberOfTemporalPositions",
            "EchoTrainLength",
            "Laterality",
            "(0009,0010)",
            "(0009,1001)",
            # the record of the source images (UIDs, positions, SOP class, series, plane)
            "(0009,1002)",
            "(0009,1003)",
            "(0009,1004)",
            "(0009,1005)",
            "(0009,1006)",
        }
    )

    def read_back(self, written: list[str], **options: Any) -> Series:
        first = Path(written[0])
        folder = first if first.is_dir() else first.parent
        data, header = get(self.fmt).read(
            expand(folder),
            input_order=options.pop("input_order", "auto"),
            headers_only=options.pop("headers_only", False),
            **options,
        )
        si = Series(data)
        si.header = header
        return si

    def image_file(self, written: list[str]) -> str:
        return sorted(written)[0]

    # test_2d_series_stays_2d: the suite's own; one DICOM image reads back 2-D, as in 3.x

    def test_uneven_slices_warn_and_keep_positions(self, tmp_path: Path) -> None:
        """Every image has its own position: the write keeps them without a warning; the
        reader names the gap unless ``accept_uneven_slices=True``, which keeps them."""
        si = synthetic(tmp_path, (4, 5, 6))
        pos = si.header.slice_positions().copy()
        pos[3] += 2.0 * geometry.normal(si.affine)
        si.header = si.header.with_positions(pos)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            written = si.write(tmp_path / "img", formats=[self.fmt])
        with pytest.raises(SortError, match="not evenly spaced"):
            self.read_back(written)
        back = self.read_back(written, accept_uneven_slices=True)
        np.testing.assert_allclose(back.header.slice_positions(), pos, atol=1e-4)
        np.testing.assert_array_equal(np.asarray(back), np.asarray(si))

    def test_uneven_time_axis_keeps_values(self, tmp_path: Path) -> None:  # type: ignore[override]
        """No ``embed_header`` option: the header is the file; the times are in every image."""
        si = synthetic(tmp_path, (3, 2, 5, 6), order="time", tag_values=[0.0, 1.0, 3.5])
        back = self.write_read(si, tmp_path)
        np.testing.assert_allclose(back.timeline, [0.0, 1.0, 3.5], atol=1e-6)
        np.testing.assert_array_equal(np.asarray(back), np.asarray(si))
