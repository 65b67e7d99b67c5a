"""The origin behind cloudformation.yaml / main.tf: CloudFront viewer mTLS passthrough.

    ORIGINVERIFY_ANCHORS=client-ca.pem     # your client CA(s), PEM; CloudFront validated nothing
    ORIGINVERIFY_EDGE_SECRET=...           # the distribution's X-Origin-Verify value(s),
                                           # comma separated while you rotate
    gunicorn --bind 0.0.0.0:8000 --header-map refuse \\
        --limit-request-field_size 16384 --chdir examples/cloudfront origin:app

Signed by the CloudFront Function (sign-request.js, docs/cloudfront-signing.md) instead of, or
as well as, the static secret:

    ORIGINVERIFY_SIGNATURE_KEYS=cf-2026-11=/etc/originverify/cf-2026-11.hmac,cf-2026-12=...
                                           # key id=file (hmac-sha256:<base64>), two while
                                           # you rotate; ORIGINVERIFY_EDGE_SECRET then optional

What the origin reads (all written by CloudFront, allowlisted by the origin request policy):
``Client-Cert`` (RFC 9440 leaf), ``Client-Cert-Chain`` (RFC 9440 list, possibly over several
field lines, depth at most 4), ``CloudFront-Viewer-Cert-Sha256`` / ``-Serial-Number`` /
``-Present`` (claims, cross-checked against the certificate: a mismatch is refused as
``edge_mismatch``), and ``X-Origin-Verify`` (the source proof). Put the origin where only
CloudFront can reach it too (security group with the managed prefix list
``com.amazonaws.global.cloudfront.origin-facing``): the secret proves "my distribution",
the network "some CloudFront".

Replace ``hello`` with your application (or use the Flask / Django integrations with the
same settings).
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
    result: dict[str, object] = {
        "format": "cloudfront-passthrough",
        "anchors": environ.get("ORIGINVERIFY_ANCHORS", "client-ca.pem"),
        "edge_secret_header": "X-Origin-Verify",
        "mode": environ.get("ORIGINVERIFY_MODE", "required"),
    }
    signed = environ.get("ORIGINVERIFY_SIGNATURE_KEYS")
    if signed:
        pairs = (item.split("=", 1) for item in signed.split(",") if item.strip())
        result["signature_key_files"] = {k.strip(): v.strip() for k, v in pairs}
        result["signature_digest_binding"] = "cloudfront"  # Client-Cert bound by the signed hash
        result["signature_max_age"] = 30  # the function signs for 30 s
    if not signed or environ.get("ORIGINVERIFY_EDGE_SECRET"):
        result["edge_secrets_env"] = "ORIGINVERIFY_EDGE_SECRET"
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
    identity = client_identity(environ)
    if identity is None:  # only with ORIGINVERIFY_MODE=optional
        return _json("200 OK", {"anonymous": True}, start_response)
    return _json("200 OK", identity.as_dict(), start_response)


app = ClientCertMiddleware(hello, build_verifier(settings()), error_response=reason_error_response)
