"""Fuzzing the association code with hypothesis: any bytes give a message or a NetworkError.

Both sides a storage SCP exposes are tried over a socket pair, without a listener:
the association request (:func:`accept`, with mutated A-ASSOCIATE-RQ PDUs) and the
data phase (:meth:`Association.receive`, with P-DATA-TF PDUs whose lengths, context
ids and flags are arbitrary).  Bounded: small inputs, a fixed number of examples.
"""

from __future__ import annotations

import functools
import io
import socket
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagedata.errors import ImageDataError
from imagedata.transports import parse_url
from imagedata.transports._accept import accept
from imagedata.transports._association import (
    C_STORE_RQ,
    Association,
    Context,
    _request_pdu,
    encode_command,
)

pytest.importorskip("pynetdicom")

MR = "1.2.840.10008.5.1.4.1.1.4"
EXPLICIT = "1.2.840.10008.1.2.1"
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _pair() -> tuple[socket.socket, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.settimeout(2)
    theirs.settimeout(2)
    return ours, theirs


_COMMAND = encode_command(
    CommandField=C_STORE_RQ,
    MessageID=1,
    AffectedSOPClassUID=MR,
    AffectedSOPInstanceUID="1.2.3",
    Priority=0,
    CommandDataSetType=1,
)

_pdv = st.tuples(
    st.one_of(st.none(), st.integers(0, 3000)),  # item length: the true one, or a lie
    st.sampled_from([1, 1, 1, 3, 255]),  # presentation context id
    st.integers(0, 3),  # flags: command/dataset, last/not last
    st.one_of(st.just(_COMMAND), st.binary(max_size=600)),
)
_pdu = st.one_of(
    st.tuples(st.just(4), st.lists(_pdv, max_size=4)),
    st.tuples(st.sampled_from([1, 2, 5, 6, 7, 9]), st.binary(max_size=40)),
)


def _encode(pdu: tuple[int, Any]) -> bytes:
    kind, body = pdu
    if kind != 4:
        return struct.pack(">BBL", kind, 0, len(body)) + body
    raw = b""
    for length, cx, flags, payload in body:
        true = len(payload) + 2
        raw += struct.pack(">LBB", true if length is None else length, cx, flags) + payload
    return struct.pack(">BBL", 4, 0, len(raw)) + raw


@FUZZ
@given(st.lists(_pdu, min_size=1, max_size=6))
def test_receive_any_pdus(pdus: list[tuple[int, Any]]) -> None:
    ours, theirs = _pair()
    assoc = Association(ours, "FUZZ@peer", 2.0, {1: Context(1, MR, EXPLICIT)}, 0)
    opened: list[io.BytesIO] = []

    def sink(context: Context, command: dict[str, Any]) -> io.BytesIO:
        opened.append(io.BytesIO())
        return opened[-1]

    theirs.sendall(b"".join(_encode(p) for p in pdus))
    theirs.shutdown(socket.SHUT_WR)  # then the end of the stream
    try:
        for _ in range(20):  # each call consumes at least one PDV or ends
            msg = assoc.receive(sink)  # type: ignore[arg-type]
            assert msg.context.id == 1
    except ImageDataError:
        pass  # NetworkError (and its subclasses): the only way out
    finally:
        assoc.close()
        theirs.close()


_REQUEST = _request_pdu(parse_url("dicom://127.0.0.1:104/FUZZ"), [(MR, [EXPLICIT])], ())[0]


@st.composite
def _mutated_request(draw: st.DrawFn) -> bytes:
    raw = bytearray(_REQUEST)
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(raw) - 1))
        raw[pos] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(raw)))
    return bytes(raw[:cut]) + draw(st.binary(max_size=30))


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # pydicom, on mutated UIDs
@FUZZ
@given(_mutated_request())
def test_accept_any_request(request: bytes) -> None:
    ours, theirs = _pair()
    theirs.sendall(request)
    theirs.shutdown(socket.SHUT_WR)
    try:
        assoc = accept(ours, peer="fuzz", timeout=1.0, supported=_supported(), deadline=1.0)
        if assoc is not None:
            assoc.close()
    finally:
        ours.close()
        theirs.close()


@functools.cache
def _supported() -> list[Any]:
    from imagedata.transports.listener import storage_contexts

    return storage_contexts()
