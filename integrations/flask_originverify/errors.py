"""Refusals as Werkzeug HTTP exceptions, so Flask's error handlers can reshape them.

Each refusal is one of three classes that inherit both ``ClientCertificateError`` and the
matching Werkzeug exception, so either kind of handler catches it::

    @app.errorhandler(401)                      # code-specific handlers win
    @app.errorhandler(ClientCertificateError)   # every certificate refusal

Without a handler the response is the adapter kernel's refusal, the same every originverify
adapter sends: the public message as text, or JSON when the client's ``Accept`` prefers it,
``Cache-Control: no-store``, and a ``WWW-Authenticate`` challenge on 401. ``error.detail``
is for logs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, Unauthorized

from originverify import Reason, VerificationError
from originverify.adapters import Refusal, refusal

if TYPE_CHECKING:
    from wsgiref.types import WSGIEnvironment


class ClientCertificateError(HTTPException):
    """Base of every certificate refusal; ``error`` is the core ``VerificationError``."""

    def __init__(self, error: VerificationError) -> None:
        super().__init__(description=error.public_message)
        self.error = error

    @property
    def reason(self) -> Reason:
        """Stable reason code (``missing_certificate``, ``untrusted_chain``, ...)."""
        return self.error.reason

    def _refusal(self, environ: WSGIEnvironment | None) -> Refusal:
        return refusal(self.error, (environ or {}).get("HTTP_ACCEPT"))

    def get_headers(
        self, environ: WSGIEnvironment | None = None, scope: dict[str, Any] | None = None
    ) -> list[tuple[str, str]]:
        # Content-Length is the response's own business (Werkzeug sets it from the body).
        return [(k, v) for k, v in self._refusal(environ).headers if k != "Content-Length"]

    def get_body(
        self, environ: WSGIEnvironment | None = None, scope: dict[str, Any] | None = None
    ) -> str:
        return self._refusal(environ).body.decode()


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
