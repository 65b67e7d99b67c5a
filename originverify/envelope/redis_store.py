"""``RedisReplayStore``: one nonce memory for every worker and host, in Redis.

Each accepted nonce is one ``SET key 1 NX EX ttl``: atomic, so two workers racing with the same
captured request cannot both win, and Redis forgets the key when the signature would be
refused as expired anyway (TTL = the signature's remaining window plus clock skew). Needs
``redis`` (``pip install 'originverify[redis]'``), imported only when this store is built.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError
from .replay import DEFAULT_PREFIX, ReplayStore, ReplayStoreUnavailable, store_key, ttl_seconds

INSTALL_HINT = "pip install 'originverify[redis]'"


class RedisReplayStore(ReplayStore):
    """Nonces in Redis, shared by every process that points at the same server and prefix.

    ``url`` is ``redis://[user:password@]host:port/db`` or ``rediss://`` for TLS; ``options``
    go to ``redis.Redis.from_url`` unchanged (``password``, ``username``, ``db``,
    ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``, ``max_connections``, ...). The client
    keeps a connection pool; a command on a connection Redis dropped is retried once on a new
    one, so requests pass again as soon as the server is back. Timeouts default to 250 ms: a
    replay check that waits longer only delays the refusal. Or pass a ready ``client``.
    """

    kind = "redis"

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = DEFAULT_PREFIX,
        client: Any = None,
        **options: Any,
    ) -> None:
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:
            raise ConfigurationError(
                f"the Redis replay store needs the 'redis' package: {INSTALL_HINT}"
            ) from None
        if client is None:
            if not url:
                raise ConfigurationError("RedisReplayStore needs a url or a client")
            options.setdefault("socket_timeout", 0.25)
            options.setdefault("socket_connect_timeout", 0.25)
            options.setdefault("retry", Retry(NoBackoff(), 1))
            try:
                client = redis.Redis.from_url(url, **options)
            except (ValueError, TypeError) as exc:
                raise ConfigurationError(f"signature_replay_redis_url: {exc}") from None
        self.client = client
        self.prefix = prefix
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._where = _describe(url, client)

    def __repr__(self) -> str:
        return f"RedisReplayStore({self._where}, prefix={self.prefix!r})"

    def add(self, key_id: str, nonce: str, until: float, now: float) -> bool:
        key = store_key(self.prefix, key_id, nonce)
        try:
            created = self.client.set(key, b"1", nx=True, ex=ttl_seconds(until, now))
        except self._errors as exc:
            raise ReplayStoreUnavailable(f"{type(exc).__name__}: {exc}"[:200]) from None
        return bool(created)


def _describe(url: str | None, client: Any) -> str:
    """Where the store points, without credentials."""
    if url is None:
        return type(client).__name__
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"
