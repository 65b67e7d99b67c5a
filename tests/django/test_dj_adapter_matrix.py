"""One refused request, four adapters, one answer; report-only decided once, in the core.

The same request goes through the WSGI middleware, the ASGI middleware, the Flask extension
and the Django middleware (all in-process, each with its own verifier built from the same
settings). For every refusal reason and every ``Accept`` header the status, body, content
type and headers must be identical, and equal to the kernel's ``refusal()``. In report-only
mode every adapter lets the request in, and the core writes exactly one WARNING line and
counts the true reason once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import pytest
from dj_helpers import EDGE_SECRET, DjPKI, cert_pairs
from django.test import Client
from flask import Flask, jsonify
from werkzeug.test import Client as WerkzeugClient

from originverify import VerificationError, Verifier, build_verifier
from originverify.adapters import refusal
from originverify.asgi import ClientCertMiddleware as ASGIMiddleware
from originverify.errors import Reason
from originverify.wsgi import ClientCertMiddleware as WSGIMiddleware

Pairs = list[tuple[str, str]]
Answer = tuple[int, bytes, dict[str, str]]

ACCEPTS = [
    None,
    "application/json",
    "text/html",
    "*/*",
    "application/problem+json",
    "text/html;q=0.5, application/json",
    "application/json;q=0.1, text/plain",
]
#: The answer's headers that must agree (Content-Length follows from the body).
COMPARED = ("content-type", "cache-control", "www-authenticate")


def _settings(djpki: DjPKI, mode: str) -> dict[str, Any]:
    return {"anchors": djpki.root.pem, "edge_secrets": [EDGE_SECRET], "mode": mode}


def _headers(raw: Iterable[tuple[str, str]]) -> dict[str, str]:
    lowered = {k.lower(): v for k, v in raw}
    return {k: lowered[k] for k in COMPARED if k in lowered}


def _plain_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"in"]


async def _plain_asgi(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"in"})


def via_wsgi(verifier: Verifier, pairs: Pairs) -> Answer:
    client = WerkzeugClient(WSGIMiddleware(_plain_wsgi, verifier))
    response = client.get("/whoami", headers=pairs)
    return response.status_code, response.get_data(), _headers(response.headers.items())


def via_asgi(verifier: Verifier, pairs: Pairs) -> Answer:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=ASGIMiddleware(_plain_asgi, verifier))
        async with httpx.AsyncClient(transport=transport, base_url="http://origin") as client:
            return await client.get("/whoami", headers=pairs)

    response = asyncio.run(go())
    return response.status_code, response.content, _headers(response.headers.items())


def flask_app(settings: dict[str, Any]) -> Flask:
    from flask_originverify import OriginVerify

    app = Flask("matrix")
    OriginVerify(app, app_wide=True, **settings)

    @app.get("/whoami")
    def whoami() -> Any:
        return jsonify(ok=True)

    return app


def via_flask(app: Flask, pairs: Pairs) -> Answer:
    response = app.test_client().get("/whoami", headers=pairs)
    return response.status_code, response.get_data(), _headers(response.headers.items())


def via_django(pairs: Pairs) -> Answer:
    response = Client().get("/whoami", headers=dict(pairs))
    return response.status_code, response.content, _headers(response.items())


CASES: dict[str, tuple[Reason, Callable[[DjPKI], Pairs]]] = {
    "missing_certificate": (Reason.MISSING_CERTIFICATE, lambda p: cert_pairs(None)),
    "untrusted_chain": (Reason.UNTRUSTED_CHAIN, lambda p: cert_pairs(p.stranger)),
    "expired": (Reason.EXPIRED, lambda p: cert_pairs(p.expired)),
    "edge_secret_mismatch": (
        Reason.EDGE_SECRET_MISMATCH,
        lambda p: cert_pairs(p.alice, secret="x" * 40),
    ),
    "edge_secret_missing": (Reason.EDGE_SECRET_MISSING, lambda p: cert_pairs(p.alice, secret=None)),
    "malformed_header": (
        Reason.MALFORMED_HEADER,
        lambda p: [("X-Origin-Verify", EDGE_SECRET), ("Client-Cert", "not-sf-binary")],
    ),
    "malformed_certificate": (
        Reason.MALFORMED_CERTIFICATE,
        lambda p: [("X-Origin-Verify", EDGE_SECRET), ("Client-Cert", ":AAECAw==:")],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("accept", ACCEPTS, ids=[str(a) for a in ACCEPTS])
def test_every_adapter_gives_the_same_refusal(
    case: str, accept: str | None, djpki: DjPKI, ov_settings: Callable[..., Any]
) -> None:
    reason, make = CASES[case]
    pairs = make(djpki) + ([("Accept", accept)] if accept else [])
    ov_settings(MODE="required")
    settings = _settings(djpki, "required")
    answers = {
        "wsgi": via_wsgi(build_verifier(settings), pairs),
        "asgi": via_asgi(build_verifier(settings), pairs),
        "flask": via_flask(flask_app(settings), pairs),
        "django": via_django(pairs),
    }
    expected = refusal(VerificationError(reason), accept)
    want = (expected.status, expected.body, _headers(expected.headers))
    assert answers == dict.fromkeys(answers, want)
    if expected.status == 401:
        assert want[2]["www-authenticate"] == 'ClientCert realm="originverify"'


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("originverify") and r.levelno >= logging.WARNING
    ]


@pytest.mark.parametrize("case", ["untrusted_chain", "expired", "edge_secret_mismatch"])
def test_report_only_is_decided_once_in_every_adapter(
    case: str,
    djpki: DjPKI,
    ov_settings: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from django_originverify import conf
    from django_originverify.signals import client_rejected as django_rejected
    from flask_originverify import client_rejected as flask_rejected

    reason, make = CASES[case]
    pairs = make(djpki)
    ov_settings(MODE="report_only")
    settings = _settings(djpki, "report_only")
    signals: list[tuple[str, Reason, bool]] = []

    def on_flask(sender: Any, error: VerificationError, enforced: bool) -> None:
        signals.append(("flask", error.reason, enforced))

    def on_django(sender: Any, error: VerificationError, enforced: bool, **kw: Any) -> None:
        signals.append(("django", error.reason, enforced))

    wsgi_v, asgi_v = build_verifier(settings), build_verifier(settings)
    app = flask_app(settings)
    django_rejected.connect(on_django)
    try:
        with flask_rejected.connected_to(on_flask), caplog.at_level(logging.DEBUG):
            for name, call in (
                ("wsgi", lambda: via_wsgi(wsgi_v, pairs)),
                ("asgi", lambda: via_asgi(asgi_v, pairs)),
                ("flask", lambda: via_flask(app, pairs)),
                ("django", lambda: via_django(pairs)),
            ):
                caplog.clear()
                assert call()[0] == 200, name  # never blocked
                lines = _warnings(caplog)
                assert len(lines) == 1, (name, lines)
                assert f"would reject (report-only) reason={reason.value}" in lines[0]
    finally:
        django_rejected.disconnect(on_django)
    assert signals == [("flask", reason, False), ("django", reason, False)]
    flask_verifier = app.extensions["originverify"].verifier
    for verifier in (wsgi_v, asgi_v, flask_verifier, conf.get_verifier()):
        assert verifier.stats[f"would_reject:{reason.value}"] == 1
        assert sum(verifier.stats.values()) == 1
