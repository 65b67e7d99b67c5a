"""A real redis-server per test module (skipped outside CI when not installed)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import require_binary
from tests.replay.redis_server import RedisServer


def require_redis_py() -> None:
    try:
        import redis  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-py is required in CI: pip install -e '.[dev]'")
        pytest.skip("redis-py not installed: pip install 'originverify[redis]'")


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    binary = require_binary("redis-server")
    require_redis_py()
    server = RedisServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def live_redis(redis_server: RedisServer) -> RedisServer:
    """The module's server, started again if a test killed it."""
    if redis_server.process is None:
        redis_server.start()
    return redis_server
