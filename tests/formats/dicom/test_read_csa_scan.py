"""The header pass's CSA items of a mosaic are those the full CSA parse of the dataset gives.

The header pass keeps four items of a Siemens mosaic's CSA image header
(``_csa.SCAN_ITEMS``), found in the header bytes (``_fastscan.group_elements``) and
read by a walk that converts only them (``_csa.parse_items``, in C where built).  Each
step is compared with the reference it replaces: the full parse (``parse_csa``) of
every CSA header in ../shared/data, of damaged and of random headers; the header
``csa_image_header`` finds in the pydicom dataset, for every real file and for odd
private blocks; and the mosaic tiles and groups made with and without the kept items.
"""

from __future__ import annotations

import importlib.util
import io
import random
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from imagedata import _fastscan
from imagedata.archives import expand
from imagedata.formats.dicom import _csa, _scan
from imagedata.formats.dicom._csa import SCAN_ITEMS, SCAN_KEY, parse_csa, parse_items
from imagedata.formats.dicom._group import group_images
from imagedata.formats.dicom.reader import _same_pixels, images_of, scan_groups
from tests.conftest import DCM_QA, SHARED_DATA
from tests.formats.dicom._readutil import PYDICOM_FILES, nibabel_file, part10_files


@pytest.fixture(params=["C", "Python"])
def walker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the C walks, then with the pure-Python ones."""
    if request.param == "C" and not _fastscan.ACCELERATED:
        pytest.skip("imagedata._cwalk was not built: the pure-Python walks are in use")
    if request.param == "Python":
        monkeypatch.setattr(_fastscan, "_cwalk", None)
    return str(request.param)


def _real_files(tmp_path: Path) -> list[Path]:
    """Part 10 files of the shared data, pydicom's test files and nibabel's mosaics."""
    files = part10_files(PYDICOM_FILES.rglob("*"))
    if SHARED_DATA.is_dir():
        files += part10_files(SHARED_DATA.rglob("*"))
    if importlib.util.find_spec("nibabel") is not None:  # the [nifti] extra
        files += [
            nibabel_file(n, tmp_path) for n in ("siemens_dwi_0.dcm.gz", "siemens_dwi_1000.dcm.gz")
        ]
    return files


def _csa_blobs(tmp_path: Path) -> list[bytes]:
    """Every CSA image and series header (0029,xx10 and xx20) of the real files."""
    blobs = []
    for f in _real_files(tmp_path):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except Exception:
            continue
        for offset in (0x10, 0x20):
            elem = ds.get((0x0029, 0x1000 | offset))
            if elem is not None and isinstance(elem.value, bytes) and elem.value:
                blobs.append(bytes(elem.value))
    if not blobs:
        pytest.skip(f"no Siemens CSA header in {SHARED_DATA} or nibabel's test data")
    return blobs


def _agrees(blob: bytes, names: tuple[str, ...] | None = None) -> bool:
    full = parse_csa(blob)
    wanted = tuple(full) + SCAN_ITEMS + ("NoSuchTag",) if names is None else names
    expected = {n: full[n] for n in wanted if n in full}
    # repr: the same types too (1 == 1.0) and the same NaNs (nan != nan)
    return repr(sorted(parse_items(blob, wanted).items())) == repr(sorted(expected.items()))


def test_items_agree_with_the_full_parse_on_real_headers(walker: str, tmp_path: Path) -> None:
    blobs = _csa_blobs(tmp_path)
    assert all(_agrees(blob) for blob in blobs)
    assert any(parse_items(b, SCAN_ITEMS).get("NumberOfImagesInMosaic") for b in blobs)


def test_items_agree_on_damaged_headers(walker: str, tmp_path: Path) -> None:
    rng = random.Random(11)
    for blob in _csa_blobs(tmp_path)[:6]:
        for _ in range(150):
            data = bytearray(blob)
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            assert _agrees(bytes(data))
            assert _agrees(bytes(data[: rng.randint(0, len(data))]))
            assert _agrees(bytes(data), SCAN_ITEMS)


def _random_csa(rng: random.Random) -> bytes:
    """A CSA1 or CSA2 header with random counts, lengths and item texts (some invalid)."""
    csa2 = rng.random() < 0.5
    names = [*SCAN_ITEMS, "ImaCoilString", "SliceMeasurementDuration", ""]
    ntags = rng.choice([0, 1, 2, 3, 5, 8, 1025]) if rng.random() < 0.1 else rng.randint(1, 8)
    out = bytearray(b"SV10\x04\x03\x02\x01" if csa2 else b"")
    out += struct.pack("<2I", ntags, 77)
    first = 0
    for t in range(min(ntags, 8)):
        nitems = rng.choice([0, 1, 3, 6, -1, 1001]) if rng.random() < 0.05 else rng.randint(0, 6)
        first = nitems if t == 1 else first
        name = rng.choice(names).encode() + b"\0" + bytes(rng.randrange(256) for _ in range(3))
        vr = rng.choice([b"DS", b"IS", b"FD", b"US", b"LO", b"UN", b"SL\0x"])
        vm = rng.choice([0, 1, 3, -2])
        out += struct.pack("<64si4s3i", name[:64], vm, vr, 0, nitems, 77)
        for _ in range(max(0, min(nitems, 8))):
            text = rng.choice([b"1.5", b" 2 ", b"-3e2", b"inf", b"nan", b"x\0y", b"", b"\xa0 7"])
            length = len(text) if rng.random() < 0.9 else rng.choice([-4, 0, 9999])
            x0 = length + (0 if csa2 else first) if rng.random() < 0.9 else rng.randint(-9, 99)
            out += struct.pack("<4i", x0, length, 77, 77)
            out += text + b"\0" * (-len(text) % 4)
    return bytes(out[: rng.randint(0, len(out))] if rng.random() < 0.1 else out)


def test_items_agree_on_random_headers(walker: str) -> None:
    rng = random.Random(5)
    kept = 0
    for _ in range(3000):
        blob = _random_csa(rng)
        assert _agrees(blob), blob
        kept += bool(parse_csa(blob))
    assert kept > 1000  # most are readable: the comparison is not of empty dicts


def _reference_items(ds: Dataset) -> dict[str, list[Any]]:
    """The items as the dataset's CSA image header gives them (before the header pass kept them)."""
    full = _csa._find_csa(ds, 0x10)
    return {n: full[n] for n in SCAN_ITEMS if n in full}


def test_header_items_are_the_datasets_on_real_files(walker: str, tmp_path: Path) -> None:
    found = 0
    for f in _real_files(tmp_path):
        data = f.read_bytes()
        items = _csa.header_scan_items(data)
        if items is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
        assert items == _reference_items(ds), f
        found += bool(items.get("NumberOfImagesInMosaic"))
    assert found or not (DCM_QA / "dcm_qa_12bit").is_dir()


def test_group_elements_walks_agree(tmp_path: Path) -> None:
    if not _fastscan.ACCELERATED:
        pytest.skip("imagedata._cwalk was not built: only the Python walk is in use")
    rng = random.Random(3)
    for f in _real_files(tmp_path)[::3]:
        data = f.read_bytes()[:200_000]
        for k in range(12):
            mutant = bytearray(data)
            for _ in range(k and rng.randint(1, 6)):
                mutant[rng.randrange(132, len(mutant))] = rng.randrange(256)
            cut = bytes(mutant[: rng.randint(132, len(mutant))] if k % 3 == 2 else mutant)
            try:
                ts, _, pos = _fastscan._meta_c(cut)
            except Exception:
                continue
            explicit = ts != "1.2.840.10008.1.2"
            for group in (0x0008, 0x0029):
                c = _fastscan._cwalk.group_elements(cut, pos, explicit, group)
                py = _fastscan._group_elements_py(cut, pos, explicit, group)
                assert c == py, (f, k, group)


def _csa_file(
    tmp_path: Path,
    creators: dict[int, tuple[str, bytes]],
    values: dict[int, tuple[str, bytes]],
    implicit: bool = False,
) -> bytes:
    """A mosaic-like file with private creators {block: (VR, text)}, values {tag: (VR, bytes)}."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.SOPInstanceUID = generate_uid()
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "MOSAIC"]
    for block, (vr, text) in creators.items():
        ds.add_new((0x0029, block), vr, text)
    for tag, (vr, value) in values.items():
        ds.add_new(tag, vr, value)
    ds.Rows, ds.Columns, ds.BitsAllocated = 4, 4, 16
    ds.add_new(0x7FE00010, "OW", bytes(32))
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    path = tmp_path / f"csa{len(list(tmp_path.iterdir()))}.dcm"
    ds.save_as(path, enforce_file_format=True, implicit_vr=implicit, little_endian=True)
    return path.read_bytes()


_MOSAIC = {"NumberOfImagesInMosaic": ("IS", ["4"]), "SliceNormalVector": ("FD", ["0", "0", "1"])}


def _csa2(items: dict[str, tuple[str, list[str]]]) -> bytes:
    out = bytearray(b"SV10\x04\x03\x02\x01" + struct.pack("<2I", len(items), 77))
    for name, (vr, texts) in items.items():
        out += struct.pack("<64si4s3i", name.encode(), len(texts), vr.encode(), 0, 6, 77)
        for k in range(6):
            text = texts[k].encode() + b"\0" if k < len(texts) else b""
            out += struct.pack("<4i", len(text), len(text), 77, len(text))
            out += text + b"\0" * (-len(text) % 4)
    return bytes(out)


_A, _B = _csa2(_MOSAIC), _csa2({"NumberOfImagesInMosaic": ("IS", ["9"])})
#: Private blocks of group 0029: (creators, values).
_ODD_BLOCKS: list[tuple[dict[int, tuple[str, bytes]], dict[int, tuple[str, bytes]]]] = [
    ({0x10: ("LO", b"SIEMENS CSA HEADER")}, {0x00291010: ("OB", _A)}),
    ({0x11: ("LO", b"SIEMENS CSA HEADER ")}, {0x00291110: ("OB", _A)}),
    ({0x10: ("LO", b"SIEMENS CSA HEADER\0\0")}, {0x00291010: ("OB", _A)}),
    ({0x10: ("LO", b" SIEMENS CSA HEADER")}, {0x00291010: ("OB", _A)}),
    ({0x10: ("LO", b"siemens csa header")}, {0x00291010: ("OB", _A)}),
    ({0x10: ("LO", b"SIEMENS CSA HEADER\t")}, {0x00291010: ("OB", _A)}),
    ({0x10: ("LO", b"SIEMENS\\CSA HEADER")}, {0x00291010: ("OB", _A)}),
    ({0x10: ("LO", b"SIEMENS CSA HEADER" + b" " * 50)}, {0x00291010: ("OB", _A)}),
    ({0x10: ("UN", b"SIEMENS CSA HEADER")}, {0x00291010: ("OB", _A)}),
    ({0x10: ("LO", b"SIEMENS CSA HEADER")}, {0x00291010: ("UN", _A)}),
    ({0x10: ("LO", b"SIEMENS CSA HEADER")}, {0x00291010: ("LT", b"text")}),
    ({0x10: ("LO", b"SIEMENS CSA HEADER")}, {0x00291010: ("OB", b"")}),
    (  # the first block's header empty: the second block's
        {0x10: ("LO", b"SIEMENS CSA HEADER"), 0x11: ("LO", b"SIEMENS CSA HEADER")},
        {0x00291010: ("OB", b""), 0x00291110: ("OB", _B)},
    ),
    (  # two headers: the first block's
        {0x10: ("LO", b"SIEMENS CSA HEADER"), 0x12: ("LO", b"SIEMENS CSA HEADER")},
        {0x00291010: ("OB", _A), 0x00291210: ("OB", _B)},
    ),
    (  # another creator first
        {0x10: ("LO", b"SIEMENS MEDCOM HEADER"), 0x11: ("LO", b"SIEMENS CSA HEADER")},
        {0x00291010: ("OB", _B), 0x00291110: ("OB", _A)},
    ),
    ({0x10: ("LO", b"SIEMENS CSA HEADER")}, {0x00291020: ("OB", _A)}),  # a series header only
    ({}, {}),
    ({0x10: ("LO", b"SIEMENS CSA HEADER")}, {0x00291010: ("OB", b"SV10 damaged")}),
]


def _has_un(creators: dict[int, tuple[str, bytes]], values: dict[int, tuple[str, bytes]]) -> bool:
    return any(vr == "UN" for vr, _ in [*creators.values(), *values.values()])


@pytest.mark.parametrize(
    ("creators", "values", "implicit"),
    [  # each block explicit, and implicit where it has no UN VR to tell
        (c, v, implicit)
        for c, v in _ODD_BLOCKS
        for implicit in (False, True)
        if not (implicit and _has_un(c, v))
    ],
)
def test_header_items_are_the_datasets_for_odd_blocks(
    walker: str,
    tmp_path: Path,
    creators: dict[int, tuple[str, bytes]],
    values: dict[int, tuple[str, bytes]],
    implicit: bool,
) -> None:
    data = _csa_file(tmp_path, creators, values, implicit)
    items = _csa.header_scan_items(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        try:
            expected: Any = _reference_items(ds)
        except TypeError as err:  # an LT "header": the dataset's way fails (as it did)
            expected = err
    if items is not None:  # None: read from the dataset, as before
        assert items == expected
        assert not caught  # (the dataset's way would have warned)
    plain = creators.get(0x10) == ("LO", b"SIEMENS CSA HEADER")
    if plain and values.get(0x00291010, ("", b""))[0] == "OB":
        assert items is not None  # the common case is kept


def _tiles(members: list[Any], keep: bool) -> list[Any]:
    infos = _scan.scan(members)
    if not keep:
        for info in infos:
            info.values.pop(SCAN_KEY, None)
    return [img for info in infos for img in images_of(info)]


def _mosaic_members() -> list[Any]:
    folders = [DCM_QA / "dcm_qa_12bit" / "In", DCM_QA / "dcm_qa_ts" / "In"]
    if not all(f.is_dir() for f in folders):
        pytest.skip(f"the dcm_qa mosaics are not in {DCM_QA}")
    return [m for f in folders for m in expand(f)]


def test_mosaic_tiles_are_the_same_with_and_without_kept_items() -> None:
    members = _mosaic_members()
    fast, slow = _tiles(members, True), _tiles(members, False)
    assert len(fast) == len(slow) > 100
    for a, b in zip(fast, slow):
        assert a.name == b.name and a.uid == b.uid
        assert a.position.tobytes() == b.position.tobytes()
        assert a.iop.tobytes() == b.iop.tobytes()
        assert (a.spacing, a.rows, a.cols, a.slope, a.intercept, a.tile, a.resolution) == (
            b.spacing,
            b.rows,
            b.cols,
            b.slope,
            b.intercept,
            b.tile,
            b.resolution,
        )
        assert a.extra.keys() == b.extra.keys()
        for key in a.extra:
            assert np.array_equal(a.extra[key], b.extra[key])
    kept = [img.file for img in fast if SCAN_KEY in img.file.values]
    assert kept and all(info._ds is None for info in kept)  # no dataset built for them


def _groups(images: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (g.label, g.reason, g.signature, [id(i) for i in g.images])
        for g in group_images(images, _same_pixels)
    ]


def test_tiles_group_as_images_one_by_one() -> None:
    """Tiles that join the group of the tile before give the groups each compared alone."""
    images = _tiles(_mosaic_members(), True)
    shared = _groups(images)
    for img in images:  # no two images share an orientation object: compared one by one
        img.iop = img.iop.copy()
    assert _groups(images) == shared
    assert len(shared) > 3  # the 12-bit twins and the transfer-syntax series are split


def test_scan_groups_reads_no_dataset_for_mosaics() -> None:
    folder = DCM_QA / "dcm_qa_12bit" / "In"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    groups = scan_groups(list(expand(folder)))
    files = {id(img.file): img.file for g in groups for img in g.images}
    assert len(files) == 3 and all(info._ds is None for info in files.values())


def test_scan_items_are_the_full_parse_of_the_dataset(walker: str) -> None:
    """Kept by the header pass, or read from the dataset (big endian, deflated, or not
    kept): the items of the full parse of the dataset's CSA image header."""
    infos = _scan.scan(_mosaic_members())
    ways = {"kept": 0, "dataset": 0}
    for info in infos:
        expected = _reference_items(info.ds)
        assert expected.get("NumberOfImagesInMosaic")
        kept = info.values.pop(SCAN_KEY, None)
        info.ds.__dict__.pop("_imagedata_csa", None)  # not parsed in full before
        assert repr(sorted(_csa.scan_items(info).items())) == repr(sorted(expected.items()))
        if kept is not None:
            assert repr(sorted(kept.items())) == repr(sorted(expected.items()))
        ways["kept" if kept is not None else "dataset"] += 1
    assert ways["kept"] >= 9 and ways["dataset"] >= 1  # dcm_qa_ts: big endian, deflated
