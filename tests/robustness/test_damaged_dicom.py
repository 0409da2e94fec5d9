"""Damaged DICOM files are a ReadError naming them, never a silently shorter series.

Every damaged file is made in the test from a valid generated series.
"""

from __future__ import annotations

import io
import random
import struct
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _corpus import _garble

from imagedata import read
from imagedata.errors import ReadError
from imagedata.testing import make_dicom_series

_PIXEL_TAG = b"\xe0\x7f\x10\x00"
_IPP_TAG = struct.pack("<HH", 0x0020, 0x0032)


def _cut_points(data: bytes) -> dict[str, int]:
    """Where to cut a file: between two elements, inside a value, at/inside Pixel Data."""
    ipp = data.index(_IPP_TAG, 132)
    pixel = data.index(_PIXEL_TAG, 132)
    return {
        "between elements (before ImagePositionPatient)": ipp,
        "inside the ImagePositionPatient value": ipp + 10,
        "right before Pixel Data": pixel,
        "inside the Pixel Data element header": pixel + 6,
        "inside Pixel Data": pixel + 12 + 20,
        "one byte short": len(data) - 1,
    }


@pytest.mark.parametrize("edge", ["first", "last"])
@pytest.mark.parametrize("where", list(_cut_points(b"x" * 132 + _IPP_TAG + _PIXEL_TAG + b"y" * 64)))
def test_truncated_edge_slice(tmp_path: Path, edge: str, where: str) -> None:
    truth = make_dicom_series(tmp_path, shape=(5, 8, 8))
    victim = truth.files[0 if edge == "first" else -1]
    data = victim.read_bytes()
    victim.write_bytes(data[: _cut_points(data)[where]])
    with pytest.raises(ReadError, match=victim.name) as info:
        read(tmp_path)
    assert "skip_broken=True" in str(info.value)
    with pytest.warns(UserWarning, match=f"skipped broken file: .*{victim.name}"):
        arr, header = read(tmp_path, skip_broken=True)
    kept = truth.data[1:] if edge == "first" else truth.data[:-1]
    np.testing.assert_array_equal(arr, kept)
    origin = truth.positions[1] if edge == "first" else truth.positions[0]
    np.testing.assert_allclose(header.affine[:3, 3], origin, atol=1e-4)


def _edit(path: Path, **values: object) -> None:
    ds = pydicom.dcmread(path)
    for kw, v in values.items():
        if kw == "NumberOfFrames":
            ds.add_new(0x00280008, "IS", str(v))
        else:
            setattr(ds, kw, v)
    ds.save_as(path)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"Rows": 65535, "Columns": 65535, "NumberOfFrames": 999999999}, "need"),
        ({"NumberOfFrames": 999999999}, "need"),
        ({"NumberOfFrames": 0}, "NumberOfFrames 0"),
        ({"NumberOfFrames": -4}, "NumberOfFrames -4"),
        ({"BitsAllocated": 12}, "BitsAllocated 12"),
        ({"BitsAllocated": 0}, "BitsAllocated 0"),
        ({"BitsStored": 40}, "BitsStored 40"),
        ({"PixelRepresentation": 2}, "PixelRepresentation 2"),
        ({"Rows": 0}, "Rows x Columns 0 x 8"),
        ({"SamplesPerPixel": 4}, "SamplesPerPixel 4"),
        ({"Rows": 9}, "need 144"),
    ],
)
def test_hostile_pixel_description(tmp_path: Path, values: dict, message: str) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 8, 8))
    victim = truth.files[1]
    _edit(victim, **values)
    with pytest.raises(ReadError, match=message) as info:
        read(tmp_path)
    assert victim.name in str(info.value)


def _rle_series(tmp_path: Path, n: int = 3) -> list[Path]:
    truth = make_dicom_series(tmp_path, shape=(n, 8, 8))
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.compress(pydicom.uid.RLELossless, encoding_plugin="pydicom")
        ds.save_as(f)
    return list(truth.files)


def test_encapsulated_frame_count_checked_against_fragments(tmp_path: Path) -> None:
    files = _rle_series(tmp_path)
    _edit(files[0], NumberOfFrames=999999999)
    with pytest.raises(ReadError, match=f"{files[0].name}.*1 fragment"):
        read(tmp_path)


def test_encapsulated_truncated_is_read_error(tmp_path: Path) -> None:
    files = _rle_series(tmp_path)
    files[2].write_bytes(files[2].read_bytes()[:-30])
    with pytest.raises(ReadError, match=f"{files[2].name}.*truncated"):
        read(tmp_path)


def _panicking_rle(data: bytes) -> bytes | None:
    """A mutation of RLE file `data` on which the Rust RLE decoder panics, or None."""
    rng = random.Random(1)
    for _ in range(600):
        b = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            b[rng.randrange(len(b) - 200, len(b))] = rng.randrange(256)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pydicom.dcmread(io.BytesIO(bytes(b))).pixel_array  # noqa: B018
        except BaseException as err:
            if type(err).__name__ == "PanicException":
                return bytes(b)
            if isinstance(err, KeyboardInterrupt):
                raise
    return None


def test_rust_panic_in_codec_is_read_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("rle", reason="pylibjpeg-rle (the [jpeg] extra) is not installed")
    from imagedata.formats.dicom import _codecs

    files = _rle_series(tmp_path)
    bad = _panicking_rle(files[1].read_bytes())
    if bad is None:
        pytest.skip("no mutation made this pylibjpeg-rle version panic")
    files[1].write_bytes(bad)
    with pytest.raises(ReadError, match=files[1].name):  # imagecodecs' RLE decoder
        read(tmp_path)
    monkeypatch.setattr(_codecs, "_decoder", lambda name: None)  # pydicom's: pylibjpeg-rle
    with pytest.raises(ReadError, match=f"{files[1].name}.*PanicException") as info:
        read(tmp_path)
    assert type(info.value.__cause__).__name__ == "PanicException"


def test_damaged_value_read_lazily_is_read_error(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(1, 8, 8), SliceThickness=2.0)
    victim = truth.files[0]
    victim.write_bytes(_garble(victim.read_bytes(), "SliceThickness", b"HFS"))
    with pytest.raises(ReadError, match=f"{victim.name}.*HFS"):
        read(tmp_path)


def test_unknown_vr_in_header_is_read_error(tmp_path: Path) -> None:
    """An unknown VR is decoded while the template is made: a ReadError naming the file at
    read time, never a pydicom error later when the header is written."""
    truth = make_dicom_series(tmp_path, shape=(2, 8, 8))
    for f in truth.files:  # the template comes from the first image, whichever it is
        data = bytearray(f.read_bytes())
        p = data.index(struct.pack("<HH", 0x0008, 0x0070), 132)  # Manufacturer, LO
        data[p + 4 : p + 6] = b"KN"
        f.write_bytes(bytes(data))
    with pytest.raises(ReadError, match=r"IM\w+.*damaged header value.*'KN'"):
        read(tmp_path)


def test_unknown_transfer_syntax_is_read_error(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(2, 8, 8))
    victim = truth.files[0]
    data = victim.read_bytes()
    p = data.index(b"1.2.840.10008.1.2.1")
    victim.write_bytes(data[:p] + b"9.9.9.9.9.9.9.9.9.9" + data[p + 19 :])
    with pytest.raises(ReadError, match=f"{victim.name}.*'9.9.9.9.9.9.9.9.9.9'"):
        read(tmp_path)


def test_broken_element_length_is_read_error(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 8, 8))
    victim = truth.files[2]
    data = bytearray(victim.read_bytes())
    p = data.index(struct.pack("<HH", 0x0008, 0x0016), 132)  # SOPClassUID: swallows the rest
    data[p + 6 : p + 8] = struct.pack("<H", 0xFFF0)
    victim.write_bytes(bytes(data))
    with pytest.raises(ReadError, match=victim.name):
        read(tmp_path)


def test_non_image_objects_still_skipped(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(2, 8, 8))
    sr = pydicom.dcmread(pydicom.data.get_testdata_file("test-SR.dcm"))
    sr.save_as(tmp_path / "s" / "report.dcm")
    arr, _ = read(tmp_path / "s")
    np.testing.assert_array_equal(arr, truth.data)


def _read_warnings(folder: Path) -> tuple[np.ndarray, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arr, _ = read(folder)
    return arr, [str(w.message) for w in caught]


def test_missing_pixel_spacing_warns_with_default(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 8, 8))
    for f in truth.files:
        ds = pydicom.dcmread(f)
        del ds.PixelSpacing
        ds.save_as(f)
    _, messages = _read_warnings(tmp_path)
    hits = [m for m in messages if "PixelSpacing" in m]
    assert len(hits) == 1 and "1 x 1 mm" in hits[0] and "2 other file(s)" in hits[0]
    assert any(f.name in hits[0] for f in truth.files)


def test_unparsable_geometry_warns_with_default(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 8, 8))
    for f in truth.files:
        f.write_bytes(_garble(f.read_bytes(), "PixelSpacing", b"abc\\1"))
    _, messages = _read_warnings(tmp_path)
    hits = [m for m in messages if "PixelSpacing" in m]
    assert len(hits) == 1 and "1 x 1 mm" in hits[0]
    assert any(f.name in hits[0] for f in truth.files)


def test_missing_position_and_orientation_warn(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 8, 8))
    for f in truth.files:
        ds = pydicom.dcmread(f)
        del ds.ImagePositionPatient
        ds.save_as(f)
        f.write_bytes(_garble(f.read_bytes(), "ImageOrientationPatient", b"x\\y\\z"))
    arr, messages = _read_warnings(tmp_path)
    assert arr.shape == (3, 8, 8)
    assert any("ImageOrientationPatient" in m and "axial" in m for m in messages)
    assert any("ImagePositionPatient" in m and "InstanceNumber" in m for m in messages)
