"""The whole request path with real certificates: every verdict and its reason."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from originverify import (
    EdgeSecret,
    InsecureNoSourceProof,
    Mode,
    Reason,
    TrustStore,
    VerificationError,
    Verifier,
    formats,
)
from originverify.devpki import CertificateAuthority, cert_der
from originverify.formats.sfbinary import serialize_item
from tests.conftest import EDGE_SECRET, PKI, passthrough_headers

NOW = dt.datetime.now(dt.UTC)


def make(pki: PKI, **kwargs: object) -> Verifier:
    kwargs.setdefault("source", EdgeSecret(secrets=[EDGE_SECRET]))
    kwargs.setdefault("cache", None)
    return Verifier(trust=pki.root.pem, **kwargs)  # type: ignore[arg-type]


def refused(verifier: Verifier, headers: list[tuple[str, str]]) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verifier.verify_request(headers, peer="192.0.2.1")
    return info.value


# -- accepted -------------------------------------------------------------------------------


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
@pytest.mark.parametrize("levels", [2, 3])
def test_valid_chains_are_accepted(key_type: str, levels: int) -> None:
    root = CertificateAuthority.root_ca(key_type=key_type)  # type: ignore[arg-type]
    issuer = root if levels == 2 else root.intermediate(key_type=key_type)  # type: ignore[arg-type]
    leaf = issuer.issue("device-1", dns=["device-1.example"], key_type=key_type)  # type: ignore[arg-type]
    verifier = Verifier(trust=root.pem, source=EdgeSecret(secrets=[EDGE_SECRET]))
    identity = verifier.verify_request(passthrough_headers(leaf))
    assert identity is not None
    assert identity.common_name == "device-1"
    assert identity.dns_names == ("device-1.example",)
    assert identity.fingerprint_sha256 == hashlib.sha256(leaf.der).hexdigest()
    assert len(identity.chain) == levels - 1
    assert identity.anchor == root.cert


def test_identity_fields_come_from_the_der(pki: PKI) -> None:
    identity = make(pki).verify_request(passthrough_headers(pki.leaf))
    assert identity is not None
    assert identity.subject == "CN=alice,O=originverify test"
    assert identity.issuer == "CN=test intermediate,O=originverify test"
    assert identity.emails == ("alice@example.com",)
    assert identity.spiffe_id == "spiffe://example.org/ns/prod/sa/alice"
    assert identity.serial_number == pki.leaf.cert.serial_number
    assert [c.subject for c in identity.chain] == [
        pki.intermediate.cert.subject,
        pki.root.cert.subject,
    ]
    assert "source:edge_secret" in identity.checks
    assert "chain:private:cryptography" in identity.checks
    assert identity.as_dict()["spiffe_id"] == identity.spiffe_id
    with pytest.raises(AttributeError):
        identity.subject = "CN=mallory"  # type: ignore[misc]


def test_missing_intermediate_is_untrusted_unless_configured(pki: PKI) -> None:
    headers = passthrough_headers(pki.leaf, chain=())
    assert refused(make(pki), headers).reason is Reason.UNTRUSTED_CHAIN
    with_extra = make(pki, extra_intermediates=pki.intermediate.pem)
    assert with_extra.verify_request(headers) is not None


# -- refused by chain validation ------------------------------------------------------------


def test_expired_certificate(pki: PKI) -> None:
    leaf = pki.intermediate.issue(
        "old", not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=1)
    )
    error = refused(make(pki), passthrough_headers(leaf))
    assert error.reason is Reason.EXPIRED
    assert "leaf" in error.detail


def test_not_yet_valid_certificate(pki: PKI) -> None:
    leaf = pki.intermediate.issue("future", not_before=NOW + dt.timedelta(hours=1))
    assert refused(make(pki), passthrough_headers(leaf)).reason is Reason.NOT_YET_VALID


def test_clock_skew_tolerates_a_certificate_issued_seconds_ahead(pki: PKI) -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = pki.intermediate.issue("fresh", not_before=now + dt.timedelta(seconds=30))
    assert refused(make(pki), passthrough_headers(leaf)).reason is Reason.NOT_YET_VALID
    assert make(pki, clock_skew=120).verify_request(passthrough_headers(leaf)) is not None


def test_wrong_ca(pki: PKI) -> None:
    other = CertificateAuthority.root_ca("other root").intermediate()
    leaf = other.issue("eve")
    assert refused(make(pki), passthrough_headers(leaf)).reason is Reason.UNTRUSTED_CHAIN


def test_client_sent_root_is_never_an_anchor(pki: PKI) -> None:
    attacker = CertificateAuthority.root_ca("attacker root")
    leaf = attacker.issue("mallory")
    headers = passthrough_headers(leaf, chain=(cert_der(attacker.cert),))
    assert refused(make(pki), headers).reason is Reason.UNTRUSTED_CHAIN


def test_client_sent_copy_of_our_root_is_harmless(pki: PKI) -> None:
    # ALB passthrough forwards leaf → root; our own root in the chain changes nothing.
    chain = (*pki.leaf.chain_der, cert_der(pki.root.cert))
    assert make(pki).verify_request(passthrough_headers(pki.leaf, chain)) is not None


def test_same_subject_attacker_root_is_refused(pki: PKI) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    fake_root = CertificateAuthority.root_ca("test root")  # same subject as the real root
    fake_inter = fake_root.intermediate("test intermediate")
    leaf = fake_inter.issue("alice")
    chain = (fake_inter.cert.public_bytes(Encoding.DER), fake_root.cert.public_bytes(Encoding.DER))
    assert refused(make(pki), passthrough_headers(leaf, chain)).reason is Reason.UNTRUSTED_CHAIN


def test_server_auth_only_eku_is_bad_usage(pki: PKI) -> None:
    leaf = pki.intermediate.issue("server", eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    for profile in ("private", "webpki"):
        leaf_w = pki.intermediate.issue(
            "server", dns=["server.example"], eku=(ExtendedKeyUsageOID.SERVER_AUTH,)
        )
        target = leaf if profile == "private" else leaf_w
        assert (
            refused(make(pki, profile=profile), passthrough_headers(target)).reason
            is Reason.BAD_USAGE
        )


def test_absent_eku_accepted_unless_required(pki: PKI) -> None:
    leaf = pki.intermediate.issue("legacy", eku=None)
    assert make(pki).verify_request(passthrough_headers(leaf)) is not None
    strict = make(pki, require_eku=True)
    assert refused(strict, passthrough_headers(leaf)).reason is Reason.BAD_USAGE


@pytest.mark.parametrize("eku_critical", [False, True])
def test_cn_only_certificate_private_vs_webpki(pki: PKI, eku_critical: bool) -> None:
    leaf = pki.intermediate.issue("cn-only-device", eku_critical=eku_critical)
    identity = make(pki).verify_request(passthrough_headers(leaf))
    assert identity is not None and identity.dns_names == () and identity.common_name
    error = refused(make(pki, profile="webpki"), passthrough_headers(leaf))
    assert error.reason is Reason.INVALID_CERTIFICATE
    assert ("criticality" if eku_critical else "2.5.29.17") in error.detail


def test_chain_deeper_than_allowed(pki: PKI) -> None:
    ca = pki.root
    for i in range(3):
        ca = ca.intermediate(f"level {i}")
    leaf = ca.issue("deep")
    assert make(pki).verify_request(passthrough_headers(leaf)) is not None
    error = refused(make(pki, max_chain_depth=1), passthrough_headers(leaf))
    assert error.reason is Reason.CHAIN_TOO_DEEP


def test_intermediate_without_client_auth_eku_is_bad_usage(pki: PKI) -> None:
    inter = pki.root.intermediate("server-only CA", eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    leaf = inter.issue("x")
    assert refused(make(pki), passthrough_headers(leaf)).reason is Reason.BAD_USAGE


def test_name_constraints_are_enforced(pki: PKI) -> None:
    inter = pki.root.intermediate("constrained", permitted_dns=["allowed.example"])
    good = inter.issue("ok", dns=["a.allowed.example"])
    bad = inter.issue("bad", dns=["evil.example"])
    assert make(pki).verify_request(passthrough_headers(good)) is not None
    assert refused(make(pki), passthrough_headers(bad)).reason is Reason.NAME_CONSTRAINTS


def test_huge_rsa_key_refused_before_signature_work(pki: PKI) -> None:
    root = CertificateAuthority.root_ca("rsa root", key_type="rsa", rsa_bits=2048)
    leaf = root.issue("big", key_type="rsa", rsa_bits=8192)
    verifier = Verifier(trust=root.pem, source=InsecureNoSourceProof(), cache=None)
    error = refused(verifier, passthrough_headers(leaf, secret=None))
    assert error.reason is Reason.UNSUPPORTED_KEY
    assert "RSA-8192" in error.detail


def test_garbage_der_is_malformed_certificate(pki: PKI) -> None:
    headers = passthrough_headers(b"\x30\x03\x02\x01\x01")
    assert refused(make(pki), headers).reason is Reason.MALFORMED_CERTIFICATE


def test_der_with_trailing_bytes_is_malformed(pki: PKI) -> None:
    headers = passthrough_headers(pki.leaf.der + b"\x00", chain=pki.leaf.chain_der)
    assert refused(make(pki), headers).reason is Reason.MALFORMED_CERTIFICATE


# -- edge claims ----------------------------------------------------------------------------


def test_edge_fingerprint_mismatch(pki: PKI) -> None:
    headers = passthrough_headers(pki.leaf, extra=[("CloudFront-Viewer-Cert-Sha256", "00" * 32)])
    assert refused(make(pki), headers).reason is Reason.EDGE_MISMATCH


def test_edge_fingerprint_and_serial_match(pki: PKI) -> None:
    serial = format(pki.leaf.cert.serial_number, "x")
    headers = passthrough_headers(
        pki.leaf,
        extra=[
            ("CloudFront-Viewer-Cert-Sha256", hashlib.sha256(pki.leaf.der).hexdigest()),
            ("CloudFront-Viewer-Cert-Serial-Number", serial),
            ("CloudFront-Viewer-Cert-Present", "1"),
        ],
    )
    assert make(pki).verify_request(headers) is not None


def test_edge_says_absent_but_certificate_arrived(pki: PKI) -> None:
    # The optional-mode attack: edge saw no certificate, a header appeared anyway.
    headers = passthrough_headers(pki.leaf, extra=[("CloudFront-Viewer-Cert-Present", "0")])
    assert refused(make(pki, mode="optional"), headers).reason is Reason.EDGE_MISMATCH


def test_edge_says_present_but_nothing_forwarded(pki: PKI) -> None:
    headers = passthrough_headers(None, extra=[("CloudFront-Viewer-Cert-Present", "1")])
    assert refused(make(pki, mode="optional"), headers).reason is Reason.EDGE_MISMATCH


# -- header hygiene ------------------------------------------------------------------------


def test_underscore_spelling_is_refused(pki: PKI) -> None:
    headers = passthrough_headers(None) + [("Client_Cert", serialize_item(pki.leaf.der))]
    error = refused(make(pki, mode="optional"), headers)
    assert error.reason is Reason.AMBIGUOUS_HEADER_NAME


def test_duplicate_header_is_refused(pki: PKI) -> None:
    headers = passthrough_headers(pki.leaf) + [("Client-Cert", serialize_item(pki.leaf.der))]
    error = refused(make(pki), headers)
    assert error.reason is Reason.DUPLICATE_HEADER
    assert error.http_status == 400


# -- modes -----------------------------------------------------------------------------------


def test_required_mode_without_certificate_is_401(pki: PKI) -> None:
    error = refused(make(pki), passthrough_headers(None))
    assert error.reason is Reason.MISSING_CERTIFICATE
    assert error.http_status == 401
    assert error.public_message == "client certificate required"


def test_optional_mode_anonymous_and_invalid(pki: PKI) -> None:
    verifier = make(pki, mode=Mode.OPTIONAL)
    assert verifier.verify_request(passthrough_headers(None)) is None
    other = CertificateAuthority.root_ca("other").issue("eve")
    assert refused(verifier, passthrough_headers(other)).http_status == 403
    assert verifier.stats["anonymous"] == 1
    assert verifier.stats["rejected:untrusted_chain"] == 1


def test_report_only_never_blocks_but_counts(pki: PKI, caplog: pytest.LogCaptureFixture) -> None:
    verifier = make(pki, mode="report_only")
    other = CertificateAuthority.root_ca("other").issue("eve")
    with caplog.at_level(logging.WARNING, logger="originverify"):
        assert verifier.verify_request(passthrough_headers(other)) is None
        assert verifier.verify_request(passthrough_headers(pki.leaf, secret="wrong" * 8)) is None
    assert verifier.verify_request(passthrough_headers(pki.leaf)) is not None
    assert verifier.stats["would_reject:untrusted_chain"] == 1
    assert verifier.stats["would_reject:edge_secret_mismatch"] == 1
    assert verifier.stats["verified"] == 1
    assert "would reject" in caplog.text and "untrusted_chain" in caplog.text


def test_rejections_are_logged_without_the_secret(
    pki: PKI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="originverify"):
        refused(make(pki), passthrough_headers(pki.leaf, secret="x" * 40))
    assert "edge_secret_mismatch" in caplog.text
    assert "x" * 40 not in caplog.text and EDGE_SECRET not in caplog.text


# -- configuration --------------------------------------------------------------------------


def test_no_source_proof_refuses_to_build(pki: PKI) -> None:
    from originverify import ConfigurationError

    with pytest.raises(ConfigurationError, match="no source proof"):
        Verifier(trust=pki.root.pem, source=None)


def test_insecure_opt_out_is_loud(pki: PKI, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="originverify"):
        verifier = Verifier(trust=pki.root.pem, source=InsecureNoSourceProof())
    assert "DISABLED" in caplog.text
    assert verifier.source.insecure
    assert verifier.verify_request(passthrough_headers(pki.leaf, secret=None)) is not None


def test_unknown_format_and_mode_are_configuration_errors(pki: PKI) -> None:
    from originverify import ConfigurationError

    with pytest.raises(ConfigurationError, match="unknown format"):
        make(pki, format="nope")
    with pytest.raises(ConfigurationError):
        make(pki, mode="sometimes")


def test_trust_reload_swaps_anchors(tmp_path: object, pki: PKI) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "anchors.pem"
    other = CertificateAuthority.root_ca("other")
    path.write_bytes(other.pem)
    verifier = Verifier(trust=TrustStore(path), source=EdgeSecret(secrets=[EDGE_SECRET]))
    assert refused(verifier, passthrough_headers(pki.leaf)).reason is Reason.UNTRUSTED_CHAIN
    path.write_bytes(pki.root.pem)
    verifier.reload_trust()
    assert verifier.verify_request(passthrough_headers(pki.leaf)) is not None


def test_edge_verdict_mode_skips_chain_but_records_it(pki: PKI) -> None:
    from originverify.formats.pem import encode_url_pem

    other = CertificateAuthority.root_ca("edge-validated root").issue("viewer")
    verifier = Verifier(
        trust=None,
        source=EdgeSecret(secrets=[EDGE_SECRET]),
        format=formats.CLOUDFRONT_VIEWER,
        trust_edge_verdict=True,
    )
    headers = [
        ("X-Origin-Verify", EDGE_SECRET),
        ("CloudFront-Viewer-Cert-Pem", encode_url_pem(other.der)),
    ]
    identity = verifier.verify_request(headers)
    assert identity is not None and identity.edge_verified
    assert "edge_verdict" in identity.checks and identity.chain == ()


def test_explain_lists_every_step(pki: PKI) -> None:
    report = make(pki).explain(passthrough_headers(pki.leaf))
    assert report.accepted
    names = [s.name for s in report.steps]
    assert names[:2] == ["source proof", "decode"] and "chain" in names
    assert len(report.path) == 3
    bad = make(pki).explain(passthrough_headers(pki.leaf, secret=None))
    assert not bad.accepted and bad.error is not None
    assert bad.error.reason is Reason.EDGE_SECRET_MISSING


def test_metadata_only_format_never_authenticates(pki: PKI) -> None:
    claims = [
        ("cf-cert-presented", "true"),
        ("cf-cert-verified", "true"),
        ("cf-cert-revoked", "false"),
        ("cf-cert-sha256", "ab" * 32),
    ]
    headers = [("X-Origin-Verify", EDGE_SECRET), *claims]
    optional = make(pki, format="cloudflare", mode="optional")
    assert optional.verify_request(headers) is None
    required = make(pki, format="cloudflare")
    assert refused(required, headers).reason is Reason.MISSING_CERTIFICATE


@pytest.mark.parametrize(
    ("verdict", "accepted"),
    [("SUCCESS", True), ("FAILED:unable to get issuer", False), (None, False)],
)
def test_trusted_edge_verdict_needs_the_verdict_header_to_say_yes(
    pki: PKI, verdict: str | None, accepted: bool
) -> None:
    from originverify.formats.pem import encode_url_pem

    headers = [("X-Origin-Verify", EDGE_SECRET), ("ssl-client-cert", encode_url_pem(pki.leaf.der))]
    if verdict is not None:
        headers.append(("ssl-client-verify", verdict))
    verifier = Verifier(
        trust=None,
        source=EdgeSecret(secrets=[EDGE_SECRET]),
        format="ingress-nginx",
        trust_edge_verdict=True,
    )
    if accepted:
        identity = verifier.verify_request(headers)
        assert identity is not None and identity.edge_verified
    else:
        assert refused(verifier, headers).reason is Reason.UNTRUSTED_CHAIN


@pytest.mark.parametrize(("as_json", "with_reason"), [(False, False), (True, False), (True, True)])
def test_refusal_bodies_never_carry_the_detail(as_json: bool, with_reason: bool) -> None:
    import json

    error = VerificationError(Reason.EXPIRED, "leaf 'CN=alice' expired 2026-01-01")
    content_type, body = error.response_body(as_json=as_json, with_reason=with_reason)
    assert b"alice" not in body and b"2026" not in body
    if not as_json:
        assert content_type.startswith("text/plain") and body == b"client certificate rejected\n"
        return
    payload = json.loads(body)
    assert payload["status"] == 403 and payload["error"] == "client certificate rejected"
    assert ("reason" in payload) is with_reason
    if with_reason:
        assert payload["reason"] == "expired"
