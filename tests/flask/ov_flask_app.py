"""The Flask application the tests run, under the test client and under a real gunicorn.

``create_app(mode)`` reads the PKI and secret from the environment (``OV_TEST_ANCHORS``,
``OV_TEST_SECRET``) like a deployed app would; ``create_server_app()`` mounts one app per
mode for gunicorn.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, g, jsonify, request
from flask_originverify import (
    OriginVerify,
    client_cert_exempt,
    client_cert_optional,
    client_cert_required,
    current_client,
)
from werkzeug.middleware.dispatcher import DispatcherMiddleware

ADMINS = ["spiffe://example.org/admin/*"]


def _describe() -> dict[str, Any]:
    return {
        "authenticated": current_client.is_authenticated,
        "cn": current_client.common_name,
        "spiffe": current_client.spiffe_id,
        "g": getattr(g.get("client_identity"), "common_name", "unset"),
        # What reached the application: the edge's headers must not.
        "seen": sorted(name.lower() for name, _ in request.headers.items()),
    }


def create_app(mode: str = "required", *, app_wide: bool = False, **settings: Any) -> Flask:
    app = Flask(f"ov-{mode}{'-wide' if app_wide else ''}")
    app.config.update(
        ORIGINVERIFY_ANCHORS=os.environ["OV_TEST_ANCHORS"],
        ORIGINVERIFY_EDGE_SECRETS_ENV="OV_TEST_SECRET",
        ORIGINVERIFY_MODE=mode,
        ORIGINVERIFY_APP_WIDE=app_wide,
    )
    OriginVerify(app, **settings)

    @app.get("/")
    @client_cert_exempt
    def health() -> str:
        return "ok"

    @app.get("/whoami")
    @client_cert_required
    def whoami() -> Any:
        return jsonify(_describe())

    @app.get("/maybe")
    @client_cert_optional
    def maybe() -> Any:
        return jsonify(_describe())

    @app.get("/admin")
    @client_cert_required(spiffe_ids=ADMINS)
    def admin() -> Any:
        return jsonify(_describe())

    @app.get("/lazy")
    def lazy() -> Any:
        return jsonify(_describe())

    return app


def create_server_app() -> Any:
    return DispatcherMiddleware(
        create_app("required"),
        {
            "/optional": create_app("optional"),
            "/report": create_app("report_only"),
            "/wide": create_app("required", app_wide=True),
        },
    )
