"""Google Cloud LB (RFC 9440 + ``{client_cert_*}``) and Cloudflare (managed-transform
metadata, RFC 9440 transform-rule fields)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest

from originverify.errors import Reason, VerificationError
from originverify.formats import (
    CLOUDFLARE,
    CLOUDFLARE_RFC9440,
    GCP,
    CertificateFormat,
    ForwardedCertificate,
    Limits,
    cloudflare,
    cloudflare_rfc9440,
    gcp,
)
from originverify.headers import WSGIHeaders
from tests.formats.edgewire import b64, client, headers, nginx_escaped, sf_binary

LIMITS = Limits()


def _decode(
    fmt: CertificateFormat, *pairs: tuple[str, str], limits: Limits = LIMITS
) -> ForwardedCertificate:
    return fmt.decode(headers(*pairs), limits)


def _reason(fmt: CertificateFormat, *pairs: tuple[str, str], limits: Limits = LIMITS) -> Reason:
    with pytest.raises(VerificationError) as info:
        fmt.decode(headers(*pairs), limits)
    return info.value.reason


# -- Google Cloud ----------------------------------------------------------------------------


def _gcp(**override: str) -> list[tuple[str, str]]:
    c = client()
    cert = c.issued.cert
    values = {
        "X-Client-Cert-Leaf": sf_binary(c.leaf),
        "X-Client-Cert-Chain": ",".join(sf_binary(d) for d in c.chain),
        "X-Client-Cert-Present": "true",
        "X-Client-Cert-Chain-Verified": "true",
        "X-Client-Cert-Error": "",
        "X-Client-Cert-Hash": base64.b64encode(c.sha256).decode(),
        "X-Client-Cert-Not-Before": cert.not_valid_before_utc.isoformat(),
        "X-Client-Cert-Not-After": cert.not_valid_after_utc.isoformat(),
    }
    values.update(override)
    return list(values.items())


def test_gcp_golden() -> None:
    c = client()
    got = _decode(GCP, *_gcp())
    assert got.leaf == c.leaf
    assert got.chain == c.chain
    assert got.claims.present is True
    assert got.claims.verified is True
    assert got.claims.sha256 == c.sha256
    assert got.claims.not_after == c.issued.cert.not_valid_after_utc
    assert GCP.edge_validates


def test_gcp_chain_with_spaces_and_split_lines() -> None:
    c = client()
    pairs = [p for p in _gcp() if p[0] != "X-Client-Cert-Chain"]
    spaced = ", ".join(sf_binary(d) for d in c.chain)
    assert _decode(GCP, *pairs, ("X-Client-Cert-Chain", spaced)).chain == c.chain
    split = [("X-Client-Cert-Chain", sf_binary(d)) for d in c.chain]
    assert _decode(GCP, *pairs, *split).chain == c.chain


def test_gcp_no_certificate_expands_to_empty() -> None:
    got = _decode(
        GCP,
        *_gcp(
            **{
                "X-Client-Cert-Leaf": "",
                "X-Client-Cert-Chain": "",
                "X-Client-Cert-Present": "false",
                "X-Client-Cert-Chain-Verified": "false",
                "X-Client-Cert-Hash": "",
                "X-Client-Cert-Not-Before": "",
                "X-Client-Cert-Not-After": "",
            }
        ),
    )
    assert got.leaf is None
    assert got.claims.present is False
    assert got.claims.sha256 is None


def test_gcp_error_means_not_verified() -> None:
    got = _decode(
        GCP,
        *_gcp(
            **{
                "X-Client-Cert-Leaf": "",
                "X-Client-Cert-Chain": "",
                "X-Client-Cert-Error": "client_cert_chain_invalid_eku,client_cert_invalid",
            }
        ),
    )
    assert got.claims.verified is False  # the error has the last word over "true"


def test_gcp_rfc3339_offsets_normalised() -> None:
    got = _decode(GCP, ("X-Client-Cert-Not-Before", "2022-07-01T20:05:09.5+02:00"))
    assert got.claims.not_before == datetime(2022, 7, 1, 18, 5, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("X-Client-Cert-Leaf", b64(b"\x30\x00"), Reason.MALFORMED_HEADER),
        ("X-Client-Cert-Leaf", ":not base64!:", Reason.MALFORMED_HEADER),
        ("X-Client-Cert-Hash", "00" * 32, Reason.MALFORMED_HEADER),
        ("X-Client-Cert-Present", "1", Reason.MALFORMED_HEADER),
        ("X-Client-Cert-Error", "Bad Error", Reason.MALFORMED_HEADER),
        ("X-Client-Cert-Not-Before", "2022-07-01 18:05:09", Reason.MALFORMED_HEADER),
        ("X-Client-Cert-Not-Before", "2022-07-01T18:05:09", Reason.MALFORMED_HEADER),
    ],
)
def test_gcp_malformed(header: str, value: str, reason: Reason) -> None:
    assert _reason(GCP, *_gcp(**{header: value})) is reason


def test_gcp_chain_without_leaf_and_duplicates() -> None:
    c = client()
    assert _reason(GCP, ("X-Client-Cert-Chain", sf_binary(c.chain[0]))) is (
        Reason.CHAIN_WITHOUT_LEAF
    )
    leaf = sf_binary(c.leaf)
    assert _reason(GCP, ("X-Client-Cert-Leaf", leaf), ("X-Client-Cert-Leaf", leaf)) is (
        Reason.DUPLICATE_HEADER
    )
    with pytest.raises(VerificationError):
        GCP.decode(WSGIHeaders({"HTTP_X_CLIENT_CERT_LEAF": f"{leaf},{leaf}"}), LIMITS)


def test_gcp_renames() -> None:
    c = client()
    fmt = gcp(cert="X-Mtls-Leaf", chain="X-Mtls-Chain", verified="X-Mtls-Ok")
    got = fmt.decode(
        headers(
            ("X-Mtls-Leaf", sf_binary(c.leaf)),
            ("X-Mtls-Chain", sf_binary(c.chain[0])),
            ("X-Mtls-Ok", "true"),
        ),
        LIMITS,
    )
    assert (got.leaf, got.chain, got.claims.verified) == (c.leaf, c.chain[:1], True)
    with pytest.raises(ValueError, match="unknown claim"):
        gcp(spiffe="X-Spiffe")


# -- Cloudflare managed transform ------------------------------------------------------------


def _cf(**override: str) -> list[tuple[str, str]]:
    c = client()
    cert = c.issued.cert
    values = {
        "cf-cert-presented": "true",
        "cf-cert-verified": "true",
        "cf-cert-revoked": "false",
        "cf-cert-subject-dn-rfc2253": cert.subject.rfc4514_string(),
        "cf-cert-issuer-dn-rfc2253": cert.issuer.rfc4514_string(),
        "cf-cert-serial": f"{c.serial:X}",
        "cf-cert-sha256": hashlib.sha256(c.leaf).hexdigest(),
        "cf-cert-not-before": f"{cert.not_valid_before_utc:%b %e %H:%M:%S %Y GMT}",
        "cf-cert-not-after": f"{cert.not_valid_after_utc:%b %e %H:%M:%S %Y GMT}",
    }
    values.update(override)
    return list(values.items())


def test_cloudflare_metadata_only() -> None:
    c = client()
    got = _decode(CLOUDFLARE, *_cf())
    assert got.leaf is None  # the managed transform never sends the certificate
    assert got.claims.present is True
    assert got.claims.verified is True
    assert got.claims.serial == c.serial
    assert got.claims.sha256 == c.sha256
    assert got.claims.unverified_subject == c.issued.cert.subject.rfc4514_string()
    assert got.claims.not_before == c.issued.cert.not_valid_before_utc
    assert len(got.claims.raw) == 9
    assert not CLOUDFLARE.forwards_certificate


def test_cloudflare_revoked_overrides_verified() -> None:
    got = _decode(CLOUDFLARE, *_cf(**{"cf-cert-revoked": "true"}))
    assert got.claims.verified is False
    # Order of the header lines does not matter.
    pairs = list(reversed(_cf(**{"cf-cert-revoked": "true"})))
    assert _decode(CLOUDFLARE, *pairs).claims.verified is False


def test_cloudflare_without_mtls() -> None:
    got = _decode(
        CLOUDFLARE,
        ("Cf-Cert-Presented", "false"),
        ("Cf-Cert-Verified", "false"),
        ("Cf-Cert-Revoked", "false"),
        ("cf-cert-serial", ""),
        ("cf-cert-sha256", ""),
    )
    assert got.claims.present is False
    assert got.claims.verified is False
    assert got.claims.serial is None


def test_cloudflare_never_reads_a_certificate_header() -> None:
    """A client-sent Client-Cert must not turn the metadata preset into a certificate."""
    c = client()
    got = _decode(CLOUDFLARE, *_cf(), ("Client-Cert", sf_binary(c.leaf)))
    assert got.leaf is None
    assert "client-cert" not in {h.lower() for h in CLOUDFLARE.header_names}


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("cf-cert-verified", "1"),
        ("cf-cert-revoked", "yes"),
        ("cf-cert-serial", "12:34"),
        ("cf-cert-sha256", "00" * 20),
        ("cf-cert-not-after", "2022-03-21T13:35:00Z"),
    ],
)
def test_cloudflare_malformed(header: str, value: str) -> None:
    assert _reason(CLOUDFLARE, *_cf(**{header: value})) is Reason.MALFORMED_HEADER


def test_cloudflare_duplicate_claim() -> None:
    assert _reason(CLOUDFLARE, ("cf-cert-verified", "true"), ("cf-cert-verified", "false")) is (
        Reason.DUPLICATE_HEADER
    )


def test_cloudflare_rename() -> None:
    fmt = cloudflare(verified="X-Cert-Verified")
    assert "X-Cert-Verified" in fmt.header_names
    with pytest.raises(ValueError, match="metadata-only"):
        cloudflare(cert="Client-Cert")


# -- Cloudflare RFC 9440 transform rule -----------------------------------------------------


def test_cloudflare_rfc9440_golden_and_cross_claims() -> None:
    c = client()
    got = _decode(
        CLOUDFLARE_RFC9440,
        ("Client-Cert", sf_binary(c.leaf)),
        ("Client-Cert-Chain", ", ".join(sf_binary(d) for d in c.chain)),
        *_cf(),
    )
    assert got.leaf == c.leaf
    assert got.chain == c.chain
    assert got.claims.sha256 == c.sha256
    assert got.claims.verified is True


def test_cloudflare_rfc9440_empty_fields_mean_no_certificate() -> None:
    got = _decode(
        CLOUDFLARE_RFC9440,
        ("Client-Cert", ""),
        ("Client-Cert-Chain", ""),
        ("cf-cert-presented", "false"),
    )
    assert got.leaf is None
    assert got.claims.present is False


def test_cloudflare_rfc9440_refuses_other_encodings() -> None:
    c = client()
    assert _reason(CLOUDFLARE_RFC9440, ("Client-Cert", b64(c.leaf))) is Reason.MALFORMED_HEADER
    assert _reason(CLOUDFLARE_RFC9440, ("Client-Cert", nginx_escaped(c.leaf))) is (
        Reason.MALFORMED_HEADER
    )


def test_cloudflare_rfc9440_renames() -> None:
    fmt = cloudflare_rfc9440(cert="X-Client-Cert", chain="X-Client-Chain", sha256="X-Fp")
    assert fmt.header_names[:2] == ("X-Client-Cert", "X-Client-Chain")
    assert "X-Fp" in fmt.header_names
