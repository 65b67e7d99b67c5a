"""The forwarder on both event loops: asyncio's own, and uvloop (the ``edge-fast`` extra).

The rest of the suite runs on whatever ``--event-loop auto`` picks (uvloop where it is
installed); this module pins each loop and runs the behaviours that lean hardest on the loop
and its transports: TLS records, streaming with back-pressure, pipelining, deadlines.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from originverify.edge.eventloop import uvloop_installed
from tests.edge.conftest import StartEdge
from tests.edge.edgekit import (
    REPO,
    EdgeProcess,
    Origin,
    Pki,
    client_context,
    edge_args,
    pattern,
    raw_request,
    tls_connection,
)
from tests.edge.scripted import ScriptedOrigin

LOOPS = ["asyncio", "uvloop"]


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedOrigin]:
    origin = ScriptedOrigin()
    yield origin
    origin.close()


@pytest.fixture(scope="module", params=LOOPS)
def edge(request: pytest.FixtureRequest, start_edge: StartEdge) -> EdgeProcess:
    if request.param == "uvloop" and not uvloop_installed():
        hint = "uvloop is not installed: pip install 'originverify[edge-fast]'"
        if os.environ.get("CI") == "true":
            pytest.fail(hint + " (the dev extra installs it in CI)")
        pytest.skip(hint)
    started = start_edge("--event-loop", request.param)
    assert f"loop={request.param}" in "".join(started.lines)
    return started


def test_headers_upload_and_download(pki: Pki, edge: EdgeProcess) -> None:
    body = pattern(3 << 20)
    with httpx.Client(verify=client_context(pki), timeout=20) as http:
        got = http.post(edge.url + "/echo", content=body).json()
        assert got["body_sha256"] == hashlib.sha256(body).hexdigest()
        assert ["CloudFront-Viewer-Cert-Present", "1"] in got["headers"]
        download = http.get(edge.url + "/download?size=2000000")
        assert download.content == pattern(2000000)


def test_pipelined_upgrade_with_a_body(pki: Pki, edge: EdgeProcess) -> None:
    first = (
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nContent-Length: 4\r\n\r\nabcd"
    )
    second = b"GET /echo?b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    data = raw_request(edge.port, client_context(pki), first + second)
    assert data.count(b"HTTP/1.1 200 ") == 2
    first_body = data.split(b"\r\n\r\n", 1)[1]
    assert json.loads(first_body[: first_body.index(b"HTTP/1.1")])["body_len"] == 4


def test_origin_answering_mid_upload(
    pki: Pki, start_edge: StartEdge, edge: EdgeProcess, scripted: ScriptedOrigin
) -> None:
    """Back-pressure toward the origin and the wake-up on its early answer."""
    loop = "uvloop" if "loop=uvloop" in "".join(edge.lines) else "asyncio"
    on_scripted = start_edge("--event-loop", loop, upstream=scripted.url)
    with tls_connection(on_scripted.port, client_context(pki), timeout=5) as tls:
        head = b"POST /early HTTP/1.1\r\nHost: localhost\r\nContent-Length: 8388608\r\n\r\n"
        tls.sendall(head + b"a" * 600000)  # more than the origin's socket buffers take
        data = b""
        while b"\r\n\r\nno" not in data and (chunk := tls.recv(65536)):
            data += chunk
    assert data.startswith(b"HTTP/1.1 401 ") and b"connection: close" in data.lower(), data[:200]


def test_deadlines(pki: Pki, edge: EdgeProcess, origin: Origin) -> None:
    with httpx.Client(verify=client_context(pki), timeout=20) as http:
        assert http.get(edge.url + "/slow?delay=4").status_code == 504


def _start_without_uvloop(pki: Pki, origin: Origin, loop: str) -> subprocess.Popen[str]:
    hide = "import sys; sys.modules['uvloop'] = None; from originverify.edge.__main__ import main"
    args = ["--listen", "127.0.0.1:0", *edge_args(pki, origin.url), "--event-loop", loop]
    return subprocess.Popen(
        [sys.executable, "-c", hide + "; sys.exit(main(sys.argv[1:]))", *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_without_uvloop_auto_falls_back_and_uvloop_refuses(pki: Pki, origin: Origin) -> None:
    strict = _start_without_uvloop(pki, origin, "uvloop")
    _, err = strict.communicate(timeout=30)
    assert strict.returncode == 2, err
    assert "originverify[edge-fast]" in err
    auto = _start_without_uvloop(pki, origin, "auto")
    try:
        assert auto.stderr is not None
        line = auto.stderr.readline()
        assert "listening on" in line and "loop=asyncio" in line, line
    finally:
        auto.terminate()
        auto.communicate(timeout=15)
