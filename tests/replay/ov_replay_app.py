"""An origin for the cross-process replay tests: ``ClientCertMiddleware`` with the signed
envelope and the Redis replay store, configured from the environment; every response names
the worker that answered (``X-Worker-Pid``) and refusals carry their reason code."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from originverify import build_verifier
from originverify.wsgi import ClientCertMiddleware, client_identity, reason_error_response


def hello(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    identity = client_identity(environ)
    body = json.dumps({"cn": identity.common_name if identity else None}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def create_app() -> Any:
    verifier = build_verifier(
        {
            "anchors": os.environ["OV_TEST_ANCHORS"],
            "edge_secrets_env": "OV_TEST_SECRET",
            "signature_key_env": {os.environ["OV_TEST_KEY_ID"]: "OV_TEST_SIGNATURE_KEY"},
            "signature_replay_store": "redis",
            "signature_replay_redis_url": os.environ["OV_TEST_REDIS_URL"],
            "signature_replay_fail_open": os.environ.get("OV_TEST_FAIL_OPEN", "false"),
            "cache_size": 0,
        }
    )
    inner = ClientCertMiddleware(hello, verifier, error_response=reason_error_response)

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        def tagged(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            return start_response(status, [*headers, ("X-Worker-Pid", str(os.getpid()))], *args)

        return inner(environ, tagged)

    return app
