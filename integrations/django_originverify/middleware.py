"""``ClientCertMiddleware``: one verification per request, before any view runs.

Which header view the core gets decides what it can detect:

- ASGI (uvicorn, daphne, hypercorn): the raw ``scope["headers"]`` list, read through
  ``HeaderList``. Duplicate field lines and underscore spellings (``Client_Cert``) of every
  certificate, claim and secret header are seen and refused with 400 — even where
  ``request.META`` would hide them (Django < 4.2.30/5.2.13/6.0.4 folded ``_`` into ``-``,
  CVE-2026-3902; newer versions silently drop the underscore spelling).
- WSGI (gunicorn, mod_wsgi, runserver): ``request.META`` through ``WSGIHeaders``. The server
  has already joined duplicates with ``,`` (the strict decoders refuse the joined value) and
  either dropped underscore spellings (gunicorn >= 22 ``header_map=drop``, runserver) or
  merged them (a2wsgi; gunicorn ``header_map=dangerous``, under which the middleware refuses
  to start): then nothing at the origin can tell ``Client_Cert`` from ``Client-Cert``, so the
  edge must refuse them.

After verification every protected header (certificate, claims, edge secret) is removed from
``request.META``, ``request.headers`` and the ASGI scope, so neither the application nor its
logs see the secret or unverified certificate data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.contrib import auth
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.decorators import sync_and_async_middleware
from django.utils.functional import SimpleLazyObject

from originverify import ClientIdentity, ConfigurationError, Outcome, RequestContext, Verifier
from originverify.adapters import request_from_environ, request_from_scope
from originverify.headers import from_pairs
from originverify.wsgi import refuse_unsafe_gunicorn

from . import conf
from .anonymous import ANONYMOUS_CLIENT
from .signals import asend, client_rejected, client_verified
from .views import afailure_response, failure_response

GetResponse = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]


def request_facts(request: HttpRequest) -> RequestContext:
    """The request facts from the most faithful source this request offers: the raw ASGI
    scope (duplicates and underscore spellings visible) or the WSGI environ.

    Raw values, not Django's interpretations: a signing edge signs the request it sent, so
    the target is the raw path, the scheme is the one of the edge→origin connection (not
    ``SECURE_PROXY_SSL_HEADER``'s), and the authority the ``Host`` as received. The peer is
    ``REMOTE_ADDR``: the edge's address, as long as nothing before this middleware rewrote
    it from ``X-Forwarded-For``.
    """
    scope = getattr(request, "scope", None)
    if isinstance(scope, Mapping) and scope.get("headers") is not None:
        return request_from_scope(scope, from_pairs(scope["headers"]))
    return request_from_environ(request.META)


def strip_headers(request: HttpRequest, names: Iterable[str]) -> None:
    """Remove ``names`` (and their underscore spellings) from everything the app can read."""
    protected = {name.lower() for name in names}
    if not protected:
        return
    for name in protected:
        request.META.pop("HTTP_" + name.upper().replace("-", "_"), None)
    request.__dict__.pop("headers", None)  # HttpRequest.headers is a cached_property
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict) and scope.get("headers") is not None:
        scope["headers"] = [
            (name, value)
            for name, value in scope["headers"]
            if bytes(name).decode("latin-1").lower().replace("_", "-") not in protected
        ]


def client_identity(request: HttpRequest) -> ClientIdentity | None:
    """The verified identity of this request, ``None`` if there is none.

    Raises ``ImproperlyConfigured`` when ``ClientCertMiddleware`` did not run: without it,
    no certificate was verified and no header was stripped.
    """
    try:
        value = request.client_identity  # type: ignore[attr-defined]
    except AttributeError:
        raise ImproperlyConfigured(
            "request.client_identity is not set: add "
            "'django_originverify.middleware.ClientCertMiddleware' to MIDDLEWARE"
        ) from None
    return value if isinstance(value, ClientIdentity) else None


def reported_refusal(request: HttpRequest) -> bool:
    """Whether the middleware let this request in with a refusal report-only mode did not
    enforce (already logged, counted and signalled: gates must not decide it again)."""
    outcome = getattr(request, "originverify_outcome", None)
    return isinstance(outcome, Outcome) and outcome.error is not None and not outcome.enforced


#: The 0.1 name of ``client_identity`` (deprecated).
get_client_cert = client_identity


def install_user(request: HttpRequest, identity: ClientIdentity) -> None:
    """Make the certificate's user ``request.user`` for this request only (no session).

    Lazy, like ``AuthenticationMiddleware``: the authentication backends (and the database)
    are consulted only when the view reads ``request.user`` or awaits ``request.auser()``.
    When no backend maps the certificate, the user from the session (if any) stays.
    """
    if not hasattr(request, "user"):
        raise ImproperlyConfigured(
            "ORIGINVERIFY['LOGIN_USERS'] needs "
            "'django.contrib.auth.middleware.AuthenticationMiddleware' before "
            "ClientCertMiddleware in MIDDLEWARE"
        )
    fallback_user = request.user
    fallback_auser = getattr(request, "auser", None)
    found: dict[str, Any] = {}

    def user() -> Any:
        if "user" not in found:
            found["user"] = auth.authenticate(request, client_cert=identity)
        return found["user"] if found["user"] is not None else fallback_user

    async def auser() -> Any:
        if "user" not in found:
            aauthenticate = getattr(auth, "aauthenticate", None)  # Django >= 5.0
            if aauthenticate is None:
                aauthenticate = sync_to_async(auth.authenticate)
            found["user"] = await aauthenticate(request, client_cert=identity)
        if found["user"] is not None:
            return found["user"]
        if fallback_auser is not None:
            return await fallback_auser()
        return fallback_user

    request.user = SimpleLazyObject(user)  # type: ignore[assignment]
    request.auser = auser


@sync_and_async_middleware
class ClientCertMiddleware:
    """Verify the forwarded client certificate; set ``request.client_identity``.

    ``required``: no verified identity → the failure view (400/401/403).
    ``optional``: no certificate → anonymous; a bad one → refused.
    ``report_only``: never refused; failures are logged and signalled.

    Place it near the top of ``MIDDLEWARE`` (headers are stripped as early as possible), and
    after ``AuthenticationMiddleware`` when ``LOGIN_USERS`` is on (it replaces
    ``request.user``, as ``RemoteUserMiddleware`` does).
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        # Django builds middleware at start-up: a bad ORIGINVERIFY stops the server here
        # (ImproperlyConfigured) instead of failing the first request.
        verifier, _ = conf.configured()
        if not self.is_async:
            # Under WSGI nothing can tell Client_Cert from Client-Cert once a server has
            # merged them: refuse gunicorn's header_map='dangerous' (ASGI reads raw headers).
            try:
                refuse_unsafe_gunicorn(verifier.protected_headers)
            except ConfigurationError as exc:
                raise ImproperlyConfigured(f"ORIGINVERIFY: {exc}") from None

    def _prepare(self, request: HttpRequest) -> tuple[Verifier, RequestContext]:
        verifier, _ = conf.configured()
        return verifier, request_facts(request)

    def _apply(self, request: HttpRequest, verifier: Verifier, outcome: Outcome) -> None:
        """Strip protected headers and give the request its client (or the anonymous one)."""
        options = conf.get_options()
        names: Iterable[str] = verifier.protected_headers
        if options.keep_headers:
            names = verifier.source.header_names  # the secret never reaches the app
        strip_headers(request, names)
        identity = outcome.identity
        client = identity if identity is not None else ANONYMOUS_CLIENT
        request.client_identity = client  # type: ignore[attr-defined]
        request.originverify_outcome = outcome  # type: ignore[attr-defined]  # for view gates
        request.client_cert = client  # type: ignore[attr-defined]  # deprecated 0.1 name
        if identity is not None and options.login_users:
            install_user(request, identity)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self.__acall__(request)
        verifier, facts = self._prepare(request)
        outcome = verifier.check(facts)
        self._apply(request, verifier, outcome)
        sender = type(self)
        if outcome.error is not None:
            client_rejected.send(
                sender, request=request, error=outcome.error, enforced=outcome.enforced
            )
            if outcome.refused:
                return failure_response(request, outcome.error)
        elif outcome.identity is not None:
            client_verified.send(sender, request=request, identity=outcome.identity)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        # A cache hit is decided on the event loop; a miss (chain validation, revocation)
        # runs in a worker thread (Verifier.acheck), so the loop never waits on it.
        verifier, facts = self._prepare(request)
        outcome = await verifier.acheck(facts)
        self._apply(request, verifier, outcome)
        sender = type(self)
        if outcome.error is not None:
            await asend(
                client_rejected,
                sender,
                request=request,
                error=outcome.error,
                enforced=outcome.enforced,
            )
            if outcome.refused:
                return await afailure_response(request, outcome.error)
        elif outcome.identity is not None:
            await asend(client_verified, sender, request=request, identity=outcome.identity)
        response = self.get_response(request)
        if isinstance(response, HttpResponseBase):
            return response
        return await response
