"""A bounded LRU of successful verifications, each expiring no later than its certificates.

Only successes are stored: a cached failure keyed on anything an attacker can send (a
victim's public certificate with a bogus chain) would let them lock the victim out. Keys are
the exact header values the format reads plus the trust-store generation, so a different
chain with the same leaf is a different entry, and a trust-store reload invalidates all.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

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
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1 (pass cache=None to disable caching)")
        if max_age <= 0:
            raise ValueError("max_age must be positive")
        self.maxsize = maxsize
        self.max_age = max_age
        self.stats = CacheStats()
        # key -> (expires, identity, not_after, revocation generation)
        self._entries: OrderedDict[Hashable, tuple[float, ClientIdentity, float, int]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

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
    ) -> None:
        """Store until ``min(now + max_age, not_after)``; nothing already expired is stored."""
        expires = min(now + self.max_age, not_after)
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
