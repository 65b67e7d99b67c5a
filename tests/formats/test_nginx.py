"""nginx (``$ssl_client_escaped_cert``), its deprecated tab-folded ``$ssl_client_cert``, and
ingress-nginx (``ssl-client-*``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from originverify.errors import Reason, VerificationError
from originverify.formats import (
    INGRESS_NGINX,
    NGINX,
    NGINX_LEGACY,
    CertificateFormat,
    ForwardedCertificate,
    Limits,
    ingress_nginx,
    nginx,
)
from originverify.formats.nginx import openssl_verify
from originverify.headers import WSGIHeaders
from tests.formats.edgewire import (
    client,
    headers,
    nginx_escaped,
    nginx_folded,
    nginx_unfolded,
    pem,
    rsa_client,
)

LIMITS = Limits()
H = "X-SSL-Client-Cert"


def _decode(fmt: CertificateFormat, *pairs: tuple[str, str]) -> ForwardedCertificate:
    return fmt.decode(headers(*pairs), LIMITS)


def _reason(fmt: CertificateFormat, *pairs: tuple[str, str], limits: Limits = LIMITS) -> Reason:
    with pytest.raises(VerificationError) as info:
        fmt.decode(headers(*pairs), limits)
    return info.value.reason


def test_escaped_golden_with_metadata() -> None:
    c = rsa_client()
    cert = c.issued.cert
    value = nginx_escaped(c.leaf)
    # nginx escapes every non-unreserved byte, including the base64 symbols.
    assert "+" not in value
    assert "/" not in value
    assert "%2B" in value or "%2F" in value
    got = _decode(
        NGINX,
        (H, value),
        ("X-SSL-Client-Verify", "SUCCESS"),
        ("X-SSL-Client-S-DN", cert.subject.rfc4514_string()),
        ("X-SSL-Client-I-DN", cert.issuer.rfc4514_string()),
        ("X-SSL-Client-Serial", f"{c.serial:X}"),
        ("X-SSL-Client-V-Start", f"{cert.not_valid_before_utc:%b %e %H:%M:%S %Y GMT}"),
        ("X-SSL-Client-V-End", f"{cert.not_valid_after_utc:%b %e %H:%M:%S %Y GMT}"),
    )
    assert (got.leaf, got.chain) == (c.leaf, ())
    assert got.claims.present is True
    assert got.claims.verified is True
    assert got.claims.serial == c.serial
    assert got.claims.unverified_subject == cert.subject.rfc4514_string()
    assert got.claims.not_before == cert.not_valid_before_utc
    assert got.claims.not_after == cert.not_valid_after_utc


@pytest.mark.parametrize(
    ("verify", "present", "verified"),
    [
        ("SUCCESS", True, True),
        ("FAILED:unable to get local issuer certificate", True, False),
        ("FAILED:certificate has expired", True, False),
        ("FAILED", True, False),
        ("NONE", False, False),
    ],
)
def test_verify_header_is_the_edge_verdict(verify: str, present: bool, verified: bool) -> None:
    got = _decode(NGINX, ("X-SSL-Client-Verify", verify))
    assert got.leaf is None
    assert (got.claims.present, got.claims.verified) == (present, verified)
    assert got.claims.raw == (("X-SSL-Client-Verify", verify),)


@pytest.mark.parametrize("verify", ["success", "OK", "0", "FAILED-x", ""])
def test_unknown_verdict_refused(verify: str) -> None:
    assert _reason(NGINX, ("X-SSL-Client-Verify", verify)) is Reason.MALFORMED_HEADER
    with pytest.raises(ValueError, match="expected"):
        openssl_verify(verify)


def test_openssl_time_single_digit_day_and_locale_free() -> None:
    got = _decode(NGINX, ("X-SSL-Client-V-Start", "Mar  1 13:35:00 2022 GMT"))
    assert got.claims.not_before == datetime(2022, 3, 1, 13, 35, tzinfo=UTC)
    for bad in ("Foo 1 13:35:00 2022 GMT", "Mar 1 13:35 2022 GMT", "2022-03-01T13:35:00Z"):
        assert _reason(NGINX, ("X-SSL-Client-V-End", bad)) is Reason.MALFORMED_HEADER


# -- legacy tab-folded ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [nginx_folded, nginx_unfolded, lambda d: nginx_folded(d).replace("\n", "\r\n")],
    ids=["raw-obs-fold", "unfolded-by-server", "crlf-fold"],
)
def test_legacy_folded_golden(encode: Callable[[bytes], str]) -> None:
    c = rsa_client()
    value = encode(c.leaf)
    got = _decode(NGINX_LEGACY, (H, value))
    assert got.leaf == c.leaf


def test_legacy_refuses_escaped_and_escaped_refuses_legacy() -> None:
    c = client()
    assert _reason(NGINX_LEGACY, (H, nginx_escaped(c.leaf))) is Reason.MALFORMED_HEADER
    with pytest.raises(VerificationError) as info:
        _decode(NGINX, (H, nginx_folded(c.leaf)))
    assert info.value.reason is Reason.MALFORMED_HEADER


# -- ingress-nginx -------------------------------------------------------------------------------


def test_ingress_golden() -> None:
    c = client()
    cert = c.issued.cert
    got = _decode(
        INGRESS_NGINX,
        ("ssl-client-cert", nginx_escaped(c.leaf)),
        ("ssl-client-verify", "SUCCESS"),
        ("ssl-client-subject-dn", cert.subject.rfc4514_string()),
        ("ssl-client-issuer-dn", cert.issuer.rfc4514_string()),
    )
    assert got.leaf == c.leaf
    assert got.claims.verified is True
    assert got.claims.unverified_issuer == cert.issuer.rfc4514_string()


def test_ingress_without_pass_certificate_to_upstream_is_metadata_only() -> None:
    got = _decode(
        INGRESS_NGINX,
        ("ssl-client-verify", "SUCCESS"),
        ("ssl-client-subject-dn", "CN=wire client"),
    )
    assert got.leaf is None
    assert got.claims.present is True
    assert got.claims.unverified_subject == "CN=wire client"


def test_no_certificate() -> None:
    for fmt in (NGINX, NGINX_LEGACY, INGRESS_NGINX):
        got = fmt.decode(headers(), LIMITS)
        assert got.leaf is None
        assert not got.claims


# -- malformed -----------------------------------------------------------------------------------


def _malformed() -> list[tuple[str, str, Reason]]:
    c = client()
    good = nginx_escaped(c.leaf)
    two = good + nginx_escaped(c.leaf)
    return [
        (
            "bad-percent-escape",
            good.replace("%2F", "%2X", 1).replace("%0A", "%0X", 1),
            Reason.MALFORMED_HEADER,
        ),
        ("lone-percent", good + "%", Reason.MALFORMED_HEADER),
        ("truncated-pem", good[: len(good) - 40], Reason.MALFORMED_HEADER),
        ("extra-block", two, Reason.MALFORMED_HEADER),
        ("wrong-marker", good.replace("CERTIFICATE", "X509%20CRL"), Reason.MALFORMED_HEADER),
        ("trailing-garbage", good + "AAAA", Reason.MALFORMED_HEADER),
        ("double-encoded", good.replace("%", "%25"), Reason.MALFORMED_HEADER),
        ("plain-pem", pem(c.leaf), Reason.MALFORMED_HEADER),
        ("empty", "", Reason.MALFORMED_HEADER),
    ]


@pytest.mark.parametrize(
    ("value", "reason"), [m[1:] for m in _malformed()], ids=[m[0] for m in _malformed()]
)
def test_escaped_malformed(value: str, reason: Reason) -> None:
    assert _reason(NGINX, (H, value)) is reason


def test_extra_block_detail() -> None:
    c = client()
    with pytest.raises(VerificationError) as info:
        _decode(NGINX, (H, nginx_escaped(c.leaf) + nginx_escaped(c.leaf)))
    assert "one certificate" in info.value.detail


@pytest.mark.parametrize(
    "value",
    [
        "-----BEGIN CERTIFICATE-----\n\tMIIB\n\t-----END CERTIFICATE-----\n\t"
        "-----BEGIN CERTIFICATE-----\n\tMIIB\n\t-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\n\tMII*\n\t-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\n\tMIIB",
        "-----BEGIN PUBLIC KEY-----\n\tMIIB\n\t-----END PUBLIC KEY-----",
    ],
    ids=["extra-block", "bad-base64", "truncated", "wrong-marker"],
)
def test_legacy_malformed(value: str) -> None:
    assert _reason(NGINX_LEGACY, (H, value)) is Reason.MALFORMED_HEADER


def test_duplicates_and_joined() -> None:
    value = nginx_escaped(client().leaf)
    assert _reason(NGINX, (H, value), (H, value)) is Reason.DUPLICATE_HEADER
    assert _reason(NGINX, ("X-SSL-Client-Verify", "SUCCESS"), ("X-SSL-Client-Verify", "NONE")) is (
        Reason.DUPLICATE_HEADER
    )
    environ = {"HTTP_X_SSL_CLIENT_CERT": f"{value},{value}"}
    with pytest.raises(VerificationError) as info:
        NGINX.decode(WSGIHeaders(environ), LIMITS)
    assert info.value.reason is Reason.MALFORMED_HEADER
    environ = {"HTTP_X_SSL_CLIENT_CERT": f"{value},{value}"}
    with pytest.raises(VerificationError):
        NGINX_LEGACY.decode(WSGIHeaders(environ), LIMITS)


def test_oversize() -> None:
    value = nginx_escaped(client().leaf)
    assert _reason(NGINX, (H, value), limits=Limits(max_leaf_bytes=64)) is Reason.HEADER_TOO_LARGE
    big_dn = "CN=" + "a" * 5000
    assert _reason(NGINX, ("X-SSL-Client-S-DN", big_dn)) is Reason.HEADER_TOO_LARGE


def test_renames() -> None:
    c = client()
    fmt = nginx(cert="X-Client-Cert", verify="X-Client-Verify")
    assert fmt.header_names[:2] == ("X-Client-Cert", "X-Client-Verify")
    got = fmt.decode(
        headers(("X-Client-Cert", nginx_escaped(c.leaf)), ("X-Client-Verify", "SUCCESS")), LIMITS
    )
    assert got.leaf == c.leaf
    assert got.claims.verified is True
    assert ingress_nginx(cert="x-ssl-cert").header_names[0] == "x-ssl-cert"
    with pytest.raises(ValueError, match="unknown header key"):
        nginx(fingerprint="X-Fp")
