"""Authentication on and off: HTTP 401 for DICOMweb, unknown AE titles for DIMSE."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagedata.transports import AuthenticationError, NetworkError, fetch_to_folder, list_url, send
from tests.transports._helpers import assert_same_instances, unique_series
from tests.transports.conftest import PASSWORD, USER, Orthanc

pytestmark = pytest.mark.network


def test_dicomweb_without_credentials_is_401(orthanc_auth: Orthanc) -> None:
    with pytest.raises(AuthenticationError, match=r"HTTP 401 \(no credentials given\)"):
        list_url(orthanc_auth.web_url())


def test_dicomweb_wrong_password_is_401(orthanc_auth: Orthanc) -> None:
    with pytest.raises(AuthenticationError, match="wrong credentials"):
        list_url(orthanc_auth.web_url(userinfo=f"{USER}:nope"))
    with pytest.raises(AuthenticationError, match="401"):
        list_url(orthanc_auth.web_url(), token="not-a-token")


def test_dicomweb_basic_auth_round_trip(orthanc_auth: Orthanc, tmp_path: Path) -> None:
    truth = unique_series(tmp_path)
    send(orthanc_auth.web_url(), truth.files, username=USER, password=PASSWORD)
    url = orthanc_auth.web_url(f"PatientID={truth.patient_id}", userinfo=f"{USER}:{PASSWORD}")
    out = fetch_to_folder(url, tmp_path / "got")
    assert_same_instances(truth.files, sorted(out.rglob("*.dcm")))


def test_open_server_needs_no_credentials(orthanc: Orthanc) -> None:
    list_url(orthanc.web_url())


def test_dimse_known_and_unknown_calling_aet(orthanc_auth: Orthanc, tmp_path: Path) -> None:
    truth = unique_series(tmp_path)
    # IMAGEDATA (our default) is in the server's DICOM modalities: allowed
    send(orthanc_auth.dicom_url(), truth.files)
    tree = list_url(orthanc_auth.dicom_url(f"PatientID={truth.patient_id}"))
    assert [str(s.SeriesInstanceUID) for s in tree[0][1]] == [truth.series_instance_uid]
    with pytest.raises(NetworkError, match="STRANGER"):
        list_url(orthanc_auth.dicom_url(), calling_aet="STRANGER")
