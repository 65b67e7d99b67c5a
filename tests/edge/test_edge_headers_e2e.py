"""What the origin receives, over real TLS from curl and Python clients, for every style."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import unquote

import http_sf
import pytest

from tests.edge.conftest import StartEdge
from tests.edge.edgekit import (
    EDGE_SECRET,
    EdgeProcess,
    Pki,
    client_context,
    echo,
    only,
    pem_blocks,
    raw_request,
    tls_connection,
    url_pem,
    values,
)

CERT_HEADER_PREFIXES = (
    "client-cert",
    "cloudfront-viewer-cert",
    "x-forwarded-client-cert",
    "x-amzn-mtls",
)


def cert_headers(payload: dict[str, object]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in payload["headers"]:  # type: ignore[attr-defined]
        if name.lower().startswith(CERT_HEADER_PREFIXES):
            assert name.lower() not in found, f"duplicate {name}"
            found[name.lower()] = value
    return found


def test_cloudfront_passthrough_headers(pki: Pki, passthrough: EdgeProcess) -> None:
    leaf, inter = pki.client.chain()
    got = echo(pki, passthrough)
    h = cert_headers(got)
    assert set(h) == {
        "client-cert",
        "client-cert-chain",
        "cloudfront-viewer-cert-present",
        "cloudfront-viewer-cert-sha256",
        "cloudfront-viewer-cert-serial-number",
        "cloudfront-viewer-cert-subject",
        "cloudfront-viewer-cert-issuer",
        "cloudfront-viewer-cert-validity",
    }
    assert http_sf.parse(h["client-cert"].encode(), tltype="item") == (leaf.der, {})
    assert http_sf.parse(h["client-cert-chain"].encode(), tltype="list") == [(inter.der, {})]
    assert h["cloudfront-viewer-cert-present"] == "1"
    assert h["cloudfront-viewer-cert-sha256"] == hashlib.sha256(leaf.der).hexdigest()
    assert h["cloudfront-viewer-cert-serial-number"] == "8b:ad:f0:0d:00:00:00:01"
    assert h["cloudfront-viewer-cert-issuer"] == "CN=Client Issuing CA,O=originverify tests"
    nb = leaf.cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    na = leaf.cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert h["cloudfront-viewer-cert-validity"] == f"NotBefore={nb};NotAfter={na}"
    assert only(got, "X-Forwarded-Proto") == "https"
    assert only(got, "X-Forwarded-For") == "127.0.0.1"
    assert only(got, "Forwarded") == "for=127.0.0.1;proto=https"


def test_tls12_client_gets_the_same_headers(pki: Pki, passthrough: EdgeProcess) -> None:
    leaf, inter = pki.client.chain()
    got = echo(pki, passthrough, "--tls-max", "1.2")
    h = cert_headers(got)
    assert http_sf.parse(h["client-cert"].encode(), tltype="item")[0] == leaf.der
    assert http_sf.parse(h["client-cert-chain"].encode(), tltype="list")[0][0] == inter.der


def test_untrusted_self_signed_certificate_passes_through(
    pki: Pki, passthrough: EdgeProcess
) -> None:
    h = cert_headers(echo(pki, passthrough, identity="selfsigned"))
    assert http_sf.parse(h["client-cert"].encode(), tltype="item")[0] == pki.self_signed.der
    assert "client-cert-chain" not in h


def test_no_certificate_in_passthrough(pki: Pki, passthrough: EdgeProcess) -> None:
    got = echo(pki, passthrough, identity=None)
    assert cert_headers(got) == {"cloudfront-viewer-cert-present": "0"}


def test_forged_client_cert_is_replaced(pki: Pki, passthrough: EdgeProcess) -> None:
    forged = ":" + "QUJD" * 10 + ":"
    got = echo(
        pki,
        passthrough,
        "-H",
        f"Client-Cert: {forged}",
        "-H",
        f"client-cert-chain: {forged}",
        "-H",
        "CloudFront-Viewer-Cert-Sha256: " + "0" * 64,
        "-H",
        "X-Forwarded-Proto: http",
    )
    assert only(got, "Client-Cert") != forged
    assert http_sf.parse(only(got, "Client-Cert").encode(), tltype="item")[0] == pki.client.der
    assert only(got, "CloudFront-Viewer-Cert-Sha256") == hashlib.sha256(pki.client.der).hexdigest()
    assert only(got, "X-Forwarded-Proto") == "https"


def test_forged_client_cert_without_a_certificate_is_removed(
    pki: Pki, passthrough: EdgeProcess
) -> None:
    got = echo(pki, passthrough, "-H", "Client-Cert: :QUJD:", identity=None)
    assert values(got, "Client-Cert") == []
    assert only(got, "CloudFront-Viewer-Cert-Present") == "0"


def test_edge_secret_is_added_and_a_client_copy_replaced(
    pki: Pki, passthrough: EdgeProcess
) -> None:
    assert only(echo(pki, passthrough), "X-Origin-Verify") == EDGE_SECRET
    got = echo(pki, passthrough, "-H", "X-Origin-Verify: guessed", "-H", "x-origin-verify: again")
    assert only(got, "X-Origin-Verify") == EDGE_SECRET


@pytest.mark.parametrize(
    "name", ["Client_Cert", "client_cert_chain", "X_Origin_Verify", "X_Forwarded_For"]
)
def test_underscore_alias_is_rejected(pki: Pki, passthrough: EdgeProcess, name: str) -> None:
    before = len(passthrough.access_lines())
    result = _status_and_body(pki, passthrough, f"{name}: :QUJD:\r\n")
    assert result.startswith(b"HTTP/1.1 400 ")
    _wait_for_log(passthrough, before + 1)
    assert " 400 " in passthrough.access_lines()[-1]


@pytest.mark.parametrize("tokens", ["Client-Cert", "close, Client-Cert-Chain", "X-Origin-Verify"])
def test_connection_naming_a_protected_header_is_rejected(
    pki: Pki, passthrough: EdgeProcess, tokens: str
) -> None:
    result = _status_and_body(pki, passthrough, f"Connection: {tokens}\r\n")
    assert result.startswith(b"HTTP/1.1 400 ")


def test_underscore_aliases_can_be_dropped(pki: Pki, start_edge: StartEdge) -> None:
    edge = start_edge("--underscore-headers", "drop")
    response = _status_and_body(pki, edge, "Client_Cert: :QUJD:\r\nMy_Header: kept\r\n")
    assert response.startswith(b"HTTP/1.1 200 ")
    got = json.loads(response.split(b"\r\n\r\n", 1)[1])
    names = [k.lower() for k, _ in got["headers"]]
    assert "client_cert" not in names
    assert "my_header" in names
    assert http_sf.parse(only(got, "Client-Cert").encode(), tltype="item")[0] == pki.client.der


def test_large_chain_is_forwarded_in_order(pki: Pki, passthrough: EdgeProcess) -> None:
    chain = pki.long_chain.chain()
    h = cert_headers(echo(pki, passthrough, identity="long"))
    assert http_sf.parse(h["client-cert"].encode(), tltype="item")[0] == chain[0].der
    members = http_sf.parse(h["client-cert-chain"].encode(), tltype="list")
    assert [der for der, _ in members] == [c.der for c in chain[1:]]
    assert len(members) == 4


def test_cloudfront_viewer_style(pki: Pki, start_edge: StartEdge) -> None:
    edge = start_edge(
        "--mode",
        "optional",
        "--client-ca",
        pki.path("client-ca.pem"),
        "--style",
        "cloudfront-viewer",
    )
    leaf = pki.client
    h = cert_headers(echo(pki, edge))
    assert set(h) == {
        "cloudfront-viewer-cert-pem",
        "cloudfront-viewer-cert-present",
        "cloudfront-viewer-cert-sha256",
        "cloudfront-viewer-cert-serial-number",
        "cloudfront-viewer-cert-subject",
        "cloudfront-viewer-cert-issuer",
        "cloudfront-viewer-cert-validity",
    }
    assert h["cloudfront-viewer-cert-pem"].startswith("-----BEGIN%20CERTIFICATE-----%0A")
    assert url_pem(h["cloudfront-viewer-cert-pem"]) == [leaf.der]
    nb = leaf.cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    na = leaf.cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert h["cloudfront-viewer-cert-validity"] == f"NotBefore={nb};NotAfter={na}"
    # optional mode: a client without a certificate is let through with Present: 0
    assert cert_headers(echo(pki, edge, identity=None)) == {"cloudfront-viewer-cert-present": "0"}


def test_xfcc_style_replaces_an_incoming_value(pki: Pki, start_edge: StartEdge) -> None:
    edge = start_edge("--style", "xfcc")
    leaf, inter = pki.client.chain()
    got = echo(
        pki, edge, "-H", "X-Forwarded-Client-Cert: By=spiffe://evil;Hash=00;URI=spiffe://admin"
    )
    value = only(got, "X-Forwarded-Client-Cert")
    assert value.startswith(f'Hash={hashlib.sha256(leaf.der).hexdigest()};Cert="')
    assert "spiffe://evil" not in value
    assert "spiffe://admin" not in value
    cert = value.split('Cert="', 1)[1].split('"', 1)[0]
    chain = value.split('Chain="', 1)[1].split('"', 1)[0]
    assert url_pem(cert) == [leaf.der]
    assert url_pem(chain) == [leaf.der, inter.der]
    assert value.endswith(
        ";URI=spiffe://example.org/ns/edge/sa/client;DNS=client.example;DNS=alt.example"
    )
    # No certificate: the header is removed, as Envoy's SANITIZE_SET does.
    assert (
        values(
            echo(pki, edge, "-H", "X-Forwarded-Client-Cert: Hash=00", identity=None),
            "x-forwarded-client-cert",
        )
        == []
    )


def test_alb_style(pki: Pki, start_edge: StartEdge) -> None:
    edge = start_edge("--style", "alb")
    chain = pki.long_chain.chain()
    got = echo(
        pki,
        edge,
        "-H",
        "X-Amzn-Mtls-Clientcert: forged",
        "-H",
        "X-Amzn-Mtls-Clientcert-Leaf: x",
        identity="long",
    )
    value = only(got, "X-Amzn-Mtls-Clientcert")
    assert pem_blocks(unquote(value)) == [c.der for c in chain]
    assert values(got, "X-Amzn-Mtls-Clientcert-Leaf") == []


def test_session_resumption_keeps_the_chain(pki: Pki, passthrough: EdgeProcess) -> None:
    """A resumed TLS session must still forward Client-Cert-Chain (stateful session cache)."""
    leaf, inter = pki.client.chain()
    ctx = client_context(pki)
    request = b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n"
    session = None
    reused = []
    for _ in range(2):
        with tls_connection(passthrough.port, ctx, session=session) as tls:
            tls.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _content_length(
                data
            ):
                chunk = tls.recv(65536)
                assert chunk
                data += chunk
            reused.append(tls.session_reused)
            session = tls.session
        got = json.loads(data.split(b"\r\n\r\n", 1)[1])
        assert http_sf.parse(only(got, "Client-Cert").encode(), tltype="item")[0] == leaf.der
        assert (
            http_sf.parse(only(got, "Client-Cert-Chain").encode(), tltype="list")[0][0] == inter.der
        )
    assert reused == [False, True]


def _content_length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 1 << 30


def _status_and_body(pki: Pki, edge: EdgeProcess, extra_headers: str) -> bytes:
    request = f"GET /echo HTTP/1.1\r\nHost: localhost\r\n{extra_headers}Connection: close\r\n\r\n"
    if "Connection:" in extra_headers:
        request = f"GET /echo HTTP/1.1\r\nHost: localhost\r\n{extra_headers}\r\n"
    return raw_request(edge.port, client_context(pki), request.encode())


def _wait_for_log(edge: EdgeProcess, count: int) -> None:
    import time

    deadline = time.monotonic() + 5
    while len(edge.access_lines()) < count and time.monotonic() < deadline:
        time.sleep(0.02)
