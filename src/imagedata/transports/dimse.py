"""DICOM network transport (DIMSE): C-ECHO, C-FIND, C-GET, C-MOVE, C-STORE as SCU.

The associations are made by :mod:`imagedata.transports._association`, a
single-threaded client with TCP_NODELAY, the URL's timeouts (never infinite) and
TLS options; failures become :class:`~imagedata.transports.NetworkError`
subclasses that name the peer and both AE titles.  C-GET writes each image as it
arrives, without decoding it; C-STORE sends files as they are.  The C-MOVE
destination is our own storage SCP (:mod:`imagedata.transports.listener`).
"""

from __future__ import annotations

import ipaddress
import logging
import queue
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from imagedata._optional import import_optional
from imagedata.errors import WriteError
from imagedata.transports._association import (
    C_ECHO_RQ,
    C_FIND_RQ,
    C_GET_RQ,
    C_MOVE_RQ,
    C_STORE_RQ,
    NO_DATASET,
    Association,
    Context,
    Message,
    SinkFactory,
    associate,
    encode_command,
)
from imagedata.transports._base import (
    AssociationRejectedError,
    NetworkError,
    PartialTransferError,
    Progress,
    part10_header,
    safe_name,
)
from imagedata.transports._url import PacsURL

logger = logging.getLogger(__name__)

UNCOMPRESSED: list[str] = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
#: Lossless encodings accepted for C-GET after the uncompressed ones, so that images a
#: PACS keeps compressed and cannot decompress still arrive (never a lossy one: the
#: PACS could otherwise choose to compress lossily on the way).
LOSSLESS = [
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless, first-order prediction
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless Only
    "1.2.840.10008.1.2.5",  # RLE Lossless
]

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


def _model(level: str, op: str) -> str:
    """The Query/Retrieve information model UID for `level` and `op` ('Find', 'Get', 'Move')."""
    patient = level == "PATIENT"
    return {
        "Find": "1.2.840.10008.5.1.4.1.2.1.1" if patient else "1.2.840.10008.5.1.4.1.2.2.1",
        "Move": "1.2.840.10008.5.1.4.1.2.1.2" if patient else "1.2.840.10008.5.1.4.1.2.2.2",
        "Get": "1.2.840.10008.5.1.4.1.2.1.3" if patient else "1.2.840.10008.5.1.4.1.2.2.3",
    }[op]


def _dsutils() -> Any:
    """pynetdicom's dataset encoder and decoder (for identifiers and Datasets)."""
    return import_optional("pynetdicom.dsutils", "net", "talk to a PACS")


def check_status(status: dict[str, Any], url: PacsURL, op: str) -> int:
    """The status code of a DIMSE response; raise for a failure."""
    code = int(status.get("Status", 0xFFFF_FFFF))
    if code in (*PENDING, 0x0000) or 0xB000 <= code <= 0xBFFF:
        return code
    comment = status.get("ErrorComment", "")
    if code == 0xA801:
        comment = comment or "move destination unknown"
    if code == 0xFFFF_FFFF:
        raise NetworkError(f"{op} to {url.where()}: a response without a status")
    raise NetworkError(f"{op} to {url.where()} failed with status 0x{code:04X} {comment}".rstrip())


def _request(assoc: Association, cx: Context, op: str, ds: Dataset, **fields: int | str) -> None:
    """Send a C-FIND/C-GET/C-MOVE request with identifier `ds`."""
    encode = _dsutils().encode
    command = {"C-FIND": C_FIND_RQ, "C-GET": C_GET_RQ, "C-MOVE": C_MOVE_RQ}[op]
    implicit = cx.transfer_syntax == ImplicitVRLittleEndian
    raw = encode(ds, implicit, True)
    assoc.send(
        cx,
        encode_command(
            CommandField=command,
            MessageID=assoc.next_message_id(),
            AffectedSOPClassUID=cx.abstract_syntax,
            Priority=0,
            CommandDataSetType=0x0001,
            **fields,
        ),
        raw,
    )


def _peer_refused(url: PacsURL, op: str, err: AssociationRejectedError) -> AssociationRejectedError:
    return AssociationRejectedError(
        f"{url.where()} ended the association during {op} (calling AE title "
        f"{url.calling_aet!r}, called AE title {url.called_aet!r}); the PACS may not "
        f"allow {url.calling_aet!r} this operation: check its configuration or its log ({err})"
    )


def identifier(level: str, match: dict[str, str], keys: Iterable[str] = ()) -> Dataset:
    """A query/retrieve identifier: `match` values plus empty (zero-length) return `keys`."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for kw in keys:
        setattr(ds, kw, None)
    for kw, value in match.items():
        setattr(ds, kw, value)
    return ds


def _receive(assoc: Association, url: PacsURL, op: str, sink: SinkFactory | None = None) -> Message:
    """The next message; a peer's abort is reported as a refusal of `op`."""
    try:
        return assoc.receive(sink)
    except AssociationRejectedError as err:
        raise _peer_refused(url, op, err) from err


def find(
    url: PacsURL, level: str, match: dict[str, str], keys: Iterable[str] = ()
) -> list[Dataset]:
    """C-FIND at `level` ('PATIENT', 'STUDY', 'SERIES', 'IMAGE'); return the identifiers found."""
    decode = _dsutils().decode
    model = _model(level, "Find")
    found: list[Dataset] = []
    with associate(url, [(model, UNCOMPRESSED)]) as assoc:
        cx = assoc.context(model)
        _request(assoc, cx, "C-FIND", identifier(level, match, keys))
        implicit = cx.transfer_syntax == ImplicitVRLittleEndian
        while True:
            msg = _receive(assoc, url, "C-FIND")
            if check_status(msg.command, url, "C-FIND") not in PENDING:
                break
            if msg.dataset:
                found.append(decode(BytesIO(msg.dataset), implicit, True))
    logger.debug("C-FIND %s %s: %d matches", level, match, len(found))
    return found


_DONE = ("Completed", "Warning")


def check_complete(
    url: PacsURL,
    what: str,
    received: int,
    expected: int | None,
    final: dict[str, Any] | None,
    note: str = "",
) -> None:
    """Raise :class:`PartialTransferError` unless every expected image arrived.

    `received` counts distinct images (files); the PACS's own count of completed
    sub-operations in its `final` response is expected too, so that images sent under
    a SOP Instance UID already received are not taken for complete.
    """
    final = final or {}
    failed = int(final.get("NumberOfFailedSuboperations", 0) or 0)
    sent = sum(
        int(final.get(f"NumberOf{k}Suboperations", 0) or 0) for k in ("Completed", "Warning")
    )
    if sent > (expected or 0):
        expected = sent
    if (expected is not None and received < expected) or failed:
        total = expected if expected is not None else received + failed
        raise PartialTransferError(
            f"only {received} of {total} images of {what} arrived from {url.where()}"
            f" ({failed} failed sub-operations{note}); nothing was kept. Retry, or read the "
            "PACS's log",
            received,
            total,
        )


def _on_pending(status: dict[str, Any], progress: Progress) -> None:
    keys = ("Remaining", "Completed", "Failed", "Warning")
    counts = [status.get(f"NumberOf{k}Suboperations") for k in keys]
    if counts[0] is not None:
        progress.set_expected(sum(int(c or 0) for c in counts))


class _FileSink:
    """Collects the dataset of each C-STORE sub-operation and writes it in the background.

    The C-STORE response goes out as soon as an image has arrived, so that the PACS
    sends the next one while this one is written; at most `window` images wait in
    memory.  A failed write makes :meth:`close` raise (the transfer fails as a whole,
    and the caller removes the private `folder`).  `written` counts distinct files: an
    image sent under a SOP Instance UID already received replaces the earlier one and is
    counted in `duplicates` instead.
    """

    def __init__(self, folder: Path, window: int = 8) -> None:
        self.folder = folder
        self.written = 0
        self.duplicates = 0
        self._names: set[str] = set()
        self.errors: list[tuple[Path, OSError]] = []
        self._queue: queue.Queue[tuple[Path, bytes, bytearray] | None] = queue.Queue(window)
        self._current: tuple[Path, bytes, bytearray] | None = None
        self._thread = threading.Thread(target=self._run, name="imagedata-cget-writer", daemon=True)
        self._thread.start()

    def open(self, context: Context, command: dict[str, Any]) -> BinaryIO:
        """Start an image (called when its C-STORE request has arrived)."""
        uid = str(command.get("AffectedSOPInstanceUID", ""))
        sop_class = str(command.get("AffectedSOPClassUID", ""))
        path = self.folder / f"{safe_name(uid, 'instance')}.dcm"
        if path.name in self._names:
            logger.warning("%s sent a second image with SOP Instance UID %s", self.folder, uid)
            self.duplicates += 1
        self._names.add(path.name)
        self._current = (path, part10_header(sop_class, uid, context.transfer_syntax), bytearray())
        return self  # type: ignore[return-value]

    def write(self, data: memoryview) -> None:
        """Add a fragment of the current image."""
        if self._current is not None:
            self._current[2].extend(data)

    def finish(self) -> None:
        """The current image is complete: queue it for writing."""
        if self._current is not None:
            self._queue.put(self._current)
            self._current = None

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            path, head, body = item
            try:
                with open(path, "wb") as fh:
                    fh.write(head)
                    fh.write(body)
            except OSError as err:
                self.errors.append((path, err))
                path.unlink(missing_ok=True)

    def close(self, check: bool = True) -> int:
        """Wait for the writes; return how many images were written.

        Raises
        ------
        WriteError
            If an image could not be written (unless `check` is False).
        """
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if check:
            self.check()
        self.written = len(self._names) - len(self.errors)
        return self.written

    def check(self) -> None:
        """Raise :class:`WriteError` if an image could not be written."""
        if self.errors:
            path, err = self.errors[0]
            raise WriteError(
                f"cannot write {path} ({err.strerror or err}); {len(self.errors)} images "
                "were not written and nothing was kept: free space or choose another folder"
            )


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
    """C-GET the images of `match` at `level` into `folder`; return how many arrived.

    The images are written as they arrive, without decoding them.  `folder` is private
    to this transfer: the caller removes it when the transfer fails.
    """
    model = _model(level, "Get")
    storage = list(dict.fromkeys([*sop_classes, *DEFAULT_STORAGE_CLASSES]))[:127]
    folder.mkdir(parents=True, exist_ok=True)
    sink = _FileSink(folder)
    final: dict[str, Any] | None = None
    contexts = [(model, UNCOMPRESSED), *[(uid, UNCOMPRESSED + LOSSLESS) for uid in storage]]
    try:
        with associate(url, contexts, scp_roles=storage) as assoc:
            _request(assoc, assoc.context(model), "C-GET", identifier(level, match))
            while True:
                msg = _receive(assoc, url, "C-GET", sink.open)
                if msg.command.get("CommandField") == C_STORE_RQ:
                    sink.finish()
                    sink.check()  # a failed write ends the transfer at once
                    assoc.respond(msg, 0x0000)
                    progress()
                    continue
                code = check_status(msg.command, url, "C-GET")
                final = msg.command
                if code not in PENDING:
                    break
                _on_pending(msg.command, progress)
    except BaseException:
        sink.close(check=False)
        raise
    received = sink.close()
    note = f"; {sink.duplicates} sent under a UID already received" if sink.duplicates else ""
    check_complete(url, _describe(level, match), received, expected, final, note)
    return received


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
    final: dict[str, Any] | None = None
    listener = Listener(folder, port=port, aet=url.move, host=host, timeout=url.timeout)
    listener.on_stored = lambda _path: progress()
    with listener, associate(url, [(model, UNCOMPRESSED)]) as assoc:
        cx = assoc.context(model)
        _request(assoc, cx, "C-MOVE", identifier(level, match), MoveDestination=url.move)
        while True:
            msg = _receive(assoc, url, "C-MOVE")
            code = _check_move_status(msg.command, url, port)
            final = msg.command
            if code not in PENDING:
                break
            _on_pending(msg.command, progress)
    check_complete(url, _describe(level, match), listener.count, expected, final)
    return listener.count


def _check_move_status(status: dict[str, Any], url: PacsURL, port: int) -> int:
    try:
        return check_status(status, url, "C-MOVE")
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


@dataclass
class _Outgoing:
    """One image to send: its UIDs, and either the encoded dataset or a Dataset."""

    sop_class: str
    sop_instance: str
    transfer_syntax: str
    raw: memoryview | None = None
    dataset: Dataset | None = None

    def payload(self, cx: Context) -> bytes | memoryview:
        """The dataset encoded in the context's transfer syntax."""
        encode = _dsutils().encode
        if self.raw is not None and cx.transfer_syntax == self.transfer_syntax:
            return self.raw
        ds = self.dataset
        if ds is None:
            ds = dcmread(BytesIO(bytes(self.raw or b"")), force=True)
        raw = encode(ds, cx.transfer_syntax == ImplicitVRLittleEndian, True)
        if raw is None:
            raise WriteError(f"cannot encode {self.sop_instance} in {cx.transfer_syntax}")
        return raw


def _outgoing(item: Dataset | str | Path) -> _Outgoing:
    """What to send for a Dataset or a DICOM file (a file is sent as it is, not re-encoded)."""
    if isinstance(item, Dataset):
        meta = getattr(item, "file_meta", None)
        syntax = str(getattr(meta, "TransferSyntaxUID", "") or ExplicitVRLittleEndian)
        return _Outgoing(str(item.SOPClassUID), str(item.SOPInstanceUID), syntax, dataset=item)
    from pydicom.filereader import read_file_meta_info

    data = Path(item).read_bytes()
    if data[128:132] == b"DICM":
        meta = read_file_meta_info(item)
        length = meta.get("FileMetaInformationGroupLength")
        keys = ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID")
        if length is not None and all(k in meta for k in keys):
            return _Outgoing(
                str(meta.MediaStorageSOPClassUID),
                str(meta.MediaStorageSOPInstanceUID),
                str(meta.TransferSyntaxUID),
                raw=memoryview(data)[144 + int(length) :],
            )
    return _outgoing(dcmread(BytesIO(data), force=True))  # a dataset without File Meta


def _store_context(assoc: Association, item: _Outgoing) -> Context:
    for cx in assoc.contexts.values():
        if cx.abstract_syntax == item.sop_class and cx.transfer_syntax == item.transfer_syntax:
            return cx
    if item.transfer_syntax in UNCOMPRESSED or item.raw is None:
        return assoc.context(item.sop_class)
    raise WriteError(
        f"{assoc.peer} does not accept {item.sop_instance} in its transfer syntax "
        f"{item.transfer_syntax}; decompress the images first"
    )


def store(url: PacsURL, items: Iterable[Dataset | str | Path], *, progress: Progress) -> list[str]:
    """C-STORE datasets (or files) of one SOP class; return the SOP Instance UIDs stored.

    Files are sent as they are (their dataset bytes), Datasets are encoded once.

    Raises
    ------
    PartialTransferError
        If the PACS refused some images or the association broke off.
    """
    it = iter(items)
    first = next(it, None)
    if first is None:
        return []
    item: _Outgoing | None = _outgoing(first)
    assert item is not None
    sop_class = item.sop_class
    syntaxes = dict.fromkeys([item.transfer_syntax, *UNCOMPRESSED])
    stored: list[str] = []
    refused: list[tuple[str, str]] = []
    # the next file is read while the PACS stores the current one
    with (
        associate(url, [(sop_class, [ts]) for ts in syntaxes]) as assoc,
        ThreadPoolExecutor(1, thread_name_prefix="imagedata-cstore-read") as reader,
    ):
        while item is not None:
            if item.sop_class != sop_class:
                raise WriteError(
                    f"cannot send SOP class {item.sop_class} with {sop_class} in one call"
                )
            nxt = next(it, None)
            ahead = reader.submit(_outgoing, nxt) if nxt is not None else None
            why = _store_one(assoc, item, len(stored) + len(refused))
            if why is None:
                stored.append(item.sop_instance)
                progress()
            else:
                refused.append((item.sop_instance, why))
                if not assoc.is_open:
                    break
            item = ahead.result() if ahead is not None else None
    _check_stored(url, stored, refused, progress)
    return stored


def _store_one(assoc: Association, item: _Outgoing, sent: int) -> str | None:
    """Send one image; None when stored, else why not."""
    cx = _store_context(assoc, item)
    command = encode_command(
        CommandField=C_STORE_RQ,
        MessageID=sent % 65535 + 1,
        AffectedSOPClassUID=item.sop_class,
        AffectedSOPInstanceUID=item.sop_instance,
        Priority=0,
        CommandDataSetType=0x0001,
    )
    try:
        assoc.send(cx, command, item.payload(cx))
        status = assoc.receive().command
    except NetworkError as err:
        return str(err)
    code = int(status.get("Status", 0xFFFF))
    if code == 0 or 0xB000 <= code <= 0xBFFF:
        return None
    comment = status.get("ErrorComment", "")
    return f"status 0x{code:04X} {comment}".rstrip()


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
    verification = "1.2.840.10008.1.1"
    with associate(url, [(verification, UNCOMPRESSED)]) as assoc:
        cx = assoc.context(verification)
        command = encode_command(
            CommandField=C_ECHO_RQ,
            MessageID=assoc.next_message_id(),
            AffectedSOPClassUID=verification,
            CommandDataSetType=NO_DATASET,
        )
        assoc.send(cx, command, None)
        check_status(_receive(assoc, url, "C-ECHO").command, url, "C-ECHO")
