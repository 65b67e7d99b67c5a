"""The ASGI application the tests run under uvicorn: Starlette and FastAPI behind
``originverify.asgi.ClientCertMiddleware``, one mount per mode."""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from originverify import ClientIdentity, Rules, VerificationError, Verifier, build_verifier
from originverify.asgi import ClientCertMiddleware, client_identity


def verifier(mode: str) -> Verifier:
    return build_verifier(
        {
            "anchors": os.environ["OV_TEST_ANCHORS"],
            "edge_secrets_env": "OV_TEST_SECRET",
            "mode": mode,
        }
    )


def describe(connection: HTTPConnection) -> dict[str, Any]:
    identity = client_identity(connection)
    return {
        "authenticated": identity is not None,
        "cn": identity.common_name if identity else None,
        "spiffe": identity.spiffe_id if identity else None,
        "seen": sorted({k.decode().lower() for k, _ in connection.scope["headers"]}),
    }


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse(describe(request))


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    identity = client_identity(websocket)
    await websocket.send_text(identity.common_name or "?" if identity is not None else "anonymous")
    await websocket.close()


def starlette_app() -> Starlette:
    return Starlette(routes=[Route("/whoami", whoami), WebSocketRoute("/ws", echo)])


# -- FastAPI: the dependency the docs show -------------------------------------------------


def client_cert(request: Request) -> ClientIdentity:
    identity = client_identity(request)
    if identity is None:
        raise HTTPException(401, "client certificate required")
    return identity


ADMINS = Rules(spiffe_ids=("spiffe://example.org/admin/*",))


def admin_cert(client: Annotated[ClientIdentity, Depends(client_cert)]) -> ClientIdentity:
    try:
        ADMINS.check(client)
    except VerificationError as error:
        raise HTTPException(error.http_status, error.public_message) from None
    return client


def fastapi_app() -> FastAPI:
    api = FastAPI()
    api.add_middleware(ClientCertMiddleware, verifier=verifier("optional"))

    @api.get("/whoami")
    def api_whoami(client: Annotated[ClientIdentity, Depends(client_cert)]) -> dict[str, Any]:
        return {"cn": client.common_name}

    @api.get("/admin")
    def api_admin(client: Annotated[ClientIdentity, Depends(admin_cert)]) -> dict[str, Any]:
        return {"cn": client.common_name}

    @api.get("/public")
    def api_public(request: Request) -> dict[str, Any]:
        return describe(request)

    return api


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/health", health),
            Mount("/optional", ClientCertMiddleware(starlette_app(), verifier("optional"))),
            Mount("/report", ClientCertMiddleware(starlette_app(), verifier("report_only"))),
            Mount("/fastapi", fastapi_app()),
            Mount("/", ClientCertMiddleware(starlette_app(), verifier("required"))),
        ]
    )
