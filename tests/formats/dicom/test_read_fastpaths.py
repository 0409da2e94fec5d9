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


def _signature_files(tmp_path: Path) -> list[list[Path]]:
    """Folders of real files for the signature test: dcm_qa, nibabel's Philips enhanced
    file, pydicom-data's enhanced files, a generated Philips DWI series."""
    from imagedata.testing.vendor import make_philips_dwi
    from tests.formats.dicom._readutil import nibabel_file

    folders = [[p] for p in sorted((SHARED_DATA / "dcm_qa").glob("*/In"))]
    folders.append([nibabel_file("philips_mprage.dcm.gz", tmp_path)])
    try:
        import data_store  # pydicom-data

        store = Path(data_store.__file__).parent / "data"
        folders.append([store / n for n in ("eCT_Supplemental.dcm",) if (store / n).is_file()])
    except ImportError:
        pass
    folders.append([make_philips_dwi(tmp_path / "dwi", nslices=3, directions=4).path])
    return [f for f in folders if f]


def _images_of(paths: list[Path]) -> list:  # type: ignore[type-arg]
    from imagedata.formats.dicom._scan import scan
    from imagedata.formats.dicom.reader import images_checked

    members = [m for p in paths for m in expand(str(p))]
    return [img for info in scan(members, True, None) for img in images_checked(info)]


def test_signature_memo_equals_each_image(tmp_path: Path) -> None:
    """Every image's group signature, memoized by file, matrix and the per-image values
    it reads, is the one computed for a fresh copy of the image alone (dcm_qa, enhanced
    files of nibabel and pydicom-data, a generated Philips DWI series)."""
    from imagedata.formats.dicom import _group

    if not (SHARED_DATA / "dcm_qa").is_dir():
        pytest.skip(f"dcm_qa not found in {SHARED_DATA} (../shared/data is not beside the repo)")
    checked = reused = philips = frames = 0
    for paths in _signature_files(tmp_path):
        memo: dict = {}  # one per folder, as group_images has (the files stay alive)
        images, fresh = _images_of(paths), _images_of(paths)
        assert len(images) == len(fresh) > 0
        for img, ref in zip(images, fresh):
            before = len(memo)
            got = _group._signature_of(img, memo)
            assert got == _group._signature(ref), img.name
            checked += 1
            reused += len(memo) == before
            if img.file.nframes > 1:
                frames += 1
            if "PHILIPS" in str(img.file.get("Manufacturer", "")).upper():
                philips += 1
    assert checked > 1000 and reused > 500 and frames > 200 and philips > 100


@pytest.mark.parametrize(
    ("b", "g"),
    [
        (1000.0, [0.0, 0.0, 0.0]),  # trace
        (1000.0, [-0.0, 0.0, 0.0]),
        (1000, (0.0, 0.0, 0.0)),
        (1000.0, [0.0, 1.0, 0.0]),
        (0.0, [0.0, 0.0, 0.0]),
        (-0.0, [0.0, 0.0, 0.0]),
        ("1000", ["0", "0", "0"]),
        (None, None),
    ],
)
def test_signature_memo_with_per_frame_diffusion(tmp_path: Path, b: object, g: object) -> None:
    """Per-frame b-values and gradients of Philips enhanced frames (the trace test's
    inputs), of every kind of value, give the signature computed image by image."""
    from imagedata.formats.dicom import _group
    from tests.formats.dicom._readutil import nibabel_file

    paths = [nibabel_file("philips_mprage.dcm.gz", tmp_path)]
    images, fresh = _images_of(paths), _images_of(paths)
    memo: dict = {}
    traces = set()
    for k, (img, ref) in enumerate(zip(images, fresh)):
        for x in (img, ref):  # half the frames with the value, half without
            if k % 2 and b is not None:
                x.extra["DiffusionBValue"] = b
                x.extra["DiffusionGradientOrientation"] = g
        got = _group._signature_of(img, memo)
        assert got == _group._signature(ref), img.name
        traces.add(got[_group._TRACE])
    assert traces == (
        {True, False}
        if b in (1000, 1000.0, "1000") and not any(float(v) for v in g or [1])
        else {False}
    )
