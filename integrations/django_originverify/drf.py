"""Django REST framework: an authentication class and a permission class.

Both read the identity ``ClientCertMiddleware`` verified; neither parses headers itself.

- ``ClientCertAuthentication``: ``request.user`` = the user the authentication backends
  (``ClientCertBackend``) map the certificate to, ``request.auth`` = the ``ClientIdentity``.
  A certificate that maps to no user authenticates nobody (the next authentication class
  gets its turn), so machine clients without accounts are served with ``HasClientCert``.
- ``HasClientCert``: the request carries a verified certificate (optionally matching rules:
  ``HasClientCert.with_rules({...})``), whether or not it maps to a user.

Refusals follow DRF's conventions: DRF answers 403 to unauthenticated requests unless the
first authentication class offers a ``WWW-Authenticate`` challenge, and there is no standard
challenge for client certificates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django.contrib import auth
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from originverify import ClientIdentity, Rules

from .access import compile_rules, refusal
from .middleware import client_identity
from .tokens import token_binding


class ClientCertAuthentication(BaseAuthentication):
    """Authenticate the user a verified client certificate maps to."""

    #: Browsers send an installed client certificate on cross-site requests too, like a
    #: cookie. Set True (in a subclass) when browsers, not only programs, use the API.
    enforce_csrf: ClassVar[bool] = False

    def authenticate(self, request: Request) -> tuple[Any, ClientIdentity] | None:
        identity = client_identity(request._request)
        if identity is None:
            return None
        user = auth.authenticate(request._request, client_cert=identity)
        if user is None:
            return None
        if self.enforce_csrf:
            SessionAuthentication().enforce_csrf(request)
        return user, identity


class HasClientCert(BasePermission):
    """Allow requests with a verified client certificate (that matches ``rules``)."""

    rules: ClassVar[Rules | None] = None
    message = "client certificate required"

    @classmethod
    def with_rules(cls, rules: Rules | Mapping[str, Any]) -> type[HasClientCert]:
        """A permission class with an allow-list, e.g. ``{"common_names": ["svc-*"]}``."""
        compiled = compile_rules(rules)
        return type(f"{cls.__name__}WithRules", (cls,), {"rules": compiled})

    def has_permission(self, request: Request, view: Any) -> bool:
        error, enforced = refusal(request._request, self.rules, type(self))
        if error is not None and enforced:
            self.message = error.public_message
            return False
        return True


class CertificateBoundToken(BasePermission):
    """DRF permission: ``request.auth`` (the validated token's claims, as your token
    authentication class sets it) must be bound to the verified client certificate.

    Refusals raise ``AuthenticationFailed`` (401) with the reason code as its ``code``.
    """

    message: ClassVar[str] = "access token is not bound to the client certificate"

    def has_permission(self, request: Request, view: Any) -> bool:
        claims = request.auth if isinstance(request.auth, Mapping) else {}
        outcome = token_binding(request._request, claims)
        if outcome.refused:
            assert outcome.error is not None
            raise AuthenticationFailed(outcome.error.public_message, outcome.error.reason.value)
        return True
