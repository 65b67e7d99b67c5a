"""The result cache never serves a verdict for other headers, anchors or rules; edge claims
that contradict the DER never pass; validity bounds are exact."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from pathlib import Path

import pytest
from cryptography import x509

from originverify import ConfigurationError, Reason, ResultCache, Rules, VerificationError, Verifier
from originverify.devpki import CertificateAuthority, cert_pem
from originverify.formats import cloudfront_passthrough
from originverify.formats.sfbinary import serialize_item
from originverify.headers import from_pairs
from originverify.source import RequestContext

from .kit import RedPKI, make_pki, pairs, verifier


@pytest.fixture(scope="module")
def pki() -> RedPKI:
    return make_pki()


def refused(v: Verifier, headers: object) -> Reason:
    with pytest.raises(VerificationError) as info:
        v.verify_request(headers)  # type: ignore[arg-type]
    return info.value.reason


def _sha(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _cf(pki: RedPKI, **options: object) -> Verifier:
    return verifier(pki, format=cloudfront_passthrough(), **options)


# -- cache -----------------------------------------------------------------------------------


def test_cached_verdict_not_served_for_contradicting_claims(pki: RedPKI) -> None:
    v = _cf(pki, cache=ResultCache())
    good = pairs(pki.alice, extra=[("CloudFront-Viewer-Cert-Sha256", _sha(pki.alice.der))])
    assert v.verify_request(good) is not None
    bad = pairs(pki.alice, extra=[("CloudFront-Viewer-Cert-Sha256", _sha(pki.bob.der))])
    assert refused(v, bad) is Reason.EDGE_MISMATCH
    present0 = pairs(pki.alice, extra=[("CloudFront-Viewer-Cert-Present", "0")])
    assert refused(v, present0) is Reason.EDGE_MISMATCH


def test_cached_verdict_not_served_without_the_edge(pki: RedPKI) -> None:
    v = verifier(pki, cache=ResultCache())
    assert v.verify_request(pairs(pki.alice)) is not None
    assert refused(v, pairs(pki.alice, secret=None)) is Reason.EDGE_SECRET_MISSING
    assert refused(v, pairs(pki.alice, secret="x" * 32)) is Reason.EDGE_SECRET_MISMATCH


def test_cached_verdict_not_served_beside_an_underscore_alias(pki: RedPKI) -> None:
    v = verifier(pki, cache=ResultCache())
    assert v.verify_request(pairs(pki.alice)) is not None
    lines = pairs(pki.alice, extra=[("Client_Cert", serialize_item(pki.bob.der))])
    assert refused(v, lines) is Reason.AMBIGUOUS_HEADER_NAME


def test_cached_verdict_not_served_with_a_duplicate(pki: RedPKI) -> None:
    v = verifier(pki, cache=ResultCache())
    assert v.verify_request(pairs(pki.alice)) is not None
    lines = pairs(pki.alice, extra=[("Client-Cert", serialize_item(pki.alice.der))])
    assert refused(v, lines) is Reason.DUPLICATE_HEADER


def test_cache_cannot_be_shared(pki: RedPKI) -> None:
    cache = ResultCache()
    verifier(pki, cache=cache)
    with pytest.raises(ConfigurationError):
        verifier(pki, cache=cache, rules=Rules(common_names=["bob"]))


def test_view_rules_apply_to_a_cached_identity(pki: RedPKI) -> None:
    v = verifier(pki, cache=ResultCache())
    request = RequestContext(from_pairs(pairs(pki.alice)))
    assert v.check(request).identity is not None
    outcome = v.check(request, rules=Rules(common_names=["bob"]))
    assert outcome.via == "refused" and outcome.error is not None
    assert outcome.error.reason is Reason.RULE_DENIED and outcome.enforced


def test_trust_reload_invalidates_cached_verdicts(pki: RedPKI, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(cert_pem(pki.root.root))
    v = verifier(pki, trust=str(anchors), cache=ResultCache())
    assert v.verify_request(pairs(pki.alice)) is not None
    anchors.write_bytes(cert_pem(CertificateAuthority.root_ca("other").root))
    v.reload_trust()
    assert refused(v, pairs(pki.alice)) is Reason.UNTRUSTED_CHAIN


def test_same_certificates_split_differently_are_distinct_keys(pki: RedPKI) -> None:
    cache = ResultCache()
    v = verifier(pki, cache=cache)
    member = serialize_item(pki.alice.chain_der[0])
    one = pairs(pki.alice, ()) + [("Client-Cert-Chain", member)]
    two = one + [("Client-Cert-Chain", member)]
    v.verify_request(one)
    v.verify_request(two)
    assert len(cache) == 2


def test_cache_entry_dies_with_the_certificate(pki: RedPKI) -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = pki.ca.issue("brief", not_before=now - dt.timedelta(minutes=1),
                        not_after=now + dt.timedelta(seconds=2))  # fmt: skip
    v = verifier(pki, cache=ResultCache(), clock_skew=0)
    assert v.verify_request(pairs(leaf)) is not None
    time.sleep(max(0.0, leaf.cert.not_valid_after_utc.timestamp() - time.time()) + 1.1)
    assert refused(v, pairs(leaf)) is Reason.EXPIRED


def test_failures_are_never_cached(pki: RedPKI) -> None:
    cache = ResultCache()
    v = verifier(pki, cache=cache)
    refused(v, pairs(pki.stranger))
    assert len(cache) == 0


# -- edge claims -----------------------------------------------------------------------------


def _validity(leaf: x509.Certificate, after: str | None = None) -> str:
    nb = leaf.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    na = after or leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"NotBefore={nb};NotAfter={na}"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("CloudFront-Viewer-Cert-Serial-Number", "01"),
        ("CloudFront-Viewer-Cert-Subject", "CN=admin,O=originverify test"),
        ("CloudFront-Viewer-Cert-Subject", "O=originverify test,CN=alice"),
        ("CloudFront-Viewer-Cert-Subject", "CN=alice"),
        ("CloudFront-Viewer-Cert-Subject", "CN=Alice,O=originverify test"),
        ("CloudFront-Viewer-Cert-Issuer", "CN=redteam root,O=originverify test"),
    ],
)
def test_contradicting_claims(pki: RedPKI, header: str, value: str) -> None:
    assert refused(_cf(pki), pairs(pki.alice, extra=[(header, value)])) is Reason.EDGE_MISMATCH


def test_validity_claim_off_by_a_fraction(pki: RedPKI) -> None:
    leaf = pki.alice.cert
    after = (leaf.not_valid_after_utc + dt.timedelta(microseconds=999_999)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    lines = pairs(pki.alice, extra=[("CloudFront-Viewer-Cert-Validity", _validity(leaf, after))])
    assert refused(_cf(pki), lines) is Reason.EDGE_MISMATCH


@pytest.mark.parametrize(
    "value",
    [
        "NotBefore=2020-01-01T00:00:00+00:00Z;NotAfter=2030-01-01T00:00:00Z",
        "NotAfter=2030-01-01T00:00:00Z;NotBefore=2020-01-01T00:00:00Z;NotBefore=x",
        "NotBefore=2020-01-01T00:00:00Z",
        "NotBefore=2020-13-01T00:00:00Z;NotAfter=2030-01-01T00:00:00Z",
    ],
)
def test_malformed_validity_claims(pki: RedPKI, value: str) -> None:
    lines = pairs(pki.alice, extra=[("CloudFront-Viewer-Cert-Validity", value)])
    assert refused(_cf(pki), lines) is Reason.MALFORMED_HEADER


def test_matching_claims_pass_and_say_unverified(pki: RedPKI) -> None:
    leaf = pki.alice.cert
    lines = pairs(
        pki.alice,
        extra=[
            ("CloudFront-Viewer-Cert-Sha256", _sha(pki.alice.der).upper()),
            ("CloudFront-Viewer-Cert-Validity", _validity(leaf)),
            ("CloudFront-Viewer-Cert-Subject", "CN=alice,O=originverify test"),
            ("CloudFront-Viewer-Cert-Present", "1"),
        ],
    )
    identity = _cf(pki).verify_request(lines)
    assert identity is not None
    assert identity.claims.unverified_subject == "CN=alice,O=originverify test"
    assert not hasattr(identity.claims, "subject")


def test_present_claim_without_certificate(pki: RedPKI) -> None:
    lines = pairs(None, extra=[("CloudFront-Viewer-Cert-Present", "1")])
    assert refused(_cf(pki, mode="optional"), lines) is Reason.EDGE_MISMATCH


def test_duplicate_claim_header(pki: RedPKI) -> None:
    sha = _sha(pki.alice.der)
    lines = pairs(pki.alice, extra=[("CloudFront-Viewer-Cert-Sha256", sha)] * 2)
    assert refused(_cf(pki), lines) is Reason.DUPLICATE_HEADER


def test_oversized_claim_header(pki: RedPKI) -> None:
    lines = pairs(pki.alice, extra=[("CloudFront-Viewer-Cert-Subject", "CN=" + "a" * 5000)])
    assert refused(_cf(pki), lines) is Reason.HEADER_TOO_LARGE


# -- time ------------------------------------------------------------------------------------


def _at(pki: RedPKI, when: dt.datetime) -> Verifier:
    return verifier(pki, validation_time=when, clock_skew=0)


def test_valid_at_not_after_exactly(pki: RedPKI) -> None:
    assert _at(pki, pki.alice.cert.not_valid_after_utc).verify_request(pairs(pki.alice))


def test_expired_one_microsecond_after(pki: RedPKI) -> None:
    when = pki.alice.cert.not_valid_after_utc + dt.timedelta(microseconds=1)
    assert refused(_at(pki, when), pairs(pki.alice)) is Reason.EXPIRED


def test_valid_at_not_before_exactly(pki: RedPKI) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    leaf = pki.ca.issue("fresh", not_before=now, not_after=now + dt.timedelta(days=1))
    assert _at(pki, now).verify_request(pairs(leaf)) is not None


def test_not_yet_valid_one_microsecond_before(pki: RedPKI) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    leaf = pki.ca.issue("fresh", not_before=now, not_after=now + dt.timedelta(days=1))
    assert refused(_at(pki, now - dt.timedelta(microseconds=1)), pairs(leaf)) is (
        Reason.NOT_YET_VALID
    )


def test_skew_is_a_bound_not_a_gift(pki: RedPKI) -> None:
    when = pki.alice.cert.not_valid_after_utc + dt.timedelta(seconds=31)
    v = verifier(pki, validation_time=when, clock_skew=30)
    assert refused(v, pairs(pki.alice)) is Reason.EXPIRED


def test_expired_intermediate_by_a_microsecond(pki: RedPKI) -> None:
    root = CertificateAuthority.root_ca("t root")
    inter = root.intermediate("t inter")
    end = inter.cert.not_valid_after_utc
    leaf = inter.issue(
        "late", not_before=end - dt.timedelta(days=2), not_after=end + dt.timedelta(days=2)
    )
    v = verifier(
        make_pki(), trust=root.pem, validation_time=end + dt.timedelta(microseconds=1), clock_skew=0
    )
    assert refused(v, pairs(leaf)) is Reason.EXPIRED


def test_skew_bound_is_inclusive(pki: RedPKI) -> None:
    when = pki.alice.cert.not_valid_after_utc + dt.timedelta(seconds=30)
    v = verifier(pki, validation_time=when, clock_skew=30)
    assert v.verify_request(pairs(pki.alice)) is not None


def test_skew_bound_plus_one_microsecond(pki: RedPKI) -> None:
    when = pki.alice.cert.not_valid_after_utc + dt.timedelta(seconds=30, microseconds=1)
    v = verifier(pki, validation_time=when, clock_skew=30)
    assert refused(v, pairs(pki.alice)) is Reason.EXPIRED


def test_skew_does_not_join_disjoint_windows(pki: RedPKI) -> None:
    """Leaf and intermediate each valid within the skew, but never at the same instant."""
    root = CertificateAuthority.root_ca("w root")
    end = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=1)
    inter = root.intermediate("w inter", not_after=end)
    leaf = inter.issue(
        "w", not_before=end + dt.timedelta(seconds=20), not_after=end + dt.timedelta(days=1)
    )
    v = verifier(pki, trust=root.pem, validation_time=end + dt.timedelta(seconds=10), clock_skew=15)
    assert refused(v, pairs(leaf)) in (Reason.EXPIRED, Reason.NOT_YET_VALID)
