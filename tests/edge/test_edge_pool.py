"""Pool hygiene and Upgrade requests, over real sockets.

The invariant under test: an origin connection goes back to the pool only when the request
went out whole and the response was read to its delimited end; the client connection carries
another request only when the previous request's body was read whole. A scripted origin
(``scripted.py``) records every request per origin connection, so a request consumed as the
rest of another one shows up as a wrong body, garbage, or a hang.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import ssl
import time
from collections.abc import Iterator

import pytest

from tests.edge.conftest import StartEdge
from tests.edge.edgekit import (
    EdgeProcess,
    KeepAliveClient,
    Origin,
    Pki,
    client_context,
    raw_request,
    tls_connection,
)
from tests.edge.scripted import ScriptedOrigin

UPGRADE = b"Connection: Upgrade\r\nUpgrade: websocket\r\n"


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedOrigin]:
    origin = ScriptedOrigin()
    yield origin
    origin.close()


@pytest.fixture(scope="module")
def edge(start_edge: StartEdge, scripted: ScriptedOrigin) -> EdgeProcess:
    return start_edge(upstream=scripted.url)


def responses(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """(status, head, body) of each Content-Length response in ``data``."""
    out = []
    while data:
        match = re.match(rb"HTTP/1\.1 (\d{3}) [^\r]*\r\n", data)
        assert match, data[:200]
        head, _, rest = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length: (\d+)", head)
        status = int(match.group(1))
        size = 0 if status < 200 else int(length.group(1)) if length else len(rest)
        out.append((status, head, rest[:size]))
        data = rest[size:]
    return out


def get(pki: Pki, edge: EdgeProcess, path: str = "/echo") -> tuple[int, bytes]:
    client = KeepAliveClient(edge.port, client_context(pki))
    try:
        response, body = client.request("GET", path)
    finally:
        client.close()
    return response.status_code, body


def conn_of(body: bytes) -> int:
    match = re.match(rb"conn=(\d+) ", body)
    assert match, body
    return int(match.group(1))


def assert_every_request_well_formed(scripted: ScriptedOrigin) -> None:
    with scripted.lock:
        garbage = [g for c in scripted.conns for g in c.garbage]
    assert garbage == [], garbage


# -- Upgrade requests are ordinary requests ---------------------------------------------------


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_upgrade_request_body_is_forwarded_and_the_connection_stays_usable(
    pki: Pki, passthrough: EdgeProcess, origin: Origin, framing: str
) -> None:
    body = b"x" * 70000
    if framing == "length":
        head = b"Content-Length: %d\r\n" % len(body)
        wire = body
    else:
        head = b"Transfer-Encoding: chunked\r\n"
        wire = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    request = b"POST /echo HTTP/1.1\r\nHost: localhost\r\n" + UPGRADE + head + b"\r\n" + wire
    follow = b"GET /echo?second HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    got = responses(raw_request(passthrough.port, client_context(pki), request + follow))
    assert [status for status, _, _ in got] == [200, 200]
    first, second = json.loads(got[0][2]), json.loads(got[1][2])
    assert first["body_len"] == len(body)
    assert first["body_sha256"] == hashlib.sha256(body).hexdigest()
    names = {k.lower() for k, _ in first["headers"]}
    assert "upgrade" not in names  # hop-by-hop: the origin never sees the upgrade request
    assert second["path"] == "/echo?second" and second["body_len"] == 0


def test_upgrade_without_a_body_is_answered_and_pipelining_goes_on(
    pki: Pki, passthrough: EdgeProcess
) -> None:
    request = b"GET /echo?ws HTTP/1.1\r\nHost: localhost\r\n" + UPGRADE + b"\r\n"
    follow = b"GET /echo?next HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    got = responses(raw_request(passthrough.port, client_context(pki), request + follow))
    assert [status for status, _, _ in got] == [200, 200]
    assert b"/echo?next" in got[1][2]


@pytest.mark.parametrize(
    ("framing", "status"),
    [
        (b"Transfer-Encoding: gzip\r\n", b"501"),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", b"400"),
        (b"Content-Length: 3\r\nContent-Length: 4\r\n", b"400"),
    ],
)
def test_upgrade_with_invalid_framing_is_refused(
    pki: Pki, passthrough: EdgeProcess, origin: Origin, framing: bytes, status: bytes
) -> None:
    # llhttp skips its framing checks on an upgrade request; the reader must not.
    request = b"POST /echo HTTP/1.1\r\nHost: localhost\r\n" + UPGRADE + framing + b"\r\nabcd"
    got = raw_request(passthrough.port, client_context(pki), request)
    assert got.startswith(b"HTTP/1.1 " + status + b" "), got[:100]
    assert origin.state.ports == []  # nothing reached the origin


# -- The pool invariant -----------------------------------------------------------------------


def test_pooling_works_for_clean_exchanges(
    pki: Pki, edge: EdgeProcess, scripted: ScriptedOrigin
) -> None:
    """The positive control: clean exchanges share one origin connection."""
    first = conn_of(get(pki, edge)[1])
    assert conn_of(get(pki, edge)[1]) == first


def test_early_answer_mid_upload_closes_both_connections(
    pki: Pki, edge: EdgeProcess, scripted: ScriptedOrigin
) -> None:
    ctx = client_context(pki)
    declared = 4 << 20
    with tls_connection(edge.port, ctx, timeout=5) as tls:
        # Part of the body, then the client pauses: the answer must come anyway, at once.
        tls.sendall(b"POST /early HTTP/1.1\r\nHost: localhost\r\n")
        tls.sendall(b"Content-Length: %d\r\n\r\n" % declared + b"a" * 65536)
        data = b""
        while b"\r\n\r\nno" not in data and (chunk := tls.recv(65536)):
            data += chunk
    assert data.startswith(b"HTTP/1.1 401 "), data[:200]
    assert b"connection: close" in data.lower()
    # The origin connection was closed, not pooled with a body half sent.
    early = next(c for c in scripted.conns if any(r.path == "/early" for r in c.requests))
    deadline = time.monotonic() + 5
    while not early.closed_by_peer and time.monotonic() < deadline:
        time.sleep(0.02)
    assert early.closed_by_peer and early.unread_body > 0
    # Another client's request is answered on a connection of its own, whole.
    status, body = get(pki, edge)
    assert status == 200 and conn_of(body) != early.requests[-1].conn
    assert_every_request_well_formed(scripted)


def test_early_answer_then_close_is_relayed_not_502(
    pki: Pki, edge: EdgeProcess, scripted: ScriptedOrigin
) -> None:
    """The origin refuses at once and hangs up (a sync worker): the client gets the refusal."""
    body = b"d" * (4 << 20)
    head = b"POST /early-close HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
    with tls_connection(edge.port, client_context(pki), timeout=10) as tls:
        tls.sendall(head % len(body))
        data = b""
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            tls.sendall(body)  # the edge may stop reading once it has the answer
        try:
            while chunk := tls.recv(65536):
                data += chunk
        except (ssl.SSLError, ConnectionError):
            pass
    assert data.startswith(b"HTTP/1.1 401 "), data[:200]
    assert get(pki, edge)[0] == 200


def test_small_early_answer_after_the_whole_body_keeps_both_connections(
    pki: Pki, edge: EdgeProcess, scripted: ScriptedOrigin
) -> None:
    """The whole request went out before the answer: the origin drained it, reuse is safe.

    Whether the forwarder had written the whole body before the answer arrived is a race it
    does not control: when it had not, the answer is an early one and both connections
    close (the documented rule). Either way the next request is answered correctly and the
    origin never sees a malformed or merged request."""
    client = KeepAliveClient(edge.port, client_context(pki))
    try:
        try:
            response, body = client.request("POST", "/early", body=b"b" * 100)
        except AssertionError:  # the edge closed: the answer beat the body (early answer)
            client.close()
            client = KeepAliveClient(edge.port, client_context(pki))
        else:
            assert response.status_code == 401 and body == b"no"
        response, body = client.request("POST", "/echo", body=b"next")
        assert response.status_code == 200
        assert body.endswith(hashlib.sha256(b"next").hexdigest().encode())
    finally:
        client.close()
    assert_every_request_well_formed(scripted)


def test_response_read_to_close_is_not_pooled(
    pki: Pki, edge: EdgeProcess, scripted: ScriptedOrigin
) -> None:
    status, body = get(pki, edge, "/eof")
    assert status == 200
    eof_conn = conn_of(body)
    status, body = get(pki, edge)
    assert status == 200 and conn_of(body) != eof_conn


def test_head_response_is_not_pooled_and_the_client_goes_on(
    pki: Pki, edge: EdgeProcess, scripted: ScriptedOrigin
) -> None:
    client = KeepAliveClient(edge.port, client_context(pki))
    try:
        response, body = client.request("HEAD", "/echo?head")
        assert response.status_code == 200 and body == b""
        response, body = client.request("GET", "/echo")
        assert response.status_code == 200
    finally:
        client.close()
    head_conn = next(r.conn for r in scripted.requests() if r.line.startswith(b"HEAD"))
    assert conn_of(body) != head_conn
    assert_every_request_well_formed(scripted)


def test_interim_responses_then_a_clean_final_one_keep_the_pool(
    pki: Pki, edge: EdgeProcess, scripted: ScriptedOrigin
) -> None:
    hinted = b"POST /hints HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\n\r\nhinted"
    follow = b"GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    got = responses(raw_request(edge.port, client_context(pki), hinted + follow))
    # 100 Continue is the edge's business; 103 is relayed; the origin connection is reused.
    assert [status for status, _, _ in got] == [103, 200, 200]
    assert b"rel=preload" in got[0][1]
    assert conn_of(got[1][2]) == conn_of(got[2][2])
    assert got[1][2].endswith(hashlib.sha256(b"hinted").hexdigest().encode())


def test_client_leaving_mid_body_closes_the_origin_connection(
    pki: Pki, edge: EdgeProcess, scripted: ScriptedOrigin
) -> None:
    with tls_connection(edge.port, client_context(pki)) as tls:
        tls.sendall(
            b"POST /echo?abort HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n"
        )
        tls.sendall(b"c" * 30000)
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    aborted = None
    while time.monotonic() < deadline:
        found = [
            c
            for c in scripted.conns
            if any(r.path == "/echo?abort" for r in c.requests) and c.closed_by_peer
        ]
        if found:
            aborted = found[0]
            break
        time.sleep(0.02)
    assert aborted is not None and aborted.unread_body > 0
    status, body = get(pki, edge)
    assert status == 200 and conn_of(body) != aborted.requests[-1].conn
    assert_every_request_well_formed(scripted)


# -- Malformed chunked bodies -----------------------------------------------------------------


def test_malformed_chunk_already_received_never_reaches_the_origin(
    pki: Pki, edge: EdgeProcess, scripted: ScriptedOrigin
) -> None:
    before = len(scripted.requests())
    request = (
        b"POST /echo?bad HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\nzz\r\n"
    )
    got = raw_request(edge.port, client_context(pki), request)
    assert got.startswith(b"HTTP/1.1 400 "), got[:100]
    assert len(scripted.requests()) == before


def test_malformed_chunk_mid_stream_truncates_the_origin_request(
    pki: Pki, edge: EdgeProcess, scripted: ScriptedOrigin
) -> None:
    """The origin already has the head and the good chunks; it gets no last chunk, only EOF,
    so it never sees a complete request; the client gets 400 and the connection closes."""
    with tls_connection(edge.port, client_context(pki)) as tls:
        tls.sendall(
            b"POST /echo?midway HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n"
        )
        deadline = time.monotonic() + 5
        while not any(r.path == "/echo?midway" for r in scripted.requests()):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        tls.sendall(b"5\r\nworld\r\nnot-hex\r\n")
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 "), data[:100]
    conn = next(c for c in scripted.conns if any(r.path == "/echo?midway" for r in c.requests))
    deadline = time.monotonic() + 5
    while not conn.closed_by_peer and time.monotonic() < deadline:
        time.sleep(0.02)
    assert conn.closed_by_peer and conn.unread_body > 0
    seen = next(r for r in conn.requests if r.path == "/echo?midway")
    assert seen.body.startswith(b"hello")  # what was relayed before the error, and no more
