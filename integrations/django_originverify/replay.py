"""``DjangoCacheReplayStore``: the signed envelope's nonces in a Django cache.

``cache.add`` stores a key only if it is absent and says whether it did: atomic on the Redis
(``SET NX``) and Memcached (``add``) backends, so two workers racing with one captured request
cannot both win. Per-process backends (LocMem) and the Dummy backend (remembers nothing) do not
protect a fleet; the system check ``originverify.E012`` refuses them unless
``SIGNATURE_REPLAY_SINGLE_PROCESS`` says there is one process only.

Settings: ``SIGNATURE_REPLAY_STORE = "django"``, ``SIGNATURE_REPLAY_CACHE`` (alias, default
``"default"``), ``SIGNATURE_REPLAY_PREFIX``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.core import checks
from django.core.cache import BaseCache, caches

from originverify.envelope.replay import (
    DEFAULT_PREFIX,
    ReplayStore,
    ReplayStoreUnavailable,
    store_key,
    ttl_seconds,
)

log = logging.getLogger("originverify")

#: Backends that cannot share nonces between processes.
PER_PROCESS_BACKENDS = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


class DjangoCacheReplayStore(ReplayStore):
    """Nonces in the Django cache ``alias``; each is one ``cache.add`` with a timeout of the
    signature's remaining window plus clock skew. Keys are the prefix and a digest (memcached
    refuses spaces and long keys). Any exception from the backend means the store could not
    be asked (``ReplayStoreUnavailable``): backends raise their own types (redis-py,
    pymemcache, ...), and a refusal with its own reason is better than a 500."""

    kind = "django-cache"

    def __init__(self, alias: str = "default", *, prefix: str = DEFAULT_PREFIX) -> None:
        self.alias = alias
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"DjangoCacheReplayStore({self.alias!r}, prefix={self.prefix!r})"

    @property
    def cache(self) -> BaseCache:
        return caches[self.alias]  # per thread: Django's cache handler is thread-local

    def add(self, key_id: str, nonce: str, until: float, now: float) -> bool:
        key = store_key(self.prefix, key_id, nonce)
        try:
            return bool(self.cache.add(key, 1, timeout=ttl_seconds(until, now)))
        except Exception as exc:
            raise ReplayStoreUnavailable(f"{type(exc).__name__}: {exc}"[:200]) from None


def check_replay_cache(
    settings: Mapping[str, Any], cache_settings: Mapping[str, Mapping[str, Any]]
) -> list[checks.CheckMessage]:
    """``originverify.E012``: the Django replay store on a cache that does not span processes.

    ``settings`` are the normalized core settings; ``cache_settings`` is ``settings.CACHES``.
    """
    if settings.get("signature_replay_store") != "django":
        return []
    alias = str(settings.get("signature_replay_cache") or "default")
    config = cache_settings.get(alias)
    if config is None:
        return [
            checks.Error(
                f"SIGNATURE_REPLAY_CACHE {alias!r} is not in CACHES",
                hint="name a cache configured in CACHES (Redis or Memcached)",
                id="originverify.E012",
            )
        ]
    backend = str(config.get("BACKEND", ""))
    if backend not in PER_PROCESS_BACKENDS:
        return []
    dummy = backend.endswith("DummyCache")
    if not dummy and settings.get("signature_replay_single_process"):
        return []
    what = "remembers nothing" if dummy else "lives in one process"
    return [
        checks.Error(
            f"the signed envelope's replay store uses cache {alias!r} ({backend}), which {what}:"
            " a captured request replayed to another worker or host would be accepted",
            hint="use django.core.cache.backends.redis.RedisCache (or Memcached) for this "
            "cache; with exactly one process, set SIGNATURE_REPLAY_SINGLE_PROCESS = True "
            "(LocMem only)",
            id="originverify.E012",
        )
    ]
