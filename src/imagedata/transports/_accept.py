"""The acceptor side of an association: answering an A-ASSOCIATE-RQ (storage SCP).

The request must arrive whole within a deadline, from an allowed calling AE title, and
decode; anything else is rejected or aborted and logged, never raised into the
listener's thread.  The data phase is :class:`~imagedata.transports._association.Association`'s.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Collection, Sequence
from typing import Any

from imagedata._optional import import_optional
from imagedata.transports._association import (
    _PDU_HEADER,
    APPLICATION_CONTEXT,
    MAX_PDU,
    MAX_REQUEST,
    Association,
    Context,
    _our_user_items,
)
from imagedata.transports._base import NetworkError

logger = logging.getLogger(__name__)

#: Largest PDU a storage SCP accepts from a sender: we announce MAX_PDU, some senders
#: exceed it a little; the receive buffer of each association grows at most this much.
ACCEPTOR_LARGEST_PDU = 4 * MAX_PDU


def reject(sock: socket.socket, result: int, source: int, reason: int) -> None:
    """Send an A-ASSOCIATE-RJ (PS3.8 9.3.4) and close `sock`; errors are ignored.

    `result` 1 is permanent, 2 transient; (`source`, `reason`) (1, 3) is "calling AE
    title not recognised", (1, 7) "called AE title not recognised" and (3, 2) "local
    limit exceeded".
    """
    with contextlib.suppress(OSError):
        sock.sendall(_PDU_HEADER.pack(3, 0, 4) + bytes([0, result, source, reason]))
    with contextlib.suppress(OSError):
        sock.close()


def accept(
    sock: socket.socket,
    *,
    peer: str,
    timeout: float,
    supported: Sequence[Any],
    allow: Collection[str] | None = None,
    deadline: float | None = None,
) -> Association | None:
    """Answer the A-ASSOCIATE-RQ that arrives on `sock` as the association acceptor.

    Presentation contexts are negotiated by pynetdicom's rules against `supported`
    (pynetdicom PresentationContext objects); any called AE title is accepted.

    Parameters
    ----------
    allow
        Calling AE titles accepted (None: any); others are rejected (A-ASSOCIATE-RJ).
    deadline
        Seconds within which the whole request must arrive (default: `timeout`), so
        that a peer dribbling bytes cannot hold the association open.

    Returns
    -------
    Association or None
        None when the peer sent no well-formed association request in time, is not
        allowed, or proposed nothing supported (the association is then rejected or
        aborted, and the socket closed).
    """
    pdu_mod = import_optional("pynetdicom.pdu", "net", "receive DICOM images")
    assoc = Association(sock, peer, timeout, {}, 0)
    assoc.largest_pdu = ACCEPTOR_LARGEST_PDU
    assoc.deadline = time.monotonic() + (timeout if deadline is None else deadline)
    try:
        pdu_type, raw = assoc.read_pdu(MAX_REQUEST)
        if pdu_type != 0x01:
            assoc._violation(f"sent PDU type 0x{pdu_type:02X} instead of an association request")
    except NetworkError as err:
        logger.info("%s: no association request (%s)", peer, err)
        assoc.abort()
        return None
    assoc.deadline = None
    sock.settimeout(timeout)
    try:
        rq_pdu = pdu_mod.A_ASSOCIATE_RQ()
        rq_pdu.decode(raw)
        rq = rq_pdu.to_primitive()
        calling = str(rq.calling_ae_title).strip()
    except Exception as err:  # pynetdicom's decoder raises anything on garbage
        logger.info("%s: a malformed association request (%s: %s); aborted", peer,
                    type(err).__name__, err)  # fmt: skip
        assoc.abort()
        return None
    assoc.peer = f"{calling}@{peer}"
    if allow is not None and calling not in allow:
        logger.warning("%s: calling AE title %r is not allowed (--allow); rejected", peer, calling)
        reject(sock, 1, 1, 3)
        assoc.is_open = False
        return None
    return _negotiate(assoc, rq, supported)


def _negotiate(assoc: Association, rq: Any, supported: Sequence[Any]) -> Association | None:
    """Answer the decoded request `rq` with an A-ASSOCIATE-AC (or abort); the association."""
    pdu_mod = import_optional("pynetdicom.pdu", "net", "receive DICOM images")
    prim_mod = import_optional("pynetdicom.pdu_primitives", "net", "receive DICOM images")
    presentation = import_optional("pynetdicom.presentation", "net", "receive DICOM images")
    try:
        items = list(rq.user_information or [])
        rq_roles = {
            str(i.sop_class_uid): (i.scu_role, i.scp_role)
            for i in items
            if isinstance(i, prim_mod.SCP_SCU_RoleSelectionNegotiation)
        }
        results, ac_roles = presentation.negotiate_as_acceptor(
            rq.presentation_context_definition_list, list(supported), rq_roles
        )
        accepted = {
            cx.context_id: Context(
                cx.context_id, str(cx.abstract_syntax), str(cx.transfer_syntax[0])
            )
            for cx in results
            if cx.result == 0
        }
        ac = prim_mod.A_ASSOCIATE()
        ac.application_context_name = APPLICATION_CONTEXT
        ac.calling_ae_title = rq.calling_ae_title
        ac.called_ae_title = rq.called_ae_title
        ac.result = 0x00
        ac.result_source = 0x01
        ac.presentation_context_definition_results_list = results
        ac.user_information = [*_our_user_items(prim_mod), *ac_roles]
        ac_pdu = pdu_mod.A_ASSOCIATE_AC()
        ac_pdu.from_primitive(ac)
        encoded = ac_pdu.encode()
        limits = [i for i in items if isinstance(i, prim_mod.MaximumLengthNotification)]
        peer_max = int(limits[0].maximum_length_received or 0) if limits else 0
    except Exception as err:  # a request that decodes but cannot be negotiated
        logger.info("%s: an unusable association request (%s: %s); aborted", assoc.peer,
                    type(err).__name__, err)  # fmt: skip
        assoc.abort()
        return None
    assoc._send_raw(encoded)
    if not accepted:
        logger.info("%s: none of the proposed presentation contexts is supported", assoc.peer)
        assoc.abort()
        return None
    assoc.established(accepted, peer_max)
    return assoc
