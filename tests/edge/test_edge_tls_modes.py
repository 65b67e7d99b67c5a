"""The three handshake modes, seen by real TLS clients (openssl s_client, curl, Python ssl)."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time

import pytest

from tests.edge.conftest import StartEdge
from tests.edge.edgekit import (
    EdgeProcess,
    Pki,
    client_context,
    curl,
    echo,
    only,
    require_binary,
    tls_connection,
)


@pytest.fixture(scope="module")
def required(pki: Pki, start_edge: StartEdge) -> EdgeProcess:
    return start_edge("--mode", "required", "--client-ca", pki.path("client-ca.pem"))


@pytest.fixture(scope="module")
def optional(pki: Pki, start_edge: StartEdge) -> EdgeProcess:
    return start_edge("--mode", "optional", "--client-ca", pki.path("client-ca.pem"))


def s_client(
    pki: Pki, edge: EdgeProcess, identity: str | None, *extra: str
) -> subprocess.CompletedProcess[str]:
    exe = require_binary("openssl", "openssl")
    cmd = [
        exe,
        "s_client",
        "-connect",
        f"127.0.0.1:{edge.port}",
        "-CAfile",
        pki.path("server-ca.pem"),
        "-quiet",
        *extra,
    ]
    if identity:
        chain = pki.path(f"{identity}.pem")  # -cert sends only the leaf; -cert_chain adds the rest
        cmd += ["-cert", chain, "-cert_chain", chain, "-key", pki.path(f"{identity}.key")]
    request = "GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    return subprocess.run(
        cmd, input=request, capture_output=True, text=True, timeout=20, check=False
    )


def python_get(pki: Pki, edge: EdgeProcess, identity: str | None) -> bytes:
    ctx = client_context(pki, identity)
    with tls_connection(edge.port, ctx) as tls:
        tls.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
        return data


@pytest.mark.parametrize("tls", ["-tls1_3", "-tls1_2"])
def test_required_rejects_an_unknown_ca_at_the_handshake(
    pki: Pki, required: EdgeProcess, tls: str
) -> None:
    result = s_client(pki, required, "stranger", tls)
    assert "HTTP/1.1" not in result.stdout
    assert "unknown ca" in result.stderr.lower(), result.stderr
    # and the valid client passes
    ok = s_client(pki, required, "client", tls)
    assert ok.stdout.startswith("HTTP/1.1 200"), ok.stderr


def test_required_rejects_a_missing_certificate(pki: Pki, required: EdgeProcess) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)) as err:
        python_get(pki, required, None)
    assert "CERTIFICATE_REQUIRED" in str(err.value).upper() or isinstance(
        err.value, ConnectionError
    )
    result = curl(pki, required.url + "/echo", identity=None)
    assert result.returncode != 0
    assert result.stdout == ""


def test_required_rejects_a_self_signed_certificate(pki: Pki, required: EdgeProcess) -> None:
    with pytest.raises(ssl.SSLError):
        python_get(pki, required, "selfsigned")


def test_required_forwards_the_validated_certificate(pki: Pki, required: EdgeProcess) -> None:
    got = echo(pki, required)
    assert only(got, "CloudFront-Viewer-Cert-Present") == "1"


def test_optional_allows_no_certificate(pki: Pki, optional: EdgeProcess) -> None:
    got = echo(pki, optional, identity=None)
    assert only(got, "CloudFront-Viewer-Cert-Present") == "0"


def test_optional_still_rejects_an_invalid_certificate(pki: Pki, optional: EdgeProcess) -> None:
    result = s_client(pki, optional, "stranger")
    assert "HTTP/1.1" not in result.stdout
    assert "unknown ca" in result.stderr.lower(), result.stderr
    assert only(echo(pki, optional), "CloudFront-Viewer-Cert-Present") == "1"


def test_passthrough_accepts_an_untrusted_self_signed_certificate(
    pki: Pki, passthrough: EdgeProcess
) -> None:
    data = python_get(pki, passthrough, "selfsigned")
    assert data.startswith(b"HTTP/1.1 200")
    result = s_client(pki, passthrough, "stranger")
    assert result.stdout.startswith("HTTP/1.1 200"), result.stderr


def test_silent_client_is_dropped_after_the_handshake_timeout(passthrough: EdgeProcess) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", passthrough.port), timeout=10) as sock:
        assert sock.recv(1024) == b""  # closed by the forwarder, no bytes
    assert 1.5 < time.monotonic() - started < 6


def test_plain_http_on_the_tls_port_is_refused(passthrough: EdgeProcess) -> None:
    with socket.create_connection(("127.0.0.1", passthrough.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = sock.recv(1024)
    assert not data.startswith(b"HTTP/")
