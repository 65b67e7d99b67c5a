"""``RedisReplayStore`` against a real redis-server: atomic first-seen, TTL, prefix, db, auth,
and ``SignedEnvelope``'s behaviour when the store is down (fail closed, 503, one log line;
fail open on request) and back (no rebuild)."""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time

import pytest

from originverify import ConfigurationError, Reason, VerificationError
from originverify.envelope import (
    EnvelopeSigner,
    ReplayStoreUnavailable,
    SignedEnvelope,
    from_settings,
    replay_store_from_settings,
)
from originverify.envelope.redis_store import RedisReplayStore
from originverify.envelope.replay import store_key
from originverify.headers import HeaderList
from originverify.source import RequestContext
from tests.conftest import require_binary
from tests.replay.redis_server import RedisServer
from tests.signatures.kit import ED_KEY, KEY_ID

# Outside CI a missing redis-py skips with an install hint; in CI it is an error.
redis = (
    importlib.import_module("redis")
    if os.environ.get("CI") == "true"
    else pytest.importorskip("redis", reason="pip install 'originverify[redis]'")
)
AUTHORITY, TARGET = "app.example.com", "/orders/7"
CERT = [("client-cert", ":AAAA:")]


def proof(store: RedisReplayStore, **options: object) -> SignedEnvelope:
    envelope = SignedEnvelope({KEY_ID: ED_KEY.public_key()}, replay_store=store, **options)  # type: ignore[arg-type]
    envelope.bind(("client-cert",))
    return envelope


def signed_request() -> RequestContext:
    pairs = CERT + EnvelopeSigner(ED_KEY, KEY_ID).sign("GET", AUTHORITY, TARGET, CERT)
    return RequestContext(HeaderList(pairs), method="GET", target=TARGET, authority=AUTHORITY)


def refusal(envelope: SignedEnvelope, request: RequestContext) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        envelope.check(request)
    return info.value


def test_first_seen_wins_and_the_ttl_is_the_remaining_window(live_redis: RedisServer) -> None:
    store = RedisReplayStore(live_redis.url, prefix="t1:")
    now = time.time()
    assert store.add("k", "nonce-1", now + 65, now) is True
    assert store.add("k", "nonce-1", now + 65, now) is False
    assert store.add("other-key", "nonce-1", now + 65, now) is True  # per key id
    client = redis.Redis.from_url(live_redis.url)
    ttl = client.ttl(store_key("t1:", "k", "nonce-1"))
    assert 60 <= ttl <= 66
    # The envelope passes max_age + skew as the window: 60 s + 5 s by default.
    envelope = proof(store)
    request = signed_request()
    envelope.check(request)
    keys = [k for k in client.scan_iter("t1:*") if client.ttl(k) > 0]
    assert len(keys) == 3
    assert max(client.ttl(k) for k in keys) <= 66


def test_two_workers_sharing_redis_refuse_each_others_replays(live_redis: RedisServer) -> None:
    worker_a = proof(RedisReplayStore(live_redis.url, prefix="t2:"))
    worker_b = proof(RedisReplayStore(live_redis.url, prefix="t2:"))
    request = signed_request()
    assert worker_a.check(request).startswith(f"signed by {KEY_ID}")
    assert refusal(worker_b, request).reason is Reason.SIGNATURE_REPLAYED
    assert refusal(worker_a, request).reason is Reason.SIGNATURE_REPLAYED


def test_concurrent_replays_exactly_one_wins(live_redis: RedisServer) -> None:
    store = RedisReplayStore(live_redis.url, prefix="t3:")
    now = time.time()
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def race() -> None:
        barrier.wait()
        results.append(store.add("k", "same-nonce", now + 30, now))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == [False] * 7 + [True]


def test_prefix_and_database_are_honoured(live_redis: RedisServer) -> None:
    url = live_redis.url.rsplit("/", 1)[0] + "/3"
    store = replay_store_from_settings(
        {
            "signature_replay_store": "redis",
            "signature_replay_redis_url": url,
            "signature_replay_prefix": "fleet-a:",
        }
    )
    assert isinstance(store, RedisReplayStore)
    now = time.time()
    assert store.add("k", "n", now + 30, now)
    assert redis.Redis.from_url(url).exists(store_key("fleet-a:", "k", "n")) == 1
    assert redis.Redis.from_url(live_redis.url).exists(store_key("fleet-a:", "k", "n")) == 0
    # Another prefix is another namespace (another application on the same server).
    other = RedisReplayStore(url, prefix="fleet-b:")
    assert other.add("k", "n", now + 30, now)


def test_options_pass_through_auth_and_pool() -> None:
    server = RedisServer(require_binary("redis-server"), password="s3cret-pass")
    server.start()
    try:
        base = f"redis://127.0.0.1:{server.port}/0"
        store = RedisReplayStore(base, password="s3cret-pass", max_connections=4)
        now = time.time()
        assert store.add("k", "n", now + 30, now)
        assert store.client.connection_pool.max_connections == 4
        assert RedisReplayStore(server.url).add("k", "n2", now + 30, now)  # password in URL
        wrong = RedisReplayStore(base, password="wrong")
        with pytest.raises(ReplayStoreUnavailable, match=r"AuthenticationError|WRONGPASS|invalid"):
            wrong.add("k", "n3", now + 30, now)
        assert "s3cret" not in repr(RedisReplayStore(server.url))
    finally:
        server.close()


def test_settings_build_the_store_and_refuse_mistakes(live_redis: RedisServer) -> None:
    envelope = from_settings(
        {
            "signature_keys": {KEY_ID: ED_KEY.public_key()},
            "signature_replay_store": "redis",
            "signature_replay_redis_url": live_redis.url,
            "signature_replay_redis_options": {"socket_timeout": 0.5},
            "signature_replay_fail_open": "true",
        }
    )
    assert envelope is not None
    assert isinstance(envelope.replay_store, RedisReplayStore)
    assert envelope.replay_fail_open is True
    with pytest.raises(ConfigurationError, match="needs signature_replay_redis_url"):
        replay_store_from_settings({"signature_replay_store": "redis"})
    with pytest.raises(ConfigurationError, match=r"use 'memory', 'redis', 'django'"):
        replay_store_from_settings({"signature_replay_store": "memcached"})
    with pytest.raises(ConfigurationError, match="must be a mapping"):
        replay_store_from_settings(
            {
                "signature_replay_store": "redis",
                "signature_replay_redis_url": live_redis.url,
                "signature_replay_redis_options": ["x"],
            }
        )
    with pytest.raises(ConfigurationError, match="true or false"):
        from_settings(
            {"signature_keys": {KEY_ID: ED_KEY.public_key()}, "signature_replay_fail_open": "maybe"}
        )


def test_redis_down_fails_closed_then_recovers_without_restart(
    live_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    envelope = proof(RedisReplayStore(live_redis.url, prefix="t4:"))
    assert envelope.check(signed_request())
    live_redis.stop()
    with caplog.at_level(logging.WARNING, logger="originverify"):
        errors = [refusal(envelope, signed_request()) for _ in range(3)]
    assert {e.reason for e in errors} == {Reason.REPLAY_STORE_UNAVAILABLE}
    assert errors[0].http_status == 503
    assert errors[0].public_message == "service temporarily unavailable"
    down = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(down) == 1  # once per outage, not once per request
    assert down[0].levelno == logging.ERROR and "refused (503)" in down[0].getMessage()
    live_redis.start()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="originverify"):
        request = signed_request()
        assert envelope.check(request)  # the same store object, no rebuild
        assert refusal(envelope, request).reason is Reason.SIGNATURE_REPLAYED
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_redis_down_fail_open_accepts_and_says_so(
    live_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    envelope = proof(RedisReplayStore(live_redis.url, prefix="t5:"), replay_fail_open=True)
    live_redis.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="originverify"):
            request = signed_request()
            assert envelope.check(request)
            assert envelope.check(request)  # no replay check while the store is down
        assert any("ACCEPTED WITHOUT REPLAY CHECK" in r.getMessage() for r in caplog.records)
        # Still only replay protection is skipped: a bad signature is refused as ever.
        bad = RequestContext(
            HeaderList(
                [*CERT, *[(n, v) for n, v in request.headers.items() if n != "client-cert"]]
            ),
            method="POST",
            target=TARGET,
            authority=AUTHORITY,
        )
        assert refusal(envelope, bad).reason is Reason.SIGNATURE_INVALID
    finally:
        live_redis.start()
    assert envelope.check(signed_request())


def test_unreachable_at_start_is_not_a_start_up_error() -> None:
    """A store that is down when the app starts must not stop it (it may come up later)."""
    store = RedisReplayStore("redis://127.0.0.1:1/0")
    envelope = proof(store)
    assert refusal(envelope, signed_request()).reason is Reason.REPLAY_STORE_UNAVAILABLE
