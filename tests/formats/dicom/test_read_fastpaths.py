"""Faster paths of a small series' read give exactly what the slower paths gave.

Lossless JPEG is decoded by libjpeg-turbo (imagecodecs' ``jpeg8_decode``) with imagecodecs'
ljpeg decoder as the fallback; explicit VR big endian pixel data are read as native
values in their byte order (not through pydicom).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from imagedata.archives import expand
from imagedata.formats.dicom import _codecs, _pixels
from imagedata.formats.dicom.reader import read_series
from imagedata.testing import make_dicom_series
from tests.conftest import SHARED_DATA

TS_FILES = SHARED_DATA / "dcm_qa" / "dcm_qa_ts" / "In"


def _imagecodecs():  # type: ignore[no-untyped-def]
    return pytest.importorskip("imagecodecs")


@pytest.mark.parametrize("bits", [2, 8, 10, 12, 16])
@pytest.mark.parametrize("predictor", range(1, 8))
def test_lossless_jpeg_by_turbo_equals_ljpeg(bits: int, predictor: int) -> None:
    ic = _imagecodecs()
    if not ic.JPEG8.available:
        pytest.skip("imagecodecs without libjpeg-turbo")
    rng = np.random.default_rng(bits * 10 + predictor)
    truth = rng.integers(0, 1 << bits, (37, 53)).astype("u1" if bits <= 8 else "u2")
    frame = ic.jpeg8_encode(truth, lossless=True, predictor=predictor, bitspersample=bits)
    decode = _codecs._decoder("ljpeg_decode")
    assert decode is not None
    got = decode(frame)
    np.testing.assert_array_equal(got, truth)
    np.testing.assert_array_equal(got, ic.ljpeg_decode(frame))
    out = np.empty_like(truth)
    decode(frame, out=out)  # into the array
    np.testing.assert_array_equal(out, truth)
    with pytest.raises(ValueError):  # a wrong `out`: the caller decodes into a new array
        decode(frame, out=np.empty((37, 54), truth.dtype))


def test_lossless_jpeg_falls_back_to_ljpeg_when_turbo_refuses() -> None:
    ic = _imagecodecs()
    truth = np.arange(12 * 10, dtype="u2").reshape(12, 10) * 7
    frame = ic.jpeg8_encode(truth, lossless=True, bitspersample=12)
    calls: list[str] = []

    def refusing(data: bytes, out: object = None) -> np.ndarray:
        calls.append("turbo")
        raise ic.Jpeg8Error("unsupported")

    got = _codecs._ljpeg(refusing, ic.ljpeg_decode, frame, None)
    np.testing.assert_array_equal(got, truth)
    assert calls == ["turbo"]
    with pytest.raises(RuntimeError):  # both refuse: ljpeg's error is raised
        _codecs._ljpeg(refusing, ic.ljpeg_decode, b"\xff\xd8 not a stream", None)


@pytest.mark.parametrize("name", ["5.dcm", "6.dcm"])
def test_scanner_lossless_jpeg_decoded_by_turbo(name: str, monkeypatch) -> None:
    """dcm_qa_ts' lossless JPEG mosaics (two encoders) decode by libjpeg-turbo alone."""
    ic = _imagecodecs()
    if not TS_FILES.is_dir():
        pytest.skip(f"dcm_qa_ts not found at {TS_FILES} (../shared/data is not beside the repo)")
    want, _ = read_series(expand(str(TS_FILES / "1.dcm")))

    def no_ljpeg(*args: object, **kwargs: object) -> None:
        raise AssertionError("ljpeg used")

    _codecs._decoder.cache_clear()
    monkeypatch.setattr(ic, "ljpeg_decode", no_ljpeg)
    try:
        got, _ = read_series(expand(str(TS_FILES / name)))
    finally:
        _codecs._decoder.cache_clear()
    np.testing.assert_array_equal(got, want)


def _no_pydicom_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(info: object) -> None:
        raise AssertionError("pixels decoded through pydicom")

    monkeypatch.setattr(_pixels, "_decode", refuse)


def test_big_endian_mosaic_read_natively(monkeypatch) -> None:
    if not TS_FILES.is_dir():
        pytest.skip(f"dcm_qa_ts not found at {TS_FILES} (../shared/data is not beside the repo)")
    want, wh = read_series(expand(str(TS_FILES / "1.dcm")))
    _no_pydicom_pixels(monkeypatch)
    got, gh = read_series(expand(str(TS_FILES / "3.dcm")))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(gh.affine, wh.affine)


@pytest.mark.parametrize("signed", [0, 1])
@pytest.mark.parametrize("rescale", [False, True])
def test_big_endian_series_equals_pydicom(tmp_path: Path, monkeypatch, signed, rescale) -> None:
    """16-bit big endian values with bits above BitsStored, rescaled or not, as in pydicom."""
    truth = make_dicom_series(tmp_path / "le", shape=(3, 6, 5), dtype=np.int16)
    rng = np.random.default_rng(signed)
    out = tmp_path / "be"
    out.mkdir()
    want = []
    for f in sorted(truth.files):
        ds = pydicom.dcmread(f)
        ds.PixelRepresentation, ds.BitsStored, ds.HighBit = signed, 12, 11
        raw = rng.integers(0, 1 << 16, (6, 5)).astype(">u2")  # junk above bit 12
        ds.PixelData = raw.tobytes()
        ds["PixelData"].VR = "OW"
        if rescale:
            ds.RescaleSlope, ds.RescaleIntercept = 3, -7
        else:
            for kw in ("RescaleSlope", "RescaleIntercept"):
                if kw in ds:
                    delattr(ds, kw)
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian
        for _ in ds.iterall():  # every value decoded: written again in big endian
            pass
        pydicom.dcmwrite(
            out / Path(f).name, ds, implicit_vr=False, little_endian=False, force_encoding=True
        )
        back = pydicom.dcmread(out / Path(f).name)
        values = back.pixel_array.astype(np.int64)
        want.append((int(ds.InstanceNumber), values * 3 - 7 if rescale else values))
    _no_pydicom_pixels(monkeypatch)
    arr, _ = read_series(expand(str(out)), rescale=rescale)
    ref = np.stack([v for _, v in sorted(want)])
    np.testing.assert_array_equal(np.asarray(arr, dtype=np.int64), ref)


def test_eight_bit_big_endian_still_through_pydicom() -> None:
    path = Path(get_testdata_file("SC_rgb_small_odd_big_endian.dcm"))
    ds = pydicom.dcmread(path)
    arr, _ = read_series(expand(str(path)))
    np.testing.assert_array_equal(np.asarray(arr).reshape(ds.pixel_array.shape), ds.pixel_array)


@pytest.mark.parametrize(
    ("vr", "value"),
    [
        ("UT", "1.2.3\\1.2.4"),
        ("UI", "1.2.840.10008.5.1.4.1.1.4"),
        ("FD", [1.0, 2.5]),
        ("UI", "1.2.x"),
    ],
)
def test_private_block_add_equals_add_new(vr: str, value: object) -> None:
    """The template's private elements: as ``add_new`` makes them, warnings included."""
    import warnings

    from imagedata.formats.dicom import _derived

    fast, slow = pydicom.Dataset(), pydicom.Dataset()
    block = _derived.private_block(fast)
    slow_block = _derived.private_block(slow)
    tag = _derived.PRIVATE_GROUP << 16 | slow_block.start << 8 | 0x05
    with warnings.catch_warnings(record=True) as want:
        warnings.simplefilter("always")
        slow.add_new(tag, vr, value)
        slow[tag].private_creator = _derived.PRIVATE_CREATOR
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        block.add(0x05, vr, value)
    assert [str(w.message) for w in got] == [str(w.message) for w in want]
    a, b = fast[tag], slow[tag]
    assert (a.tag, a.VR, a.value, a.private_creator) == (b.tag, b.VR, b.value, b.private_creator)
    assert type(a.tag) is type(b.tag) and list(fast.keys()) == list(slow.keys())
    assert fast.private_block(_derived.PRIVATE_GROUP, _derived.PRIVATE_CREATOR)[0x05].value == (
        b.value
    )


def test_template_copies_decoded_elements(tmp_path: Path) -> None:
    """Elements the reader decoded before the template are copies in it, never shared."""
    from imagedata.formats.dicom import reader

    make_dicom_series(tmp_path, shape=(2, 4, 4))
    (group,) = reader.scan_groups(expand(str(tmp_path)))
    src = group.images[0].ds
    _ = src.SpecificCharacterSet, src.Modality, src.SliceThickness  # decoded now
    _, header = reader.read_group(group)
    out = header.template
    for kw in ("SpecificCharacterSet", "Modality", "SliceThickness"):
        a, b = out[kw], src[kw]
        assert a is not b and a.value == b.value and a.VR == b.VR and a.tag == b.tag
    out.Modality = "CT"
    out["SpecificCharacterSet"].value = "ISO_IR 192"
    assert src.Modality != "CT" and src.SpecificCharacterSet != "ISO_IR 192"


def test_signature_once_per_file_equals_each_image() -> None:
    """Every image's group signature is the one computed for it alone (all dcm_qa images)."""
    from imagedata.formats.dicom import _group
    from imagedata.formats.dicom._scan import scan
    from imagedata.formats.dicom.reader import images_checked

    root = SHARED_DATA / "dcm_qa"
    if not root.is_dir():
        pytest.skip(f"dcm_qa not found at {root} (../shared/data is not beside the repo)")
    memo: dict = {}
    checked = reused = philips = 0
    alive = []  # the memo is by id(file): a file freed could give its id to the next
    for folder in sorted(root.glob("*/In")):
        for info in scan(expand(str(folder)), True, None):
            alive.append(info)
            for img in images_checked(info):
                before = len(memo)
                got = _group._signature_of(img, memo)
                reused += len(memo) == before and got is memo.get(
                    (id(img.file), img.rows, img.cols)
                )
                assert got == _group._signature(img), img.name
                checked += 1
                if "PHILIPS" in str(img.file.get("Manufacturer", "")).upper():
                    philips += 1  # the trace test reads each image: never reused
                    assert (id(img.file), img.rows, img.cols) not in memo
    assert checked > 1000 and reused > 300  # mosaic tiles reuse their file's signature
    assert philips > 10


def test_long_header_read_to_where_the_walk_stopped(tmp_path: Path, monkeypatch) -> None:
    """A header longer than the first read is read on to where the C walk stopped and a
    first read more (not the whole file): the same values as from the whole file."""
    from imagedata import _fastscan
    from imagedata.formats.dicom import _headfile, _scan

    if not _fastscan.ACCELERATED:
        pytest.skip("imagedata._cwalk was not built: the Python walk cannot tell (reads 16 MiB)")
    truth = make_dicom_series(tmp_path, shape=(1, 512, 512))
    path = next(p for p in Path(truth.path).iterdir() if p.is_file())
    ds = pydicom.dcmread(path)
    ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True).add_new(0x20, "OB", bytes(80_000))
    ds.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    with pytest.raises(_fastscan.HeaderContinues) as caught:
        _fastscan.parse(data[: _scan.HEAD_BYTES], probe=True)
    offset = _fastscan.parse(data, complete=True)[2]  # type: ignore[index]
    assert 80_000 < caught.value.needed <= offset  # type: ignore[operator]
    sizes: list[int] = []
    read = _headfile.HeadFile.read
    monkeypatch.setattr(_headfile.HeadFile, "read", lambda f, n: sizes.append(n) or read(f, n))
    values, *rest = _scan._fast_header(expand(str(path))[0])  # type: ignore[misc]
    assert sum(sizes) < len(data) // 2 and len(sizes) == 2  # 512 x 512 x 2 bytes not read
    whole = _fastscan.parse(data, complete=True)
    assert isinstance(whole, tuple)
    values.pop(_headfile.FILE_SIZE)
    assert [values, *rest] == [*whole]
    with monkeypatch.context() as m:  # the Python walk: 16 MiB (the file) at once, same values
        m.setattr(_fastscan, "_cwalk", None)
        sizes.clear()
        values, *rest = _scan._fast_header(expand(str(path))[0])  # type: ignore[misc]
        assert sum(sizes) == len(data)  # (no more than the file holds)
        values.pop(_headfile.FILE_SIZE)
        assert [values, *rest] == [*whole]
