"""Refusals as Werkzeug HTTP exceptions, so Flask's error handlers can reshape them.

Each refusal is one of three classes that inherit both ``ClientCertificateError`` and the
matching Werkzeug exception, so either kind of handler catches it::

    @app.errorhandler(401)                      # code-specific handlers win
    @app.errorhandler(ClientCertificateError)   # every certificate refusal

Without a handler the response is Werkzeug's HTML error page, or JSON when the client's
``Accept`` header prefers ``application/json``. The body carries ``public_message`` only;
``error.detail`` is for logs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, Unauthorized
from werkzeug.http import parse_accept_header

from originverify import Reason, VerificationError

if TYPE_CHECKING:
    from wsgiref.types import WSGIEnvironment


def _wants_json(environ: WSGIEnvironment | None) -> bool:
    if not environ:
        return False
    accept = parse_accept_header(environ.get("HTTP_ACCEPT"), MIMEAccept)
    return accept.best_match(["text/html", "application/json"]) == "application/json"


class ClientCertificateError(HTTPException):
    """Base of every certificate refusal; ``error`` is the core ``VerificationError``."""

    def __init__(self, error: VerificationError) -> None:
        super().__init__(description=error.public_message)
        self.error = error

    @property
    def reason(self) -> Reason:
        """Stable reason code (``missing_certificate``, ``untrusted_chain``, ...)."""
        return self.error.reason

    def get_headers(
        self, environ: WSGIEnvironment | None = None, scope: dict[str, Any] | None = None
    ) -> list[tuple[str, str]]:
        headers = super().get_headers(environ, scope)
        if _wants_json(environ):
            headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
            headers.append(("Content-Type", "application/json"))
        return headers

    def get_body(
        self, environ: WSGIEnvironment | None = None, scope: dict[str, Any] | None = None
    ) -> str:
        if _wants_json(environ):
            return json.dumps({"error": self.description, "status": self.code})
        return super().get_body(environ, scope)


class ClientCertificateRequired(ClientCertificateError, Unauthorized):
    """401: no client certificate where the view requires one."""


class ClientCertificateRefused(ClientCertificateError, Forbidden):
    """403: invalid or untrusted certificate, request not from the edge, or rule denied."""


class ClientCertificateMalformed(ClientCertificateError, BadRequest):
    """400: malformed, duplicated or ambiguously named certificate headers."""


def http_error(error: VerificationError) -> ClientCertificateError:
    """The exception for ``error.http_status``."""
    status = error.http_status
    if status == 401:
        return ClientCertificateRequired(error)
    if status == 400:
        return ClientCertificateMalformed(error)
    return ClientCertificateRefused(error)
