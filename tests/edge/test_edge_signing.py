"""The forwarder signs what it forwards (RFC 9421 signed envelope), checked by a real origin.

curl (with a client certificate) → the forwarder with ``--sign-key`` → an origin whose
``Verifier`` requires the edge secret *and* the signature (``build_verifier`` with
``signature_key_files``), over real sockets on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from originverify import VerificationError, Verifier, build_verifier
from originverify.edge.config import UnderscorePolicy
from originverify.edge.hygiene import HeaderPolicy, RejectedRequest, sanitize_request
from originverify.envelope import GeneratedKey, keygen
from tests.edge.conftest import StartEdge
from tests.edge.edgekit import (
    EDGE_SECRET,
    REPO,
    EdgeProcess,
    Pki,
    client_context,
    curl,
    raw_request,
)

Pairs = list[tuple[str, str]]
KEY_1 = "edge-2026-11"
KEY_2 = "edge-2026-12"


@dataclass
class Seen:
    method: str
    target: str
    pairs: Pairs


class VerifyingOrigin(ThreadingHTTPServer):
    """``http.server`` calling ``Verifier.verify_request`` with the raw header lines."""

    daemon_threads = True
    verifier: Verifier
    seen: list[Seen]

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: VerifyingOrigin

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        pairs = list(self.headers.items())  # every field line, duplicates kept
        self.server.seen.append(Seen(self.command, self.path, pairs))
        payload: dict[str, Any] = {"headers": pairs}
        try:
            identity = self.server.verifier.verify_request(
                pairs,
                self.client_address[0],
                method=self.command,
                target=self.path,
                authority=self.headers.get("Host"),
            )
            status = 200
            payload["identity"] = identity.common_name if identity is not None else None
        except VerificationError as exc:
            status = exc.http_status
            payload["reason"] = exc.reason.value
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _answer


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[GeneratedKey, GeneratedKey]:
    folder = tmp_path_factory.mktemp("edge-signing-keys")
    return keygen(folder, KEY_1), keygen(folder, KEY_2)


MakeOrigin = Callable[[dict[str, Path]], VerifyingOrigin]


@pytest.fixture(scope="module")
def make_origin(pki: Pki) -> Iterator[MakeOrigin]:
    """Origins that accept only what carries the edge secret and a signature by these keys."""
    servers: list[VerifyingOrigin] = []

    def make(key_files: dict[str, Path]) -> VerifyingOrigin:
        server = VerifyingOrigin(("127.0.0.1", 0), _Handler)
        server.verifier = build_verifier(
            {
                "format": "cloudfront-passthrough",
                "anchors": pki.path("client-ca.pem"),
                "edge_secrets": EDGE_SECRET,
                "signature_key_files": {k: str(v) for k, v in key_files.items()},
                "mode": "optional",  # a client without a certificate is anonymous, not refused
                "cache_size": 0,
            }
        )
        server.seen = []
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def origin_1(make_origin: MakeOrigin, keys: tuple[GeneratedKey, GeneratedKey]) -> VerifyingOrigin:
    """Knows the first key only."""
    return make_origin({KEY_1: keys[0].verification_key})


@pytest.fixture(scope="module")
def signing_edge(
    start_edge: StartEdge, origin_1: VerifyingOrigin, keys: tuple[GeneratedKey, GeneratedKey]
) -> EdgeProcess:
    first = keys[0]
    return start_edge(
        "--sign-key",
        str(first.signing_key),
        "--key-id",
        first.key_id,
        upstream=f"http://127.0.0.1:{origin_1.port}",
    )


def get(
    pki: Pki, edge: EdgeProcess, path: str, *args: str, identity: str | None = "client"
) -> tuple[int, Any]:
    """GET through the forwarder with curl; (status, origin's JSON answer)."""
    result = curl(pki, edge.url + path, "-w", "\n%{http_code}", *args, identity=identity)
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    return int(status), json.loads(body) if body.startswith("{") else body


def send(port: int, method: str, target: str, pairs: Pairs) -> tuple[int, dict[str, Any]]:
    """One request straight to the origin with exactly these header lines."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in pairs:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def named(pairs: Pairs, name: str) -> list[str]:
    return [v for k, v in pairs if k.lower() == name.lower()]


# -- round trips ---------------------------------------------------------------------------------


def test_signed_request_is_accepted(pki: Pki, signing_edge: EdgeProcess) -> None:
    status, answer = get(pki, signing_edge, "/orders/7?expand=items")
    assert status == 200, answer
    assert answer["identity"] == "client+one"
    pairs = answer["headers"]
    (signature_input,) = named(pairs, "Signature-Input")
    assert len(named(pairs, "Signature")) == 1
    assert f'keyid="{KEY_1}"' in signature_input
    assert 'alg="ed25519"' in signature_input
    # The request line, the certificate headers and the secret are covered; X-Forwarded-* not.
    for covered in ('"@method"', '"@path"', '"@query"', '"@authority"', '"client-cert"',
                    '"client-cert-chain"', '"x-origin-verify"'):  # fmt: skip
        assert covered in signature_input
    assert '"x-forwarded-for"' not in signature_input
    # Appended last, after the edge's other headers.
    assert [k.lower() for k, _ in pairs[-2:]] == ["signature-input", "signature"]


def test_request_without_a_client_certificate_is_signed_too(
    pki: Pki, signing_edge: EdgeProcess, origin_1: VerifyingOrigin
) -> None:
    status, answer = get(pki, signing_edge, "/public", identity=None)
    assert status == 200, answer
    assert answer["identity"] is None  # anonymous, but provably through the edge
    assert named(answer["headers"], "CloudFront-Viewer-Cert-Present") == ["0"]
    assert '"cloudfront-viewer-cert-present"' in named(answer["headers"], "Signature-Input")[0]
    # Without the signature the same headers are refused.
    unsigned = [
        (k, v) for k, v in answer["headers"] if k.lower() not in ("signature", "signature-input")
    ]
    status, refused = send(origin_1.port, "GET", "/public", unsigned)
    assert (status, refused["reason"]) == (403, "signature_missing")


def test_a_client_forged_signature_is_stripped(
    pki: Pki, signing_edge: EdgeProcess, origin_1: VerifyingOrigin
) -> None:
    status, answer = get(
        pki,
        signing_edge,
        "/forged",
        "-H",
        "Signature: originverify=:AAAA:",
        "-H",
        'Signature-Input: originverify=("@method");created=1;keyid="edge-2026-11"',
        "-H",
        "signature: other=:BBBB:",
    )
    assert status == 200, answer
    pairs = answer["headers"]
    assert len(named(pairs, "Signature")) == 1
    assert "AAAA" not in named(pairs, "Signature")[0]
    assert "BBBB" not in named(pairs, "Signature")[0]
    assert len(named(pairs, "Signature-Input")) == 1


def test_a_captured_request_replayed_to_the_origin_is_refused(
    pki: Pki, signing_edge: EdgeProcess, origin_1: VerifyingOrigin
) -> None:
    status, _ = get(pki, signing_edge, "/pay?amount=5")
    assert status == 200
    captured = origin_1.seen[-1]
    assert captured.target == "/pay?amount=5"
    status, answer = send(origin_1.port, captured.method, captured.target, captured.pairs)
    assert (status, answer["reason"]) == (403, "signature_replayed")


def test_a_captured_signature_on_another_path_is_refused(
    pki: Pki, signing_edge: EdgeProcess, origin_1: VerifyingOrigin
) -> None:
    status, _ = get(pki, signing_edge, "/profile")
    assert status == 200
    captured = origin_1.seen[-1]
    status, answer = send(origin_1.port, "GET", "/admin", captured.pairs)
    assert (status, answer["reason"]) == (403, "signature_invalid")


def test_each_request_gets_a_fresh_signature(
    pki: Pki, signing_edge: EdgeProcess, origin_1: VerifyingOrigin
) -> None:
    """Two requests on one keep-alive TLS connection: both accepted, different nonces."""
    url = signing_edge.url + "/same"
    result = curl(pki, url, "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code}\n", url)
    assert result.stdout.split() == ["200", "200"], result.stderr
    first, second = origin_1.seen[-2:]
    assert named(first.pairs, "Signature") != named(second.pairs, "Signature")
    assert named(first.pairs, "Signature-Input") != named(second.pairs, "Signature-Input")


def test_key_rotation(
    pki: Pki,
    start_edge: StartEdge,
    make_origin: MakeOrigin,
    origin_1: VerifyingOrigin,
    keys: tuple[GeneratedKey, GeneratedKey],
) -> None:
    first, second = keys
    both = make_origin({KEY_1: first.verification_key, KEY_2: second.verification_key})
    old = start_edge(
        "--sign-key",
        str(first.signing_key),
        "--key-id",
        KEY_1,
        upstream=f"http://127.0.0.1:{both.port}",
    )
    assert get(pki, old, "/before")[0] == 200
    old.stop()
    # The edge switches to the new key; an origin that knows both accepts it...
    new = start_edge(
        "--sign-key",
        str(second.signing_key),
        "--key-id",
        KEY_2,
        upstream=f"http://127.0.0.1:{both.port}",
    )
    status, answer = get(pki, new, "/after")
    assert status == 200, answer
    assert f'keyid="{KEY_2}"' in named(answer["headers"], "Signature-Input")[0]
    # ...and one that still knows only the old key does not.
    status, answer = send(origin_1.port, "GET", "/after", both.seen[-1].pairs)
    assert (status, answer["reason"]) == (403, "signature_unknown_key")


# -- what cannot be signed, and what a client may not send --------------------------------------


@pytest.mark.parametrize(
    "request_head",
    [
        b"GET /x HTTP/1.1\r\nHost: bad host\r\n",  # not host[:port]
        b"GET http://127.0.0.1/x HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # absolute form
        b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # asterisk form
    ],
)
def test_unsignable_requests_are_400(
    pki: Pki, signing_edge: EdgeProcess, origin_1: VerifyingOrigin, request_head: bytes
) -> None:
    before = len(origin_1.seen)
    response = raw_request(
        signing_edge.port, client_context(pki), request_head + b"Connection: close\r\n\r\n"
    )
    assert response.startswith(b"HTTP/1.1 400 "), response[:100]
    assert len(origin_1.seen) == before  # nothing reached the origin


@pytest.mark.parametrize("header", [b"Signature_Input: x", b"signature_input: x"])
def test_underscore_spellings_of_the_signature_headers_are_400(
    pki: Pki, signing_edge: EdgeProcess, header: bytes
) -> None:
    response = raw_request(
        signing_edge.port,
        client_context(pki),
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header + b"\r\nConnection: close\r\n\r\n",
    )
    assert response.startswith(b"HTTP/1.1 400 "), response[:100]


POLICY = HeaderPolicy.for_edge("X-Origin-Verify", UnderscorePolicy.REJECT)


@pytest.mark.parametrize("name", [b"Signature", b"signature-input", b"SIGNATURE-INPUT"])
def test_signature_headers_are_owned_by_the_edge(name: bytes) -> None:
    out = sanitize_request([(b"Host", b"a"), (name, b"x=:AAAA:")], POLICY)
    assert out.headers == [(b"Host", b"a")]
    with pytest.raises(RejectedRequest) as err:
        sanitize_request([(b"Host", b"a"), (b"Connection", b"close, " + name)], POLICY)
    assert err.value.status == 400


def test_underscore_alias_of_signature_input_is_rejected_or_dropped() -> None:
    with pytest.raises(RejectedRequest) as err:
        sanitize_request([(b"Host", b"a"), (b"Signature_Input", b"x")], POLICY)
    assert err.value.status == 400
    drop = HeaderPolicy.for_edge("X-Origin-Verify", UnderscorePolicy.DROP)
    assert sanitize_request([(b"Host", b"a"), (b"signature_input", b"x")], drop).headers == [
        (b"Host", b"a")
    ]


# -- start-up ------------------------------------------------------------------------------------


def run_edge(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "originverify.edge", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return result.returncode, result.stderr


def test_sign_key_needs_a_key_id(pki: Pki, keys: tuple[GeneratedKey, GeneratedKey]) -> None:
    base = ["--cert", pki.path("server.pem"), "--key", pki.path("server.key")]
    code, err = run_edge(*base, "--sign-key", str(keys[0].signing_key))
    assert code == 2
    assert "--sign-key and --key-id go together" in err


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("public", "unreadable PEM private key"),
        ("missing", "cannot read signing key file"),
    ],
)
def test_unusable_signing_key_refuses_to_start(
    pki: Pki, keys: tuple[GeneratedKey, GeneratedKey], tmp_path: Path, which: str, message: str
) -> None:
    path = keys[0].verification_key if which == "public" else tmp_path / "nope.key"
    base = ["--cert", pki.path("server.pem"), "--key", pki.path("server.key")]
    code, err = run_edge(*base, "--sign-key", str(path), "--key-id", KEY_1)
    assert code == 2
    assert message in err, err


def test_signing_from_the_config_file(
    pki: Pki,
    origin_1: VerifyingOrigin,
    keys: tuple[GeneratedKey, GeneratedKey],
    tmp_path: Path,
) -> None:
    key = tmp_path / "conf" / "edge.key"
    key.parent.mkdir()
    key.write_bytes(keys[0].signing_key.read_bytes())
    config = key.parent / "edge.toml"
    config.write_text(
        f'upstream = "http://127.0.0.1:{origin_1.port}"\n'
        f'cert = "{pki.path("server.pem")}"\n'
        f'key = "{pki.path("server.key")}"\n'
        f'origin-secret-file = "{pki.path("secret.txt")}"\n'
        'sign-key = "edge.key"\n'  # relative to the config file
        f'key_id = "{KEY_1}"\n'
    )
    edge = EdgeProcess(["--config", str(config)])
    try:
        assert any(f"signing as {KEY_1}" in line for line in edge.lines)
        status, answer = get(pki, edge, "/from-config")
        assert status == 200, answer
    finally:
        edge.stop()
