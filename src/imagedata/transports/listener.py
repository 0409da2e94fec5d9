"""A storage SCP that files incoming images per patient, study and series.

Use it to receive images that a PACS sends (C-MOVE destination, or a modality
pushing images)::

    from imagedata.transports.listener import Listener
    with Listener("incoming", port=11112, aet="IMAGEDATA") as listener:
        ...  # ask the PACS to C-MOVE to IMAGEDATA
        listener.wait_for(300, timeout=60)

Images land in ``folder/PatientID/StudyInstanceUID/SeriesInstanceUID/SOPInstanceUID.dcm``,
each written under a temporary name and renamed, so no half-written file is ever
visible.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from imagedata._optional import import_optional
from imagedata.transports._base import NetworkError, event_writer, instance_path, write_atomic

logger = logging.getLogger(__name__)

#: Status codes returned to the sender.
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700


#: pynetdicom's notification events whose standard handlers only log.
_LOGGING_EVENTS = ("EVT_DIMSE_RECV", "EVT_DIMSE_SENT", "EVT_PDU_RECV", "EVT_PDU_SENT")


def _drop_idle_log_handlers(assoc: Any) -> None:
    """Unbind pynetdicom's standard logging handlers from `assoc` while its logger is quiet.

    They describe every DIMSE message and PDU even when nothing is logged, which costs
    about a millisecond per image.  Per association only; pynetdicom's settings are
    untouched, and with its logger at INFO or DEBUG the handlers stay.
    """
    if logging.getLogger("pynetdicom").isEnabledFor(logging.INFO):
        return
    from pynetdicom import evt

    for name in _LOGGING_EVENTS:
        event = getattr(evt, name, None)
        if event is None:
            continue
        for handler in list(assoc.get_handlers(event)):
            func = handler[0] if isinstance(handler, tuple) else handler
            if getattr(func, "__module__", "") == "pynetdicom._handlers":
                assoc.unbind(event, func)


def set_nodelay(event: Any) -> None:
    """pynetdicom EVT_CONN_OPEN handler: disable Nagle's algorithm on the socket.

    Without TCP_NODELAY every DIMSE message waits tens of milliseconds for the
    delayed ACK of the previous one.  Also drops pynetdicom's logging handlers from
    the association when its logger is quiet (see :func:`_drop_idle_log_handlers`).
    """
    _drop_idle_log_handlers(event.assoc)
    sock = getattr(getattr(event.assoc.dul, "socket", None), "socket", None)
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as err:  # e.g. a socket already closed
            logger.debug("could not set TCP_NODELAY: %s", err)


def storage_contexts(transfer_syntaxes: list[str] | None = None) -> list[Any]:
    """Presentation contexts for every storage SOP class pynetdicom knows (for an SCP)."""
    pynetdicom = import_optional("pynetdicom", "net", "receive DICOM images")
    syntaxes = transfer_syntaxes or list(pynetdicom.ALL_TRANSFER_SYNTAXES)
    return [
        pynetdicom.build_context(cx.abstract_syntax, syntaxes)
        for cx in pynetdicom.AllStoragePresentationContexts
    ]


class Listener:
    """A storage SCP (C-STORE receiver) filing images into `folder`.

    Parameters
    ----------
    folder
        Where incoming images are filed (created if missing).
    port
        TCP port to listen on.
    aet
        Our AE title.
    host
        Address to bind ('127.0.0.1' for this machine only, '' for every interface).
    ssl_context
        A server-side :class:`ssl.SSLContext` for DICOM TLS.
    on_stored
        Called with the path of each filed image (from the receiving thread).
    timeout
        Network/DIMSE timeout in seconds for each association.
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        port: int = 11112,
        aet: str = "IMAGEDATA",
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
        on_stored: Callable[[Path], None] | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.folder = Path(folder)
        self.port = port
        self.aet = aet
        self.host = host
        self.ssl_context = ssl_context
        self.on_stored = on_stored
        self.timeout = timeout
        self.received: list[Path] = []
        self.failed: list[str] = []
        self._cond = threading.Condition()
        self._server: Any = None

    # --- events ---------------------------------------------------------------------

    def _handle_store(self, event: Any) -> int:
        sop_uid = str(event.request.AffectedSOPInstanceUID)
        try:
            ds = event.dataset
            path = instance_path(self.folder, ds, sop_uid)
            write_atomic(path, event_writer(event))
        except Exception as err:  # answer the sender with a failure status, never crash
            logger.error("could not file image %s: %s", sop_uid, err)
            with self._cond:
                self.failed.append(sop_uid)
                self._cond.notify_all()
            return OUT_OF_RESOURCES
        with self._cond:
            self.received.append(path)
            self._cond.notify_all()
        if self.on_stored is not None:
            self.on_stored(path)
        return SUCCESS

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> Listener:
        """Start listening in background threads; return self.

        Raises
        ------
        NetworkError
            If the port cannot be bound (in use, or no permission).
        """
        pynetdicom = import_optional("pynetdicom", "net", "receive DICOM images")
        from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

        self.folder.mkdir(parents=True, exist_ok=True)
        ae = pynetdicom.AE(ae_title=self.aet)
        ae.supported_contexts = storage_contexts()
        ae.add_supported_context(Verification)
        ae.maximum_pdu_size = 0
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        handlers = [
            (pynetdicom.evt.EVT_C_STORE, self._handle_store),
            (pynetdicom.evt.EVT_CONN_OPEN, set_nodelay),
        ]
        try:
            self._server = ae.start_server(
                (self.host, self.port),
                block=False,
                evt_handlers=handlers,
                ssl_context=self.ssl_context,
            )
        except OSError as err:
            raise NetworkError(
                f"cannot listen on {self.host or '*'}:{self.port} as {self.aet}: {err}; "
                "choose another --port (ports below 1024 need root)"
            ) from err
        logger.info(
            "listening on %s:%d as %s, filing into %s", self.host, self.port, self.aet, self.folder
        )
        return self

    def stop(self) -> None:
        """Stop listening and wait for the server threads to end."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> Listener:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def count(self) -> int:
        """Number of images filed so far."""
        with self._cond:
            return len(self.received)

    def wait_for(self, n: int, timeout: float) -> bool:
        """Wait until `n` images are filed or `timeout` seconds pass; True if they were."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def serve_forever(
        self, idle_timeout: float | None = None, max_images: int | None = None
    ) -> None:
        """Block until interrupted, `max_images` filed, or `idle_timeout` s without images."""
        last = (0, time.monotonic())
        while True:
            with self._cond:
                self._cond.wait(0.2)
                n = len(self.received)
            now = time.monotonic()
            if n != last[0]:
                last = (n, now)
            if max_images is not None and n >= max_images:
                return
            if idle_timeout is not None and now - last[1] >= idle_timeout:
                return
