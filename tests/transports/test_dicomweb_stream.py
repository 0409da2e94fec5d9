"""WADO-RS retrieval streams one multipart response per series straight into files."""

from __future__ import annotations

import tracemalloc
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from imagedata.series import Series
from imagedata.testing import SyntheticSeries
from imagedata.transports import PartialTransferError, dicomweb, fetch_to_folder
from imagedata.transports._base import Progress
from imagedata.transports._url import parse_url
from imagedata.transports.dicomweb import boundary_of, split_multipart
from tests.transports._helpers import unique_series
from tests.transports.conftest import Orthanc

B = b"b0und4ry"


def body(parts: list[tuple[bytes, bytes]], preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    out = preamble
    for headers, content in parts:
        head = headers + b"\r\n\r\n" if headers else b"\r\n"  # no headers: one empty line
        out += b"\r\n--" + B + b"\r\n" + head + content
    return out + b"\r\n--" + B + b"--" + epilogue


def split(data: bytes, size: int) -> list[tuple[bytes, bytes]]:
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    parts: list[tuple[bytes, bytes]] = []
    for kind, payload in split_multipart(chunks, B):
        if kind == "start":
            parts.append((payload, b""))
        elif kind == "data":
            parts[-1] = (parts[-1][0], parts[-1][1] + payload)
    return parts


PARTS = [
    (b"Content-Type: application/dicom", b"first\r\n--b0und4r not a boundary\r\n-"),
    (b"Content-Type: application/dicom\r\nContent-Length: 3", b"two"),
    (b"Content-Type: application/dicom", b""),
    (b"Content-Type: application/dicom", bytes(range(256)) * 40 + b"\r\n--"),
]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 11, 64, 1000, 1 << 20])
def test_split_multipart_any_chunking(size: int) -> None:
    data = body(PARTS)[2:]  # servers start with the boundary, without CRLF
    assert split(data, size) == PARTS


def test_split_multipart_preamble_epilogue_and_no_headers() -> None:
    parts = [(b"", b"no headers"), (b"X: 1", b"x")]
    data = b"preamble text" + body(parts, epilogue=b"\r\nepilogue")
    assert split(data, 5) == parts


def test_split_multipart_truncated_raises_at_every_cut() -> None:
    data = body(PARTS[:2])[2:]
    for cut in range(len(data) - 2):  # '--' of the closing delimiter must arrive
        with pytest.raises(EOFError):
            split(data[:cut], 4)


def test_boundary_of() -> None:
    assert boundary_of('multipart/related; type="application/dicom"; boundary=abc') == b"abc"
    assert boundary_of('multipart/related; BOUNDARY="a b"') == b"a b"
    assert boundary_of("application/dicom") is None


class FakeResponse:
    """Enough of requests.Response for dicomweb._write_parts."""

    def __init__(self, data: bytes, content_type: str) -> None:
        self.headers = {"Content-Type": content_type}
        self.data = data

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        for i in range(0, len(self.data), 1000):
            yield self.data[i : i + 1000]


def test_parts_are_written_unchanged_and_bare_datasets_get_file_meta(tmp_path: Path) -> None:
    truth = unique_series(tmp_path, shape=(2, 8, 8))
    a, b = (Path(f).read_bytes() for f in truth.files)
    meta_end = 132 + 12 + int.from_bytes(b[140:144], "little")
    bare = b[meta_end:]  # no preamble, no File Meta (not standard, but seen)
    data = body([(b"Content-Type: application/dicom", a), (b"", bare)])[2:]
    rsp = FakeResponse(data, f"multipart/related; type=application/dicom; boundary={B.decode()}")
    url = parse_url("dicomweb+http://127.0.0.1:1/dicom-web")
    paths = list(dicomweb._write_parts(rsp, tmp_path / "out", url))
    assert paths[0].read_bytes() == a
    ds_a, ds_b = pydicom.dcmread(truth.files[1]), pydicom.dcmread(paths[1])
    assert paths[1].read_bytes()[128:132] == b"DICM"
    np.testing.assert_array_equal(ds_b.pixel_array, ds_a.pixel_array)
    assert paths[1].name == f"{ds_a.SOPInstanceUID}.dcm"
    assert paths[1].parent.name == str(ds_a.SeriesInstanceUID)
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == sorted(
        [*{p.name for p in paths}, *{p.parent.name for p in paths}, truth.patient_id,
         truth.study_instance_uid]
    )  # fmt: skip


# ---- against Orthanc -------------------------------------------------------------------


def upload(server: Orthanc, files: list[Path]) -> None:
    for f in files:
        req = urllib.request.Request(server.rest + "/instances", data=f.read_bytes())
        with urllib.request.urlopen(req, timeout=30) as rsp:
            rsp.read()


@pytest.fixture(scope="module")
def stored(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> SyntheticSeries:
    truth = unique_series(tmp_path_factory.mktemp("stream"), shape=(12, 128, 96))
    upload(orthanc, truth.files)
    return truth


def _query(orthanc: Orthanc, truth: SyntheticSeries) -> str:
    return orthanc.web_url(
        f"StudyInstanceUID={truth.study_instance_uid}&SeriesInstanceUID={truth.series_instance_uid}"
    )


class Requests:
    """Record the URLs requested through requests."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import requests

        self.urls: list[str] = []
        send = requests.Session.send

        def recording(session: Any, req: Any, **kwargs: Any) -> Any:
            self.urls.append(req.url)
            return send(session, req, **kwargs)

        monkeypatch.setattr(requests.Session, "send", recording)


@pytest.mark.network
def test_one_request_per_series_and_files_byte_identical(
    orthanc: Orthanc, stored: SyntheticSeries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Requests(monkeypatch)
    seen: list[int] = []
    out = fetch_to_folder(
        _query(orthanc, stored), tmp_path, progress=lambda d, t, _: seen.append(d)
    )
    wado = [u for u in spy.urls if "/studies/" in u and "?" not in u]
    series_url = f"/studies/{stored.study_instance_uid}/series/{stored.series_instance_uid}"
    assert len(wado) == 1 and wado[0].endswith(series_url), spy.urls
    received = {p.name: p.read_bytes() for p in out.rglob("*.dcm")}
    assert len(received) == len(stored.files)
    for f in stored.files:  # Orthanc keeps what it receives: no decode/re-encode on our side
        uid = pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID
        assert received[f"{uid}.dcm"] == Path(f).read_bytes()
    assert seen == list(range(1, len(stored.files) + 1))
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]


@pytest.mark.network
def test_memory_stays_bounded(
    orthanc: Orthanc, stored: SyntheticSeries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Peak memory follows the chunk size (about 4 chunks), not the size of the series."""
    monkeypatch.setattr(dicomweb, "CHUNK", 1 << 12)
    monkeypatch.setattr(dicomweb, "HEAD_BYTES", 1 << 12)
    url = parse_url(_query(orthanc, stored))
    match = {
        "StudyInstanceUID": stored.study_instance_uid,
        "SeriesInstanceUID": stored.series_instance_uid,
    }
    total = sum(Path(f).stat().st_size for f in stored.files)
    dicomweb.retrieve(url, "SERIES", match, tmp_path / "warm-up", progress=Progress(False))
    tracemalloc.start()
    try:
        n = dicomweb.retrieve(url, "SERIES", match, tmp_path / "got", progress=Progress(False))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n == len(stored.files)
    assert peak < total / 3, (peak, total)


@pytest.mark.network
@pytest.mark.parametrize("how", ["connection drops", "body ends early"])
def test_broken_stream_is_a_partial_transfer_leaving_nothing(
    orthanc: Orthanc, stored: SyntheticSeries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:  # fmt: skip
    import requests

    original = requests.Response.iter_content
    limit = int(Path(stored.files[0]).stat().st_size * 4.5)

    def broken(self: Any, chunk_size: int = 1, decode_unicode: bool = False) -> Iterator[bytes]:
        sent = 0
        for chunk in original(self, chunk_size=4096):
            if sent + len(chunk) > limit:
                yield chunk[: limit - sent]
                if how == "connection drops":
                    raise requests.exceptions.ChunkedEncodingError("Connection broken")
                return
            sent += len(chunk)
            yield chunk

    monkeypatch.setattr(requests.Response, "iter_content", broken)
    with pytest.raises(PartialTransferError, match=r"only 4 of 12 images") as err:
        fetch_to_folder(_query(orthanc, stored), tmp_path / "got", progress=False)
    assert (err.value.done, err.value.expected) == (4, 12)
    assert not [p for p in (tmp_path / "got").rglob("*") if p.is_file()]


@pytest.mark.network
def test_series_reads_the_same_as_local_files(orthanc: Orthanc, stored: SyntheticSeries) -> None:
    si = Series(_query(orthanc, stored))
    np.testing.assert_array_equal(np.asarray(si), stored.data)
    np.testing.assert_allclose(si.affine, stored.affine, atol=1e-6)
