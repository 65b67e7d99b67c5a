"""Envoy / Istio ``x-forwarded-client-cert``: grammar, element policy, By check, Cert/Chain."""

from __future__ import annotations

import hashlib

import pytest

from originverify.errors import Reason, VerificationError
from originverify.formats import ENVOY_XFCC, EnvoyXFCC, ForwardedCertificate, Limits, envoy_xfcc
from originverify.formats.xfcc import parse_xfcc
from originverify.headers import WSGIHeaders
from tests.formats.edgewire import client, envoy_escaped, headers, xfcc_element

LIMITS = Limits()
H = "x-forwarded-client-cert"
ORIGIN = "spiffe://example.org/ns/prod/sa/origin"


def _element(**extra: str) -> str:
    c = client()
    pairs = [
        ("By", ORIGIN),
        ("Hash", hashlib.sha256(c.leaf).hexdigest()),
        ("Cert", envoy_escaped([c.leaf])),
        ("Chain", envoy_escaped([c.leaf, *c.chain])),
        ("Subject", "CN=wire client,O=originverify test"),
        ("URI", "spiffe://example.org/client"),
        ("DNS", "client.test"),
        ("DNS", "alt.client.test"),
    ]
    pairs = [(k, extra.pop(k, v)) for k, v in pairs]
    pairs.extend(extra.items())
    return xfcc_element([(k, v) for k, v in pairs if v is not None and v != "<drop>"])


def _decode(
    value: str, fmt: EnvoyXFCC = ENVOY_XFCC, limits: Limits = LIMITS
) -> ForwardedCertificate:
    return fmt.decode(headers((H, value)), limits)


def _reason(value: str, fmt: EnvoyXFCC = ENVOY_XFCC, limits: Limits = LIMITS) -> Reason:
    with pytest.raises(VerificationError) as info:
        _decode(value, fmt, limits)
    return info.value.reason


def test_golden_sanitize_set_with_cert_and_chain() -> None:
    c = client()
    value = _element()
    assert 'Cert="-----BEGIN%20CERTIFICATE-----%0AMII' in value
    got = _decode(value)
    assert got.leaf == c.leaf
    assert got.chain == c.chain  # Chain includes the leaf; it is not repeated in .chain
    assert got.claims.sha256 == c.sha256
    assert got.claims.unverified_subject == "CN=wire client,O=originverify test"
    assert dict(got.claims.raw)["URI"] == "spiffe://example.org/client"
    assert [v for k, v in got.claims.raw if k == "DNS"] == ["client.test", "alt.client.test"]
    assert not any(k in ("Cert", "Chain") for k, _ in got.claims.raw)


def test_cert_only_and_chain_only() -> None:
    c = client()
    got = _decode(_element(Chain="<drop>"))
    assert (got.leaf, got.chain) == (c.leaf, ())
    got = _decode(_element(Cert="<drop>"))
    assert (got.leaf, got.chain) == (c.leaf, c.chain)


def test_istio_metadata_only_element() -> None:
    """Istio sidecars send By, Hash, Subject="" and URI, no certificate."""
    c = client()
    value = (
        f"By={ORIGIN};Hash={hashlib.sha256(c.leaf).hexdigest()};"
        'Subject="";URI=spiffe://cluster.local/ns/foo/sa/sleep'
    )
    got = _decode(value)
    assert got.leaf is None
    assert got.claims.sha256 == c.sha256
    assert got.claims.unverified_subject is None
    assert dict(got.claims.raw)["URI"] == "spiffe://cluster.local/ns/foo/sa/sleep"


def test_keys_case_insensitive_values_case_sensitive() -> None:
    c = client()
    got = _decode(f"hash={hashlib.sha256(c.leaf).hexdigest()};uri=Spiffe://X/Y;BY={ORIGIN}")
    assert dict(got.claims.raw) == {
        "Hash": hashlib.sha256(c.leaf).hexdigest(),
        "URI": "Spiffe://X/Y",
        "By": ORIGIN,
    }


def test_quoted_values_with_escapes() -> None:
    elements = parse_xfcc(r'Subject="CN=a \"quoted\", O=b;c";URI=', H)
    assert elements == [[("Subject", 'CN=a "quoted", O=b;c'), ("URI", "")]]
    assert parse_xfcc(r'Subject="back\\slash"', H) == [[("Subject", "back\\slash")]]


def test_missing_header_is_no_certificate() -> None:
    got = ENVOY_XFCC.decode(headers(), LIMITS)
    assert got.leaf is None
    assert not got.claims


# -- element policy and By ---------------------------------------------------------------------


def test_only_policy_refuses_several_hops() -> None:
    value = f"By=spiffe://front;URI=spiffe://a,{_element()}"
    with pytest.raises(VerificationError) as info:
        _decode(value)
    assert info.value.reason is Reason.MALFORMED_HEADER
    assert "2 elements" in info.value.detail
    assert "element='last'" in info.value.detail


def test_last_policy_reads_nearest_hop() -> None:
    c = client()
    value = f'By=spiffe://front;URI=spiffe://a;Subject="x,y",{_element()}'
    got = _decode(value, envoy_xfcc(element="last"))
    assert got.leaf == c.leaf
    assert dict(got.claims.raw)["By"] == ORIGIN


def test_expected_by() -> None:
    c = client()
    assert _decode(_element(), envoy_xfcc(expected_by=ORIGIN)).leaf == c.leaf
    fmt = envoy_xfcc(expected_by=("spiffe://other", ORIGIN))
    assert _decode(_element(), fmt).leaf == c.leaf
    assert _reason(_element(), envoy_xfcc(expected_by="spiffe://other")) is Reason.EDGE_MISMATCH
    assert _reason(_element(By="<drop>"), envoy_xfcc(expected_by=ORIGIN)) is Reason.EDGE_MISMATCH
    # With "last", the By of the nearest hop counts, not an earlier one.
    value = f"By={ORIGIN};URI=spiffe://a,{_element(By='spiffe://attacker')}"
    fmt = envoy_xfcc(element="last", expected_by=ORIGIN)
    assert _reason(value, fmt) is Reason.EDGE_MISMATCH


def test_invalid_element_policy() -> None:
    with pytest.raises(ValueError, match="element"):
        EnvoyXFCC(element="first")  # type: ignore[arg-type]


def test_wsgi_joined_duplicate_is_two_elements() -> None:
    """A comma-joined second field line looks like a second hop: 'only' refuses it."""
    value = _element()
    environ = {"HTTP_X_FORWARDED_CLIENT_CERT": f"{value},{value}"}
    with pytest.raises(VerificationError) as info:
        ENVOY_XFCC.decode(WSGIHeaders(environ), LIMITS)
    assert info.value.reason is Reason.MALFORMED_HEADER


def test_duplicate_field_lines() -> None:
    value = _element()
    with pytest.raises(VerificationError) as info:
        ENVOY_XFCC.decode(headers((H, value), (H, value)), LIMITS)
    assert info.value.reason is Reason.DUPLICATE_HEADER


# -- malformed -------------------------------------------------------------------------------


def _malformed() -> list[tuple[str, str, Reason]]:
    c = client()
    cert = envoy_escaped([c.leaf])
    return [
        (
            "bad-percent-escape",
            _element(Cert=cert.replace("%0A", "%0Z", 1)),
            Reason.MALFORMED_HEADER,
        ),
        ("truncated-pem", _element(Cert=cert[: len(cert) // 2]), Reason.MALFORMED_HEADER),
        (
            "extra-block-in-cert",
            _element(Cert=envoy_escaped([c.leaf, c.leaf])),
            Reason.MALFORMED_HEADER,
        ),
        (
            "wrong-marker",
            _element(Cert=cert.replace("CERTIFICATE", "PUBLIC%20KEY")),
            Reason.MALFORMED_HEADER,
        ),
        (
            "chain-not-starting-with-cert",
            _element(Chain=envoy_escaped([*c.chain])),
            Reason.EDGE_MISMATCH,
        ),
        ("bad-hash", _element(Hash="abc"), Reason.MALFORMED_HEADER),
        ("unknown-key", _element() + ";Foo=bar", Reason.MALFORMED_HEADER),
        ("repeated-hash", _element() + ";Hash=" + "0" * 64, Reason.MALFORMED_HEADER),
        ("unbalanced-quote", 'Subject="CN=a;URI=x', Reason.MALFORMED_HEADER),
        ("garbage-after-quote", 'Subject="CN=a"x;URI=y', Reason.MALFORMED_HEADER),
        ("trailing-semicolon", _element() + ";", Reason.MALFORMED_HEADER),
        ("trailing-comma", _element() + ",", Reason.MALFORMED_HEADER),
        ("empty-element", f"{_element()},,{_element()}", Reason.MALFORMED_HEADER),
        ("missing-equals", "Hash", Reason.MALFORMED_HEADER),
        ("empty", "", Reason.MALFORMED_HEADER),
        ("empty-cert", 'Cert=""', Reason.MALFORMED_HEADER),
        ("raw-pem-cert", _element(Cert="-----BEGIN CERTIFICATE-----"), Reason.MALFORMED_HEADER),
    ]


@pytest.mark.parametrize(
    ("value", "reason"), [m[1:] for m in _malformed()], ids=[m[0] for m in _malformed()]
)
def test_malformed(value: str, reason: Reason) -> None:
    assert _reason(value) is reason


def test_chain_too_long() -> None:
    c = client()
    value = _element(Chain=envoy_escaped([c.leaf, *c.chain, c.root]))
    assert _reason(value, limits=Limits(max_chain_certs=2)) is Reason.CHAIN_TOO_LONG
    assert _decode(value, limits=Limits(max_chain_certs=3)).chain == (*c.chain, c.root)


def test_oversize() -> None:
    small = Limits(max_leaf_bytes=512, max_chain_bytes=512)
    assert _reason(_element(), limits=small) is Reason.HEADER_TOO_LARGE


def test_renamed_header() -> None:
    fmt = envoy_xfcc(header="x-client-details")
    assert fmt.header_names == ("x-client-details",)
    got = fmt.decode(headers(("x-client-details", _element())), LIMITS)
    assert got.leaf == client().leaf
