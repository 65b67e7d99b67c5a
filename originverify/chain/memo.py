"""A bounded memo of facts about certificates, keyed by a digest of the exact DER.

Keyed by SHA-256 of the DER, not by the DER: a memo keyed by 44 KB certificates holds
megabytes per thousand entries, a digest is 32 bytes whatever the input. Hashing 1 KB costs
about 1 µs, parsing extensions ten times that. Cleared when full (bounded count and bytes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Generic, TypeVar

from cryptography import x509

T = TypeVar("T")


def digest(der: bytes) -> bytes:
    return hashlib.sha256(der).digest()


class Memo(Generic[T]):
    """``memo(der, cert)``: ``compute(cert)`` once per distinct DER, at most ``size`` kept."""

    def __init__(self, compute: Callable[[x509.Certificate], T], size: int = 4096) -> None:
        self._compute = compute
        self._size = size
        self._facts: dict[bytes, T] = {}

    def __call__(self, der: bytes, cert: x509.Certificate) -> T:
        key = digest(der)
        try:
            return self._facts[key]
        except KeyError:
            pass
        value = self._compute(cert)
        if len(self._facts) >= self._size:
            self._facts.clear()
        self._facts[key] = value
        return value

    def __len__(self) -> int:
        return len(self._facts)

    def clear(self) -> None:
        self._facts.clear()
