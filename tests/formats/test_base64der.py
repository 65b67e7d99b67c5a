"""Bare base64 DER: Traefik (comma list + Info), HAProxy (leaf + concatenated chain), Azure
App Service, Cloudflare Access, Caddy."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from originverify.errors import Reason, VerificationError
from originverify.formats import (
    AZURE_APP_SERVICE,
    CADDY,
    CLOUDFLARE_ACCESS,
    HAPROXY,
    TRAEFIK,
    CertificateFormat,
    ForwardedCertificate,
    Limits,
    azure_app_service,
    caddy,
    cloudflare_access,
    haproxy,
    traefik,
)
from originverify.formats.encodings import split_der
from originverify.headers import WSGIHeaders
from tests.formats.edgewire import (
    b64,
    client,
    headers,
    nginx_escaped,
    rsa_client,
    sf_binary,
    traefik_info,
    traefik_list,
)

LIMITS = Limits()
TRAEFIK_H = "X-Forwarded-Tls-Client-Cert"
INFO_H = "X-Forwarded-Tls-Client-Cert-Info"


def _decode(
    fmt: CertificateFormat, *pairs: tuple[str, str], limits: Limits = LIMITS
) -> ForwardedCertificate:
    return fmt.decode(headers(*pairs), limits)


def _reason(fmt: CertificateFormat, *pairs: tuple[str, str], limits: Limits = LIMITS) -> Reason:
    with pytest.raises(VerificationError) as info:
        fmt.decode(headers(*pairs), limits)
    return info.value.reason


# -- Traefik ---------------------------------------------------------------------------------


def test_traefik_golden_leaf_first_chain() -> None:
    c = client()
    value = traefik_list([c.leaf, *c.chain])
    assert value.count(",") == 2
    got = _decode(TRAEFIK, (TRAEFIK_H, value))
    assert got.leaf == c.leaf
    assert got.chain == c.chain


def test_traefik_info_claims() -> None:
    c = client()
    cert = c.issued.cert
    info = traefik_info(
        [
            [
                ("Subject", "O=originverify test,CN=wire client"),
                ("Issuer", "CN=wire issuing intermediate"),
                ("SerialNumber", str(c.serial)),
                ("NB", str(int(cert.not_valid_before_utc.timestamp()))),
                ("NA", str(int(cert.not_valid_after_utc.timestamp()))),
                ("SAN", "client.test,spiffe://example.org/client"),
            ],
            [("Subject", "CN=wire issuing intermediate"), ("SerialNumber", "12345")],
        ]
    )
    assert "+" in info  # QueryEscape writes spaces as '+'
    got = _decode(TRAEFIK, (TRAEFIK_H, traefik_list([c.leaf, *c.chain])), (INFO_H, info))
    assert got.claims.serial == c.serial  # the leaf's element, not the intermediate's
    assert got.claims.not_before == cert.not_valid_before_utc
    assert got.claims.not_after == cert.not_valid_after_utc
    assert got.claims.unverified_subject is None  # Traefik's DN order is not RFC 2253: raw only
    assert got.claims.raw == ((INFO_H, info),)


def test_traefik_info_reference_example() -> None:
    text = (
        'Subject="DC=org,DC=cheese,C=FR,O=Cheese,CN=*.example.com";Issuer="CN=Simple Signing CA 2";'
        'NB="1544094616";NA="1607166616";SAN="*.example.org,10.0.1.0"'
    )
    got = _decode(TRAEFIK, (INFO_H, quote(text, safe="").replace("%20", "+")))
    assert got.claims.not_before == datetime(2018, 12, 6, 11, 10, 16, tzinfo=UTC)
    assert got.claims.serial is None


@pytest.mark.parametrize(
    "info",
    [
        quote('Subject="a";Foo="b"', safe=""),
        quote('Subject="a";Subject="b"', safe=""),
        quote('SerialNumber="0x10"', safe=""),
        quote('NB="-5"', safe=""),
        quote('Subject="unterminated', safe=""),
        'Subject="raw-unescaped"',
        "%ZZ",
    ],
)
def test_traefik_info_malformed(info: str) -> None:
    assert _reason(TRAEFIK, (INFO_H, info)) is Reason.MALFORMED_HEADER


def test_traefik_escaped_legacy() -> None:
    c = rsa_client()
    legacy = quote(traefik_list([c.leaf]), safe="")
    assert "%2B" in legacy or "%2F" in legacy
    with pytest.raises(VerificationError) as info:
        _decode(TRAEFIK, (TRAEFIK_H, legacy))
    assert "2.9.4" in info.value.detail
    assert _decode(traefik(escaped=True), (TRAEFIK_H, legacy)).leaf == c.leaf


def test_traefik_chain_limits_counted_before_decoding() -> None:
    c = client()
    value = traefik_list([c.leaf, *c.chain, c.root]) + ",!!!"
    assert _reason(TRAEFIK, (TRAEFIK_H, value), limits=Limits(max_chain_certs=2)) is (
        Reason.CHAIN_TOO_LONG
    )


def test_traefik_wsgi_joined_duplicate_is_indistinguishable_from_a_chain() -> None:
    """Documented limit: under WSGI a second field line looks like extra chain members.

    They stay untrusted intermediates; the leaf is still the first value Traefik set.
    """
    c = client()
    environ = {"HTTP_X_FORWARDED_TLS_CLIENT_CERT": f"{b64(c.leaf)},{b64(c.chain[0])}"}
    got = TRAEFIK.decode(WSGIHeaders(environ), LIMITS)
    assert got.leaf == c.leaf
    assert got.chain == c.chain[:1]


# -- HAProxy ---------------------------------------------------------------------------------


def test_haproxy_golden() -> None:
    c = client()
    got = _decode(
        HAPROXY,
        ("X-SSL-Client-Cert", b64(c.leaf)),
        ("X-SSL-Client-Chain", b64(b"".join(c.chain))),
        ("X-SSL-Client-Verify", "0"),
        ("X-SSL-Client-SHA256", hashlib.sha256(c.leaf).hexdigest().upper()),
        ("X-SSL-Client-Serial", f"{c.serial:X}"),
    )
    assert got.leaf == c.leaf
    assert got.chain == c.chain
    assert got.claims.verified is True
    assert got.claims.sha256 == c.sha256
    assert got.claims.serial == c.serial


def test_haproxy_missing_samples_are_dashes() -> None:
    c = client()
    got = _decode(HAPROXY, ("X-SSL-Client-Cert", b64(c.leaf)), ("X-SSL-Client-Chain", "-"))
    assert (got.leaf, got.chain) == (c.leaf, ())
    got = _decode(HAPROXY, ("X-SSL-Client-Cert", "-"), ("X-SSL-Client-SHA256", "-"))
    assert got.leaf is None
    assert not got.claims


def test_haproxy_verify_codes() -> None:
    got = _decode(HAPROXY, ("X-SSL-Client-Cert", b64(client().leaf)), ("X-SSL-Client-Verify", "20"))
    assert got.claims.verified is False
    assert _reason(HAPROXY, ("X-SSL-Client-Verify", "X509_V_OK")) is Reason.MALFORMED_HEADER


def test_haproxy_chain_without_leaf() -> None:
    c = client()
    assert _reason(HAPROXY, ("X-SSL-Client-Chain", b64(c.chain[0]))) is Reason.CHAIN_WITHOUT_LEAF


@pytest.mark.parametrize(
    ("blob", "what"),
    [
        (b"\x31\x03abc", "not a SEQUENCE"),
        (b"\x30\x05abc", "truncated"),
        (b"\x30\x81\x05abcde", "non-minimal length"),
        (b"\x30\x80abc\x00\x00", "indefinite length"),
        (b"\x30\x84\x00\x00\x00\x05abcde", "4-octet length"),
        (b"\x30\x03abc\x00", "trailing byte"),
    ],
)
def test_split_der_refuses(blob: bytes, what: str) -> None:
    c = client()
    with pytest.raises(VerificationError) as info:
        _decode(HAPROXY, ("X-SSL-Client-Cert", b64(c.leaf)), ("X-SSL-Client-Chain", b64(blob)))
    assert info.value.reason is Reason.MALFORMED_HEADER, what


def test_split_der_count_limit() -> None:
    one = b"\x30\x01\x00"
    assert split_der(one * 3, "x", 3) == [one] * 3
    with pytest.raises(VerificationError) as info:
        split_der(one * 4, "x", 3)
    assert info.value.reason is Reason.CHAIN_TOO_LONG
    big = b"\x30\x82\x01\x00" + bytes(256)
    assert split_der(big, "x", 1) == [big]


# -- single-certificate presets --------------------------------------------------------------

SINGLE = [
    (AZURE_APP_SERVICE, "X-ARR-ClientCert"),
    (CLOUDFLARE_ACCESS, "Cf-Client-Cert-Der-Base64"),
    (CADDY, "X-Client-Cert"),
    (HAPROXY, "X-SSL-Client-Cert"),
]
SINGLE_IDS = [f.name for f, _ in SINGLE]


@pytest.mark.parametrize(("fmt", "header"), SINGLE, ids=SINGLE_IDS)
def test_single_golden_and_missing(fmt: CertificateFormat, header: str) -> None:
    c = rsa_client()
    got = _decode(fmt, (header, b64(c.leaf)))
    assert (got.leaf, got.chain) == (c.leaf, ())
    assert _decode(fmt).leaf is None


def _single_malformed() -> list[tuple[str, str, Reason]]:
    c = client()
    good = b64(c.leaf)
    return [
        # A cut that is still valid base64 reaches the verifier's DER parser instead.
        ("truncated", good[:-3], Reason.MALFORMED_HEADER),
        ("extra-member", f"{good},{good}", Reason.MALFORMED_HEADER),
        ("whitespace", good[:10] + " " + good[10:], Reason.MALFORMED_HEADER),
        ("base64url", good.replace("+", "-").replace("/", "_") + "-_", Reason.MALFORMED_HEADER),
        ("pem", "-----BEGIN CERTIFICATE-----" + good, Reason.MALFORMED_HEADER),
        ("url-pem", nginx_escaped(c.leaf), Reason.MALFORMED_HEADER),
        ("rfc9440", sf_binary(c.leaf), Reason.MALFORMED_HEADER),
        ("percent-escaped", quote(good, safe=""), Reason.MALFORMED_HEADER),
        ("data-after-padding", good + "=AAAA", Reason.MALFORMED_HEADER),
        ("non-ascii", good[:-1] + "é", Reason.MALFORMED_HEADER),
    ]


@pytest.mark.parametrize(("fmt", "header"), SINGLE, ids=SINGLE_IDS)
@pytest.mark.parametrize(
    ("value", "reason"),
    [m[1:] for m in _single_malformed()],
    ids=[m[0] for m in _single_malformed()],
)
def test_single_malformed(fmt: CertificateFormat, header: str, value: str, reason: Reason) -> None:
    assert _reason(fmt, (header, value)) is reason


@pytest.mark.parametrize(("fmt", "header"), SINGLE, ids=SINGLE_IDS)
def test_single_duplicate_joined_and_oversize(fmt: CertificateFormat, header: str) -> None:
    value = b64(client().leaf)
    assert _reason(fmt, (header, value), (header, value)) is Reason.DUPLICATE_HEADER
    key = "HTTP_" + header.upper().replace("-", "_")
    with pytest.raises(VerificationError) as info:
        fmt.decode(WSGIHeaders({key: f"{value},{value}"}), LIMITS)
    assert info.value.reason is Reason.MALFORMED_HEADER
    assert _reason(fmt, (header, value), limits=Limits(max_leaf_bytes=64)) is (
        Reason.HEADER_TOO_LARGE
    )


def test_wrong_encoding_hints() -> None:
    c = client()
    with pytest.raises(VerificationError) as info:
        _decode(AZURE_APP_SERVICE, ("X-ARR-ClientCert", sf_binary(c.leaf)))
    assert "rfc9440" in info.value.detail
    with pytest.raises(VerificationError) as info:
        _decode(AZURE_APP_SERVICE, ("X-ARR-ClientCert", nginx_escaped(c.leaf)))
    assert "URL-encoded PEM" in info.value.detail


# -- Cloudflare Access and Caddy claims -------------------------------------------------------


@pytest.mark.parametrize(
    "fingerprint",
    [
        lambda d: hashlib.sha256(d).hexdigest(),
        lambda d: hashlib.sha256(d).hexdigest().upper(),
        lambda d: base64.b64encode(hashlib.sha256(d).digest()).decode(),
    ],
    ids=["hex", "HEX", "base64"],
)
def test_cloudflare_access_fingerprint_spellings(fingerprint: Callable[[bytes], str]) -> None:
    c = client()
    got = _decode(
        CLOUDFLARE_ACCESS,
        ("Cf-Client-Cert-Der-Base64", b64(c.leaf)),
        ("Cf-Client-Cert-Sha256", fingerprint(c.leaf)),
    )
    assert got.claims.sha256 == c.sha256
    bad = ("Cf-Client-Cert-Sha256", "ab" * 20)
    assert _reason(CLOUDFLARE_ACCESS, bad) is Reason.MALFORMED_HEADER


def test_caddy_unreplaced_placeholder_means_no_certificate() -> None:
    got = _decode(
        CADDY,
        ("X-Client-Cert", "{http.request.tls.client.certificate_der_base64}"),
        ("X-Client-Cert-Sha256", "{http.request.tls.client.fingerprint}"),
    )
    assert got.leaf is None
    assert not got.claims
    assert _decode(CADDY, ("X-Client-Cert", "")).leaf is None
    # Only Caddy's own placeholder text counts as absent.
    assert _reason(CADDY, ("X-Client-Cert", "{http.request.tls.client.certificate_pem}")) is (
        Reason.MALFORMED_HEADER
    )


def test_caddy_fingerprint_claim() -> None:
    c = client()
    got = _decode(
        CADDY,
        ("X-Client-Cert", b64(c.leaf)),
        ("X-Client-Cert-Sha256", hashlib.sha256(c.leaf).hexdigest()),
    )
    assert got.claims.sha256 == c.sha256


def test_factories_rename() -> None:
    c = client()
    assert azure_app_service(cert="X-Client").header_names == ("X-Client",)
    assert cloudflare_access(sha256="X-Fp").header_names == ("Cf-Client-Cert-Der-Base64", "X-Fp")
    assert caddy(cert="X-Mtls").header_names[0] == "X-Mtls"
    fmt = haproxy(cert="X-Cert", chain="X-Chain", verify="X-Verify")
    got = fmt.decode(
        headers(("X-Cert", b64(c.leaf)), ("X-Chain", b64(b"".join(c.chain))), ("X-Verify", "0")),
        LIMITS,
    )
    assert got.chain == c.chain
    assert got.claims.verified is True
    assert traefik(cert="X-Tls-Cert").header_names == ("X-Tls-Cert", INFO_H)
    with pytest.raises(ValueError, match="unknown header key"):
        haproxy(subject="X-Subject")
