"""Starlette's authentication (``request.user``, ``request.auth``, ``requires()``) and the
FastAPI dependency, over the pure-ASGI middleware, with real certificates."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from ovkit import Headers, Pki, edge
from starlette.applications import Starlette
from starlette.authentication import BaseUser, requires
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from originverify import ClientIdentity, VerificationError, Verifier, build_verifier
from originverify.adapters import refusal
from originverify.asgi import ClientCertMiddleware
from originverify.errors import Reason
from originverify.starlette import (
    ClientCertBackend,
    ClientCertRefused,
    ClientUser,
    RequireClient,
    refusal_handler,
)

SECRET_ENV = "OV_TEST_SECRET"


def make_verifier(pki: Pki, mode: str = "optional") -> Verifier:
    from ovkit import SECRET

    return build_verifier({"anchors": str(pki.anchors), "edge_secrets": [SECRET], "mode": mode})


def get(app: Any, path: str, headers: Headers) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://origin") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(go())


class Account(BaseUser):
    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return f"account:{self.name}"


def starlette_app(pki: Pki, **backend: Any) -> Starlette:
    async def whoami(request: Request) -> JSONResponse:
        user = request.user
        return JSONResponse(
            {
                "authenticated": user.is_authenticated,
                "name": user.display_name,
                "scopes": request.auth.scopes,
                "fingerprint": user.client_identity.fingerprint_sha256
                if isinstance(user, ClientUser)
                else None,
            }
        )

    @requires("client_cert", status_code=401)
    async def private(request: Request) -> JSONResponse:
        return JSONResponse({"name": request.user.display_name})

    return Starlette(
        routes=[Route("/whoami", whoami), Route("/private", private)],
        middleware=[
            Middleware(ClientCertMiddleware, verifier=make_verifier(pki)),
            Middleware(AuthenticationMiddleware, backend=ClientCertBackend(**backend)),
        ],
    )


def test_request_user_and_auth_for_a_verified_client(pki: Pki) -> None:
    body = get(starlette_app(pki), "/whoami", edge(pki.alice)).json()
    assert body["authenticated"] is True
    assert body["name"] == "alice"
    assert body["scopes"] == ["authenticated", "client_cert"]
    assert len(body["fingerprint"]) == 64


def test_anonymous_is_unauthenticated_and_requires_refuses(pki: Pki) -> None:
    app = starlette_app(pki)
    body = get(app, "/whoami", edge()).json()
    assert body == {"authenticated": False, "name": "", "scopes": [], "fingerprint": None}
    assert get(app, "/private", edge()).status_code == 401
    assert get(app, "/private", edge(pki.alice)).json() == {"name": "alice"}


def test_invalid_certificate_is_refused_by_the_middleware_first(pki: Pki) -> None:
    response = get(starlette_app(pki), "/whoami", edge(pki.stranger))
    expected = refusal(VerificationError(Reason.UNTRUSTED_CHAIN))
    assert (response.status_code, response.content) == (expected.status, expected.body)


def test_principal_mapping_hook(pki: Pki) -> None:
    accounts = {"alice": Account("alice")}

    def principal(identity: ClientIdentity) -> BaseUser | None:
        return accounts.get(identity.common_name or "")

    app = starlette_app(pki, principal=principal)
    assert get(app, "/whoami", edge(pki.alice)).json()["name"] == "account:alice"
    # Verified but unknown to the application: unauthenticated, not an error.
    assert get(app, "/whoami", edge(pki.bob)).json()["authenticated"] is False


def fastapi_app(pki: Pki, mode: str = "optional") -> tuple[FastAPI, Verifier]:
    verifier = make_verifier(pki, mode)
    client = RequireClient(verifier)
    admin = RequireClient(verifier, rules={"spiffe_ids": ["spiffe://example.org/admin/*"]})
    app = FastAPI()
    app.add_middleware(ClientCertMiddleware, verifier=verifier)
    app.add_exception_handler(ClientCertRefused, refusal_handler)

    @app.get("/me")
    def me(who: ClientIdentity | None = Depends(client)) -> dict[str, Any]:  # noqa: B008
        return {"cn": who.common_name if who else None}

    @app.get("/admin")
    def admin_view(who: ClientIdentity | None = Depends(admin)) -> dict[str, Any]:  # noqa: B008
        return {"cn": who.common_name if who else None}

    return app, verifier


def test_fastapi_dependency_required_and_rules(pki: Pki) -> None:
    app, verifier = fastapi_app(pki)
    assert get(app, "/me", edge(pki.alice)).json() == {"cn": "alice"}
    missing = get(app, "/me", edge())
    expected = refusal(VerificationError(Reason.MISSING_CERTIFICATE))
    assert (missing.status_code, missing.content) == (401, expected.body)
    assert missing.headers["www-authenticate"] == 'ClientCert realm="originverify"'
    assert get(app, "/admin", edge(pki.alice)).json() == {"cn": "alice"}
    denied = get(app, "/admin", [*edge(pki.bob), ("Accept", "application/json")])
    assert denied.status_code == 403
    assert denied.json() == {"error": "client certificate rejected", "status": 403}
    assert verifier.stats["rejected:rule_denied"] == 1
    assert verifier.stats["rejected:missing_certificate"] == 1


def test_fastapi_dependency_in_report_only_mode_lets_through(pki: Pki) -> None:
    app, verifier = fastapi_app(pki, "report_only")
    assert get(app, "/admin", edge(pki.bob)).json() == {"cn": "bob"}
    assert verifier.stats["would_reject:rule_denied"] == 1


@pytest.mark.parametrize("path", ["/me", "/admin"])
def test_fastapi_dependency_needs_the_middleware(pki: Pki, path: str) -> None:
    verifier = make_verifier(pki)
    app = FastAPI()

    @app.get(path)
    def view(who: Any = Depends(RequireClient(verifier))) -> dict[str, Any]:  # noqa: B008
        return {}

    with pytest.raises(LookupError, match="ClientCertMiddleware"):
        get(app, path, edge(pki.alice))
