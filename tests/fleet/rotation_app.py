"""A WSGI origin for the rotation test: anchors and the edge secret come from files that
the verifier watches (every worker polls them)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from originverify import build_verifier
from originverify.wsgi import ClientCertMiddleware, client_identity

verifier = build_verifier(
    {
        "anchors": os.environ["OV_TEST_ANCHORS"],
        "edge_secrets_file": os.environ["OV_TEST_SECRET_FILE"],
        "watch_interval": 0.1,
    }
)


def hello(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    identity = client_identity(environ)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [(identity.common_name or "?" if identity else "anonymous").encode()]


app = ClientCertMiddleware(hello, verifier)
