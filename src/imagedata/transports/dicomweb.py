"""DICOMweb transport (dicomweb-client): QIDO-RS queries, WADO-RS retrieval, STOW-RS storage.

Authentication: HTTP basic (``user:password@`` in the URL, or ``username=``/``password=``)
or a bearer token (``token=``).  Timeouts are (connect_timeout, timeout) on every request.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

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


@contextlib.contextmanager
def client(url: PacsURL) -> Iterator[Any]:
    """A DICOMwebClient for `url`, with its credentials, TLS options and timeouts.

    Its HTTP session is closed at the end of the ``with`` block.
    """
    dwc = import_optional("dicomweb_client", "net", "talk to a DICOMweb server")
    requests = import_optional("requests", "net", "talk to a DICOMweb server")
    session = requests.Session()
    if url.token:
        session.headers["Authorization"] = f"Bearer {url.token}"
    elif url.username is not None:
        session.auth = (url.username, url.password or "")
    if url.tls:
        session.verify = url.cafile or url.verify
        if url.certfile:
            session.cert = (url.certfile, url.keyfile) if url.keyfile else url.certfile
    web = dwc.DICOMwebClient(
        url=url.base_url, session=session, timeout=(url.connect_timeout, url.timeout)
    )
    web.set_http_retry_params(retry=False)
    try:
        yield web
    finally:
        session.close()


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
    """WADO-RS retrieve a study or series into `folder`; return how many instances arrived."""
    study = match["StudyInstanceUID"]
    received = 0
    what = f"{level.lower()} " + ", ".join(f"{k}={v}" for k, v in match.items())
    with client(url) as web, translate_errors(url, f"WADO-RS retrieve of {what}"):
        if level == "SERIES":
            instances = web.iter_series(study, match["SeriesInstanceUID"])
        else:
            instances = web.iter_study(study)
        for ds in instances:
            path = instance_path(folder, ds, str(ds.SOPInstanceUID))
            write_atomic(path, _saver(ds))
            received += 1
            progress()
    if expected is not None and received < expected:
        raise PartialTransferError(
            f"only {received} of {expected} images of {what} arrived from {url.base_url}; "
            "nothing was kept. Retry, or read the server's log",
            received,
            expected,
        )
    return received


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
