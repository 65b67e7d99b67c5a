"""Round trip over real sockets: client → signing edge → origin running ``Verifier``.

The edge here is a tiny test proxy standing in for the reference forwarder (which gets its own
round trip once ``--sign-key`` is wired): it strips what the client sent under the edge's
header names, sets the certificate headers of the client it "authenticated", signs them with
``EnvelopeSigner`` and forwards with ``http.client``. The origin is ``http.server`` calling
``Verifier.verify_request`` with the raw header lines, method, target and Host.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from originverify import VerificationError, Verifier
from originverify.devpki import Issued
from originverify.envelope import EnvelopeSigner
from tests.conftest import PKI
from tests.signatures.kit import ED_KEY, KEY_ID, Pairs, edge_headers, envelope

EDGE_OWNED = {"client-cert", "client-cert-chain", "signature", "signature-input"}


class Origin(ThreadingHTTPServer):
    verifier: Verifier
    seen: list[tuple[str, str, Pairs]]


class Edge(ThreadingHTTPServer):
    signer: EnvelopeSigner
    client_leaf: Issued
    origin_port: int


class OriginHandler(BaseHTTPRequestHandler):
    server: Origin

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        pairs = list(self.headers.items())  # every field line, duplicates kept
        self.server.seen.append((self.command, self.path, pairs))
        try:
            identity = self.server.verifier.verify_request(
                pairs,
                self.client_address[0],
                method=self.command,
                target=self.path,
                authority=self.headers.get("Host"),
            )
            assert identity is not None
            status, text = 200, f"{identity.common_name} {len(body)}"
        except VerificationError as exc:
            status, text = exc.http_status, exc.reason.value
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


class EdgeHandler(BaseHTTPRequestHandler):
    server: Edge

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        client = [
            (n, v) for n, v in self.headers.items() if n.lower().replace("_", "-") not in EDGE_OWNED
        ]
        edge_set = edge_headers(self.server.client_leaf)
        signature = self.server.signer.sign(self.command, self.headers["Host"], self.path, edge_set)
        status, payload = send(
            self.server.origin_port, self.command, self.path, [*client, *edge_set, *signature], body
        )
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


def send(
    port: int, method: str, target: str, headers: Pairs, body: bytes = b""
) -> tuple[int, bytes]:
    """One request with exactly these header lines (http.client adds nothing)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders(body or None)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def servers(pki: PKI) -> Iterator[tuple[Edge, Origin]]:
    origin = Origin(("127.0.0.1", 0), OriginHandler)
    origin.verifier = Verifier(trust=pki.root_pem, source=envelope(), cache=None)
    origin.seen = []
    edge = Edge(("127.0.0.1", 0), EdgeHandler)
    edge.signer = EnvelopeSigner(ED_KEY, KEY_ID)
    edge.client_leaf = pki.leaf
    edge.origin_port = origin.server_address[1]
    threads = [
        threading.Thread(target=server.serve_forever, daemon=True) for server in (origin, edge)
    ]
    for thread in threads:
        thread.start()
    yield edge, origin
    for server in (edge, origin):
        server.shutdown()
        server.server_close()


def host(server: ThreadingHTTPServer) -> tuple[str, str]:
    return ("Host", f"127.0.0.1:{server.server_address[1]}")


def test_through_the_signing_edge(servers: tuple[Edge, Origin]) -> None:
    edge, origin = servers
    status, body = send(edge.server_address[1], "GET", "/orders/7?expand=items", [host(origin)])
    assert (status, body) == (200, b"alice 0")
    _, _, pairs = origin.seen[-1]
    names = {n.lower() for n, _ in pairs}
    assert {"signature", "signature-input", "client-cert", "client-cert-chain"} <= names


def test_post_with_body(servers: tuple[Edge, Origin]) -> None:
    edge, origin = servers
    body = b'{"hello": "world"}'
    status, answer = send(
        edge.server_address[1],
        "POST",
        "/submit",
        [host(origin), ("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        body,
    )
    assert (status, answer) == (200, b"alice 18")


def test_client_supplied_certificate_and_signature_are_replaced(
    servers: tuple[Edge, Origin], pki: PKI
) -> None:
    edge, origin = servers
    bob = pki.intermediate.issue("bob")
    forged = [host(origin), *edge_headers(bob), ("Signature", "originverify=:AAAA:")]
    status, body = send(edge.server_address[1], "GET", "/", forged)
    assert (status, body) == (200, b"alice 0")


def test_direct_to_origin_with_a_pasted_certificate(servers: tuple[Edge, Origin], pki: PKI) -> None:
    _, origin = servers
    status, body = send(
        origin.server_address[1], "GET", "/", [host(origin), *edge_headers(pki.leaf)]
    )
    assert (status, body) == (403, b"signature_missing")


def test_captured_request_replayed(servers: tuple[Edge, Origin]) -> None:
    edge, origin = servers
    assert send(edge.server_address[1], "GET", "/pay?amount=5", [host(origin)])[0] == 200
    method, target, pairs = origin.seen[-1]
    status, body = send(origin.server_address[1], method, target, pairs)
    assert (status, body) == (403, b"signature_replayed")


def test_captured_headers_paired_with_another_request(servers: tuple[Edge, Origin]) -> None:
    """What smuggling does: alice's certificate and signature glued to a different request."""
    edge, origin = servers
    assert send(edge.server_address[1], "GET", "/profile", [host(origin)])[0] == 200
    _, _, pairs = origin.seen[-1]
    status, body = send(origin.server_address[1], "DELETE", "/admin/users/1", pairs)
    assert (status, body) == (403, b"signature_invalid")
