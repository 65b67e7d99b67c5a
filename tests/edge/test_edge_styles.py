"""The header encoders, checked against independent decoders (http-sf, urllib, cryptography)."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import unquote

import http_sf
import pytest
from cryptography import x509

from originverify.edge import styles
from originverify.edge.styles import ClientCertificates, Style
from tests.edge.edgekit import Cert, Pki, make_cert, pem_blocks


def certs_of(leaf: Cert) -> ClientCertificates:
    chain = leaf.chain()
    return ClientCertificates(chain[0].der, tuple(c.der for c in chain[1:]))


def as_dict(headers: list[tuple[str, str]]) -> dict[str, str]:
    names = [n.lower() for n, _ in headers]
    assert len(names) == len(set(names)), "a style must not emit a header twice"
    return {n: v for n, v in headers}


def test_cloudfront_passthrough_headers_decode_to_the_presented_der(pki: Pki) -> None:
    leaf, inter = pki.client.chain()
    h = as_dict(styles.encode(Style.CLOUDFRONT_PASSTHROUGH, certs_of(pki.client)))

    assert http_sf.parse(h["Client-Cert"].encode(), tltype="item") == (leaf.der, {})
    assert http_sf.parse(h["Client-Cert-Chain"].encode(), tltype="list") == [(inter.der, {})]
    assert re.fullmatch(r":[A-Za-z0-9+/]+=*:", h["Client-Cert"])  # standard alphabet, no spaces
    assert h["CloudFront-Viewer-Cert-Present"] == "1"
    assert h["CloudFront-Viewer-Cert-Sha256"] == hashlib.sha256(leaf.der).hexdigest()
    assert h["CloudFront-Viewer-Cert-Serial-Number"] == "8b:ad:f0:0d:00:00:00:01"
    assert h["CloudFront-Viewer-Cert-Issuer"] == "CN=Client Issuing CA,O=originverify tests"
    # RFC 4514 escaping of the specials, and the non-ASCII letter as UTF-8 hexpairs.
    assert h["CloudFront-Viewer-Cert-Subject"] == (
        'CN=client\\+one,O=Zo\\c3\\ab & Co\\, \\"Edge\\",C=US'
    )
    assert "CloudFront-Viewer-Cert-Pem" not in h


def test_long_chain_keeps_tls_order(pki: Pki) -> None:
    chain = pki.long_chain.chain()
    h = as_dict(styles.encode(Style.CLOUDFRONT_PASSTHROUGH, certs_of(pki.long_chain)))
    members = http_sf.parse(h["Client-Cert-Chain"].encode(), tltype="list")
    assert [der for der, _ in members] == [c.der for c in chain[1:]]
    assert len(members) == 4


def test_single_certificate_omits_the_chain_header(pki: Pki) -> None:
    h = as_dict(styles.encode(Style.CLOUDFRONT_PASSTHROUGH, certs_of(pki.self_signed)))
    assert "Client-Cert-Chain" not in h
    assert http_sf.parse(h["Client-Cert"].encode(), tltype="item")[0] == pki.self_signed.der


@pytest.mark.parametrize("style", list(Style))
def test_without_certificate(style: Style) -> None:
    expected = {
        Style.CLOUDFRONT_PASSTHROUGH: [("CloudFront-Viewer-Cert-Present", "0")],
        Style.CLOUDFRONT_VIEWER: [("CloudFront-Viewer-Cert-Present", "0")],
        Style.CLOUDFRONT_FUNCTION: [("CloudFront-Viewer-Cert-Present", "0")],
        Style.XFCC: [],
        Style.ALB: [],
    }[style]
    assert styles.encode(style, None) == expected


def test_cloudfront_viewer_headers(pki: Pki) -> None:
    leaf = pki.client
    h = as_dict(styles.encode(Style.CLOUDFRONT_VIEWER, certs_of(leaf)))
    pem = h["CloudFront-Viewer-Cert-Pem"]
    # Everything but unreserved characters is percent-encoded (space %20, LF %0A).
    assert re.fullmatch(r"(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})+", pem)
    assert pem.startswith("-----BEGIN%20CERTIFICATE-----%0A")
    assert pem.endswith("%0A-----END%20CERTIFICATE-----%0A")
    assert unquote(pem) == leaf.pem.decode()
    assert h["CloudFront-Viewer-Cert-Sha256"] == hashlib.sha256(leaf.der).hexdigest()
    nb = leaf.cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    na = leaf.cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert h["CloudFront-Viewer-Cert-Validity"] == f"NotBefore={nb};NotAfter={na}"
    assert "Client-Cert" not in h


def test_alb_passthrough_concatenates_the_whole_chain(pki: Pki) -> None:
    chain = pki.long_chain.chain()
    (name, value), *rest = styles.encode(Style.ALB, certs_of(pki.long_chain))
    assert name == "X-Amzn-Mtls-Clientcert"
    assert not rest
    assert pem_blocks(unquote(value)) == [c.der for c in chain]
    # ALB leaves "+", "=" and "/" unencoded; everything else outside unreserved is escaped.
    assert re.fullmatch(r"(?:[A-Za-z0-9\-._~+=/]|%[0-9A-F]{2})+", value)
    assert " " not in value
    assert "\n" not in value


def _xfcc_pairs(value: str) -> list[tuple[str, str]]:
    """A strict XFCC element parser for the test: quoted values honour backslash escapes."""
    pairs = []
    i = 0
    while i < len(value):
        key, _, _rest = value[i:].partition("=")
        i += len(key) + 1
        if value[i : i + 1] == '"':
            j = i + 1
            out = []
            while value[j] != '"':
                if value[j] == "\\":
                    j += 1
                out.append(value[j])
                j += 1
            pairs.append((key, "".join(out)))
            i = j + 1
        else:
            end = value.find(";", i)
            end = len(value) if end == -1 else end
            pairs.append((key, value[i:end]))
            i = end
        assert value[i : i + 1] in (";", "")
        i += 1
    return pairs


def test_xfcc_element(pki: Pki) -> None:
    leaf, inter = pki.client.chain()
    (name, value), *rest = styles.encode(Style.XFCC, certs_of(pki.client))
    assert name.lower() == "x-forwarded-client-cert"
    assert not rest
    pairs = _xfcc_pairs(value)
    keys = [k for k, _ in pairs]
    assert keys == ["Hash", "Cert", "Chain", "Subject", "URI", "DNS", "DNS"]
    d = dict(pairs)
    assert d["Hash"] == hashlib.sha256(leaf.der).hexdigest()
    assert pem_blocks(unquote(d["Cert"])) == [leaf.der]
    assert pem_blocks(unquote(d["Chain"])) == [leaf.der, inter.der]
    assert d["Subject"] == leaf.cert.subject.rfc4514_string().replace("ë", "\\c3\\ab")
    assert d["URI"] == "spiffe://example.org/ns/edge/sa/client"
    assert [v for k, v in pairs if k == "DNS"] == ["client.example", "alt.example"]


def test_xfcc_without_sans(pki: Pki) -> None:
    (_, value), *_ = styles.encode(Style.XFCC, certs_of(pki.self_signed))
    pairs = _xfcc_pairs(value)
    assert ("URI", "") in pairs
    assert not [k for k, _ in pairs if k == "DNS"]


def test_serial_number_forms() -> None:
    def serial_of(n: int) -> str:
        cert = make_cert(x509.Name([]), None, ca=False, serial=n)
        return styles.serial_colon_hex(cert.cert)

    assert serial_of(1) == "01"
    assert serial_of(0x4A3F5C92D1E87B6C) == "4a:3f:5c:92:d1:e8:7b:6c"
    assert serial_of(0x80) == "80"  # magnitude bytes, no DER sign padding


def test_control_characters_never_reach_a_header(pki: Pki) -> None:
    evil = make_cert(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "a\r\nInjected: 1\x00")]),
        None,
        ca=False,
        sans=[x509.DNSName("x\ty.example")],
    )
    for style in Style:
        for name, value in styles.encode(style, certs_of(evil)):
            assert re.fullmatch(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?", value), (style, name)


# What each style writes for a client that sent a leaf and an intermediate, in order, with
# where the list comes from (shared/reference/header-formats.md, summarised in docs/edge.md).
DOCUMENTED_NAMES = {
    # AWS viewer-mTLS header table: Client-Cert(-Chain) and the five metadata headers in
    # every mode, -Validity on origin requests in every mode, -Pem only in required/optional.
    Style.CLOUDFRONT_PASSTHROUGH: [
        "Client-Cert",
        "Client-Cert-Chain",
        "CloudFront-Viewer-Cert-Present",
        "CloudFront-Viewer-Cert-Sha256",
        "CloudFront-Viewer-Cert-Serial-Number",
        "CloudFront-Viewer-Cert-Subject",
        "CloudFront-Viewer-Cert-Issuer",
        "CloudFront-Viewer-Cert-Validity",
    ],
    Style.CLOUDFRONT_VIEWER: [
        "CloudFront-Viewer-Cert-Pem",
        "CloudFront-Viewer-Cert-Present",
        "CloudFront-Viewer-Cert-Sha256",
        "CloudFront-Viewer-Cert-Serial-Number",
        "CloudFront-Viewer-Cert-Subject",
        "CloudFront-Viewer-Cert-Issuer",
        "CloudFront-Viewer-Cert-Validity",
    ],
    # Envoy SANITIZE_SET: one element, replacing any incoming value.
    Style.XFCC: ["x-forwarded-client-cert"],
    # ALB mTLS passthrough: one header; the -Leaf/-Serial-Number/... family is verify mode only.
    Style.ALB: ["X-Amzn-Mtls-Clientcert"],
}


@pytest.mark.parametrize("style", list(DOCUMENTED_NAMES), ids=lambda s: s.value)
def test_each_style_writes_exactly_the_documented_headers(pki: Pki, style: Style) -> None:
    names = [name for name, _ in styles.encode(style, certs_of(pki.client))]
    assert names == DOCUMENTED_NAMES[style]
