"""AWS ALB: passthrough (URL-encoded PEM chain, leaf → root) and verify (leaf + metadata)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from originverify.errors import Reason, VerificationError
from originverify.formats import (
    ALB_PASSTHROUGH,
    ALB_VERIFY,
    CertificateFormat,
    Limits,
    alb_passthrough,
    alb_verify,
)
from originverify.headers import WSGIHeaders
from tests.formats.edgewire import alb_escaped, client, headers, pem, rsa_client

LIMITS = Limits()
H = "X-Amzn-Mtls-Clientcert"
LEAF_H = "X-Amzn-Mtls-Clientcert-Leaf"


def _reason(fmt: CertificateFormat, *pairs: tuple[str, str], limits: Limits = LIMITS) -> Reason:
    with pytest.raises(VerificationError) as info:
        fmt.decode(headers(*pairs), limits)
    return info.value.reason


# -- passthrough -----------------------------------------------------------------------------


@pytest.mark.parametrize("escape_padding", [False, True], ids=["literal-padding", "%3D-padding"])
def test_passthrough_golden_full_chain_leaf_to_root(escape_padding: bool) -> None:
    c = client()
    value = alb_escaped([c.leaf, *c.chain, c.root], escape_padding=escape_padding)
    assert value.startswith("-----BEGIN%20CERTIFICATE-----%0AMII")
    assert ("%3D" in value) is escape_padding or "=" not in pem(c.leaf)
    got = ALB_PASSTHROUGH.decode(headers((H, value)), LIMITS)
    assert got.leaf == c.leaf
    # Order as presented: issuing intermediate, upper intermediate, then the client-sent root.
    assert got.chain == (*c.chain, c.root)
    assert not got.claims


def test_passthrough_plus_stays_plus() -> None:
    """A form decoder would turn the literal '+' ALB keeps into a space."""
    c = rsa_client()
    value = alb_escaped([c.leaf])
    assert "+" in value
    assert ALB_PASSTHROUGH.decode(headers((H, value)), LIMITS).leaf == c.leaf


def test_passthrough_leaf_only() -> None:
    c = client()
    got = ALB_PASSTHROUGH.decode(headers((H, alb_escaped([c.leaf]))), LIMITS)
    assert (got.leaf, got.chain) == (c.leaf, ())


def test_passthrough_lowercase_hex_escapes() -> None:
    c = client()
    value = alb_escaped([c.leaf]).replace("%0A", "%0a").replace("%20", "%20")
    assert ALB_PASSTHROUGH.decode(headers((H, value)), LIMITS).leaf == c.leaf


def test_no_certificate() -> None:
    assert ALB_PASSTHROUGH.decode(headers(), LIMITS).leaf is None
    assert ALB_VERIFY.decode(headers(), LIMITS).leaf is None


def test_passthrough_chain_too_long_refused_before_decoding() -> None:
    c = client()
    value = alb_escaped([c.leaf, *c.chain, c.root])
    assert _reason(ALB_PASSTHROUGH, (H, value), limits=Limits(max_chain_certs=2)) is (
        Reason.CHAIN_TOO_LONG
    )
    # The count is taken before any base64 is decoded: a broken last block is not reached.
    broken = value[: value.rindex("MII")] + "~~~~" + value[value.rindex("MII") + 4 :]
    assert _reason(ALB_PASSTHROUGH, (H, broken), limits=Limits(max_chain_certs=2)) is (
        Reason.CHAIN_TOO_LONG
    )


def _malformed_variants() -> list[tuple[str, str, Reason]]:
    c = client()
    good = alb_escaped([c.leaf, *c.chain])
    one = alb_escaped([c.leaf])
    return [
        ("bad-percent-escape", good.replace("%0A", "%0G", 1), Reason.MALFORMED_HEADER),
        ("short-percent-escape", good[:-2], Reason.MALFORMED_HEADER),
        ("truncated-pem", one[: len(one) // 2], Reason.MALFORMED_HEADER),
        ("missing-end", one.replace("-----END%20CERTIFICATE-----", ""), Reason.MALFORMED_HEADER),
        ("wrong-marker", one.replace("CERTIFICATE", "PRIVATE%20KEY"), Reason.MALFORMED_HEADER),
        (
            "certificate-request",
            one.replace("CERTIFICATE", "CERTIFICATE%20REQUEST"),
            Reason.MALFORMED_HEADER,
        ),
        ("trailing-garbage", good + "junk", Reason.MALFORMED_HEADER),
        ("leading-garbage", "x" + good, Reason.MALFORMED_HEADER),
        ("raw-newline", good.replace("%0A", "\n"), Reason.MALFORMED_HEADER),
        ("raw-space", good.replace("%20", " "), Reason.MALFORMED_HEADER),
        ("form-encoded-plus", good.replace("+", " "), Reason.MALFORMED_HEADER),
        ("bad-base64", one.replace("MII", "M*I", 1), Reason.MALFORMED_HEADER),
        ("not-url-encoded", pem(c.leaf).replace("\n", ""), Reason.MALFORMED_HEADER),
        ("rfc9440-instead", f":{c.leaf.hex()}:", Reason.MALFORMED_HEADER),
        ("empty", "", Reason.MALFORMED_HEADER),
        ("comma-joined", f"{one},{one}", Reason.MALFORMED_HEADER),
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [v[1:] for v in _malformed_variants()],
    ids=[v[0] for v in _malformed_variants()],
)
def test_passthrough_malformed(value: str, reason: Reason) -> None:
    assert _reason(ALB_PASSTHROUGH, (H, value)) is reason


def test_duplicate_header_line() -> None:
    one = alb_escaped([client().leaf])
    assert _reason(ALB_PASSTHROUGH, (H, one), (H, one)) is Reason.DUPLICATE_HEADER
    assert _reason(ALB_VERIFY, (LEAF_H, one), (LEAF_H, one)) is Reason.DUPLICATE_HEADER


def test_wsgi_joined_duplicate_refused() -> None:
    one = alb_escaped([client().leaf])
    environ = {"HTTP_X_AMZN_MTLS_CLIENTCERT": f"{one},{one}"}
    with pytest.raises(VerificationError) as info:
        ALB_PASSTHROUGH.decode(WSGIHeaders(environ), LIMITS)
    assert info.value.reason is Reason.MALFORMED_HEADER
    assert "joined" in info.value.detail


def test_oversize_refused_before_parsing() -> None:
    c = client()
    value = alb_escaped([c.leaf, *c.chain])
    small = Limits(max_leaf_bytes=100, max_chain_bytes=100)
    assert _reason(ALB_PASSTHROUGH, (H, value), limits=small) is Reason.HEADER_TOO_LARGE
    assert _reason(ALB_PASSTHROUGH, (H, "%" * 5000), limits=small) is Reason.HEADER_TOO_LARGE


# -- verify ----------------------------------------------------------------------------------


def _verify_headers(**override: str) -> list[tuple[str, str]]:
    c = client()
    cert = c.issued.cert
    values = {
        LEAF_H: alb_escaped([c.leaf]),
        "X-Amzn-Mtls-Clientcert-Serial-Number": f"{c.serial:X}",
        "X-Amzn-Mtls-Clientcert-Issuer": cert.issuer.rfc4514_string(),
        "X-Amzn-Mtls-Clientcert-Subject": cert.subject.rfc4514_string(),
        "X-Amzn-Mtls-Clientcert-Validity": (
            f"NotBefore={cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ};"
            f"NotAfter={cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
        ),
    }
    values.update(override)
    return list(values.items())


def test_verify_golden_leaf_and_claims() -> None:
    c = client()
    got = ALB_VERIFY.decode(headers(*_verify_headers()), LIMITS)
    assert (got.leaf, got.chain) == (c.leaf, ())
    assert ALB_VERIFY.edge_validates
    assert got.claims.serial == c.serial
    assert got.claims.unverified_subject == "CN=wire client,O=originverify test"
    assert got.claims.unverified_issuer == "CN=wire issuing intermediate,O=originverify test"
    assert got.claims.not_before == c.issued.cert.not_valid_before_utc
    assert got.claims.not_after == c.issued.cert.not_valid_after_utc
    assert got.claims.verified is None  # ALB sends no verdict header; it is by construction


def test_verify_leaf_header_refuses_a_chain() -> None:
    c = client()
    value = alb_escaped([c.leaf, *c.chain])
    assert _reason(ALB_VERIFY, *_verify_headers(**{LEAF_H: value})) is Reason.MALFORMED_HEADER


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Amzn-Mtls-Clientcert-Serial-Number", "not-hex"),
        ("X-Amzn-Mtls-Clientcert-Validity", "NotBefore=2024-01-01T00:00:00Z"),
        ("X-Amzn-Mtls-Clientcert-Validity", "NotBefore=x;NotAfter=y"),
        (
            "X-Amzn-Mtls-Clientcert-Validity",
            "NotBefore=2024-01-01T00:00:00+05:00Z;NotAfter=2025-01-01T00:00:00Z",
        ),
    ],
)
def test_verify_malformed_claims(header: str, value: str) -> None:
    assert _reason(ALB_VERIFY, *_verify_headers(**{header: value})) is Reason.MALFORMED_HEADER


def test_verify_metadata_without_leaf_is_claims_only() -> None:
    pairs = [p for p in _verify_headers() if p[0] != LEAF_H]
    got = ALB_VERIFY.decode(headers(*pairs), LIMITS)
    assert got.leaf is None
    assert got.claims.serial == client().serial


def test_renamed_headers_follow_listener_attributes() -> None:
    c = client()
    fmt = alb_passthrough(cert="X-Client-Chain")
    assert fmt.header_names == ("X-Client-Chain",)
    got = fmt.decode(headers(("X-Client-Chain", alb_escaped([c.leaf, *c.chain]))), LIMITS)
    assert got.chain == c.chain
    # The default name is no longer read: a client cannot smuggle it in.
    assert fmt.decode(headers((H, alb_escaped([c.leaf]))), LIMITS).leaf is None

    renamed = alb_verify(cert="X-Leaf", serial="X-Serial")
    assert renamed.header_names[:2] == ("X-Leaf", "X-Serial")
    got = renamed.decode(
        headers(("X-Leaf", alb_escaped([c.leaf])), ("X-Serial", f"{c.serial:x}")), LIMITS
    )
    assert (got.leaf, got.claims.serial) == (c.leaf, c.serial)


def test_unknown_rename_key_fails_at_startup() -> None:
    with pytest.raises(ValueError, match="unknown header key"):
        alb_verify(fingerprint="X-Fp")
    with pytest.raises(ValueError, match="chain headers"):
        alb_passthrough(chain="X-Chain")


def test_validity_claim_is_utc() -> None:
    validity = "NotBefore=2023-09-21T01:50:17Z;NotAfter=2024-09-20T01:50:17Z"
    pairs = _verify_headers(**{"X-Amzn-Mtls-Clientcert-Validity": validity})
    claims = ALB_VERIFY.decode(headers(*pairs), LIMITS).claims
    assert claims.not_before == datetime(2023, 9, 21, 1, 50, 17, tzinfo=UTC)
