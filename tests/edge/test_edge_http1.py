"""HTTP/1.1 rules the forwarder enforces on top of llhttp, and response framings it relays.

llhttp (through httptools) parses; the proxy itself refuses what llhttp leaves to the caller
(missing or duplicate Host, transfer codings other than chunked, HTTP versions other than 1.0
and 1.1) and re-frames bodies. A scripted origin produces the response shapes that the test
origin in ``edgekit`` never sends.
"""

from __future__ import annotations

import json
import re
import socket
import threading
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
)


def status_of(response: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", response)
    assert match, response[:200]
    return int(match.group(1))


def ask(pki: Pki, edge: EdgeProcess, head: bytes, body: bytes = b"") -> bytes:
    return raw_request(edge.port, client_context(pki), head + body)


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),  # two Hosts
        (b"GET /echo HTTP/1.1\r\nAccept: */*\r\n\r\n", 400),  # HTTP/1.1 needs Host
        (b"GET /echo HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Fold: a\r\n b\r\n\r\n", 400),  # obs-fold
        (b"GET /echo HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n", 400),  # space in a name
        (b"GET /echo HTTP/1.1\nHost: a\n\n", 400),  # bare LF
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400),
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405),
    ],
)
def test_malformed_or_unsupported_requests(
    pki: Pki, passthrough: EdgeProcess, origin: Origin, head: bytes, status: int
) -> None:
    response = ask(pki, passthrough, head)
    assert status_of(response) == status
    assert b"Connection: close\r\n" in response
    assert origin.state.ports == []  # refused at the edge: nothing reached the origin


def test_http10_request_without_host(pki: Pki, passthrough: EdgeProcess, origin: Origin) -> None:
    response = ask(pki, passthrough, b"GET /echo?v=10 HTTP/1.0\r\n\r\n")
    assert status_of(response) == 200
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"Connection: close" in head  # no HTTP/1.0 keep-alive
    got = json.loads(body)
    assert [v for k, v in got["headers"] if k.lower() == "host"] == [origin.url[7:]]


def test_pipelined_requests_are_answered_in_order(pki: Pki, passthrough: EdgeProcess) -> None:
    requests = b"".join(b"GET /echo?n=%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % n for n in range(3))
    response = ask(pki, passthrough, requests + b"GET /echo?n=3 HTTP/1.1\r\nHost: x\r\n"
                   b"Connection: close\r\n\r\n")  # fmt: skip
    paths = re.findall(rb'"path": "(/echo\?n=\d)"', response)
    assert paths == [b"/echo?n=0", b"/echo?n=1", b"/echo?n=2", b"/echo?n=3"]


def test_head_response_has_no_body_and_the_connection_goes_on(
    pki: Pki, passthrough: EdgeProcess
) -> None:
    client = KeepAliveClient(passthrough.port, client_context(pki))
    try:
        response, body = client.request("HEAD", "/echo")
        assert response.status_code == 200
        assert body == b""
        assert int(response.headers["Content-Length"]) > 0  # the length a GET would have
        response, body = client.request("GET", "/echo?after-head")
        assert json.loads(body)["path"] == "/echo?after-head"
    finally:
        client.close()


def test_chunked_request_trailers_are_dropped(pki: Pki, passthrough: EdgeProcess) -> None:
    response = ask(
        pki,
        passthrough,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
        b"\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
    )
    assert status_of(response) == 200
    got = json.loads(response.partition(b"\r\n\r\n")[2])
    assert got["body_len"] == 5
    assert "x-trailer" not in [k.lower() for k, _ in got["headers"]]


def test_endless_chunk_framing_is_bounded(pki: Pki, start_edge: StartEdge) -> None:
    edge = start_edge("--max-header-bytes", "4096")
    response = ask(
        pki,
        edge,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;" + b"e" * 64000 + b"\r\nhello\r\n0\r\n\r\n",
    )
    assert status_of(response) == 400


# -- response shapes from a scripted origin ------------------------------------------------------

SCRIPTS = {
    b"/early": b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"/until-close": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until close",
    b"/gzip-coding": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxxxx",
    b"/hop": b"HTTP/1.1 200 OK\r\nConnection: X-Internal\r\nX-Internal: 1\r\nKeep-Alive: t=5\r\n"
    b"Content-Length: 3\r\n\r\nhop",
    b"/garbage": b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n",
}


@pytest.fixture(scope="module")
def scripted() -> Iterator[int]:
    """Answers each request with the bytes scripted for its path, then closes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            path = data.split(b" ", 2)[1]
            conn.sendall(SCRIPTS[path])

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture(scope="module")
def scripted_edge(start_edge: StartEdge, scripted: int) -> EdgeProcess:
    return start_edge(upstream=f"http://127.0.0.1:{scripted}")


def get(pki: Pki, edge: EdgeProcess, path: str) -> bytes:
    return ask(
        pki, edge, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode()
    )


def test_early_hints_are_relayed_before_the_response(pki: Pki, scripted_edge: EdgeProcess) -> None:
    response = get(pki, scripted_edge, "/early")
    assert response.startswith(b"HTTP/1.1 103 ")
    assert b"Link: </s.css>; rel=preload\r\n" in response
    final = response.split(b"\r\n\r\n", 1)[1]
    assert status_of(final) == 200
    assert final.endswith(b"\r\n\r\nok")


def test_a_close_delimited_body_is_rechunked(pki: Pki, scripted_edge: EdgeProcess) -> None:
    response = get(pki, scripted_edge, "/until-close")
    head, _, body = response.partition(b"\r\n\r\n")
    assert status_of(response) == 200
    assert b"Transfer-Encoding: chunked" in head
    assert body == b"10\r\nbody until close\r\n0\r\n\r\n"


def test_response_hop_by_hop_headers_are_removed(pki: Pki, scripted_edge: EdgeProcess) -> None:
    response = get(pki, scripted_edge, "/hop")
    head, _, body = response.partition(b"\r\n\r\n")
    assert status_of(response) == 200
    assert b"X-Internal" not in head
    assert b"Keep-Alive" not in head
    assert body == b"hop"


@pytest.mark.parametrize("path", ["/gzip-coding", "/garbage"])
def test_unusable_responses_are_502(pki: Pki, scripted_edge: EdgeProcess, path: str) -> None:
    assert status_of(get(pki, scripted_edge, path)) == 502
