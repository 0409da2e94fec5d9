"""A storage SCP that files incoming images per patient, study and series.

Use it to receive images that a PACS sends (C-MOVE destination, or a modality
pushing images)::

    from imagedata.transports.listener import Listener
    with Listener("incoming", port=11112, aet="IMAGEDATA") as listener:
        ...  # ask the PACS to C-MOVE to IMAGEDATA
        listener.wait_for(300, timeout=60)

Images land in ``folder/PatientID/StudyInstanceUID/SeriesInstanceUID/SOPInstanceUID.dcm``,
each written under a temporary name and renamed, so no half-written file is ever
visible.  An image whose file name is taken by a different image is kept beside it
(``SOPInstanceUID-2.dcm``); the same image sent twice is kept once.

The listener expects a hostile network: it binds to 127.0.0.1 unless told otherwise,
can restrict the calling AE titles, serves at most `max_associations` associations at
once (more are rejected as "local limit exceeded"), wants each association request
whole within `request_timeout` seconds, ends an association idle for `timeout`
seconds, and aborts an association whose peer breaks the protocol, removing any
partly received image.
"""

from __future__ import annotations

import contextlib
import filecmp
import itertools
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from imagedata._optional import import_optional
from imagedata.transports._accept import accept, reject
from imagedata.transports._association import (
    C_ECHO_RQ,
    C_STORE_RQ,
    Association,
    Context,
    PeerReleased,
)
from imagedata.transports._base import NetworkError, instance_path, part10_header

logger = logging.getLogger(__name__)

#: Status codes returned to the sender.
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
VERIFICATION = "1.2.840.10008.1.1"

_serial = itertools.count(1)


def storage_contexts(transfer_syntaxes: list[str] | None = None) -> list[Any]:
    """Presentation contexts for every storage SOP class pynetdicom knows, and Verification."""
    pynetdicom = import_optional("pynetdicom", "net", "receive DICOM images")
    syntaxes = transfer_syntaxes or list(pynetdicom.ALL_TRANSFER_SYNTAXES)
    contexts = [
        pynetdicom.build_context(cx.abstract_syntax, syntaxes)
        for cx in pynetdicom.AllStoragePresentationContexts
    ]
    return [*contexts, pynetdicom.build_context(VERIFICATION, syntaxes)]


class Incoming:
    """One image being received: written to a hidden file in `folder` as it arrives.

    Past `limit` bytes the image is refused: the rest of it is read and dropped, the
    file removed, and the sender gets a failure status.
    """

    def __init__(
        self, folder: Path, context: Context, command: dict[str, Any], limit: int | None = None
    ) -> None:
        self.sop_instance = str(command.get("AffectedSOPInstanceUID", ""))
        self.path = folder / f".incoming-{os.getpid()}-{next(_serial)}.part"
        self.error: OSError | None = None
        self.limit = limit
        self.size = 0
        self._fh: BinaryIO | None = None
        try:
            self._fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()
            sop_class = str(command.get("AffectedSOPClassUID", ""))
            self._fh.write(part10_header(sop_class, self.sop_instance, context.transfer_syntax))
        except OSError as err:
            self.error = err

    def write(self, data: memoryview) -> None:
        """Add a fragment."""
        self.size += len(data)
        if self.limit is not None and self.size > self.limit and self.error is None:
            self.error = OSError(f"image larger than {self.limit} bytes (max_image_bytes)")
            self.discard()
        if self._fh is not None and self.error is None:
            try:
                self._fh.write(data)
            except OSError as err:
                self.error = err

    def close(self) -> None:
        """Close the file."""
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError as err:
                self.error = self.error or err
            self._fh = None

    def discard(self) -> None:
        """Remove the hidden file."""
        self.close()
        self.path.unlink(missing_ok=True)


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
        Network/DIMSE timeout in seconds for each association: an association idle
        for that long is ended.
    allow
        Calling AE titles accepted (None: any); others are rejected.
    max_associations
        Associations served at once; more are rejected (transient, local limit exceeded).
    request_timeout
        Seconds within which a whole association request (and TLS handshake) must
        arrive.
    max_image_bytes
        Larger images are refused with a failure status (None: no limit).
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
        allow: Collection[str] | None = None,
        max_associations: int = 16,
        request_timeout: float = 10.0,
        max_image_bytes: int | None = 4 << 30,
    ) -> None:
        self.folder = Path(folder)
        self.port = port
        self.aet = aet
        self.host = host
        self.ssl_context = ssl_context
        self.on_stored = on_stored
        self.timeout = timeout
        self.allow = None if allow is None else frozenset(a.strip() for a in allow)
        self.max_associations = max_associations
        self.request_timeout = request_timeout
        self.max_image_bytes = max_image_bytes
        self.received: list[Path] = []
        self.failed: list[str] = []
        self._cond = threading.Condition()
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._open: set[Association] = set()
        self._supported: list[Any] = []
        self._filing = threading.Lock()

    # --- one association -------------------------------------------------------------

    def _handle_store(self, incoming: Incoming) -> int:
        """File a received image; the C-STORE status."""
        from pydicom import dcmread

        try:
            if incoming.error is not None:
                raise incoming.error
            keys = ["PatientID", "StudyInstanceUID", "SeriesInstanceUID"]
            ds = dcmread(incoming.path, stop_before_pixels=True, specific_tags=keys)
            target = instance_path(self.folder, ds, incoming.sop_instance)
            target.parent.mkdir(parents=True, exist_ok=True)
            with self._filing:
                path, new = _free_name(target, incoming.path)
                os.replace(incoming.path, path)
        except Exception as err:  # answer the sender with a failure status, never crash
            logger.error("could not file image %s: %s", incoming.sop_instance, err)
            incoming.discard()
            with self._cond:
                self.failed.append(incoming.sop_instance)
                self._cond.notify_all()
            return OUT_OF_RESOURCES
        if not new:
            return SUCCESS
        with self._cond:
            self.received.append(path)
            self._cond.notify_all()
        if self.on_stored is not None:
            self.on_stored(path)
        return SUCCESS

    def _serve(self, conn: socket.socket, address: tuple[str, int]) -> None:
        """Receive on one association until the peer releases or aborts it."""
        peer = f"{address[0]}:{address[1]}"
        try:
            self._serve_one(conn, peer)
        except Exception as err:  # a thread must never end with a traceback
            logger.error("%s: association ended by an unexpected error: %r", peer, err)
            with contextlib.suppress(OSError):
                conn.close()

    def _serve_one(self, conn: socket.socket, peer: str) -> None:
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(min(self.timeout, self.request_timeout))
            if self.ssl_context is not None:
                conn = self._tls(conn)
            assoc = accept(
                conn,
                peer=peer,
                timeout=self.timeout,
                supported=self._supported,
                allow=self.allow,
                deadline=self.request_timeout,
            )
        except (OSError, NetworkError) as err:
            logger.info("%s: association not made: %s", peer, err)
            conn.close()
            return
        if assoc is None:
            return
        with self._cond:
            self._open.add(assoc)
        incoming: list[Incoming] = []
        try:
            self._receive_all(assoc, incoming)
        finally:
            assoc.close()
            for item in incoming:
                item.discard()
            with self._cond:
                self._open.discard(assoc)

    def _tls(self, conn: socket.socket) -> socket.socket:
        """The TLS handshake, cut off after `request_timeout` seconds however it trickles."""
        assert self.ssl_context is not None
        watchdog = threading.Timer(self.request_timeout, _cut, args=(conn,))
        watchdog.start()
        try:
            return self.ssl_context.wrap_socket(conn, server_side=True)
        finally:
            watchdog.cancel()

    def _receive_all(self, assoc: Association, incoming: list[Incoming]) -> None:
        """Serve C-STORE and C-ECHO until the association ends; `incoming`: images in flight."""

        def sink(context: Context, command: dict[str, Any]) -> Incoming:
            incoming.append(Incoming(self.folder, context, command, self.max_image_bytes))
            return incoming[-1]

        while True:
            try:
                msg = assoc.receive(sink)  # type: ignore[arg-type]
            except PeerReleased:
                return
            except NetworkError as err:
                if not self._stop.is_set():
                    logger.warning("%s", err)
                return
            field = msg.command.get("CommandField")
            if field == C_STORE_RQ and incoming:
                item = incoming.pop()
                item.close()
                status = self._handle_store(item)
                if status != SUCCESS:
                    item.discard()
                assoc.respond(msg, status)
            elif field == C_ECHO_RQ and not incoming:
                assoc.respond(msg, SUCCESS)
            else:
                logger.warning("%s sent command 0x%04X, which a storage SCP does not serve; "
                               "aborting", assoc.peer, field or 0)  # fmt: skip
                assoc.abort()
                return

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> Listener:
        """Start listening in background threads; return self.

        Raises
        ------
        NetworkError
            If the port cannot be bound (in use, or no permission).
        """
        self._supported = storage_contexts()
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            server = socket.create_server((self.host, self.port), backlog=16)
        except OSError as err:
            raise NetworkError(
                f"cannot listen on {self.host or '*'}:{self.port} as {self.aet}: {err}; "
                "choose another --port (ports below 1024 need root)"
            ) from err
        server.settimeout(0.2)
        self._server = server
        self._stop.clear()
        self._thread = threading.Thread(target=self._accept_loop, name="imagedata-listener")
        self._thread.daemon = True
        self._thread.start()
        logger.info(
            "listening on %s:%d as %s, filing into %s", self.host, self.port, self.aet, self.folder
        )
        return self

    def _accept_loop(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                conn, address = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                raise
            worker = threading.Thread(
                target=self._serve, args=(conn, address), name="imagedata-listener-assoc"
            )
            worker.daemon = True
            with self._cond:
                self._workers = [w for w in self._workers if w.is_alive()]
                busy = len(self._workers) >= self.max_associations
                if not busy:
                    self._workers.append(worker)
            if busy:
                logger.warning("%s:%d: already %d associations open; rejected", *address[:2],
                               self.max_associations)  # fmt: skip
                conn.settimeout(1.0)
                reject(conn, 2, 3, 2)  # transient, local limit exceeded
                continue
            worker.start()

    def stop(self) -> None:
        """Stop listening: abort open associations and wait for the threads to end."""
        if self._server is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._server.close()
        self._server = None
        with self._cond:
            workers, open_assocs = list(self._workers), list(self._open)
        for assoc in open_assocs:
            with contextlib.suppress(OSError):
                assoc.sock.shutdown(socket.SHUT_RDWR)
        for worker in workers:
            worker.join(self.timeout)

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


def _cut(conn: socket.socket) -> None:
    """End both directions of `conn` (wakes a thread blocked on it)."""
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


def _free_name(target: Path, received: Path) -> tuple[Path, bool]:
    """Where to file `received`: `target`, or the first free ``stem-N.dcm`` beside it.

    Returns the path and whether it is a new image (False: a byte-identical copy of the
    image already at that path, which it replaces).
    """
    candidate, k = target, 1
    while candidate.exists():
        if filecmp.cmp(candidate, received, shallow=False):
            return candidate, False
        k += 1
        candidate = target.with_name(f"{target.stem}-{k}{target.suffix}")
    if k > 1:
        logger.warning(
            "%s: a different image with the same file name is there already; filed as %s",
            target,
            candidate.name,
        )
    return candidate, True
