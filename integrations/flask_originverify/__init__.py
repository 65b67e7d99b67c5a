"""Flask extension for originverify: a verified ``ClientIdentity`` in your views.

``OriginVerify(app)`` reads ``app.config["ORIGINVERIFY_*"]``; ``@client_cert_required`` and
``@client_cert_optional`` guard views; ``current_client`` is the verified client. See
docs/flask.md.
"""

from __future__ import annotations

from originverify import ANONYMOUS, AnonymousClient

from .errors import (
    ClientCertificateError,
    ClientCertificateMalformed,
    ClientCertificateRefused,
    ClientCertificateRequired,
)
from .extension import (
    FLASK_KEYS,
    PREFIX,
    CurrentClient,
    OriginVerify,
    Requirement,
    ViewPolicy,
    authenticate,
    client_cert_exempt,
    client_cert_optional,
    client_cert_required,
    current_client,
    current_principal,
    require_token_binding,
)
from .signals import client_rejected, client_verified

__all__ = [
    "ANONYMOUS",
    "FLASK_KEYS",
    "PREFIX",
    "AnonymousClient",
    "ClientCertificateError",
    "ClientCertificateMalformed",
    "ClientCertificateRefused",
    "ClientCertificateRequired",
    "CurrentClient",
    "OriginVerify",
    "Requirement",
    "ViewPolicy",
    "authenticate",
    "client_cert_exempt",
    "client_cert_optional",
    "client_cert_required",
    "client_rejected",
    "client_verified",
    "current_client",
    "current_principal",
    "require_token_binding",
]
