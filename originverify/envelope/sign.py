"""The forwarder side: ``EnvelopeSigner`` signs the request line and the headers the edge set."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, OriginVerifyError
from .base import VISIBLE, request_base, text, visible
from .constants import LABEL, REQUIRED_COMPONENTS, SIGNATURE_HEADERS, TAG
from .keys import HmacSecret, SigningKeyInput, algorithm_of, check_key_id, load_signing_key
from .keys import read_text as _read
from .verify import seconds


class SigningError(OriginVerifyError, ValueError):
    """The forwarder cannot sign this request (e.g. a malformed Host); answer it with 400."""


class EnvelopeSigner:
    """Signs what the forwarder sets: call ``sign`` with the request line and the certificate
    (and edge secret) headers it set *after* stripping the client's, and add the two returned
    header pairs. Thread-safe; about one Ed25519 signature per request."""

    def __init__(
        self,
        key: SigningKeyInput,
        key_id: str,
        *,
        lifetime: float | timedelta = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = load_signing_key(key)
        self.key_id = check_key_id(key_id)
        self.algorithm = algorithm_of(self.key)
        self.lifetime = seconds(lifetime)
        if not 0 < self.lifetime <= 3600:
            raise ConfigurationError("EnvelopeSigner lifetime must be between 0 and 3600 seconds")
        self._clock = clock
        key_object = self.key
        if isinstance(key_object, HmacSecret):
            secret = key_object.secret
            self._sign: Callable[[bytes], bytes] = lambda base: hmac.new(
                secret, base, hashlib.sha256
            ).digest()
        else:
            self._sign = key_object.sign

    def __repr__(self) -> str:
        return f"EnvelopeSigner(key_id={self.key_id!r}, algorithm={self.algorithm!r})"

    @classmethod
    def from_file(cls, path: str | Path, key_id: str, **options: Any) -> EnvelopeSigner:
        """``originverify edge --sign-key FILE --key-id ID``: a PEM Ed25519 private key or an
        ``hmac-sha256:<base64>`` file, as ``originverify keygen`` writes them."""
        return cls(
            load_signing_key(_read(path, "signing key file"), f"signing key {path}"),
            key_id,
            **options,
        )

    def sign(
        self,
        method: str | bytes,
        authority: str | bytes,
        path_and_query: str | bytes,
        headers: Iterable[tuple[str | bytes, str | bytes]],
    ) -> list[tuple[str, str]]:
        """The ``Signature-Input`` and ``Signature`` pairs to add to the forwarded request.

        ``method``, ``authority`` (the ``Host`` forwarded unchanged) and ``path_and_query``
        (the target as forwarded) are what the origin's adapter will see. ``headers`` are the
        headers the edge set after stripping the client's (certificate, claims, its secret),
        never the client's own; each name is covered once, all its values in order (as a byte
        sequence per line when a value is not visible ASCII). Pass wire bytes where you have
        them; they are read as latin-1, as servers read the wire. Raises ``SigningError`` when
        the request cannot be signed (malformed Host or target, lower-case method): answer 400.
        """
        grouped: dict[str, list[str]] = {}
        for raw_name, raw_value in headers:
            name = text(raw_name).lower()
            if name in SIGNATURE_HEADERS:
                raise SigningError("the signature headers cannot be signed")
            if not name or not VISIBLE.fullmatch(name) or '"' in name or " " in name:
                raise SigningError(f"header name {name[:40]!r} cannot be signed")
            grouped.setdefault(name, []).append(text(raw_value))
        created = int(self._clock())
        params: dict[str, object] = {
            "created": created,
            "keyid": self.key_id,
            "alg": self.algorithm,
            "expires": created + int(self.lifetime),
            "nonce": secrets.token_urlsafe(16),
            "tag": TAG,
        }
        components = [(name, False) for name in REQUIRED_COMPONENTS]
        components += [
            (name, not all(visible(v) for v in values)) for name, values in grouped.items()
        ]
        try:
            base, params_value = request_base(
                text(method),
                text(authority),
                text(path_and_query),
                grouped.__getitem__,
                components,
                params,
            )
        except (ValueError, UnicodeEncodeError) as exc:
            raise SigningError(f"cannot sign request: {exc}") from None
        signature = base64.b64encode(self._sign(base)).decode()
        return [
            ("Signature-Input", f"{LABEL}={params_value}"),
            ("Signature", f"{LABEL}=:{signature}:"),
        ]
