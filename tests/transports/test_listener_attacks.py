"""The storage SCP against a hostile peer, on loopback: every attack ends that association.

Each attack must end with an A-ABORT (or A-ASSOCIATE-RJ) and a closed socket, no
exception escaping a listener thread, no file (hidden or not) left behind, and the
listener still serving the next, honest, sender.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

from imagedata.transports import NetworkError, parse_url, send
from imagedata.transports._association import (
    C_ECHO_RQ,
    C_STORE_RQ,
    NO_DATASET,
    Association,
    _pdu_header,
    _request_pdu,
    associate,
    encode_command,
)
from imagedata.transports._base import AssociationRejectedError
from imagedata.transports.listener import Listener
from tests.transports._helpers import unique_series
from tests.transports.conftest import free_port

pytest.importorskip("pynetdicom")

MR = "1.2.840.10008.5.1.4.1.1.4"
EXPLICIT = "1.2.840.10008.1.2.1"
VERIFICATION = "1.2.840.10008.1.1"


@pytest.fixture
def thread_errors() -> Iterator[list[Any]]:
    """Exceptions that escape any thread during the test (must stay empty)."""
    caught: list[Any] = []
    old = threading.excepthook
    threading.excepthook = caught.append
    yield caught
    threading.excepthook = old


@pytest.fixture
def listener(tmp_path: Path, thread_errors: list[Any]) -> Iterator[Listener]:
    lst = Listener(tmp_path / "in", port=free_port(), aet="IDATTACK", timeout=3.0,
                   request_timeout=1.0, max_associations=3)  # fmt: skip
    with lst:
        yield lst
    assert not thread_errors, [e.exc_value for e in thread_errors]
    left = [p for p in (tmp_path / "in").rglob("*") if p.is_file()]
    assert all(p in lst.received for p in left), f"left behind: {left}"


def _url(listener: Listener, calling: str = "ATTACKER") -> Any:
    return parse_url(f"dicom://127.0.0.1:{listener.port}/{listener.aet}?calling_aet={calling}")


def _raw(listener: Listener) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", listener.port), timeout=5)
    sock.settimeout(5)
    return sock


def _ended(sock: socket.socket, within: float = 5.0) -> tuple[bytes, float]:
    """What the listener sent until it closed the socket, and how long that took."""
    start = time.monotonic()
    sock.settimeout(within)
    got = b""
    with sock:
        while time.monotonic() - start < within:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
    return got, time.monotonic() - start


def _still_serves(listener: Listener) -> None:
    with associate(_url(listener, "HONEST"), [(VERIFICATION, [EXPLICIT])]) as assoc:
        cx = assoc.context(VERIFICATION)
        cmd = encode_command(
            CommandField=C_ECHO_RQ,
            MessageID=1,
            AffectedSOPClassUID=VERIFICATION,
            CommandDataSetType=NO_DATASET,
        )
        assoc.send(cx, cmd, None)
        assert assoc.receive().command["Status"] == 0


def _established(listener: Listener) -> Association:
    return associate(_url(listener), [(MR, [EXPLICIT])])


def _store_command(uid: str = "1.2.3.4") -> bytes:
    return encode_command(CommandField=C_STORE_RQ, MessageID=1, AffectedSOPClassUID=MR,
                          AffectedSOPInstanceUID=uid, Priority=0, CommandDataSetType=1)  # fmt: skip


def _assert_aborted(sock: socket.socket) -> float:
    got, took = _ended(sock)
    assert got[:1] == b"\x07", f"expected an A-ABORT, got {got[:16]!r}"
    return took


# --- the association request --------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"\x00" * 10,  # far too short for the fixed fields
        b"\x00\x01\x00\x00" + b"A" * 64 + b"\x10\x00\xff\xff",  # an item length that lies
        bytes(range(256)) * 4,  # noise
    ],
    ids=["short", "lying-item", "noise"],
)
def test_garbage_association_request(listener: Listener, body: bytes) -> None:
    sock = _raw(listener)
    sock.sendall(struct.pack(">BBL", 1, 0, len(body)) + body)
    assert _assert_aborted(sock) < 2
    _still_serves(listener)


def test_a_first_pdu_that_is_not_a_request(listener: Listener) -> None:
    sock = _raw(listener)
    sock.sendall(_pdu_header(1, 0x03, 4) + b"\0" * 4)
    _assert_aborted(sock)
    _still_serves(listener)


def test_a_huge_request_length_is_refused_at_once(listener: Listener) -> None:
    sock = _raw(listener)
    sock.sendall(struct.pack(">BBL", 1, 0, 200 << 20))  # 200 MB announced
    assert _assert_aborted(sock) < 2
    _still_serves(listener)


def test_slow_loris_request_meets_the_deadline(listener: Listener) -> None:
    """One byte of a valid request every 0.3 s: cut off after request_timeout (1 s), not 3 s."""
    request, _ = _request_pdu(_url(listener), [(MR, [EXPLICIT])], ())
    sock = _raw(listener)
    start = time.monotonic()
    with pytest.raises(OSError):  # the peer closes while we dribble
        for byte in request:  # bounded: the request is a few hundred bytes
            sock.sendall(bytes([byte]))
            time.sleep(0.3)
            if time.monotonic() - start > 10:
                pytest.fail("the listener waited more than 10 s for the request")
        sock.recv(1)  # never reached when the listener keeps its deadline
    took = time.monotonic() - start
    assert 0.9 < took < 2.5, took
    sock.close()
    _still_serves(listener)


def test_calling_ae_title_not_allowed(tmp_path: Path, thread_errors: list[Any]) -> None:
    port = free_port()
    with Listener(tmp_path / "in", port=port, aet="IDALLOW", allow=["GOOD"]):
        url = f"dicom://127.0.0.1:{port}/IDALLOW"
        with pytest.raises(AssociationRejectedError, match="Calling AE title not recognised"):
            associate(parse_url(url + "?calling_aet=EVIL"), [(VERIFICATION, [EXPLICIT])])
        associate(parse_url(url + "?calling_aet=GOOD"), [(VERIFICATION, [EXPLICIT])]).release()
    assert not thread_errors


def test_too_many_associations_are_rejected(listener: Listener) -> None:
    held = [_established(listener) for _ in range(listener.max_associations)]
    try:
        with pytest.raises(AssociationRejectedError, match=r"[Ll]ocal limit exceeded"):
            _established(listener)
    finally:
        for assoc in held:
            assoc.release()
    time.sleep(0.3)  # the workers end once their peers have released
    _still_serves(listener)


def test_an_idle_association_is_ended(listener: Listener) -> None:
    assoc = _established(listener)
    start = time.monotonic()
    got, took = _ended(assoc.sock, within=10)
    assert got[:1] == b"\x07" or got == b""
    assert 2.5 < time.monotonic() - start < 6, took  # listener.timeout is 3 s


# --- the data phase -----------------------------------------------------------------------


def _attack_data(listener: Listener, pdus: bytes) -> None:
    assoc = _established(listener)
    assoc.sock.sendall(pdus)
    _assert_aborted(assoc.sock)
    time.sleep(0.2)  # the listener removes what it had started
    _still_serves(listener)


def test_pdv_length_beyond_its_pdu(listener: Listener) -> None:
    cmd = _store_command()
    pdu = bytearray(_pdu_header(1, 0x03, len(cmd)) + cmd)
    struct.pack_into(">L", pdu, 6, len(cmd) + 500)  # the PDV claims 500 bytes more
    _attack_data(listener, bytes(pdu))


@pytest.mark.parametrize("body", [b"\0\0\0", b"\0\0\0\x01\x01"], ids=["3-bytes", "item-1"])
def test_short_pdv(listener: Listener, body: bytes) -> None:
    _attack_data(listener, struct.pack(">BBL", 4, 0, len(body)) + body)


def test_dataset_fragments_before_a_command(listener: Listener) -> None:
    fragment = b"\x08\x00\x16\x00" + b"x" * 1000
    _attack_data(listener, _pdu_header(1, 0x00, len(fragment)) + fragment)
    assert not any((listener.folder).iterdir())


def test_second_command_in_the_middle_of_a_dataset(listener: Listener) -> None:
    """Half an image, then a new command: aborted, and the half image removed."""
    cmd = _store_command()
    fragment = b"\x08\x00\x16\x00" + b"x" * 4000
    _attack_data(
        listener,
        _pdu_header(1, 0x03, len(cmd)) + cmd + _pdu_header(1, 0x00, len(fragment)) + fragment
        + _pdu_header(1, 0x03, len(cmd)) + cmd,
    )  # fmt: skip
    assert not any((listener.folder).iterdir())


def test_endless_command_set(listener: Listener) -> None:
    """A command set that never ends is cut off at its cap, not collected forever."""
    chunk = b"\0" * 16000
    pdus = (_pdu_header(1, 0x01, len(chunk)) + chunk) * 6  # 96 kB of command, never last
    _attack_data(listener, pdus)


def test_unaccepted_context(listener: Listener) -> None:
    cmd = _store_command()
    _attack_data(listener, _pdu_header(99, 0x03, len(cmd)) + cmd)


def test_abort_mid_image_then_honest_sender(listener: Listener, tmp_path: Path) -> None:
    """After an attack the same listener files an honest series completely."""
    cmd = _store_command()
    fragment = b"\x08\x00\x16\x00" + b"x" * 4000
    _attack_data(
        listener,
        _pdu_header(1, 0x03, len(cmd)) + cmd + _pdu_header(1, 0x00, len(fragment)) + fragment
        + struct.pack(">BBL", 4, 0, 2) + b"\0\0",
    )  # fmt: skip
    assert not any((listener.folder).iterdir())
    truth = unique_series(tmp_path, shape=(3, 8, 8))
    send(f"dicom://127.0.0.1:{listener.port}/{listener.aet}", truth.files, progress=False)
    assert listener.count == 3


# --- the same file name for different images -----------------------------------------------


def test_same_uid_different_images_are_both_kept(tmp_path: Path, thread_errors: list[Any]) -> None:
    """Two images under one SOP Instance UID: both filed (never Success, then one lost)."""
    truth = unique_series(tmp_path, shape=(2, 8, 8))
    a, b = (pydicom.dcmread(f) for f in truth.files)
    b.SOPInstanceUID = a.SOPInstanceUID
    b.file_meta.MediaStorageSOPInstanceUID = a.SOPInstanceUID
    same = tmp_path / "same.dcm"
    b.save_as(same)
    port = free_port()
    with Listener(tmp_path / "in", port=port, aet="IDDUP") as listener:
        url = f"dicom://127.0.0.1:{port}/IDDUP"
        send(url, [truth.files[0], same], progress=False)
        send(url, [truth.files[0]], progress=False)  # the same image again: kept once
        assert listener.count == 2
    filed = sorted((tmp_path / "in").rglob("*.dcm"))
    assert [p.name for p in filed] == [f"{a.SOPInstanceUID}-2.dcm", f"{a.SOPInstanceUID}.dcm"]
    pixels = {pydicom.dcmread(p).PixelData for p in filed}
    assert pixels == {a.PixelData, b.PixelData}
    assert not thread_errors


def test_cget_of_one_uid_for_two_images_is_partial(tmp_path: Path) -> None:
    """A PACS sending two images under one UID: C-GET says one of two arrived, keeps nothing."""
    from imagedata.transports import PartialTransferError, fetch_to_folder
    from tests.transports.test_association import _Scp

    truth = unique_series(tmp_path, shape=(2, 8, 8))
    b = pydicom.dcmread(truth.files[1])
    b.SOPInstanceUID = pydicom.dcmread(truth.files[0]).SOPInstanceUID
    b.file_meta.MediaStorageSOPInstanceUID = b.SOPInstanceUID
    b.save_as(truth.files[1])
    scp = _Scp(truth.files)
    out = tmp_path / "out"
    try:
        with pytest.raises(PartialTransferError, match=r"only 1 of 2 .* UID already received"):
            fetch_to_folder(f"{scp.url}?SeriesInstanceUID={truth.series_instance_uid}", out)
    finally:
        scp.close()
    assert list(out.rglob("*.dcm")) == []


def test_network_error_is_the_listener_refusal(listener: Listener) -> None:
    """An association the listener aborted is a NetworkError for our own client."""
    assoc = _established(listener)
    assoc.sock.sendall(struct.pack(">BBL", 4, 0, 3) + b"\0\0\0")
    with pytest.raises(NetworkError):
        assoc.receive()


def test_cli_listen_binds_loopback_and_allows_titles(tmp_path: Path) -> None:
    """`imagedata listen` binds 127.0.0.1 without --host; --allow restricts the callers."""
    from imagedata.cli.listen import build_parser, main

    args = build_parser().parse_args(["--port", "1", "--allow", "A", "--allow", "B", "out"])
    assert args.host == "127.0.0.1" and args.allow == ["A", "B"]
    assert main(["--port", "5", "--max-associations", "0", str(tmp_path)]) == 2

    seen: list[tuple[str, int]] = []
    real = socket.create_server

    def spy(address: tuple[str, int], **kw: Any) -> socket.socket:
        seen.append(address)
        return real(address, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(socket, "create_server", spy)
    try:
        assert main(["--port", str(free_port()), "--idle-timeout", "0.1", "-q", str(tmp_path)]) == 0
    finally:
        mp.undo()
    assert seen and seen[0][0] == "127.0.0.1"


def test_image_above_the_size_limit_is_refused(tmp_path: Path, thread_errors: list[Any]) -> None:
    """An image above max_image_bytes gets a failure status; nothing of it stays on disk."""
    from imagedata.transports import PartialTransferError

    small = unique_series(tmp_path, shape=(1, 8, 8))
    big = unique_series(tmp_path, shape=(1, 128, 128))
    port = free_port()
    with Listener(tmp_path / "in", port=port, aet="IDSIZE", max_image_bytes=8000) as listener:
        url = f"dicom://127.0.0.1:{port}/IDSIZE"
        with pytest.raises(PartialTransferError, match=r"0xA700"):
            send(url, big.files, progress=False)
        send(url, small.files, progress=False)
        assert listener.count == 1 and len(listener.failed) == 1
    assert [p.name for p in (tmp_path / "in").rglob("*") if p.is_file()] == [
        f"{pydicom.dcmread(small.files[0]).SOPInstanceUID}.dcm"
    ]
    assert not thread_errors


def test_slow_tls_handshake_meets_the_deadline(
    tmp_path: Path, tls_cert: tuple[Path, Path], thread_errors: list[Any]
) -> None:
    """A ClientHello sent one byte every 0.3 s is cut off after request_timeout (1 s)."""
    import ssl

    cert, key = tls_cert
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context()
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    hello_maker = client.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with pytest.raises(ssl.SSLWantReadError):
        hello_maker.do_handshake()
    hello = outgoing.read()
    port = free_port()
    with Listener(tmp_path / "in", port=port, aet="IDTLS", ssl_context=server,
                  request_timeout=1.0, timeout=10.0):  # fmt: skip
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        start = time.monotonic()
        with pytest.raises(OSError):  # the listener closes while we dribble
            for byte in hello:  # a few hundred bytes: bounded
                sock.sendall(bytes([byte]))
                time.sleep(0.3)
                if time.monotonic() - start > 10:
                    pytest.fail("the TLS handshake was not cut off within 10 s")
            sock.recv(1)
        took = time.monotonic() - start
        sock.close()
    assert 0.9 < took < 2.5, took
    assert not thread_errors
