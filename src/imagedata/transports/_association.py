"""DICOM associations on one socket, without reactor threads: both ends of the upper layer.

Requestor: :func:`associate` connects to the PACS of a URL (TCP_NODELAY, the URL's
``connect_timeout`` and ``timeout``, TLS for ``dicoms://``), sends the A-ASSOCIATE-RQ
and returns an :class:`Association` with the accepted presentation contexts; refusals
and silences become :class:`~imagedata.transports.NetworkError` subclasses naming the
peer and both AE titles.  Acceptor: :func:`imagedata.transports._accept.accept` answers
an association request that arrives on a socket (the storage SCP of
:mod:`imagedata.transports.listener`).

pynetdicom is used only to encode and decode the association PDUs (A-ASSOCIATE-RQ/AC/RJ,
A-ABORT) and to negotiate presentation contexts as acceptor.  The data phase is done
here: :meth:`Association.send` and :meth:`Association.receive` carry DIMSE messages
(command sets made and parsed with :mod:`struct`, see :func:`encode_command` and
:func:`decode_command`) in P-DATA PDUs read into one reusable buffer, so dataset
fragments go straight into the caller's file without decoding; :meth:`Association.respond`
answers a request.  pynetdicom's own association handling runs two threads that pass
every PDU through queues and decode every command set into a Dataset, several
milliseconds of CPU per image of a C-GET.  The DIMSE services built on this (C-ECHO,
C-FIND, C-GET, C-MOVE, C-STORE) are in :mod:`imagedata.transports.dimse`.

A peer is not trusted: a PDU or PDV whose lengths do not add up, dataset fragments
before their command set, a command set or an in-memory dataset above its cap, or an
association request that does not arrive whole within its deadline end the
association with an A-ABORT and a :class:`~imagedata.transports.NetworkError`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NoReturn

from imagedata._optional import import_optional
from imagedata.transports._base import (
    IMPLEMENTATION_UID,
    AssociationRejectedError,
    NetworkError,
)
from imagedata.transports._url import PacsURL

logger = logging.getLogger(__name__)

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
IMPLEMENTATION_VERSION = "IMAGEDATA4"
#: Our maximum receive PDU size (bytes); larger PDUs mean fewer round trips.
MAX_PDU = 262144
#: Larger PDUs are refused outright (a peer should keep to MAX_PDU; some exceed it a little).
LARGEST_PDU = 64 * MAX_PDU
#: Bytes of PDUs gathered into one socket write.
SEND_BATCH = 1 << 20
#: PDV payload size used when the peer sets no PDU size limit.
UNLIMITED_CHUNK = 1 << 20
#: Largest command set accepted (a real one is a few hundred bytes).
MAX_COMMAND = 1 << 16
#: Largest A-ASSOCIATE-RQ accepted (128 contexts with many transfer syntaxes fit).
MAX_REQUEST = 1 << 20
#: Default cap on the bytes of one dataset collected in memory (no sink given).
MAX_BUFFERED = 256 << 20

_PDU_HEADER = struct.Struct(">BBL")
_PDV_HEADER = struct.Struct(">LBB")
_ELEMENT = struct.Struct("<HHL")

#: Command fields (PS3.7 E.1).
C_STORE_RQ, C_STORE_RSP = 0x0001, 0x8001
C_GET_RQ, C_GET_RSP = 0x0010, 0x8010
C_FIND_RQ, C_FIND_RSP = 0x0020, 0x8020
C_MOVE_RQ, C_MOVE_RSP = 0x0021, 0x8021
C_ECHO_RQ, C_ECHO_RSP = 0x0030, 0x8030
NO_DATASET = 0x0101

#: Command elements (group 0000) by keyword.
TAGS = {
    "AffectedSOPClassUID": 0x0002,
    "CommandField": 0x0100,
    "MessageID": 0x0110,
    "MessageIDBeingRespondedTo": 0x0120,
    "MoveDestination": 0x0600,
    "Priority": 0x0700,
    "CommandDataSetType": 0x0800,
    "Status": 0x0900,
    "ErrorComment": 0x0902,
    "AffectedSOPInstanceUID": 0x1000,
    "NumberOfRemainingSuboperations": 0x1020,
    "NumberOfCompletedSuboperations": 0x1021,
    "NumberOfFailedSuboperations": 0x1022,
    "NumberOfWarningSuboperations": 0x1023,
}
_US = {"CommandField", "MessageID", "MessageIDBeingRespondedTo", "Priority"}
_US |= {"CommandDataSetType", "Status"} | {k for k in TAGS if k.startswith("NumberOf")}


class PeerReleased(NetworkError):
    """The peer released the association (normal at the end of a storage association)."""


# --- command sets ---------------------------------------------------------------------


def encode_command(**fields: int | str) -> bytes:
    """A command set (implicit VR little endian) from keyword=value pairs.

    Examples
    --------
    >>> raw = encode_command(CommandField=C_ECHO_RQ, MessageID=1,
    ...                      AffectedSOPClassUID="1.2.840.10008.1.1", CommandDataSetType=NO_DATASET)
    >>> decode_command(raw)["CommandField"] == C_ECHO_RQ
    True
    """
    parts = []
    for keyword, value in sorted(fields.items(), key=lambda kv: TAGS[kv[0]]):
        if keyword in _US:
            raw = struct.pack("<H", int(value))
        else:
            raw = str(value).encode("ascii")
            if len(raw) % 2:
                raw += b"\x00" if keyword.endswith("UID") else b" "
        parts.append(_ELEMENT.pack(0, TAGS[keyword], len(raw)) + raw)
    body = b"".join(parts)
    return _ELEMENT.pack(0, 0, 4) + struct.pack("<L", len(body)) + body


_KEYWORDS = {tag: keyword for keyword, tag in TAGS.items()}


def decode_command(raw: bytes | bytearray) -> dict[str, Any]:
    """The known elements of a command set: US values as int, text stripped."""
    out: dict[str, Any] = {}
    pos, end = 0, len(raw)
    while pos + 8 <= end:
        group, elem, length = _ELEMENT.unpack_from(raw, pos)
        value = bytes(raw[pos + 8 : pos + 8 + length])
        pos += 8 + length
        keyword = _KEYWORDS.get(elem) if group == 0 else None
        if keyword is None:
            continue
        if keyword in _US:
            out[keyword] = struct.unpack("<H", value[:2])[0] if len(value) >= 2 else 0
        else:
            out[keyword] = value.decode("ascii", "replace").rstrip("\x00 ")
    return out


def has_dataset(command: dict[str, Any]) -> bool:
    """True when a dataset follows the command."""
    return bool(command.get("CommandDataSetType", NO_DATASET) != NO_DATASET)


# --- the association ----------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """An accepted presentation context."""

    id: int
    abstract_syntax: str
    transfer_syntax: str


#: Called when a dataset is about to arrive: (context, command) -> a file to write it
#: to, or None to collect it in memory.
SinkFactory = Callable[[Context, "dict[str, Any]"], "BinaryIO | None"]


@dataclass
class Message:
    """A received DIMSE message; `dataset` is None when it went to a sink or there is none."""

    context: Context
    command: dict[str, Any]
    dataset: bytes | None = None


class Association:
    """An established association (make one with :func:`associate`).

    Parameters
    ----------
    sock
        The connected socket (TLS-wrapped for dicoms://).
    peer
        Who is at the other end, for messages (``AET@host:port``).
    timeout
        The socket timeout in seconds (for messages; the socket has it already).
    contexts
        Accepted presentation contexts by id.
    peer_max_pdu
        The largest PDU the peer accepts (0: no limit).
    """

    def __init__(
        self,
        sock: socket.socket,
        peer: str,
        timeout: float,
        contexts: dict[int, Context],
        peer_max_pdu: int,
    ) -> None:
        self.sock = sock
        self.peer = peer
        self.timeout = timeout
        self.established(contexts, peer_max_pdu)
        self._buffer = bytearray(MAX_PDU + 6)
        self._pending: tuple[memoryview, int] | None = None
        self._message_id = 0
        self.is_open = True
        #: time.monotonic() by which every read must be done (None: only `timeout` per read).
        self.deadline: float | None = None
        #: Cap on the bytes of a dataset collected in memory by :meth:`receive`.
        self.max_buffered = MAX_BUFFERED
        #: Larger PDUs abort the association (the receive buffer grows up to this).
        self.largest_pdu = LARGEST_PDU

    def established(self, contexts: dict[int, Context], peer_max_pdu: int) -> None:
        """Record the negotiated contexts and the peer's largest PDU (0: no limit)."""
        self.contexts = contexts
        self._chunk = peer_max_pdu - 6 if peer_max_pdu > 6 else UNLIMITED_CHUNK

    # - sending -

    def next_message_id(self) -> int:
        """A new message id (1 ... 65535)."""
        self._message_id = self._message_id % 65535 + 1
        return self._message_id

    def context(self, abstract_syntax: str, transfer_syntax: str | None = None) -> Context:
        """The accepted context for `abstract_syntax` (with `transfer_syntax`, if given)."""
        for cx in self.contexts.values():
            if cx.abstract_syntax == abstract_syntax and transfer_syntax in (
                None,
                cx.transfer_syntax,
            ):
                return cx
        raise NetworkError(
            f"{self.peer} did not accept {abstract_syntax}"
            + (f" in transfer syntax {transfer_syntax}" if transfer_syntax else "")
            + "; check what the PACS supports"
        )

    def send(self, context: Context, command: bytes, dataset: bytes | memoryview | None) -> None:
        """Send a DIMSE message: the command set, then the dataset in PDU-sized fragments.

        PDUs are gathered into writes of about :data:`SEND_BATCH` bytes: one system call
        (and one wake-up of the peer) per batch rather than per PDU.
        """
        batch = bytearray(_pdu_header(context.id, 0x03, len(command)))
        batch += command
        if dataset is not None:
            view = memoryview(dataset)
            total = len(view)
            for start in range(0, max(total, 1), self._chunk):
                chunk = view[start : start + self._chunk]
                last = start + self._chunk >= total
                batch += _pdu_header(context.id, 0x02 if last else 0x00, len(chunk))
                batch += chunk
                if len(batch) >= SEND_BATCH:
                    self._send_pdus(batch)
                    batch = bytearray()
        if batch:
            self._send_pdus(batch)

    def respond(self, request: Message, status: int) -> None:
        """Answer `request` (a C-STORE or C-ECHO request) with `status`, without a dataset."""
        cmd = request.command
        fields: dict[str, int | str] = {
            "CommandField": int(cmd.get("CommandField", 0)) | 0x8000,  # PS3.7 E.1
            "MessageIDBeingRespondedTo": int(cmd.get("MessageID", 0)),
            "AffectedSOPClassUID": str(cmd.get("AffectedSOPClassUID", "")),
            "CommandDataSetType": NO_DATASET,
            "Status": status,
        }
        if "AffectedSOPInstanceUID" in cmd:
            fields["AffectedSOPInstanceUID"] = str(cmd["AffectedSOPInstanceUID"])
        self.send(request.context, encode_command(**fields), None)

    def _send_pdus(self, data: bytes | bytearray) -> None:
        try:
            self.sock.sendall(data)
        except OSError as err:
            self.is_open = False
            raise self._broken("sending", err) from err

    # - receiving -

    def receive(self, sink: SinkFactory | None = None) -> Message:
        """The next complete DIMSE message.

        When a dataset follows a command, ``sink(context, command)`` may return a
        binary file: the fragments are written to it as they arrive.  Without one the
        dataset is collected in memory, up to :attr:`max_buffered` bytes.

        Raises
        ------
        NetworkError
            The peer broke the protocol (the association is then aborted), went
            silent for `timeout` seconds, or the connection broke.
        """
        state = _Receiving()
        while True:
            body, pos = self._pending or self._read_pdata()
            self._pending = None
            end = len(body)
            while pos < end:
                length, cx_id, flags = self._pdv_header(body, pos, end)
                payload = body[pos + 6 : pos + 4 + length]
                pos += 4 + length
                done = self._take(state, cx_id, flags, payload, sink)
                if done is not None:
                    self._pending = (body, pos) if pos < end else None
                    return done

    def _take(
        self,
        state: _Receiving,
        cx_id: int,
        flags: int,
        payload: memoryview,
        sink: SinkFactory | None,
    ) -> Message | None:
        """Add one PDV to the message being received; the message once it is complete."""
        if state.context is None:
            state.context = self._context_by_id(cx_id)
        elif cx_id != state.context.id:
            self._violation(f"switched from presentation context {state.context.id} to {cx_id}")
        if flags & 0x01:  # a command fragment
            if state.command is not None:
                self._violation("sent a second command set before the dataset of the first")
            state.raw += payload
            if len(state.raw) > MAX_COMMAND:
                self._violation(f"sent a command set of more than {MAX_COMMAND} bytes")
            if not flags & 0x02:
                return None
            state.command = decode_command(state.raw)
            if not has_dataset(state.command):
                return Message(state.context, state.command)
            state.out = sink(state.context, state.command) if sink is not None else None
            return None
        if state.command is None:
            self._violation("sent dataset fragments before their command set")
        if state.out is not None:
            state.out.write(payload)
        else:
            state.data += payload
            if len(state.data) > self.max_buffered:
                self._violation(f"sent a dataset of more than {self.max_buffered} bytes")
        if not flags & 0x02:
            return None
        dataset = None if state.out is not None else bytes(state.data)
        return Message(state.context, state.command or {}, dataset)

    def _pdv_header(self, body: memoryview, pos: int, end: int) -> tuple[int, int, int]:
        """(item length, context id, flags) of the PDV at `pos`, checked against the PDU."""
        if end - pos < 6:
            self._violation(f"sent a PDV of {end - pos} bytes (a PDV header alone is 6)")
        length, cx_id, flags = _PDV_HEADER.unpack_from(body, pos)
        if length < 2 or pos + 4 + length > end:
            self._violation(
                f"sent a PDV item length of {length} where {end - pos - 4} bytes remain in the PDU"
            )
        return length, cx_id, flags

    def _violation(self, what: str) -> NoReturn:
        """Abort the association for a protocol violation of the peer."""
        self.abort()
        raise NetworkError(f"{self.peer} {what}; not a DICOM peer, or a broken one: aborted")

    def _context_by_id(self, cx_id: int) -> Context:
        try:
            return self.contexts[cx_id]
        except KeyError:
            self.abort()
            raise NetworkError(
                f"{self.peer} sent data on presentation context {cx_id}, which was not "
                "accepted; the association was aborted"
            ) from None

    def _read_pdata(self) -> tuple[memoryview, int]:
        """Read PDUs until a P-DATA-TF arrives; return its body (a view of the buffer)."""
        while True:
            pdu_type, length = self._read_header()
            body = self._read_body(length)
            if pdu_type == 0x04:
                return body, 0
            self._unexpected(pdu_type, bytes(body), length)

    def read_pdu(self, largest: int | None = None) -> tuple[int, bytes]:
        """The next PDU, whole (header included), as pynetdicom's PDU classes decode it."""
        pdu_type, length = self._read_header(largest)
        return pdu_type, _PDU_HEADER.pack(pdu_type, 0, length) + bytes(self._read_body(length))

    def _read_header(self, largest: int | None = None) -> tuple[int, int]:
        header = self._recv_exact(6)
        pdu_type, _, length = _PDU_HEADER.unpack(header)
        largest = self.largest_pdu if largest is None else largest
        if length > largest:
            self._violation(f"sent a PDU of {length} bytes (we accept at most {largest})")
        return pdu_type, length

    def _read_body(self, length: int) -> memoryview:
        if length > len(self._buffer):
            self._buffer = bytearray(length)
        view = memoryview(self._buffer)[:length]
        got = 0
        try:
            while got < length:
                if self.deadline is not None:
                    self._until_deadline()
                n = self.sock.recv_into(view[got:], length - got)
                if not n:
                    raise ConnectionResetError("the connection was closed")
                got += n
        except OSError as err:
            self.is_open = False
            raise self._broken("receiving", err) from err
        return view

    def _until_deadline(self) -> None:
        """Shorten the socket timeout to what is left before :attr:`deadline`."""
        assert self.deadline is not None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        self.sock.settimeout(min(self.timeout, left))

    def _recv_exact(self, n: int) -> bytes:
        return bytes(self._read_body(n))

    def _unexpected(self, pdu_type: int, body: bytes, length: int) -> None:
        self.is_open = False
        if pdu_type == 0x07:
            raw = _PDU_HEADER.pack(7, 0, length) + body
            raise AssociationRejectedError(
                f"{self.peer} aborted the association: {_abort_reason(raw)}"
            )
        if pdu_type == 0x05:
            self._send_raw(_PDU_HEADER.pack(6, 0, 4) + b"\x00" * 4)
            self.close()
            raise PeerReleased(
                f"{self.peer} released the association in the middle of an operation"
            )
        self.abort()
        raise NetworkError(f"{self.peer} sent an unexpected PDU (type 0x{pdu_type:02X}); aborted")

    def _broken(self, doing: str, err: OSError) -> NetworkError:
        if isinstance(err, TimeoutError) and self.deadline is not None:
            return NetworkError(f"{self.peer}: not done within the deadline while {doing}")
        if isinstance(err, TimeoutError):
            return NetworkError(
                f"{self.peer}: no answer within {self.timeout:g} s while {doing}; "
                "try a larger timeout="
            )
        return NetworkError(f"{self.peer}: the connection broke while {doing} ({err})")

    # - ending -

    def _send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            self.is_open = False

    def release(self) -> None:
        """Release the association (A-RELEASE-RQ, wait for the reply) and close the socket."""
        if not self.is_open:
            return
        self._send_raw(_PDU_HEADER.pack(5, 0, 4) + b"\x00" * 4)
        try:
            while self.is_open:
                pdu_type, length = self._read_header()
                self._read_body(length)
                if pdu_type in (0x06, 0x07):
                    break
        except NetworkError:
            pass
        self.close()

    def abort(self) -> None:
        """Abort the association (A-ABORT) and close the socket."""
        if self.is_open:
            self._send_raw(_PDU_HEADER.pack(7, 0, 4) + b"\x00\x00\x00\x00")
        self.close()

    def close(self) -> None:
        """Close the socket."""
        self.is_open = False
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> Association:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.release()
        else:
            self.abort()


@dataclass
class _Receiving:
    """A DIMSE message being received: its context, command set and dataset so far."""

    context: Context | None = None
    raw: bytearray = field(default_factory=bytearray)
    command: dict[str, Any] | None = None
    out: BinaryIO | None = None
    data: bytearray = field(default_factory=bytearray)


def _pdu_header(context_id: int, flags: int, n: int) -> bytes:
    """Header of a P-DATA-TF PDU holding one PDV of `n` bytes (PS3.8 9.3.5)."""
    return _PDU_HEADER.pack(4, 0, n + 6) + _PDV_HEADER.pack(n + 2, context_id, flags)


def _abort_reason(raw: bytes) -> str:
    pdu = import_optional("pynetdicom.pdu", "net", "talk to a PACS")
    abort = pdu.A_ABORT_RQ()
    try:
        abort.decode(raw)
        source = {0: "the PACS user", 2: "the PACS's network layer"}.get(abort.source, "unknown")
        return f"source {source}, reason {abort.reason_diagnostic}"
    except Exception:  # a malformed A-ABORT still means the association is gone
        return "malformed A-ABORT"


# --- opening ------------------------------------------------------------------------------


def _our_user_items(prim_mod: Any) -> list[Any]:
    """Maximum PDU length, implementation class UID and version name (PS3.7 D.3.3)."""
    max_length = prim_mod.MaximumLengthNotification()
    max_length.maximum_length_received = MAX_PDU
    impl = prim_mod.ImplementationClassUIDNotification()
    impl.implementation_class_uid = IMPLEMENTATION_UID
    version = prim_mod.ImplementationVersionNameNotification()
    version.implementation_version_name = IMPLEMENTATION_VERSION
    return [max_length, impl, version]


def _request_pdu(
    url: PacsURL,
    contexts: Sequence[tuple[str, Sequence[str]]],
    scp_roles: Iterable[str],
) -> tuple[bytes, dict[int, str]]:
    """The encoded A-ASSOCIATE-RQ and the abstract syntaxes requested, by context id."""
    import_optional("pynetdicom", "net", "talk to a PACS")
    prim_mod = import_optional("pynetdicom.pdu_primitives", "net", "talk to a PACS")
    pdu_mod = import_optional("pynetdicom.pdu", "net", "talk to a PACS")
    presentation = import_optional("pynetdicom.presentation", "net", "talk to a PACS")
    if len(contexts) > 128:
        raise ValueError(f"at most 128 presentation contexts, not {len(contexts)}")
    requested = []
    for k, (abstract, syntaxes) in enumerate(contexts):
        cx = presentation.build_context(abstract, list(syntaxes))
        cx.context_id = 2 * k + 1
        requested.append(cx)
    rq = prim_mod.A_ASSOCIATE()
    rq.application_context_name = APPLICATION_CONTEXT
    rq.calling_ae_title = url.calling_aet
    rq.called_ae_title = url.called_aet
    rq.presentation_context_definition_list = requested
    items: list[Any] = _our_user_items(prim_mod)
    for uid in dict.fromkeys(scp_roles):
        role = prim_mod.SCP_SCU_RoleSelectionNegotiation()
        role.sop_class_uid = uid
        role.scu_role = False
        role.scp_role = True
        items.append(role)
    rq.user_information = items
    pdu = pdu_mod.A_ASSOCIATE_RQ()
    pdu.from_primitive(rq)
    by_id = {cx.context_id: str(cx.abstract_syntax) for cx in requested}
    return pdu.encode(), by_id


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


def _connect(url: PacsURL) -> socket.socket:

    try:
        sock = socket.create_connection((url.host, url.port), timeout=url.connect_timeout)
    except socket.gaierror as err:
        raise NetworkError(
            f"cannot connect to {url.where()}: unknown host name ({err.strerror}); check the host"
        ) from err
    except ConnectionRefusedError as err:
        raise NetworkError(
            f"cannot connect to {url.where()}: connection refused (nothing listens on that "
            "port); check host and port"
        ) from err
    except TimeoutError as err:
        raise NetworkError(
            f"cannot connect to {url.where()}: no answer within {url.connect_timeout:g} s "
            "(connect_timeout); check host and port"
        ) from err
    except OSError as err:
        raise NetworkError(f"cannot connect to {url.where()}: {err}; check host and port") from err
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(url.timeout)
    ctx = ssl_context(url)
    if ctx is None:
        return sock
    try:
        return ctx.wrap_socket(sock, server_hostname=url.host)
    except OSError as err:
        sock.close()
        raise NetworkError(
            f"cannot connect to {url.where()}: the TLS handshake failed ({err}); check "
            "cafile/certfile/keyfile/verify"
        ) from err


def associate(
    url: PacsURL,
    contexts: Sequence[tuple[str, Sequence[str]]],
    *,
    scp_roles: Iterable[str] = (),
) -> Association:
    """Open an association with the PACS of `url`.

    Parameters
    ----------
    contexts
        (abstract syntax, transfer syntaxes) to request (at most 128).
    scp_roles
        SOP classes for which we offer the SCP role (C-STORE sub-operations of C-GET).

    Raises
    ------
    NetworkError
        Cannot connect, or no answer within the timeout.
    AssociationRejectedError
        The PACS rejected or aborted the association; the message names both AE titles.
    """
    request, requested = _request_pdu(url, contexts, scp_roles)
    sock = _connect(url)
    assoc = Association(sock, url.where(), url.timeout, {}, 0)
    titles = f"called AE title {url.called_aet!r}, calling AE title {url.calling_aet!r}"
    try:
        sock.sendall(request)
        pdu_type, raw = assoc.read_pdu()
    except NetworkError as err:
        assoc.close()
        what = (
            f"did not answer the association request within {url.timeout:g} s"
            if isinstance(err.__cause__, TimeoutError)
            else f"broke off the association request ({err.__cause__})"
        )
        raise NetworkError(
            f"{url.where()} {what} ({titles}); check that it is a DICOM service, or try a "
            "larger timeout="
        ) from err
    except OSError as err:
        assoc.close()
        raise NetworkError(f"{url.where()}: association request failed ({err})") from err
    if pdu_type != 0x02:
        assoc.close()
        raise _refusal(url, pdu_type, raw, titles)
    contexts_by_id, peer_max = _accepted(raw, requested)
    if not contexts_by_id:
        assoc.abort()
        raise AssociationRejectedError(
            f"{url.where()} accepted none of the requested services ({titles}); check the "
            "PACS's configuration for our AE title"
        )
    assoc.established(contexts_by_id, peer_max)
    return assoc


def _accepted(raw: bytes, requested: dict[int, str]) -> tuple[dict[int, Context], int]:
    pdu_mod = import_optional("pynetdicom.pdu", "net", "talk to a PACS")
    ac = pdu_mod.A_ASSOCIATE_AC()
    ac.decode(raw)
    prim = ac.to_primitive()
    out = {}
    for cx in prim.presentation_context_definition_results_list:
        if cx.result == 0 and cx.context_id in requested and cx.transfer_syntax:
            out[cx.context_id] = Context(
                cx.context_id, requested[cx.context_id], str(cx.transfer_syntax[0])
            )
    return out, int(prim.maximum_length_received or 0)


def _refusal(url: PacsURL, pdu_type: int, raw: bytes, titles: str) -> NetworkError:
    pdu_mod = import_optional("pynetdicom.pdu", "net", "talk to a PACS")
    if pdu_type == 0x03:
        rj = pdu_mod.A_ASSOCIATE_RJ()
        rj.decode(raw)
        rsp = rj.to_primitive()
        return AssociationRejectedError(
            f"{url.host}:{url.port} rejected the association ({titles}): {rsp.result_str}, "
            f"{rsp.source_str}: {rsp.reason_str}; check the PACS's AE title and that it knows "
            f"our AE title {url.calling_aet!r} (calling_aet=)"
        )
    if pdu_type == 0x07:
        return AssociationRejectedError(
            f"{url.host}:{url.port} aborted the association ({titles}): {_abort_reason(raw)}; "
            f"check the PACS's configuration for our AE title {url.calling_aet!r}"
        )
    return NetworkError(
        f"{url.where()} answered the association request with PDU type 0x{pdu_type:02X} "
        f"({titles}); is it a DICOM service?"
    )
