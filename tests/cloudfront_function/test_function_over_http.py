"""The function's output over real HTTP: examples/cloudfront/origin.py under gunicorn (the WSGI
middleware), configured with ``ORIGINVERIFY_SIGNATURE_KEYS`` and no static secret, receives the
origin requests CloudFront would build from sign-request.js's output (run under Node.js)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest

from originverify.formats.sfbinary import serialize_item
from originverify.signatures import HmacSecret
from tests.cloudfront_function.conftest import Pki
from tests.cloudfront_function.kit import (
    FUNCTION,
    OriginRequest,
    Viewer,
    origin_request,
    run_function,
    store,
)
from tests.edges_e2e.kit import REPO, Server, start_on_free_port

KEY_ID = "cf-2026-12"


@pytest.fixture(scope="module")
def http_origin(
    pki: Pki, key_1: HmacSecret, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp("cloudfront-signed-origin")
    (tmp / "client-ca.pem").write_bytes(pki.root.pem)
    key_file = tmp / f"{KEY_ID}.hmac"
    key_file.write_text(key_1.spec() + "\n")
    env = {
        "ORIGINVERIFY_ANCHORS": str(tmp / "client-ca.pem"),
        "ORIGINVERIFY_SIGNATURE_KEYS": f"{KEY_ID}={key_file}",
        "ORIGINVERIFY_EDGE_SECRET": "",
        "PYTHONPATH": str(REPO),
    }

    def start(port: int) -> Server:
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",  # one nonce cache: the replay below reaches the process that saw the first
            "--header-map",
            "refuse",
            "--limit-request-field_size",
            "16384",
            "--chdir",
            str(FUNCTION.parent),
            "origin:app",
        ]
        return Server("gunicorn (signed cloudfront)", cmd, port, tmp / "gunicorn.log", env=env)

    server = start_on_free_port(start)
    try:
        yield server.port
    finally:
        server.stop()


def send(port: int, request: OriginRequest) -> tuple[int, dict[str, object]]:
    """One request, header lines exactly as given, target bytes as CloudFront sends them."""
    import socket

    head = [f"{request.method} {request.target} HTTP/1.1"]
    head += [f"{name}: {value}" for name, value in request.headers]
    head.append("Connection: close")
    data = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, body = bytes(data).partition(b"\r\n\r\n")
    payload: dict[str, object] = json.loads(body)
    return int(status_line.split(b" ", 2)[1]), payload


def signed(pki: Pki, key: HmacSecret, viewer: Viewer) -> OriginRequest:
    (output,) = run_function(store(KEY_ID, key.spec()), [viewer])
    return origin_request(viewer, output)


def test_accepted(http_origin: int, pki: Pki, key_1: HmacSecret) -> None:
    viewer = Viewer(issued=pki.alice, uri="/whoami", query=[("x", "1")])
    status, body = send(http_origin, signed(pki, key_1, viewer))
    assert (status, body.get("common_name")) == (200, "alice"), body


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda r: OriginRequest("POST", r.target, r.authority, r.headers), "signature_invalid"),
        (lambda r: OriginRequest(r.method, "/admin", r.authority, r.headers), "signature_invalid"),
        (
            lambda r: OriginRequest(r.method, r.target + "&x=2", r.authority, r.headers),
            "signature_invalid",
        ),
        (lambda r: r.replace("cloudfront-viewer-cert-sha256", "0" * 64), "signature_invalid"),
        (
            lambda r: r.replace(
                "signature-input",
                dict(r.headers)["signature-input"].replace("cf-2026-12", "cf-old"),
            ),
            "signature_unknown_key",
        ),
        (
            lambda r: OriginRequest(
                r.method,
                r.target,
                r.authority,
                [h for h in r.headers if not h[0].startswith("signature")],
            ),
            "signature_missing",
        ),
    ],
    ids=["method", "path", "query", "sha256", "old-key-id", "unsigned"],
)
def test_refused(
    http_origin: int, pki: Pki, key_1: HmacSecret, tamper: object, reason: str
) -> None:
    request = signed(pki, key_1, Viewer(issued=pki.alice, uri="/whoami", query=[("x", "1")]))
    assert callable(tamper)
    status, body = send(http_origin, tamper(request))
    assert (status, body.get("reason")) == (403, reason), body


def test_client_cert_not_matching_signed_hash(
    http_origin: int, pki: Pki, key_1: HmacSecret
) -> None:
    request = signed(pki, key_1, Viewer(issued=pki.alice))
    status, body = send(http_origin, request.replace("Client-Cert", serialize_item(pki.bob.der)))
    assert (status, body.get("reason")) == (403, "edge_mismatch"), body


def test_replayed(http_origin: int, pki: Pki, key_1: HmacSecret) -> None:
    request = signed(pki, key_1, Viewer(issued=pki.alice))
    assert send(http_origin, request)[0] == 200
    status, body = send(http_origin, request)
    assert (status, body.get("reason")) == (403, "signature_replayed"), body
