"""Capturing requests at a running origin in ``check``'s input format, secrets redacted:
the WSGI wrapper under a real server, the ASGI wrapper, and ``originverify capture``."""

from __future__ import annotations

import asyncio
import http.client
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest

from originverify import testing
from originverify.capture import REDACTED, CaptureASGI, CaptureWSGI
from originverify.cli import main, read_request

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pki() -> testing.PKI:
    return testing.PKI("capture")


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello\n"]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def wsgi_server(tmp_path: Path) -> Iterator[tuple[int, CaptureWSGI]]:
    app = CaptureWSGI(hello, tmp_path / "captures", limit=2, redact=["X-Api-Key"])
    server = make_server("127.0.0.1", 0, app, WSGIServer, _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, app
    finally:
        server.shutdown()
        server.server_close()


def send(port: int, pairs: list[tuple[str, str]], target: str = "/orders?id=7") -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("GET", target)
    for name, value in pairs:
        connection.putheader(name, value)
    connection.endheaders()
    status = connection.getresponse().status
    connection.close()
    return status


def test_wsgi_capture_replays_through_check(
    wsgi_server: tuple[int, CaptureWSGI],
    pki: testing.PKI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port, app = wsgi_server
    edge = testing.Edge()
    for _ in range(3):  # the third is past the limit: not written
        pairs = [*edge.pairs(pki.client("alice")), ("X-Api-Key", "k-123"), ("Cookie", "s=1")]
        assert send(port, pairs) == 200
    assert app.store.written == 2
    files = sorted((tmp_path / "captures").iterdir())
    assert [f.name for f in files] == ["request-0001.http", "request-0002.http"]
    data = files[0].read_bytes()
    assert files[0].stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "captures").stat().st_mode & 0o777 == 0o700
    assert edge.secret is not None and edge.secret.encode() not in data
    assert b"k-123" not in data and b"s=1" not in data and REDACTED.encode() in data
    headers, request = read_request(data)
    assert request == {"peer": "127.0.0.1", "method": "GET", "target": "/orders?id=7"}
    assert headers.get_all("x-origin-verify") == [REDACTED]

    anchors = pki.write_anchors(tmp_path / "ca.pem")
    assert main(["check", str(files[0]), "--anchors", str(anchors), "--no-source-check"]) == 0
    assert "ACCEPTED CN=alice" in capsys.readouterr().out
    # With the secret checked, check says the capture's secret was redacted.
    monkeypatch.setenv("SECRET", edge.secret)
    code = main(["check", str(files[0]), "--anchors", str(anchors), "--edge-secret-env", "SECRET"])
    assert code == 1
    assert "this capture's secret was redacted" in capsys.readouterr().out


def test_asgi_capture_is_exact(pki: testing.PKI, tmp_path: Path) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    captured = CaptureASGI(app, tmp_path, limit=1)
    edge = testing.Edge("envoy-xfcc")
    pairs = [*edge.pairs(pki.client("bob")), ("Client_Cert", "smuggled")]

    async def call() -> int:
        transport = httpx.ASGITransport(app=captured, client=("198.51.100.7", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://origin.test") as c:
            return (await c.get("/a%20b?q=1", headers=pairs)).status_code

    assert asyncio.run(call()) == 204
    data = (tmp_path / "request-0001.http").read_bytes()
    headers, request = read_request(data)
    assert request == {"peer": "198.51.100.7", "method": "GET", "target": "/a%20b?q=1"}
    # Raw pairs: the underscore spelling is kept, so check sees what the server saw.
    assert headers.get_all("client_cert") == ["smuggled"]
    assert headers.get_all("x-origin-verify") == [REDACTED]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_capture_command(pki: testing.PKI, tmp_path: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "originverify.cli", "capture", str(tmp_path / "out")]
        + ["--listen", f"127.0.0.1:{port}", "--limit", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status = send(port, testing.Edge("nginx").pairs(pki.client("carol")))
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert status == 200
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    data = (tmp_path / "out" / "request-0001.http").read_bytes()
    headers, _ = read_request(data)
    assert headers.get_all("x-ssl-client-verify") == ["SUCCESS"]
    assert headers.get_all("x-origin-verify") == [REDACTED]
