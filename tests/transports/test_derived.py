"""A Parametric Map and a SEG computed from a PACS series go back to it (C-STORE, STOW-RS)."""

from __future__ import annotations

import numpy as np
import pytest

from imagedata.series import Series
from imagedata.transports import list_url, send
from tests.transports._helpers import unique_series
from tests.transports.conftest import Orthanc

pytestmark = pytest.mark.network
hd = pytest.importorskip("highdicom", reason="highdicom (imagedata[derived]) is not installed")

PM = "1.2.840.10008.5.1.4.1.1.30"
SEG = "1.2.840.10008.5.1.4.1.1.66.4"


@pytest.fixture(scope="module")
def original(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    truth = unique_series(
        tmp_path_factory.mktemp("derived"), shape=(5, 12, 16), orientation="oblique"
    )
    send(orthanc.dicom_url(), truth.files)
    return truth


@pytest.mark.parametrize("how", ["dicom", "dicomweb"])
def test_map_and_mask_go_back_to_the_study(orthanc: Orthanc, original, how: str) -> None:  # type: ignore[no-untyped-def]
    src = Series(orthanc.dicom_url(f"SeriesInstanceUID={original.series_instance_uid}"))
    t1 = (src.astype(np.float32) * np.float32(0.731)).astype(np.float32)
    mask = src > float(np.median(src))
    base = 30 if how == "dicom" else 40
    dest = orthanc.dicom_url() if how == "dicom" else orthanc.web_url()
    uids = t1.write(dest, sernum=base, serdes=f"T1 by {how}", units="ms")  # iod='auto'
    assert len(uids) == 1
    uids = mask.write(dest, sernum=base + 1, serdes=f"mask by {how}", iod="seg")
    assert len(uids) == 1
    tree = list_url(orthanc.dicom_url(f"StudyInstanceUID={original.study_instance_uid}"))
    assert len(tree) == 1
    numbers = {int(s.SeriesNumber): str(s.Modality) for s in tree[0][1]}
    assert numbers[base] == "OT" and numbers[base + 1] == "SEG"  # highdicom: PM modality OT
    study = f"StudyInstanceUID={original.study_instance_uid}"
    back = Series(orthanc.web_url(f"{study}&SeriesNumber={base}"))
    assert back.getDicomAttribute("SOPClassUID") == PM
    np.testing.assert_array_equal(np.asarray(back), np.asarray(t1))
    np.testing.assert_allclose(back.affine, src.affine, atol=1e-6)
    seg = Series(orthanc.dicom_url(f"{study}&SeriesNumber={base + 1}"))
    assert seg.getDicomAttribute("SOPClassUID") == SEG
    np.testing.assert_array_equal(np.asarray(seg), np.asarray(mask))
    np.testing.assert_allclose(seg.affine, src.affine, atol=1e-5)
    assert seg.getDicomAttribute("PatientID") == original.patient_id


def test_real_dwi_adc_and_mask_through_orthanc(orthanc: Orthanc, testdata) -> None:  # type: ignore[no-untyped-def]
    """ADC and a mask from a real Siemens DWI series fetched from the PACS go back to it."""
    files = sorted((testdata / "dicom" / "dwi").iterdir())
    send(orthanc.dicom_url(), files)
    local = Series(testdata / "dicom" / "dwi", input_order="b")
    uid = local.getDicomAttribute("SeriesInstanceUID")
    dwi = Series(orthanc.dicom_url(f"SeriesInstanceUID={uid}"), input_order="b")
    s50, s800 = dwi[0].astype(np.float64), dwi[2].astype(np.float64)
    mask = s50 > 0.2 * float(s50.max())
    adc = (np.log(np.maximum(s50, 1) / np.maximum(s800, 1)) / 750.0 * mask).astype(np.float32)
    adc.write(orthanc.web_url(), sernum=90, serdes="ADC", units="mm2/s")  # STOW-RS
    mask.write(orthanc.dicom_url(), sernum=91, serdes="tissue", iod="seg")  # C-STORE
    study = f"StudyInstanceUID={local.getDicomAttribute('StudyInstanceUID')}"
    back = Series(orthanc.dicom_url(f"{study}&SeriesNumber=90"))
    assert back.getDicomAttribute("SOPClassUID") == PM
    np.testing.assert_array_equal(np.asarray(back), np.asarray(adc))
    np.testing.assert_allclose(back.affine, local.affine, atol=1e-4)
    seg = Series(orthanc.web_url(f"{study}&SeriesNumber=91"))
    np.testing.assert_array_equal(np.asarray(seg), np.asarray(mask))
    np.testing.assert_allclose(seg.affine, local.affine, atol=1e-4)
