"""The C element walk (imagedata._cwalk) gives exactly what the Python walk gives.

``_fastscan.parse`` runs its element loop in C where the extension was built at install
time, else in Python.  Both are run here on the same bytes: whole files, the first
32 KiB the header pass reads, cuts at every kind of boundary and files with flipped
bytes, on the pydicom test files, generated series with private and sequence elements,
and the real scanner files in ../shared/data when present.
"""

from __future__ import annotations

import math
import os
import random
import struct
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from imagedata import _fastscan
from imagedata.testing import make_dicom_series
from tests.conftest import SHARED_DATA
from tests.formats.dicom._readutil import PYDICOM_FILES, parse_with_walk, part10_files

needs_c = pytest.mark.skipif(
    not _fastscan.ACCELERATED,
    reason="imagedata._cwalk was not built (no C compiler at install time); "
    "the pure-Python walk is in use",
)


def test_extension_built_where_required() -> None:
    """`make test` sets IMAGEDATA_REQUIRE_CEXT=1: a missing build must fail, not skip."""
    if os.environ.get("IMAGEDATA_REQUIRE_CEXT") != "1":
        pytest.skip("IMAGEDATA_REQUIRE_CEXT is not set (only `make test` requires the build)")
    assert _fastscan.ACCELERATED, "imagedata._cwalk did not build; see the pip install log"


def _mutants(data: bytes, rng: random.Random, n: int) -> Iterator[tuple[bytes, bool]]:
    yield data, True
    yield data[: 1 << 15], len(data) < 1 << 15
    for _ in range(n):
        head = bytearray(data[: min(len(data), 40_000)])
        for _ in range(rng.randint(1, 8)):
            head[rng.randrange(132, len(head))] = rng.randrange(256)
        yield bytes(head[: rng.randint(132, len(head))]), rng.random() < 0.5
    for cut in range(132, min(len(data), 3000), 23):  # cuts all through the header
        yield data[:cut], True


def _agree(path: Path, rng: random.Random, n: int = 20) -> int:
    data = path.read_bytes()
    count = 0
    for mutant, complete in _mutants(data, rng, n):
        python = parse_with_walk(mutant, complete, accelerated=False)
        c = parse_with_walk(mutant, complete, accelerated=True)
        assert c == python, f"{path.name}: C and Python walks differ ({len(mutant)} bytes)"
        count += 1
    return count


def _private_series(folder: Path) -> list[Path]:
    """A small series with vendor private blocks, nested sequences and an implicit file."""
    truth = make_dicom_series(folder, shape=(3, 6, 6))
    for i, f in enumerate(sorted(truth.files)):
        ds = pydicom.dcmread(f)
        block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
        block.add_new(0x0C, "IS", str(500 * i))
        block.add_new(0x0E, "FD", [0.0, 0.6, 0.8])
        ge = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
        ge.add_new(0x39, "IS", ["1000", "0", "0", "0"])
        item = Dataset()
        item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
        item.add_new(0x00291010, "OB", b"\x01" * 33)
        ds.ReferencedImageSequence = Sequence([item])
        ds.add_new(0x00291020, "SQ", Sequence([Dataset(), item]))
        if i == 2:
            ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        ds.save_as(f, enforce_file_format=True)
    return sorted(truth.files)


@needs_c
def test_walks_agree_on_pydicom_files() -> None:
    rng = random.Random(7)
    files = part10_files(PYDICOM_FILES.glob("*.dcm"))
    assert sum(_agree(p, rng, n=5) for p in files) > 1000


@needs_c
def test_walks_agree_on_private_blocks_and_sequences(tmp_path: Path) -> None:
    rng = random.Random(11)
    files = _private_series(tmp_path)
    for f in files:
        _agree(f, rng, n=50)
    values, *_ = _fastscan.parse(files[1].read_bytes(), complete=True)
    assert values[_fastscan.private_key(0x0019, "SIEMENS MR HEADER", 0x0C)] == "500"
    assert values[_fastscan.private_key(0x0019, "SIEMENS MR HEADER", 0x0E)] == [0.0, 0.6, 0.8]


@needs_c
def test_walks_agree_on_real_scanner_files() -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real scanner data not found at {SHARED_DATA}")
    rng = random.Random(3)
    files = part10_files(SHARED_DATA.rglob("*"), most=150)  # files of every vendor
    assert sum(_agree(p, rng, n=3) for p in files) > 1000


def test_sv_and_uv_have_four_byte_lengths(tmp_path: Path) -> None:
    """SV and UV (64-bit integers) have a 4-byte value length in explicit VR (PS3.5 7.1.2)."""
    truth = make_dicom_series(tmp_path, shape=(1, 4, 4))
    f = truth.files[0]
    ds = pydicom.dcmread(f)
    block = ds.private_block(0x0011, "IMAGEDATA TEST", create=True)
    block.add_new(0x01, "SV", [-5, 2**40])
    block.add_new(0x02, "UV", [7])
    ds.save_as(f, enforce_file_format=True)
    data = f.read_bytes()
    for accelerated in (False, True):
        if accelerated and not _fastscan.ACCELERATED:
            continue
        result = parse_with_walk(data, complete=True, accelerated=accelerated)
        assert not isinstance(result, str), result  # walked, not handed to pydicom
        values, _, offset, length = result
        assert values["SOPInstanceUID"] == ds.SOPInstanceUID
        assert data[offset : offset + length] == ds.PixelData


def _with_value(data: bytes, tag: int, value: bytes) -> bytes:
    """`data` (explicit VR little endian) with the DS element `tag` holding `value`."""
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + b"DS"
    at = data.index(head, 132)
    (length,) = struct.unpack_from("<H", data, at + 6)
    value += b" " * (len(value) % 2)
    return data[:at] + head + struct.pack("<H", len(value)) + value + data[at + 8 + length :]


#: DS texts of every kind: plain numbers, exponents, blanks, what float() alone accepts
#: (inf, nan, underscores, other white space), too many digits for the exact fast path.
_DS_TEXTS = [
    b"1.5\\-2\\3",
    b" 1.5 \\ -2 \\ 3 ",
    b"+1.\\.5\\-0",
    b"-0.0\\0\\0",
    b"1e3\\2E-2\\3.5e+1",
    b"1e999\\0\\0",
    b"nan\\0\\0",
    b"inf\\0\\0",
    b"1_0\\2\\3",
    b"1..2\\3\\4",
    b"\\1\\2",
    b"1\\2\\",
    b"1\\2",
    b"1\\2\\3\\4\\5\\6",
    b"  ",
    b"",
    b"0.1234567890123456\\123456789012345\\9007199254740993",
    b"-.5\\5.\\1",
    b"1\x00\\2\\3",
    b"1\t\\2\\3",
    b"\xa01\\2\\3",
    b"1e\\2\\3",
    b"-\\.\\+",
    b"0.30000000000000004\\1e-400\\4.9e-324",
]


def _random_ds(rng: random.Random) -> bytes:
    def one() -> str:
        text = rng.choice(["", "-", "+"]) + "".join(rng.choices("0123456789", k=rng.randint(0, 9)))
        if rng.random() < 0.7:
            text += "." + "".join(rng.choices("0123456789", k=rng.randint(0, 9)))
        if rng.random() < 0.2:
            text += rng.choice("eE") + rng.choice(["", "-", "+"]) + str(rng.randint(0, 330))
        if rng.random() < 0.05:
            text = text.replace(rng.choice("0123456789.") or ".", rng.choice("x_, /"))
        return text[:16]

    return "\\".join(one() for _ in range(rng.choice([1, 2, 3, 3, 3, 6]))).encode()


def _ds_files(tmp_path: Path) -> tuple[bytes, list[bytes]]:
    truth = make_dicom_series(tmp_path, shape=(1, 4, 4))
    rng = random.Random(5)
    return truth.files[0].read_bytes(), _DS_TEXTS + [_random_ds(rng) for _ in range(400)]


_IPP, _IOP, _PS = 0x00200032, 0x00200037, 0x00280030


@pytest.mark.parametrize("tag", [_IPP, _IOP, _PS])
def test_geometry_numbers_agree_with_float(tmp_path: Path, tag: int) -> None:
    """The numbers the walk decodes are float()'s, in C and in Python, else left out."""
    from imagedata.archives import Member
    from imagedata.formats.dicom._scan import (
        FileInfo,
        floats,
        numbers_of,
        position_resolution,
        resolution_of,
    )

    data, texts = _ds_files(tmp_path)
    keyword = {_IPP: "ImagePositionPatient", _IOP: "ImageOrientationPatient", _PS: "PixelSpacing"}
    kw = keyword[tag]
    decoded = 0
    for text in texts:
        mutant = _with_value(data, tag, text)
        python = parse_with_walk(mutant, True, accelerated=False)
        if _fastscan.ACCELERATED:
            assert parse_with_walk(mutant, True, accelerated=True) == python, text
        values = python[0]
        decoded += _fastscan.numbers_key(kw) in values
        ts = pydicom.uid.ExplicitVRLittleEndian
        info = FileInfo(Member("x.dcm"), ts, values=values, fast=True)
        for n in (2, 3, 6):
            want = floats(values.get(kw), n)
            got = numbers_of(info, kw, n)
            assert (got is None) == (want is None), text
            if got is not None:
                assert got == tuple(want.tolist()), text
                assert all(type(v) is float for v in got)
                assert [math.copysign(1, v) for v in got] == [math.copysign(1, v) for v in want]
        if kw == "ImagePositionPatient":
            assert position_resolution(info) == resolution_of(values.get(kw)), text
    assert 100 < decoded < len(texts)  # both ways taken


@needs_c
def test_c_digest_is_the_hash_of_the_joined_ranges() -> None:
    """_cwalk.digest(data, cuts) == hash(b"".join(data[a:b] for a, b in pairs))."""
    from imagedata import _cwalk

    rng = random.Random(13)
    data = bytes(rng.randrange(256) for _ in range(3000))
    cases = [[], [5], [0, 0], [10, 5], [0, 5000], [2990, 3010, 1, 3], [-5, 3000], [3, 3, 4, 9]]
    for _ in range(300):
        n = rng.randint(0, 12)
        cases.append(sorted(rng.randint(-10, 3100) for _ in range(n)))
    for cuts in cases:
        pairs = iter(cuts)
        want = hash(b"".join(data[a:b] for a, b in zip(pairs, pairs)))
        assert _cwalk.digest(data, list(cuts)) == want, cuts
