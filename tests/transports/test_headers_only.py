"""Series(url, headers_only=True): the same header as a full read, without any pixel data."""

from __future__ import annotations

import base64
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imagedata.series import Series
from imagedata.testing import SyntheticSeries
from imagedata.transports import AuthenticationError, dicomweb, dimse
from imagedata.transports._headers import CFIND_KEYS
from tests.transports._helpers import unique_series
from tests.transports.conftest import PASSWORD, USER, Orthanc

pytestmark = pytest.mark.network

#: Attributes a headers_only read must carry, over both transports.
KEYWORDS = (
    "PatientID",
    "PatientName",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "Modality",
    "StudyDate",
    "AccessionNumber",
    "FrameOfReferenceUID",
    "EchoTime",
    "FlipAngle",
    "RepetitionTime",
    "PixelSpacing",
    "SliceThickness",
    "Rows",
    "Columns",
    "BitsStored",
    "PhotometricInterpretation",
    "RescaleSlope",
    "RescaleIntercept",
    "Manufacturer",
)


def upload(server: Orthanc, files: list[Path]) -> None:
    """Store files through Orthanc's REST API (independent of our own senders)."""
    for f in files:
        req = urllib.request.Request(server.rest + "/instances", data=f.read_bytes())
        if server.auth:
            token = base64.b64encode(f"{server.auth[0]}:{server.auth[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=30) as rsp:
            rsp.read()


@pytest.fixture(scope="module", params=["b", "time"])
def stored(request: Any, orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A 4D series (b values or time points) on the PACS."""
    values = [0.0, 500.0, 1000.0] if request.param == "b" else [0.0, 2.5, 5.0]
    truth = unique_series(
        tmp_path_factory.mktemp("hdr"),
        shape=(3, 4, 80, 96),
        order=request.param,
        tag_values=values,
        orientation="oblique",
        rescale=(2.0, -10.0),
    )
    upload(orthanc, truth.files)
    return truth


class NoPixels:
    """Fail on any retrieval of whole instances; record DICOMweb requests and bytes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import requests

        self.urls: list[str] = []
        self.bytes = 0

        def refuse(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("headers_only must not retrieve whole instances")

        for module, name in ((dicomweb, "retrieve"), (dimse, "get"), (dimse, "move")):
            monkeypatch.setattr(module, name, refuse)
        send = requests.Session.send

        def counting_send(session: Any, req: Any, **kwargs: Any) -> Any:
            rsp = send(session, req, **kwargs)
            self.urls.append(req.url)
            self.bytes += len(rsp.content)
            return rsp

        monkeypatch.setattr(requests.Session, "send", counting_send)


def _url(server: Orthanc, how: str, truth: SyntheticSeries) -> str:
    query = f"PatientID={truth.patient_id}&SeriesNumber=3"
    return server.dicom_url(query) if how == "dicom" else server.web_url(query)


def assert_same_header(hdr: Series, full: Series, truth: SyntheticSeries) -> None:
    assert hdr.shape == full.shape == truth.data.shape
    np.testing.assert_allclose(hdr.affine, full.affine, atol=1e-9)
    np.testing.assert_allclose(hdr.affine, truth.affine, atol=1e-6)
    assert hdr.input_order == full.input_order
    assert [a.name for a in hdr.axes] == [a.name for a in full.axes]
    for a, b in zip(hdr.axes, full.axes, strict=True):
        if a.values is None:
            assert b.values is None
        else:
            np.testing.assert_allclose(a.values, b.values)
            np.testing.assert_allclose(a.slice_values, b.slice_values)
    for kw in KEYWORDS:
        assert hdr.getDicomAttribute(kw) == full.getDicomAttribute(kw), kw
    assert hdr.dtype == full.dtype


@pytest.mark.parametrize("how", ["dicom", "dicomweb"])
def test_headers_only_equals_full_read(
    orthanc: Orthanc, stored: SyntheticSeries, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _url(orthanc, how, stored)
    full = Series(url)
    np.testing.assert_allclose(np.asarray(full), stored.data, rtol=1e-6)
    seen: list[int] = []
    spy = NoPixels(monkeypatch)
    stages: set[str] = set()

    def report(done: int, total: int | None, stage: str) -> None:
        stages.add(stage)
        if stage == "transfer":
            seen.append(done)

    hdr = Series(url, headers_only=True, progress=report)
    assert stages == {"transfer", "headers"}  # the reader reports its stage too
    assert_same_header(hdr, full, stored)
    assert not np.any(np.asarray(hdr))
    assert seen == list(range(1, len(stored.files) + 1))
    pixel_bytes = stored.data.size * 2
    if how == "dicomweb":
        assert any(u.endswith("/metadata") for u in spy.urls), spy.urls
        assert not [u for u in spy.urls if "/instances/" in u or "/bulk" in u], spy.urls
        assert spy.bytes < pixel_bytes, (spy.bytes, pixel_bytes)
        # the metadata resource is the whole header: the template is the same
        assert hdr.header.template == full.header.template
    else:
        assert spy.urls == []


def test_dicom_headers_only_carries_the_cfind_keys(
    orthanc: Orthanc, stored: SyntheticSeries
) -> None:
    """Over dicom:// the template holds C-FIND answers: listed keys only, no private tags."""
    hdr = Series(_url(orthanc, "dicom", stored), headers_only=True)
    template = hdr.header.template
    own = [e for e in template if e.tag.group != 0x0009]  # imagedata's scaling note
    assert own and all(e.keyword in CFIND_KEYS for e in own), [e.keyword for e in own]
    assert "PixelData" not in template


def test_dicomweb_headers_only_with_credentials(orthanc_auth: Orthanc, tmp_path: Path) -> None:
    truth = unique_series(tmp_path, shape=(3, 8, 8))
    upload(orthanc_auth, truth.files)
    query = f"PatientID={truth.patient_id}"
    with pytest.raises(AuthenticationError, match="401"):
        Series(orthanc_auth.web_url(query), headers_only=True)
    hdr = Series(orthanc_auth.web_url(query, userinfo=f"{USER}:{PASSWORD}"), headers_only=True)
    assert hdr.shape == truth.data.shape
    np.testing.assert_allclose(hdr.affine, truth.affine, atol=1e-6)


def test_docs_name_every_cfind_key() -> None:
    """docs/network.md says which attributes a dicom:// headers_only read carries."""
    import re

    docs = Path(__file__).parents[2] / "docs" / "network.md"
    text = docs.read_text()
    section = text[text.index("## Headers only") : text.index("## Listing")]
    named = set()
    for base, more in re.findall(r"`([A-Za-z]+)`((?:/`[A-Za-z]+`)*)", section):
        named.add(base)  # `StudyDate`/`Time` names StudyDate and StudyTime
        stem = re.sub(r"(Date|Time)$", "", base)
        named.update(stem + suffix for suffix in re.findall(r"`([A-Za-z]+)`", more))
    assert [k for k in CFIND_KEYS if k not in named] == []


def test_dicomweb_headers_only_fetches_private_bulk_data_but_not_pixels(
    orthanc: Orthanc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pydicom

    truth = unique_series(tmp_path, shape=(2, 8, 8))
    blob = bytes(range(256)) * 8  # Orthanc sends binary values as BulkDataURI
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.private_block(0x0019, "IMAGEDATA TEST", create=True).add_new(0x10, "OB", blob)
        ds.save_as(f)
    upload(orthanc, truth.files)
    spy = NoPixels(monkeypatch)
    hdr = Series(orthanc.web_url(f"PatientID={truth.patient_id}"), headers_only=True)
    block = hdr.header.template.private_block(0x0019, "IMAGEDATA TEST")
    assert block[0x10].value == blob
    bulk = [u for u in spy.urls if "/bulk/" in u]
    assert bulk and all(u.lower().endswith("/bulk/00191010") for u in bulk), spy.urls


def test_needs_whole_files() -> None:
    from pydicom.dataset import Dataset

    from imagedata.transports._headers import needs_whole_files

    plain, multi, mosaic = Dataset(), Dataset(), Dataset()
    plain.NumberOfFrames = 1
    multi.NumberOfFrames = 24
    mosaic.ImageType = ["ORIGINAL", "PRIMARY", "M", "MOSAIC"]
    assert needs_whole_files([plain, Dataset()]) == ""
    assert "NumberOfFrames 24" in needs_whole_files([plain, multi])
    assert "mosaic" in needs_whole_files([mosaic])


def test_dicom_multiframe_falls_back_to_whole_files(
    orthanc: Orthanc, stored: SyntheticSeries, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """C-FIND answers cannot describe multi-frame images: the whole files are retrieved."""
    from imagedata.transports import _headers

    cfind = _headers.cfind_headers

    def as_multiframe(*args: Any) -> list[Any]:
        found = cfind(*args)
        found[0].NumberOfFrames = 2
        return found

    monkeypatch.setattr(_headers, "cfind_headers", as_multiframe)
    got: list[int] = []
    get = dimse.get

    def counting_get(*args: Any, **kwargs: Any) -> int:
        got.append(1)
        return int(get(*args, **kwargs))

    monkeypatch.setattr(dimse, "get", counting_get)
    hdr = Series(_url(orthanc, "dicom", stored), headers_only=True)
    assert got == [1] and "which C-FIND answers cannot describe" in caplog.text
    assert hdr.shape == stored.data.shape


def _rich_dataset(charset: str, name: str) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SpecificCharacterSet = charset
    ds.PatientName = name
    ds.PatientID = "P1"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M"]
    ds.ImagePositionPatient = [-100.25, 0, 12.5]
    ds.PixelSpacing = [0.9375, 0.9375]
    ds.InstanceNumber = 7
    ds.Rows, ds.Columns = 4, 6
    ds.AcquisitionMatrix = [0, 256, 192, 0]
    ds.DiffusionBValue = 1000.0
    ds.DiffusionGradientOrientation = [0.6, -0.8, 0.0]
    ds.add_new(0x00189219, "SS", -5)
    ds.add_new(0x00280009, "AT", [0x00181063])
    ds.add_new(0x00189087, "FD", 1000.0)
    ds.add_new(0x00181316, "FL", 0.5)  # SAR
    ds.add_new(0x00420011, "OB", b"\x01\x02\x03\x04")  # encapsulated document
    ds.ImageComments = "long text " * 50 + "end"
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "113691", "DCM", name
    ds.AnatomicRegionSequence = [item, Dataset()]
    return ds


@pytest.mark.parametrize(
    ("charset", "name"),
    [
        ("ISO_IR 100", "Müller^Anna"),
        ("ISO_IR 192", "Gül^Åse=ギュル"),
        ("ISO_IR 144", "Иванов^Иван"),
    ],
)
def test_json_file_reads_back_like_pydicom_from_json(charset: str, name: str) -> None:
    """The direct DICOM JSON encoder gives what pydicom's from_json gives (or falls back)."""
    import io

    import pydicom
    from pydicom.dataset import Dataset

    from imagedata.transports._headers import json_file

    js = _rich_dataset(charset, name).to_json_dict()
    data = json_file(js, lambda tag, vr, uri: b"")
    ours = pydicom.dcmread(io.BytesIO(data))
    theirs = Dataset.from_json(js)
    assert ours.file_meta.MediaStorageSOPInstanceUID == "1.2.3.4.5"
    assert [e.tag for e in ours] == [e.tag for e in theirs]
    for elem in theirs:
        assert ours[elem.tag].VR == elem.VR, elem.keyword
        assert ours[elem.tag].value == elem.value, elem.keyword
    assert str(ours.PatientName) == name
    assert ours.AnatomicRegionSequence[0].CodeMeaning == name


@pytest.mark.parametrize("implicit", [True, False])
def test_cfind_file_copies_the_answer(implicit: bool) -> None:
    """C-FIND answers (as pynetdicom decodes them) become files with the same values."""
    import io

    import pydicom
    from pydicom.dataset import Dataset
    from pynetdicom.dsutils import decode, encode

    from imagedata.transports._headers import cfind_file

    sent = _rich_dataset("ISO_IR 100", "Müller^Anna")
    sent.QueryRetrieveLevel, sent.RetrieveAETitle = "IMAGE", "ORTHANC"
    sent.InversionTime = None  # asked for, absent: dropped
    answer = decode(io.BytesIO(encode(sent, implicit, True)), implicit, True)
    assert answer.Rows == 4  # an element already decoded by someone is encoded back
    got = pydicom.dcmread(io.BytesIO(cfind_file(answer)))
    assert got.file_meta.TransferSyntaxUID.is_implicit_VR is implicit
    for kw in ("QueryRetrieveLevel", "RetrieveAETitle", "InversionTime"):
        assert kw not in got
    assert got.PixelData in (b"", None)
    for elem in Dataset(answer):
        if elem.keyword not in ("QueryRetrieveLevel", "RetrieveAETitle", "InversionTime"):
            assert got[elem.tag].value == elem.value, elem.keyword
