"""A framework-free WSGI application behind ``originverify.wsgi.ClientCertMiddleware``, for
gunicorn; one mount per mode."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from werkzeug.middleware.dispatcher import DispatcherMiddleware

from originverify import build_verifier
from originverify.wsgi import ClientCertMiddleware, client_identity


def plain_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    identity = client_identity(environ)
    body = json.dumps(
        {
            "authenticated": identity is not None,
            "cn": identity.common_name if identity else None,
            "seen": sorted(k for k in environ if k.startswith("HTTP_")),
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def protect(mode: str) -> ClientCertMiddleware:
    verifier = build_verifier(
        {
            "anchors": os.environ["OV_TEST_ANCHORS"],
            "edge_secrets_env": "OV_TEST_SECRET",
            "mode": mode,
        }
    )
    return ClientCertMiddleware(plain_app, verifier)


def create_app() -> DispatcherMiddleware:
    return DispatcherMiddleware(
        protect("required"),
        {"/optional": protect("optional"), "/report": protect("report_only")},
    )
