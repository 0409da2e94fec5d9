"""read_group's cheaper paths give exactly what the general paths gave.

Each helper that replaces a pydicom call or a per-image loop in reading one series
(template elements made without decoding the old value, a file's images stored in one
operation, per-file scales, the source record's text, the private block) is compared
with the call it replaces: same element state, same values, same warnings and errors.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from imagedata import geometry
from imagedata.archives import expand
from imagedata.formats.dicom import _codecs, _derived, _pixels, reader
from imagedata.formats.dicom._scan import FileInfo, Image
from imagedata.formats.dicom.reader import scan_groups
from imagedata.testing import make_dicom_series
from tests.conftest import SHARED_DATA

DCM_QA = SHARED_DATA / "dcm_qa"


def _state(elem: Any) -> tuple[Any, ...]:
    """Everything a template element carries (the value as a plain list)."""
    value = elem.value
    plain = list(value) if isinstance(value, pydicom.multival.MultiValue) else value
    return (
        type(elem),
        int(elem.tag),
        elem.VR,
        type(value),
        plain,
        [type(v) for v in plain] if isinstance(plain, list) else None,
        elem.file_tell,
        elem.is_undefined_length,
        elem.private_creator,
        elem.validation_mode,
    )


def _file(tmp_path: Path, implicit: bool = False, **values: str) -> Path:
    """One DICOM file of a generated series, with `values` set (as text) and saved again."""
    truth = make_dicom_series(tmp_path / "s", shape=(1, 4, 6))
    path = next(p for p in sorted(Path(truth.path).rglob("*")) if p.is_file())
    ds = pydicom.dcmread(path)
    for keyword, text in values.items():
        vr = pydicom.datadict.dictionary_VR(keyword)
        ds.add_new(keyword, vr, text)
    out = tmp_path / ("implicit.dcm" if implicit else "explicit.dcm")
    if implicit:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(out, enforce_file_format=True)
    return out


def _both(path: Path) -> tuple[Dataset, Dataset]:
    """The file read twice: its elements raw, as the template holds them."""
    return pydicom.dcmread(path), pydicom.dcmread(path)


@pytest.mark.parametrize("implicit", [False, True])
def test_rows_columns_as_setattr_makes_them(tmp_path: Path, implicit: bool) -> None:
    fast, slow = _both(_file(tmp_path, implicit))
    assert isinstance(fast._dict[reader._ROWS], RawDataElement)
    reader._set_us(fast, reader._ROWS, 3)
    reader._set_us(fast, reader._COLUMNS, 70000 - 69998)
    slow.Rows, slow.Columns = 3, 2
    for tag in (reader._ROWS, reader._COLUMNS):
        assert _state(fast[tag]) == _state(slow[tag])


def test_rows_decoded_before_goes_through_setattr(tmp_path: Path) -> None:
    fast, slow = _both(_file(tmp_path))
    fast.get("Rows"), slow.get("Rows")  # decoded: nothing to save, setattr as before
    reader._set_us(fast, reader._ROWS, 5)
    slow.Rows = 5
    assert _state(fast[reader._ROWS]) == _state(slow[reader._ROWS])


def _drop_slow(ds: Dataset) -> None:
    ds.ImageType = [v for v in ds.ImageType if str(v).upper() != "MOSAIC"]


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize(
    "text",
    [
        "ORIGINAL\\PRIMARY\\M\\ND\\MOSAIC",
        "ORIGINAL\\PRIMARY\\MOSAIC\\",  # an empty value
        "MOSAIC\\ORIGINAL",  # one value left
        "ORIGINAL\\primary\\MOSAIC",  # lower case: pydicom warns on setting
        "ORIGINAL\\PRIMARY\\A_VALUE_LONGER_THAN_16\\MOSAIC",  # too long: warns
        "MOSAIC",  # one value: a str, left to pydicom
    ],
)
def test_mosaic_image_type_as_setattr_makes_it(tmp_path: Path, implicit: bool, text: str) -> None:
    fast, slow = _both(_file(tmp_path, implicit, ImageType=text))
    with warnings.catch_warnings(record=True) as got_fast:
        warnings.simplefilter("always")
        reader._drop_mosaic(fast)
    with warnings.catch_warnings(record=True) as got_slow:
        warnings.simplefilter("always")
        _drop_slow(slow)
    assert [str(w.message) for w in got_fast] == [str(w.message) for w in got_slow]
    assert _state(fast[reader._IMAGE_TYPE]) == _state(slow[reader._IMAGE_TYPE])


@pytest.mark.parametrize(
    "spacing, thickness",
    [
        ("2.5", "3"),
        ("0", "3"),  # zero: the thickness is used, as pydicom's 0.0 is false
        ("", "3"),  # empty
        (None, "1.25 "),
        (None, None),
        ("1\\2", "3"),  # several values: pydicom's error
        ("abc", "3"),  # not a number: pydicom's warning and error
        ("1.00000000000000001", "3"),  # over 16 characters: pydicom warns
    ],
)
def test_slice_step_as_pydicom_gives_it(
    tmp_path: Path, spacing: str | None, thickness: str | None
) -> None:
    values = {"SpacingBetweenSlices": spacing, "SliceThickness": thickness}
    fast, slow = _both(_file(tmp_path))
    for keyword, text in values.items():  # raw elements, as read from a file
        tag = pydicom.tag.Tag(keyword)
        for ds in (fast, slow):
            ds._dict.pop(tag, None)
            if text is not None:
                raw = (text + " " * (len(text) % 2)).encode()
                ds._dict[tag] = RawDataElement(tag, "DS", len(raw), raw, 0, False, True)

    def run(f: Any) -> tuple[Any, list[str]]:
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            try:
                out: Any = f()
            except Exception as err:  # compared: same type and text
                out = (type(err), str(err))
        return out, [str(w.message) for w in got]

    assert run(
        lambda: float(
            reader._number(fast, "SpacingBetweenSlices")
            or reader._number(fast, "SliceThickness")
            or 1.0
        )
    ) == run(
        lambda: float(slow.get("SpacingBetweenSlices", 0) or slow.get("SliceThickness", 0) or 1.0)
    )
    if spacing == "2.5":  # a plain value stays raw (the template shares it)
        assert isinstance(fast._dict[pydicom.tag.Tag("SpacingBetweenSlices")], RawDataElement)


def _slots(
    images: list[Image], slots: list[int], scale: tuple[float, float]
) -> list[tuple[int, Image, float, float]]:
    return [(s, img, *scale) for s, img in zip(slots, images)]


def _image(frame: int, tile: int, rows: int = 4, cols: int = 5) -> Image:
    info = FileInfo(None, pydicom.uid.ExplicitVRLittleEndian)  # type: ignore[arg-type]
    return Image(info, frame, np.zeros(3), np.zeros(6), (1.0, 1.0), rows, cols, tile=tile)


def _one_by_one(arr: np.ndarray, slots: list[tuple[int, Image, float, float]], flat: np.ndarray):
    from imagedata.formats.dicom._mosaic import tile

    for slot, img, slope, intercept in slots:
        src = arr[img.frame]
        if img.tile >= 0:
            src = tile(src, img.tile, img.rows, img.cols)
        _pixels.store(flat[slot], src, slope, intercept)


def _store_cases() -> list[tuple[str, tuple[float, float]]]:
    """(dtype, scale) pairs the reader makes: fractional scaling is read as float, a
    negative intercept as signed."""
    scales = [(1.0, 0.0), (2.0, -1024.0), (0.24420024420024, -500.0)]
    return [
        (dtype, scale)
        for dtype in ("int16", "uint16", "float32", "float64")
        for scale in scales
        if (np.dtype(dtype).kind == "f" or float(scale[0]).is_integer())
        and not (np.dtype(dtype).kind == "u" and scale[1] < 0)
    ]


@pytest.mark.parametrize(("dtype", "scale"), _store_cases())
@pytest.mark.parametrize("mosaic", [False, True])
def test_block_store_equals_image_by_image(dtype: str, scale: tuple, mosaic: bool) -> None:
    rng = np.random.default_rng(3)
    if mosaic:  # a 3 x 4 grid of 4 x 5 tiles and a partial row/column of pixels
        arr = rng.integers(0, 4096, (1, 14, 21)).astype("u2")
        images = [_image(0, k) for k in (7, 2, 11, 0, 5)]
    else:
        arr = rng.integers(0, 4096, (9, 4, 5)).astype("u2")
        images = [_image(f, -1) for f in (8, 0, 3, 3, 5)]
    for order in ([4, 5, 6, 7, 8], [8, 7, 6, 5, 4], [6, 4, 8, 5, 7]):
        slots = _slots(images, order, scale)
        fast = np.full((10, 4, 5), 7, dtype=dtype)
        slow = fast.copy()
        assert _pixels._store_block(arr, slots, fast)
        _one_by_one(arr, slots, slow)
        assert fast.tobytes() == slow.tobytes()


def test_block_store_declines_what_it_is_not() -> None:
    arr = np.arange(2 * 14 * 21, dtype="u2").reshape(2, 14, 21)
    flat = np.zeros((10, 4, 5), "u2")
    a, b = _image(0, 1), _image(0, 2)
    assert not _pixels._store_block(arr, [(0, a, 1.0, 0.0)], flat)  # one image
    assert not _pixels._store_block(arr, [(0, a, 1.0, 0.0), (2, b, 1.0, 0.0)], flat)  # a gap
    assert not _pixels._store_block(arr, [(0, a, 1.0, 0.0), (1, b, 2.0, 0.0)], flat)  # scales
    assert not _pixels._store_block(arr, [(0, a, 1.0, 0.0), (1, _image(1, 2), 1.0, 0.0)], flat)
    assert not _pixels._store_block(arr, [(0, a, 1.0, 0.0), (1, _image(0, 12), 1.0, 0.0)], flat)
    assert not flat.any()  # nothing stored when declined


@pytest.mark.parametrize("scaling", list(_pixels.Scaling))
def test_scales_per_file_equal_scales_per_image(scaling: _pixels.Scaling) -> None:
    if not DCM_QA.is_dir():
        pytest.skip(f"dcm_qa not found at {DCM_QA} (../shared/data is not beside the repo)")
    compared = refused = 0
    for folder in sorted(DCM_QA.glob("*/In")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            groups = scan_groups(list(expand(str(folder))))
        for group in groups:
            try:
                slow = [_pixels.scale_of(img, scaling) for img in group.images]
            except Exception as err:  # the same error, from the same image
                with pytest.raises(type(err)) as raised:
                    _pixels.scales_of(group.images, scaling)
                assert str(raised.value) == str(err)
                refused += 1
                continue
            assert _pixels.scales_of(group.images, scaling) == slow
            compared += 1
    assert compared + refused > 20
    assert compared > 0 or scaling in (_pixels.Scaling.PHILIPS, _pixels.Scaling.REALWORLD)


@pytest.mark.parametrize("seed", range(20))
def test_exact_text_equals_repr_join(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    pos = rng.normal(size=(n, 3)) * 100
    if seed % 2:  # axial: x and y repeat, as do whole volumes
        pos[:, :2] = pos[0, :2]
        pos = np.concatenate([pos, pos])
    if seed % 5 == 0:
        pos[0, 0], pos[-1, 1] = -0.0, 0.0
    if seed % 7 == 0:
        pos[1 % len(pos), 2] = math.nan
    values = pos.ravel().tolist()
    assert _derived._exact_text(values) == " ".join(map(repr, values))


def _creator_slots(ds: Dataset) -> dict[int, Any]:
    return {int(t) & 0xFF: e.value for t, e in ds.items() if int(t) >> 8 == 0x0900}


@pytest.mark.parametrize(
    "creators",
    [{}, {0x10: "GEMS_IDEN_01"}, {0x10: "GEMS_IDEN_01", 0x12: "IMAGEDATA"}, {0x11: "X", 0x10: "Y"}],
)
def test_private_block_where_pydicom_puts_it(creators: dict[int, str]) -> None:
    ours, theirs = Dataset(), Dataset()
    for ds in (ours, theirs):
        for low, name in creators.items():
            ds.add_new(0x00090000 | low, "LO", name)
    block = _derived.private_block(ours)
    block.add(0x01, "LO", "x")
    theirs.private_block(_derived.PRIVATE_GROUP, _derived.PRIVATE_CREATOR, create=True).add_new(
        0x01, "LO", "x"
    )
    assert _creator_slots(ours) == _creator_slots(theirs)
    assert [(int(e.tag), e.value) for e in ours] == [(int(e.tag), e.value) for e in theirs]
    created = ours[0x00090000 | block.start]
    assert _state(created) == _state(theirs[0x00090000 | block.start])


def test_orthonormalize_cached_by_bits() -> None:
    """-0.0 and 0.0 are equal but give their own results; results are fresh arrays."""
    x0, _ = geometry.orthonormalize([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    x1, _ = geometry.orthonormalize([1.0, -0.0, 0.0, 0.0, 1.0, 0.0])
    assert math.copysign(1, x0[1]) != math.copysign(1, x1[1])
    x0[0] = 5.0  # the caller's array: the cache is not changed
    assert geometry.orthonormalize([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])[0].tolist() == [1, 0, 0]


def _tilted_numpy(a: np.ndarray, tolerance: float = 1e-3) -> bool:
    """The numpy formula is_tilted had (an independent reference)."""
    t = a[:3, 0]
    nt = np.linalg.norm(t)
    if nt < 1e-9:
        return False
    x, y = a[:3, 2] / np.linalg.norm(a[:3, 2]), a[:3, 1] / np.linalg.norm(a[:3, 1])
    return bool(np.linalg.norm(np.cross(t / nt, np.cross(x, y))) > tolerance)


def test_is_tilted_as_the_numpy_formula() -> None:
    rng = np.random.default_rng(11)
    for k in range(3000):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        a = np.eye(4)
        a[:3, 1], a[:3, 2] = q[:, 1] * rng.uniform(0.2, 3), q[:, 0] * rng.uniform(0.2, 3)
        shear = rng.choice([0.0, 5e-4, 1e-3, 2e-3, 0.1]) * rng.normal(size=3)
        a[:3, 0] = np.cross(q[:, 0], q[:, 1]) * rng.uniform(0.5, 5) * (1 - 2 * (k % 2)) + shear
        assert geometry.is_tilted(a) == _tilted_numpy(a)
    assert not geometry.is_tilted(np.diag([0.0, 1.0, 1.0, 1.0]))  # one slice of no step


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("stored", [12, 16])
def test_bits_fixed_in_place_as_in_a_copy(signed: bool, big_endian: bool, stored: int) -> None:
    rng = np.random.default_rng(stored)
    dt = np.dtype(("<" if not big_endian else ">") + ("i2" if signed else "u2"))
    arr = rng.integers(0, 1 << 16, (3, 4, 5)).astype("u2").view("i2" if signed else "u2")
    arr = arr.astype(dt)
    info = FileInfo(None, pydicom.uid.ExplicitVRLittleEndian)  # type: ignore[arg-type]
    info.values.update(BitsAllocated=16, BitsStored=stored)
    copied = _pixels._fix_bits(arr.copy(), info)
    _codecs._fix_bits_inplace(arr, info)
    assert arr.tolist() == copied.tolist()
    assert arr.dtype == dt and (copied.dtype == dt or big_endian)


def test_native_read_from_disk_equals_read_from_an_archive(tmp_path: Path) -> None:
    """The file read into the array (a path) and through a file object (an archive)."""
    if not DCM_QA.is_dir():
        pytest.skip(f"dcm_qa not found at {DCM_QA} (../shared/data is not beside the repo)")
    from imagedata.archives import Member

    checked = 0
    for folder in ("dcm_qa_12bit", "dcm_qa_enh", "dcm_qa_ts"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            groups = scan_groups(list(expand(str(DCM_QA / folder / "In"))))
        for group in groups:
            info = group.images[0].file
            path = info.member.path
            if path is None or not _pixels._native_ok(info):  # (groups of one file: once)
                continue
            on_disk = _pixels._read_native(info)
            info.member = Member(info.member.name, opener=lambda p=path: p.open("rb"))
            through_file = _pixels._read_native(info)
            assert on_disk.dtype == through_file.dtype and on_disk.shape == through_file.shape
            assert on_disk.tobytes() == through_file.tobytes()
            checked += 1
    assert checked >= 3
    short = tmp_path / "short.bin"
    short.write_bytes(b"\x01\x02\x03")
    buffer = bytearray(8)
    assert _pixels._read_into(short, 1, memoryview(buffer)) == 2 and buffer[:2] == b"\x02\x03"


def _info(offset: int = 100, length: int = 40, **values: Any) -> FileInfo:
    base: dict[str, Any] = {"Rows": 4, "Columns": 5, "BitsAllocated": 16, "BitsStored": 16}
    base.update(values)
    ts = pydicom.uid.ExplicitVRLittleEndian
    return FileInfo(None, ts, offset, length, 1, base, fast=True)  # type: ignore[arg-type]


def test_files_asked_once_per_description_answer_as_each_file() -> None:
    """Files that differ in any part of their pixel description are told apart."""
    files = [
        _info(),
        _info(),  # the same description
        _info(BitsStored=12),  # not read straight into the array
        _info(PixelRepresentation=1),  # another stored type
        _info(length=39),  # too short: not native
        _info(offset=-1),  # deflated: not native
        _info(PhotometricInterpretation="PALETTE COLOR"),
        _info(BitsAllocated=8, length=20),
        _info(_float_pixels=4),
    ]
    for dtype in (np.dtype("uint16"), np.dtype("int16"), np.dtype("uint8")):
        for scale in ((1.0, 0.0), (2.0, 0.0)):
            memo = _pixels._Files(dtype)
            for info in files:
                slots = [(0, _image(0, -1), *scale)]
                assert memo.native(info) == _pixels._native_ok(info)
                assert memo.direct(info, slots) == _pixels._direct_ok(info, slots, dtype)


def test_files_of_dcm_qa_answer_as_each_file() -> None:
    if not DCM_QA.is_dir():
        pytest.skip(f"dcm_qa not found at {DCM_QA} (../shared/data is not beside the repo)")
    checked = 0
    for folder in sorted(DCM_QA.glob("*/In")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            groups = scan_groups(list(expand(str(folder))))
        for group in groups:
            for dtype in (np.dtype("uint16"), np.dtype("int16"), np.dtype("float32")):
                memo = _pixels._Files(dtype)
                for img in group.images:
                    slots = [(0, img, 1.0, 0.0)]
                    assert memo.native(img.file) == _pixels._native_ok(img.file)
                    assert memo.direct(img.file, slots) == _pixels._direct_ok(
                        img.file, slots, dtype
                    )
                    checked += 1
    assert checked > 1000
