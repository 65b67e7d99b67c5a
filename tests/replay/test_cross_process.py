"""Replays across a fleet: two origin processes (gunicorn, two workers each, the WSGI
middleware with the Redis replay store) and direct signed requests. A request replayed to any
other worker or process is refused; Redis killed mid-run gives 503
``replay_store_unavailable``; restarted, the same workers accept again."""

from __future__ import annotations

import base64
import functools
import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from originverify.envelope import EnvelopeSigner
from tests.conftest import EDGE_SECRET, PKI
from tests.replay.redis_server import RedisServer, free_port
from tests.signatures.kit import AUTHORITY, ED_KEY, KEY_ID, TARGET, signed

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
Pairs = list[tuple[str, str]]


@dataclass
class Origin:
    process: subprocess.Popen[bytes]
    port: int
    log: Path


@dataclass
class Answer:
    status: int
    pid: str
    reason: str | None


def send(origin: Origin, pairs: Pairs) -> Answer:
    """One request on a fresh connection (so gunicorn's workers take turns accepting)."""
    connection = http.client.HTTPConnection("127.0.0.1", origin.port, timeout=10)
    try:
        connection.putrequest("GET", TARGET, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", AUTHORITY)
        connection.putheader("Accept", "application/json")
        for name, value in pairs:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        reason = None if response.status == 200 else json.loads(body).get("reason")
        return Answer(response.status, response.getheader("X-Worker-Pid") or "", reason)
    finally:
        connection.close()


@functools.cache
def _has_control_socket() -> bool:
    """gunicorn >= 24 opens a control socket at one fixed path unless told otherwise."""
    usage = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    return "--control-socket" in usage


def start_origin(tmp_path: Path, name: str, env: dict[str, str]) -> Origin:
    port = free_port()
    log = tmp_path / f"{name}.log"
    argv = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}",
        "--workers", "2",
        "--graceful-timeout", "2",
        *(["--control-socket", str(tmp_path / f"{name}.ctl")] if _has_control_socket() else []),
        "tests.replay.ov_replay_app:create_app()",
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv, cwd=REPO, env={**os.environ, **env}, stdout=sink, stderr=subprocess.STDOUT
        )
    origin = Origin(process, port, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text()}")
        try:
            send(origin, [])
            return origin
        except OSError:
            time.sleep(0.1)
    stop(origin)
    raise RuntimeError(f"gunicorn not ready: {log.read_text()}")


def stop(origin: Origin) -> None:
    if origin.process.poll() is None:
        origin.process.terminate()
        try:
            origin.process.wait(10)
        except subprocess.TimeoutExpired:
            origin.process.kill()
            origin.process.wait(5)


@pytest.fixture(scope="module")
def origins(
    redis_server: RedisServer, pki: PKI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Origin, Origin]]:
    tmp = tmp_path_factory.mktemp("fleet")
    anchors = tmp / "anchors.pem"
    anchors.write_bytes(pki.root_pem)
    public = ED_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    env = {
        "OV_TEST_ANCHORS": str(anchors),
        "OV_TEST_SECRET": EDGE_SECRET,
        "OV_TEST_SIGNATURE_KEY": "ed25519:" + base64.b64encode(public).decode(),
        "OV_TEST_REDIS_URL": redis_server.url,
        "OV_TEST_KEY_ID": KEY_ID,
    }
    first = start_origin(tmp, "origin-a", env)
    try:
        second = start_origin(tmp, "origin-b", env)
    except BaseException:
        stop(first)
        raise
    try:
        yield first, second
    finally:
        stop(first)
        stop(second)


def fresh(pki: PKI) -> Pairs:
    return signed(pki.leaf, EnvelopeSigner(ED_KEY, KEY_ID), secret=EDGE_SECRET)


def test_a_replay_to_any_other_worker_or_process_is_refused(
    origins: tuple[Origin, Origin], live_redis: RedisServer, pki: PKI
) -> None:
    a, b = origins
    pids: dict[str, set[str]] = {"a": set(), "b": set()}
    refused_by: set[str] = set()
    targets = [(a, "a"), (b, "b")] * 4
    with ThreadPoolExecutor(8) as pool:  # concurrent replays keep both workers of each busy
        for _ in range(30):  # bounded: each round is one request and eight replays
            pairs = fresh(pki)
            first = send(a, pairs)
            assert first.status == 200, (first, a.log.read_text()[-2000:])
            pids["a"].add(first.pid)
            replays = list(
                pool.map(lambda t, p=pairs: (t[1], send(t[0], p)), targets)  # type: ignore[misc]
            )
            for name, replay in replays:
                assert (replay.status, replay.reason) == (403, "signature_replayed")
                pids[name].add(replay.pid)
                if replay.pid != first.pid:
                    refused_by.add(replay.pid)
            if len(pids["a"]) == 2 and len(pids["b"]) == 2 and len(refused_by) == 4:
                break
    # Both workers of both processes took part, and each refused a request another accepted.
    assert len(pids["a"]) == 2 and len(pids["b"]) == 2, pids
    assert len(refused_by) >= 3, (pids, refused_by)


def test_redis_killed_mid_run_then_restarted(
    origins: tuple[Origin, Origin], live_redis: RedisServer, pki: PKI
) -> None:
    a, b = origins
    assert send(a, fresh(pki)).status == 200
    live_redis.stop()
    try:
        answers = [send(origin, fresh(pki)) for origin in (a, b, a, b)]
        assert {(x.status, x.reason) for x in answers} == {(503, "replay_store_unavailable")}
    finally:
        live_redis.start()
    # No restart of the origins: every worker accepts again, and replays are refused again.
    pairs = fresh(pki)
    assert send(b, pairs).status == 200
    assert (send(a, pairs).status, send(b, pairs).status) == (403, 403)
    for origin in (a, b, a, b):
        assert send(origin, fresh(pki)).status == 200
    logs = a.log.read_text() + b.log.read_text()
    assert "replay store" in logs and "unreachable" in logs and "answers again" in logs
