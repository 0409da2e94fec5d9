"""The single-threaded association client against peers other than Orthanc.

A pynetdicom SCP (another DICOM implementation) serves C-ECHO, C-FIND and C-GET, with
small PDU sizes so that every message is fragmented, and misbehaves on request
(aborts in the middle of a C-GET); dcmtk's storescp receives our C-STORE.
"""

from __future__ import annotations

import struct
import subprocess
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset

from imagedata.errors import WriteError
from imagedata.transports import NetworkError, dimse, fetch_to_folder, parse_url, send
from imagedata.transports._association import (
    C_ECHO_RQ,
    C_STORE_RSP,
    NO_DATASET,
    decode_command,
    encode_command,
)
from imagedata.transports._base import AssociationRejectedError
from tests.conftest import require_tool
from tests.transports._helpers import assert_same_instances, unique_series
from tests.transports.conftest import free_port

pynetdicom = pytest.importorskip("pynetdicom")


def test_command_set_matches_pydicom() -> None:
    raw = encode_command(
        CommandField=C_STORE_RSP,
        MessageIDBeingRespondedTo=7,
        AffectedSOPClassUID="1.2.840.10008.5.1.4.1.1.4",
        AffectedSOPInstanceUID="1.2.3.45",  # odd length: padded with NUL
        CommandDataSetType=NO_DATASET,
        Status=0xB000,
    )
    ds = read_dataset(BytesIO(raw), is_implicit_VR=True, is_little_endian=True)
    assert ds.CommandGroupLength == len(raw) - 12
    assert ds.CommandField == C_STORE_RSP and ds.MessageIDBeingRespondedTo == 7
    assert ds.AffectedSOPInstanceUID == "1.2.3.45" and ds.Status == 0xB000
    assert ds.CommandDataSetType == NO_DATASET
    # and the other way: a command set pydicom wrote, read by us
    from pynetdicom.dsutils import encode

    cmd = Dataset()
    cmd.CommandGroupLength = 0
    cmd.AffectedSOPClassUID = "1.2.840.10008.1.1"
    cmd.CommandField = C_ECHO_RQ
    cmd.MessageID = 513
    cmd.CommandDataSetType = NO_DATASET
    cmd.ErrorComment = "odd"
    got = decode_command(encode(cmd, True, True) or b"")
    assert got == {
        "AffectedSOPClassUID": "1.2.840.10008.1.1",
        "CommandField": C_ECHO_RQ,
        "MessageID": 513,
        "CommandDataSetType": NO_DATASET,
        "ErrorComment": "odd",
    }


class _Scp:
    """A pynetdicom C-ECHO/C-FIND/C-GET SCP serving `files`, with a small maximum PDU."""

    def __init__(
        self,
        files: list[Path],
        *,
        abort_after: int | None = None,
        storage_syntaxes: list[str] | None = None,
    ) -> None:
        from pynetdicom import AE, AllStoragePresentationContexts, evt
        from pynetdicom.sop_class import (
            StudyRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelGet,
            Verification,
        )

        self.datasets = [pydicom.dcmread(f) for f in files]
        self.abort_after = abort_after
        self.port = free_port()
        ae = AE(ae_title="PYSCP")
        ae.maximum_pdu_size = 4096  # every image arrives and leaves in many fragments
        for cx in (
            Verification,
            StudyRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelGet,
        ):
            ae.add_supported_context(cx)
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(
                cx.abstract_syntax,
                storage_syntaxes or cx.transfer_syntax,
                scp_role=True,
                scu_role=False,
            )
        self.server = ae.start_server(
            ("127.0.0.1", self.port),
            block=False,
            evt_handlers=[(evt.EVT_C_FIND, self._find), (evt.EVT_C_GET, self._get)],
        )
        self.url = f"dicom://127.0.0.1:{self.port}/PYSCP"

    def _find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        ds = self.datasets[0]
        rsp = Dataset()
        rsp.QueryRetrieveLevel = "SERIES"
        rsp.StudyInstanceUID = ds.StudyInstanceUID
        rsp.SeriesInstanceUID = ds.SeriesInstanceUID
        rsp.Modality = ds.Modality
        rsp.NumberOfSeriesRelatedInstances = len(self.datasets)
        yield 0xFF00, rsp

    def _get(self, event: Any) -> Iterator[Any]:
        yield len(self.datasets)
        for k, ds in enumerate(self.datasets):
            if self.abort_after is not None and k == self.abort_after:
                event.assoc.abort()
                return
            yield 0xFF00, ds

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def series(tmp_path: Path) -> Any:
    return unique_series(tmp_path, shape=(5, 64, 48))


def test_echo_find_get_from_pynetdicom_scp(series: Any, tmp_path: Path) -> None:
    scp = _Scp(series.files)
    try:
        dimse.echo(parse_url(scp.url))
        out = fetch_to_folder(f"{scp.url}?SeriesInstanceUID={series.series_instance_uid}",
                              tmp_path / "out")  # fmt: skip
    finally:
        scp.close()
    assert_same_instances(series.files, sorted(out.rglob("*.dcm")))


def _fetch(scp: _Scp, series_uid: str, out: Path) -> Path:
    """C-GET series `series_uid` from `scp` into `out`, then stop the SCP."""
    try:
        return fetch_to_folder(f"{scp.url}?SeriesInstanceUID={series_uid}", out)
    finally:
        scp.close()


def test_peer_abort_during_cget_keeps_nothing(series: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(AssociationRejectedError, match="ended the association during C-GET"):
        _fetch(_Scp(series.files, abort_after=2), series.series_instance_uid, out)
    assert list(out.rglob("*.dcm")) == []


def test_failed_write_during_cget_is_an_error(
    series: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "w" in mode:
            raise OSError(28, "No space left on device")
        return open(path, mode, *args, **kwargs)

    monkeypatch.setattr(dimse, "open", full_disk, raising=False)
    out = tmp_path / "out"
    with pytest.raises(WriteError, match="No space left on device"):
        _fetch(_Scp(series.files), series.series_instance_uid, out)
    assert list(out.rglob("*.dcm")) == []


def test_cstore_to_dcmtk_storescp(series: Any, tmp_path: Path) -> None:
    """Files go out as they are; storescp (dcmtk) receives the same data elements."""
    storescp = require_tool("storescp")
    port = free_port()
    received = tmp_path / "received"
    received.mkdir()
    proc = subprocess.Popen(
        [storescp, "-aet", "DCMTK", "-pdu", "4096", "-od", str(received), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"dicom://127.0.0.1:{port}/DCMTK"
        deadline = time.monotonic() + 10
        while True:
            try:
                dimse.echo(parse_url(url))
                break
            except NetworkError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        # files (sent raw) and Datasets (encoded) both arrive intact
        stored = send(url, series.files[:3], progress=False)
        stored += send(url, [pydicom.dcmread(f) for f in series.files[3:]], progress=False)
    finally:
        proc.terminate()
        proc.wait(10)
    assert len(stored) == len(series.files)
    assert_same_instances(series.files, sorted(received.iterdir()))


def test_store_to_peer_without_storage_names_the_titles(series: Any) -> None:
    """A peer that supports only C-ECHO accepts no storage context: a clear error."""
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title="ECHOONLY")
    ae.add_supported_context(Verification)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False)
    try:
        with pytest.raises(AssociationRejectedError, match=r"accepted none.*'ECHOONLY'"):
            send(f"dicom://127.0.0.1:{port}/ECHOONLY", series.files[:1], progress=False)
    finally:
        server.shutdown()


def test_large_dataset_fragments_round_trip(tmp_path: Path) -> None:
    """A 1 MB image through a peer with 4 kB PDUs: hundreds of fragments each way."""
    big = unique_series(tmp_path, shape=(2, 512, 1024))
    out = _fetch(_Scp(big.files), big.series_instance_uid, tmp_path / "out")
    assert_same_instances(big.files, sorted(out.rglob("*.dcm")))


def _pdv(cx: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">LBB", len(payload) + 2, cx, flags) + payload


def _pdu(*pdvs: bytes) -> bytes:
    body = b"".join(pdvs)
    return struct.pack(">BBL", 4, 0, len(body)) + body


def test_receive_reassembles_any_fragmentation() -> None:
    """Two messages in one PDU, a command split over PDUs, a dataset over three PDUs."""
    import socket

    from imagedata.transports._association import Association, Context

    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    cx = Context(1, "1.2.840.10008.1.1", "1.2.840.10008.1.2")
    assoc = Association(ours, "TEST@peer", 5.0, {1: cx}, 0)
    rsp = encode_command(CommandField=0x8030, MessageIDBeingRespondedTo=1,
                         CommandDataSetType=NO_DATASET, Status=0)  # fmt: skip
    rsp2 = encode_command(CommandField=0x8030, MessageIDBeingRespondedTo=2,
                          CommandDataSetType=NO_DATASET, Status=0)  # fmt: skip
    with_data = encode_command(CommandField=0x8020, MessageIDBeingRespondedTo=3,
                               CommandDataSetType=1, Status=0xFF00)  # fmt: skip
    data = bytes(range(256)) * 10
    theirs.sendall(
        _pdu(_pdv(1, 3, rsp), _pdv(1, 1, rsp2[:10]))
        + _pdu(_pdv(1, 3, rsp2[10:]), _pdv(1, 3, with_data), _pdv(1, 0, data[:1000]))
        + _pdu(_pdv(1, 0, data[1000:1001]))
        + _pdu(_pdv(1, 2, data[1001:]))
    )
    first, second, third = assoc.receive(), assoc.receive(), assoc.receive()
    assert first.command["MessageIDBeingRespondedTo"] == 1 and first.dataset is None
    assert second.command["MessageIDBeingRespondedTo"] == 2
    assert third.command["Status"] == 0xFF00 and third.dataset == data
    # a peer that releases in the middle: we answer A-RELEASE-RP and say so
    theirs.sendall(struct.pack(">BBL", 5, 0, 4) + b"\0" * 4)
    with pytest.raises(NetworkError, match="released the association"):
        assoc.receive()
    assert theirs.recv(10)[:1] == b"\x06"
    theirs.close()


@pytest.mark.parametrize(
    "name", ["MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_RLE.dcm"]
)
def test_cget_of_images_kept_compressed(name: str, tmp_path: Path) -> None:
    """A PACS that can only send an image as it is (lossless compressed): it arrives intact."""
    from pydicom.data import get_testdata_file

    source = Path(str(get_testdata_file(name)))
    ds = pydicom.dcmread(source)
    scp = _Scp([source], storage_syntaxes=[str(ds.file_meta.TransferSyntaxUID)])
    out = _fetch(scp, str(ds.SeriesInstanceUID), tmp_path / "out")
    (got,) = out.rglob("*.dcm")
    received = pydicom.dcmread(got)
    assert received.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
    assert received.PixelData == ds.PixelData  # the same compressed bytes


def test_absurd_pdu_length_is_refused_without_allocating() -> None:
    """A peer announcing a 4 GB PDU gets an abort, not a 4 GB buffer."""
    import socket

    from imagedata.transports._association import Association

    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    assoc = Association(ours, "TEST@peer", 5.0, {}, 0)
    theirs.sendall(struct.pack(">BBL", 4, 0, 0xFFFFFFF0))
    with pytest.raises(NetworkError, match="PDU of 4294967280 bytes"):
        assoc.receive()
    assert theirs.recv(10)[:1] == b"\x07"  # A-ABORT
    theirs.close()
