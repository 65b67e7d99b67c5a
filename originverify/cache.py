"""A bounded LRU of successful verifications, each expiring no later than its certificates.

Only successes are stored: a cached failure keyed on anything an attacker can send (a
victim's public certificate with a bogus chain) would let them lock the victim out.

A cache belongs to exactly one ``Verifier`` (``bind`` refuses a second owner): its entries
mean "this verifier, with its anchors, policy, format, rules, engine and revocation data,
accepted these headers", which is true of no other verifier. Keys are fixed-size digests
of the exact certificate header values plus the trust snapshot's digest, so an entry costs
the same whatever the headers weigh, and a reload of the anchors misses every old entry.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from .errors import ConfigurationError
from .identity import ClientIdentity


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expirations: int = 0


class ResultCache:
    """Thread-safe; ``max_age`` caps how long any entry lives (seconds)."""

    def __init__(self, maxsize: int = 1024, max_age: float = 300.0) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ConfigurationError(
                f"cache maxsize must be a positive integer, not {maxsize!r} "
                "(pass cache=None or cache=0 to disable caching)"
            )
        if not isinstance(max_age, int | float) or not max_age > 0:
            raise ConfigurationError(f"cache max_age must be positive seconds, not {max_age!r}")
        self.maxsize = maxsize
        self.max_age = float(max_age)
        self.stats = CacheStats()
        # key -> (expires, identity, not_after, revocation generation)
        self._entries: OrderedDict[Hashable, tuple[float, ClientIdentity, float, int]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()
        self._owner: weakref.ref[Any] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def bind(self, owner: object) -> None:
        """Make ``owner`` (a ``Verifier``) the only user of this cache. A new owner (the old
        one was garbage-collected) starts empty: no verdict outlives the verifier that made
        it (the owner also salts its keys, so none could be found anyway)."""
        with self._lock:
            current = self._owner() if self._owner is not None else None
            if current is owner:
                return
            if current is not None:
                raise ConfigurationError(
                    "this ResultCache already belongs to another Verifier: a verdict cached "
                    "under one verifier's anchors and rules means nothing to another; give "
                    "each Verifier its own cache"
                )
            self._entries.clear()
            self._owner = weakref.ref(owner)

    def get(
        self, key: Hashable, now: float | None = None
    ) -> tuple[ClientIdentity, int, float] | None:
        """``(identity, revocation generation, not_after)`` of a live entry, else ``None``."""
        now = time.time() if now is None else now
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.stats.misses += 1
                return None
            if entry[0] <= now:
                del self._entries[key]
                self.stats.expirations += 1
                self.stats.misses += 1
                return None
            self._entries.move_to_end(key)
            self.stats.hits += 1
            return entry[1], entry[3], entry[2]

    def put(
        self,
        key: Hashable,
        identity: ClientIdentity,
        not_after: float,
        now: float,
        revocation_generation: int = 0,
        max_age: float | None = None,
    ) -> None:
        """Store until ``min(now + max_age, not_after)``; nothing already expired is stored.

        ``max_age`` may only shorten the cache's own limit (e.g. a verdict made without
        revocation data in soft mode lives no longer than the retry backoff)."""
        limit = self.max_age if max_age is None else min(self.max_age, max_age)
        expires = min(now + limit, not_after)
        if expires <= now:
            return
        with self._lock:
            self._entries[key] = (expires, identity, not_after, revocation_generation)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
                self.stats.evictions += 1

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class CertificateInterner:
    """Parsed CA certificates by SHA-256 of their exact DER, so the intermediates every
    device of a fleet forwards are parsed once and shared by every cache entry.

    Only certificates on a path the engine validated are added (an attacker cannot fill
    it with junk), and it is bounded in bytes of DER (``max_bytes``), least recently used
    first out. Identical bytes are the identical certificate, so sharing is sound.
    """

    def __init__(self, max_bytes: int = 1 << 20) -> None:
        self.max_bytes = max_bytes
        self._certificates: OrderedDict[bytes, tuple[int, x509.Certificate]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._certificates)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, der: bytes) -> x509.Certificate | None:
        key = hashlib.sha256(der).digest()
        with self._lock:
            found = self._certificates.get(key)
            if found is None:
                return None
            self._certificates.move_to_end(key)
            return found[1]

    def add(self, der: bytes, certificate: x509.Certificate) -> None:
        if len(der) > self.max_bytes:
            return
        key = hashlib.sha256(der).digest()
        with self._lock:
            if key in self._certificates:
                return
            self._certificates[key] = (len(der), certificate)
            self._bytes += len(der)
            while self._bytes > self.max_bytes:
                _, (size, _) = self._certificates.popitem(last=False)
                self._bytes -= size
