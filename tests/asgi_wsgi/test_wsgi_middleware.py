"""``originverify.wsgi``: the middleware under Werkzeug's test client, and its helpers."""

from __future__ import annotations

import json
import logging
import sys
import types
from collections.abc import Iterable
from typing import Any

import pytest
from ovkit import SECRET, Headers, Pki, edge
from werkzeug.test import Client

from originverify import ClientIdentity, ConfigurationError, build_verifier
from originverify.wsgi import (
    ClientCertMiddleware,
    client_identity,
    environ_keys,
    peer_address,
    refuse_unsafe_gunicorn,
    request_target,
)

PROTECTED = {"HTTP_X_ORIGIN_VERIFY", "HTTP_CLIENT_CERT", "HTTP_CLIENT_CERT_CHAIN"}


def verifier(pki: Pki, mode: str = "required") -> Any:
    return build_verifier({"anchors": pki.anchors, "edge_secrets": SECRET, "mode": mode})


class Recorder:
    def __init__(self) -> None:
        self.environ: dict[str, Any] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.environ = dict(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]


def get(app: Any, headers: Headers) -> Any:
    return Client(app).get("/x?a=1", headers=headers)


def test_valid_request_reaches_the_app_with_identity_and_without_edge_headers(pki: Pki) -> None:
    inner = Recorder()
    response = get(ClientCertMiddleware(inner, verifier(pki)), edge(pki.alice))
    assert response.status_code == 200
    assert inner.environ is not None
    identity = client_identity(inner.environ)
    assert isinstance(identity, ClientIdentity)
    assert identity.spiffe_id == "spiffe://example.org/admin/alice"
    assert not PROTECTED & set(inner.environ)


@pytest.mark.parametrize(
    ("headers_of", "status", "message"),
    [
        (lambda p: edge(), 401, "client certificate required"),
        (lambda p: edge(p.expired), 403, "client certificate rejected"),
        (lambda p: edge(p.stranger), 403, "client certificate rejected"),
        (lambda p: edge(p.forged), 403, "client certificate rejected"),
        (
            lambda p: edge(p.alice, secret=None),
            403,
            "request did not come through the trusted edge",
        ),
        (lambda p: [*edge(p.alice), ("Client-Cert", edge(p.bob)[1][1])], 400, "malformed"),
    ],
    ids=["none", "expired", "wrong-ca", "forged", "no-secret", "duplicate"],
)
def test_refusals(pki: Pki, headers_of: Any, status: int, message: str) -> None:
    inner = Recorder()
    response = get(ClientCertMiddleware(inner, verifier(pki)), headers_of(pki))
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert inner.environ is None


def test_optional_and_report_only(pki: Pki) -> None:
    inner = Recorder()
    assert get(ClientCertMiddleware(inner, verifier(pki, "optional")), edge()).status_code == 200
    assert inner.environ is not None
    assert client_identity(inner.environ) is None
    optional = ClientCertMiddleware(inner, verifier(pki, "optional"))
    assert get(optional, edge(pki.expired)).status_code == 403
    report = ClientCertMiddleware(inner, verifier(pki, "report_only"))
    assert get(report, edge(pki.expired)).status_code == 200
    assert client_identity(inner.environ) is None
    assert not PROTECTED & set(inner.environ)


def test_json_error_hooks_and_strip_off(pki: Pki) -> None:
    events: list[str] = []
    inner = Recorder()
    middleware = ClientCertMiddleware(
        inner,
        verifier(pki),
        strip_headers=False,
        environ_key="my.identity",
        on_success=lambda identity, environ: events.append(f"ok {identity.common_name}"),
        on_failure=lambda error, environ: events.append(f"refused {error.reason.value}"),
    )
    response = get(middleware, [*edge(pki.stranger), ("Accept", "application/json")])
    assert json.loads(response.data) == {"error": "client certificate rejected", "status": 403}
    get(middleware, edge(pki.alice))
    assert events == ["refused untrusted_chain", "ok alice"]
    assert inner.environ is not None
    assert PROTECTED <= set(inner.environ)
    identity = client_identity(inner.environ, key="my.identity")
    assert identity is not None
    assert identity.common_name == "alice"


def test_rejection_is_logged_without_secret(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="originverify"):
        get(ClientCertMiddleware(Recorder(), verifier(pki)), edge(pki.alice, secret="w" * 32))
    assert "reason=edge_secret_mismatch" in caplog.text
    assert "w" * 32 not in caplog.text


def test_client_identity_without_middleware_is_an_error() -> None:
    with pytest.raises(LookupError, match="ClientCertMiddleware"):
        client_identity({"REQUEST_METHOD": "GET"})


def test_middleware_needs_a_verifier() -> None:
    with pytest.raises(ConfigurationError):
        ClientCertMiddleware(Recorder(), "not a verifier")  # type: ignore[arg-type]


def test_environ_keys_cover_both_spellings() -> None:
    assert environ_keys(["Client-Cert", "client_cert", "X-Origin-Verify", "Content-Type"]) == (
        "HTTP_CLIENT_CERT",
        "HTTP_X_ORIGIN_VERIFY",
        "CONTENT_TYPE",
    )


def test_peer_is_the_tcp_peer_even_behind_proxyfix() -> None:
    environ = {
        "REMOTE_ADDR": "198.51.100.7",
        "werkzeug.proxy_fix.orig": {"REMOTE_ADDR": "10.0.0.2"},
    }
    assert peer_address(environ) == "10.0.0.2"
    assert peer_address({"REMOTE_ADDR": "10.0.0.3"}) == "10.0.0.3"
    assert peer_address({}) is None


def test_request_target_prefers_the_raw_uri() -> None:
    assert request_target({"RAW_URI": "/a%20b?x=1", "PATH_INFO": "/a b"}) == "/a%20b?x=1"
    built = request_target({"SCRIPT_NAME": "/app", "PATH_INFO": "/a b", "QUERY_STRING": "x=1"})
    assert built == "/app/a%20b?x=1"
    assert request_target({}) == "/"


def test_gunicorn_guard_reads_the_config_on_the_call_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate gunicorn loading the app: one of its objects, holding ``cfg``, is a caller."""
    monkeypatch.setitem(sys.modules, "gunicorn", types.ModuleType("gunicorn"))

    class Cfg:
        settings = ()

        def __init__(self, header_map: str, forwarder_headers: list[str]) -> None:
            self.header_map = header_map
            self.forwarder_headers = forwarder_headers

    class Worker:
        def __init__(self, cfg: Cfg) -> None:
            self.cfg = cfg

        def load_wsgi(self) -> None:
            refuse_unsafe_gunicorn(["Client-Cert"])

    Worker.__module__ = "gunicorn.workers.sync"
    Worker(Cfg("drop", ["SCRIPT_NAME"])).load_wsgi()  # fine
    with pytest.raises(ConfigurationError, match="dangerous"):
        Worker(Cfg("dangerous", [])).load_wsgi()
    # Outside gunicorn (no gunicorn object on the stack) nothing happens.
    refuse_unsafe_gunicorn(["Client-Cert"])


def test_gunicorn_guard_warns_about_forwarder_headers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "gunicorn", types.ModuleType("gunicorn"))

    class Cfg:
        settings = ()
        header_map = "drop"
        forwarder_headers = ("CLIENT_CERT",)

    class Arbiter:
        cfg = Cfg()

        def setup(self) -> None:
            refuse_unsafe_gunicorn(["Client-Cert"])

    Arbiter.__module__ = "gunicorn.arbiter"
    with caplog.at_level(logging.WARNING, logger="originverify"):
        Arbiter().setup()
    assert "forwarder_headers=CLIENT_CERT" in caplog.text
