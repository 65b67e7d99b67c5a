"""Keys from objects, files, the environment and settings; mistakes fail at start-up."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from originverify import ConfigurationError, Verifier
from originverify.envelope import (
    EnvelopeSigner,
    HmacSecret,
    SignedEnvelope,
    from_settings,
    load_signing_key,
    load_verification_key,
)
from tests.conftest import PKI
from tests.signatures.kit import signed, verify

PRIVATE = Ed25519PrivateKey.generate()
PUBLIC_PEM = PRIVATE.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
PRIVATE_PEM = PRIVATE.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
RAW = PRIVATE.public_key().public_bytes_raw()
SECRET = bytes(range(32))
HMAC_SPEC = "hmac-sha256:" + base64.b64encode(SECRET).decode()
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    "value",
    [PUBLIC_PEM, PUBLIC_PEM.decode(), RAW, "ed25519:" + base64.b64encode(RAW).decode()],
    ids=["pem-bytes", "pem-text", "raw", "spec"],  # stable: the key is random per run
)
def test_ed25519_public_key_forms(value: bytes | str) -> None:
    key = load_verification_key(value)
    assert isinstance(key, Ed25519PublicKey)
    assert key.public_bytes_raw() == RAW


def test_hmac_secret_form_and_secrecy() -> None:
    key = load_verification_key(HMAC_SPEC)
    assert key == HmacSecret(SECRET)
    assert SECRET.hex() not in repr(key) and str(SECRET) not in repr(key)
    assert load_signing_key(HMAC_SPEC) == key
    assert HmacSecret(SECRET).spec() == HMAC_SPEC


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (PRIVATE_PEM, "private key"),
        (PRIVATE, "public key, not the private key"),
        (
            RSA_KEY.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "only Ed25519",
        ),
        ("hmac-sha256:" + base64.b64encode(b"short").decode(), "at least 32"),
        ("hmac-sha256:%%%", "base64"),
        ("ed25519:" + base64.b64encode(b"x" * 31).decode(), "32 bytes"),
        (SECRET.hex(), "expected a PEM public key"),
        (b"x" * 31, "expected a PEM public key"),
        (42, "expected an Ed25519 public key"),
    ],
)
def test_verification_key_mistakes(value: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_verification_key(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (PUBLIC_PEM, "unreadable PEM private key"),
        (
            RSA_KEY.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            "only Ed25519",
        ),
        ("ed25519:" + base64.b64encode(RAW).decode(), "expected a PEM private key"),
        (PRIVATE.public_key(), "expected an Ed25519 private key"),
    ],
    ids=["public-pem", "rsa", "public-spec", "public-object"],
)
def test_signing_key_mistakes(value: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_signing_key(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("key_id", ["", "has space", 'quo"te', "x" * 129, "é"])
def test_key_id_must_be_plain(key_id: str) -> None:
    with pytest.raises(ConfigurationError, match="key id"):
        SignedEnvelope({key_id: RAW})
    with pytest.raises(ConfigurationError, match="key id"):
        EnvelopeSigner(PRIVATE, key_id)


def test_envelope_options_are_checked() -> None:
    with pytest.raises(ConfigurationError):
        SignedEnvelope({})
    with pytest.raises(ConfigurationError):
        SignedEnvelope({"k": RAW}, max_age=0)
    with pytest.raises(ConfigurationError):
        SignedEnvelope({"k": RAW}, clock_skew=-1)
    with pytest.raises(ConfigurationError):
        SignedEnvelope({"k": RAW}, extra_headers=["Signature"]).bind(("client-cert",))
    with pytest.raises(ConfigurationError):
        EnvelopeSigner(PRIVATE, "k", lifetime=0)


def test_from_files_and_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki: PKI) -> None:
    (tmp_path / "edge.pub").write_bytes(PUBLIC_PEM)
    (tmp_path / "edge.hmac").write_text(HMAC_SPEC + "\n")
    proof = SignedEnvelope.from_files(
        {"edge-a": tmp_path / "edge.pub", "edge-h": str(tmp_path / "edge.hmac")}, max_age=30
    )
    assert proof.key_ids == ("edge-a", "edge-h") and proof.max_age == 30
    checker = Verifier(trust=pki.root_pem, source=proof, cache=None)
    assert verify(checker, signed(pki.leaf, EnvelopeSigner(PRIVATE, "edge-a"))) is not None
    assert verify(checker, signed(pki.leaf, EnvelopeSigner(HmacSecret(SECRET), "edge-h")))

    monkeypatch.setenv("EDGE_PUB", PUBLIC_PEM.decode())
    assert SignedEnvelope.from_env({"edge-a": "EDGE_PUB"}).key_ids == ("edge-a",)
    monkeypatch.delenv("EDGE_PUB")
    with pytest.raises(ConfigurationError, match="EDGE_PUB"):
        SignedEnvelope.from_env({"edge-a": "EDGE_PUB"})
    with pytest.raises(ConfigurationError, match="cannot read"):
        SignedEnvelope.from_files({"edge-a": tmp_path / "missing.pub"})


def test_signer_from_file(tmp_path: Path, pki: PKI) -> None:
    (tmp_path / "edge.key").write_bytes(PRIVATE_PEM)
    signer = EnvelopeSigner.from_file(tmp_path / "edge.key", "edge-a", lifetime=10)
    assert signer.algorithm == "ed25519" and signer.lifetime == 10
    checker = Verifier(trust=pki.root_pem, source=SignedEnvelope({"edge-a": RAW}), cache=None)
    assert verify(checker, signed(pki.leaf, signer)) is not None
    with pytest.raises(ConfigurationError, match="cannot read"):
        EnvelopeSigner.from_file(tmp_path / "missing.key", "edge-a")


def test_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert from_settings({}) is None
    (tmp_path / "b.pub").write_bytes(PUBLIC_PEM)
    monkeypatch.setenv("KEY_C", HMAC_SPEC)
    proof = from_settings(
        {
            "signature_keys": {"a": RAW},
            "signature_key_files": {"b": str(tmp_path / "b.pub")},
            "signature_key_env": {"c": "KEY_C"},
            "signature_max_age": "20",
            "signature_clock_skew": 2,
            "signature_nonce_cache": 0,
            "signature_extra_headers": "X-Edge-Auth",
        }
    )
    assert proof is not None
    assert proof.key_ids == ("a", "b", "c")
    assert (proof.max_age, proof.clock_skew, proof.nonce_cache) == (20, 2, None)
    assert proof.extra_headers == ("x-edge-auth",)
    with pytest.raises(ConfigurationError, match="twice"):
        from_settings({"signature_keys": {"a": RAW}, "signature_key_env": {"a": "KEY_C"}})
    with pytest.raises(ConfigurationError, match="must map"):
        from_settings({"signature_keys": [RAW]})


def test_envelope_needs_neither_http_message_signatures_nor_http_sf() -> None:
    """Both sides run on cryptography alone: with the oracle libraries blocked, a request is
    signed, verified, and the deprecated module still re-exports the public names."""
    code = (
        "import sys, warnings\n"
        "sys.modules['http_message_signatures'] = None\n"
        "sys.modules['http_sf'] = None\n"
        "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey\n"
        "from originverify.envelope import EnvelopeSigner, SignedEnvelope\n"
        "from originverify.headers import HeaderList\n"
        "from originverify.source import RequestContext\n"
        "key = Ed25519PrivateKey.generate()\n"
        "pairs = [('client-cert', ':AAAA:')]\n"
        "pairs += EnvelopeSigner(key, 'k').sign('GET', 'a.example', '/x?y', pairs)\n"
        "proof = SignedEnvelope({'k': key.public_key()})\n"
        "proof.bind(('client-cert',))\n"
        "request = RequestContext(HeaderList(pairs), method='GET', target='/x?y', "
        "authority='a.example')\n"
        "print(proof.check(request))\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    import originverify.signatures as old\n"
        "print(old.SignedEnvelope is SignedEnvelope, caught[0].category.__name__)\n"
        "print(sorted(m for m in sys.modules if 'http_message' in m or 'http_sf' in m))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    lines = out.stdout.splitlines()
    assert lines[0].startswith("signed by k (ed25519), 5 components")
    assert lines[1] == "True DeprecationWarning"
    assert lines[2] == "['http_message_signatures', 'http_sf']"  # only the blocked entries
