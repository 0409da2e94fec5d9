"""Study, Patient and Cohort: dict-like collections of every series found."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imagedata import Cohort, Patient, Study
from imagedata.errors import MultipleSeriesError, SortError
from imagedata.series import Series
from imagedata.testing import make_dicom_series


def _retag(files: list[Path], **attrs: object) -> None:
    for f in files:
        ds = pydicom.dcmread(f)
        for k, v in attrs.items():
            setattr(ds, k, v)
        ds.save_as(f)


def test_study_holds_every_series(tmp_path: Path) -> None:
    a = make_dicom_series(tmp_path / "a", shape=(3, 4, 4), StudyDescription="Brain")
    b = make_dicom_series(tmp_path / "b", shape=(2, 3, 4, 4), order="time")
    _retag(b.files, StudyInstanceUID=a.study_instance_uid)
    study = Study(tmp_path)
    assert set(study) == {a.series_instance_uid, b.series_instance_uid}
    si = study[b.series_instance_uid]
    assert isinstance(si, Series) and si.shape == (2, 3, 4, 4)
    np.testing.assert_array_equal(study[a.series_instance_uid], a.data)
    assert study.studyInstanceUID == a.study_instance_uid
    assert study.patientID == "SYN0001" and study.patientName == "Synthetic^Patient"
    assert study.studyDescription == "Brain"
    assert study.studyDate == datetime.datetime(2024, 2, 29)  # a datetime, as in 3.x
    assert np.allclose(si.timeline, [0, 2.5])


def test_study_rejects_several_studies(tmp_path: Path) -> None:
    make_dicom_series(tmp_path / "a", shape=(3, 4, 4))
    make_dicom_series(tmp_path / "b", shape=(3, 4, 4))
    with pytest.raises(MultipleSeriesError, match="Patient"):
        Study(tmp_path)


def test_patient_and_cohort(tmp_path: Path) -> None:
    a = make_dicom_series(tmp_path / "p1s1", shape=(3, 4, 4))
    b = make_dicom_series(tmp_path / "p1s2", shape=(2, 4, 4))
    c = make_dicom_series(tmp_path / "p2s1", shape=(4, 4, 4))
    _retag(c.files, PatientID="P2", PatientName="Other^Patient")
    with pytest.raises(MultipleSeriesError, match="Cohort"):
        Patient(tmp_path)
    patient = Patient(tmp_path / "p1s1")
    assert list(patient) == [a.study_instance_uid]
    cohort = Cohort(tmp_path)
    assert set(cohort) == {"SYN0001", "P2"}
    p1 = cohort["SYN0001"]
    assert set(p1) == {a.study_instance_uid, b.study_instance_uid}
    assert p1.patientID == "SYN0001"
    assert cohort["P2"].patientName == "Other^Patient"
    study = cohort["P2"][c.study_instance_uid]
    np.testing.assert_array_equal(study[c.series_instance_uid], c.data)


def test_unreadable_series_skipped_or_strict(tmp_path: Path) -> None:
    good = make_dicom_series(tmp_path / "good", shape=(3, 4, 4))
    bad = make_dicom_series(tmp_path / "bad", shape=(6, 4, 4))
    _retag(bad.files, StudyInstanceUID=good.study_instance_uid)
    sorted(bad.files, key=lambda f: float(pydicom.dcmread(f).ImagePositionPatient[2]))[3].unlink()
    with pytest.warns(UserWarning, match="skipped"):
        study = Study(tmp_path)
    assert list(study) == [good.series_instance_uid]
    with pytest.raises(SortError):
        Study(tmp_path, strict=True)
    assert len(Study(tmp_path, accept_uneven_slices=True)) == 2


def test_localizer_group_gets_own_key(tmp_path: Path) -> None:
    main = make_dicom_series(tmp_path / "main", shape=(5, 4, 4))
    loc = make_dicom_series(tmp_path / "loc", shape=(1, 4, 4), orientation="sagittal")
    first = pydicom.dcmread(main.files[0])
    _retag(
        loc.files,
        SeriesInstanceUID=main.series_instance_uid,
        StudyInstanceUID=main.study_instance_uid,
        FrameOfReferenceUID=first.FrameOfReferenceUID,
    )
    study = Study(tmp_path)
    assert set(study) == {main.series_instance_uid, main.series_instance_uid + "#2"}


def test_empty_collections() -> None:
    assert len(Study()) == 0 and len(Patient()) == 0 and len(Cohort()) == 0
    assert Study().patientID is None


def test_collection_reports_headers_then_pixels(tmp_path: Path) -> None:
    """progress= reaches the header pass over every file and the decoding of each series."""
    a = make_dicom_series(tmp_path / "a", (3, 8, 8), SeriesNumber=1)
    make_dicom_series(
        tmp_path / "b", (2, 8, 8), SeriesNumber=2, StudyInstanceUID=a.study_instance_uid
    )
    seen: list[tuple[str, int, int | None]] = []
    study = Study(tmp_path, progress=lambda done, total, stage: seen.append((stage, done, total)))
    assert len(study) == 2
    headers = [(d, t) for s, d, t in seen if s == "headers"]
    assert headers[-1] == (5, 5)  # one pass over the five files of both series
    assert sorted(t for s, d, t in seen if s == "pixels" and d == t) == [2, 3]
