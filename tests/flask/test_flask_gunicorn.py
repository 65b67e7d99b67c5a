"""The Flask extension under a real gunicorn on 127.0.0.1, real certificates in the edge's
headers. What the test client cannot show: how the server itself treats duplicate and
underscore-spelled fields, and that configuration errors stop the server from booting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
    start_server,
    stop_server,
)

pytestmark = pytest.mark.e2e

APP = "ov_flask_app:create_server_app()"
PROTECTED = {"x-origin-verify", "client-cert", "client-cert-chain"}


@pytest.fixture(scope="module")
def server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "flask.log"
    with running(gunicorn_argv(APP, port), port, server_env(pki), log) as server:
        yield server


def call(server: Server, path: str, headers: Headers) -> httpx.Response:
    return httpx.get(server.url + path, headers=headers, timeout=10)


@pytest.mark.parametrize(
    ("path", "who", "status", "cn"),
    [
        ("/whoami", "alice", 200, "alice"),
        ("/whoami", "none", 401, None),
        ("/whoami", "forged", 403, None),
        ("/whoami", "garbage", 400, None),
        ("/whoami", "expired", 403, None),
        ("/whoami", "stranger", 403, None),
        ("/whoami", "wrong-secret", 403, None),
        ("/whoami", "no-secret", 403, None),
        ("/admin", "alice", 200, "alice"),
        ("/admin", "bob", 403, None),
        ("/maybe", "none", 200, None),
        ("/optional/maybe", "none", 200, None),
        ("/optional/maybe", "alice", 200, "alice"),
        ("/optional/maybe", "stranger", 403, None),
        ("/optional/whoami", "none", 401, None),
        ("/report/whoami", "expired", 200, None),
        ("/report/whoami", "none", 200, None),
        ("/report/admin", "bob", 200, "bob"),
        ("/report/whoami", "alice", 200, "alice"),
        ("/wide/lazy", "none", 401, None),
        ("/wide/lazy", "alice", 200, "alice"),
        ("/wide/lazy", "expired", 403, None),
        ("/wide/", "no-secret", 200, None),
    ],
)
def test_scenarios(
    server: Server, pki: Pki, path: str, who: str, status: int, cn: str | None
) -> None:
    headers = {
        "alice": lambda: edge(pki.alice),
        "bob": lambda: edge(pki.bob),
        "none": lambda: edge(),
        "forged": lambda: edge(pki.forged),
        "garbage": lambda: edge() + garbage_cert(),
        "expired": lambda: edge(pki.expired),
        "stranger": lambda: edge(pki.stranger),
        "wrong-secret": lambda: edge(pki.alice, secret="y" * 32),
        "no-secret": lambda: edge(pki.alice, secret=None),
    }[who]()
    response = call(server, path, headers)
    assert response.status_code == status, response.text
    if status == 200 and path != "/wide/":
        body = response.json()
        assert body["cn"] == cn
        assert body["authenticated"] is (cn is not None)
        assert not PROTECTED & set(body["seen"]), "edge headers reached the app"


def test_refusal_body_is_the_public_message_only(server: Server, pki: Pki) -> None:
    response = call(server, "/whoami", [*edge(pki.expired), ("Accept", "application/json")])
    assert response.status_code == 403
    assert response.json() == {"error": "client certificate rejected", "status": 403}


def test_duplicate_client_cert_is_refused(server: Server, pki: Pki) -> None:
    # gunicorn joins the two field lines with ","; a Client-Cert Item cannot be a list.
    headers = [*edge(pki.bob), ("Client-Cert", edge(pki.alice)[1][1])]
    assert call(server, "/whoami", headers).status_code == 400


def test_duplicate_edge_secret_is_refused(server: Server, pki: Pki) -> None:
    headers = [*edge(pki.alice), ("X-Origin-Verify", SECRET)]
    assert call(server, "/whoami", headers).status_code == 403


def test_underscore_spelling_is_dropped_by_gunicorn(server: Server, pki: Pki) -> None:
    """The attack of security-perf §1.3: the edge forwarded no certificate, the client
    adds ``Client_Cert`` with someone's public certificate. gunicorn's default
    ``header_map=drop`` discards it, so the request stays anonymous."""
    smuggled = ("Client_Cert", edge(pki.alice)[1][1])
    maybe = call(server, "/optional/maybe", [*edge(), smuggled])
    assert maybe.status_code == 200
    assert maybe.json()["authenticated"] is False
    assert call(server, "/whoami", [*edge(), smuggled]).status_code == 401
    # Next to a genuine certificate it changes nothing either.
    assert call(server, "/whoami", [*edge(pki.bob), smuggled]).json()["cn"] == "bob"


def test_report_only_logs_what_it_would_have_refused(server: Server, pki: Pki) -> None:
    call(server, "/report/whoami", edge(pki.stranger))
    assert "would reject (report-only) reason=untrusted_chain" in server.output()
    assert SECRET not in server.output()


def test_header_map_refuse_rejects_underscore_fields(pki: Pki, tmp_path: Path) -> None:
    port = free_port()
    argv = gunicorn_argv(APP, port, "--header-map", "refuse")
    with running(argv, port, server_env(pki), tmp_path / "refuse.log") as server:
        smuggled = ("Client_Cert", edge(pki.alice)[1][1])
        assert call(server, "/maybe", [*edge(), smuggled]).status_code == 400
        assert call(server, "/whoami", edge(pki.alice)).status_code == 200


def test_header_map_dangerous_stops_the_server(pki: Pki, tmp_path: Path) -> None:
    port = free_port()
    argv = gunicorn_argv(APP, port, "--header-map", "dangerous")
    log = tmp_path / "dangerous.log"
    started: list[Server] = []
    try:
        with pytest.raises(RuntimeError, match="header_map='dangerous'"):
            started.append(start_server(argv, port, server_env(pki), log, timeout=30))
    finally:
        for server in started:  # only if the guard failed
            stop_server(server)
    assert "ConfigurationError" in log.read_text()
