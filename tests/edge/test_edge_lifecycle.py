"""Process life cycle: graceful shutdown, worker processes, configuration and CLI errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.edge.conftest import StartEdge
from tests.edge.edgekit import (
    EDGE_SECRET,
    REPO,
    EdgeProcess,
    KeepAliveClient,
    Origin,
    Pki,
    client_context,
    echo,
    only,
)


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def test_sigterm_drains_an_in_flight_request(
    pki: Pki, origin: Origin, start_edge: StartEdge
) -> None:
    edge = start_edge()
    idle = KeepAliveClient(edge.port, client_context(pki))  # an idle keep-alive connection
    assert idle.request("GET", "/echo")[0].status_code == 200
    result: dict[str, object] = {}

    def slow_request() -> None:
        with httpx.Client(verify=client_context(pki), timeout=20) as client:
            response = client.get(edge.url + "/slow?delay=1.2")
            result["status"] = response.status_code
            result["connection"] = response.headers.get("connection")
            result["body"] = response.json()

    thread = threading.Thread(target=slow_request)
    thread.start()
    assert origin.state.slow_started.wait(10)
    signalled = time.monotonic()
    edge.signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    while not refused(edge.port) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert refused(edge.port), "still accepting connections after SIGTERM"
    thread.join(15)
    assert result["status"] == 200
    assert result["connection"] == "close"
    assert result["body"]["path"] == "/slow?delay=1.2"  # type: ignore[index]
    assert edge.wait(10) == 0
    # It waited for the slow request, but not for the idle keep-alive connection.
    assert 0.5 < time.monotonic() - signalled < 5
    idle.close()


def test_drain_timeout_bounds_shutdown(pki: Pki, origin: Origin, start_edge: StartEdge) -> None:
    edge = start_edge("--drain-timeout", "0.5", "--upstream-read-timeout", "30")
    outcome: list[BaseException] = []

    def stuck_request() -> None:
        try:
            httpx.get(edge.url + "/slow?delay=5", verify=client_context(pki), timeout=20)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=stuck_request, daemon=True)
    thread.start()
    assert origin.state.slow_started.wait(10)
    started = time.monotonic()
    edge.signal(signal.SIGTERM)
    assert edge.wait(10) == 0
    assert time.monotonic() - started < 3
    thread.join(10)
    assert len(outcome) == 1  # the request was cut at the drain timeout, not answered
    assert isinstance(outcome[0], httpx.RemoteProtocolError)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()]


def _socket_count(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


def test_workers_share_the_port(pki: Pki, start_edge: StartEdge) -> None:
    edge = start_edge("--workers", "2")
    workers = _children(edge.proc.pid)
    assert len(workers) == 2
    baseline = {pid: _socket_count(pid) for pid in workers}
    clients: list[KeepAliveClient] = []
    try:
        # Each connection sends its request at once: connecting all 16 first would let the
        # edge's header timeout run on the last ones while the first are answered.
        for _ in range(16):
            clients.append(KeepAliveClient(edge.port, client_context(pki)))
            assert clients[-1].request("GET", "/echo")[0].status_code == 200
        grown = {pid: _socket_count(pid) - baseline[pid] for pid in workers}
        # With SO_REUSEPORT the kernel spreads 16 connections over both workers.
        assert all(n > 0 for n in grown.values()), grown
    finally:
        for client in clients:
            client.close()

    # A crashed worker is replaced; the service keeps answering.
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        current = _children(edge.proc.pid)
        if len(current) == 2 and workers[0] not in current:
            break
        time.sleep(0.05)
    assert len(_children(edge.proc.pid)) == 2
    assert only(echo(pki, edge), "X-Origin-Verify") == EDGE_SECRET

    edge.signal(signal.SIGTERM)
    assert edge.wait(10) == 0


def test_config_file_and_secret_from_environment(pki: Pki, origin: Origin, tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(
        f'upstream = "{origin.url}"\n'
        f'cert = "{pki.path("server.pem")}"\n'
        f'key = "{pki.path("server.key")}"\n'
        'style = "xfcc"\n'
        'origin-secret-env = "EDGE_TEST_SECRET"\n'
        'origin_secret_header = "X-Edge-Auth"\n'
        "header-timeout = 3\n"
    )
    edge = EdgeProcess(
        ["--config", str(config)], env={"EDGE_TEST_SECRET": "from-the-environment-0123"}
    )
    try:
        got = echo(pki, edge)
        assert only(got, "X-Edge-Auth") == "from-the-environment-0123"
        assert only(got, "X-Forwarded-Client-Cert").startswith("Hash=")
        assert not [k for k, _ in got["headers"] if k.lower() == "x-origin-verify"]
    finally:
        edge.stop()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "originverify.edge", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "required"], "needs --client-ca"),
        (["--client-ca", "ca.pem"], "no effect in passthrough"),
        (["--style", "cloudfront-viewer"], "needs --mode optional or required"),
        (["--origin-secret-env", "EDGE_TEST_UNSET_VARIABLE"], "is not set"),
        (["--origin-secret-env", "EDGE_TEST_SHORT"], "shorter than 16"),
        (["--upstream", "https://127.0.0.1:1"], "upstream must look like"),
        (["--listen", "nowhere"], "HOST:PORT"),
        (["--origin-secret-header", "Bad Header"], "invalid header name"),
    ],
)
def test_unsafe_or_invalid_configuration_refuses_to_start(
    pki: Pki, args: list[str], message: str
) -> None:
    base = ["--cert", pki.path("server.pem"), "--key", pki.path("server.key")]
    result = run_cli(*base, *args, env={"EDGE_TEST_SHORT": "short"})
    assert result.returncode == 2
    assert message in result.stderr


def test_config_file_rejects_unknown_keys_and_inline_secrets(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text('origin-secret = "hunter2hunter2hunter2"\n')
    result = run_cli("--config", str(config))
    assert result.returncode == 2
    assert "unknown key 'origin-secret'" in result.stderr
    assert "hunter2" not in result.stderr


def test_secret_cannot_be_given_on_the_command_line() -> None:
    result = run_cli("--origin-secret", "hunter2hunter2hunter2")
    assert result.returncode == 2
    help_text = run_cli("--help").stdout
    assert "--origin-secret-file" in help_text
    assert "--origin-secret " not in help_text


def test_mismatched_key_fails_at_start(pki: Pki) -> None:
    result = run_cli("--cert", pki.path("server.pem"), "--key", pki.path("client.key"))
    assert result.returncode == 1
    assert "cannot load TLS material" in result.stderr
