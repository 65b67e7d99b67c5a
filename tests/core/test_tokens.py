"""RFC 8705 certificate-bound tokens: the thumbprint, and the cnf check with its reasons."""

from __future__ import annotations

import base64
import datetime as dt
import shutil
import subprocess

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from originverify import (
    ANONYMOUS,
    ClientIdentity,
    Reason,
    VerificationError,
    build_verifier,
    testing,
)
from originverify.tokens import bearer_challenge, check_token_binding, x5t_s256


@pytest.fixture(scope="module")
def pki() -> testing.PKI:
    return testing.PKI("tokens")


@pytest.fixture(scope="module")
def edge() -> testing.Edge:
    return testing.Edge()


def identity_of(pki: testing.PKI, edge: testing.Edge, cert: testing.ClientCert) -> ClientIdentity:
    identity = build_verifier(edge.settings(pki, cache_size=0)).verify_request(edge.pairs(cert))
    assert identity is not None
    return identity


def test_thumbprint_matches_openssl(pki: testing.PKI, tmp_path) -> None:  # type: ignore[no-untyped-def]
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed (apt-get install openssl)")
    cert = pki.client("alice")
    (tmp_path / "c.pem").write_bytes(cert.pem)
    der = subprocess.run(
        [openssl, "x509", "-in", str(tmp_path / "c.pem"), "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout
    digest = subprocess.run(
        [openssl, "dgst", "-sha256", "-binary"], input=der, capture_output=True, check=True
    ).stdout
    expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert x5t_s256(cert.der) == x5t_s256(cert.leaf) == expected
    assert len(expected) == 43 and "=" not in expected


def test_identity_thumbprint_equals_the_certificate_one(
    pki: testing.PKI, edge: testing.Edge
) -> None:
    cert = pki.client("bob")
    identity = identity_of(pki, edge, cert)
    assert identity.x5t_s256 == x5t_s256(identity) == x5t_s256(cert.der)
    assert ANONYMOUS.x5t_s256 is None


def token(claims: dict[str, object], key: ec.EllipticCurvePrivateKey) -> str:
    now = dt.datetime.now(dt.UTC)
    body = {
        "iss": "https://as.test",
        "aud": "orders",
        "iat": now,
        "exp": now + dt.timedelta(minutes=5),
    }
    return jwt.encode(body | claims, key, algorithm="ES256")


def test_bound_token_accepted_and_other_certificate_refused(
    pki: testing.PKI, edge: testing.Edge
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    alice, mallory = pki.client("alice"), pki.client("mallory")
    issued = token({"cnf": {"x5t#S256": x5t_s256(alice.der)}}, key)
    claims = jwt.decode(issued, key.public_key(), algorithms=["ES256"], audience="orders")
    check_token_binding(claims, identity_of(pki, edge, alice))
    with pytest.raises(VerificationError) as caught:
        check_token_binding(claims, identity_of(pki, edge, mallory))
    assert caught.value.reason is Reason.TOKEN_BINDING_MISMATCH
    assert caught.value.http_status == 401
    assert "token_binding_mismatch" in str(caught.value)
    assert bearer_challenge(caught.value).startswith('Bearer error="invalid_token"')


@pytest.mark.parametrize(
    "claims",
    [{}, {"cnf": None}, {"cnf": "x"}, {"cnf": {}}, {"cnf": {"jkt": "abc"}}],
    ids=["no-cnf", "null", "string", "empty", "other-method"],
)
def test_unbound_token_refused(
    claims: dict[str, object], pki: testing.PKI, edge: testing.Edge
) -> None:
    with pytest.raises(VerificationError) as caught:
        check_token_binding(claims, identity_of(pki, edge, pki.client()))
    assert caught.value.reason is Reason.TOKEN_NOT_BOUND
    assert caught.value.http_status == 401


@pytest.mark.parametrize(
    "value",
    [42, "", "a" * 42, "a" * 44, "é" * 43, ["x"], None, b"a" * 43],
    ids=["int", "empty", "short", "long", "non-ascii", "list", "null", "bytes"],
)
def test_malformed_thumbprint_is_a_mismatch(
    value: object, pki: testing.PKI, edge: testing.Edge
) -> None:
    identity = identity_of(pki, edge, pki.client())
    with pytest.raises(VerificationError) as caught:
        check_token_binding({"cnf": {"x5t#S256": value}}, identity)
    expected = Reason.TOKEN_NOT_BOUND if value is None else Reason.TOKEN_BINDING_MISMATCH
    assert caught.value.reason is expected


def test_padded_or_standard_base64_is_not_accepted(pki: testing.PKI, edge: testing.Edge) -> None:
    cert = pki.client()
    identity = identity_of(pki, edge, cert)
    standard = base64.b64encode(bytes.fromhex(identity.fingerprint_sha256)).decode()
    with pytest.raises(VerificationError) as caught:
        check_token_binding({"cnf": {"x5t#S256": standard}}, identity)  # 44 chars, padded
    assert caught.value.reason is Reason.TOKEN_BINDING_MISMATCH


@pytest.mark.parametrize("anonymous", [None, ANONYMOUS])
def test_anonymous_request_needs_a_certificate(anonymous: object) -> None:
    with pytest.raises(VerificationError) as caught:
        check_token_binding({"cnf": {"x5t#S256": "a" * 43}}, anonymous)  # type: ignore[arg-type]
    assert caught.value.reason is Reason.MISSING_CERTIFICATE
