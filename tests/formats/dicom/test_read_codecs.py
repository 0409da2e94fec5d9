"""JPEG 2000 / JPEG-LS / lossless JPEG decoded by imagecodecs in threads, into the array.

Every monochrome JPEG 2000, JPEG-LS and lossless JPEG file shipped with pydicom (signed, unsigned,
12/13/14/16 bits, a codestream whose sign disagrees with PixelRepresentation) must give
exactly what pydicom's own decoders give; a threaded read of a compressed series must
equal the uncompressed truth; without imagecodecs the pydicom path gives the same.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from imagedata.archives import expand
from imagedata.errors import ReadError
from imagedata.formats.dicom import _codecs, _pixels
from imagedata.formats.dicom._scan import scan
from imagedata.formats.dicom.reader import images_of, read_series
from imagedata.testing import make_dicom_series
from tests.conftest import SHARED_DATA

pytest.importorskip("imagecodecs")

ROOT = Path(get_testdata_file("CT_small.dcm")).parent


def _monochrome_files() -> list[str]:
    out = []
    for f in sorted(ROOT.glob("*.dcm")):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except Exception:
            continue
        ts = str(ds.file_meta.get("TransferSyntaxUID", ""))
        monochrome = "Rows" in ds and int(ds.get("SamplesPerPixel", 1)) == 1
        bits = int(ds.get("BitsAllocated", 16))  # 32 bits: pydicom decodes
        if ts in _codecs.CODECS and monochrome and bits in (8, 16):
            out.append(f.name)
    return out


FILES = _monochrome_files()


def test_the_set_covers_both_codecs_and_signs() -> None:
    kinds = set()
    for name in FILES:
        ds = pydicom.dcmread(ROOT / name, stop_before_pixels=True)
        kinds.add((_codecs.CODECS[str(ds.file_meta.TransferSyntaxUID)], ds.PixelRepresentation))
    assert {
        ("jpeg2k_decode", 1),
        ("jpegls_decode", 0),
        ("jpegls_decode", 1),
        ("dicomrle_decode", 1),
    } <= kinds


@pytest.mark.parametrize("name", FILES)
def test_frames_equal_pydicom(name: str) -> None:
    ds = pydicom.dcmread(ROOT / name)
    try:
        want = ds.pixel_array
    except Exception as err:
        pytest.skip(f"pydicom cannot decode {name} either: {err}")
    (info,) = scan(expand(str(ROOT / name)), False, None)
    assert _codecs.handles(info)
    imgs = images_of(info)
    flat = np.empty((len(imgs), int(ds.Rows), int(ds.Columns)), dtype=_pixels.stored_dtype(info))
    slots = [(i, img, 1.0, 0.0) for i, img in enumerate(imgs)]
    assert _codecs.decode_into(info, slots, flat, _pixels.store)
    np.testing.assert_array_equal(flat, want.reshape(flat.shape))


TS_FILES = SHARED_DATA / "dcm_qa" / "dcm_qa_ts" / "In"


@pytest.mark.parametrize("name", ["4.dcm", "5.dcm", "6.dcm", "7.dcm", "8.dcm", "9.dcm"])
def test_scanner_files_in_every_codec_equal_the_uncompressed_one(name: str) -> None:
    """dcm_qa_ts: one Siemens image stored as RLE, lossless JPEG (two encoders), JPEG-LS
    (two encoders) and JPEG 2000; all must decode to the uncompressed file's values."""
    if not TS_FILES.is_dir():
        pytest.skip(f"dcm_qa_ts not found at {TS_FILES} (../shared/data is not beside the repo)")
    want, _ = read_series(expand(str(TS_FILES / "1.dcm")))  # a mosaic: 64x64 tiles
    (info,) = scan(expand(str(TS_FILES / name)), False, None)
    assert _codecs.handles(info)
    calls: list[int] = []
    decode = _codecs._decoder(_codecs.CODECS[str(info.transfer_syntax)])
    assert decode is not None

    def counting(name: str) -> object:
        def run(*args: object, **kwargs: object) -> object:
            calls.append(1)
            return decode(*args, **kwargs)

        return run

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_codecs, "_decoder", counting)
        got, _ = read_series(expand(str(TS_FILES / name)), workers=2)
    np.testing.assert_array_equal(got, want)
    assert len(calls) == 1, "a mosaic frame is decoded once for all its tiles"


def _compressed_series(tmp: Path, uid: str, n: int = 12) -> tuple[Path, np.ndarray]:
    truth = make_dicom_series(tmp / "plain", shape=(n, 48, 40), modality="CT", dtype=np.int16)
    rng = np.random.default_rng(0)
    data = rng.normal(0, 400, truth.data.shape).astype(np.int16)
    out = tmp / "c"
    out.mkdir()
    for f in truth.files:
        ds = pydicom.dcmread(f)
        k = int(ds.InstanceNumber) - 1
        ds.PixelData = data[k].tobytes()
        ds.compress(uid)
        ds.save_as(out / Path(f).name)
    return out, data


@pytest.mark.parametrize(
    "uid", ["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.5"]
)
def test_threaded_read_equals_truth_and_pydicom_path(tmp_path, monkeypatch, uid) -> None:
    folder, data = _compressed_series(tmp_path, uid)
    members = expand(str(folder))
    arr, _ = read_series(members, workers=4)
    np.testing.assert_array_equal(arr, data)
    # rescaled into another dtype: decoded into a scratch frame, then stored
    for f in sorted(os.listdir(folder)):
        ds = pydicom.dcmread(folder / f)
        ds.RescaleSlope, ds.RescaleIntercept = 2, -5
        ds.save_as(folder / f)
    scaled, _ = read_series(expand(str(folder)), workers=4)
    np.testing.assert_array_equal(scaled, data.astype(np.int32) * 2 - 5)
    # without imagecodecs, pydicom decodes the same values
    monkeypatch.setattr(_codecs, "_decoder", lambda name: None)
    again, _ = read_series(expand(str(folder)), workers=4)
    np.testing.assert_array_equal(again, scaled)


def test_broken_codestream_names_the_file(tmp_path) -> None:
    from pydicom.encaps import encapsulate

    from imagedata.errors import ReadError

    folder, _ = _compressed_series(tmp_path, "1.2.840.10008.1.2.4.90", n=4)
    victim = sorted(folder.iterdir())[1]
    ds = pydicom.dcmread(victim)
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x00" * 20])  # SOC, cut SIZ
    ds.save_as(victim)
    with pytest.raises(ReadError, match=victim.name):
        read_series(expand(str(folder)), workers=2)


def _j2k_files() -> list[Path]:
    out = []
    for name in FILES:
        ds = pydicom.dcmread(ROOT / name, stop_before_pixels=True)
        if _codecs.CODECS[str(ds.file_meta.TransferSyntaxUID)] == "jpeg2k_decode":
            out.append(ROOT / name)
    if (TS_FILES / "9.dcm").is_file():
        out.append(TS_FILES / "9.dcm")
    return out


def test_jpeg2000_threads_decode_the_same_bits() -> None:
    """OpenJPEG shares a frame out over threads (a series of few files): same values."""
    files = _j2k_files()
    compared = 0
    for f in files:
        (info,) = scan(expand(str(f)), False, None)
        imgs = images_of(info)
        rows, cols = int(info.get("Rows")), int(info.get("Columns"))
        got = []
        for threads in (1, 2, 4):
            flat = np.zeros((len(imgs), imgs[0].rows, imgs[0].cols), _pixels.stored_dtype(info))
            slots = [(i, img, 1.0, 0.0) for i, img in enumerate(imgs)]
            try:
                ok = _codecs.decode_into(info, slots, flat, _pixels.store, threads)
            except Exception:  # a codestream pydicom cannot decode either (skipped above)
                break
            assert ok and (rows, cols) == (int(info.get("Rows")), int(info.get("Columns")))
            got.append(flat)
        for other in got[1:]:
            assert other.tobytes() == got[0].tobytes(), f.name
        compared += len(got) == 3
    assert compared >= 3


def test_few_files_give_the_codec_the_threads(tmp_path: Path) -> None:
    """Fewer than four files are decoded one after the other, each with every core."""
    folder, data = _compressed_series(tmp_path, "1.2.840.10008.1.2.4.90", n=2)
    asked: list[int] = []
    real = _codecs._decoder("jpeg2k_decode")
    assert real is not None

    def spy(name: str) -> object:
        def run(data: bytes, out: object = None, threads: int = 1, size: int = 0) -> object:
            asked.append(threads)
            return real(data, out=out, threads=threads, size=size)

        return run

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_codecs, "_decoder", spy)
        arr, _ = read_series(expand(str(folder)))
        one, _ = read_series(expand(str(folder)), workers=1)
    np.testing.assert_array_equal(arr, data)
    np.testing.assert_array_equal(one, data)
    assert asked[:2] == [os.cpu_count() or 1] * 2 and asked[2:] == [1, 1]


def test_rle_segments_must_match_the_sample_size(tmp_path: Path) -> None:
    """An RLE frame with one segment in a 16-bit file is an error, never 8-bit values."""
    from imagedata.errors import ReadError

    truth = make_dicom_series(tmp_path / "plain", shape=(1, 8, 8))
    ds = pydicom.dcmread(truth.files[0])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.arange(64, dtype=np.uint8).tobytes()
    ds.compress("1.2.840.10008.1.2.5")  # one segment per frame
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.save_as(tmp_path / "lying.dcm")
    members = expand(str(tmp_path / "lying.dcm"))
    with pytest.raises(ReadError, match=r"lying\.dcm.*segments"):
        read_series(members)
    with pytest.raises(ReadError, match=r"lying\.dcm"):  # pydicom refuses it too
        pydicom_read = _pixels._decode
        (info,) = scan(members, False, None)
        pydicom_read(info)


@pytest.mark.parametrize("ts", ["1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90"])
def test_frame_without_end_marker_is_named(tmp_path: Path, ts: str) -> None:
    """A frame cut short decodes without a decoder error: the file is named in a warning."""
    from pydicom.encaps import encapsulate, generate_frames

    source = next(
        ROOT / f
        for f in FILES
        if str(pydicom.dcmread(ROOT / f, stop_before_pixels=True).file_meta.TransferSyntaxUID) == ts
    )
    intact = tmp_path / "intact"
    intact.mkdir()
    ds = pydicom.dcmread(source)
    ds.save_as(intact / "a.dcm")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the intact file gives no warning
        read_series(list(expand(intact)))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([frame[: len(frame) // 2]])
    cut = tmp_path / "cut"
    cut.mkdir()
    ds.save_as(cut / "b.dcm")
    # a decoder that notices the cut raises, naming the file: also not silent
    named = r"b\.dcm: 1 compressed frame\(s\) \(0\) do not end"
    with pytest.warns(UserWarning, match=named), contextlib.suppress(ReadError):
        read_series(list(expand(cut)))
