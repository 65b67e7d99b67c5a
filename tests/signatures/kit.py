"""Helpers for the signed envelope tests: keys, signed requests, hand-made signatures."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import HTTPMessageSigner, algorithms

from originverify import Reason, VerificationError, Verifier
from originverify.devpki import Issued
from originverify.envelope import (
    LABEL,
    REQUIRED_COMPONENTS,
    TAG,
    EnvelopeSigner,
    HmacSecret,
    SignedEnvelope,
    request_url,
)
from tests.conftest import PKI, passthrough_headers
from tests.signatures.oracle import Fields, Message, signature_headers

KEY_ID = "edge-2026-11"
NEXT_KEY_ID = "edge-2026-12"
HMAC_KEY_ID = "edge-hmac-1"
ED_KEY = Ed25519PrivateKey.generate()
NEXT_KEY = Ed25519PrivateKey.generate()
HMAC_KEY = HmacSecret(b"0123456789abcdef0123456789abcdef-hmac")

METHOD = "GET"
AUTHORITY = "app.example.com"
TARGET = "/orders/7?expand=items"
Pairs = list[tuple[str, str]]


def envelope(**options: object) -> SignedEnvelope:
    """The origin's proof with the three test keys live."""
    keys = {KEY_ID: ED_KEY.public_key(), HMAC_KEY_ID: HMAC_KEY}
    return SignedEnvelope(keys, **options)  # type: ignore[arg-type]


def verifier(pki: PKI, source: object | None = None, **options: object) -> Verifier:
    return Verifier(trust=pki.root_pem, source=source or envelope(), cache=None, **options)  # type: ignore[arg-type]


def edge_headers(leaf: Issued, *, chain: bool = True, secret: str | None = None) -> Pairs:
    """What the edge sets: the certificate headers (and its secret)."""
    return passthrough_headers(leaf, None if chain else (), secret=secret)


def signed(
    leaf: Issued,
    signer: EnvelopeSigner | None = None,
    *,
    method: str = METHOD,
    authority: str = AUTHORITY,
    target: str = TARGET,
    secret: str | None = None,
    chain: bool = True,
) -> Pairs:
    """A request as the edge forwards it: its headers plus the signature over them."""
    headers = edge_headers(leaf, chain=chain, secret=secret)
    signer = signer or EnvelopeSigner(ED_KEY, KEY_ID)
    return headers + signer.sign(method, authority, target, headers)


def verify(
    checker: Verifier,
    pairs: Pairs,
    *,
    method: str | None = METHOD,
    target: str | None = TARGET,
    authority: str | None = AUTHORITY,
) -> object:
    return checker.verify_request(
        pairs, "10.0.0.9", method=method, target=target, authority=authority
    )


def reason(checker: Verifier, pairs: Pairs, **request: str | None) -> Reason:
    with pytest.raises(VerificationError) as info:
        verify(checker, pairs, **request)
    return info.value.reason


def craft(
    headers: Pairs,
    *,
    key: Ed25519PrivateKey | HmacSecret = ED_KEY,
    key_id: str = KEY_ID,
    components: Sequence[str] | None = None,
    created: float | None = None,
    expires: float | None = 30,
    nonce: str | None = "n-0123456789abcdef",
    tag: str | None = TAG,
    include_alg: bool = True,
    label: str = LABEL,
    method: str = METHOD,
    authority: str = AUTHORITY,
    target: str = TARGET,
) -> Pairs:
    """A hand-made RFC 9421 signature (any components or parameters), for the policy tests."""
    hmac = isinstance(key, HmacSecret)
    algorithm = algorithms.HMAC_SHA256 if hmac else algorithms.ED25519
    names = [n.lower() for n, _ in headers]
    if components is None:
        components = (*REQUIRED_COMPONENTS, *dict.fromkeys(names))
    now = time.time() if created is None else created
    when = datetime.fromtimestamp(int(now), UTC)
    message = Message(method, request_url(authority, target), Fields(list(headers)))
    prepared = HTTPMessageSigner(signature_algorithm=algorithm).prepare(
        message,
        key_id=key_id,
        created=when,
        expires=None if expires is None else datetime.fromtimestamp(int(now + expires), UTC),
        nonce=nonce,
        label=label,
        tag=tag,
        include_alg=include_alg,
        covered_component_ids=tuple(components),
    )
    material = key.secret if isinstance(key, HmacSecret) else key
    return signature_headers(prepared, algorithm(private_key=material))


def replace(pairs: Pairs, name: str, value: str | None) -> Pairs:
    """``pairs`` with header ``name`` set to ``value`` (removed when None)."""
    out = [(n, v) for n, v in pairs if n.lower() != name.lower()]
    return out if value is None else [*out, (name, value)]


def value_of(pairs: Pairs, name: str) -> str:
    return next(v for n, v in pairs if n.lower() == name.lower())
