"""The Django cache replay store on Django's own Redis backend, across processes, and the
system check that refuses per-process caches."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from originverify.envelope import EnvelopeSigner
from tests.replay.redis_server import RedisServer
from tests.signatures.kit import ED_KEY, KEY_ID

django = pytest.importorskip("django")
REPO = Path(__file__).resolve().parents[2]
CERT = [("client-cert", ":AAAA:")]
AUTHORITY, TARGET = "app.example.com", "/a?b=1"


class Worker:
    """A Django process checking the requests it is fed, one answer line per request."""

    def __init__(self, redis_url: str) -> None:
        public = ED_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        spec = "ed25519:" + base64.b64encode(public).decode()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.replay.django_worker", redis_url, spec, KEY_ID],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'integrations'}"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def check(self, pairs: list[tuple[str, str]]) -> str:
        assert self.process.stdin and self.process.stdout
        request = {"pairs": pairs, "target": TARGET, "authority": AUTHORITY}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(20)


def fresh() -> list[tuple[str, str]]:
    return CERT + EnvelopeSigner(ED_KEY, KEY_ID).sign("GET", AUTHORITY, TARGET, CERT)


def test_replays_across_processes_through_djangos_redis_cache(live_redis: RedisServer) -> None:
    workers = [Worker(live_redis.url) for _ in range(3)]
    try:
        for round_ in range(3):
            pairs = fresh()
            first = workers[round_ % 3]
            assert first.check(pairs) == "ok"
            for other in workers:
                assert other.check(pairs) == "signature_replayed"
        live_redis.stop()
        try:
            assert {w.check(fresh()) for w in workers} == {"replay_store_unavailable"}
        finally:
            live_redis.start()
        pairs = fresh()
        assert [w.check(pairs) for w in workers] == [
            "ok",
            "signature_replayed",
            "signature_replayed",
        ]
    finally:
        for worker in workers:
            worker.close()


@pytest.mark.parametrize(
    ("backend", "single", "refused"),
    [
        ("django.core.cache.backends.locmem.LocMemCache", False, True),
        ("django.core.cache.backends.locmem.LocMemCache", True, False),
        ("django.core.cache.backends.dummy.DummyCache", True, True),
        ("django.core.cache.backends.redis.RedisCache", False, False),
        ("django.core.cache.backends.memcached.PyMemcacheCache", False, False),
    ],
)
def test_system_check_refuses_per_process_caches(backend: str, single: bool, refused: bool) -> None:
    from django_originverify.replay import check_replay_cache

    settings = {
        "signature_replay_store": "django",
        "signature_replay_cache": "nonces",
        "signature_replay_single_process": single,
    }
    messages = check_replay_cache(settings, {"nonces": {"BACKEND": backend}})
    assert [m.id for m in messages] == (["originverify.E012"] if refused else [])
    missing = check_replay_cache(settings, {"default": {"BACKEND": backend}})
    assert [m.id for m in missing] == ["originverify.E012"]
    assert "not in CACHES" in missing[0].msg
    assert check_replay_cache({"signature_replay_store": "redis"}, {}) == []
