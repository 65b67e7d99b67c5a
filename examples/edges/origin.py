"""The origin behind every edge in examples/edges/: originverify's WSGI middleware.

One app, configured from the environment at start-up (never from the request):

    ORIGINVERIFY_FORMAT=nginx                     # the edge's preset, see each README
    ORIGINVERIFY_ANCHORS=client-ca.pem            # your client CA(s), PEM
    ORIGINVERIFY_EXTRA_INTERMEDIATES=issuing.pem  # nginx, Caddy: they forward no chain
    ORIGINVERIFY_EDGE_SECRET=...                  # the edge's X-Origin-Verify value(s)
    ORIGINVERIFY_MODE=required                    # or optional: no certificate = anonymous
    gunicorn --bind 127.0.0.1:8000 --header-map refuse \\
        --limit-request-field_size 16384 --chdir examples/edges origin:app

``--header-map refuse`` answers 400 to header names with ``_`` (the default ``drop`` is
safe too; ``dangerous`` is refused at start-up). ``--limit-request-field_size 16384``:
gunicorn's default (8190 bytes) is smaller than an RFC 9440 or Apache header carrying a
chain of RSA certificates, and it would answer a bare 400 instead of the verifier.

Every answer is JSON: the verified identity, or ``{"error": ..., "reason": ...}`` with the
stable reason code (``missing_certificate``, ``untrusted_chain``, ``expired``, ...). Reason
codes carry no secrets; drop ``reason`` if you would rather not tell clients.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from originverify import build_verifier
from originverify.wsgi import ClientCertMiddleware, client_identity, reason_error_response

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

# Refusals are logged with their detail (never sent to the client): reason=... detail=...
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


def settings(environ: Mapping[str, str] = os.environ) -> dict[str, object]:
    """``build_verifier`` settings for the edge named by ``ORIGINVERIFY_FORMAT``."""
    result: dict[str, object] = {
        "format": environ["ORIGINVERIFY_FORMAT"],
        "anchors": environ.get("ORIGINVERIFY_ANCHORS", "client-ca.pem"),
        "edge_secrets_env": "ORIGINVERIFY_EDGE_SECRET",
        "mode": environ.get("ORIGINVERIFY_MODE", "required"),
    }
    if environ.get("ORIGINVERIFY_EXTRA_INTERMEDIATES"):
        result["extra_intermediates"] = environ["ORIGINVERIFY_EXTRA_INTERMEDIATES"]
    return result


def _json(status: str, payload: dict[str, object], start_response: StartResponse) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The application: who is calling (the middleware refused everyone else)."""
    identity = client_identity(environ)
    if identity is None:  # only in ORIGINVERIFY_MODE=optional
        return _json("200 OK", {"anonymous": True}, start_response)
    return _json("200 OK", identity.as_dict(), start_response)


app = ClientCertMiddleware(hello, build_verifier(settings()), error_response=reason_error_response)
