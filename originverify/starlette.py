"""Starlette and FastAPI the way their users expect: an ``AuthenticationBackend`` (so
``request.user``, ``request.auth``, ``scope["auth"]`` and ``requires()`` work) and a FastAPI
dependency. Needs Starlette (FastAPI brings it); nothing here is imported by
``import originverify``.

Put ``originverify.asgi.ClientCertMiddleware`` outermost (it verifies once, strips the
protected headers and refuses invalid certificates with the kernel's refusal), and Starlette's
``AuthenticationMiddleware`` with ``ClientCertBackend`` inside it::

    app = Starlette(middleware=[
        Middleware(ClientCertMiddleware, verifier=verifier),
        Middleware(AuthenticationMiddleware, backend=ClientCertBackend()),
    ])

``principal=`` maps a verified identity to your own user object (like Django's
``USER_MAPPING``); by default ``request.user`` is a ``ClientUser`` wrapping the identity.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
)
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from .adapters import refusal, request_from_scope
from .asgi import client_identity
from .errors import VerificationError
from .identity import ClientIdentity
from .rules import Rules
from .verifier import Verifier

__all__ = [
    "ClientCertBackend",
    "ClientCertRefused",
    "ClientUser",
    "RequireClient",
    "refusal_handler",
    "require_bound_token",
]

#: What ``principal=`` callables return: your user object, or ``None`` (no such user).
Principal = Callable[[ClientIdentity], BaseUser | None]


class ClientUser(BaseUser):
    """``request.user`` for a verified client; ``client_identity`` is its ``ClientIdentity``
    (Starlette's ``identity`` is the certificate's SHA-256 fingerprint)."""

    def __init__(self, client_identity: ClientIdentity) -> None:
        self.client_identity = client_identity

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.client_identity.common_name or self.client_identity.subject

    @property
    def identity(self) -> str:
        return self.client_identity.fingerprint_sha256


class ClientCertBackend(AuthenticationBackend):
    """Reads the identity ``ClientCertMiddleware`` verified; never verifies twice.

    Scopes granted: ``authenticated`` and ``client_cert`` (use ``@requires("client_cert")``).
    An anonymous request (optional mode) stays ``UnauthenticatedUser``; so does a verified
    client that ``principal`` maps to no user.
    """

    def __init__(
        self,
        *,
        principal: Principal | None = None,
        scopes: Iterable[str] = ("authenticated", "client_cert"),
    ) -> None:
        self.principal = principal
        self.scopes = tuple(scopes)

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        identity = client_identity(conn)
        if identity is None:
            return None
        user = self.principal(identity) if self.principal is not None else ClientUser(identity)
        if user is None:
            return None
        return AuthCredentials(list(self.scopes)), user


class ClientCertRefused(HTTPException):
    """A dependency's refusal; ``refusal_handler`` renders it like every adapter does."""

    def __init__(self, error: VerificationError) -> None:
        answer = refusal(error)
        headers = {k: v for k, v in answer.headers if k not in ("Content-Type", "Content-Length")}
        super().__init__(answer.status, error.public_message, headers)
        self.error = error


async def refusal_handler(request: Request, exc: Exception) -> Response:
    """``app.add_exception_handler(ClientCertRefused, refusal_handler)``: the kernel's
    refusal (text, or JSON when ``Accept`` prefers it) instead of FastAPI's default body."""
    assert isinstance(exc, ClientCertRefused)
    answer = refusal(exc.error, request.headers.get("accept"))
    return Response(answer.body, answer.status, dict(answer.headers))


class RequireClient:
    """FastAPI dependency: the verified client (required) that ``rules`` allow.

    ``Depends(RequireClient(verifier))`` returns the ``ClientIdentity`` or raises
    ``ClientCertRefused`` (401 without a certificate, 403 when a rule says no); the refusal
    is logged and counted by the core (``Verifier.require``), and not enforced in
    report-only mode (the dependency then returns ``None``). The middleware must run first.
    """

    def __init__(self, verifier: Verifier, *, rules: Rules | dict[str, Any] | None = None) -> None:
        self.verifier = verifier
        self.rules = (
            rules if rules is None or isinstance(rules, Rules) else Rules.from_mapping(rules)
        )

    async def __call__(self, request: Request) -> ClientIdentity | None:
        identity = client_identity(request)
        if identity is not None and self.rules is None:
            return identity
        outcome = self.verifier.require(
            identity, request_from_scope(request.scope), rules=self.rules
        )
        if outcome.refused:
            assert outcome.error is not None
            raise ClientCertRefused(outcome.error)
        return identity


def require_bound_token(
    verifier: Verifier, claims: Callable[..., Any]
) -> Callable[..., Awaitable[ClientIdentity | None]]:
    """FastAPI dependency factory for RFC 8705: ``claims`` is your dependency that returns
    the validated access token's claims; the returned dependency yields the client whose
    certificate the token is bound to, or raises ``ClientCertRefused`` (401 with a
    ``Bearer error="invalid_token"`` challenge; logged and counted by the core)."""
    from fastapi import Depends

    async def bound(
        request: Request, token: Mapping[str, Any] = Depends(claims)
    ) -> ClientIdentity | None:
        identity = client_identity(request)
        facts = request_from_scope(request.scope)
        outcome = verifier.require(identity, facts, token_claims=token)
        if outcome.refused:
            assert outcome.error is not None
            raise ClientCertRefused(outcome.error)
        return identity

    return bound
