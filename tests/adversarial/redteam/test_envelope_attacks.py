"""The signed envelope (RFC 9421) and CloudFront Function digest binding under attack: an
attacker who can inject or replay headers but holds no signing key."""

from __future__ import annotations

import hashlib

import pytest

from originverify import Reason, VerificationError, Verifier
from originverify.formats import cloudfront_passthrough
from originverify.formats.sfbinary import serialize_item, serialize_list
from originverify.signatures import CLOUDFRONT_DIGEST_BINDING, EnvelopeSigner, SignedEnvelope
from tests.signatures.kit import AUTHORITY, ED_KEY, KEY_ID, METHOD, TARGET

from .kit import RedPKI, make_pki

Pairs = list[tuple[str, str]]


@pytest.fixture(scope="module")
def pki() -> RedPKI:
    return make_pki()


def _verifier(pki: RedPKI, *, binding: bool) -> Verifier:
    envelope = SignedEnvelope(
        {KEY_ID: ED_KEY.public_key()},
        digest_binding=CLOUDFRONT_DIGEST_BINDING if binding else None,
    )
    return Verifier(
        trust=pki.root.pem,
        source=envelope,
        format=cloudfront_passthrough(),
        cache=None,
        watch_interval=None,
    )


def _sign(headers: Pairs, target: str = TARGET, authority: str = AUTHORITY) -> Pairs:
    return EnvelopeSigner(ED_KEY, KEY_ID).sign(METHOD, authority, target, headers)


def _reason(v: Verifier, lines: Pairs, target: str = TARGET, authority: str = AUTHORITY) -> Reason:
    with pytest.raises(VerificationError) as info:
        v.verify_request(lines, "10.0.0.1", method=METHOD, target=target, authority=authority)
    return info.value.reason


def _digest(der: bytes) -> Pairs:
    return [("CloudFront-Viewer-Cert-Sha256", hashlib.sha256(der).hexdigest())]


def _cert(der: bytes, chain: tuple[bytes, ...] = ()) -> Pairs:
    lines = [("Client-Cert", serialize_item(der))]
    if chain:
        lines.append(("Client-Cert-Chain", serialize_list(list(chain))))
    return lines


def test_digest_bound_leaf_swapped_for_another(pki: RedPKI) -> None:
    signed = _digest(pki.alice.der)
    lines = _cert(pki.bob.der, pki.bob.chain_der) + signed + _sign(signed)
    assert _reason(_verifier(pki, binding=True), lines) is Reason.EDGE_MISMATCH


def test_digest_bound_leaf_accepted_when_it_matches(pki: RedPKI) -> None:
    signed = _digest(pki.alice.der)
    lines = _cert(pki.alice.der, pki.alice.chain_der) + signed + _sign(signed)
    identity = _verifier(pki, binding=True).verify_request(
        lines, "10.0.0.1", method=METHOD, target=TARGET, authority=AUTHORITY
    )
    assert identity is not None and identity.common_name == "alice"


def test_digest_binding_with_an_uncovered_claim(pki: RedPKI) -> None:
    signed = _digest(pki.alice.der)
    forged = [("CloudFront-Viewer-Cert-Subject", "CN=alice,O=originverify test")]
    lines = _cert(pki.alice.der, pki.alice.chain_der) + signed + forged + _sign(signed)
    assert _reason(_verifier(pki, binding=True), lines) is Reason.SIGNATURE_COVERAGE


def test_digest_binding_with_two_leaves(pki: RedPKI) -> None:
    signed = _digest(pki.alice.der)
    lines = _cert(pki.alice.der) + _cert(pki.bob.der) + signed + _sign(signed)
    assert _reason(_verifier(pki, binding=True), lines) is Reason.DUPLICATE_HEADER


def test_digest_binding_with_a_comma_joined_leaf(pki: RedPKI) -> None:
    signed = _digest(pki.alice.der)
    joined = serialize_item(pki.alice.der) + ", " + serialize_item(pki.bob.der)
    lines = [("Client-Cert", joined)] + signed + _sign(signed)
    assert _reason(_verifier(pki, binding=True), lines) in (
        Reason.MALFORMED_HEADER,
        Reason.EDGE_MISMATCH,
    )


def test_without_binding_an_uncovered_leaf_is_refused(pki: RedPKI) -> None:
    signed = _digest(pki.alice.der)
    lines = _cert(pki.bob.der, pki.bob.chain_der) + signed + _sign(signed)
    assert _reason(_verifier(pki, binding=False), lines) is Reason.SIGNATURE_COVERAGE


def test_uncovered_chain_injected_beside_a_signed_leaf(pki: RedPKI) -> None:
    edge = _cert(pki.alice.der)
    lines = edge + _sign(edge) + [("Client-Cert-Chain", serialize_list(list(pki.bob.chain_der)))]
    assert _reason(_verifier(pki, binding=False), lines) is Reason.SIGNATURE_COVERAGE


def test_replayed_envelope(pki: RedPKI) -> None:
    edge = _cert(pki.alice.der, pki.alice.chain_der)
    lines = edge + _sign(edge)
    v = _verifier(pki, binding=False)
    assert v.verify_request(lines, "10.0.0.1", method=METHOD, target=TARGET, authority=AUTHORITY)
    assert _reason(v, lines) is Reason.SIGNATURE_REPLAYED


@pytest.mark.parametrize(
    ("target", "authority"),
    [("/admin", AUTHORITY), (TARGET + "&x=1", AUTHORITY), (TARGET, "evil.example.com")],
)
def test_envelope_moved_to_another_request(pki: RedPKI, target: str, authority: str) -> None:
    edge = _cert(pki.alice.der, pki.alice.chain_der)
    lines = edge + _sign(edge)
    assert _reason(_verifier(pki, binding=False), lines, target, authority) is (
        Reason.SIGNATURE_INVALID
    )


def test_envelope_without_request_facts(pki: RedPKI) -> None:
    edge = _cert(pki.alice.der, pki.alice.chain_der)
    with pytest.raises(VerificationError) as info:
        _verifier(pki, binding=False).verify_request(edge + _sign(edge), "10.0.0.1")
    assert info.value.reason is Reason.SIGNATURE_COVERAGE


def test_signed_secret_never_reaches_a_refusal_detail_or_log(
    pki: RedPKI, caplog: pytest.LogCaptureFixture
) -> None:
    """The edge secret is part of the signature base (signed as an extra header): a failing
    signature must not echo the base into the detail or the log line."""
    import base64
    import logging

    from originverify import EdgeSecret
    from originverify.source import AllOf

    from .kit import SECRET, pairs

    caplog.set_level(logging.DEBUG, logger="originverify")
    envelope = SignedEnvelope({KEY_ID: ED_KEY.public_key()})
    v = Verifier(
        trust=pki.root.pem,
        source=AllOf(EdgeSecret(secrets=[SECRET]), envelope),
        cache=None,
        watch_interval=None,
    )
    edge = pairs(pki.alice)
    signature_input, signature = _sign(edge)
    raw = bytearray(base64.b64decode(signature[1].split("=:", 1)[1].rstrip(":")))
    raw[0] ^= 1
    tampered = ("Signature", "originverify=:" + base64.b64encode(bytes(raw)).decode() + ":")
    for lines, target in ((edge + [signature_input, tampered], TARGET), (edge + _sign(edge), "/x")):
        assert _reason(v, lines, target) is Reason.SIGNATURE_INVALID
    assert SECRET not in caplog.text
