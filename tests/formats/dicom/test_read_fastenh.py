"""The fast path for enhanced multi-frame files gives what pydicom gives.

:mod:`imagedata._fastenh` reads the functional groups straight from the bytes; every
case here is read twice, through it and through pydicom (the fast path switched off),
and the per-frame values and the Series (shape, affine, axes, voxels, template) must be
equal.  Files the walker does not handle must fall back to pydicom (and still be equal).
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from imagedata import _fastenh, _fastscan
from imagedata.archives import expand
from imagedata.axis import tag_axis
from imagedata.errors import HeaderError, ReadError
from imagedata.formats.dicom import _enhanced, _scan
from imagedata.formats.dicom.reader import images_of, read_group, scan_groups
from imagedata.formats.dicom.writer import write_series
from tests.conftest import SHARED_DATA
from tests.formats.dicom._helpers import make_series
from tests.formats.dicom._readutil import nibabel_file, parse_with_walk

DCM_QA_ENH = SHARED_DATA / "dcm_qa" / "dcm_qa_enh" / "In"


def _enhanced_files(root: Path) -> list[Path]:
    """Enhanced (functional-group) DICOM files under `root`."""
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.stat().st_size > 132:
            with p.open("rb") as f:
                if f.read(132)[128:] != b"DICM":
                    continue
            ds = pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["SOPClassUID"])
            if "Enhanced" in getattr(ds.get("SOPClassUID"), "name", ""):
                out.append(p)
    return out


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Call the fixture to switch the fast path off (functional groups read by pydicom)."""
    yield lambda: monkeypatch.setattr(_fastscan, "_GROUPS", frozenset())


def _infos(path: Path) -> tuple[_scan.FileInfo, _scan.FileInfo]:
    """(header pass as it runs, pydicom's header pass) of one file."""
    member = expand(path)[0]
    fast = _scan.read_header(member)
    slow = _scan._pydicom_header(member)
    assert fast is not None and slow is not None
    return fast, slow


def _same_value(a: Any, b: Any, what: str) -> None:
    if isinstance(b, MultiValue):
        b = list(b)
    assert a == b and str(a) == str(b), what  # str: the repeats digest compares str()
    assert type(a) is type(b) or (isinstance(a, float) and isinstance(b, float)), what


def assert_same_frames(path: Path, *, fast: bool = True) -> None:
    """Per-frame values of `path`, fast path vs pydicom; `fast`: the fast path was used."""
    a_info, b_info = _infos(path)
    assert (_enhanced.fast_groups(a_info) is not None) is fast, path
    a, b = images_of(a_info), images_of(b_info)
    assert len(a) == len(b) == b_info.nframes
    for x, y in zip(a, b):
        where = f"{path.name} {x.name}"
        np.testing.assert_array_equal(x.position, y.position, err_msg=where)
        np.testing.assert_array_equal(x.iop, y.iop, err_msg=where)
        assert (x.spacing, x.rows, x.cols) == (y.spacing, y.rows, y.cols), where
        assert (x.slope, x.intercept, x.resolution) == (y.slope, y.intercept, y.resolution)
        assert x.extra.keys() == y.extra.keys(), where
        for k in x.extra:
            _same_value(x.extra[k], y.extra[k], f"{where} {k}")
    for kw in _fastscan.KNOWN:  # top level: text either way, or converted by pydicom
        va, vb = a_info.get(kw), b_info.get(kw)
        vb = list(vb) if isinstance(vb, MultiValue) else vb
        assert str(va) == str(vb), f"{path.name} {kw}"


def _read_all(path: Path) -> list[tuple[np.ndarray, Any]]:
    return [read_group(g) for g in scan_groups(expand(path))]


def assert_same_series(path: Path, slow: Callable[[], None]) -> None:
    """Every series in `path`, fast path vs pydicom: shape, geometry, axes, voxels, template."""
    fast = _read_all(path)
    slow()
    ref = _read_all(path)
    assert len(fast) == len(ref)
    for (a, ha), (b, hb) in zip(fast, ref):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ha.affine, hb.affine)
        assert ha.input_order == hb.input_order
        assert [x.name for x in ha.axes] == [x.name for x in hb.axes]
        for x, y in zip(ha.axes, hb.axes):
            assert str(x) == str(y)
            if hasattr(x, "values"):
                np.testing.assert_array_equal(np.asarray(x.values), np.asarray(y.values))
        assert (ha.positions is None) == (hb.positions is None)
        ta, tb = ha.template, hb.template
        assert list(ta.keys()) == list(tb.keys())
        for tag in tb.keys():  # noqa: SIM118
            assert str(ta[tag].value) == str(tb[tag].value), tag


# ---- real files ------------------------------------------------------------------------


def test_dcm_qa_enh_frames_and_series(slow: Callable[[], None]) -> None:
    if not DCM_QA_ENH.is_dir():
        pytest.skip(
            f"dcm_qa data not found at {DCM_QA_ENH} (../shared/data is not beside the repo)"
        )
    files = _enhanced_files(SHARED_DATA)
    assert len(files) >= 5  # dcm_qa_enh: Philips field map, Siemens XA10 (README)
    for f in files:
        assert_same_frames(f)
    assert_same_series(DCM_QA_ENH, slow)


def test_nibabel_philips_mprage(tmp_path: Path, slow: Callable[[], None]) -> None:
    f = nibabel_file("philips_mprage.dcm.gz", tmp_path)
    assert_same_frames(f)
    assert_same_series(f, slow)


def test_pydicom_data_enhanced_ct(tmp_path: Path, slow: Callable[[], None]) -> None:
    """pydicom-data's Enhanced CT (2 frames; the test dependency group installs it)."""
    data_store = pytest.importorskip("data_store", reason="pydicom-data is not installed")
    src = Path(data_store.__file__).parent / "data" / "eCT_Supplemental.dcm"
    f = tmp_path / src.name
    f.write_bytes(src.read_bytes())  # alone in a folder: the series
    assert_same_frames(f)
    assert_same_series(f, slow)


# ---- generated files -------------------------------------------------------------------


def _written(tmp_path: Path, shape: tuple[int, ...], order: str, modality: str = "MR") -> Path:
    si, _ = make_series(tmp_path, shape, order=order, modality=modality, orientation="oblique")
    return Path(write_series(si, tmp_path / "out", enhanced=True)[0])


@pytest.mark.parametrize(
    ("shape", "order", "modality"),
    [
        ((4, 6, 8), "none", "MR"),
        ((3, 4, 6, 8), "time", "MR"),
        ((3, 4, 6, 8), "b", "MR"),
        ((2, 4, 6, 8), "te", "MR"),
        ((2, 4, 6, 8), "triggertime", "MR"),
        ((2, 4, 6, 8), "time", "CT"),
    ],
)
def test_written_enhanced(
    tmp_path: Path, slow: Callable[[], None], shape: tuple[int, ...], order: str, modality: str
) -> None:
    f = _written(tmp_path, shape, order, modality)
    assert_same_frames(f)
    assert_same_series(f.parent, slow)


def test_written_compressed(tmp_path: Path, slow: Callable[[], None]) -> None:
    si, _ = make_series(tmp_path, (2, 3, 16, 24), order="time")
    f = Path(write_series(si, tmp_path / "out", enhanced=True, compression="rle")[0])
    assert pydicom.dcmread(f, stop_before_pixels=True).file_meta.TransferSyntaxUID.is_compressed
    assert_same_frames(f)
    assert_same_series(f.parent, slow)


def test_written_dti(tmp_path: Path, slow: Callable[[], None]) -> None:
    si, _ = make_series(tmp_path, (3, 4, 6, 8), order="b")
    dirs = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.6, 0.8]]
    dti = np.array([[b, *g] for b, g in zip([0.0, 1000.0, 1000.0], dirs)])
    si.header = si.header.with_axes((tag_axis("dti", dti), *si.header.axes[1:]))
    f = Path(write_series(si, tmp_path / "out", enhanced=True)[0])
    assert_same_frames(f)
    assert_same_series(f.parent, slow)


def _edited(tmp_path: Path, change: Callable[[Dataset], Any], **save: Any) -> Path:
    f = _written(tmp_path, (2, 3, 6, 8), "time")
    ds = pydicom.dcmread(f)
    change(ds)
    ds.save_as(f, enforce_file_format=True, **save)
    return f


def _undefined_lengths(ds: Dataset) -> None:
    """Every sequence and item of undefined length (as scanners write them)."""
    for elem in ds.iterall():
        if elem.VR == "SQ":
            elem.is_undefined_length = True
            for item in elem.value:
                item.is_undefined_length_sequence_item = True


def _private_sequences(ds: Dataset) -> None:
    """Private sequences in every functional-group item, one nested (as Philips has)."""
    for fg in [*ds.PerFrameFunctionalGroupsSequence, *ds.SharedFunctionalGroupsSequence]:
        inner = Dataset()
        inner.ImagePositionPatient = [1, 2, 3]  # not the frame's: must not be used
        inner.add_new(0x00091010, "LO", "VENDOR")
        inner.add_new(0x00091020, "SQ", Sequence([Dataset()]))
        outer = Dataset()
        outer.PlanePositionSequence = [inner]  # a wanted name inside a private item
        fg.add_new(0x00090010, "LO", "VENDOR")
        fg.add_new(0x00091001, "SQ", Sequence([outer]))
        fg.add_new(0x00091002, "OB", b"\xfe\xff\x00\xe0" * 4)  # item tags as data
        fg.add_new(0x00091003, "SV", [1, -2])  # a 64-bit VR: 4-byte length
        fg.add_new(0x00091004, "UV", [3])


def _implicit_private_sequence(ds: Dataset) -> None:
    """A private sequence of undefined length with VR UN (implicit VR inside)."""
    raw = Dataset()
    raw.add_new(0x00091010, "LO", "X")
    body = pydicom.filebase.DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, True
    pydicom.filewriter.write_dataset(body, raw)
    item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + body.getvalue()
    value = item + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)  # pydicom adds the delimiter
    for fg in ds.PerFrameFunctionalGroupsSequence:
        fg.add_new(0x00090010, "LO", "VENDOR")
        elem = pydicom.DataElement(0x00091001, "UN", value)
        elem.is_undefined_length = True
        fg[0x00091001] = elem


def _shared_orientation(ds: Dataset) -> None:
    """Orientation and pixel measures only in the shared group, of undefined length."""
    shared = ds.SharedFunctionalGroupsSequence[0]
    first = ds.PerFrameFunctionalGroupsSequence[0]
    for kw in ("PlaneOrientationSequence", "PixelMeasuresSequence"):
        if kw in first:
            shared[kw] = first[kw]
        for fg in ds.PerFrameFunctionalGroupsSequence:
            if kw in fg:
                del fg[kw]
    ds.SharedFunctionalGroupsSequence[0].is_undefined_length_sequence_item = True


def _empty_and_odd_values(ds: Dataset) -> None:
    frames = ds.PerFrameFunctionalGroupsSequence
    frames[0].FrameContentSequence[0].StackID = ""
    frames[1].FrameContentSequence[0].DimensionIndexValues = 7  # one value
    pvt = Dataset()
    pvt.RescaleSlope, pvt.RescaleIntercept, pvt.RescaleType = "0", "-1.50", "US"
    frames[2].PixelValueTransformationSequence = [pvt]
    frames[3].PlanePositionSequence[0].ImagePositionPatient = ["1.5", " -2.25", "3e1"]


@pytest.mark.parametrize(
    "change",
    [_undefined_lengths, _private_sequences, _implicit_private_sequence, _shared_orientation],
)
def test_odd_structures_fast(
    tmp_path: Path, slow: Callable[[], None], change: Callable[[Dataset], Any]
) -> None:
    f = _edited(tmp_path, change)
    assert_same_frames(f)
    assert_same_series(f.parent, slow)


def test_odd_values_fast(tmp_path: Path) -> None:
    # A frame at another position breaks the series, so frames only (no Series).
    assert_same_frames(_edited(tmp_path, _empty_and_odd_values))


def _wrong_vr(ds: Dataset) -> None:
    item = ds.PerFrameFunctionalGroupsSequence[0].FrameContentSequence[0]
    item[0x00209056] = pydicom.DataElement(0x00209056, "LO", "1")  # StackID is SH


def _latin1(ds: Dataset) -> None:
    ds.SpecificCharacterSet = "ISO_IR 100"
    for fg in ds.PerFrameFunctionalGroupsSequence:
        fg.FrameContentSequence[0].StackID = "é1"


def _other_class(ds: Dataset) -> None:
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"


@pytest.mark.parametrize("change", [_wrong_vr, _latin1, _other_class])
def test_unhandled_falls_back(tmp_path: Path, change: Callable[[Dataset], Any]) -> None:
    assert_same_frames(_edited(tmp_path, change), fast=False)


@pytest.mark.parametrize(
    "syntax", [pydicom.uid.ImplicitVRLittleEndian, pydicom.uid.ExplicitVRBigEndian]
)
def test_other_transfer_syntaxes_fall_back(tmp_path: Path, syntax: pydicom.uid.UID) -> None:
    def change(ds: Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = syntax

    f = _written(tmp_path, (2, 3, 6, 8), "time")
    ds = pydicom.dcmread(f)
    change(ds)
    pydicom.dcmwrite(
        f,
        ds,
        implicit_vr=syntax.is_implicit_VR,
        little_endian=syntax.is_little_endian,
        force_encoding=True,
    )
    assert_same_frames(f, fast=False)


def test_missing_per_frame_items_same_error(tmp_path: Path, slow: Callable[[], None]) -> None:
    def fewer(ds: Dataset) -> None:
        del ds.PerFrameFunctionalGroupsSequence[2:]

    f = _edited(tmp_path, fewer)
    errors = []
    for switch in (lambda: None, slow):
        switch()
        with pytest.raises(HeaderError, match="frame 3 has no PlanePositionSequence") as info:
            images_of(_scan.read_header(expand(f)[0]))  # type: ignore[arg-type]
        errors.append(str(info.value))
    assert errors[0] == errors[1]


def test_truncated_in_functional_groups(tmp_path: Path) -> None:
    f = _edited(tmp_path, _undefined_lengths)
    data = f.read_bytes()
    at = data.index(struct.pack("<HH", 0x5200, 0x9230))
    f.write_bytes(data[: at + 400])
    with pytest.raises(ReadError, match="truncated"):
        _scan.read_header(expand(f)[0])


def _same_dataset_without_per_frame(path: Path) -> _scan.FileInfo:
    """The fast path's dataset is pydicom's without the per-frame groups; the info."""
    fast, _ = _infos(path)
    assert _enhanced.fast_groups(fast) is not None
    full = pydicom.dcmread(path, stop_before_pixels=True)
    assert "PerFrameFunctionalGroupsSequence" not in fast.ds
    if "PerFrameFunctionalGroupsSequence" in full:
        del full.PerFrameFunctionalGroupsSequence
    assert list(fast.ds.keys()) == list(full.keys())
    assert fast.ds == full
    assert fast.ds.file_meta == full.file_meta and fast.ds.preamble == full.preamble
    assert fast.ds.original_encoding == full.original_encoding
    return fast


def _raw(ds: Dataset) -> bool:
    """True when the sequences of `ds` are undecoded (pydicom parses them as it reads)."""
    sequences = [e for e in map(ds.get_item, list(ds.keys())) if e.VR in ("SQ", "UN")]
    return bool(sequences) and all(isinstance(e, RawDataElement) for e in sequences)


def test_dataset_real_files(tmp_path: Path) -> None:
    files = [nibabel_file("philips_mprage.dcm.gz", tmp_path)]
    if DCM_QA_ENH.is_dir():
        files += _enhanced_files(DCM_QA_ENH)
    for f in files:
        info = _scan.read_header(expand(f)[0])
        assert info is not None and _raw(info.ds), f  # made from the bytes, not parsed
        _same_dataset_without_per_frame(f)


@pytest.mark.parametrize("change", [_undefined_lengths, _private_sequences, lambda ds: None])
def test_dataset_written(tmp_path: Path, change: Callable[[Dataset], Any]) -> None:
    f = _edited(tmp_path, change)
    info = _scan.read_header(expand(f)[0])
    assert info is not None and _raw(info.ds)
    _same_dataset_without_per_frame(f)


def test_dataset_falls_back_to_pydicom(tmp_path: Path) -> None:
    """A top-level UN of undefined length: pydicom reads it (as a sequence)."""

    def change(ds: Dataset) -> None:
        _implicit_private_sequence(ds)
        ds[0x00091001] = ds.PerFrameFunctionalGroupsSequence[0][0x00091001]
        ds.add_new(0x00090010, "LO", "VENDOR")

    f = _edited(tmp_path, change)
    info = _same_dataset_without_per_frame(f)
    assert not _raw(info.ds)  # pydicom parsed it


def test_siemens_xa_matches_dcm2niix() -> None:
    """Siemens XA10 enhanced fMRI (4 files x 6 frames) against dcm2niix's NIfTI."""
    from tests.formats.dicom.test_read_vendor import _qa, _ref_voxels

    src = _qa("dcm_qa_enh", "In", "Siemens", "XA10")
    ref = _qa("dcm_qa_enh", "Ref", "Siemens_REST1_w_SMS_PF7-8_6.nii")
    assert all(_enhanced.fast_groups(_scan.read_header(m)) for m in expand(src))  # type: ignore[arg-type]
    (arr, h), *more = _read_all(src)
    assert not more and arr.shape == (4, 6, 64, 64) and h.input_order == "time"
    tr = json.loads(ref.with_suffix(".json").read_text())["RepetitionTime"]
    np.testing.assert_allclose(np.diff(h.axes[0].values), tr, atol=1e-3)
    idx, img = _ref_voxels(h, arr, ref)
    data = np.asanyarray(img.dataobj)
    assert data.shape[3] == arr.shape[0]
    for t in range(arr.shape[0]):
        np.testing.assert_array_equal(data[idx[:, 0], idx[:, 1], idx[:, 2], t], arr[t].ravel())


def test_long_header_read_without_the_pixel_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Functional groups beyond the first bytes: more is read, not the whole file."""
    monkeypatch.setattr(_scan, "_MORE_BYTES", 1 << 18)  # a small file must do
    si, _ = make_series(tmp_path, (60, 8, 64, 64), order="time")
    f = Path(write_series(si, tmp_path / "out", enhanced=True)[0])
    assert f.stat().st_size > _scan._MORE_BYTES + 10**6
    asked: list[int] = []
    member = expand(f)[0]
    plain_read = _scan.HeadFile.read  # the header pass reads files on disk through it

    def counting_read(self: Any, n: int) -> bytes:
        asked.append(n)
        return plain_read(self, n)

    monkeypatch.setattr(_scan.HeadFile, "read", counting_read)
    info = _scan.read_header(member, pixel_data=False)
    assert info is not None and _enhanced.fast_groups(info) is not None
    assert info.offset > _scan.HEAD_BYTES  # the pixel data start beyond the first read
    assert asked and all(n > 0 for n in asked) and sum(asked) == _scan._MORE_BYTES
    assert len(images_of(info)) == 480


def _c_and_python_agree(path: Path, rng: random.Random, n: int) -> None:
    """The C and Python walks give the same result, also cut or damaged in the groups."""
    data = path.read_bytes()
    start = data.index(struct.pack("<HH", 0x5200, 0x9229))
    end = _scan.read_header(expand(path)[0]).offset  # type: ignore[union-attr]
    cases = [(data, True), (data[: 1 << 15], False)]
    for _ in range(n):
        cases.append((data[: rng.randrange(start, end)], rng.random() < 0.5))
        flipped = bytearray(data[:end])
        for _ in range(rng.randint(1, 4)):
            flipped[rng.randrange(start, end)] = rng.randrange(256)
        cases.append((bytes(flipped), True))
    for mutant, complete in cases:
        c = parse_with_walk(mutant, complete, accelerated=True)
        python = parse_with_walk(mutant, complete, accelerated=False)
        assert c == python, f"{path.name} {len(mutant)}"
    values, *_ = _fastscan.parse(data, complete=True)
    assert _fastenh.PER_FRAME_KEY in values  # the whole file: read by the fast path


def test_c_walk_agrees(tmp_path: Path) -> None:
    if not _fastscan.ACCELERATED:
        pytest.skip("imagedata._cwalk was not built: only the Python walk is in use")
    rng = random.Random(5)
    files = [nibabel_file("philips_mprage.dcm.gz", tmp_path)]
    files += _enhanced_files(DCM_QA_ENH) if DCM_QA_ENH.is_dir() else []

    def after_groups(ds: Dataset) -> None:  # elements the digest leaves out, right after
        ds.add_new(0x52010010, "LO", "VENDOR")
        ds.add_new(0x52011001, "LO", "x")
        ds.add_new(0x7FE00000, "UL", 0)

    for change in (
        _undefined_lengths,
        _private_sequences,
        _implicit_private_sequence,
        after_groups,
    ):
        (tmp_path / change.__name__).mkdir()
        files.append(_edited(tmp_path / change.__name__, change))
    for f in files:
        _c_and_python_agree(f, rng, 30)


def _frames_or_error(info_of: Callable[[], Any]) -> tuple[bool, Any]:
    """(fast path used, per-frame values) of a file, or (None, the error's type)."""
    try:
        info = info_of()
        used = _enhanced.fast_groups(info) is not None
        frames = [
            (tuple(i.position), tuple(i.iop), i.spacing, i.slope, i.intercept, i.resolution)
            for i in images_of(info)
        ]
        frames += [sorted((k, str(v)) for k, v in i.extra.items()) for i in images_of(info)]
        return used, frames
    except Exception as err:
        return None, type(err)  # type: ignore[return-value]


def test_damaged_groups_never_silently_different(tmp_path: Path) -> None:
    """Bytes flipped in the functional groups: the fast path gives pydicom's frames, or
    falls back to pydicom, or fails as pydicom does."""
    f = _edited(tmp_path, _undefined_lengths)
    data = f.read_bytes()
    start = data.index(struct.pack("<HH", 0x5200, 0x9229))
    end = _scan.read_header(expand(f)[0]).offset  # type: ignore[union-attr]
    rng = random.Random(13)
    outcomes = set()
    for _ in range(150):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            damaged[rng.randrange(start, end)] = rng.randrange(256)
        f.write_bytes(bytes(damaged))
        member = expand(f)[0]
        used, frames = _frames_or_error(lambda: _scan.read_header(member))  # noqa: B023
        _, ref = _frames_or_error(lambda: _scan._pydicom_header(member))  # noqa: B023
        if used:
            assert frames == ref
        elif used is None:
            assert isinstance(ref, type) and issubclass(ref, Exception)
        outcomes.add(used)
    assert outcomes == {True, False, None}  # read fast, fallen back, refused


def test_wrong_item_length_falls_back(tmp_path: Path) -> None:
    """A defined item length running past the end (pydicom reads to the item's end
    delimiter): pydicom's result, not 'truncated'."""
    f = _edited(tmp_path, _undefined_lengths)
    data = bytearray(f.read_bytes())
    at = data.index(
        struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF), data.index(b"\x00\x52\x30\x92")
    )
    data[at + 4 : at + 8] = struct.pack("<I", 0x7FFF0000)
    f.write_bytes(bytes(data))
    assert_same_frames(f, fast=False)


def test_small_uncompressed_multiframe_series_read_without_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Siemens XA10 (4 files x 6 frames, uncompressed): the frames are copied out in the
    calling thread (a thread pool cost more than the copying); from
    THREADED_COPY_BYTES on, and for files to decode, threads are used."""
    from imagedata.formats.dicom import _pixels

    src = SHARED_DATA / "dcm_qa" / "dcm_qa_enh" / "In" / "Siemens" / "XA10"
    if not src.is_dir():
        pytest.skip(f"dcm_qa data not found at {src}")
    (group,) = scan_groups(expand(src))
    pools: list[int] = []
    plain = _pixels.ThreadPoolExecutor

    def counting(*args: Any, **kwargs: Any) -> Any:
        pools.append(1)
        return plain(*args, **kwargs)

    monkeypatch.setattr(_pixels, "ThreadPoolExecutor", counting)
    arr, _ = read_group(group)
    assert pools == [] and arr.shape == (4, 6, 64, 64)
    monkeypatch.setattr(_pixels, "THREADED_COPY_BYTES", arr.nbytes)
    again, _ = read_group(group)
    assert pools == [1]
    np.testing.assert_array_equal(arr, again)
