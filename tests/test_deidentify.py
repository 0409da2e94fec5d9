"""De-identification against the PS3.15 Table E.1-1 and against an independent de-identifier."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from imagedata._deid_profile import profile
from imagedata.cli.anonymize import main as anonymize_main
from imagedata.deidentify import (
    DeidentificationError,
    Deidentifier,
    Options,
    UIDMap,
    anonymize_series,
    anonymize_study,
    deidentify,
)
from imagedata.header import Header
from imagedata.testing import make_dicom_series
from tests.conftest import SHARED_DATA

TABLE = profile()
PHI = "SECRET"  # every identifying text value in the tests contains this


def _value(vr: str, tag: int) -> Any:
    """A value of `vr` for `tag` that is easy to recognise."""
    if vr == "SQ":
        item = Dataset()
        item.CodeMeaning = f"{PHI} code meaning"
        return DicomSequence([item])
    return {
        "PN": f"{PHI}^Person", "DA": "20240229", "TM": "101112", "DT": "20240229101112",
        "UI": f"1.2.826.0.1.3680043.2.9999.{tag}", "AS": "042Y", "DS": "72.5", "IS": "7",
        "US": 7, "SS": 7, "UL": 7, "SL": 7, "FL": 1.5, "FD": 1.5, "CS": "SECRET",
        "OB": b"SECRET", "OW": b"SECRET", "UN": b"SECRET", "AT": 0x00100010,
    }.get(vr, f"{PHI} {tag:08X}")  # fmt: skip


def _everything() -> Dataset:
    """A dataset with every attribute of Table E.1-1 that the data dictionary knows."""
    ds = Dataset()
    for tag in TABLE:
        if tag >> 16 in (0x0000, 0x0002):  # command and file meta groups are not data set
            continue
        try:
            vr = dictionary_VR(tag).split(" or ")[0]
        except KeyError:
            continue
        ds.add_new(tag, vr, _value(vr, tag))
    return ds


def _expect(act: str, before: Any, after: Any, vr: str, kw: str) -> None:
    if act == "X":
        assert after is None, f"{kw} should be removed"
    elif act == "K":
        assert after is not None and after.value == before.value, f"{kw} should be kept"
    else:
        assert after is not None, f"{kw} should be present ({act})"
        if vr == "UI":
            assert after.value != before.value and str(after.value).startswith("2.25."), kw
        elif vr != "SQ":
            assert PHI not in str(after.value), f"{kw} ({act}) still holds {after.value!r}"
            assert after.value != before.value or not before.value, kw


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"keep_dates": True},
        {"shift_days": -100},
        {"keep_patient_characteristics": True, "keep_device_identity": True},
        {"keep_descriptions": True},
    ],
    ids=["basic", "full-dates", "modified-dates", "patient-device", "descriptions"],
)
def test_every_table_attribute_gets_its_action(options: dict[str, Any]) -> None:
    ds = _everything()
    deid = Deidentifier(Options(**options))
    out = deid.dataset(ds)
    checked = 0
    for tag, (basic, opts) in TABLE.items():
        if tag not in ds or tag in (0x00100010, 0x00100020):  # name and ID: pseudonym
            continue
        kw, vr = keyword_for_tag(tag) or hex(tag), ds[tag].VR
        act = deid.action(tag)
        assert act is not None
        if act == "SHIFT":
            if vr == "DA":
                assert out[tag].value == "20231121", kw  # 2024-02-29 minus 100 days
            elif vr == "DT":
                assert out[tag].value == "20231121101112", kw
            else:
                assert out[tag].value == ds[tag].value, kw  # times are kept
        elif act == "C" and vr not in ("LO", "SH", "LT", "ST", "UT", "UC", "PN", "CS", "SQ"):
            assert tag not in out, f"{kw}: binary data cannot be cleaned, so it is removed"
        else:
            _expect(act if act != "U*" else "SQ", ds[tag], out.get(tag), vr, kw)
        checked += 1
        # the options change exactly the columns they name
        if "t" in opts and options.get("keep_dates"):
            assert act == "K"
        if "c" in opts and options.get("keep_descriptions"):
            assert act == "C"
        if not options and basic in ("X", "Z", "D", "U"):
            assert act == basic
    assert checked > 380, checked
    assert out.PatientIdentityRemoved == "YES"
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert codes[0] == "113100" and codes[-1] == "113111"  # basic ... retain safe private
    assert len(codes) == 2 + len(options)


def test_table_rows_as_the_standard_states() -> None:
    """Spot checks of the data against PS3.15 Table E.1-1 (2024 edition)."""
    assert TABLE[0x00100010] == ("Z", frozenset())  # Patient's Name
    assert TABLE[0x00100030] == ("Z", frozenset())  # Patient's Birth Date: no option keeps it
    assert TABLE[0x00080018] == ("U", frozenset())  # SOP Instance UID
    assert TABLE[0x00080020] == ("Z", frozenset({"t"}))  # Study Date
    assert TABLE[0x00080080] == ("X/Z/D", frozenset())  # Institution Name
    assert TABLE[0x00181000] == ("X/Z/D", frozenset({"dK"}))  # Device Serial Number
    assert TABLE[0x00101010] == ("X", frozenset({"pK"}))  # Patient's Age
    assert TABLE[0x0008103E] == ("X", frozenset({"c"}))  # Series Description
    assert TABLE[0x00081140] == ("X/Z/U*", frozenset())  # Referenced Image Sequence
    assert all(a in {"X", "Z", "D", "U", "K", "C", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"}
               for a, _ in TABLE.values())  # fmt: skip


@pytest.fixture
def series(tmp_path: Path) -> Any:
    return make_dicom_series(
        tmp_path / "src", (3, 8, 8), PatientName="SECRET^Jane", PatientID="SECRET-ID",
        InstitutionName="SECRET hospital", StationName="SECRET-MR1",
        ReferringPhysicianName="SECRET^Doctor", SeriesDescription="SECRET protocol",
        AccessionNumber="SECRET42", StudyDate="20240229", PatientBirthDate="19700101",
    )  # fmt: skip


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_pixels_geometry_and_references_survive(series: Any) -> None:
    files = [pydicom.dcmread(f) for f in series.files]
    ref = files[1]
    ref.ReferencedImageSequence = DicomSequence([Dataset()])
    ref.ReferencedImageSequence[0].ReferencedSOPClassUID = files[0].SOPClassUID
    ref.ReferencedImageSequence[0].ReferencedSOPInstanceUID = files[0].SOPInstanceUID
    ref.add_new(0x00091010, "LO", "SECRET private")
    ref.add_new(0x00090010, "LO", "ACME")
    before = copy.deepcopy(ref)
    deid = Deidentifier()
    a, b = deid.dataset(files[0]), deid.dataset(ref)
    assert ref == before  # the input is not modified
    assert b.ReferencedImageSequence[0].ReferencedSOPInstanceUID == a.SOPInstanceUID
    assert b.ReferencedImageSequence[0].ReferencedSOPClassUID == files[0].SOPClassUID
    assert a.StudyInstanceUID == b.StudyInstanceUID != files[0].StudyInstanceUID
    assert a.FrameOfReferenceUID == b.FrameOfReferenceUID != files[0].FrameOfReferenceUID
    assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
    assert a.SOPClassUID == files[0].SOPClassUID
    for kw in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
               "SliceThickness", "Rows", "Columns", "PixelData", "RescaleSlope"):  # fmt: skip
        if kw in files[0]:
            assert a[kw].value == files[0][kw].value, kw
    np.testing.assert_array_equal(a.pixel_array, files[0].pixel_array)
    assert not any(e.tag.is_private for e in b)
    kept = Deidentifier(safe_private=frozenset({("ACME", 0x10)})).dataset(ref)
    assert kept[0x00091010].value == "SECRET private" and kept[0x00090010].value == "ACME"


def test_uid_map_is_consistent_across_runs(tmp_path: Path) -> None:
    ds = Dataset()
    ds.StudyInstanceUID, ds.PatientID = "1.2.3.4.5", "P1"
    with UIDMap(tmp_path / "map.sqlite") as m1:
        first = Deidentifier(uids=m1).dataset(ds)
    with UIDMap(tmp_path / "map.sqlite") as m2:
        again = Deidentifier(uids=m2).dataset(ds)
    assert first.StudyInstanceUID == again.StudyInstanceUID
    assert first.PatientID == again.PatientID != "P1"
    other = deidentify(ds)  # no map: a random key per run
    assert other.StudyInstanceUID != first.StudyInstanceUID
    assert len(first.StudyInstanceUID) <= 64 and len(other.StudyInstanceUID) <= 64
    assert deidentify(ds, patient_id="SUBJ01").PatientID == "SUBJ01"
    with pytest.raises(DeidentificationError, match="exclude each other"):
        Options(keep_dates=True, shift_days=3)


def test_burned_in_annotation_is_refused(series: Any) -> None:
    ds = pydicom.dcmread(series.files[0])
    ds.BurnedInAnnotation = "YES"
    with pytest.raises(DeidentificationError, match=r"BurnedInAnnotation.*--allow-burned-in"):
        deidentify(ds)
    with pytest.warns(UserWarning, match="names may still be in the pixels"):
        assert deidentify(ds, allow_burned_in=True).BurnedInAnnotation == "YES"


def test_clean_descriptors_blanks_names_ids_and_dates() -> None:
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Jane", "12345", "19700101"
    ds.ReferringPhysicianName = "House^Gregory"
    ds.SeriesDescription = "t1 head of jane DOE (12345), born 19700101, for Dr House"
    ds.StudyDescription = "Doesburg protocol"  # a word that merely starts like a name
    kept = deidentify(ds, keep_descriptions=True)
    assert kept.SeriesDescription == "t1 head of X X (X), born X, for Dr X"
    assert kept.StudyDescription == "Doesburg protocol"
    assert "SeriesDescription" not in deidentify(ds)  # basic profile: removed
    assert list(kept.DeidentificationMethod)[:2] == [
        "imagedata", "Basic Application Confidentiality Profile"
    ]  # fmt: skip
    assert "113105" in [i.CodeValue for i in kept.DeidentificationMethodCodeSequence]


def test_cli_anonymize(series: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = series.files[0].parent
    before = _tree(src)
    out, mapfile = tmp_path / "anon", tmp_path / "map.sqlite"
    args = [str(src), str(out), "--map", str(mapfile), "--shift-dates", "-10"]
    assert anonymize_main(args) == 0
    assert _tree(src) == before  # the input is untouched
    got = sorted(out.rglob("*.dcm"))
    assert len(got) == len(series.files)
    for path in got:
        assert b"SECRET" not in path.read_bytes(), path
        ds = pydicom.dcmread(path)
        assert ds.StudyDate == "20240219" and not ds.get("PatientBirthDate")
    # a second run with the same map gives the same UIDs
    assert anonymize_main([str(src), str(tmp_path / "again"), "--map", str(mapfile)]) == 0
    assert sorted(p.name for p in (tmp_path / "again").rglob("*.dcm")) == [p.name for p in got]
    capsys.readouterr()


def test_cli_refusal_leaves_nothing(
    series: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = pydicom.dcmread(series.files[-1])
    ds.BurnedInAnnotation = "YES"
    ds.save_as(series.files[-1])
    out = tmp_path / "anon"
    assert anonymize_main([str(series.files[0].parent), str(out)]) == 1
    assert "BurnedInAnnotation" in capsys.readouterr().err
    assert not out.exists()
    assert anonymize_main([str(series.files[0].parent), str(out), "--allow-burned-in"]) == 0
    assert len(list(out.rglob("*.dcm"))) == len(series.files)
    assert anonymize_main([str(series.files[0].parent), str(out), "--keep-dates",
                           "--shift-dates", "3"]) == 2  # fmt: skip


class _Like:
    """Anything with a header (what Series.anonymize hands over)."""

    def __init__(self, header: Header) -> None:
        self.header = header


def test_anonymize_series_and_study(series: Any) -> None:
    template = pydicom.dcmread(series.files[0], stop_before_pixels=True)
    a = _Like(Header.default((3, 8, 8), template=template))
    b = _Like(Header.default((3, 8, 8), template=copy.deepcopy(template)))
    h = anonymize_series(a)
    assert "SECRET" not in str(h.template) and np.array_equal(h.affine, a.header.affine)
    assert a.header.template.PatientName == "SECRET^Jane"
    ha, hb = anonymize_study([a, b])
    assert ha.template.StudyInstanceUID == hb.template.StudyInstanceUID
    assert ha.template.StudyInstanceUID != template.StudyInstanceUID


# --- against dicognito ----------------------------------------------------------------------


def _sources(tmp_path: Path) -> list[Dataset]:
    from pydicom.data import get_testdata_file

    out = []
    for name in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtstruct.dcm"):
        ds = pydicom.dcmread(str(get_testdata_file(name)), force=True)
        for kw, value in {
            "PatientAddress": "SECRET street 1", "OtherPatientIDs": "SECRET-2",
            "PatientTelephoneNumbers": "555-SECRET", "InstitutionAddress": "SECRET road",
            "PerformingPhysicianName": "SECRET^Doc", "OperatorsName": "SECRET^Op",
            "RequestingPhysician": "SECRET^Req", "PatientMotherBirthName": "SECRET^Mom",
            "MilitaryRank": "SECRET", "IssuerOfPatientID": "SECRET issuer",
        }.items():  # fmt: skip
            setattr(ds, kw, value)
        out.append(ds)
    return out


def test_nothing_dicognito_removes_survives(tmp_path: Path) -> None:
    """Every value dicognito changes (an identifying one) is gone or changed in ours too."""
    dicognito = pytest.importorskip("dicognito.anonymizer")
    compared = 0
    for ds in _sources(tmp_path):
        theirs = copy.deepcopy(ds)
        dicognito.Anonymizer().anonymize(theirs)
        ours = Deidentifier().dataset(ds)
        their_values, our_values = dict(_walk(theirs)), dict(_walk(ours))
        for path, value in _walk(ds):
            if their_values.get(path, object()) == value or path[-1] in _MARKS:
                continue
            if not _identifying(value):
                continue  # kept by dicognito too, or its own de-identification marks
            compared += 1
            assert our_values.get(path) != value, f"{path}={value!r} changed by dicognito"
    assert compared > 60, compared


_MARKS = {0x00120062, 0x00120063}  # PatientIdentityRemoved, DeidentificationMethod


def _identifying(value: Any) -> bool:
    """False for DICOM-defined UIDs (context groups ...), which dicognito replaces too."""
    return not str(value).startswith("1.2.840.10008.")


def _walk(ds: Dataset, prefix: tuple[int, ...] = ()) -> Any:
    """(path, value) of every non-empty public, non-binary element, items numbered."""
    for elem in ds:
        path = (*prefix, int(elem.tag))
        if elem.VR == "SQ":
            for k, item in enumerate(elem.value or []):
                yield from _walk(item, (*path, k))
        elif not elem.tag.is_private and elem.VR not in ("OB", "OW", "UN") and elem.value:
            yield path, elem.value


def test_output_identical_for_identical_input_within_a_run(series: Any) -> None:
    deid = Deidentifier()
    ds = pydicom.dcmread(series.files[0])
    one, two = deid.dataset(ds), deid.dataset(ds)
    assert hashlib.sha256(str(one).encode()).digest() == hashlib.sha256(str(two).encode()).digest()


# --- real scanner data ----------------------------------------------------------------------

QA = SHARED_DATA / "dcm_qa"
#: A Siemens mosaic time series, a GE diffusion tensor series, a Philips enhanced file.
REAL = ["dcm_qa_nih/In/20180918Si/mr_0005", "dcm_qa_ge_dwi/In/01_Ax_DWI_TENSOR_R2",
        "dcm_qa_enh/In/Philips"]  # fmt: skip


@pytest.mark.parametrize("name", REAL)
def test_real_series_reads_the_same_after_anonymize(name: str, tmp_path: Path) -> None:
    """Pixels, geometry and tag axes as imagedata reads them are unchanged."""
    from imagedata import Series

    folder = QA / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not found (the shared scanner data are not installed)")
    out = tmp_path / "anon"
    assert anonymize_main([str(folder), str(out), "--shift-dates", "7", "-q"]) == 0
    # the Philips file holds magnitude and field-map frames: two sub-series
    pick = {"series": "801.1"} if "Philips" in name else {}
    before, after = Series(folder, **pick), Series(out, **pick)
    np.testing.assert_array_equal(np.asarray(after), np.asarray(before))
    np.testing.assert_allclose(after.affine, before.affine)
    assert after.shape == before.shape
    for a, b in zip(after.axes, before.axes, strict=True):
        assert a.name == b.name
        if b.values is not None:
            np.testing.assert_allclose(np.asarray(a.values, float), np.asarray(b.values, float))
    assert after.patientID.startswith("ANON") and after.patientID != before.patientID
    # without the private attributes the reader needs, geometry or tag axes would change
    bare = tmp_path / "bare"
    assert anonymize_main([str(folder), str(bare), "--remove-all-private", "-q"]) == 0
    for path in bare.rglob("*.dcm"):
        assert not any(tag.is_private for tag in pydicom.dcmread(path).keys())  # noqa: SIM118


@pytest.mark.parametrize("name", REAL)
def test_real_files_nothing_dicognito_removes_survives(name: str) -> None:
    dicognito = pytest.importorskip("dicognito.anonymizer")
    folder = QA / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not found (the shared scanner data are not installed)")
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix != ".txt"][:3]
    for path in files:
        ds = pydicom.dcmread(path)
        theirs = copy.deepcopy(ds)
        dicognito.Anonymizer().anonymize(theirs)
        ours = Deidentifier().dataset(ds)
        their_values, our_values = dict(_walk(theirs)), dict(_walk(ours))
        for p, value in _walk(ds):
            if (
                their_values.get(p, object()) != value
                and p[-1] not in _MARKS
                and _identifying(value)
            ):
                assert our_values.get(p) != value, f"{path}: {p}={value!r} kept"


@pytest.mark.parametrize("cut", [0.2, 0.5, 0.98], ids=["meta", "half", "end-of-pixels"])
def test_cli_truncated_file_is_an_error(
    series: Any, tmp_path: Path, cut: float, capsys: pytest.CaptureFixture[str]
) -> None:
    """pydicom reads a truncated file without complaint: anonymize does not write it."""
    victim = series.files[1]
    raw = victim.read_bytes()
    victim.write_bytes(raw[: int(len(raw) * cut)])
    out = tmp_path / "anon"
    assert anonymize_main([str(series.files[0].parent), str(out)]) == 1
    err = capsys.readouterr().err
    assert victim.name in err and "truncated" in err
    assert not out.exists()


def test_cli_duplicates_and_strays(
    series: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = series.files[0].parent
    (src / "notes.txt").write_text("not DICOM")
    (src / "copy.dcm").write_bytes(series.files[0].read_bytes())
    out = tmp_path / "anon"
    assert anonymize_main([str(src), str(out)]) == 0
    err = capsys.readouterr().err
    assert "notes.txt: not a DICOM file, left out" in err and "a copy of" in err
    assert len(list(out.rglob("*.dcm"))) == len(series.files)
    other = pydicom.dcmread(series.files[1])
    other.SOPInstanceUID = pydicom.dcmread(series.files[0]).SOPInstanceUID
    other.save_as(src / "clash.dcm")
    assert anonymize_main([str(src), str(tmp_path / "anon2")]) == 1
    assert "same SOP Instance UID but differ" in capsys.readouterr().err
    assert not (tmp_path / "anon2").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.txt").write_text("x")
    assert anonymize_main([str(empty), str(tmp_path / "anon3")]) == 1
    assert "no DICOM files" in capsys.readouterr().err


def test_every_truncation_of_an_image_is_found(tmp_path: Path) -> None:
    """A file cut at any byte is refused (or, before its DICM prefix, is not DICOM)."""
    import warnings

    from pydicom.errors import InvalidDicomError

    from imagedata.cli.anonymize import _check_complete
    from imagedata.errors import ReadError

    truth = make_dicom_series(tmp_path / "src", (1, 8, 8))
    raw = truth.files[0].read_bytes()
    path = tmp_path / "cut.dcm"
    accepted = []
    for cut in range(0, len(raw), 3):  # about 500 files
        path.write_bytes(raw[:cut])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                _check_complete(pydicom.dcmread(path), path)
            except (ReadError, InvalidDicomError):
                continue
            except Exception:
                continue
        accepted.append(cut)
    assert accepted == []


def test_series_and_study_anonymize_return_new_objects(tmp_path: Path) -> None:
    """Series.anonymize/Study.anonymize: new objects, one study, pixels kept, input kept."""
    from imagedata.collections import Study
    from imagedata.series import Series
    from imagedata.testing import make_dicom_series

    same = {"PatientName": "Doe^Jane", "StudyInstanceUID": "1.2.3.4.5"}
    make_dicom_series(tmp_path / "a", shape=(3, 6, 5), SeriesNumber=1, **same)
    make_dicom_series(tmp_path / "b", shape=(2, 6, 5), SeriesNumber=2, **same)
    study = Study(tmp_path)
    study_uid = next(iter(study.values())).studyInstanceUID
    anon = study.anonymize(patient_id="P-ANON")
    assert len(anon) == 2
    new_study_uids = {si.studyInstanceUID for si in anon.values()}
    assert len(new_study_uids) == 1 and study_uid not in new_study_uids
    for si, new in zip(study.values(), anon.values()):
        np.testing.assert_array_equal(new, si)
        np.testing.assert_allclose(new.affine, si.affine)
        assert new.patientID == "P-ANON" and "Doe" not in str(new.patientName)
        assert si.patientName == "Doe^Jane"  # the original is unchanged
        assert np.shares_memory(new, si) is False
    one = Series(tmp_path / "a").anonymize()
    assert one.seriesInstanceUID != Series(tmp_path / "a").seriesInstanceUID
