"""Header hygiene rules, table-driven (the end-to-end tests repeat the key cases over TLS)."""

from __future__ import annotations

import pytest

from originverify.edge.config import UnderscorePolicy
from originverify.edge.hygiene import (
    HeaderPolicy,
    RejectedRequest,
    edge_headers,
    forwarded_node,
    sanitize_request,
    sanitize_response,
)

POLICY = HeaderPolicy.for_edge("X-Origin-Verify", UnderscorePolicy.REJECT)
DROP = HeaderPolicy.for_edge("X-Origin-Verify", UnderscorePolicy.DROP)


def names(headers: list[tuple[bytes, bytes]]) -> list[bytes]:
    return [n.lower() for n, _ in headers]


FORGED = [
    b"Client-Cert",
    b"client-cert-chain",
    b"CLIENT-CERT",
    b"CloudFront-Viewer-Cert-Pem",
    b"cloudfront-viewer-cert-sha256",
    b"CloudFront-Viewer-Cert-Something-New",
    b"X-Forwarded-Client-Cert",
    b"X-Amzn-Mtls-Clientcert",
    b"x-amzn-mtls-clientcert-leaf",
    b"X-Origin-Verify",
    b"x-origin-verify",
    b"X-Forwarded-Proto",
]


@pytest.mark.parametrize("name", FORGED)
def test_forged_edge_headers_are_removed(name: bytes) -> None:
    out = sanitize_request([(b"Host", b"a"), (name, b"forged"), (b"Accept", b"*/*")], POLICY)
    assert out.headers == [(b"Host", b"a"), (b"Accept", b"*/*")]


UNDERSCORE = [
    b"Client_Cert",
    b"client_cert_chain",
    b"CloudFront_Viewer_Cert_Sha256",
    b"X_Forwarded_Client_Cert",
    b"X-Amzn_Mtls-Clientcert",
    b"X_Origin_Verify",
    b"X_Forwarded_For",
    b"X_Forwarded_Proto",
    b"x_forwarded_host",
    b"Forwarded_",  # folds to "forwarded-", not protected: must pass (see below)
]


@pytest.mark.parametrize("name", UNDERSCORE[:-1])
def test_underscore_aliases_are_rejected_by_default(name: bytes) -> None:
    with pytest.raises(RejectedRequest) as err:
        sanitize_request([(b"Host", b"a"), (name, b"x")], POLICY)
    assert err.value.status == 400


@pytest.mark.parametrize("name", UNDERSCORE[:-1])
def test_underscore_aliases_can_be_dropped_instead(name: bytes) -> None:
    out = sanitize_request([(b"Host", b"a"), (name, b"x")], DROP)
    assert names(out.headers) == [b"host"]


def test_unprotected_underscore_names_pass() -> None:
    headers = [(b"Host", b"a"), (b"My_Header", b"1"), (b"Forwarded_", b"2")]
    assert sanitize_request(headers, POLICY).headers == headers


@pytest.mark.parametrize(
    "connection",
    [
        b"Client-Cert",
        b"close, client-cert-chain",
        b"keep-alive, X-Forwarded-For",
        b"x-origin-verify",
        b"Client_Cert",
        b"CloudFront-Viewer-Cert-Present",
        b"X-Forwarded-Host",
    ],
)
def test_connection_naming_a_protected_header_is_rejected(connection: bytes) -> None:
    with pytest.raises(RejectedRequest) as err:
        sanitize_request([(b"Host", b"a"), (b"Connection", connection)], POLICY)
    assert err.value.status == 400


def test_hop_by_hop_and_connection_named_headers_are_removed() -> None:
    headers = [
        (b"Host", b"a"),
        (b"Connection", b"keep-alive, X-Private"),
        (b"Keep-Alive", b"timeout=5"),
        (b"TE", b"trailers"),
        (b"Trailer", b"X-Sum"),
        (b"Upgrade", b"websocket"),
        (b"Proxy-Authorization", b"Basic eA=="),
        (b"Proxy-Connection", b"keep-alive"),
        (b"Transfer-Encoding", b"chunked"),
        (b"X-Private", b"1"),
        (b"Expect", b"100-continue"),
        (b"Accept", b"*/*"),
    ]
    assert sanitize_request(headers, POLICY).headers == [(b"Host", b"a"), (b"Accept", b"*/*")]


def test_edge_headers_come_last_and_append_to_forwarding_chains() -> None:
    client = [
        (b"Host", b"a"),
        (b"X-Forwarded-For", b"203.0.113.9"),
        (b"Forwarded", b"for=203.0.113.9"),
        (b"Client-Cert", b":Zm9yZ2Vk:"),
        (b"X-Origin-Verify", b"guess"),
    ]
    sanitized = sanitize_request(client, POLICY)
    cert = [(b"Client-Cert", b":AAAA:")]
    out = edge_headers(sanitized, "192.0.2.7", (b"X-Origin-Verify", b"real-secret"), cert)
    assert out == [
        (b"Host", b"a"),
        (b"X-Forwarded-For", b"203.0.113.9, 192.0.2.7"),
        (b"X-Forwarded-Proto", b"https"),
        (b"Forwarded", b"for=203.0.113.9, for=192.0.2.7;proto=https"),
        (b"X-Origin-Verify", b"real-secret"),
        (b"Client-Cert", b":AAAA:"),
    ]


def test_forwarded_quotes_ipv6() -> None:
    assert forwarded_node("2001:db8::1") == b'"[2001:db8::1]"'
    assert forwarded_node("192.0.2.1") == b"192.0.2.1"


def test_response_hop_by_hop_headers_are_removed() -> None:
    headers = [
        (b"Content-Type", b"text/plain"),
        (b"Connection", b"X-Internal"),
        (b"X-Internal", b"1"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Keep-Alive", b"timeout=5"),
        (b"Set-Cookie", b"a=b"),
    ]
    assert sanitize_response(headers) == [(b"Content-Type", b"text/plain"), (b"Set-Cookie", b"a=b")]
