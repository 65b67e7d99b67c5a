"""Edge claims checked or marked (issue 15, class 6): a DN or validity claim that
contradicts the forwarded certificate is ``edge_mismatch``; a DN claim is only ever exposed
as ``unverified_subject``/``unverified_issuer``; no hostile claim raises anything else.

DN claims that must be accepted are written by OpenSSL itself (``XN_FLAG_RFC2253``, what
nginx, Apache and the OpenSSL-based managed edges forward), for names with every character
RFC 2253 escapes, multi-valued RDNs and non-ASCII text."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from originverify import ConfigurationError, Reason, VerificationError
from originverify.devpki import Issued
from originverify.formats.base import EdgeClaims, ForwardedCertificate
from originverify.formats.claims import RFC2253Name, cross_check
from originverify.names import DNPattern, read_dn_claim
from tests.adversarial.names_kit import CN, O, issue, name, openssl_dn, reason, verifier
from tests.conftest import PKI, passthrough_headers
from tests.formats.edgewire import alb_escaped, envoy_escaped, nginx_escaped, xfcc_element

SUBJECT = "CloudFront-Viewer-Cert-Subject"
ISSUER = "CloudFront-Viewer-Cert-Issuer"
VALIDITY = "CloudFront-Viewer-Cert-Validity"
EMAIL = NameOID.EMAIL_ADDRESS

TRICKY = {
    "plain": name([(O, "originverify test")], [(CN, "alice")]),
    "comma": name([(O, "Admins")], [(CN, "mallory,O=Admins")]),
    "plus": name([(CN, "mallory+O=Admins")]),
    "specials": name([(CN, 'a"b\\c<d>e;f=g')]),
    "hash-and-spaces": name([(CN, "#lead")], [(O, " padded ")]),
    "multi-valued": name([(CN, "alice"), (NameOID.USER_ID, "a1")], [(O, "x")]),
    "utf8": name([(O, "Société Générale")], [(CN, "日本語 名前")]),
    "email-dc": name(
        [(NameOID.DOMAIN_COMPONENT, "org")],
        [(NameOID.DOMAIN_COMPONENT, "example")],
        [(CN, "alice")],
        [(EMAIL, "alice@example.org")],
    ),
    "serial-title": name([(NameOID.SERIAL_NUMBER, "123")], [(NameOID.TITLE, "Dr")]),
    "two-cns": name([(CN, "alice")], [(CN, "admin")]),
    "empty-value": name([(O, "")], [(CN, "x")]),
}


@pytest.fixture(scope="module", params=sorted(TRICKY))
def tricky(request: pytest.FixtureRequest, pki: PKI) -> Issued:
    return issue(pki.intermediate, TRICKY[request.param])


@pytest.mark.parametrize("esc_msb", [True, False], ids=["esc-msb", "utf8"])
def test_openssl_rfc2253_claims_are_accepted(pki: PKI, tricky: Issued, esc_msb: bool) -> None:
    subject = openssl_dn(tricky, esc_msb=esc_msb)
    issuer = openssl_dn(tricky, issuer=True, esc_msb=esc_msb)
    extra = [(SUBJECT, subject), (ISSUER, issuer)]
    identity = verifier(pki).verify_request(passthrough_headers(tricky, extra=extra))
    assert identity is not None
    assert identity.claims.unverified_subject == subject
    assert identity.claims.unverified_issuer == issuer
    assert not hasattr(identity.claims, "subject")  # the old, trusting name is gone


def test_raw_utf8_octets_in_a_dn_header_are_read_as_utf8(pki: PKI) -> None:
    """Apache (no ``ESC_MSB``) writes UTF-8 octets; a byte-level header source hands them
    over as latin-1 code points, and the claim still names the certificate."""
    leaf = issue(pki.intermediate, TRICKY["utf8"])
    octets = openssl_dn(leaf, esc_msb=False).encode("utf-8")
    headers = [(n.encode(), v.encode("latin-1")) for n, v in passthrough_headers(leaf)]
    headers.append((SUBJECT.encode(), octets))
    assert verifier(pki).verify_request(headers) is not None
    forged = openssl_dn(issue(pki.intermediate, name([(CN, "日本語 名前")])), esc_msb=False)
    headers[-1] = (SUBJECT.encode(), forged.encode("utf-8"))
    assert reason(verifier(pki), headers) is Reason.EDGE_MISMATCH


def test_another_certificates_dn_is_a_mismatch(pki: PKI, tricky: Issued) -> None:
    for other in TRICKY.values():
        if other == tricky.cert.subject:
            continue
        claim = issue(pki.intermediate, other)
        extra = [(SUBJECT, openssl_dn(claim))]
        assert reason(verifier(pki), passthrough_headers(tricky, extra=extra)) is (
            Reason.EDGE_MISMATCH
        )


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (SUBJECT, "CN=admin,O=originverify test"),
        (SUBJECT, "CN=alice"),
        (SUBJECT, "O=originverify test,CN=alice"),  # order matters
        (SUBJECT, "CN=alice+O=originverify test"),  # RDN structure matters
        (SUBJECT, "CN=alice,O=originverify test,"),  # not RFC 2253 at all
        (SUBJECT, "CN=alice,O=originverify test,CN=admin"),
        (SUBJECT, "CN=Alice,O=originverify test"),
        (SUBJECT, "CN=\u0430lice,O=originverify test"),  # homoglyph
        (SUBJECT, "garbage"),
        (SUBJECT, ""),
        (ISSUER, "CN=test root,O=originverify test"),
        (ISSUER, "CN=evil,O=originverify test"),
    ],
)
def test_contradicting_dn_claims(pki: PKI, header: str, value: str) -> None:
    headers = passthrough_headers(pki.leaf, extra=[(header, value)])
    assert reason(verifier(pki), headers) is Reason.EDGE_MISMATCH


def test_dn_claims_that_cannot_be_compared_stay_unverified(pki: PKI) -> None:
    """``#``-hex values (unknown attribute types in OpenSSL's dump) are not compared: the claim
    is accepted, but only ever exposed under its unverified name."""
    claim = "1.2.3.4=#0c0561646d696e,CN=alice,O=originverify test"
    identity = verifier(pki).verify_request(passthrough_headers(pki.leaf, extra=[(SUBJECT, claim)]))
    assert identity is not None and identity.claims.unverified_subject == claim
    assert identity.subject == "CN=alice,O=originverify test"


def _validity(leaf: x509.Certificate, before: int = 0, after: int = 0) -> str:
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    nb = leaf.not_valid_before_utc + dt.timedelta(seconds=before)
    na = leaf.not_valid_after_utc + dt.timedelta(seconds=after)
    return f"NotBefore={nb.strftime(fmt)};NotAfter={na.strftime(fmt)}"


@pytest.mark.parametrize(("before", "after"), [(0, 1), (0, -1), (-1, 0), (86400, 0), (0, 10**8)])
def test_validity_claims_contradicting_the_der(pki: PKI, before: int, after: int) -> None:
    extra = [(VALIDITY, _validity(pki.leaf.cert, before, after))]
    assert reason(verifier(pki), passthrough_headers(pki.leaf, extra=extra)) is (
        Reason.EDGE_MISMATCH
    )
    exact = [(VALIDITY, _validity(pki.leaf.cert))]
    identity = verifier(pki).verify_request(passthrough_headers(pki.leaf, extra=exact))
    assert identity is not None
    assert identity.claims.not_after == pki.leaf.cert.not_valid_after_utc


def _openssl_time(when: dt.datetime) -> str:
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    return f"{months[when.month - 1]} {when.day:2d} {when:%H:%M:%S %Y} GMT"


def test_nginx_claims_checked(pki: PKI) -> None:
    leaf = pki.leaf.cert
    v = verifier(pki, format="nginx", extra_intermediates=pki.intermediate.pem)
    good = [
        ("X-Origin-Verify", passthrough_headers(None)[0][1]),
        ("X-SSL-Client-Cert", nginx_escaped(pki.leaf.der)),
        ("X-SSL-Client-Verify", "SUCCESS"),
        ("X-SSL-Client-S-DN", openssl_dn(pki.leaf)),
        ("X-SSL-Client-I-DN", openssl_dn(pki.leaf, issuer=True)),
        ("X-SSL-Client-V-Start", _openssl_time(leaf.not_valid_before_utc)),
        ("X-SSL-Client-V-End", _openssl_time(leaf.not_valid_after_utc)),
    ]
    assert v.verify_request(good) is not None
    for index, value in (
        (3, "CN=admin,O=originverify test"),
        (4, "CN=other,O=originverify test"),
        (5, _openssl_time(leaf.not_valid_before_utc - dt.timedelta(days=1))),
        (6, _openssl_time(leaf.not_valid_after_utc + dt.timedelta(seconds=1))),
    ):
        forged = list(good)
        forged[index] = (forged[index][0], value)
        assert reason(v, forged) is Reason.EDGE_MISMATCH, forged[index]


def test_alb_verify_claims_checked(pki: PKI) -> None:
    v = verifier(pki, format="alb-verify", extra_intermediates=pki.intermediate.pem)
    secret = passthrough_headers(None)[0]
    good = [
        secret,
        ("X-Amzn-Mtls-Clientcert-Leaf", alb_escaped([pki.leaf.der])),
        ("X-Amzn-Mtls-Clientcert-Subject", openssl_dn(pki.leaf)),
        ("X-Amzn-Mtls-Clientcert-Issuer", openssl_dn(pki.leaf, issuer=True)),
        ("X-Amzn-Mtls-Clientcert-Validity", _validity(pki.leaf.cert)),
    ]
    assert v.verify_request(good) is not None
    for index, value in (
        (2, "CN=admin,O=originverify test"),
        (3, "CN=test root,O=originverify test"),
        (4, _validity(pki.leaf.cert, after=3600)),
    ):
        forged = list(good)
        forged[index] = (forged[index][0], value)
        assert reason(v, forged) is Reason.EDGE_MISMATCH, forged[index]


def test_xfcc_subject_is_only_ever_unverified(pki: PKI) -> None:
    """Envoy does not specify its DN spelling: nothing to compare, so the claim says what it
    is (``unverified_subject``) and the identity comes from the DER alone."""
    element = xfcc_element(
        [("Cert", envoy_escaped([pki.leaf.der])), ("Subject", "CN=admin,O=Admins")]
    )
    headers = [passthrough_headers(None)[0], ("x-forwarded-client-cert", element)]
    v = verifier(pki, format="envoy-xfcc", extra_intermediates=pki.intermediate.pem)
    identity = v.verify_request(headers)
    assert identity is not None
    assert identity.subject == "CN=alice,O=originverify test"
    assert identity.claims.unverified_subject == "CN=admin,O=Admins"


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("URI", "spiffe://example.org/ns/prod/sa/alice")], None),
        ([("URI", "spiffe://example.org/ns/prod/sa/admin")], Reason.EDGE_MISMATCH),
        (
            [("URI", "spiffe://example.org/ns/prod/sa/alice"), ("URI", "spiffe://x/y")],
            Reason.EDGE_MISMATCH,
        ),
        ([("DNS", "admin.example.org")], Reason.EDGE_MISMATCH),
        ([("URI", "")], None),  # Istio writes an empty URI= when there is none
    ],
)
def test_xfcc_sans_must_be_the_certificates(
    pki: PKI, pairs: list[tuple[str, str]], expected: Reason | None
) -> None:
    element = xfcc_element([("Cert", envoy_escaped([pki.leaf.der])), *pairs])
    headers = [passthrough_headers(None)[0], ("x-forwarded-client-cert", element)]
    v = verifier(pki, format="envoy-xfcc", extra_intermediates=pki.intermediate.pem)
    if expected is None:
        assert v.verify_request(headers) is not None
    else:
        assert reason(v, headers) is expected


# -- the function itself, for the lead's request path, and fuzzing -------------------------


def test_cross_check_is_one_function(pki: PKI) -> None:
    leaf = pki.leaf.cert
    forwarded = ForwardedCertificate(
        pki.leaf.der,
        (),
        EdgeClaims(unverified_subject=RFC2253Name("CN=admin"), raw=(("s", "CN=admin"),)),
    )
    with pytest.raises(VerificationError) as info:
        cross_check(forwarded, leaf)
    assert info.value.reason is Reason.EDGE_MISMATCH
    unmarked = EdgeClaims(unverified_subject="CN=admin", raw=(("s", "CN=admin"),))
    cross_check(ForwardedCertificate(pki.leaf.der, (), unmarked), leaf)  # plain text: kept only


DN_PIECES = [*'CNO=,+\\"#*; <>a\u00e9 12.', "\\2C", "\\C3", "\\A9", "2.5.4.3", "UID"]
DN_TEXT = st.lists(st.sampled_from(DN_PIECES), max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=DN_TEXT)
def test_hostile_dn_text_raises_only_the_documented_errors(text: str) -> None:
    with contextlib.suppress(ValueError):
        read_dn_claim(text)
    with contextlib.suppress(ConfigurationError):
        DNPattern.parse(text)


@settings(max_examples=150, deadline=None)
@given(text=DN_TEXT)
def test_hostile_dn_claims_are_accepted_or_edge_mismatch(pki: PKI, text: str) -> None:
    claims = EdgeClaims(unverified_subject=RFC2253Name(text), raw=(("s", text),))
    try:
        cross_check(ForwardedCertificate(pki.leaf.der, (), claims), pki.leaf.cert)
    except VerificationError as exc:
        assert exc.reason is Reason.EDGE_MISMATCH
