"""Notebook display: Series._repr_html_ (inline PNG montage + header) and collection tables."""

from __future__ import annotations

import base64
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from imagedata import viewer
from imagedata._html import MAX_WIDTH, png_bytes
from imagedata.collections import Patient, Study
from imagedata.series import Series
from imagedata.testing import make_dicom_series


def _decode_png(data: bytes) -> np.ndarray:
    """Decode an 8-bit RGB, non-interlaced PNG with filter 0 (what png_bytes writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        n = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        assert zlib.crc32(kind + body) == int.from_bytes(data[pos + 8 + n : pos + 12 + n], "big")
        if kind == b"IHDR":
            size = (int.from_bytes(body[4:8], "big"), int.from_bytes(body[0:4], "big"))
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(size[0], 1 + 3 * size[1])
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(size[0], size[1], 3)


def test_png_bytes_round_trip_through_matplotlib(tmp_path: Path) -> None:
    mpimg = pytest.importorskip("matplotlib.image", reason="matplotlib (imagedata[viewer])")
    rgb = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    (tmp_path / "x.png").write_bytes(png_bytes(rgb))
    back = np.round(mpimg.imread(str(tmp_path / "x.png"))[..., :3] * 255).astype(np.uint8)
    np.testing.assert_array_equal(back, rgb)
    np.testing.assert_array_equal(_decode_png(png_bytes(rgb)), rgb)


def test_series_html_shows_montage_and_header(tmp_path: Path) -> None:
    truth = make_dicom_series(
        tmp_path / "s",
        (3, 4, 6, 8),
        order="time",
        tag_values=[0, 2, 4],
        SeriesDescription="dyn <T1>",
    )
    si = Series(truth.path, input_order="time")
    text = si._repr_html_()
    png = _decode_png(base64.b64decode(re.search(r"base64,([^']+)'", text).group(1)))
    np.testing.assert_array_equal(png, viewer.montage(si, max_tiles=12, gap=2))
    assert "Synthetic Patient (SYN0001)" in text
    assert "dyn &lt;T1&gt;" in text  # escaped
    assert "(3, 4, 6, 8) uint16" in text
    assert "time (3: 0 .. 4 s), slice (4), row (6), column (8)" in text
    assert "2 x 0.5 x 0.8 mm" in text
    assert "axial (1, 0, 0, 0, 1, 0)" in text


def test_series_html_of_a_large_series_is_small() -> None:
    si = Series(np.random.default_rng(1).random((30, 256, 256)).astype(np.float32))
    text = si._repr_html_()
    png = _decode_png(base64.b64decode(re.search(r"base64,([^']+)'", text).group(1)))
    assert png.shape[1] <= MAX_WIDTH
    assert len(text) < 400_000


def test_series_html_without_a_picture_still_shows_the_header() -> None:
    odd = Series(np.zeros((3, 4, 5), dtype="<U2"))  # strings cannot be windowed
    text = odd._repr_html_()
    assert "no montage:" in text and "(3, 4, 5) str64" in text


def test_study_and_patient_tables(tmp_path: Path) -> None:
    a = make_dicom_series(tmp_path / "a", (3, 4, 5), SeriesNumber=2, SeriesDescription="T2")
    make_dicom_series(
        tmp_path / "b",
        (2, 4, 5),
        SeriesNumber=5,
        SeriesDescription="DWI",
        StudyInstanceUID=a.study_instance_uid,
    )
    study = Study(tmp_path)
    text = study._repr_html_()
    assert "<b>Study</b>: 2 series" in text
    rows = re.findall(r"<tr><td.*?</tr>", text)
    assert len(rows) == 2
    assert "2 T2" in rows[0] and "(3, 4, 5) uint16" in rows[0]
    assert "5 DWI" in rows[1]
    assert "Synthetic Patient (SYN0001)" in text
    assert "<b>Patient</b>: 2 series" in Patient(tmp_path)._repr_html_()
