"""A WSGI origin for the multiprocess metrics test: /metrics adds up every worker."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from originverify import build_verifier
from originverify.metrics import multiprocess_registry
from originverify.wsgi import ClientCertMiddleware

verifier = build_verifier(
    {
        "anchors": os.environ["OV_TEST_ANCHORS"],
        "edge_secrets_env": "OV_TEST_SECRET",
        "metrics": "prometheus",
    }
)


def hello(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]  # which worker answered


protected = ClientCertMiddleware(hello, verifier)


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == "/metrics":
        body = generate_latest(multiprocess_registry())
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [body]
    return protected(environ, start_response)
