"""A private Orthanc PACS per test session, on free loopback ports.

Two instances start together (and stop together, since SIGTERM takes seconds):
``orthanc`` (open) and ``orthanc_auth`` (HTTP authentication on, DICOM only from
known AE titles).  Tests skip when Orthanc or its DICOMweb plugin is missing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tool

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
LISTENER_AET = "IDLISTEN"
MOVE_AET = "IDMOVE"
USER, PASSWORD = "alice", "s3cret"


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Orthanc:
    """A running Orthanc: its ports, AE title and REST helpers."""

    process: subprocess.Popen[bytes]
    folder: Path
    http_port: int
    dicom_port: int
    aet: str
    move_port: int
    listener_port: int
    auth: tuple[str, str] | None = None

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def dicom_url(self, query: str = "", aet: str | None = None) -> str:
        q = f"?{query}" if query else ""
        return f"dicom://127.0.0.1:{self.dicom_port}/{aet or self.aet}{q}"

    def web_url(self, query: str = "", userinfo: str = "") -> str:
        q = f"?{query}" if query else ""
        at = f"{userinfo}@" if userinfo else ""
        return f"dicomweb+http://{at}127.0.0.1:{self.http_port}/dicom-web{q}"

    def request(self, path: str, data: Any = None, method: str | None = None) -> Any:
        """Call the REST API: JSON (or a plain string) in, JSON out."""
        if data is None or isinstance(data, str):
            body = None if data is None else data.encode()
        else:
            body = json.dumps(data).encode()
        req = urllib.request.Request(self.rest + path, data=body, method=method)
        if self.auth:
            import base64

            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=30) as rsp:
            raw = rsp.read()
        return json.loads(raw) if raw else None

    def clear(self) -> None:
        """Delete every patient."""
        for pid in self.request("/patients"):
            self.request(f"/patients/{pid}", method="DELETE")


def _config(folder: Path, name: str, auth: bool, ports: dict[str, int]) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "Name": name,
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "HttpPort": ports["http"],
        "DicomPort": ports["dicom"],
        "DicomAet": name,
        "DicomCheckCalledAet": True,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": auth,
        "DicomAlwaysAllowStore": not auth,
        "DicomAlwaysAllowFind": not auth,
        "DicomAlwaysAllowGet": not auth,
        "DicomAlwaysAllowMove": not auth,
        "DicomModalities": {
            "listener": [LISTENER_AET, "127.0.0.1", ports["listener"]],
            "mover": [MOVE_AET, "127.0.0.1", ports["move"]],
            "imagedata": ["IMAGEDATA", "127.0.0.1", ports["move"]],
        },
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "StableAge": 1,
        "LogExportedResources": False,
        "HttpTimeout": 20,
        "DicomScuTimeout": 20,
    }
    if auth:
        cfg["RegisteredUsers"] = {USER: PASSWORD}
    return cfg


def _start(tmp: Path, name: str, auth: bool) -> Orthanc:
    ports = {k: free_port() for k in ("http", "dicom", "move", "listener")}
    folder = tmp / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(_config(folder, name, auth, ports), indent=1))
    log = open(folder / "orthanc.log", "wb")  # noqa: SIM115 - closed with the process
    env = {**os.environ, "TCP_NODELAY": "1"}
    proc = subprocess.Popen(
        [require_tool("Orthanc"), str(folder / "config.json")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=folder,
    )
    o = Orthanc(proc, folder, ports["http"], ports["dicom"], name, ports["move"], ports["listener"])
    o.auth = (USER, PASSWORD) if auth else None
    return o


def _wait_up(o: Orthanc, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if o.process.poll() is not None:
            log = (o.folder / "orthanc.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"Orthanc exited with {o.process.returncode}:\n{log}")
        try:
            o.request("/system")
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.05)
    pytest.fail(f"Orthanc did not answer GET /system within {timeout} s")


@pytest.fixture(scope="session")
def _orthancs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Orthanc]]:
    require_tool("Orthanc")
    if not DICOMWEB_PLUGIN.exists():
        pytest.skip(
            f"the Orthanc DICOMweb plugin is missing ({DICOMWEB_PLUGIN}); "
            "apt-get install orthanc-dicomweb"
        )
    tmp = tmp_path_factory.mktemp("orthanc")
    servers = {"open": _start(tmp, "ORTHANC", False), "auth": _start(tmp, "SECURE", True)}
    try:
        for o in servers.values():
            _wait_up(o)
        yield servers
    finally:
        for o in servers.values():
            if o.process.poll() is None:
                o.process.send_signal(signal.SIGTERM)
        for o in servers.values():
            try:
                o.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                o.process.kill()
                o.process.wait(timeout=10)


@pytest.fixture(scope="session")
def orthanc(_orthancs: dict[str, Orthanc]) -> Orthanc:
    """The open Orthanc (no authentication, any AE title may store/find/get/move)."""
    return _orthancs["open"]


@pytest.fixture(scope="session")
def orthanc_auth(_orthancs: dict[str, Orthanc]) -> Orthanc:
    """The Orthanc with HTTP authentication and DICOM access for known AE titles only."""
    return _orthancs["auth"]


@pytest.fixture
def tls_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made with openssl)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    r = subprocess.run(
        [require_tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return cert, key
