"""The one-pass template encoder gives the same bytes as the reference encoder.

:func:`imagedata.formats._template.template_to_dicom_bytes` walks raw sequences over
their bytes and encodes simple decoded elements itself;
:func:`~imagedata.formats._template.reference_dicom_bytes` (strip the bulk data into a
new Dataset, let pydicom decode sequences, then encode element by element) is the
encoder it replaced.  Both must give the same bytes, on the real scanner series, on
every pydicom test file, and on datasets made to hit each rule.
"""

from __future__ import annotations

import copy
import struct
import warnings
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence

from imagedata.formats import _template
from tests.conftest import SHARED_DATA, read_dcm_qa

QA = SHARED_DATA / "dcm_qa"
FOLDERS = ["dcm_qa_nih", "dcm_qa_12bit", "dcm_qa_enh", "dcm_qa_ge_dwi", "dcm_qa_ts"]


def _same(ds: Dataset, where: str) -> bytes:
    """Both encoders on fresh copies (raw elements not decoded yet); the bytes must match."""
    ours = _template.template_to_dicom_bytes(copy.deepcopy(ds))
    ref = _template.reference_dicom_bytes(copy.deepcopy(ds))
    assert ours == ref, where
    return ours


def _same_or_refused(ds: Dataset, where: str) -> bytes | None:
    """:func:`_same`; or, for a value pydicom refuses, refused the same way (None)."""
    try:
        ref = _template.reference_dicom_bytes(copy.deepcopy(ds))
    except Exception as err:  # a value pydicom refuses: refused the same way
        with pytest.raises(type(err)):
            _template.template_to_dicom_bytes(copy.deepcopy(ds))
        return None
    ours = _template.template_to_dicom_bytes(copy.deepcopy(ds))
    assert ours == ref, where
    return ours


@pytest.mark.parametrize("folder", FOLDERS)
def test_real_series_same_bytes(folder: str) -> None:
    series = read_dcm_qa(f"{folder}/In")
    assert series
    for key, si in series:
        _same(si.header.template, f"{folder} {key}")


def _pydicom_files() -> list[str]:
    """pydicom's own test files that ship with it (none downloaded)."""
    import pydicom.data

    folder = Path(pydicom.data.__file__).parent / "test_files"
    return sorted(str(f) for f in folder.rglob("*.dcm"))


def test_pydicom_test_files_same_bytes() -> None:
    files = _pydicom_files()
    if len(files) < 20:
        pytest.skip("pydicom's test files are not installed")
    walked = 0
    original = _template._walk_sequence

    def counting(data: memoryview, limit: int) -> bytes:
        nonlocal walked
        out = original(data, limit)
        walked += 1
        return out

    checked = 0
    with warnings.catch_warnings(), pytest.MonkeyPatch.context() as mp:
        warnings.simplefilter("ignore")
        mp.setattr(_template, "_walk_sequence", counting)
        for name in files:
            try:
                ds = pydicom.dcmread(name, force=True)
                ref = _template.reference_dicom_bytes(copy.deepcopy(ds))
            except Exception:  # files pydicom itself cannot read or encode
                continue
            assert _template.template_to_dicom_bytes(copy.deepcopy(ds)) == ref, name
            checked += 1
    assert checked > 20
    assert walked > 20  # raw sequences were re-encoded from their bytes, not by pydicom


def _explicit(ds: Dataset) -> Dataset:
    """`ds` written as explicit VR little endian and read back (raw elements)."""
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_dataset(buf, ds)
    return read_dataset(BytesIO(buf.getvalue()), False, True)


def _item(**values: object) -> Dataset:
    item = Dataset()
    for key, value in values.items():
        setattr(item, key, value)
    return item


def test_nested_sequences_bulk_and_group_lengths() -> None:
    ds = Dataset()
    ds.PatientID = "P"
    inner = _item(CodeValue="T-A0100", CodeMeaning="Brain")
    inner.add_new(0x00091010, "OB", b"\1" * 2000)  # bulk inside an item: left out
    inner.add_new(0x00091011, "OB", b"\2" * 10)  # short binary: kept
    inner.add_new(0x00090000, "UL", 4)  # retired group length: dropped
    outer = _item(ReferencedSOPInstanceUID="1.2.3", ReferencedSOPClassUID="1.2")
    outer.AnatomicRegionSequence = Sequence([inner, _item(CodeValue="X")])
    ds.ReferencedImageSequence = Sequence([outer, _item()])
    ds.add_new(0x7FE00010, "OB", b"\0" * 8)
    read = _explicit(ds)
    out = _same(read, "nested")
    back = _template.template_from_dicom_bytes(out)
    region = back.ReferencedImageSequence[0].AnatomicRegionSequence[0]
    assert region.CodeMeaning == "Brain" and 0x00091010 not in region
    assert 0x00091011 in region and 0x00090000 not in region
    assert 0x7FE00010 not in back


def test_undefined_length_sequences() -> None:
    """Items of undefined length; a raw sequence of undefined length (as the header scan
    keeps one) with its sequence delimiter; a nested sequence of undefined length."""
    ds = Dataset()
    ds.PatientID = "P"
    inner = Sequence([_item(CodeValue="C")])
    inner.is_undefined_length = True
    seq = Sequence([_item(CodeValue="A", AnatomicRegionSequence=inner), _item(CodeValue="B")])
    ds.ReferencedImageSequence = seq
    for item in seq:
        item.is_undefined_length_sequence_item = True
    read = _explicit(ds)
    raw = read.get_item(0x00081140)
    assert b"\xfe\xff\x0d\xe0" in raw.value  # undefined-length items
    _same(read, "undefined items")
    delimited = raw.value + b"\xfe\xff\xdd\xe0\0\0\0\0"
    read._dict[raw.tag] = raw._replace(length=0xFFFFFFFF, value=delimited)
    _same(read, "undefined sequence")


def _raw_item(*elements: bytes) -> bytes:
    body = b"".join(elements)
    return b"\xfe\xff\x00\xe0" + struct.pack("<I", len(body)) + body


def _short(tag: int, vr: bytes, value: bytes) -> bytes:
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


def _long(tag: int, vr: bytes, value: bytes, reserved: int = 0) -> bytes:
    return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr, reserved, len(value)) + value


def _undefined_sq(tag: int, *elements: bytes) -> bytes:
    """A sequence of undefined length holding one item of undefined length."""
    item = b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + b"".join(elements) + b"\xfe\xff\x0d\xe0\0\0\0\0"
    head = struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, b"SQ", 0, 0xFFFFFFFF)
    return head + item + b"\xfe\xff\xdd\xe0\0\0\0\0"


@pytest.mark.parametrize(
    ("where", "item"),
    [
        (
            "in order",
            _raw_item(_short(0x00080100, b"SH", b"T-A0"), _long(0x00091010, b"OB", b"ab")),
        ),
        ("empty", _raw_item()),
        ("unsorted", _raw_item(_short(0x00080104, b"LO", b"B "), _short(0x00080100, b"SH", b"A "))),
        (
            "duplicate",
            _raw_item(
                _short(0x00080100, b"SH", b"A "),
                _short(0x00080104, b"LO", b"B "),
                _short(0x00080104, b"LO", b"C "),
            ),
        ),
        (
            "reserved",
            _raw_item(_short(0x00080100, b"SH", b"A "), _long(0x00091010, b"OB", b"ab", 7)),
        ),
        (
            "group length",
            _raw_item(_short(0x00090000, b"UL", b"\4\0\0\0"), _short(0x00091001, b"LO", b"x ")),
        ),
        (
            "bulk",
            _raw_item(_short(0x00080100, b"SH", b"A "), _long(0x00091010, b"OB", b"\1" * 2000)),
        ),
        (
            "pixel group",
            _raw_item(_short(0x00080100, b"SH", b"A "), _long(0x7FE00010, b"OB", b"\0\0")),
        ),
        (
            "nested, rewritten",
            _raw_item(
                _short(0x00080100, b"SH", b"A "),
                _long(0x00082218, b"SQ", _raw_item(_long(0x00091010, b"OB", b"cd", 1))),
            ),
        ),
        (
            "rewritten amid others",
            _raw_item(
                _short(0x00080100, b"SH", b"A "),
                _long(0x00082218, b"SQ", _raw_item(_long(0x00091010, b"OB", b"cd", 1))),
                _short(0x00082220, b"LO", b"B "),
                _long(0x00091010, b"OB", b"ef", 3),
                _short(0x00091011, b"LO", b"C "),
            ),
        ),
        (
            "undefined nested amid others",
            _raw_item(
                _short(0x00080100, b"SH", b"A "),
                _undefined_sq(0x00082218, _short(0x00080100, b"SH", b"B ")),
                _short(0x00082220, b"LO", b"C "),
            ),
        ),
        (
            "rewritten, then unsorted",
            _raw_item(
                _short(0x00080104, b"LO", b"B "),
                _long(0x00091010, b"OB", b"ab", 7),
                _short(0x00080100, b"SH", b"A "),
            ),
        ),
        (
            "rewritten, then left out",
            _raw_item(
                _long(0x00091010, b"OB", b"ab", 7),
                _short(0x00091011, b"LO", b"C "),
                _long(0x00091012, b"OB", b"\1" * 2000),
                _short(0x00091013, b"LO", b"D "),
            ),
        ),
        (
            "rewritten, then group length",
            _raw_item(
                _long(0x00081010, b"OB", b"ab", 7),
                _short(0x00090000, b"UL", b"\4\0\0\0"),
                _short(0x00091001, b"LO", b"x "),
            ),
        ),
        (
            "nested, as written",
            _raw_item(
                _short(0x00080100, b"SH", b"A "),
                _long(0x00082218, b"SQ", _raw_item(_short(0x00080100, b"SH", b"B "))),
            ),
        ),
    ],
)
def test_raw_items_same_bytes(where: str, item: bytes) -> None:
    """Items walked over their bytes: copied as they are when the reference would write
    the same bytes, rebuilt (sorted, last duplicate, reserved zero, left out) when not."""
    raw = _short(0x00100020, b"LO", b"P ") + _long(0x00400275, b"SQ", item + item)
    read = read_dataset(BytesIO(raw), False, True)
    assert isinstance(read._dict[0x00400275], pydicom.dataelem.RawDataElement)
    _same(read, where)


def test_unusual_items_left_to_pydicom() -> None:
    """An UN element inside an item, an item of a changed character set: the same bytes."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Müller"
    item = _item(SpecificCharacterSet="ISO_IR 192", CodeMeaning="Straße")
    item.add_new(0x00091010, "UN", b"abcd")
    ds.ReferencedImageSequence = Sequence([item])
    read = _explicit(ds)
    _same(read, "charset")


def test_decoded_elements_of_simple_vrs() -> None:
    """Elements set in Python (not read): numbers, UIDs, strings, DS/IS, text, multi-values."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.Rows, ds.Columns = 3, 4
    ds.SliceThickness = 1.25
    ds.ImagePositionPatient = [1.5, -2, 3.0001]
    ds.EchoNumbers = 2
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M"]
    ds.SOPInstanceUID = "1.2.345"  # odd length: NUL padded
    ds.SeriesDescription = "odd"
    ds.InstitutionName = "Klinikum Straße"  # not ASCII: pydicom encodes it
    ds.ImageComments = "long text " * 10
    ds.add_new(0x00091010, "LO", "CREATOR")
    ds.add_new(0x00091011, "FD", [1.5, 2.5])
    ds.add_new(0x00091012, "UL", 7)
    ds.add_new(0x00091013, "SS", -3)
    ds.add_new(0x00091014, "US", None)
    ds.add_new(0x00091015, "CS", "")
    ds.AcquisitionDate = "20240101"
    ds.PatientName = "Doe^John"
    _same(ds, "decoded")


@pytest.mark.parametrize("charset", [None, "ISO_IR 100", "ISO 2022 IR 87"])
@pytest.mark.parametrize(
    ("vr", "value"),
    [
        ("LO", "odd"),
        ("LO", ""),
        ("SH", "even"),
        ("UT", "text with a \\ backslash"),
        ("UI", pydicom.uid.UID("1.2.3")),
        ("UI", pydicom.uid.UID("")),
        ("CS", "ESC\x1bX"),
        ("DS", "1.5"),
        ("DS", " 1.50 "),
        ("DS", 2.5),
        ("DS", 0.1 + 0.2),
        ("IS", "12"),
        ("IS", 3),
        ("US", 7),
        ("US", 2.5),
        ("SS", -3),
        ("FD", 0.1),
        ("FL", 1e-3),
        ("UL", True),
        ("SL", 2**40),
    ],
)
def test_decoded_single_values_same_bytes(charset: str | None, vr: str, value: object) -> None:
    """One decoded value (a str, a UID, an int or a float) in each character set: the
    encoder's one-value steps give pydicom's bytes, or fail where pydicom fails."""
    ds = Dataset()
    if charset is not None:
        ds.SpecificCharacterSet = charset
    ds.add_new(0x00091010, "LO", "CREATOR")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's notes on invalid values and charsets
        ds.add_new(0x00091011, vr, value)
        _same_or_refused(ds, f"{vr} {value!r} {charset}")


def test_ambiguous_and_changed_charset_datasets() -> None:
    ds = Dataset()
    ds.PixelRepresentation = 1
    ds.SmallestImagePixelValue = -5  # 'US or SS': the whole dataset by pydicom
    _same(ds, "ambiguous")
    other = Dataset()
    other.SpecificCharacterSet = "ISO 2022 IR 87"
    other.PatientID = "ABC"  # ASCII, but a character set with escape sequences
    other.StudyDescription = "abc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's own note on this character set
        _same(other, "iso2022")


def test_value_too_long_for_short_vr_is_an_error_as_before() -> None:
    ds = Dataset()
    ds.add_new(0x00091010, "LO", "CREATOR")
    raw = pydicom.dataelem.RawDataElement(
        pydicom.tag.Tag(0x00091011), "SH", 70000, b"x" * 70000, 0, False, True
    )
    ds._dict[raw.tag] = raw
    with pytest.raises(ValueError, match="70000 bytes"):
        _template.template_to_dicom_bytes(copy.deepcopy(ds))
    with pytest.raises(ValueError, match="70000 bytes"):
        _template.reference_dicom_bytes(copy.deepcopy(ds))


@pytest.mark.parametrize(("vr", "value"), [("FL", 1e40), ("US", 70000), ("UL", -1)])
def test_values_pydicom_cannot_encode_fail_as_before(vr: str, value: float) -> None:
    ds = Dataset()
    ds.add_new(0x00091010, "LO", "CREATOR")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's note on the value
        ds.add_new(0x00091011, vr, value)
    with pytest.raises(OSError):
        _template.reference_dicom_bytes(copy.deepcopy(ds))
    with pytest.raises(OSError):
        _template.template_to_dicom_bytes(copy.deepcopy(ds))


# --- private elements read with implicit VR (copied where pydicom gives the bytes back) ----


def _implicit(elements: list[tuple[int, bytes]]) -> Dataset:
    """A dataset read from implicit VR little endian bytes (its elements raw, VR unknown)."""
    raw = b"".join(
        struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value
        for tag, value in sorted(elements)
    )
    return read_dataset(BytesIO(raw), True, True)


_MR = (0x00190010, b"SIEMENS MR HEADER ")
_CSA = (0x00290010, b"SIEMENS CSA HEADER")
#: (tag, values) of elements of the Siemens blocks above, by the VR pydicom's private
#: dictionary gives them: plain values (copied) and values pydicom changes (decoded).
_PRIVATE_CASES = [
    ("CS", 0x00191008, [b"IMAGE NUM 4 ", b"AB", b"", b"AB  ", b" A", b"A\\B ", b"A\0", b"\xe9A"]),
    ("SH", 0x0019100F, [b"Fast", b"Fa t ", b"Fast  ", b"F\\st", b"\x1b(B", b"Fa\xe9 "]),
    ("US", 0x0019100A, [b"#\x00", b"\x01\x00\x02\x00", b"\x01\x00\x02", b""]),
    ("SL", 0x00191012, [b"\0\0\0\0\0\0\0\0\x1c\xfb\xff\xff", b"\x01\x00\x00\x00\x02\x00"]),
    ("FD", 0x00191028, [b"\xf4\xfd\xd4x\xe9\xe6K@", b"\x00\x00\x00\x00\x00\x00\xf8\x7f", b"1234"]),
    ("DS", 0x0019100B, [b"17.5", b"0 ", b" 1 ", b"1\\2 ", b"1e3 ", b"-.5 ", b"+1.E-2", b"1.5  "]),
    ("DS", 0x0019100B, [b"00", b"1.0000000000000000", b"nan ", b"1,5 ", b"", b"12345678901234 "]),
    ("IS", 0x00191018, [b"3700", b"+1", b"1\\2 ", b" 7", b"-0", b"007 ", b"1.0 ", b"2147483648"]),
    ("OB", 0x00291010, [b"\x01\x02", b"x" * 2048, b"x" * 1024]),
    ("CS", 0x00291008, [b"IMAGE NUM 4 ", b"AB  "]),
]


@pytest.mark.parametrize(
    ("vr", "tag", "value"),
    [(vr, tag, v) for vr, tag, values in _PRIVATE_CASES for v in values],
    ids=lambda x: repr(x)[:20],
)
@pytest.mark.parametrize("charset", [None, b"ISO_IR 100", b"ISO_IR 192", b"ISO 2022 IR 87 "])
def test_private_implicit_elements_same_bytes(
    vr: str, tag: int, value: bytes, charset: bytes | None
) -> None:
    from pydicom.datadict import private_dictionary_VR

    creator = _MR if tag >> 16 == 0x0019 else _CSA
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    assert private_dictionary_VR(tag, creator[1].decode().strip()) == vr  # the case is right
    elements = [creator, (tag, value), (0x00100020, b"ID01")]
    if charset is not None:
        elements.append((0x00080005, charset))
    ds = _implicit(elements)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's notes on invalid values and charsets
        ours = _same_or_refused(ds, f"{vr} {value!r} {charset!r}")
    if ours is not None:
        assert (head in ours) == (len(value) <= 1024)  # bulk left out


def test_private_implicit_elements_without_dictionary_entry_are_un() -> None:
    """Unknown creator, no creator, a creator element itself: UN (or LO), bytes unchanged."""
    elements = [
        (0x00290010, b"ACME 1.0"),
        (0x00291001, b"abc\0"),  # unknown creator: UN
        (0x00291002, b"y" * 1030),  # UN bulk: left out
        (0x00311001, b"\x01\x02\x03\x04"),  # no creator for the block: UN
        (0x00330001, b"ab"),  # not a valid private tag: UN
        _MR,
        (0x00191008, b"IMAGE NUM 4 "),
    ]
    ours = _same(_implicit(elements), "private UN")
    head = struct.pack("<HH2sHI", 0x0029, 0x1001, b"UN", 0, 4)
    assert head + b"abc\0" in ours and b"y" * 1030 not in ours
    assert struct.pack("<HH2sH", 0x0019, 0x0010, b"LO", 18) + b"SIEMENS MR HEADER " in ours


def test_private_implicit_elements_decoded_once_by_pydicom_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The copied elements stay raw in the template; a user's VR hook sends all to pydicom."""
    from pydicom.dataelem import RawDataElement
    from pydicom.hooks import hooks

    ds = _implicit([_MR, (0x00191008, b"IMAGE NUM 4 "), (0x0019100A, b"#\x00")])
    _template.template_to_dicom_bytes(ds)
    assert isinstance(ds._dict[0x0019100A], RawDataElement)
    calls: list[int] = []

    def vr_hook(raw: RawDataElement, data: dict[str, object], **kwargs: object) -> None:
        calls.append(int(raw.tag))
        data["VR"] = "UN" if raw.tag >> 16 & 1 and raw.tag & 0xFF00 else "LO"

    monkeypatch.setattr(hooks, "raw_element_vr", vr_hook)
    ds = _implicit([_MR, (0x00191008, b"IMAGE NUM 4 "), (0x0019100A, b"#\x00")])
    ours = _template.template_to_dicom_bytes(ds)
    assert 0x0019100A in calls  # pydicom (with the user's hook) decoded it
    assert struct.pack("<HH2sHI", 0x0019, 0x100A, b"UN", 0, 2) + b"#\x00" in ours


def _big_endian(elements: list[tuple[int, str, bytes]]) -> Dataset:
    """A dataset read from explicit VR big endian bytes (its elements raw)."""
    raw = b"".join(
        struct.pack(">HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value
        for tag, vr, value in sorted(elements)
    )
    return read_dataset(BytesIO(raw), False, False)


@pytest.mark.parametrize(
    ("tag", "vr", "value"),
    [
        (0x00280010, "US", b"\x01\x02"),  # Rows
        (0x00280010, "US", b""),
        (0x00280010, "US", b"\x01\x02\x03"),  # not a whole value: pydicom's error
        (0x00181310, "US", b"\x00\x01\x00\x02\x00\x03\x00\x04"),  # AcquisitionMatrix
        (0x00283002, "US", b"\x01\x00\x00\x00\x00\x10"),  # LUT descriptor: pydicom
        (0x00283002, "SS", b"\xff\xfe\x00\x00\x00\x10"),
        (0x00291012, "SL", b"\xff\xff\xfb\x1c\x00\x00\x00\x01"),
        (0x00291013, "UL", b"\x00\x00\x00\x07"),
        (0x00291014, "SS", b"\xff\xfd\x00\x02"),
        (0x00180095, "FD", b"@K\xe6\xe9x\xd4\xfd\xf4\x7f\xf8\x00\x00\x00\x00\x00\x01"),
        (0x00291015, "FD", b"\x00" * 12),
    ],
)
def test_big_endian_numbers_same_bytes(tag: int, vr: str, value: bytes) -> None:
    """Explicit VR big endian numbers: swapped here value by value, as pydicom writes them."""
    ds = _big_endian([(tag, vr, value), (0x00100020, "LO", b"ID01")])
    _same_or_refused(ds, f"{vr} {value!r}")
