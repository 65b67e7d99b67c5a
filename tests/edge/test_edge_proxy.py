"""Proxy behaviour: upstream failures, timeouts, keep-alive, streaming, limits, access log."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.edge.conftest import StartEdge
from tests.edge.edgekit import (
    EdgeProcess,
    KeepAliveClient,
    Origin,
    Pki,
    client_context,
    closed_port,
    curl,
    pattern,
    raw_request,
    tls_connection,
)

MiB = 1 << 20


@pytest.fixture
def http(pki: Pki) -> Iterator[httpx.Client]:
    with httpx.Client(verify=client_context(pki), timeout=20) as client:
        yield client


def status_of(response: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", response)
    assert match, response[:200]
    return int(match.group(1))


def test_upstream_down_is_502(pki: Pki, start_edge: StartEdge, http: httpx.Client) -> None:
    port = closed_port()
    edge = start_edge(upstream=f"http://127.0.0.1:{port}")
    response = http.get(edge.url + "/echo")
    assert response.status_code == 502
    assert response.text == "502 Bad Gateway\n"  # no internals leak to the client


def test_slow_upstream_is_504_after_the_read_timeout(
    origin: Origin, passthrough: EdgeProcess, http: httpx.Client
) -> None:
    started = time.monotonic()
    response = http.get(passthrough.url + "/slow?delay=4")
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert 1.3 < elapsed < 3.5  # --upstream-read-timeout 1.5, not the origin's 4 s
    assert origin.state.slow_started.is_set()


def test_slowloris_client_times_out(pki: Pki, passthrough: EdgeProcess) -> None:
    started = time.monotonic()
    with tls_connection(passthrough.port, client_context(pki)) as tls:
        tls.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n")
        received = b""
        for i in range(40):  # one header line every 0.1 s; --header-timeout is 1 s
            try:
                tls.sendall(b"X-Drip-%d: x\r\n" % i)
            except OSError:
                break
            time.sleep(0.1)
            tls.settimeout(0.01)
            try:
                chunk = tls.recv(4096)
            except (TimeoutError, OSError):
                continue
            received += chunk
            if not chunk or b"\r\n\r\n" in received:
                break
    elapsed = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 408 ")
    assert elapsed < 2.5


def test_keep_alive_reuses_both_connections(
    pki: Pki, origin: Origin, passthrough: EdgeProcess
) -> None:
    client = KeepAliveClient(passthrough.port, client_context(pki))
    try:
        ports = []
        for i in range(6):
            response, body = client.request("GET", f"/echo?i={i}")
            assert response.status_code == 200
            ports.append(json.loads(body)["port"])
    finally:
        client.close()
    assert len(set(ports)) == 1  # one pooled origin connection served all six requests
    assert origin.state.ports[-6:] == ports


class FlakyOrigin:
    """Answers one request per connection, then drops the connection when the next arrives.

    That is the keep-alive race a pooled connection meets when the origin times it out at the
    moment the edge reuses it.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            body = b"served by connection %d" % self.connections
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            conn.recv(65536)  # the next request on this connection: drop it unanswered

    def close(self) -> None:
        self.listener.close()


def test_reused_connection_dropped_by_the_origin_is_retried_once(
    pki: Pki, start_edge: StartEdge, http: httpx.Client
) -> None:
    flaky = FlakyOrigin()
    try:
        edge = start_edge(upstream=f"http://127.0.0.1:{flaky.port}")
        first = http.get(edge.url + "/a")
        assert first.text == "served by connection 1"
        # Reuses the pooled connection, which the origin drops: replayed on a new one.
        second = http.get(edge.url + "/b")
        assert second.status_code == 200
        assert second.text == "served by connection 2"
        # A request with a body is never replayed: the client gets a 502 instead.
        third = http.post(edge.url + "/c", content=b"payload")
        assert third.status_code == 502
        assert flaky.connections == 2
    finally:
        flaky.close()


def test_content_length_upload_of_10_mib(
    pki: Pki, passthrough: EdgeProcess, tmp_path: Path
) -> None:
    body = pattern(10 * MiB)
    path = tmp_path / "upload.bin"
    path.write_bytes(body)
    result = curl(pki, passthrough.url + "/echo", "--data-binary", f"@{path}", "-H", "Expect:")
    got = json.loads(result.stdout)
    assert got["body_len"] == len(body)
    assert got["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_chunked_upload_is_streamed(
    origin: Origin, passthrough: EdgeProcess, http: httpx.Client
) -> None:
    """The origin sees the first megabyte while the client is still producing the body."""
    total = 10 * MiB
    data = pattern(total)
    seen_mid_upload: list[bool] = []

    def body() -> Iterator[bytes]:
        for offset in range(0, total, 65536):
            if offset == total // 2:
                # A buffering proxy would forward nothing before the body ends: wait here.
                seen_mid_upload.append(origin.state.upload_progress.wait(10))
            yield data[offset : offset + 65536]

    baseline = passthrough.rss_kib()
    response = http.post(passthrough.url + "/upload", content=body())
    assert response.status_code == 200
    assert seen_mid_upload == [True]
    got = response.json()
    assert got["body_len"] == total
    assert got["body_sha256"] == hashlib.sha256(data).hexdigest()
    assert ("Transfer-Encoding", "chunked") in [tuple(h) for h in got["headers"]]
    assert passthrough.rss_kib() - baseline < 6 * 1024


def test_chunked_download_is_streamed_with_bounded_memory(
    passthrough: EdgeProcess, http: httpx.Client
) -> None:
    size = 10 * MiB
    baseline = passthrough.rss_kib()
    peak = baseline
    digest = hashlib.sha256()
    received = 0
    with http.stream("GET", passthrough.url + f"/download?size={size}") as response:
        assert response.status_code == 200
        assert response.headers["transfer-encoding"] == "chunked"
        time.sleep(0.5)  # a slow reader: a buffering proxy would now hold the whole body
        for chunk in response.iter_raw(65536):
            digest.update(chunk)
            received += len(chunk)
            if received % (MiB) < 65536:
                peak = max(peak, passthrough.rss_kib())
                time.sleep(0.02)
    assert received == size
    assert digest.hexdigest() == hashlib.sha256(pattern(size)).hexdigest()
    assert peak - baseline < 6 * 1024, f"RSS grew by {peak - baseline} KiB"


def test_expect_100_continue_is_answered_by_the_edge(pki: Pki, passthrough: EdgeProcess) -> None:
    body = b"x" * 5000
    with tls_connection(passthrough.port, client_context(pki)) as tls:
        tls.sendall(
            b"POST /echo HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        )
        interim = tls.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 ")
        tls.sendall(body)
        rest = b""
        while chunk := tls.recv(65536):
            rest += chunk
    assert status_of(rest) == 200
    got = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert got["body_len"] == len(body)
    assert "expect" not in [k.lower() for k, _ in got["headers"]]


def test_body_size_cap(pki: Pki, start_edge: StartEdge) -> None:
    edge = start_edge("--max-body-bytes", "4096")
    ctx = client_context(pki)
    fixed = raw_request(
        edge.port,
        ctx,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"a" * 5000,
    )
    assert status_of(fixed) == 413
    chunked = raw_request(
        edge.port,
        ctx,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"1000\r\n"
        + b"a" * 4096
        + b"\r\n10\r\n"
        + b"b" * 16
        + b"\r\n0\r\n\r\n",
    )
    assert status_of(chunked) == 413
    ok = raw_request(
        edge.port,
        ctx,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
        b"0123456789",
    )
    assert status_of(ok) == 200


def test_conflicting_framing_is_rejected(pki: Pki, passthrough: EdgeProcess) -> None:
    response = raw_request(
        passthrough.port,
        client_context(pki),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
    )
    assert status_of(response) == 400


def test_oversized_request_head_is_431(pki: Pki, passthrough: EdgeProcess) -> None:
    response = raw_request(
        passthrough.port,
        client_context(pki),
        b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
    )
    assert status_of(response) == 431


def test_access_log_line(pki: Pki, passthrough: EdgeProcess, http: httpx.Client) -> None:
    before = len(passthrough.access_lines())
    assert http.get(passthrough.url + "/echo?log=1").status_code == 200
    deadline = time.monotonic() + 5
    while len(passthrough.access_lines()) <= before and time.monotonic() < deadline:
        time.sleep(0.02)
    line = passthrough.access_lines()[-1]
    fingerprint = hashlib.sha256(pki.client.der).hexdigest()
    match = re.fullmatch(
        r'127\.0\.0\.1 "GET /echo\?log=1 HTTP/1\.1" 200 ([0-9a-f]{64}) (\d+) (\d+\.\d{6})\n', line
    )
    assert match, line
    assert match.group(1) == fingerprint
    assert int(match.group(2)) > 100
    assert float(match.group(3)) < 5
