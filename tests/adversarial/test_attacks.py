"""The attacks of shared/reference/security-perf.md §1–§5 that apply to an origin verifier,
each asserted with its exact reason code. (Forwarder-side attacks live in tests/edge.)"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from originverify import (
    EdgeSecret,
    Limits,
    Reason,
    VerificationError,
    Verifier,
    WSGIHeaders,
)
from originverify.chain import CryptographyEngine
from originverify.devpki import CertificateAuthority, Issued, cert_der
from originverify.formats.sfbinary import serialize_item, serialize_list
from tests.conftest import EDGE_SECRET, PKI, passthrough_headers


class CountingEngine(CryptographyEngine):
    """The real engine, counting calls: proves a refusal happened before signature work."""

    calls = 0

    def validate(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        type(self).calls += 1
        return super().validate(*args, **kwargs)


def verifier(pki: PKI, **kwargs: object) -> Verifier:
    kwargs.setdefault("cache", None)
    return Verifier(trust=pki.root.pem, source=EdgeSecret(secrets=[EDGE_SECRET]), **kwargs)  # type: ignore[arg-type]


def reason(v: Verifier, headers: object, **kwargs: object) -> Reason:
    with pytest.raises(VerificationError) as info:
        v.verify_request(headers, **kwargs)  # type: ignore[arg-type]
    return info.value.reason


# -- §0.1 / §1.6: a forwarded certificate proves nothing without the edge ------------------


def test_victims_public_certificate_pasted_without_edge_proof(pki: PKI) -> None:
    stolen = passthrough_headers(pki.leaf, secret=None)
    assert reason(verifier(pki), stolen) is Reason.EDGE_SECRET_MISSING


def test_guessed_secret_is_refused(pki: PKI) -> None:
    guessed = passthrough_headers(pki.leaf, secret=EDGE_SECRET[:-1] + "x")
    assert reason(verifier(pki), guessed) is Reason.EDGE_SECRET_MISMATCH


# -- §1.3: duplicates, comma-joined values, underscore and case variants -------------------


def test_second_client_cert_line_is_refused(pki: PKI) -> None:
    mallory = pki.intermediate.issue("mallory")
    headers = passthrough_headers(pki.leaf) + [("Client-Cert", serialize_item(mallory.der))]
    assert reason(verifier(pki), headers) is Reason.DUPLICATE_HEADER


def test_comma_joined_duplicate_is_refused_under_wsgi(pki: PKI) -> None:
    item = serialize_item(pki.leaf.der)
    environ = {
        "HTTP_X_ORIGIN_VERIFY": EDGE_SECRET,
        "HTTP_CLIENT_CERT": f"{item},{serialize_item(pki.intermediate.issue('m').der)}",
    }
    assert reason(verifier(pki), WSGIHeaders(environ)) is Reason.MALFORMED_HEADER


def test_duplicate_secret_joined_by_the_server_no_longer_matches(pki: PKI) -> None:
    environ = {"HTTP_X_ORIGIN_VERIFY": f"{EDGE_SECRET},{EDGE_SECRET}"}
    assert reason(verifier(pki), WSGIHeaders(environ)) is Reason.EDGE_SECRET_MISMATCH


@pytest.mark.parametrize("name", ["Client_Cert", "client_cert", "CLIENT_CERT", "Client-Cert_Chain"])
def test_underscore_spellings_are_refused(pki: PKI, name: str) -> None:
    # The optional-mode attack: the edge forwards no certificate; the attacker adds one.
    headers = passthrough_headers(None) + [(name, serialize_item(pki.leaf.der))]
    assert reason(verifier(pki, mode="optional"), headers) is Reason.AMBIGUOUS_HEADER_NAME


def test_case_variants_are_the_same_header(pki: PKI) -> None:
    headers = passthrough_headers(pki.leaf) + [("CLIENT-CERT", serialize_item(pki.leaf.der))]
    assert reason(verifier(pki), headers) is Reason.DUPLICATE_HEADER


def test_chain_list_stuffed_by_a_smuggled_duplicate_is_capped(pki: PKI) -> None:
    chain = [cert_der(pki.intermediate.cert)] * 6
    headers = passthrough_headers(pki.leaf, chain=chain)
    assert reason(verifier(pki), headers) is Reason.CHAIN_TOO_LONG


def test_present_zero_with_injected_certificate(pki: PKI) -> None:
    headers = passthrough_headers(pki.leaf, extra=[("CloudFront-Viewer-Cert-Present", "0")])
    assert reason(verifier(pki, mode="optional"), headers) is Reason.EDGE_MISMATCH


# -- §1.5: anchors, EKU, name constraints --------------------------------------------------


def test_client_root_sent_as_its_own_anchor(pki: PKI) -> None:
    attacker = CertificateAuthority.root_ca("attacker")
    leaf = attacker.issue("mallory")
    headers = passthrough_headers(leaf, chain=(cert_der(attacker.cert),))
    assert reason(verifier(pki), headers) is Reason.UNTRUSTED_CHAIN


def test_same_subject_attacker_ca(pki: PKI) -> None:
    fake_root = CertificateAuthority.root_ca("test root")
    fake_inter = fake_root.intermediate("test intermediate")
    leaf = fake_inter.issue("alice", emails=["alice@example.com"])
    chain = (cert_der(fake_inter.cert), cert_der(fake_root.cert))
    assert reason(verifier(pki), passthrough_headers(leaf, chain)) is Reason.UNTRUSTED_CHAIN


def test_server_auth_only_certificate(pki: PKI) -> None:
    leaf = pki.intermediate.issue(
        "www", dns=["www.example"], eku=(ExtendedKeyUsageOID.SERVER_AUTH,)
    )
    assert reason(verifier(pki), passthrough_headers(leaf)) is Reason.BAD_USAGE


def test_email_protection_certificate(pki: PKI) -> None:
    leaf = pki.intermediate.issue("smime", eku=(ExtendedKeyUsageOID.EMAIL_PROTECTION,))
    assert reason(verifier(pki), passthrough_headers(leaf)) is Reason.BAD_USAGE


def test_no_eku_under_strict_mode(pki: PKI) -> None:
    leaf = pki.intermediate.issue("legacy", eku=None)
    assert reason(verifier(pki, require_eku=True), passthrough_headers(leaf)) is Reason.BAD_USAGE


def test_name_constraint_violation(pki: PKI) -> None:
    constrained = pki.root.intermediate("partner CA", permitted_dns=["partner.example"])
    leaf = constrained.issue("evil", dns=["bank.example"])
    assert reason(verifier(pki), passthrough_headers(leaf)) is Reason.NAME_CONSTRAINTS


def test_cn_only_leaf_under_a_constrained_ca(pki: PKI) -> None:
    # pyca checks constraints against SANs only; a SAN-less leaf must not slip past.
    constrained = pki.root.intermediate("partner CA 2", permitted_dns=["partner.example"])
    leaf = constrained.issue("bank.example")
    assert reason(verifier(pki), passthrough_headers(leaf)) is Reason.NAME_CONSTRAINTS


def test_ca_certificate_presented_as_leaf(pki: PKI) -> None:
    leaf = pki.intermediate.issue("sub-ca", is_ca=True)
    assert reason(verifier(pki), passthrough_headers(leaf)) is Reason.INVALID_CERTIFICATE


def test_expired_intermediate_on_the_only_path(pki: PKI) -> None:
    now = dt.datetime.now(dt.UTC)
    old = pki.root.intermediate(
        "old CA", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
    )
    leaf = old.issue("x", not_before=now - dt.timedelta(days=20))
    assert reason(verifier(pki), passthrough_headers(leaf)) is Reason.EXPIRED


# -- §1.5 / §3: bounded work -----------------------------------------------------------------


def _leaf_with_public_key(issuer: CertificateAuthority, key: rsa.RSAPublicKey) -> Issued:
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "huge")]))
        .issuer_name(issuer.cert.subject)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), False
        )  # type: ignore[arg-type]
        .sign(issuer.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return Issued(cert, issuer.key, issuer._presented(), issuer.root)  # type: ignore[arg-type]


def _fake_rsa_key(bits: int, exponent: int = 65537) -> rsa.RSAPublicKey:
    # A 16384-bit modulus need not be a product of primes to make the point: generating a
    # real one takes minutes; the verifier must refuse it on size alone.
    modulus = (1 << (bits - 1)) | int.from_bytes(bytes(range(256)) * (bits // 2048), "big") | 1
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()


@pytest.mark.parametrize(("bits", "exponent"), [(16384, 65537), (8192, 65537), (2048, 3)])
def test_oversized_or_odd_rsa_key_refused_before_signature_work(
    pki: PKI, bits: int, exponent: int
) -> None:
    leaf = _leaf_with_public_key(pki.intermediate, _fake_rsa_key(bits, exponent))
    CountingEngine.calls = 0
    v = verifier(pki)
    v.engine = CountingEngine(v.trust, v.policy)  # type: ignore[arg-type]
    assert reason(v, passthrough_headers(leaf)) is Reason.UNSUPPORTED_KEY
    assert CountingEngine.calls == 0


def test_huge_rsa_intermediate_in_chain_refused(pki: PKI) -> None:
    leaf = pki.intermediate.issue("ok")
    bogus = _leaf_with_public_key(pki.intermediate, _fake_rsa_key(16384))
    headers = passthrough_headers(leaf, chain=(*leaf.chain_der, bogus.der))
    assert reason(verifier(pki), headers) is Reason.UNSUPPORTED_KEY


def test_certificate_loop_terminates(pki: PKI) -> None:
    # Two CAs that cross-sign each other, neither anchored: path building must give up.
    a = CertificateAuthority.root_ca("loop A")
    b_key = CertificateAuthority.root_ca("loop B")
    a_by_b = b_key.intermediate("loop A")
    leaf = a.issue("looped")
    chain = (cert_der(a_by_b.cert), cert_der(b_key.cert))
    start = time.perf_counter()
    assert reason(verifier(pki), passthrough_headers(leaf, chain)) is Reason.UNTRUSTED_CHAIN
    assert time.perf_counter() - start < 5  # bounded, not a benchmark


def test_many_same_subject_intermediates_are_capped(pki: PKI) -> None:
    decoys = [cert_der(pki.root.intermediate("test intermediate").cert) for _ in range(5)]
    leaf = pki.intermediate.issue("x")
    headers = passthrough_headers(leaf, chain=(*decoys, *leaf.chain_der))
    assert reason(verifier(pki), headers) is Reason.CHAIN_TOO_LONG
    roomy = verifier(pki, limits=Limits(max_chain_certs=8))
    assert roomy.verify_request(headers) is not None


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("Client-Cert", 17 * 1024, Reason.HEADER_TOO_LARGE),
        ("Client-Cert-Chain", 65 * 1024, Reason.HEADER_TOO_LARGE),
        ("CloudFront-Viewer-Cert-Subject", 5 * 1024, Reason.HEADER_TOO_LARGE),
    ],
)
def test_oversized_headers(pki: PKI, header: str, size: int, expected: Reason) -> None:
    headers = passthrough_headers(pki.leaf)
    headers = [(k, v) for k, v in headers if k != header] + [(header, ":" + "A" * size + ":")]
    assert reason(verifier(pki), headers) is expected


def test_hostile_subject_does_not_bloat_the_log_detail(pki: PKI) -> None:
    leaf = pki.intermediate.issue("x" * 60, dns=[f"h{i}.bad.example" for i in range(300)])
    other = CertificateAuthority.root_ca("other")
    v = Verifier(trust=other.pem, source=EdgeSecret(secrets=[EDGE_SECRET]), cache=None)
    with pytest.raises(VerificationError) as info:
        v.verify_request(passthrough_headers(leaf))
    assert len(info.value.detail) <= 1000


def test_chain_header_alone_is_not_a_certificate(pki: PKI) -> None:
    headers = [
        ("X-Origin-Verify", EDGE_SECRET),
        ("Client-Cert-Chain", serialize_list(pki.leaf.chain_der)),
    ]
    assert reason(verifier(pki, mode="optional"), headers) is Reason.CHAIN_WITHOUT_LEAF
