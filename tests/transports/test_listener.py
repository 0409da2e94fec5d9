"""Our storage SCP (Listener, `imagedata listen`) talking to dcmtk and to Orthanc."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from imagedata.cli.ls import main as ls_main
from imagedata.transports import NetworkError, send
from imagedata.transports.listener import Listener
from tests.conftest import REPO, require_tool
from tests.transports._helpers import assert_same_instances, unique_series
from tests.transports.conftest import LISTENER_AET, Orthanc, free_port

ENV = {**os.environ, "TCP_NODELAY": "1"}


def _dcmtk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool(args[0]), *args[1:]], capture_output=True, text=True, timeout=60, env=ENV
    )


def test_storescu_to_listener_files_per_series(tmp_path: Path) -> None:
    a = unique_series(tmp_path)
    b = unique_series(tmp_path, shape=(3, 8, 8))
    port = free_port()
    with Listener(tmp_path / "in", port=port, aet="IDTEST") as listener:
        for truth in (a, b):
            r = _dcmtk(
                "storescu", "-aec", "IDTEST", "+sd", "+r", "127.0.0.1", str(port), str(truth.path)
            )
            assert r.returncode == 0, r.stderr
        assert listener.wait_for(len(a.files) + len(b.files), timeout=10)
    for truth in (a, b):
        series = (
            tmp_path
            / "in"
            / truth.patient_id
            / truth.study_instance_uid
            / truth.series_instance_uid
        )
        assert_same_instances(truth.files, sorted(series.glob("*.dcm")))
    assert not list((tmp_path / "in").rglob("*.part")), "half-written files left behind"


def test_movescu_moves_to_listener(orthanc: Orthanc, tmp_path: Path) -> None:
    truth = unique_series(tmp_path)
    send(orthanc.dicom_url(), truth.files)
    with Listener(tmp_path / "in", port=orthanc.listener_port, aet=LISTENER_AET) as listener:
        r = _dcmtk(
            "movescu", "-S", "-aet", "MOVER", "-aec", orthanc.aet, "-aem", LISTENER_AET,
            "-k", "QueryRetrieveLevel=SERIES",
            "-k", f"StudyInstanceUID={truth.study_instance_uid}",
            "-k", f"SeriesInstanceUID={truth.series_instance_uid}",
            "127.0.0.1", str(orthanc.dicom_port),
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert listener.count == len(truth.files)
    assert_same_instances(truth.files, listener.received)


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    with Listener(tmp_path / "a", port=port), pytest.raises(NetworkError, match=f"{port}.*--port"):
        Listener(tmp_path / "b", port=port).start()


def test_cli_listen_with_storescu(tmp_path: Path) -> None:
    truth = unique_series(tmp_path)
    port = free_port()
    out = tmp_path / "incoming"
    cmd = [sys.executable, "-m", "imagedata", "listen", "--port", str(port), "--aet", "CLI",
           "--host", "127.0.0.1", "--max-images", str(len(truth.files)), "--idle-timeout", "30",
           str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO, env=ENV)
    try:
        assert proc.stdout is not None
        assert "listening on 127.0.0.1" in proc.stdout.readline()
        r = _dcmtk("storescu", "-aec", "CLI", "+sd", "+r", "127.0.0.1", str(port), str(truth.path))
        assert r.returncode == 0, r.stderr
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0
    assert f"received {len(truth.files)} images" in rest
    assert_same_instances(truth.files, sorted(out.rglob("*.dcm")))


def test_cli_listen_bad_port(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from imagedata.cli.listen import main

    assert main(["--port", "70000", str(tmp_path)]) == 2
    assert "--port 70000" in capsys.readouterr().err


def test_cli_ls_tree(orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = unique_series(tmp_path, SeriesDescription="for ls")
    send(orthanc.dicom_url(), truth.files)
    for url in (orthanc.dicom_url(f"PatientID={truth.patient_id}"),
                orthanc.web_url(f"PatientID={truth.patient_id}")):  # fmt: skip
        assert ls_main([url]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith(f"Patient {truth.patient_id}")
        assert f"StudyInstanceUID={truth.study_instance_uid}" in out[1]
        assert "Series 3  MR  4 images  'for ls'" in out[2]
        assert out[2].endswith(f"SeriesInstanceUID={truth.series_instance_uid}")


def test_cli_ls_errors_are_one_line(orthanc: Orthanc, capsys: pytest.CaptureFixture[str]) -> None:
    assert ls_main([orthanc.dicom_url(aet="NOSUCHAET")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'NOSUCHAET'" in err[0] and "rejected" in err[0]
    assert ls_main(["dicom://127.0.0.1:1/X"]) == 1
    assert "connection refused" in capsys.readouterr().err
    assert ls_main(["dicom://127.0.0.1/X?Colour=red"]) == 1
    assert "unknown query key 'Colour'" in capsys.readouterr().err
    assert ls_main([orthanc.dicom_url("PatientID=NOBODY")]) == 0
    assert "nothing on the PACS matches" in capsys.readouterr().out


def test_dicom_tls_store(tmp_path: Path, tls_cert: tuple[Path, Path]) -> None:
    import ssl

    cert, key = tls_cert
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    truth = unique_series(tmp_path)
    port = free_port()
    with Listener(tmp_path / "in", port=port, aet="TLS", ssl_context=server) as listener:
        send(f"dicoms://127.0.0.1:{port}/TLS?cafile={cert}", truth.files)
        assert listener.count == len(truth.files)
        with pytest.raises(NetworkError, match="TLS handshake failed"):
            send(f"dicoms://127.0.0.1:{port}/TLS?timeout=5", truth.files)  # not trusted
    assert_same_instances(truth.files, listener.received)


def test_refused_images_make_a_partial_store_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver refuses every second image: C-STORE says how many of how many were stored."""
    from imagedata.transports import PartialTransferError

    real = Listener._handle_store
    calls: list[int] = []

    def every_second(self: Listener, event: object) -> int:
        calls.append(1)
        return 0xA700 if len(calls) % 2 == 0 else real(self, event)

    monkeypatch.setattr(Listener, "_handle_store", every_second)
    truth = unique_series(tmp_path, shape=(4, 8, 8))
    port = free_port()
    with Listener(tmp_path / "in", port=port, aet="PICKY") as listener:
        with pytest.raises(PartialTransferError, match=r"only 2 of 4 images .* status 0xA700"):
            send(f"dicom://127.0.0.1:{port}/PICKY", truth.files, expected=4)
        assert listener.count == 2


def test_echoscu_and_a_find_request_to_the_listener(tmp_path: Path) -> None:
    """C-ECHO is answered; a C-FIND (not a storage service) gets no association context."""
    port = free_port()
    with Listener(tmp_path / "in", port=port, aet="IDECHO"):
        r = _dcmtk("echoscu", "-aec", "IDECHO", "127.0.0.1", str(port))
        assert r.returncode == 0, r.stderr
        r = _dcmtk("findscu", "-aec", "IDECHO", "-S", "-k", "QueryRetrieveLevel=STUDY",
                   "127.0.0.1", str(port))  # fmt: skip
        assert r.returncode != 0
        assert "No Acceptable Presentation Contexts" in r.stderr + r.stdout


def test_abort_in_the_middle_of_an_image_leaves_nothing(tmp_path: Path) -> None:
    """A sender that aborts after half an image: no file, hidden or not, stays behind."""
    import socket
    import struct
    import time

    from imagedata.transports import parse_url
    from imagedata.transports._association import (
        C_STORE_RQ,
        _pdu_header,
        associate,
        encode_command,
    )

    truth = unique_series(tmp_path, shape=(1, 64, 64))
    raw = truth.files[0].read_bytes()
    port = free_port()
    folder = tmp_path / "in"
    with Listener(folder, port=port, aet="IDABORT") as listener:
        url = parse_url(f"dicom://127.0.0.1:{port}/IDABORT")
        mr = "1.2.840.10008.5.1.4.1.1.4"
        assoc = associate(url, [(mr, ["1.2.840.10008.1.2.1"])])
        cx = assoc.context(mr)
        cmd = encode_command(
            CommandField=C_STORE_RQ,
            MessageID=1,
            AffectedSOPClassUID=mr,
            AffectedSOPInstanceUID="1.2.3",
            Priority=0,
            CommandDataSetType=1,
        )
        fragment = raw[400:2400]  # a first fragment, not the last
        assoc.sock.sendall(
            _pdu_header(cx.id, 0x03, len(cmd))
            + cmd
            + _pdu_header(cx.id, 0x00, len(fragment))
            + fragment
        )
        assoc.sock.sendall(struct.pack(">BBL", 7, 0, 4) + b"\0\0\0\0")  # A-ABORT
        assoc.sock.shutdown(socket.SHUT_RDWR)
        assoc.close()
        deadline = time.monotonic() + 5
        while any(folder.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert listener.count == 0
    assert list(folder.rglob("*")) == []


def test_stop_ends_open_associations(tmp_path: Path) -> None:
    """stop() returns promptly even while a peer keeps an idle association open."""
    import time

    from imagedata.transports import parse_url
    from imagedata.transports._association import associate

    port = free_port()
    listener = Listener(tmp_path / "in", port=port, aet="IDSTOP", timeout=30).start()
    url = parse_url(f"dicom://127.0.0.1:{port}/IDSTOP")
    assoc = associate(url, [("1.2.840.10008.1.1", ["1.2.840.10008.1.2"])])
    start = time.monotonic()
    listener.stop()
    assert time.monotonic() - start < 5
    assoc.close()


def test_concurrent_associations_are_all_filed(tmp_path: Path) -> None:
    """Three senders at once: every image is filed once, in its own series folder."""
    import threading

    series = [unique_series(tmp_path, shape=(6, 16, 16)) for _ in range(3)]
    port = free_port()
    errors: list[BaseException] = []

    def push(files: list[Path]) -> None:
        try:
            send(f"dicom://127.0.0.1:{port}/IDMANY", files, progress=False)
        except BaseException as err:  # reported below
            errors.append(err)

    with Listener(tmp_path / "in", port=port, aet="IDMANY") as listener:
        threads = [threading.Thread(target=push, args=(s.files,)) for s in series]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        assert listener.count == 18
    for truth in series:
        folder = tmp_path / "in" / truth.patient_id / truth.study_instance_uid
        received = sorted((folder / truth.series_instance_uid).glob("*.dcm"))
        assert_same_instances(truth.files, received)
