"""The C walks of imagedata._fastenh (imagedata._cwalk) give what the Python walks give.

:func:`imagedata._fastenh.functional_groups` walks the Shared and Per-frame Functional
Groups Sequences of enhanced files in C where the extension was built, else in Python
(:func:`imagedata._fastenh._items`, the reference).  Both are run here on the same bytes
and must give the same items (same keys, same order, same value types and texts) or the
same exception (``Short``: read more; ``Unhandled``: read with pydicom): on every real
enhanced file at hand (../shared/data, nibabel's Philips MPRAGE, pydicom's and
pydicom-data's test files), whole, cut and with damaged bytes, and on generated
sequences holding every kind of value and structure the walker meets.  The same for the
top-level elements a template dataset is made of (:func:`imagedata._fastenh.raw_dataset`).
"""

from __future__ import annotations

import gc
import random
import re
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

from imagedata import _fastenh, _fastscan
from imagedata.archives import expand
from imagedata.errors import ReadError
from imagedata.formats.dicom import _scan
from imagedata.formats.dicom.writer import write_series
from tests.conftest import SHARED_DATA
from tests.formats.dicom._helpers import make_series
from tests.formats.dicom._readutil import PYDICOM_FILES, nibabel_file, part10_files

needs_c = pytest.mark.skipif(
    not _fastenh.ACCELERATED,
    reason="imagedata._cwalk was not built (no C compiler at install time); "
    "the functional groups are walked in Python",
)

_UNDEFINED = 0xFFFFFFFF
_GROUP_TAGS = (b"\x00\x52\x29\x92SQ", b"\x00\x52\x30\x92SQ")  # explicit VR LE headers


def test_groups_walk_built_where_the_element_walk_is() -> None:
    """Both walks come from one extension: one without the other is a stale build
    (rebuild: ``python setup.py build_ext --inplace``)."""
    assert _fastenh.ACCELERATED == _fastscan.ACCELERATED


# ---- comparing the two walks --------------------------------------------------------


def _typed(x: Any) -> Any:
    """`x` with every value's type and repr, dict keys in order (exact comparison)."""
    if isinstance(x, list):
        return ["list", [_typed(v) for v in x]]
    if isinstance(x, dict):
        return ["dict", [(k, _typed(v)) for k, v in x.items()]]
    return [type(x).__name__, repr(x)]


def _outcome(walk: Callable[..., Any], data: bytes, pos: int, length: int) -> Any:
    try:
        items, end = walk(data, pos, length)
    except (_fastenh.Short, struct.error):  # functional_groups turns struct.error into Short
        return "Short"
    except _fastenh.Unhandled:
        return "Unhandled"
    return _typed(items), end


def _agree(data: bytes, pos: int, length: int) -> Any:
    """The outcome of both walks on the sequence value at `pos`; they must be equal."""
    assert _fastenh._items_c is not None
    python = _outcome(_fastenh._items, data, pos, length)
    c = _outcome(_fastenh._items_c, data, pos, length)
    assert c == python, f"C and Python walks differ at {pos} ({len(data)} bytes)"
    return c


def _sequences(data: bytes) -> list[tuple[int, int]]:
    """(value start, length) of each functional groups sequence in `data`."""
    out = []
    for head in _GROUP_TAGS:
        at = data.find(head)
        while at >= 0:
            if at + 12 <= len(data):
                out.append((at + 12, struct.unpack_from("<I", data, at + 8)[0]))
            at = data.find(head, at + 1)
    return out


def _damaged(data: bytes, start: int, end: int, rng: random.Random) -> bytes:
    """`data` with a few bytes of start..end changed: random, or a length made undefined,
    a VR or a tag changed into another the walker knows."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(start, end)
        kind = rng.randrange(4)
        if kind == 0:
            out[at] = rng.randrange(256)
        elif kind == 1:
            out[at : at + 4] = b"\xff\xff\xff\xff"
        elif kind == 2:
            out[at : at + 2] = rng.choice([b"SQ", b"UN", b"DS", b"LO", b"OB", b"FD", b"XX"])
        else:
            out[at : at + 8] = rng.choice([_ITEM, _ITEM_END, _SEQ_END])
    return bytes(out[: len(data)])


def _end(data: bytes, pos: int, length: int) -> int:
    """Where the sequence value at `pos` ends (the end of `data` if it does not)."""
    try:
        return int(_fastenh._items(data, pos, length)[1])
    except (_fastenh.Short, _fastenh.Unhandled, struct.error):
        return len(data)


def _cases(data: bytes, rng: random.Random, n: int) -> Iterator[bytes]:
    """Whole, cut inside the groups, and damaged inside the groups."""
    yield data
    spans = _sequences(data)
    start, end = spans[0][0], max(_end(data, *span) for span in spans)
    for _ in range(n):
        yield data[: rng.randrange(start, end)]
        yield _damaged(data, start, end, rng)


def _agree_on(path: Path, rng: random.Random, n: int) -> set[str]:
    """Both walks on every sequence of `path`'s cases; the kinds of outcome seen."""
    data = path.read_bytes()
    kinds = set()
    for case in _cases(data, rng, n):
        for pos, length in _sequences(case):
            got = _agree(case, pos, length)
            kinds.add(got if isinstance(got, str) else "items")
    return kinds


def _real_enhanced(tmp_path: Path) -> list[Path]:
    """Every file at hand holding functional groups (explicit VR little endian)."""
    found = [nibabel_file("philips_mprage.dcm.gz", tmp_path)]
    roots = [SHARED_DATA / "dcm_qa", PYDICOM_FILES]
    try:
        import data_store  # pydicom-data: eCT_Supplemental, liver (segmentation)

        roots.append(Path(data_store.__file__).parent / "data")
    except ImportError:
        pass
    for root in roots:
        for p in sorted(root.rglob("*")) if root.is_dir() else []:
            if p.is_file() and p.stat().st_size > 132:
                with p.open("rb") as f:
                    if _sequences(f.read(1 << 21)):
                        found.append(p)
    return found


@needs_c
def test_walks_agree_on_real_enhanced_files(tmp_path: Path) -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real scanner data not found at {SHARED_DATA}")
    files = _real_enhanced(tmp_path)
    names = {f.name for f in files}
    assert {"IM_0027_fMAP.dcm", "6_1.dcm", "philips_mprage.dcm"} <= names
    rng = random.Random(17)
    kinds: set[str] = set()
    for f in files:
        kinds |= _agree_on(f, rng, n=25)
    assert kinds == {"items", "Short", "Unhandled"}


@needs_c
def test_header_pass_uses_the_c_walk_on_dcm_qa_enh() -> None:
    src = SHARED_DATA / "dcm_qa" / "dcm_qa_enh" / "In"
    if not src.is_dir():
        pytest.skip(f"dcm_qa data not found at {src}")
    for member in expand(src):
        data = Path(str(member.path)).read_bytes()
        c = _fastscan.parse(data, complete=True)
        assert not isinstance(c, str)
        saved = _fastscan._cwalk
        _fastscan._cwalk = None  # the Python walks, elements and groups
        try:
            python = _fastscan.parse(data, complete=True)
        finally:
            _fastscan._cwalk = saved
        assert not isinstance(python, str)
        assert _typed(c[0]) == _typed(python[0]) and c[1:] == python[1:]
        assert len(c[0][_fastenh.PER_FRAME_KEY]) == int(c[0]["NumberOfFrames"])


# ---- generated sequences ------------------------------------------------------------

_LONG = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_ITEM = struct.pack("<HHI", 0xFFFE, 0xE000, _UNDEFINED)
_ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
_SEQ_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
#: Values of each VR, good and bad: empty, padded, several, odd lengths, not ASCII, not
#: numbers.
_SAMPLES: dict[bytes, list[bytes]] = {
    b"DS": [b"1.5 ", b" -2.25\\3e1 ", b"", b"  ", b"\0\0", b"1\\2\\3\\4\\5\\6", b"abc ", b"\xe91"],
    b"IS": [b"12", b" 3\\4 ", b"", b"x"],
    b"FD": [b"", struct.pack("<d", 1.25), struct.pack("<3d", 0.0, -0.6, 0.8), b"1234567"],
    b"FL": [b"", struct.pack("<f", 0.1), struct.pack("<2f", 1.5, -2.0), b"123"],
    b"UL": [b"", struct.pack("<I", 7), struct.pack("<4I", 1, 1, 2, 0xFFFFFFFF), b"12345"],
    b"US": [b"", struct.pack("<H", 5), struct.pack("<2H", 1, 65535), b"1"],
    b"SL": [b"", struct.pack("<i", -7), struct.pack("<2i", -1, 2**31 - 1), b"12"],
    b"SH": [b"1 ", b"", b" a\\b\0", b"\\", b"\xc3\xa91"],
    b"LO": [b"VENDOR ", b"x\\\\y"],
    b"CS": [b"ORIGINAL\\PRIMARY\\M ", b"", b"MAGNITUDE", b" A \\B\0", b"\xff"],
    b"DT": [b"20180526152518.62 ", b""],
    b"UI": [b"1.2.3\0"],
}


def _element(tag: int, vr: bytes, value: bytes, undefined: bool = False) -> bytes:
    """An explicit VR little endian element (odd lengths kept: the walker allows them)."""
    if vr in _LONG:
        length = _UNDEFINED if undefined else len(value)
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr, 0, length) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


def _item(body: bytes, undefined: bool) -> bytes:
    if undefined:
        return _ITEM + body + _ITEM_END
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body


def _sequence_value(items: list[bytes], undefined: bool) -> bytes:
    return b"".join(items) + (_SEQ_END if undefined else b"")


class _Maker:
    """Random functional-group items from the walker's own tables, with odd structures."""

    def __init__(self, rng: random.Random, values: dict[int, tuple[str, bytes]]) -> None:
        self.rng = rng
        self.values = list(values.items())
        self.seqs = list(_fastenh._SEQ_TAGS)

    def value(self) -> bytes:
        rng = self.rng
        tag, (_, table_vr) = rng.choice(self.values)
        vr = table_vr[:2] if rng.random() < 0.9 else rng.choice([b"LO", b"UN", b"OB", b"SQ"])
        samples = _SAMPLES.get(vr, [b"\x01\x02"])
        return _element(tag, vr, rng.choice(samples))

    def other(self, depth: int) -> bytes:
        """An element the walker skips: private or unwanted, sequences of any length."""
        rng, kind = self.rng, self.rng.randrange(5)
        if kind == 0:
            return _element(0x00091001, b"LO", b"VENDOR")
        if kind == 1:
            return _element(0x00091002, b"OB", _ITEM * 2)  # item tags as data
        if kind == 2:
            return _element(0x00091003, rng.choice([b"SV", b"UV"]), struct.pack("<q", -3))
        undefined = rng.random() < 0.7
        items = [self.item(depth + 1) for _ in range(rng.randint(0, 2))]
        if kind == 3:
            return _element(0x00091004, b"SQ", _sequence_value(items, undefined), undefined)
        implicit = struct.pack("<HHI", 0x0009, 0x1010, 2) + b"X "  # implicit VR inside UN
        nested = struct.pack("<HHI", 0x0009, 0x1011, _UNDEFINED) + _ITEM + implicit + _ITEM_END
        body = _ITEM + implicit + nested + _SEQ_END + _ITEM_END
        return _element(0x00091005, b"UN", body + _SEQ_END, undefined=True)

    def item(self, depth: int) -> bytes:
        rng = self.rng
        parts = []
        for _ in range(rng.randint(0, 5)):
            roll = rng.random()
            if roll < 0.4:
                parts.append(self.value())
            elif roll < 0.7 and depth < 3:
                parts.append(self.sequence(rng.choice(self.seqs), depth + 1))
            else:
                parts.append(self.other(depth))
        return _item(b"".join(parts), rng.random() < 0.6)

    def sequence(self, tag: int, depth: int) -> bytes:
        undefined = self.rng.random() < 0.6
        items = [self.item(depth) for _ in range(self.rng.randint(0, 3))]
        return _element(tag, b"SQ", _sequence_value(items, undefined), undefined)


def _generated(rng: random.Random, values: dict[int, tuple[str, bytes]]) -> tuple[bytes, int]:
    """(bytes, value start) of a generated Per-frame Functional Groups Sequence element."""
    element = _Maker(rng, values).sequence(0x52009230, 0)
    return b"\0" * 8 + element, 8 + 12


@pytest.fixture
def more_values(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[int, tuple[str, bytes]]]:
    """The value table with the kinds the real one lacks (SL, IS, LO, UI), both walks."""
    table = dict(_fastenh._VALUE_TAGS)
    table.update(
        {
            0x00189219: ("TagSL", b"SL"),
            0x00209058: ("TagIS", b"IS"),
            0x00209059: ("TagLO", b"LO"),
            0x0020905A: ("TagUI", b"UI"),  # a VR decode() does not handle
        }
    )
    monkeypatch.setattr(_fastenh, "_VALUE_TAGS", table)
    _fastenh._load_c()  # the C tables from the patched ones
    yield table
    monkeypatch.undo()
    _fastenh._load_c()


@needs_c
def test_walks_agree_on_generated_groups(more_values: dict[int, tuple[str, bytes]]) -> None:
    rng = random.Random(23)
    kinds: dict[str, int] = {}
    decoded: set[str] = set()  # the types of the values read (all kinds must occur)
    for _ in range(2000):
        data, pos = _generated(rng, more_values)
        length = struct.unpack_from("<I", data, pos - 4)[0]
        cases = [data, data[: rng.randrange(pos, len(data) + 1)]]
        if len(data) > pos:  # not an empty sequence of defined length
            cases += [_damaged(data, pos, len(data), rng) for _ in range(3)]
        for case in cases:
            got = _agree(case, pos, length)
            kind = got if isinstance(got, str) else "items"
            kinds[kind] = kinds.get(kind, 0) + 1
            decoded |= set(re.findall(r"\['(\w+)', ", str(got)))
    assert kinds.keys() == {"items", "Short", "Unhandled"}
    assert min(kinds.values()) > 500, kinds
    assert {"str", "int", "float", "DSfloat", "NoneType", "list", "dict"} <= decoded


@needs_c
def test_values_decoded_as_pydicom_gives_them() -> None:
    """FlipAngle and RepetitionTime are DSfloat, other DS text; binary as int/float."""
    body = (
        _element(0x00181314, b"DS", b"12")
        + _element(0x00180080, b"DS", b"3.8\\4")
        + _element(0x00209157, b"UL", struct.pack("<2I", 1, 2))
        + _element(0x00189087, b"FD", struct.pack("<d", 1000.0))
        + _element(0x00281053, b"DS", b" 1.5 ")
    )
    seq = _element(0x00189112, b"SQ", _item(body, True) + _SEQ_END, undefined=True)
    data = b"\0" * 8 + _element(0x52009230, b"SQ", _item(seq, False))
    items, end = _fastenh._items_c(data, 20, len(data) - 20)  # type: ignore[misc]
    assert end == len(data)
    got = items[0]["MRTimingAndRelatedParametersSequence"][0]
    assert got == {
        "FlipAngle": 12.0,
        "RepetitionTime": [3.8, 4.0],
        "DimensionIndexValues": [1, 2],
        "DiffusionBValue": 1000.0,
        "RescaleSlope": "1.5",
    }
    assert type(got["FlipAngle"]) is pydicom.valuerep.DSfloat
    assert _typed(items) == _typed(_fastenh._items(data, 20, len(data) - 20)[0])


@needs_c
def test_bad_ds_number_is_unhandled_both_ways() -> None:
    body = _element(0x00181314, b"DS", b"1.2.3")
    seq = _element(0x00189112, b"SQ", _item(body, False))
    data = b"\0" * 8 + _element(0x52009230, b"SQ", _item(seq, False))
    assert _agree(data, 20, len(data) - 20) == "Unhandled"


@needs_c
def test_deep_nesting_is_unhandled_not_a_crash() -> None:
    """Items nested far deeper than any file has: Unhandled (pydicom reads the file)."""
    inner = b""
    for _ in range(1000):
        inner = _element(0x00091001, b"SQ", _ITEM + inner + _ITEM_END + _SEQ_END, True)
    data = b"\0" * 8 + _element(0x52009230, b"SQ", _ITEM + inner + _ITEM_END + _SEQ_END, True)
    with pytest.raises(_fastenh.Unhandled):
        _fastenh._items_c(data, 20, _UNDEFINED)  # type: ignore[misc]


@needs_c
@pytest.mark.parametrize("enabled", [True, False])
def test_garbage_collector_state_kept(enabled: bool) -> None:
    data, pos = _generated(random.Random(1), _fastenh._VALUE_TAGS)
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        _outcome(_fastenh._items_c, data, pos, _UNDEFINED)  # type: ignore[arg-type]
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


# ---- the header pass reads the groups once --------------------------------------------


def _count_group_walks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    plain = _fastscan.functional_groups

    def counting(data: bytes, *args: Any) -> int:
        calls.append(len(data))
        return plain(data, *args)

    monkeypatch.setattr(_fastscan, "functional_groups", counting)
    return calls


def test_groups_walked_once_on_the_whole_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first read (sized for a classic header) stops at the functional groups: they
    are walked once, on more data, not first in part and then again."""
    si, _ = make_series(tmp_path, (20, 4, 16, 16), order="time")
    f = Path(write_series(si, tmp_path / "out", enhanced=True)[0])
    data = f.read_bytes()
    assert data.index(b"\x00\x52\x30\x92") < _scan.HEAD_BYTES < len(data)  # starts in it
    calls = _count_group_walks(monkeypatch)
    info = _scan.read_header(expand(f)[0])
    assert info is not None and info.values.get(_fastenh.PER_FRAME_KEY)
    assert calls == [len(data), len(data)]  # shared, per-frame: on the whole (small) file


def test_second_read_asks_for_what_the_file_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More than the first bytes: the rest of a small file is asked for, not 16 MiB
    (``read(n)`` allocates n bytes before it reads)."""
    si, _ = make_series(tmp_path, (20, 4, 16, 16), order="time")
    f = Path(write_series(si, tmp_path / "out", enhanced=True)[0])
    member = expand(f)[0]
    asked: list[int] = []
    plain_read = _scan.HeadFile.read  # the header pass reads files on disk through it

    def counting_read(self: Any, n: int) -> bytes:
        asked.append(n)
        return plain_read(self, n)

    monkeypatch.setattr(_scan.HeadFile, "read", counting_read)
    assert _scan.read_header(member) is not None
    assert asked == [_scan.HEAD_BYTES, f.stat().st_size - _scan.HEAD_BYTES]


def test_small_enhanced_file_read_in_one_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    si, _ = make_series(tmp_path, (2, 16, 16), order="none")
    f = Path(write_series(si, tmp_path / "out", enhanced=True)[0])
    assert f.stat().st_size < _scan.HEAD_BYTES  # the first read is the whole file
    calls = _count_group_walks(monkeypatch)
    info = _scan.read_header(expand(f)[0])
    assert info is not None and len(info.values[_fastenh.PER_FRAME_KEY]) == 2
    assert len(calls) == 2


# ---- raw elements of the template dataset ----------------------------------------------


def _raw_outcome(accelerated: bool, data: bytes, cut: tuple[int, int] | None) -> Any:
    walk = _fastenh._raw_elements_c if accelerated else _fastenh._raw_elements
    try:
        meta, pos = walk(data, 132, None, True)
        elements, end = walk(data, pos, cut, False)
    except (_fastenh.Unhandled, _fastenh.Short, struct.error):  # all: read with pydicom
        return "failed"
    for got in (meta, elements):  # the classes pydicom's own reader makes
        assert all(type(k) is pydicom.tag.BaseTag for k in got)
        assert all(type(e) is pydicom.dataelem.RawDataElement for e in got.values())
    return list(meta.items()), pos, list(elements.items()), end


@needs_c
def test_raw_elements_agree(tmp_path: Path) -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real scanner data not found at {SHARED_DATA}")
    files = _real_enhanced(tmp_path) + part10_files(SHARED_DATA.rglob("*"), most=60)
    files += part10_files(PYDICOM_FILES.glob("*.dcm"))
    rng = random.Random(29)
    kinds = set()
    for f in files:
        try:
            info = _scan.read_header(expand(f)[0], pixel_data=False)
        except ReadError:  # damaged on purpose (pydicom's test files)
            continue
        if info is None or info.offset < 0:
            continue
        data = f.read_bytes()[: info.offset]
        cut = info.values.get(_fastenh.PER_FRAME_SPAN)
        cases = [(data, cut)]
        for _ in range(8):
            cases.append((_damaged(data, 132, len(data), rng), cut))
            cases.append((data[: rng.randrange(132, len(data) + 1)], None))
        for case, case_cut in cases:
            c = _raw_outcome(True, case, case_cut)
            assert c == _raw_outcome(False, case, case_cut), f.name
            kinds.add("failed" if c == "failed" else "read")
    assert kinds == {"read", "failed"}
