"""The pooled-connection poisoning scenario, with the shipped origin under gunicorn (gthread).

Reported: an anonymous client sent ``Upgrade`` + ``Connection: Upgrade`` with a body; the
forwarder sent the head (announcing the body) but not the body; originverify's middleware
refused the request without reading it; the forwarder pooled that origin connection; and
the next client's request was consumed by gunicorn as the missing body, so a valid client got
the anonymous one's refusal. Here the same sequence runs over real sockets, several times,
with both body framings, and every valid client must get its own identity back.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest

from tests.edge.conftest import StartEdge
from tests.edge.edgekit import (
    EDGE_SECRET,
    EdgeProcess,
    KeepAliveClient,
    Pki,
    client_context,
    raw_request,
)
from tests.edges_e2e.kit import EXAMPLES, REPO, Server, start_on_free_port


@pytest.fixture(scope="module")
def gunicorn(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """examples/edges/origin.py in required mode, one gthread worker (one shared origin)."""
    logs = tmp_path_factory.mktemp("gunicorn-gthread")
    env = {
        "ORIGINVERIFY_FORMAT": "cloudfront-passthrough",
        "ORIGINVERIFY_ANCHORS": pki.path("client-ca.pem"),
        "ORIGINVERIFY_EDGE_SECRET": EDGE_SECRET,
        "PYTHONPATH": str(REPO),
    }

    def start(port: int) -> Server:
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--worker-class",
            "gthread",
            "--workers",
            "1",
            "--threads",
            "4",
            "--keep-alive",
            "30",
            "--limit-request-field_size",
            "16384",
            "--chdir",
            str(EXAMPLES),
            "origin:app",
        ]
        return Server("gunicorn gthread", cmd, port, logs / "gunicorn.log", env=env)

    server = start_on_free_port(start)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def edge(start_edge: StartEdge, gunicorn: Server) -> EdgeProcess:
    return start_edge(upstream=f"http://127.0.0.1:{gunicorn.port}")


def anonymous_upgrade_with_body(pki: Pki, edge: EdgeProcess, framing: str) -> bytes:
    body = b'{"hello": "world"}'
    if framing == "length":
        frame = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    else:
        frame = b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    request = (
        b"POST /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, close\r\n"
        b"Upgrade: websocket\r\nContent-Type: application/json\r\n" + frame
    )
    return raw_request(edge.port, client_context(pki, identity=None), request, timeout=5)


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_next_client_is_never_consumed_as_a_body(pki: Pki, edge: EdgeProcess, framing: str) -> None:
    valid = KeepAliveClient(edge.port, client_context(pki))
    try:
        for _ in range(5):
            refused = anonymous_upgrade_with_body(pki, edge, framing)
            # Refused by the origin's middleware at once, not after the read timeout.
            assert refused.startswith(b"HTTP/1.1 401 "), refused[:300]
            assert b"missing_certificate" in refused
            response, data = valid.request("GET", "/whoami")
            assert response.status_code == 200, data
            identity = json.loads(data)
            assert "client+one" in json.dumps(identity), identity
    finally:
        valid.close()
