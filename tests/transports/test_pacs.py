"""Against a real PACS (a private Orthanc): C-STORE, C-FIND, C-GET, C-MOVE, DICOMweb."""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from pathlib import Path

import pytest

from imagedata.errors import MultipleSeriesError
from imagedata.transports import (
    AssociationRejectedError,
    NetworkError,
    NoMatchError,
    PartialTransferError,
    fetch_to_folder,
    find_series,
    list_url,
    parse_url,
    send,
)
from tests.transports._helpers import assert_same_instances, unique_series
from tests.transports.conftest import MOVE_AET, Orthanc

pytestmark = pytest.mark.network


def _lookup(orthanc: Orthanc, uid: str) -> list[dict]:
    return orthanc.request("/tools/lookup", data=uid)  # type: ignore[no-any-return]


def test_cstore_then_found_through_rest(orthanc: Orthanc, tmp_path: Path) -> None:
    truth = unique_series(tmp_path)
    stored = send(orthanc.dicom_url(), truth.files)
    assert len(stored) == len(truth.files)
    hits = _lookup(orthanc, truth.series_instance_uid)
    assert [h["Type"] for h in hits] == ["Series"]
    series = orthanc.request(hits[0]["Path"])
    assert len(series["Instances"]) == len(truth.files)
    assert series["MainDicomTags"]["SeriesInstanceUID"] == truth.series_instance_uid


@pytest.fixture
def stored(orthanc: Orthanc, tmp_path: Path):  # type: ignore[no-untyped-def]
    truth = unique_series(tmp_path)
    send(orthanc.dicom_url(), truth.files)
    return truth


def _received(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.dcm"))


def test_cget_returns_identical_instances(orthanc: Orthanc, stored, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = orthanc.dicom_url(f"PatientID={stored.patient_id}&SeriesNumber=3")
    out = fetch_to_folder(url, tmp_path / "got", progress=False)
    files = _received(out)
    assert_same_instances(stored.files, files)
    # filed per patient / study / series
    assert {f.parent.relative_to(out).parts for f in files} == {
        (stored.patient_id, stored.study_instance_uid, stored.series_instance_uid)
    }
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "staging folder left behind"


def test_cmove_to_our_listener(orthanc: Orthanc, stored, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = orthanc.dicom_url(
        f"SeriesInstanceUID={stored.series_instance_uid}&move={MOVE_AET}&move_port={orthanc.move_port}"
    )
    seen: list[tuple[int, int | None]] = []
    out = fetch_to_folder(url, tmp_path / "moved", progress=lambda d, t, _: seen.append((d, t)))
    assert_same_instances(stored.files, _received(out))
    assert seen[-1] == (len(stored.files), len(stored.files))


def test_dicomweb_returns_identical_instances(orthanc: Orthanc, stored, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = orthanc.web_url(f"StudyInstanceUID={stored.study_instance_uid}")
    out = fetch_to_folder(url, tmp_path / "web", level="study")
    assert_same_instances(stored.files, _received(out))


def test_stow_then_found_by_cfind(orthanc: Orthanc, tmp_path: Path) -> None:
    truth = unique_series(tmp_path)
    assert len(send(orthanc.web_url(), truth.files)) == len(truth.files)
    found = find_series(parse_url(orthanc.dicom_url(f"PatientID={truth.patient_id}")))
    assert [str(s.SeriesInstanceUID) for s in found] == [truth.series_instance_uid]
    assert int(found[0].NumberOfSeriesRelatedInstances) == len(truth.files)


def test_patient_fetch_gets_every_study(orthanc: Orthanc, tmp_path: Path) -> None:
    a = unique_series(tmp_path, PatientID="TWOSTUDIES")
    b = unique_series(tmp_path, PatientID="TWOSTUDIES", SeriesNumber=7)
    send(orthanc.dicom_url(), a.files + b.files)
    out = fetch_to_folder(
        orthanc.dicom_url("PatientID=TWOSTUDIES"), tmp_path / "p", level="patient"
    )
    assert_same_instances(a.files + b.files, _received(out))
    tree = list_url(orthanc.web_url("PatientID=TWOSTUDIES"))
    assert sorted(str(st.StudyInstanceUID) for st, _ in tree) == sorted(
        [a.study_instance_uid, b.study_instance_uid]
    )


def test_query_with_no_match(orthanc: Orthanc, tmp_path: Path) -> None:
    for url in (orthanc.dicom_url("PatientID=NOBODY"), orthanc.web_url("PatientID=NOBODY")):
        with pytest.raises(NoMatchError, match="PatientID=NOBODY"):
            fetch_to_folder(url, tmp_path / "none", level="series")
        assert not (tmp_path / "none").exists()


def test_several_series_match(orthanc: Orthanc, tmp_path: Path) -> None:
    a = unique_series(tmp_path, PatientID="MANY")
    b = unique_series(tmp_path, PatientID="MANY", SeriesNumber=8)
    send(orthanc.dicom_url(), a.files + b.files)
    with pytest.raises(MultipleSeriesError, match=r"(?s)2 series .* SeriesNumber=8"):
        fetch_to_folder(
            orthanc.dicom_url("PatientID=MANY&Modality=MR"), tmp_path / "x", level="series"
        )


def test_partial_transfer_keeps_nothing(
    orthanc: Orthanc, stored, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The PACS says one more image exists than it sends: a clear error, no files kept."""
    import imagedata.transports as transports

    real = transports._count
    monkeypatch.setattr(transports, "_count", lambda ds, kw: (real(ds, kw) or 0) + 1)
    n = len(stored.files)
    out = tmp_path / "partial"
    for url in (
        orthanc.dicom_url(f"SeriesInstanceUID={stored.series_instance_uid}"),
        orthanc.web_url(f"SeriesInstanceUID={stored.series_instance_uid}"),
    ):
        with pytest.raises(PartialTransferError, match=f"only {n} of {n + 1} images") as info:
            fetch_to_folder(url, out)
        assert (info.value.done, info.value.expected) == (n, n + 1)
        assert list(out.rglob("*")) == []


def test_connection_refused(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(NetworkError, match="connection refused"):
            list_url(f"dicom://127.0.0.1:{port}/ORTHANC")
        with pytest.raises(NetworkError, match="connection refused"):
            list_url(f"dicomweb+http://127.0.0.1:{port}/dicom-web")


def test_wrong_called_aet_names_both_titles(orthanc: Orthanc) -> None:
    with pytest.raises(AssociationRejectedError, match=r"'WRONGAET'.*'IMAGEDATA'"):
        list_url(orthanc.dicom_url(aet="WRONGAET"))


def test_silent_peer_times_out(tmp_path: Path) -> None:
    """A peer that accepts the connection but never answers: an error after `timeout`."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(server.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        start = time.monotonic()
        with pytest.raises(NetworkError, match=r"within 1 s .*'X'"):
            list_url(f"dicom://127.0.0.1:{server.getsockname()[1]}/X?timeout=1")
        assert time.monotonic() - start < 10
    finally:
        stop.set()
        t.join(5)
        for c in conns:
            c.close()
        server.close()


def test_our_associations_set_tcp_nodelay(orthanc: Orthanc) -> None:
    from imagedata.transports import dimse
    from imagedata.transports._association import associate

    with associate(
        parse_url(orthanc.dicom_url()), [("1.2.840.10008.1.1", dimse.UNCOMPRESSED)]
    ) as a:
        sock = a.sock
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_move_destination_unknown(orthanc: Orthanc, stored, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = orthanc.dicom_url(
        f"SeriesInstanceUID={stored.series_instance_uid}&move=STRANGER&move_port={orthanc.move_port}"
    )
    with pytest.raises(NetworkError, match="know the move destination 'STRANGER'"):
        fetch_to_folder(url, tmp_path / "m")


HAVE_READER = importlib.util.find_spec("imagedata.formats.dicom.reader") is not None


@pytest.mark.parametrize("scheme", ["dicom", "dicomweb+http"])
def test_unknown_host(scheme: str) -> None:
    # names under .invalid never resolve (RFC 2606)
    with pytest.raises(NetworkError, match="unknown host"):
        list_url(f"{scheme}://no-such-host.invalid:104/PACS?connect_timeout=2")
