"""DICOM network transport (DIMSE, through pynetdicom): C-FIND, C-GET, C-MOVE, C-STORE.

Every association sets TCP_NODELAY on its socket (pynetdicom does not), uses the
URL's timeouts (never infinite) and TLS options, and turns failures into
:class:`~imagedata.transports.NetworkError` subclasses that name the peer and
both AE titles.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import ssl
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from imagedata._optional import import_optional
from imagedata.errors import WriteError
from imagedata.transports._base import (
    AssociationRejectedError,
    NetworkError,
    PartialTransferError,
    Progress,
    safe_name,
    write_received,
)
from imagedata.transports._url import PacsURL

logger = logging.getLogger(__name__)

UNCOMPRESSED = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]

#: Storage SOP classes offered (SCP role) for C-GET besides those the PACS reports.
DEFAULT_STORAGE_CLASSES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.4.3",  # Enhanced MR Color Image
    "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy Converted Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.128",  # PET Image
    "1.2.840.10008.5.1.4.1.1.130",  # Enhanced PET Image
    "1.2.840.10008.5.1.4.1.1.20",  # NM Image
    "1.2.840.10008.5.1.4.1.1.1",  # CR Image
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image (presentation)
    "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography (presentation)
    "1.2.840.10008.5.1.4.1.1.6.1",  # US Image
    "1.2.840.10008.5.1.4.1.1.3.1",  # US Multi-frame Image
    "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic Image
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte SC
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word SC
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color SC
    "1.2.840.10008.5.1.4.1.1.30",  # Parametric Map
    "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
    "1.2.840.10008.5.1.4.1.1.481.2",  # RT Dose
    "1.2.840.10008.5.1.4.1.1.4.2",  # MR Spectroscopy
    "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
)

PENDING = (0xFF00, 0xFF01)
#: Our maximum receive PDU size (bytes); larger PDUs mean fewer round trips.
MAX_PDU = 262144


def _model(level: str, op: str) -> Any:
    """The Query/Retrieve information model for `level` and `op` ('Find', 'Get', 'Move')."""
    sop = import_optional("pynetdicom.sop_class", "net", "talk to a PACS")
    root = "PatientRoot" if level == "PATIENT" else "StudyRoot"
    return getattr(sop, f"{root}QueryRetrieveInformationModel{op}")


def ssl_context(url: PacsURL) -> ssl.SSLContext | None:
    """The client TLS context for a dicoms:// URL (None for plain dicom://)."""
    if not url.tls:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=url.cafile)
    if url.certfile:
        ctx.load_cert_chain(url.certfile, url.keyfile)
    if not url.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _connect_reason(url: PacsURL) -> str:
    """Why no association was made: probe the port once to tell refusal from silence."""
    try:
        with socket.create_connection((url.host, url.port), timeout=url.connect_timeout):
            pass
    except ConnectionRefusedError:
        return "connection refused (nothing listens on that port)"
    except TimeoutError:
        return f"no answer within {url.connect_timeout:g} s (connect_timeout)"
    except OSError as err:
        return f"{err.strerror or err}"
    if url.tls:
        return "the TLS handshake failed (check cafile/certfile/keyfile/verify)"
    return f"connected, but no answer to the association request within {url.timeout:g} s"


def association_error(url: PacsURL, assoc: Any, connected: bool) -> NetworkError:
    """The error that explains why `assoc` was not established."""
    if not connected:
        return NetworkError(
            f"cannot connect to {url.where()}: {_connect_reason(url)}; check host and port"
        )
    titles = f"called AE title {url.called_aet!r}, calling AE title {url.calling_aet!r}"
    rsp = getattr(assoc.acceptor, "primitive", None)
    if assoc.is_rejected or getattr(rsp, "result", None) in (0x01, 0x02):
        reason = f"{rsp.result_str}, {rsp.source_str}: {rsp.reason_str}" if rsp else "rejected"
        return AssociationRejectedError(
            f"{url.host}:{url.port} rejected the association ({titles}): {reason}; check the "
            f"PACS's AE title and that it knows our AE title {url.calling_aet!r} (calling_aet=)"
        )
    if rsp is None:
        return NetworkError(
            f"{url.where()} did not accept the association within {url.timeout:g} s ({titles}): "
            "no answer, or it aborted; check that it is a DICOM service, or try a larger timeout="
        )
    if assoc.is_aborted:
        return AssociationRejectedError(
            f"{url.host}:{url.port} aborted the association ({titles}): it accepted none of the "
            "requested services or refused us; check the PACS's configuration for our AE title"
        )
    return NetworkError(
        f"{url.where()} did not answer the association request within {url.timeout:g} s ({titles})"
    )


@contextlib.contextmanager
def association(
    url: PacsURL,
    contexts: Sequence[tuple[str, Sequence[str]]],
    *,
    roles: Sequence[Any] = (),
    handlers: Sequence[tuple[Any, Any]] = (),
) -> Iterator[Any]:
    """An established association with the PACS of `url`, released at the end.

    Parameters
    ----------
    contexts
        (abstract syntax, transfer syntaxes) to request (at most 128).
    roles
        SCP/SCU role selection items (e.g. for C-GET).
    handlers
        Extra pynetdicom event handlers.
    """
    pynetdicom = import_optional("pynetdicom", "net", "talk to a PACS")
    from imagedata.transports.listener import set_nodelay

    ae = pynetdicom.AE(ae_title=url.calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = url.timeout
    ae.connection_timeout = url.connect_timeout
    for abstract, syntaxes in contexts:
        ae.add_requested_context(abstract, list(syntaxes))
    ctx = ssl_context(url)
    opened: list[bool] = []

    def on_open(event: Any) -> None:
        opened.append(True)
        set_nodelay(event)

    try:
        assoc = ae.associate(
            url.host,
            url.port,
            ae_title=url.called_aet,
            max_pdu=MAX_PDU,
            ext_neg=list(roles) or None,
            evt_handlers=[(pynetdicom.evt.EVT_CONN_OPEN, on_open), *handlers],
            tls_args=(ctx, url.host) if ctx else None,
        )
    except socket.gaierror as err:
        raise NetworkError(
            f"cannot connect to {url.where()}: unknown host name ({err.strerror}); check the host"
        ) from err
    except OSError as err:
        raise NetworkError(f"cannot connect to {url.where()}: {err}; check host and port") from err
    if not assoc.is_established:
        raise association_error(url, assoc, bool(opened))
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def _peer_ended(assoc: Any) -> bool:
    """True when the peer aborted or closed the association (rather than timing out)."""
    if assoc.is_aborted or not assoc.is_established:
        return True
    try:
        return bool(assoc.acse.is_aborted("a-abort") or assoc.acse.is_aborted("a-p-abort"))
    except Exception:  # pynetdicom internals changed: fall back to the timeout message
        return False


def check_status(status: Dataset, url: PacsURL, op: str, assoc: Any = None) -> int:
    """The status code of a DIMSE response; raise for an empty response or a failure."""
    if "Status" not in status:
        if assoc is not None and _peer_ended(assoc):
            raise AssociationRejectedError(
                f"{url.where()} ended the association during {op} (calling AE title "
                f"{url.calling_aet!r}, called AE title {url.called_aet!r}); the PACS may not "
                f"allow {url.calling_aet!r} this operation: check its configuration or its log"
            )
        raise NetworkError(
            f"{op} to {url.where()}: no valid response within {url.timeout:g} s; "
            "try a larger timeout="
        )
    code = int(status.Status)
    if code in (*PENDING, 0x0000) or 0xB000 <= code <= 0xBFFF:
        return code
    comment = status.get("ErrorComment", "")
    if code == 0xA801:
        comment = comment or "move destination unknown"
    raise NetworkError(f"{op} to {url.where()} failed with status 0x{code:04X} {comment}".rstrip())


def identifier(level: str, match: dict[str, str], keys: Iterable[str] = ()) -> Dataset:
    """A query/retrieve identifier: `match` values plus empty return `keys`."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for kw in keys:
        setattr(ds, kw, "")
    for kw, value in match.items():
        setattr(ds, kw, value)
    return ds


def find(
    url: PacsURL, level: str, match: dict[str, str], keys: Iterable[str] = ()
) -> list[Dataset]:
    """C-FIND at `level` ('PATIENT', 'STUDY', 'SERIES', 'IMAGE'); return the identifiers found."""
    model = _model(level, "Find")
    found: list[Dataset] = []
    with association(url, [(model, UNCOMPRESSED)]) as assoc:
        for status, ds in assoc.send_c_find(identifier(level, match, keys), model):
            if check_status(status, url, "C-FIND", assoc) in PENDING and ds is not None:
                found.append(ds)
    logger.debug("C-FIND %s %s: %d matches", level, match, len(found))
    return found


def check_complete(
    url: PacsURL, what: str, received: int, expected: int | None, final: Any
) -> None:
    """Raise :class:`PartialTransferError` unless every expected image arrived."""
    failed = int(getattr(final, "NumberOfFailedSuboperations", 0) or 0) if final is not None else 0
    if (expected is not None and received < expected) or failed:
        total = expected if expected is not None else received + failed
        raise PartialTransferError(
            f"only {received} of {total} images of {what} arrived from {url.where()}"
            f" ({failed} failed sub-operations); nothing was kept. Retry, or read the PACS's log",
            received,
            total,
        )


def _on_pending(status: Dataset, progress: Progress) -> None:
    counts = [
        status.get(k)
        for k in (
            "NumberOfRemainingSuboperations",
            "NumberOfCompletedSuboperations",
            "NumberOfFailedSuboperations",
            "NumberOfWarningSuboperations",
        )
    ]
    if counts[0] is not None:
        progress.set_expected(sum(int(c or 0) for c in counts))


def get(
    url: PacsURL,
    level: str,
    match: dict[str, str],
    folder: Path,
    *,
    progress: Progress,
    expected: int | None = None,
    sop_classes: Sequence[str] = (),
) -> int:
    """C-GET the images of `match` at `level` into `folder`; return how many arrived."""
    pynetdicom = import_optional("pynetdicom", "net", "retrieve from a PACS")
    model = _model(level, "Get")
    storage = list(dict.fromkeys([*sop_classes, *DEFAULT_STORAGE_CLASSES]))[:127]
    received: list[Path] = []

    folder.mkdir(parents=True, exist_ok=True)

    def on_store(event: Any) -> int:
        # `folder` is private to this transfer (removed on failure): no need for renames
        path = folder / f"{safe_name(event.request.AffectedSOPInstanceUID, 'instance')}.dcm"
        try:
            write_received(path, event)
        except OSError as err:
            logger.error("cannot write %s: %s", path, err)
            return 0xA700
        received.append(path)
        progress()
        return 0x0000

    final = None
    with association(
        url,
        [(model, UNCOMPRESSED), *[(uid, UNCOMPRESSED) for uid in storage]],
        roles=[pynetdicom.build_role(uid, scp_role=True) for uid in storage],
        handlers=[(pynetdicom.evt.EVT_C_STORE, on_store)],
    ) as assoc:
        for status, _ in assoc.send_c_get(identifier(level, match), model):
            code = check_status(status, url, "C-GET", assoc)
            final = status
            if code in PENDING:
                _on_pending(status, progress)
    check_complete(url, _describe(level, match), len(received), expected, final)
    return len(received)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def move(
    url: PacsURL,
    level: str,
    match: dict[str, str],
    folder: Path,
    *,
    progress: Progress,
    expected: int | None = None,
) -> int:
    """C-MOVE the images of `match` to our own listener (AE title ``url.move``) in `folder`."""
    from imagedata.transports.listener import Listener

    model = _model(level, "Move")
    if not url.move:
        raise ValueError("C-MOVE needs our AE title as move=")
    port = url.move_port or 11112
    host = "127.0.0.1" if _is_loopback(url.host) else ""
    final = None
    listener = Listener(folder, port=port, aet=url.move, host=host, timeout=url.timeout)
    listener.on_stored = lambda _path: progress()
    with listener, association(url, [(model, UNCOMPRESSED)]) as assoc:
        for status, _ in assoc.send_c_move(identifier(level, match), url.move, model):
            code = _check_move_status(status, url, port, assoc)
            final = status
            if code in PENDING:
                _on_pending(status, progress)
    check_complete(url, _describe(level, match), listener.count, expected, final)
    return listener.count


def _check_move_status(status: Dataset, url: PacsURL, port: int, assoc: Any) -> int:
    try:
        return check_status(status, url, "C-MOVE", assoc)
    except NetworkError as err:
        known = "does not know" if status.get("Status") == 0xA801 else "may not know"
        raise NetworkError(
            f"{err}; {url.where()} {known} the move destination {url.move!r}: add it to the "
            f"PACS's DICOM modalities as ({url.move}, this host, port {port}), or use C-GET "
            "(leave out move=)"
        ) from err


def _describe(level: str, match: dict[str, str]) -> str:
    keys = ", ".join(f"{k}={v}" for k, v in match.items())
    return f"{level.lower()} {keys}"


def _as_dataset(item: Dataset | str | Path) -> Dataset:
    ds = item if isinstance(item, Dataset) else dcmread(item)
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        meta = meta if meta is not None else FileMetaDataset()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
    return ds


def store(url: PacsURL, items: Iterable[Dataset | str | Path], *, progress: Progress) -> list[str]:
    """C-STORE datasets (or files) of one SOP class; return the SOP Instance UIDs stored.

    Raises
    ------
    PartialTransferError
        If the PACS refused some images or the association broke off.
    """
    it = iter(items)
    first = next(it, None)
    if first is None:
        return []
    ds0 = _as_dataset(first)
    sop_class = str(ds0.SOPClassUID)
    syntax = str(ds0.file_meta.TransferSyntaxUID)
    contexts = [(sop_class, [ts]) for ts in dict.fromkeys([syntax, *UNCOMPRESSED])]
    stored: list[str] = []
    refused: list[tuple[str, str]] = []
    with association(url, contexts) as assoc:
        for ds in _chain(ds0, it):
            if str(ds.SOPClassUID) != sop_class:
                raise WriteError(
                    f"cannot send SOP class {ds.SOPClassUID} with {sop_class} in one call"
                )
            status = assoc.send_c_store(ds, msg_id=(len(stored) + len(refused)) % 65535 + 1)
            if "Status" not in status:
                why = "association aborted" if assoc.is_aborted else "no response (timeout)"
                refused.append((str(ds.SOPInstanceUID), why))
                break
            code = int(status.Status)
            if code == 0 or 0xB000 <= code <= 0xBFFF:
                stored.append(str(ds.SOPInstanceUID))
                progress()
            else:
                refused.append((str(ds.SOPInstanceUID), f"status 0x{code:04X}"))
    _check_stored(url, stored, refused, progress)
    return stored


def _chain(first: Dataset, rest: Iterator[Dataset | str | Path]) -> Iterator[Dataset]:
    yield first
    for item in rest:
        yield _as_dataset(item)


def _check_stored(
    url: PacsURL, stored: list[str], refused: list[tuple[str, str]], progress: Progress
) -> None:
    if not refused:
        return
    total = progress.expected or len(stored) + len(refused)
    sop, why = refused[0]
    raise PartialTransferError(
        f"only {len(stored)} of {total} images were stored on {url.where()}; "
        f"{len(refused)} refused, first {sop}: {why}. Read the PACS's log",
        len(stored),
        total,
    )


def echo(url: PacsURL) -> None:
    """C-ECHO the PACS; raise NetworkError when it does not answer."""
    with association(url, [("1.2.840.10008.1.1", UNCOMPRESSED)]) as assoc:
        check_status(assoc.send_c_echo(), url, "C-ECHO", assoc)
