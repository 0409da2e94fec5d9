"""DICOM reader pixel values: rescale and dtype (HARD_CASES 6-8), decoders (16), colour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from imagedata.errors import MissingDependencyError
from imagedata.loadsave import read
from imagedata.testing import make_dicom_series
from tests.formats.dicom._readutil import PYDICOM_FILES, by_position, edit


def test_ct_rescale_integer_dtype(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(4, 4, 4), modality="CT", rescale=(1.0, -1024.0))
    arr, h = read(tmp_path)
    assert (
        arr.dtype == np.int32
    )  # 16-bit unsigned stored - 1024 needs int32 (computed in wide ints)
    np.testing.assert_array_equal(arr, truth.data)
    assert float(h.template.RescaleSlope) == 1 and float(h.template.RescaleIntercept) == 0
    stored, h2 = read(tmp_path, rescale=False)
    assert stored.dtype == np.uint16
    np.testing.assert_array_equal(stored, truth.data + 1024)
    assert float(h2.template.RescaleIntercept) == -1024


def test_hc6_slope_varies_per_slice(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(5, 4, 4), dtype=np.int16, modality="CT")
    ordered = by_position(truth.files)

    def integral(ds: pydicom.Dataset, i: int) -> None:
        k = ordered.index(Path(ds.filename))
        ds.RescaleSlope, ds.RescaleIntercept = (1, 0) if k < 4 else (20, 5)

    edit(truth.files, integral)
    arr, _ = read(tmp_path)
    # slice 0 alone would say int16; the last slice's slope 20 needs int32
    assert arr.dtype == np.int32
    np.testing.assert_array_equal(arr[4], truth.data[4].astype(np.int32) * 20 + 5)
    np.testing.assert_array_equal(arr[:4], truth.data[:4])

    def fractional(ds: pydicom.Dataset, i: int) -> None:
        k = ordered.index(Path(ds.filename))
        ds.RescaleSlope, ds.RescaleIntercept = (1, 0) if k != 2 else (0.25, 0.5)

    edit(truth.files, fractional)
    arr, _ = read(tmp_path)
    assert arr.dtype == np.float32
    np.testing.assert_allclose(arr[2], truth.data[2] * 0.25 + 0.5)
    np.testing.assert_array_equal(arr[3], truth.data[3])


def test_hc7_philips_and_real_world_scaling(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 4, 4), rescale=(2.0, 10.0))

    def philips(ds: pydicom.Dataset, i: int) -> None:
        ds.private_block(0x2005, "Philips MR Imaging DD 001", create=True).add_new(0x0E, "FL", 4.0)
        item = pydicom.Dataset()
        item.RealWorldValueSlope, item.RealWorldValueIntercept = 0.5, -1.0
        ds.RealWorldValueMappingSequence = [item]

    edit(truth.files, philips)
    stored = read(tmp_path, rescale=False)[0].astype(np.float64)
    fp, h = read(tmp_path, scaling="philips")
    np.testing.assert_allclose(fp, (stored * 2 + 10) / (2 * 4), rtol=1e-6)
    block = h.template.private_block(0x0009, "IMAGEDATA")
    assert block[0x01].value == "philips"
    rwv, h = read(tmp_path, scaling="realworld")
    np.testing.assert_allclose(rwv, stored * 0.5 - 1.0)
    assert h.template.private_block(0x0009, "IMAGEDATA")[0x01].value == "realworld"
    modality, h = read(tmp_path)
    np.testing.assert_allclose(modality, truth.data)
    assert h.template.private_block(0x0009, "IMAGEDATA")[0x01].value == "modality"
    with pytest.raises(ValueError):
        read(tmp_path, scaling="bogus")


def test_hc8_signed_bits_stored_sign_extension(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(2, 3, 4), dtype=np.int16)
    values = np.array(
        [[-2048, -1, 0, 1], [2047, -100, 100, 5], [-7, 7, -2000, 2000]], dtype=np.int16
    )

    def twelve_bits(ds: pydicom.Dataset, i: int) -> None:
        ds.BitsStored, ds.HighBit = 12, 11
        raw = values.view(np.uint16) & 0x0FFF
        raw[0, 0] |= 0xA000  # garbage in the unused high bits
        ds.PixelData = raw.astype("<u2").tobytes()

    edit(truth.files, twelve_bits)
    arr, _ = read(tmp_path)
    assert arr.dtype == np.int16
    np.testing.assert_array_equal(arr[0], values)
    ref = pydicom.dcmread(truth.files[0]).pixel_array
    np.testing.assert_array_equal(arr[1], ref)


def test_unsigned_bits_stored_masks_high_bits(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(2, 3, 4))

    def overlay_bits(ds: pydicom.Dataset, i: int) -> None:
        ds.BitsStored, ds.HighBit = 12, 11
        raw = ds.pixel_array.astype(np.uint16) | 0x8000
        ds.PixelData = raw.tobytes()

    edit(truth.files, overlay_bits)
    arr, _ = read(tmp_path)
    np.testing.assert_array_equal(arr, truth.data)


@pytest.mark.parametrize(
    "name",
    [
        "MR_small.dcm",
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_expb.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_padded.dcm",
        "JPEG2000.dcm",
        "JPGExtended.dcm",
        "JPEGLSNearLossless_16.dcm",
        "SC_rgb_jpeg_gdcm.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
        "SC_rgb_rle_16bit.dcm",
        "SC_rgb_small_odd_big_endian.dcm",
        "SC_ybr_full_422_uncompressed.dcm",
        "examples_ybr_color.dcm",
        "image_dfl.dcm",
        "liver_expb_1frame.dcm",
        "rtdose_rle.dcm",
    ],
)
def test_transfer_syntaxes_match_pydicom(name: str) -> None:
    path = PYDICOM_FILES / name
    ds = pydicom.dcmread(path)
    ref = ds.pixel_array
    arr, h = read(path, rescale=False)
    assert arr.size == ref.size
    np.testing.assert_array_equal(arr.reshape(ref.shape), ref)
    assert h.axes[-1].name == ("rgb" if ds.SamplesPerPixel == 3 else "column")


def test_ct_small_rescaled_matches_pydicom() -> None:
    path = PYDICOM_FILES / "CT_small.dcm"
    ds = pydicom.dcmread(path)
    arr, _ = read(path)
    expected = ds.pixel_array.astype(np.int64) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
    np.testing.assert_array_equal(arr, expected)  # one image: 2-D


def test_rgb_axis() -> None:
    arr, h = read(PYDICOM_FILES / "examples_rgb_color.dcm")
    assert arr.shape == (240, 320, 3)  # one image: (rows, columns, rgb)
    assert [a.name for a in h.axes] == ["row", "column", "rgb"]
    np.testing.assert_array_equal(
        arr, pydicom.dcmread(PYDICOM_FILES / "examples_rgb_color.dcm").pixel_array
    )


def test_palette_colour_read_as_rgb() -> None:
    from pydicom.pixels import apply_color_lut

    path = PYDICOM_FILES / "examples_palette.dcm"
    ds = pydicom.dcmread(path)
    arr, h = read(path)
    assert arr.shape == (ds.Rows, ds.Columns, 3) and h.axes[-1].name == "rgb"
    np.testing.assert_array_equal(arr, apply_color_lut(ds.pixel_array, ds))


def test_hc16_missing_decoder_names_syntax_and_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydicom.pixels.decoders.base import Decoder

    from imagedata.formats.dicom import _codecs

    monkeypatch.setattr(Decoder, "is_available", property(lambda self: False))
    monkeypatch.setattr(_codecs, "_decoder", lambda name: None)  # no imagecodecs either
    with pytest.raises(MissingDependencyError) as info:
        read(PYDICOM_FILES / "MR_small_jp2klossless.dcm")
    msg = str(info.value)
    assert "JPEG 2000" in msg and "pip install 'imagedata[jpeg]'" in msg
    assert isinstance(info.value, ImportError)


def test_float_pixel_data(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(2, 3, 4))

    def to_float(ds: pydicom.Dataset, i: int) -> None:
        values = ds.pixel_array.astype(np.float32) / 3
        for kw in ("PixelData", "PixelRepresentation", "BitsStored", "HighBit"):
            delattr(ds, kw)
        ds.BitsAllocated = 32
        ds.FloatPixelData = values.tobytes()

    edit(truth.files, to_float)
    arr, _ = read(tmp_path)
    assert arr.dtype == np.float32
    np.testing.assert_allclose(arr, truth.data / 3, rtol=1e-6)


@pytest.mark.parametrize(
    "creators",
    [{}, {0x10: "OTHER"}, {0x10: "OTHER", 0x12: "IMAGEDATA"}, {0x11: "IMAGEDATA", 0x12: "X"}],
)
def test_private_block_is_pydicoms(creators: dict[int, str]) -> None:
    """imagedata's private block is found or made where pydicom's private_block puts it."""
    from pydicom.dataset import Dataset

    from imagedata.formats.dicom._derived import PRIVATE_CREATOR, PRIVATE_GROUP, private_block

    def start() -> Dataset:
        ds = Dataset()
        ds.PatientID = "p"
        for element, name in creators.items():
            ds.add_new((PRIVATE_GROUP << 16) | element, "LO", name)
        return ds

    fast, slow = start(), start()
    for low, vr, value in [(0x01, "LO", "modality"), (0x02, "UT", "1.2\\1.3"), (0x06, "FD", [1.5])]:
        private_block(fast).add(low, vr, value)
        slow.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True).add_new(low, vr, value)
    assert [(e.tag, e.VR, e.value, e.private_creator) for e in fast] == [
        (e.tag, e.VR, e.value, e.private_creator) for e in slow
    ]
