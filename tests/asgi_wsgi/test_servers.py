"""The middlewares under real servers on 127.0.0.1: uvicorn (Starlette, FastAPI, WebSocket)
and gunicorn (plain WSGI), real certificates in the edge's headers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from ovkit import (
    SECRET,
    Headers,
    Pki,
    Server,
    edge,
    free_port,
    garbage_cert,
    gunicorn_argv,
    running,
    server_env,
    uvicorn_argv,
)
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

pytestmark = pytest.mark.e2e

PROTECTED = {"x-origin-verify", "client-cert", "client-cert-chain"}


@pytest.fixture(scope="module")
def uvicorn(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    log = tmp_path_factory.mktemp("uvicorn") / "asgi.log"
    argv = uvicorn_argv("ov_asgi_app:create_app", port, "--factory")
    with running(argv, port, server_env(pki), log) as server:
        yield server


@pytest.fixture(scope="module")
def gunicorn(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "wsgi.log"
    with running(gunicorn_argv("ov_wsgi_app:create_app()", port), port, server_env(pki), log) as s:
        yield s


def scenario(pki: Pki, who: str) -> Headers:
    return {
        "alice": lambda: edge(pki.alice),
        "bob": lambda: edge(pki.bob),
        "none": lambda: edge(),
        "forged": lambda: edge(pki.forged),
        "garbage": lambda: edge() + garbage_cert(),
        "expired": lambda: edge(pki.expired),
        "stranger": lambda: edge(pki.stranger),
        "wrong-secret": lambda: edge(pki.alice, secret="q" * 32),
        "duplicate": lambda: [*edge(pki.alice), ("Client-Cert", edge(pki.bob)[1][1])],
        "duplicate-secret": lambda: [*edge(pki.alice), ("X-Origin-Verify", SECRET)],
        "underscore": lambda: [*edge(), ("Client_Cert", edge(pki.alice)[1][1])],
    }[who]()


COMMON = [
    ("/whoami", "alice", 200, "alice"),
    ("/whoami", "none", 401, None),
    ("/whoami", "forged", 403, None),
    ("/whoami", "garbage", 400, None),
    ("/whoami", "expired", 403, None),
    ("/whoami", "stranger", 403, None),
    ("/whoami", "wrong-secret", 403, None),
    ("/whoami", "duplicate", 400, None),
    ("/optional/whoami", "none", 200, None),
    ("/optional/whoami", "alice", 200, "alice"),
    ("/optional/whoami", "expired", 403, None),
    ("/report/whoami", "stranger", 200, None),
    ("/report/whoami", "none", 200, None),
    ("/report/whoami", "bob", 200, "bob"),
]


@pytest.mark.parametrize(
    ("path", "who", "status", "cn"),
    [
        *COMMON,
        # ASGI servers hand over the raw field lines: the core sees both attacks itself.
        ("/whoami", "duplicate-secret", 400, None),
        ("/whoami", "underscore", 400, None),
        ("/optional/whoami", "underscore", 400, None),
        ("/fastapi/whoami", "alice", 200, "alice"),
        ("/fastapi/whoami", "none", 401, None),
        ("/fastapi/whoami", "stranger", 403, None),
        ("/fastapi/admin", "alice", 200, "alice"),
        ("/fastapi/admin", "bob", 403, None),
        ("/fastapi/public", "none", 200, None),
    ],
)
def test_uvicorn(
    uvicorn: Server, pki: Pki, path: str, who: str, status: int, cn: str | None
) -> None:
    response = httpx.get(uvicorn.url + path, headers=scenario(pki, who), timeout=10)
    assert response.status_code == status, response.text
    if status == 200:
        body = response.json()
        assert body["cn"] == cn
        if "seen" in body:
            assert not PROTECTED & set(body["seen"]), "edge headers reached the app"


@pytest.mark.parametrize(
    ("path", "who", "status", "cn"),
    [
        *COMMON,
        # gunicorn joins duplicates with "," (secret no longer matches) and drops
        # underscore spellings by default: the smuggled certificate never arrives.
        ("/whoami", "duplicate-secret", 403, None),
        ("/whoami", "underscore", 401, None),
        ("/optional/whoami", "underscore", 200, None),
    ],
)
def test_gunicorn_wsgi(
    gunicorn: Server, pki: Pki, path: str, who: str, status: int, cn: str | None
) -> None:
    response = httpx.get(gunicorn.url + path, headers=scenario(pki, who), timeout=10)
    assert response.status_code == status, response.text
    if status == 200:
        body = response.json()
        assert body["cn"] == cn
        assert not {"HTTP_X_ORIGIN_VERIFY", "HTTP_CLIENT_CERT"} & set(body["seen"])


def ws_url(server: Server, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


def test_websocket_with_certificate(uvicorn: Server, pki: Pki) -> None:
    with connect(ws_url(uvicorn, "/ws"), additional_headers=edge(pki.alice)) as socket:
        assert socket.recv(timeout=10) == "alice"


def test_websocket_anonymous_in_optional_mode(uvicorn: Server, pki: Pki) -> None:
    with connect(ws_url(uvicorn, "/optional/ws"), additional_headers=edge()) as socket:
        assert socket.recv(timeout=10) == "anonymous"


@pytest.mark.parametrize(("who", "status"), [("none", 401), ("stranger", 403), ("underscore", 400)])
def test_websocket_refused(uvicorn: Server, pki: Pki, who: str, status: int) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(uvicorn, "/ws"), additional_headers=scenario(pki, who))
    assert refused.value.response.status_code == status


@pytest.mark.parametrize("which", ["gunicorn", "uvicorn"])
def test_refusals_are_visible_under_stock_server_logging(
    request: pytest.FixtureRequest, pki: Pki, which: str
) -> None:
    """No logging configured by the app: one WARNING line per refusal on the server's
    stderr (Python's last-resort handler), with the reason, the peer and the leaf."""
    server: Server = request.getfixturevalue(which)
    before = server.output().count("originverify: rejected reason=")
    reply = httpx.get(server.url + "/whoami", headers=scenario(pki, "stranger"), timeout=10)
    assert reply.status_code == 403
    assert httpx.get(server.url + "/whoami", headers=edge(pki.alice), timeout=10).is_success
    deadline = time.monotonic() + 5
    while server.output().count("originverify: rejected") == before and time.monotonic() < deadline:
        time.sleep(0.05)
    output = server.output()
    assert output.count("originverify: rejected reason=") == before + 1, output
    line = [x for x in output.splitlines() if "reason=untrusted_chain" in x][-1]
    assert "status=403" in line and "peer=127.0.0.1" in line and "leaf_sha256=" in line
    assert "request=GET /whoami" in line
    assert SECRET not in output
