"""RFC 8705 certificate-bound access tokens in Django views and DRF.

Your token library validates the token (signature, issuer, audience, expiry); these helpers
check, through the core (logged, counted, report-only respected), that its ``cnf.x5t#S256``
names the certificate ``ClientCertMiddleware`` verified on this request. The DRF permission
is ``drf.CertificateBoundToken``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from originverify import Outcome

from . import conf
from .middleware import client_identity, request_facts
from .signals import client_rejected
from .views import failure_response


def token_binding(request: HttpRequest, claims: Mapping[str, Any]) -> Outcome:
    """The core's verdict on binding ``claims`` to this request's client certificate."""
    verifier = conf.get_verifier()
    outcome = verifier.require(
        client_identity(request), request_facts(request), token_claims=claims
    )
    if outcome.error is not None:
        client_rejected.send(
            token_binding, request=request, error=outcome.error, enforced=outcome.enforced
        )
    return outcome


def require_token_binding(
    request: HttpRequest, claims: Mapping[str, Any]
) -> HttpResponseBase | None:
    """``None`` when the token is bound to the client certificate (or report-only mode lets
    it through); otherwise the failure view's 401 response to return from the view."""
    outcome = token_binding(request, claims)
    if outcome.refused:
        assert outcome.error is not None
        return failure_response(request, outcome.error)
    return None
