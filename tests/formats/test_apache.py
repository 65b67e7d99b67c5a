"""Apache httpd ``RequestHeader set X "%{SSL_CLIENT_CERT}s"``: space-folded PEM, ``(null)``,
one header per chain certificate."""

from __future__ import annotations

from dataclasses import replace

import pytest

from originverify.errors import Reason, VerificationError
from originverify.formats import APACHE, CertificateFormat, ForwardedCertificate, Limits, apache
from originverify.headers import WSGIHeaders
from tests.formats.edgewire import apache_spaced, client, headers, pem, rsa_client

LIMITS = Limits()
H = "X-SSL-Client-Cert"
CHAIN = "X-SSL-Client-Cert-Chain-"


def _decode(
    *pairs: tuple[str, str], fmt: CertificateFormat = APACHE, limits: Limits = LIMITS
) -> ForwardedCertificate:
    return fmt.decode(headers(*pairs), limits)


def _reason(
    *pairs: tuple[str, str], fmt: CertificateFormat = APACHE, limits: Limits = LIMITS
) -> Reason:
    with pytest.raises(VerificationError) as info:
        fmt.decode(headers(*pairs), limits)
    return info.value.reason


def test_golden_leaf_chain_and_verdict() -> None:
    c = client()
    value = apache_spaced(c.leaf)
    assert value.startswith("-----BEGIN CERTIFICATE----- MII")
    assert value.endswith(" -----END CERTIFICATE-----")
    got = _decode(
        (H, value),
        (CHAIN + "0", apache_spaced(c.chain[0])),
        (CHAIN + "1", apache_spaced(c.chain[1])),
        (CHAIN + "2", "(null)"),
        ("X-SSL-Client-Verify", "SUCCESS"),
        ("X-SSL-Client-Serial", f"{c.serial:X}"),
        ("X-SSL-Client-S-DN", "CN=wire client,O=originverify test"),
    )
    assert got.leaf == c.leaf
    assert got.chain == c.chain  # _0 is the issuing intermediate, _1 the one above it
    assert got.claims.verified is True
    assert got.claims.serial == c.serial


def test_crlf_pem_becomes_double_spaces() -> None:
    c = rsa_client()
    value = pem(c.leaf).replace("\n", "\r\n").replace("\r", " ").replace("\n", " ").strip()
    assert "  " in value
    assert _decode((H, value)).leaf == c.leaf


def test_null_means_no_certificate() -> None:
    got = _decode(
        (H, "(null)"),
        (CHAIN + "0", "(null)"),
        ("X-SSL-Client-Verify", "NONE"),
        ("X-SSL-Client-Serial", "(null)"),
    )
    assert got.leaf is None
    assert got.chain == ()
    assert got.claims.present is False
    assert got.claims.serial is None
    assert _decode().leaf is None


@pytest.mark.parametrize(
    ("verify", "verified"), [("GENEROUS", False), ("FAILED:certificate revoked", False)]
)
def test_optional_no_ca_verdicts(verify: str, verified: bool) -> None:
    got = _decode((H, apache_spaced(client().leaf)), ("X-SSL-Client-Verify", verify))
    assert got.claims.present is True
    assert got.claims.verified is verified


def test_chain_without_leaf() -> None:
    c = client()
    assert _reason((CHAIN + "0", apache_spaced(c.chain[0]))) is Reason.CHAIN_WITHOUT_LEAF
    assert _reason((H, "(null)"), (CHAIN + "0", apache_spaced(c.chain[0]))) is (
        Reason.CHAIN_WITHOUT_LEAF
    )


def test_chain_gap_refused() -> None:
    c = client()
    pairs = (
        (H, apache_spaced(c.leaf)),
        (CHAIN + "0", "(null)"),
        (CHAIN + "1", apache_spaced(c.chain[1])),
    )
    assert _reason(*pairs) is Reason.MALFORMED_HEADER


def test_chain_header_with_two_blocks_refused() -> None:
    c = client()
    two = apache_spaced(c.chain[0]) + " " + apache_spaced(c.chain[1])
    assert _reason((H, apache_spaced(c.leaf)), (CHAIN + "0", two)) is Reason.MALFORMED_HEADER


def test_chain_count_and_bytes() -> None:
    c = client()
    pairs = (
        (H, apache_spaced(c.leaf)),
        (CHAIN + "0", apache_spaced(c.chain[0])),
        (CHAIN + "1", apache_spaced(c.chain[1])),
        (CHAIN + "2", apache_spaced(c.root)),
    )
    assert _reason(*pairs, limits=Limits(max_chain_certs=2)) is Reason.CHAIN_TOO_LONG
    assert _reason(*pairs, limits=Limits(max_chain_bytes=1200)) is Reason.HEADER_TOO_LARGE
    assert _decode(*pairs).chain == (*c.chain, c.root)


def _malformed() -> list[tuple[str, str, Reason]]:
    c = client()
    good = apache_spaced(c.leaf)
    return [
        ("truncated-pem", good[: len(good) // 2], Reason.MALFORMED_HEADER),
        ("extra-block", good + " " + good, Reason.MALFORMED_HEADER),
        ("wrong-marker", good.replace("CERTIFICATE", "RSA PRIVATE KEY"), Reason.MALFORMED_HEADER),
        ("trailing-garbage", good + " tail", Reason.MALFORMED_HEADER),
        ("tab-instead-of-space", good.replace(" M", "\tM", 1), Reason.MALFORMED_HEADER),
        ("url-encoded", good.replace(" ", "%20"), Reason.MALFORMED_HEADER),
        ("lowercase-null", "(NULL)", Reason.MALFORMED_HEADER),
        ("empty", "", Reason.MALFORMED_HEADER),
        ("bad-base64", good.replace("MII", "M.I", 1), Reason.MALFORMED_HEADER),
    ]


@pytest.mark.parametrize(
    ("value", "reason"), [m[1:] for m in _malformed()], ids=[m[0] for m in _malformed()]
)
def test_malformed(value: str, reason: Reason) -> None:
    assert _reason((H, value)) is reason


def test_duplicate_and_joined() -> None:
    value = apache_spaced(client().leaf)
    assert _reason((H, value), (H, value)) is Reason.DUPLICATE_HEADER
    with pytest.raises(VerificationError) as info:
        APACHE.decode(WSGIHeaders({"HTTP_X_SSL_CLIENT_CERT": f"{value},{value}"}), LIMITS)
    assert info.value.reason is Reason.MALFORMED_HEADER


def test_oversize() -> None:
    value = apache_spaced(client().leaf)
    assert _reason((H, value), limits=Limits(max_leaf_bytes=100)) is Reason.HEADER_TOO_LARGE


def test_factory_names_and_depth() -> None:
    c = client()
    fmt = apache(cert="SSL-Client-Cert", chain_prefix="SSL-Client-Chain-", chain_depth=1)
    assert fmt.header_names[:2] == ("SSL-Client-Cert", "SSL-Client-Chain-0")
    got = fmt.decode(
        headers(
            ("SSL-Client-Cert", apache_spaced(c.leaf)),
            ("SSL-Client-Chain-0", apache_spaced(c.chain[0])),
            ("SSL-Client-Chain-1", apache_spaced(c.chain[1])),  # not configured: never read
        ),
        LIMITS,
    )
    assert got.chain == c.chain[:1]
    assert apache(chain_depth=0).chain_headers == ()
    assert replace(APACHE, chain_headers=("A", "B")).header_names[1:3] == ("A", "B")
    with pytest.raises(ValueError, match="chain_depth"):
        apache(chain_depth=-1)
