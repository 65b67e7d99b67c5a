"""``keygen``: create the edge's signing key and the configuration of both sides."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import ConfigurationError
from .constants import ED25519, HMAC_SHA256
from .keys import HmacSecret, check_key_id


@dataclass(frozen=True, slots=True)
class GeneratedKey:
    """What ``keygen`` wrote, and the configuration each side needs."""

    key_id: str
    algorithm: str
    signing_key: Path  # keep on the edge only (0600)
    verification_key: Path  # give to the origin (the same file for HMAC)
    origin_config: str


def default_key_id(now: datetime | None = None) -> str:
    """``edge-YYYY-MM``: dated ids make rotation visible in logs."""
    return f"edge-{(now or datetime.now(UTC)):%Y-%m}"


def _write(path: Path, data: bytes, mode: int, overwrite: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise ConfigurationError(f"{path} exists; pass --force to overwrite it") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)  # also when overwriting a file created with other permissions


def keygen(
    directory: str | Path = ".",
    key_id: str | None = None,
    *,
    algorithm: str = ED25519,
    overwrite: bool = False,
) -> GeneratedKey:
    """Create a signing key for the edge and print-ready origin configuration.

    Ed25519 (recommended): ``<id>.key`` (private, 0600, edge only) and ``<id>.pub`` (origin).
    HMAC-SHA256: one ``<id>.hmac`` secret (0600) both sides hold; a leak at the origin then
    lets the holder sign, which is why Ed25519 is the default.
    """
    key_id = check_key_id(key_id or default_key_id())
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    if algorithm == ED25519:
        private = Ed25519PrivateKey.generate()
        signing, verification = folder / f"{key_id}.key", folder / f"{key_id}.pub"
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        private_pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write(signing, private_pem, 0o600, overwrite)
        _write(verification, public_pem, 0o644, overwrite)
    elif algorithm == HMAC_SHA256:
        signing = verification = folder / f"{key_id}.hmac"
        spec = HmacSecret(secrets.token_bytes(32)).spec()
        _write(signing, (spec + "\n").encode(), 0o600, overwrite)
    else:
        raise ConfigurationError(f"unknown algorithm {algorithm!r}; use {ED25519} or {HMAC_SHA256}")
    return GeneratedKey(
        key_id, algorithm, signing, verification, origin_config(key_id, verification, signing)
    )


def origin_config(key_id: str, verification: Path, signing: Path) -> str:
    """The text ``originverify keygen`` prints: both sides' configuration."""
    return f"""\
# Edge (reference forwarder): keep {signing} on the edge only.
originverify edge --sign-key {signing} --key-id {key_id} ...

# Origin, Python:
from originverify.envelope import SignedEnvelope
source = SignedEnvelope.from_files({{{key_id!r}: {str(verification)!r}}})

# Origin, settings (Flask app.config / Django ORIGINVERIFY):
signature_key_files = {{{key_id!r}: {str(verification)!r}}}

# Rotation: create the next key, add it next to this one on the origin, switch the edge,
# then remove this one.
"""
