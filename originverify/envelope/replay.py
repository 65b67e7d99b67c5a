"""Replay stores: where the origin remembers the nonces it accepted inside the signature window.

``ReplayStore.add`` is the whole interface: remember a nonce until a time, atomically, and say
whether it was new. ``MemoryReplayStore`` (``NonceCache``) is per process; a fleet of workers or
hosts needs a shared one: ``RedisReplayStore`` (``originverify.envelope.redis_store``) or the
Django cache store (``django_originverify.replay``). A store that cannot answer raises
``ReplayStoreUnavailable``; ``SignedEnvelope`` then refuses (or, opted in, lets the request
through) with its own reason code.
"""

from __future__ import annotations

import abc
import hashlib
import logging
import threading
from collections import OrderedDict

from ..errors import ConfigurationError, OriginVerifyError

log = logging.getLogger("originverify")

#: Key prefix of the shared stores.
DEFAULT_PREFIX = "originverify:nonce:"


class ReplayStoreUnavailable(OriginVerifyError):
    """The store could not be asked (down, timeout, auth); the detail is for logs only."""


class ReplayStore(abc.ABC):
    """Remembers ``(key id, nonce)`` pairs until the signature they came with expires."""

    #: Short name for logs and ``repr``.
    kind: str = "replay store"

    @abc.abstractmethod
    def add(self, key_id: str, nonce: str, until: float, now: float) -> bool:
        """Remember the nonce until ``until`` (epoch seconds); False if it was already there
        (a replay). Raises ``ReplayStoreUnavailable`` when the store cannot be asked."""


def store_key(prefix: str, key_id: str, nonce: str) -> str:
    """A shared-store key of bounded size and safe characters (memcached refuses spaces and
    keys over 250 bytes): the prefix, then a digest of key id and nonce."""
    digest = hashlib.sha256(f"{key_id}\x00{nonce}".encode()).hexdigest()[:40]
    return f"{prefix}{digest}"


def ttl_seconds(until: float, now: float) -> int:
    """Whole seconds the store must keep a nonce: the remaining window, rounded up, >= 1."""
    return max(1, int(until - now) + 1)


class MemoryReplayStore(ReplayStore):
    """Bounded memory of the nonces seen inside the signature window, per key id, in this
    process only: a request replayed to another worker or host passes. The default for a
    single process.

    An entry is dropped once its signature would be refused as expired anyway, so the store
    needs about (requests per second × window) entries. When full of live entries the oldest
    is evicted (and counted in ``evictions``): a replay of that one request would then pass,
    which is why the size should exceed the peak rate × window.
    """

    kind = "memory"

    def __init__(self, max_entries: int = 65536) -> None:
        if max_entries < 1:
            raise ConfigurationError("NonceCache needs at least one entry")
        self.max_entries = max_entries
        self.evictions = 0
        self._entries: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"MemoryReplayStore(max_entries={self.max_entries})"

    def add(self, key_id: str, nonce: str, until: float, now: float) -> bool:
        key = (key_id, nonce)
        entries = self._entries
        with self._lock:
            seen = entries.get(key)
            if seen is not None and seen >= now:
                return False
            # Entries arrive in (almost) expiry order: drop expired ones from the front.
            while entries:
                oldest_key, oldest_until = next(iter(entries.items()))
                if oldest_until >= now:
                    break
                del entries[oldest_key]
            if len(entries) >= self.max_entries:
                entries.popitem(last=False)
                self._evicted()
            entries[key] = until
            entries.move_to_end(key)
            return True

    def _evicted(self) -> None:
        self.evictions += 1
        if self.evictions == 1 or self.evictions % 10000 == 0:
            log.warning(
                "originverify: nonce cache full (%d entries): evicted a live nonce "
                "(%d so far); raise signature_nonce_cache above peak requests x window",
                self.max_entries,
                self.evictions,
            )


#: The name 0.1 used; the same class.
NonceCache = MemoryReplayStore
