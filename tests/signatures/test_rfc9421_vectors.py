"""RFC 9421 Appendix B vectors through our message view, URL builder, key loaders and header
serialization (the same pieces ``EnvelopeSigner`` and ``SignedEnvelope`` use).

B.2.6 (Ed25519) is deterministic, so the exact signature value is checked; B.2.5 (HMAC-SHA256)
likewise. Keys: B.1.4 (test-key-ed25519) and B.1.5 (test-shared-secret); request: B.2.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)

from originverify.envelope import (
    HmacSecret,
    load_signing_key,
    load_verification_key,
    request_url,
)
from tests.signatures.oracle import Fields, Message, signature_headers

# RFC 9421 B.1.4
TEST_KEY_ED25519_PRIVATE = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
"""
TEST_KEY_ED25519_PUBLIC = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----
"""
# RFC 9421 B.1.5
TEST_SHARED_SECRET = (
    "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ=="
)
# RFC 9421 B.2: POST /foo?param=Value&Pet=dog HTTP/1.1, body {"hello": "world"}
B2_TARGET = "/foo?param=Value&Pet=dog"
B2_HEADERS = [
    ("Host", "example.com"),
    ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"),
    ("Content-Type", "application/json"),
    (
        "Content-Digest",
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEm"
        "THWXvJwew==:",
    ),
    ("Content-Length", "18"),
]
CREATED = datetime.fromtimestamp(1618884473, UTC)

B26_COMPONENTS = ("date", "@method", "@path", "@authority", "content-type", "content-length")
B26_PARAMS = (
    '("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
B26_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@method": POST\n'
    '"@path": /foo\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    '"content-length": 18\n'
    f'"@signature-params": {B26_PARAMS}'
)
B26_SIGNATURE = (
    "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
)

B25_COMPONENTS = ("date", "@authority", "content-type")
B25_PARAMS = '("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"'
B25_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    f'"@signature-params": {B25_PARAMS}'
)
B25_SIGNATURE = "pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8="


def b2_message(extra: list[tuple[str, str]] | None = None) -> Message:
    return Message(
        "POST", request_url("example.com", B2_TARGET), Fields([*B2_HEADERS, *(extra or [])])
    )


def sign(algorithm: type, key: object, key_id: str, label: str, components: tuple[str, ...]):  # type: ignore[no-untyped-def]
    prepared = HTTPMessageSigner(signature_algorithm=algorithm).prepare(
        b2_message(),
        key_id=key_id,
        created=CREATED,
        include_alg=False,
        label=label,
        covered_component_ids=components,
        use_existing_digest=True,
    )
    return prepared, signature_headers(prepared, algorithm(private_key=key))


def test_b26_ed25519_exact_signature() -> None:
    key = load_signing_key(TEST_KEY_ED25519_PRIVATE)
    prepared, headers = sign(algorithms.ED25519, key, "test-key-ed25519", "sig-b26", B26_COMPONENTS)
    assert prepared.signature_base.decode() == B26_BASE
    assert headers == [
        ("Signature-Input", f"sig-b26={B26_PARAMS}"),
        ("Signature", f"sig-b26=:{B26_SIGNATURE}:"),
    ]


def test_b25_hmac_exact_signature() -> None:
    secret = load_verification_key("hmac-sha256:" + TEST_SHARED_SECRET)
    assert isinstance(secret, HmacSecret)
    assert secret.secret == base64.b64decode(TEST_SHARED_SECRET)
    prepared, headers = sign(
        algorithms.HMAC_SHA256, secret.secret, "test-shared-secret", "sig-b25", B25_COMPONENTS
    )
    assert prepared.signature_base.decode() == B25_BASE
    assert headers == [
        ("Signature-Input", f"sig-b25={B25_PARAMS}"),
        ("Signature", f"sig-b25=:{B25_SIGNATURE}:"),
    ]


def verifier(algorithm: type, key_id: str, key: Any) -> HTTPMessageVerifier:
    return HTTPMessageVerifier(
        signature_algorithm=algorithm,
        key_resolver=MappingKeyResolver(public_keys={key_id: key}, private_keys={}),
    )


@pytest.mark.parametrize(
    ("algorithm", "key_id", "key", "label", "params", "signature"),
    [
        (
            algorithms.ED25519,
            "test-key-ed25519",
            load_verification_key(TEST_KEY_ED25519_PUBLIC),
            "sig-b26",
            B26_PARAMS,
            B26_SIGNATURE,
        ),
        (
            algorithms.HMAC_SHA256,
            "test-shared-secret",
            base64.b64decode(TEST_SHARED_SECRET),
            "sig-b25",
            B25_PARAMS,
            B25_SIGNATURE,
        ),
    ],
)
def test_rfc_signatures_verify_and_tampering_fails(
    algorithm: type, key_id: str, key: object, label: str, params: str, signature: str
) -> None:
    """The RFC's own Signature fields verify through our message view; a changed covered
    field does not."""
    fields = [("Signature-Input", f"{label}={params}"), ("Signature", f"{label}=:{signature}:")]
    check = verifier(algorithm, key_id, key)
    (result,) = check.verify(b2_message(fields), max_age=None)
    assert result.parameters["keyid"] == key_id
    assert result.covered_components['"@authority"'] == "example.com"
    tampered = b2_message(fields)
    tampered.headers = Fields(
        [(n, "text/plain" if n == "Content-Type" else v) for n, v in tampered.headers.items()]
    )
    with pytest.raises(InvalidSignature):
        check.verify(tampered, max_age=None)


def test_b2_request_components_through_our_url() -> None:
    """@authority/@path/@query of the B.2 request as our request_url presents them."""
    prepared = HTTPMessageSigner(signature_algorithm=algorithms.ED25519).prepare(
        b2_message(),
        key_id="k",
        created=CREATED,
        include_alg=False,
        covered_component_ids=("@authority", "@path", "@query"),
        use_existing_digest=True,
    )
    assert prepared.signature_base.decode().splitlines()[:3] == [
        '"@authority": example.com',
        '"@path": /foo',
        '"@query": ?param=Value&Pet=dog',
    ]
