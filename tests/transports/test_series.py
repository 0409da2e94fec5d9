"""Series(url) and si.write(url) against a real PACS: voxels, geometry and tags survive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagedata.series import Series
from imagedata.transports import list_url, send
from tests.transports._helpers import unique_series
from tests.transports.conftest import MOVE_AET, Orthanc

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def original(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    truth = unique_series(
        tmp_path_factory.mktemp("series"), shape=(5, 12, 16), orientation="oblique"
    )
    send(orthanc.dicom_url(), truth.files)
    return truth


def _urls(orthanc: Orthanc, query: str) -> dict[str, str]:
    return {
        "C-GET": orthanc.dicom_url(query),
        "C-MOVE": orthanc.dicom_url(f"{query}&move={MOVE_AET}&move_port={orthanc.move_port}"),
        "DICOMweb": orthanc.web_url(query),
    }


@pytest.mark.parametrize("how", ["C-GET", "C-MOVE", "DICOMweb"])
def test_series_from_pacs_equals_files(orthanc: Orthanc, original, how: str) -> None:  # type: ignore[no-untyped-def]
    url = _urls(orthanc, f"PatientID={original.patient_id}&SeriesNumber=3")[how]
    si = Series(url)
    local = Series(str(original.path))
    np.testing.assert_array_equal(np.asarray(si), original.data)
    np.testing.assert_allclose(si.affine, original.affine, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(si), np.asarray(local))
    np.testing.assert_allclose(si.affine, local.affine)
    for kw in (
        "PatientID",
        "PatientName",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SeriesNumber",
        "Modality",
        "StudyDate",
        "AccessionNumber",
        "FrameOfReferenceUID",
        "EchoTime",
    ):
        assert si.getDicomAttribute(kw) == local.getDicomAttribute(kw), kw
    assert si.input_format == "dicom"


def test_headers_only_and_transport_options(orthanc: Orthanc, original) -> None:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    si = Series(
        orthanc.dicom_url(f"SeriesInstanceUID={original.series_instance_uid}"),
        timeout=20,
        calling_aet="TESTER",
        progress=lambda done, total, stage: seen.append(done) if stage == "transfer" else None,
    )
    assert si.shape == original.data.shape
    assert seen == list(range(1, len(original.files) + 1))


@pytest.mark.parametrize("how", ["dicom", "dicomweb"])
def test_derived_series_lands_in_same_study(orthanc: Orthanc, original, how: str) -> None:  # type: ignore[no-untyped-def]
    src = Series(orthanc.dicom_url(f"SeriesInstanceUID={original.series_instance_uid}"))
    derived = Series(np.asarray(src) * 2, template=src, geometry=src)
    number = 20 if how == "dicom" else 21
    dest = orthanc.dicom_url() if how == "dicom" else orthanc.web_url()
    uids = derived.write(dest, sernum=number, serdes=f"doubled by {how}")
    assert len(uids) == original.data.shape[0]
    tree = list_url(orthanc.dicom_url(f"StudyInstanceUID={original.study_instance_uid}"))
    assert len(tree) == 1
    numbers = {int(s.SeriesNumber): str(s.SeriesDescription) for s in tree[0][1]}
    assert numbers[3] == "Synthetic series" and numbers[number] == f"doubled by {how}"
    back = Series(
        orthanc.web_url(f"StudyInstanceUID={original.study_instance_uid}&SeriesNumber={number}")
    )
    np.testing.assert_array_equal(np.asarray(back), original.data * 2)
    np.testing.assert_allclose(back.affine, original.affine, atol=1e-6)
    assert back.getDicomAttribute("PatientID") == original.patient_id
    assert back.getDicomAttribute("SeriesInstanceUID") != original.series_instance_uid


def test_write_url_refuses_query_keys(orthanc: Orthanc, original) -> None:  # type: ignore[no-untyped-def]
    from imagedata.transports import URLError

    si = Series(np.zeros((2, 4, 4), dtype=np.uint16))
    with pytest.raises(URLError, match="no meaning when sending"):
        si.write(orthanc.dicom_url("PatientID=X"))


def test_fetched_folder_reads_as_patient(orthanc: Orthanc, tmp_path: Path) -> None:
    """How imagedata.Patient/Study read from a PACS: fetch into a temporary folder, read it."""
    from imagedata.collections import Patient
    from imagedata.transports import fetched, split_options

    a = unique_series(tmp_path, PatientID="COLL1")
    b = unique_series(tmp_path, PatientID="COLL1", shape=(3, 8, 8))
    send(orthanc.dicom_url(), a.files + b.files)
    transport, rest = split_options({"timeout": 20, "progress": False, "strict": True})
    assert rest == {"strict": True}
    with fetched(orthanc.dicom_url("PatientID=COLL1"), **transport) as folder:
        patient = Patient(folder, **rest)
        kept = folder
    assert not kept.exists()
    assert sorted(patient) == sorted([a.study_instance_uid, b.study_instance_uid])
    study_b = patient[b.study_instance_uid]
    np.testing.assert_array_equal(np.asarray(study_b[b.series_instance_uid]), b.data)


def test_patient_and_study_from_url(orthanc: Orthanc, tmp_path: Path) -> None:
    from imagedata.collections import Patient, Study

    a = unique_series(tmp_path, PatientID="COLL2")
    b = unique_series(tmp_path, PatientID="COLL2", shape=(3, 8, 8))
    send(orthanc.dicom_url(), a.files + b.files)
    patient = Patient(orthanc.dicom_url("PatientID=COLL2"), timeout=20, strict=True)
    assert sorted(patient) == sorted([a.study_instance_uid, b.study_instance_uid])
    study = Study(orthanc.dicom_url(f"StudyInstanceUID={a.study_instance_uid}"), timeout=20)
    np.testing.assert_array_equal(np.asarray(study[a.series_instance_uid]), a.data)
