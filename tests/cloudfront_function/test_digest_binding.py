"""``SignedEnvelope(digest_binding=...)``, the class of requests it must refuse, without Node.js:
the edge's signature made with ``EnvelopeSigner`` over the same components the function covers."""

from __future__ import annotations

import hashlib
import secrets

import pytest

from originverify import ConfigurationError, Reason, VerificationError, Verifier
from originverify.devpki import Issued
from originverify.formats.sfbinary import serialize_item
from originverify.signatures import (
    CLOUDFRONT_DIGEST_BINDING,
    DigestBinding,
    EnvelopeSigner,
    HmacSecret,
    SignedEnvelope,
)
from tests.cloudfront_function.conftest import Pki
from tests.cloudfront_function.kit import ORIGIN, claims

Pairs = list[tuple[str, str]]
KEY = HmacSecret(secrets.token_bytes(32))


def verifier(pki: Pki) -> Verifier:
    source = SignedEnvelope({"cf": KEY}, digest_binding=CLOUDFRONT_DIGEST_BINDING)
    return Verifier(
        trust=pki.root.pem, format="cloudfront-passthrough", source=source, mode="optional"
    )


def edge(issued: Issued | None, *, signs_for: Issued | None = None) -> Pairs:
    """Claims (about ``signs_for``, default the viewer's) signed, then the forwarded leaf."""
    seen = list(claims(signs_for or issued).items())
    pairs = seen + EnvelopeSigner(KEY, "cf").sign("GET", ORIGIN, "/x", seen)
    if issued is not None:
        pairs.append(("Client-Cert", serialize_item(issued.der)))
        pairs += [("Client-Cert-Chain", serialize_item(d)) for d in issued.chain_der]
    return pairs


def reason(pki: Pki, pairs: Pairs) -> Reason | None:
    try:
        verifier(pki).verify_request(pairs, "10.0.0.1", method="GET", target="/x", authority=ORIGIN)
    except VerificationError as exc:
        return exc.reason
    return None


def test_bound_leaf_accepted(pki: Pki) -> None:
    assert reason(pki, edge(pki.alice)) is None


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        # The leaf of someone else next to alice's signed hash.
        (
            lambda p, k: [
                *(x for x in p if x[0] != "Client-Cert"),
                ("Client-Cert", serialize_item(k.bob.der)),
            ],
            Reason.EDGE_MISMATCH,
        ),
        # The signed hash, and no leaf at all (stripped on the way).
        (lambda p, k: [x for x in p if not x[0].startswith("Client-Cert")], Reason.EDGE_MISMATCH),
        # A second leaf line.
        (lambda p, k: [*p, ("Client-Cert", serialize_item(k.alice.der))], Reason.DUPLICATE_HEADER),
        # Not an RFC 9440 byte sequence.
        (
            lambda p, k: [*(x for x in p if x[0] != "Client-Cert"), ("Client-Cert", "MIIB")],
            Reason.MALFORMED_HEADER,
        ),
        (
            lambda p, k: [*(x for x in p if x[0] != "Client-Cert"), ("Client-Cert", ":MII!B:")],
            Reason.MALFORMED_HEADER,
        ),
    ],
    ids=["other-leaf", "leaf-stripped", "two-leaves", "not-sf-binary", "bad-base64"],
)
def test_refused(pki: Pki, mutate: object, expected: Reason) -> None:
    assert callable(mutate)
    assert reason(pki, mutate(edge(pki.alice), pki)) is expected


def test_unsigned_viewer_gets_no_leaf_or_chain_in(pki: Pki) -> None:
    """No certificate at the edge: nothing signed binds a leaf, so an injected one (or a chain
    alone) is an uncovered certificate header."""
    anonymous = edge(None)
    assert reason(pki, anonymous) is None
    assert reason(pki, [*anonymous, ("Client-Cert", serialize_item(pki.bob.der))]) is (
        Reason.SIGNATURE_COVERAGE
    )
    chain = ("Client-Cert-Chain", serialize_item(pki.alice.chain_der[0]))
    assert reason(pki, [*anonymous, chain]) is Reason.SIGNATURE_COVERAGE


def test_hash_claim_cannot_be_reworded(pki: Pki) -> None:
    pairs = edge(pki.alice)
    upper = [(n, v.upper() if n.endswith("sha256") else v) for n, v in pairs]
    assert reason(pki, upper) is Reason.SIGNATURE_INVALID  # the signed bytes changed
    assert hashlib.sha256(pki.alice.der).hexdigest() in dict(pairs).values()


def test_binding_must_name_headers_the_format_reads(pki: Pki) -> None:
    odd = SignedEnvelope({"cf": KEY}, digest_binding=DigestBinding(digest="x-cert-hash"))
    with pytest.raises(ConfigurationError, match="digest_binding"):
        Verifier(trust=pki.root.pem, format="cloudfront-passthrough", source=odd)


def test_spoofed_hash_without_a_handshake_certificate(pki: Pki) -> None:
    """A viewer with no certificate that sends alice's hash itself (if CloudFront let it
    through, the function would sign it) and, somehow, alice's public certificate: CloudFront
    said ``Present: 0``, so the certificate cannot be the viewer's."""
    seen = [
        ("cloudfront-viewer-cert-present", "0"),
        ("cloudfront-viewer-cert-sha256", hashlib.sha256(pki.alice.der).hexdigest()),
    ]
    pairs = seen + EnvelopeSigner(KEY, "cf").sign("GET", ORIGIN, "/x", seen)
    pairs.append(("Client-Cert", serialize_item(pki.alice.der)))
    assert reason(pki, pairs) is Reason.EDGE_MISMATCH


def test_setting_accepts_only_cloudfront(tmp_path: object) -> None:
    from originverify.signatures import from_settings

    made = from_settings(
        {"signature_keys": {"cf": KEY.spec()}, "signature_digest_binding": "cloudfront"}
    )
    assert made is not None and made.digest_binding is CLOUDFRONT_DIGEST_BINDING
    with pytest.raises(ConfigurationError, match="signature_digest_binding"):
        from_settings({"signature_keys": {"cf": KEY.spec()}, "signature_digest_binding": "yes"})
