"""DICOMweb transport (dicomweb-client): QIDO-RS queries, WADO-RS retrieval, STOW-RS storage.

Authentication: HTTP basic (``user:password@`` in the URL, or ``username=``/``password=``)
or a bearer token (``token=``).  Timeouts are (connect_timeout, timeout) on every request.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from pydicom import dcmread
from pydicom.dataset import Dataset

from imagedata._optional import import_optional
from imagedata.transports._base import (
    AuthenticationError,
    NetworkError,
    PartialTransferError,
    Progress,
    instance_path,
    write_atomic,
)
from imagedata.transports._url import PacsURL

logger = logging.getLogger(__name__)

#: Instances per STOW-RS request.
STOW_BATCH = 64
#: Bytes read from the socket at a time while streaming a WADO-RS response.
CHUNK = 1 << 20
#: Accept header of WADO-RS retrieval (the server's default transfer syntax).
ACCEPT_DICOM = 'multipart/related; type="application/dicom"'
#: Attributes read from each received instance to name its file.
NAME_KEYS = ["PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]
#: Bytes kept from the start of each part to read its header without pydicom.
HEAD_BYTES = 1 << 16


def session(url: PacsURL) -> Any:
    """A requests Session with the credentials and TLS options of `url`."""
    requests = import_optional("requests", "net", "talk to a DICOMweb server")
    http = requests.Session()
    if url.token:
        http.headers["Authorization"] = f"Bearer {url.token}"
    elif url.username is not None:
        http.auth = (url.username, url.password or "")
    if url.tls:
        http.verify = url.cafile or url.verify
        if url.certfile:
            http.cert = (url.certfile, url.keyfile) if url.keyfile else url.certfile
    return http


@contextlib.contextmanager
def client(url: PacsURL) -> Iterator[Any]:
    """A DICOMwebClient for `url`, with its credentials, TLS options and timeouts.

    Its HTTP session is closed at the end of the ``with`` block.
    """
    dwc = import_optional("dicomweb_client", "net", "talk to a DICOMweb server")
    http = session(url)
    web = dwc.DICOMwebClient(
        url=url.base_url, session=http, timeout=(url.connect_timeout, url.timeout)
    )
    web.set_http_retry_params(retry=False)
    try:
        yield web
    finally:
        http.close()


@contextlib.contextmanager
def translate_errors(url: PacsURL, what: str) -> Iterator[None]:
    """Turn requests' exceptions into NetworkError / AuthenticationError naming the server."""
    requests = import_optional("requests", "net", "talk to a DICOMweb server")
    try:
        yield
    except requests.HTTPError as err:
        status = err.response.status_code if err.response is not None else 0
        if status in (401, 403):
            how = "wrong credentials" if (url.username or url.token) else "no credentials given"
            raise AuthenticationError(
                f"{what} on {url.base_url}: HTTP {status} ({how}); give user:password@ in the "
                "URL, username=/password= or token="
            ) from err
        body = (err.response.text[:200] if err.response is not None else "").strip()
        raise NetworkError(f"{what} on {url.base_url}: HTTP {status} {body}".rstrip()) from err
    except requests.Timeout as err:
        raise NetworkError(
            f"{what} on {url.base_url}: no answer within {url.timeout:g} s; try a larger timeout="
        ) from err
    except requests.ConnectionError as err:
        raise NetworkError(
            f"cannot connect to {url.base_url}: {_root_cause(err)}; check host and port"
        ) from err


def _root_cause(err: BaseException) -> str:
    text = str(err)
    if "Connection refused" in text:
        return "connection refused (nothing listens on that port)"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host name"
    return text[:200]


def find(
    url: PacsURL, level: str, match: dict[str, str], keys: Iterable[str] = ()
) -> list[Dataset]:
    """QIDO-RS search at `level` ('STUDY' or 'SERIES'); return the matches as datasets."""
    fields = list(dict.fromkeys(keys))
    with client(url) as web, translate_errors(url, f"QIDO-RS {level.lower()} search"):
        if level == "SERIES":
            found = web.search_for_series(
                search_filters=dict(match), fields=fields, get_remaining=True
            )
        elif level in ("STUDY", "PATIENT"):
            found = web.search_for_studies(
                search_filters=dict(match), fields=fields, get_remaining=True
            )
        else:
            raise ValueError(f"QIDO-RS level {level!r} is not supported; use 'STUDY' or 'SERIES'")
    return [Dataset.from_json(item) for item in found]


def retrieve(
    url: PacsURL,
    level: str,
    match: dict[str, str],
    folder: Path,
    *,
    progress: Progress,
    expected: int | None = None,
) -> int:
    """WADO-RS retrieve a study or series into `folder`; return how many instances arrived.

    One request for the whole study or series; the multipart response is streamed and
    each part is written to its file as it arrives, without decoding it (only its
    header is read, to name the file).  Memory stays at a few chunks (:data:`CHUNK`).

    Raises
    ------
    PartialTransferError
        If the response ends early or fewer than `expected` instances arrive; the
        instance being received is removed.
    AuthenticationError, NetworkError
    """
    path = "/studies/" + quote(match["StudyInstanceUID"], safe="")
    if level == "SERIES":
        path += "/series/" + quote(match["SeriesInstanceUID"], safe="")
    what = f"{level.lower()} " + ", ".join(f"{k}={v}" for k, v in match.items())
    requests = import_optional("requests", "net", "talk to a DICOMweb server")
    received = 0
    http = session(url)
    try:
        with translate_errors(url, f"WADO-RS retrieve of {what}"):
            rsp = http.get(
                url.base_url + path,
                headers={"Accept": ACCEPT_DICOM},
                timeout=(url.connect_timeout, url.timeout),
                stream=True,
            )
            rsp.raise_for_status()
        with rsp:
            for _ in _write_parts(rsp, folder, url):
                received += 1
                progress()
    except (EOFError, requests.exceptions.ChunkedEncodingError, requests.ConnectionError) as err:
        total = expected if expected is not None and expected > received else received + 1
        of = f" of {expected}" if expected is not None else ""
        raise PartialTransferError(
            f"only {received}{of} images of {what} arrived from {url.base_url}: the "
            f"response ended early ({str(err)[:200]}); nothing was kept. Retry, or read "
            "the server's log",
            received,
            total,
        ) from err
    finally:
        http.close()
    if expected is not None and received < expected:
        raise PartialTransferError(
            f"only {received} of {expected} images of {what} arrived from {url.base_url}; "
            "nothing was kept. Retry, or read the server's log",
            received,
            expected,
        )
    return received


def boundary_of(content_type: str) -> bytes | None:
    """The boundary parameter of a multipart Content-Type, None when it has none.

    Examples
    --------
    >>> boundary_of('multipart/related; type="application/dicom"; boundary="ab:c"')
    b'ab:c'
    """
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "boundary":
            return value.strip().strip('"').encode("latin-1")
    return None


def split_multipart(chunks: Iterable[bytes], boundary: bytes) -> Iterator[tuple[str, bytes]]:
    """Split a multipart body arriving in `chunks` into events, holding about one chunk.

    Yields ``("start", part headers)``, then ``("data", bytes)`` any number of times,
    then ``("end", b"")`` for each part (RFC 2046).

    Raises
    ------
    EOFError
        If the body ends before its closing delimiter.

    Examples
    --------
    >>> body = [b"--XY\\r\\nContent-Type: a\\r\\n\\r\\nhel", b"lo\\r\\n--XY--\\r\\n"]
    >>> [e for e in split_multipart(body, b"XY") if e[0] != "data"]
    [('start', b'Content-Type: a'), ('end', b'')]
    >>> b"".join(d for k, d in split_multipart(body, b"XY") if k == "data")
    b'hello'
    """
    delim = b"\r\n--" + boundary
    buf = bytearray(b"\r\n")  # the first delimiter may have no CRLF before it
    state = "preamble"
    for chunk in chunks:
        buf += chunk
        pos = 0  # bytes of buf consumed; removed once per chunk (no memmove per part)
        while True:
            if state in ("preamble", "body"):
                i = buf.find(delim, pos)
                end = i if i >= 0 else max(pos, len(buf) - len(delim))
                if state == "body" and end > pos:
                    with memoryview(buf) as view:
                        yield "data", bytes(view[pos:end])
                if i < 0:
                    pos = end
                    break
                if state == "body":
                    yield "end", b""
                pos, state = i + len(delim), "delimiter"
            elif state == "delimiter":
                if buf[pos : pos + 2] == b"--":
                    return  # closing delimiter; the epilogue is ignored
                eol = buf.find(b"\r\n", pos)
                if eol < 0 or len(buf) < pos + 2:
                    break
                pos, state = eol + 2, "headers"
            else:
                eoh = pos if buf[pos : pos + 2] == b"\r\n" else buf.find(b"\r\n\r\n", pos)
                if eoh < 0:
                    break
                yield "start", bytes(buf[pos:eoh])
                pos = eoh + (2 if eoh == pos else 4)
                state = "body"
        del buf[:pos]
    raise EOFError(f"multipart body ended in its {state} (no closing boundary)")


def _events(rsp: Any, url: PacsURL) -> Iterator[tuple[str, bytes]]:
    """The multipart events of a WADO-RS response (a bare application/dicom body is one part)."""
    ctype = rsp.headers.get("Content-Type", "")
    chunks = rsp.iter_content(chunk_size=CHUNK)
    boundary = boundary_of(ctype)
    if ctype.lower().startswith("multipart/") and boundary:
        yield from split_multipart(chunks, boundary)
    elif ctype.lower().startswith("application/dicom"):
        logger.warning("%s answered a bare application/dicom body, not multipart", url.base_url)
        yield "start", b""
        for chunk in chunks:
            yield "data", chunk
        yield "end", b""
    else:
        raise NetworkError(
            f"WADO-RS on {url.base_url}: unexpected Content-Type {ctype!r}; expected "
            'multipart/related; type="application/dicom"'
        )


def _write_parts(rsp: Any, folder: Path, url: PacsURL) -> Iterator[Path]:
    """Write each part of a WADO-RS response to its file; yield the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".wado-{threading.get_ident()}.part"
    fh: Any = None
    head = bytearray()
    try:
        for kind, data in _events(rsp, url):
            if kind == "start":
                fh = open(tmp, "wb")  # noqa: SIM115 - closed at "end" or below
                head.clear()
            elif kind == "data":
                if len(head) < HEAD_BYTES:
                    head += data[: HEAD_BYTES - len(head)]
                fh.write(data)
            else:
                complete = fh.tell() == len(head)
                fh.close()
                fh = None
                yield _file_part(tmp, folder, bytes(head), complete)
    finally:
        if fh is not None:
            fh.close()
        tmp.unlink(missing_ok=True)


def _names(head: bytes, complete: bool) -> SimpleNamespace | None:
    """The naming attributes parsed from the first bytes of a Part 10 file (None: use pydicom)."""
    from imagedata._fastscan import parse

    try:
        found = parse(head, complete=complete)
    except EOFError:
        return None
    if isinstance(found, str):
        return None
    values = found[0]
    if not all(isinstance(values.get(k), str) and values[k] for k in NAME_KEYS[1:]):
        return None
    return SimpleNamespace(**{k: values.get(k, "") for k in NAME_KEYS})


def _file_part(tmp: Path, folder: Path, head: bytes, complete: bool) -> Path:
    """Move a received part to its place (folder/PatientID/Study/Series/SOP.dcm)."""
    if head[128:132] != b"DICM":  # no preamble/File Meta: rewrite as a complete file (rare)
        ds = _part10(dcmread(tmp, force=True))
        path = instance_path(folder, ds, str(ds.SOPInstanceUID))
        write_atomic(path, _saver(ds))
        return path
    names: Any = _names(head, complete)
    if names is None:  # unusual encoding, or a header longer than HEAD_BYTES
        names = dcmread(tmp, stop_before_pixels=True, specific_tags=NAME_KEYS)
    path = instance_path(folder, names, str(getattr(names, "SOPInstanceUID", "") or tmp.stem))
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, path)
    return path


def _saver(ds: Dataset) -> Callable[[Any], None]:
    def save(fh: Any) -> None:
        ds.save_as(fh, enforce_file_format=True)

    return save


def _part10(item: Dataset | str | Path) -> Dataset:
    """A dataset that dicomweb-client encodes as a complete DICOM file (preamble, 'DICM', meta).

    Servers such as Orthanc keep the bytes they receive, so an instance sent without its
    preamble would come back by WADO-RS without one, which pydicom refuses to read.
    """
    ds = item if isinstance(item, Dataset) else dcmread(item)
    if getattr(ds, "preamble", None) is None:
        ds.preamble = b"\x00" * 128
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
        from pydicom.dataset import FileMetaDataset
        from pydicom.uid import ExplicitVRLittleEndian

        ds.file_meta = getattr(ds, "file_meta", None) or FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def _batches(items: Iterable[Dataset | str | Path], n: int) -> Iterator[list[Dataset]]:
    batch: list[Dataset] = []
    for item in items:
        batch.append(_part10(item))
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def store(url: PacsURL, items: Iterable[Dataset | str | Path], *, progress: Progress) -> list[str]:
    """STOW-RS datasets (or files); return the SOP Instance UIDs stored."""
    stored: list[str] = []
    for batch in _batches(items, STOW_BATCH):
        with client(url) as web, translate_errors(url, "STOW-RS store"):
            result = web.store_instances(batch)
        failed = list(result.get("FailedSOPSequence", []))
        ok = {
            str(item.ReferencedSOPInstanceUID) for item in result.get("ReferencedSOPSequence", [])
        }
        for ds in batch:
            if str(ds.SOPInstanceUID) in ok:
                stored.append(str(ds.SOPInstanceUID))
                progress()
        if failed or len(ok) < len(batch):
            total = progress.expected or len(stored) + len(batch) - len(ok)
            reason = failed[0].get("FailureReason", "?") if failed else "not acknowledged"
            raise PartialTransferError(
                f"only {len(stored)} of {total} images were stored on {url.base_url}; "
                f"{len(batch) - len(ok)} refused (first failure reason {reason})",
                len(stored),
                total,
            )
    return stored
