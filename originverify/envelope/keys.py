"""Envelope keys: Ed25519 public/private keys and HMAC-SHA256 secrets, from objects or text."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import ConfigurationError
from .constants import ED25519, HMAC_SHA256

_MIN_HMAC_BYTES = 32
_KEY_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


@dataclass(frozen=True, slots=True)
class HmacSecret:
    """An HMAC-SHA256 key shared by edge and origin.

    Wrapped, never plain ``bytes``: a 32-byte value could be an Ed25519 public key, and a
    public key mistaken for an HMAC secret would let anyone forge signatures.
    """

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < _MIN_HMAC_BYTES:
            raise ConfigurationError(
                f"HMAC secrets must be at least {_MIN_HMAC_BYTES} random bytes "
                "(originverify keygen --hmac creates one)"
            )

    def __repr__(self) -> str:
        return "HmacSecret(<hidden>)"

    def spec(self) -> str:
        """The text form files and environment variables hold: ``hmac-sha256:<base64>``."""
        return f"{HMAC_SHA256}:{base64.b64encode(self.secret).decode()}"


VerificationKeyInput = Ed25519PublicKey | HmacSecret | bytes | str
SigningKeyInput = Ed25519PrivateKey | HmacSecret | bytes | str


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{what}: not valid base64") from None


def load_verification_key(
    value: VerificationKeyInput, what: str = "key"
) -> Ed25519PublicKey | HmacSecret:
    """An origin-side key from an object or text.

    Accepted: an ``Ed25519PublicKey``; a ``HmacSecret``; a PEM ``PUBLIC KEY`` (Ed25519);
    ``ed25519:<base64 of the 32 raw public bytes>``; ``hmac-sha256:<base64 secret>``; or the
    32 raw bytes of an Ed25519 public key.
    """
    if isinstance(value, Ed25519PublicKey | HmacSecret):
        return value
    if isinstance(value, Ed25519PrivateKey):
        raise ConfigurationError(f"{what}: give the origin the public key, not the private key")
    if isinstance(value, bytes) and len(value) == 32 and not value.startswith(b"-----"):
        return Ed25519PublicKey.from_public_bytes(value)
    if not isinstance(value, str | bytes):
        raise ConfigurationError(
            f"{what}: expected an Ed25519 public key, HmacSecret or key text, not "
            f"{type(value).__name__}"
        )
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    text = text.strip()
    if text.startswith("-----BEGIN"):
        if "PRIVATE KEY" in text.split("\n", 1)[0]:
            raise ConfigurationError(f"{what}: this is a private key; the origin needs the .pub")
        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError as exc:
            raise ConfigurationError(f"{what}: unreadable PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigurationError(
                f"{what}: only Ed25519 public keys are supported, not {type(key).__name__}"
            )
        return key
    scheme, sep, payload = text.partition(":")
    if sep and scheme.lower() == ED25519:
        raw = _b64(payload, what)
        if len(raw) != 32:
            raise ConfigurationError(f"{what}: an Ed25519 public key is 32 bytes, not {len(raw)}")
        return Ed25519PublicKey.from_public_bytes(raw)
    if sep and scheme.lower() == HMAC_SHA256:
        return HmacSecret(_b64(payload, what))
    raise ConfigurationError(
        f"{what}: expected a PEM public key, 'ed25519:<base64>' or 'hmac-sha256:<base64>'"
    )


def load_signing_key(
    value: SigningKeyInput, what: str = "signing key"
) -> Ed25519PrivateKey | HmacSecret:
    """A forwarder-side key: an ``Ed25519PrivateKey``, a ``HmacSecret``, a PEM ``PRIVATE KEY``
    (Ed25519, unencrypted) or ``hmac-sha256:<base64 secret>``."""
    if isinstance(value, Ed25519PrivateKey | HmacSecret):
        return value
    if not isinstance(value, str | bytes):
        raise ConfigurationError(
            f"{what}: expected an Ed25519 private key or HmacSecret, not {type(value).__name__}"
        )
    text = (value.decode("ascii", "replace") if isinstance(value, bytes) else value).strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{what}: unreadable PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigurationError(
                f"{what}: only Ed25519 private keys are supported, not {type(key).__name__}"
            )
        return key
    scheme, sep, payload = text.partition(":")
    if sep and scheme.lower() == HMAC_SHA256:
        return HmacSecret(_b64(payload, what))
    raise ConfigurationError(f"{what}: expected a PEM private key or 'hmac-sha256:<base64>'")


def algorithm_of(key: Ed25519PublicKey | Ed25519PrivateKey | HmacSecret) -> str:
    """The envelope algorithm name of a key."""
    return HMAC_SHA256 if isinstance(key, HmacSecret) else ED25519


def check_key_id(key_id: str) -> str:
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise ConfigurationError(
            f"key id {key_id!r}: use 1-128 characters from A-Z a-z 0-9 . _ : @ / + = -"
        )
    return key_id


def read_text(path: str | Path, what: str) -> str:
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc}") from None
