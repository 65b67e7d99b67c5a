"""What the shipped edge configs do with TLS 1.3, ``Expect: 100-continue``, control bytes in
header values and request trailers, checked against Debian's binaries.

Two kinds of origin: the shipped one (gunicorn + examples/edges/origin.py, fixture
``running``) for verdicts, and a scripted raw-socket origin (``tests/edge/scripted.py``) that
records exactly what the edge forwarded and, like many origins, waits for a body without ever
sending ``100 Continue``.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import require_binary
from tests.edge.scripted import ScriptedOrigin
from tests.edges_e2e.conftest import EDGES, LAUNCHERS, EdgeSpec, Running
from tests.edges_e2e.kit import Pki, Server, parse_response, rfc9440_headers

pytestmark = pytest.mark.e2e

# Edges that pass request trailers on to the origin (documented in their README).
PASSES_TRAILERS = {"haproxy"}
# Edges that pass control characters other than NUL, CR, LF in header values (nginx: its
# parser refuses only NUL, CR and LF; documented in its README).
PASSES_CONTROLS = {"nginx"}


@dataclass
class Scripted:
    spec: EdgeSpec
    edge: Server
    origin: ScriptedOrigin
    pki: Pki


@pytest.fixture(scope="module", params=EDGES, ids=[e.name for e in EDGES])
def scripted(
    request: pytest.FixtureRequest, e2e_pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scripted]:
    spec: EdgeSpec = request.param
    binary = require_binary(spec.binary, spec.package)
    origin = ScriptedOrigin()
    tmp = tmp_path_factory.mktemp(f"scripted-{spec.name}")
    try:
        edge = LAUNCHERS[spec.name](binary, tmp, e2e_pki, f"127.0.0.1:{origin.port}")
    except BaseException:
        origin.close()
        raise
    try:
        yield Scripted(spec, edge, origin, e2e_pki)
    finally:
        edge.stop()
        origin.close()


def exchange(
    pki: Pki,
    port: int,
    data: bytes,
    *,
    identity: str | None = None,
    minimum: ssl.TLSVersion | None = None,
    timeout: float = 5,
) -> tuple[bytes, str]:
    """Send ``data`` on one TLS connection; everything read until close or ``timeout``,
    and the negotiated TLS version."""
    ctx = ssl.create_default_context(cafile=pki.path("server-ca.pem"))
    if identity is not None:
        ctx.load_cert_chain(pki.path(identity + ".pem"), pki.path(identity + ".key"))
    if minimum is not None:
        ctx.minimum_version = minimum
    out = b""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock,
        ctx.wrap_socket(sock, server_hostname="localhost") as tls,
    ):
        version = tls.version() or ""
        tls.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = tls.recv(65536)
            except (TimeoutError, ssl.SSLError, ConnectionError):
                break
            if not chunk:
                break
            out += chunk
    return out, version


def test_tls13_is_negotiated(running: Running) -> None:
    """nginx 1.22 (Debian 12) leaves TLS 1.3 out of its default ssl_protocols."""
    request = b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    raw, version = exchange(
        running.pki, running.port, request, identity="alice", minimum=ssl.TLSVersion.TLSv1_3
    )
    assert version == "TLSv1.3"
    reply = parse_response(raw, "")
    assert reply.status == 200 and reply.json["common_name"] == "alice", reply.describe()


def test_expect_100_continue_with_the_body_is_answered(scripted: Scripted) -> None:
    """The client sends the body right behind the head, as RFC 9110 allows; the origin
    waits for the body and never sends 100. Every edge must answer within the timeout
    (httpd forwarded the expectation and waited for the origin's 100 until its Timeout)."""
    request = (
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
        b"Content-Length: 5\r\nConnection: close\r\n\r\nhello"
    )
    raw, _ = exchange(scripted.pki, scripted.edge.port, request, identity="alice", timeout=3)
    final = raw.split(b"HTTP/1.1 100 Continue\r\n\r\n")[-1]
    assert final.startswith(b"HTTP/1.1 200 "), raw[:300]
    assert b"len=5 " in final


def test_expect_100_continue_is_answered_by_the_edge(scripted: Scripted) -> None:
    """A client that waits for 100 before sending its body gets it from the edge at once,
    whatever the origin does (this one never sends 100)."""
    ctx = ssl.create_default_context(cafile=scripted.pki.path("server-ca.pem"))
    ctx.load_cert_chain(scripted.pki.path("alice.pem"), scripted.pki.path("alice.key"))
    head = (
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
        b"Content-Length: 5\r\nConnection: close\r\n\r\n"
    )
    with (
        socket.create_connection(("127.0.0.1", scripted.edge.port), timeout=2) as sock,
        ctx.wrap_socket(sock, server_hostname="localhost") as tls,
    ):
        tls.sendall(head)
        interim = tls.recv(65536)  # a TimeoutError here is the failure
        assert interim.startswith(b"HTTP/1.1 100 "), interim[:200]
        tls.sendall(b"hello")
        final = b""
        while chunk := tls.recv(65536):
            final += chunk
    assert final.startswith(b"HTTP/1.1 200 ") and b"len=5 " in final, final[:300]


@pytest.mark.parametrize("byte", [b"\x00", b"\x01", b"\x7f"], ids=["nul", "soh", "del"])
def test_control_bytes_in_header_values(scripted: Scripted, byte: bytes) -> None:
    """NUL is refused by every edge; other controls too, except where documented."""
    before = len(scripted.origin.requests())
    request = (
        b"GET /echo HTTP/1.1\r\nHost: localhost\r\nX-Probe: a" + byte + b"b\r\n"
        b"Connection: close\r\n\r\n"
    )
    raw, _ = exchange(scripted.pki, scripted.edge.port, request)
    if byte != b"\x00" and scripted.spec.name in PASSES_CONTROLS:
        assert raw.startswith(b"HTTP/1.1 200 "), raw[:200]
        assert scripted.origin.requests()[-1].headers[b"x-probe"] == b"a" + byte + b"b"
        return
    assert raw.startswith(b"HTTP/1.1 400 "), raw[:200]
    assert len(scripted.origin.requests()) == before  # the origin never saw it


def test_request_trailers(scripted: Scripted) -> None:
    """Trailers never join the head; HAProxy alone passes them on, as trailers."""
    request = (
        b"POST /echo?trailers HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n3\r\nabc\r\n0\r\nClient-Cert: :AAAA:\r\nX-Trailer: t\r\n\r\n"
    )
    raw, _ = exchange(scripted.pki, scripted.edge.port, request)
    assert raw.startswith(b"HTTP/1.1 200 "), raw[:200]
    seen = next(r for r in scripted.origin.requests() if r.path == "/echo?trailers")
    assert seen.body == b"abc"
    assert b"client-cert" not in seen.headers and b"x-trailer" not in seen.headers
    if scripted.spec.name in PASSES_TRAILERS:
        assert [t.lower() for t in seen.trailers] == [b"client-cert: :aaaa:", b"x-trailer: t"]
    else:
        assert seen.trailers == []


def test_a_certificate_in_a_trailer_authenticates_nobody(running: Running) -> None:
    """Where trailers do reach the origin (HAProxy), gunicorn keeps them out of the WSGI
    environ, so originverify never reads them: no certificate, no identity."""
    forged = rfc9440_headers(running.pki.alice, "Client-Cert")
    forged += running.spec.forge(running.pki.alice, running.spec.cert_header)
    trailer = b"".join(b"%s: %s\r\n" % (n.encode(), v.encode()) for n, v in forged)
    request = (
        b"POST /whoami HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n2\r\n{}\r\n0\r\n" + trailer + b"\r\n"
    )
    raw, _ = exchange(running.pki, running.port, request)
    reply = parse_response(raw, "")
    assert reply.status == 401 and reply.json["reason"] == "missing_certificate", reply.describe()


def test_every_edge_binary_is_checked() -> None:
    """The list above is the list CI installs (.ci/run): a new edge needs its own rows."""
    assert {e.name for e in EDGES} == set(LAUNCHERS)
    assert all(shutil.which(e.binary) or e.package for e in EDGES)
