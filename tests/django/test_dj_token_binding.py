"""RFC 8705 token binding in every adapter: Flask, Django view helper, DRF permission and the
FastAPI dependency, all through ``Verifier.require`` (logged, counted, one 401 answer)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from dj_helpers import EDGE_SECRET, DjPKI, cert_pairs
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from fastapi import FastAPI, Header
from flask import Flask, jsonify

from originverify import build_verifier
from originverify.asgi import ClientCertMiddleware
from originverify.starlette import ClientCertRefused, refusal_handler, require_bound_token
from originverify.tokens import x5t_s256

CHALLENGE_PREFIX = 'Bearer error="invalid_token"'


def claims_for(leaf: Any) -> dict[str, Any]:
    return {"sub": "svc", "cnf": {"x5t#S256": x5t_s256(leaf.der)}}


def settings(djpki: DjPKI, mode: str = "optional") -> dict[str, Any]:
    return {"anchors": djpki.root.pem, "edge_secrets": [EDGE_SECRET], "mode": mode}


# -- Flask -----------------------------------------------------------------------------------


def flask_app(djpki: DjPKI, mode: str = "optional") -> Flask:
    from flask import request
    from flask_originverify import OriginVerify, require_token_binding

    app = Flask("tokens")
    OriginVerify(app, **settings(djpki, mode))

    @app.get("/api")
    def api() -> Any:
        token = request.get_json(silent=True) or {}
        client = require_token_binding(token)
        return jsonify(cn=getattr(client, "common_name", None))

    return app


@pytest.mark.parametrize(
    ("token", "status", "reason"),
    [
        ("alice", 200, None),
        ("bob", 401, "token_binding_mismatch"),
        ("plain", 401, "token_not_bound"),
    ],
)
def test_flask_token_binding(djpki: DjPKI, token: str, status: int, reason: str | None) -> None:
    claims = {"alice": claims_for(djpki.alice), "bob": claims_for(djpki.bob), "plain": {"sub": "x"}}
    app = flask_app(djpki)
    response = app.test_client().get("/api", headers=cert_pairs(djpki.alice), json=claims[token])
    assert response.status_code == status
    if reason is not None:
        assert response.headers["WWW-Authenticate"].startswith(CHALLENGE_PREFIX)
        assert app.extensions["originverify"].verifier.stats[f"rejected:{reason}"] == 1


def test_flask_token_binding_without_certificate(djpki: DjPKI) -> None:
    response = (
        flask_app(djpki)
        .test_client()
        .get("/api", headers=cert_pairs(None), json=claims_for(djpki.alice))
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'ClientCert realm="originverify"'


def test_flask_report_only_logs_but_lets_through(
    djpki: DjPKI, caplog: pytest.LogCaptureFixture
) -> None:
    app = flask_app(djpki, "report_only")
    with caplog.at_level(logging.WARNING, logger="originverify"):
        response = app.test_client().get(
            "/api", headers=cert_pairs(djpki.alice), json=claims_for(djpki.bob)
        )
    assert response.status_code == 200
    assert "would reject (report-only) reason=token_binding_mismatch" in caplog.text


# -- Django and DRF --------------------------------------------------------------------------


def test_django_view_helper(djpki: DjPKI, ov_settings: Any) -> None:
    from django_originverify.tokens import require_token_binding

    ov_settings(MODE="optional")
    factory = RequestFactory()

    def view(request: HttpRequest, claims: dict[str, Any]) -> HttpResponse:
        refused = require_token_binding(request, claims)
        return refused if refused is not None else HttpResponse("ok")

    from django_originverify.middleware import ClientCertMiddleware as DjangoMiddleware

    def run(claims: dict[str, Any]) -> HttpResponse:
        request = factory.get("/", headers=dict(cert_pairs(djpki.alice)))
        return DjangoMiddleware(lambda r: view(r, claims))(request)  # type: ignore[return-value]

    assert run(claims_for(djpki.alice)).content == b"ok"
    refused = run(claims_for(djpki.bob))
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith(CHALLENGE_PREFIX)


def test_drf_permission(djpki: DjPKI, ov_settings: Any) -> None:
    from django_originverify.drf import CertificateBoundToken
    from django_originverify.middleware import ClientCertMiddleware as DjangoMiddleware
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework.request import Request

    ov_settings(MODE="optional")
    seen: dict[str, Any] = {}

    def capture(request: HttpRequest) -> HttpResponse:
        seen["request"] = request
        return HttpResponse()

    DjangoMiddleware(capture)(RequestFactory().get("/", headers=dict(cert_pairs(djpki.alice))))
    drf_request = Request(seen["request"])
    drf_request._authenticator = None
    drf_request.user, drf_request.auth = None, claims_for(djpki.alice)
    assert CertificateBoundToken().has_permission(drf_request, None) is True
    drf_request.auth = claims_for(djpki.bob)
    with pytest.raises(AuthenticationFailed) as info:
        CertificateBoundToken().has_permission(drf_request, None)
    assert info.value.get_codes() == "token_binding_mismatch"


# -- FastAPI ---------------------------------------------------------------------------------


def test_fastapi_dependency(djpki: DjPKI) -> None:
    import json

    verifier = build_verifier(settings(djpki))
    app = FastAPI()
    app.add_middleware(ClientCertMiddleware, verifier=verifier)
    app.add_exception_handler(ClientCertRefused, refusal_handler)

    def token_claims(x_test_claims: str = Header()) -> dict[str, Any]:
        return dict(json.loads(x_test_claims))  # stands in for a JWT library

    bound = require_bound_token(verifier, token_claims)

    from fastapi import Depends

    @app.get("/api")
    def api(client: Any = Depends(bound)) -> dict[str, Any]:  # noqa: B008
        return {"cn": client.common_name}

    def get(claims: dict[str, Any]) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://o") as client:
                headers = [*cert_pairs(djpki.alice), ("X-Test-Claims", json.dumps(claims))]
                return await client.get("/api", headers=headers)

        return asyncio.run(go())

    assert get(claims_for(djpki.alice)).json() == {"cn": "alice"}
    refused = get(claims_for(djpki.bob))
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith(CHALLENGE_PREFIX)
    assert verifier.stats["rejected:token_binding_mismatch"] == 1
